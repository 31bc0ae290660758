"""The writer lock: one writer per database, a bounded wait, a clear message, no stale lock."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from echofeed import lock as lock_module
from echofeed.errors import LockError
from echofeed.lock import lock_path, writer_lock


def hold_in_thread(database, release: threading.Event) -> threading.Event:
    """Take the lock in another thread (so it is another holder) until `release` is set."""
    taken = threading.Event()

    def hold() -> None:
        with writer_lock(database, timeout=5):
            taken.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(5)
    return taken


def test_second_writer_waits_a_bounded_time_then_names_the_database_and_holder(tmp_path):
    database = tmp_path / "echofeed.db"
    release = threading.Event()
    try:
        hold_in_thread(database, release)
        with pytest.raises(LockError) as caught, writer_lock(database, timeout=0.3):
            pass
    finally:
        release.set()
    message = str(caught.value)
    assert str(database) in message
    assert "another echofeed is writing it" in message
    assert f"pid {os.getpid()}" in message and "gave up waiting after 0.3s" in message


def test_a_waiting_writer_gets_the_lock_once_it_is_released(tmp_path):
    database = tmp_path / "echofeed.db"
    release = threading.Event()
    hold_in_thread(database, release)
    threading.Timer(0.2, release.set).start()
    with writer_lock(database, timeout=10) as path:
        assert path == lock_path(database).resolve()
        assert release.is_set()


def test_the_lock_is_reentrant_in_one_thread(tmp_path):
    database = tmp_path / "echofeed.db"
    with writer_lock(database, timeout=0), writer_lock(database, timeout=0):
        pass
    with writer_lock(database, timeout=0):  # and really released afterwards
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    database = tmp_path / "echofeed.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from echofeed.lock import writer_lock\n"
         f"with writer_lock({str(database)!r}):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match=f"pid {holder.pid}"), writer_lock(database, timeout=0):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 10
        with writer_lock(database, timeout=max(0.0, deadline - time.monotonic())):
            pass
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()


def test_the_lock_file_is_gone_after_release_and_exclusion_holds_under_contention(tmp_path):
    database = tmp_path / "echofeed.db"
    inside, overlaps, rounds = [0], [], []

    def writer() -> None:
        for _ in range(25):
            with writer_lock(database, timeout=30):
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(inside[0])
                time.sleep(0.001)
                inside[0] -= 1
                rounds.append(1)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(rounds) == 100 and overlaps == []
    assert list(tmp_path.iterdir()) == []  # nothing left next to the database


class FullDiskFile:
    """An open lock file on a full disk: writes are buffered, flushing them fails."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real = real

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.real, name)

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        self.real.close()
        self.flush()  # as a real buffered file does: close flushes what is left


def test_a_full_disk_while_writing_the_lock_file_is_a_lock_error_naming_it(tmp_path, monkeypatch):
    database = tmp_path / "echofeed.db"
    monkeypatch.setattr(lock_module, "open", lambda *a, **k: FullDiskFile(open(*a, **k)),
                        raising=False)  # fmt: skip
    with pytest.raises(LockError) as caught, writer_lock(database, timeout=0):
        pytest.fail("the lock must not be taken")
    message = str(caught.value)
    assert message == (
        f"{database}: cannot write the lock file {lock_path(database)}: No space left on device"
    )
    assert list(tmp_path.iterdir()) == []  # it let go and removed what it made
    monkeypatch.undo()
    with writer_lock(database, timeout=0):  # and the next writer gets it at once
        pass


def test_a_lock_file_that_cannot_be_made_is_a_lock_error_naming_it(tmp_path):
    (tmp_path / "not-a-folder").write_text("a file where the database folder should be")
    database = tmp_path / "not-a-folder" / "echofeed.db"
    opening = "cannot open the lock file .*not-a-folder/echofeed.db.lock"
    with pytest.raises(LockError, match=opening), writer_lock(database, timeout=0):
        pytest.fail("the lock must not be taken")
