"""`echofeed refresh` on a terminal (a pseudo-terminal here) and piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pty = pytest.importorskip("pty", reason="pseudo-terminals need a POSIX system")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=30)
    finally:
        process.kill()
        process.wait(10)
        os.close(leader)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_refresh_on_a_terminal_ends_with_a_table(newsroom, real_seed):
    config = newsroom()
    code, output = run_on_a_terminal(
        [sys.executable, "-m", "echofeed.cli", "-c", str(config), "refresh"]
    )
    assert code == 0, output
    assert "echofeed refresh" in output  # the table's title
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
    assert "1 new, 0 updated" in rows["entries"]
    assert "3 written" in rows["feeds"]
    assert "pass:" not in output  # the log line is for -v on a terminal


def test_refresh_piped_prints_the_plain_summary_and_logs_plain_lines(newsroom, real_seed):
    config = newsroom()
    done = subprocess.run(
        [sys.executable, "-m", "echofeed.cli", "-c", str(config), "refresh"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seeds: 1 read")
    assert "entries: 1 new, 0 updated, 0 duplicate, 0 unchanged" in done.stdout
    assert "\x1b[" not in done.stdout + done.stderr
    assert re.search(r"INFO echofeed.pipeline: pass: 1 new, .* \d+\.\d\ds$", done.stderr, re.M)
