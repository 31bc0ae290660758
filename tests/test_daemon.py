"""`echofeed daemon` as a real process: seeds, sources, signals, locks and config edits.

Every wait polls with a deadline (the bound), never sleeps then asserts; every
process a test starts is killed in `finally`.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
import yaml
from werkzeug import Request, Response

from echofeed.config import load_config
from echofeed.daemon import Daemon as DaemonLoop
from echofeed.daemon import DaemonOptions
from echofeed.lock import writer_lock

from .conftest import write_seed
from .feedcheck import entries, validate_output

BOUND = 20.0  # seconds: generous, for a loaded 2-core CI box; polls end as soon as they can


def command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "echofeed.cli", "-c", str(config), *args]


class Daemon:
    """One `echofeed daemon` subprocess, its log in a file the test can read any time."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command(config, "daemon", "--tick", "0.1", *args),
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, check: Callable[[], object], what: str, bound: float = BOUND) -> None:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, ValueError, AssertionError, SyntaxError):
                pass  # a file not written yet
            if self.process.poll() is not None:
                pytest.fail(f"daemon exited ({self.process.returncode}) before {what}:\n{self.log}")
            time.sleep(0.05)
        pytest.fail(f"not within {bound}s: {what}\n--- daemon log ---\n{self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._log.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *args: str) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon{len(started)}.log", *args)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.stop()


def titles(feeds: Path, relpath: str = "all.atom") -> list[str]:
    return [str(e["title"]) for e in entries(feeds / relpath)]


def rss(*items: tuple[str, str]) -> bytes:
    when = format_datetime(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    body = "".join(
        f"<item><title>{title}</title><link>https://wire.example/{guid}</link>"
        f"<guid>https://wire.example/{guid}</guid><pubDate>{when}</pubDate>"
        f"<description>Story {guid}.</description></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example/</link><description>w</description>{body}</channel></rss>"
    ).encode()


class Wire:
    """A feed on the test's HTTP server whose body the test changes; counts its fetches."""

    def __init__(self, httpserver, path: str, body: bytes) -> None:
        self.body = body
        self.fetches = 0
        self.hold: threading.Event | None = None  # when set, requests wait on it
        self.holding = threading.Event()
        httpserver.expect_request(path).respond_with_handler(self.respond)
        self.url = httpserver.url_for(path)

    def respond(self, request: Request) -> Response:
        self.fetches += 1
        if self.hold is not None:
            self.holding.set()
            self.hold.wait(30)
        return Response(self.body, content_type="application/rss+xml")


def test_dropped_seed_is_published_within_seconds(newsroom, tmp_path, start_daemon):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    leftover = feeds / ".all.atom.k2j3h4.tmp"  # from a writer killed mid-write
    leftover.write_text("<feed>half")
    daemon = start_daemon(newsroom(refresh_interval="1h"))
    daemon.wait_for(lambda: (feeds / "all.atom").exists(), "the first publication")
    assert titles(feeds) == []
    assert not leftover.exists()
    write_seed(tmp_path / "seeds", "001_00000000000000d1.txt", "Dropped While Running")
    daemon.wait_for(lambda: "Dropped While Running" in titles(feeds), "the seed in all.atom")
    validate_output(feeds)
    daemon.wait_for(lambda: "pass: 1 new" in daemon.log, "a pass line naming what changed")

    (tmp_path / "seeds" / "001_00000000000000d1.txt").unlink()
    daemon.wait_for(lambda: titles(feeds) == [], "the deleted seed withdrawn from all.atom")


def test_sources_are_fetched_when_due_and_changes_republished(
    newsroom, tmp_path, start_daemon, httpserver
):
    feeds = tmp_path / "feeds"
    fast = Wire(httpserver, "/fast.xml", rss(("f1", "Fast Wire First Story")))
    slow = Wire(httpserver, "/slow.xml", rss(("s1", "Slow Wire Story")))
    httpserver.expect_request("/down.xml").respond_with_data(
        "busy", status=503, headers={"Retry-After": "3600"}
    )
    config = newsroom(refresh_interval="1h", sources=[
        {"name": "Fast Wire", "url": fast.url, "interval": "1s"},
        {"name": "Slow Wire", "url": slow.url, "interval": "1h"},
        {"name": "Down Wire", "url": httpserver.url_for("/down.xml"), "interval": "1s"},
    ])  # fmt: skip
    daemon = start_daemon(config)
    daemon.wait_for(
        lambda: {"Fast Wire First Story", "Slow Wire Story"} <= set(titles(feeds)),
        "both sources published",
    )
    fast.body = rss(("f1", "Fast Wire First Story"), ("f2", "Fast Wire Breaking Update"))
    daemon.wait_for(lambda: "Fast Wire Breaking Update" in titles(feeds), "the source's change")
    # Seeds dropped meanwhile bring passes of their own; the slow source is still not due.
    write_seed(tmp_path / "seeds", "001_00000000000000d2.txt", "Seed Between Fetches")
    daemon.wait_for(lambda: "Seed Between Fetches" in titles(feeds), "the seed")
    assert fast.fetches >= 2
    assert slow.fetches == 1
    # The failing source backs off (here: its Retry-After of an hour) despite its 1s interval.
    assert sum(1 for request, _ in httpserver.log if request.path == "/down.xml") == 1
    assert re.search(r"WARNING echofeed.daemon: Down Wire: .*503", daemon.log)  # named


def test_sigterm_stops_with_exit_0(newsroom, real_seed, tmp_path, start_daemon):
    daemon = start_daemon(newsroom(refresh_interval="1h"))
    daemon.wait_for(lambda: "pass: 1 new" in daemon.log, "the first pass")
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=BOUND) == 0
    assert "SIGTERM received: stopping" in daemon.log and "daemon stopped" in daemon.log


def test_sigterm_during_a_pass_abandons_it_cleanly(newsroom, tmp_path, start_daemon, httpserver):
    feeds = tmp_path / "feeds"
    wire = Wire(httpserver, "/wire.xml", rss(("w1", "Wire Story Before The Stop")))
    config = newsroom(refresh_interval="1h",
                      sources=[{"name": "Wire", "url": wire.url, "interval": "1s"}])  # fmt: skip
    daemon = start_daemon(config, "--stop-grace", "0.5")
    try:
        daemon.wait_for(lambda: "Wire Story Before The Stop" in titles(feeds), "the first fetch")
        before = (feeds / "all.atom").read_bytes()
        wire.hold = threading.Event()  # the next fetch hangs: the pass cannot finish
        wire.body = rss(("w2", "Never Published"))
        daemon.wait_for(wire.holding.is_set, "a pass stuck in a fetch")
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=BOUND) == 0
    finally:
        if wire.hold is not None:
            wire.hold.set()
    assert "abandoned" in daemon.log
    assert (feeds / "all.atom").read_bytes() == before
    validate_output(feeds)
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("select count(*) from stories").fetchone()[0] == 1


def test_one_writer_at_a_time(newsroom, real_seed, tmp_path, start_daemon):
    config = newsroom(refresh_interval="1h")
    database = tmp_path / "echofeed.db"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another writer, in another thread of this process
        with writer_lock(database, timeout=5):
            held.set()
            release.wait(BOUND)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert held.wait(5)
        refused = subprocess.run(
            command(config, "refresh", "--lock-timeout", "0.3"),
            capture_output=True, text=True, timeout=BOUND,
        )  # fmt: skip
        assert refused.returncode == 1
        assert f"{database}: another echofeed is writing it" in refused.stderr
        assert "gave up waiting after 0.3s" in refused.stderr
        assert not (tmp_path / "feeds").exists()  # nothing written meanwhile

        # A refresh with time to wait runs once the other writer is done.
        waiting = subprocess.Popen(
            command(config, "refresh", "--lock-timeout", str(BOUND)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            release.set()
            out, err = waiting.communicate(timeout=BOUND)
        finally:
            waiting.kill()
            waiting.wait(10)
        assert waiting.returncode == 0, err
        assert "1 new" in out
    finally:
        release.set()
        holder.join(10)

    # A running daemon: a second daemon on the same database refuses to start.
    first = start_daemon(config)
    first.wait_for(lambda: "pass:" in first.log, "the first daemon's first pass")
    second = start_daemon(config)
    assert second.process.wait(timeout=BOUND) == 1
    assert f"{database}: another echofeed daemon runs on it (pid {first.process.pid})" in (
        second.log
    )
    # ... while a cron refresh waits for the daemon's pass and runs.
    cron = subprocess.run(command(config, "refresh"), capture_output=True, text=True,
                          timeout=BOUND)  # fmt: skip
    assert cron.returncode == 0, cron.stderr
    assert first.process.poll() is None


def test_bad_config_edit_is_reported_and_the_old_config_kept(newsroom, tmp_path, start_daemon):
    feeds = tmp_path / "feeds"
    config = newsroom(refresh_interval="1h")
    daemon = start_daemon(config)
    daemon.wait_for(lambda: (feeds / "all.atom").exists(), "the first publication")

    good = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**good, "sources": [{"name": "X", "url": "ftp://x/"}]}))
    daemon.wait_for(
        lambda: (
            "config not reloaded" in daemon.log
            and "sources[0].url: 'ftp://x/' is not an absolute http or https URL" in daemon.log
            and "keeping the previous config" in daemon.log
        ),
        "the config error, naming the key",
    )
    write_seed(tmp_path / "seeds", "001_00000000000000d3.txt", "Still Running On The Old Config")
    daemon.wait_for(lambda: "Still Running On The Old Config" in titles(feeds), "the seed")
    assert daemon.process.poll() is None

    # A good edit is picked up without a restart: a new topic gets its feed.
    good["topics"] = {"Config": {"keywords": ["config"]}}
    config.write_text(yaml.safe_dump(good))
    daemon.wait_for(lambda: "config reloaded" in daemon.log, "the reload")
    daemon.wait_for(
        lambda: titles(feeds, "topic/config.atom") == ["Still Running On The Old Config"],
        "the new topic's feed",
    )


def test_daemon_serve_refreshes_and_serves_in_one_process(newsroom, tmp_path, start_daemon):
    daemon = start_daemon(newsroom(refresh_interval="1h"), "--serve", "--port", "0")
    daemon.wait_for(lambda: re.search(r"serving \S+ at (http://\S+)", daemon.log), "the server")
    base = re.search(r"serving \S+ at (http://\S+)", daemon.log).group(1)
    write_seed(tmp_path / "seeds", "001_00000000000000d4.txt", "Served Fresh From The Daemon")

    def served() -> bool:
        response = requests.get(base + "all.atom", timeout=5)
        return response.status_code == 200 and b"Served Fresh From The Daemon" in response.content

    daemon.wait_for(served, "the new seed served over HTTP")
    response = requests.get(base + "all.atom", timeout=5)
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    daemon.process.send_signal(signal.SIGINT)
    assert daemon.process.wait(timeout=BOUND) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "all.atom", timeout=5)


def test_a_network_outage_does_not_make_every_tick_a_pass(newsroom, tmp_path):
    # In-process: the decision logic alone, ticked by hand.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once closed
    config = load_config(newsroom(refresh_interval="1h", sources=[
        {"name": "A", "url": f"http://127.0.0.1:{closed_port}/a.xml", "interval": "1s"},
        {"name": "B", "url": f"http://127.0.0.1:{closed_port}/b.xml", "interval": "1s"},
    ]))  # fmt: skip
    daemon = DaemonLoop(config, DaemonOptions(tick_seconds=0.1))
    daemon.tick()
    assert daemon.passes == 1
    for _ in range(5):
        daemon.tick()
    assert daemon.passes == 1  # the sources wait; they are not hammered every tick
    write_seed(tmp_path / "seeds", "001_00000000000000d5.txt", "Published Despite The Outage")
    daemon.tick()
    assert daemon.passes == 2
    assert titles(tmp_path / "feeds") == ["Published Despite The Outage"]
