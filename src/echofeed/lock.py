"""The writer lock: one echofeed process writes a database and its output at a time.

An OS file lock (flock) on `<database>.lock`, next to the database. `refresh`
and every daemon pass take it, so a cron `refresh` and a running daemon never
write at once; the second one waits a bounded time, then gives up with a
LockError naming the database and the process holding it. The kernel releases
the lock when its holder exits, however it exits, so a crash never leaves a
stale lock behind; a holder removes the file as it lets go, so nothing is
left next to the database.

A second lock file, `<database>.daemon.lock`, is held for a daemon's whole life
so that a second daemon on the same database refuses to start.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockError

POLL_SECONDS = 0.1


def lock_path(database: Path, role: str = "") -> Path:
    """Where the lock file of `database` lives (role "" is the writer lock)."""
    suffix = f".{role}.lock" if role else ".lock"
    return database.with_name(database.name + suffix)


_held = threading.local()  # lock paths this thread holds: taking one again is free


@contextmanager
def writer_lock(database: Path, *, timeout: float = 30.0, role: str = "") -> Iterator[Path]:
    """Hold the lock of `database` inside the block; wait at most `timeout` seconds for it.

    Reentrant within a thread (the daemon holds it around a whole pass, and the
    pass takes it again), exclusive between processes and between threads.
    """
    path = lock_path(Path(database), role).resolve()
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if path in held:
        yield path
        return
    handle = _acquire(path, Path(database), timeout, role)
    held.add(path)
    try:
        yield path
    finally:
        held.discard(path)
        _release(handle, path)


def _acquire(path: Path, database: Path, timeout: float, role: str):  # noqa: ANN202
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        handle = _open(path, database)
        try:
            _lock(handle, path, database, deadline, timeout, role)
        except BaseException:
            handle.close()
            raise
        if _is_current(handle, path):
            break
        handle.close()  # we locked a file its holder removed on release: take the new one
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
    except OSError as e:
        # A full disk fails here first (ENOSPC on flush): better a clear error now than a
        # traceback, and a refresh that could not even write a pid would fail anyway.
        _release(handle, path)
        raise LockError(database, f"cannot write the lock file {path}: {e.strerror or e}") from e
    return handle


def _release(handle, path: Path) -> None:  # noqa: ANN001
    # Remove the file while still holding it, then let go: a waiter that locked the
    # removed file sees it is gone and opens a new one (see _acquire), so a finished
    # refresh leaves nothing next to the database.
    try:
        path.unlink()
    except OSError:
        pass
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        try:
            handle.close()
        except OSError:
            pass  # close flushes: a pid that never reached the disk is not worth an error


def _open(path: Path, database: Path):  # noqa: ANN202
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # "a+" neither truncates (the holder's pid stays readable) nor fails when absent.
        return open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed by writer_lock
    except OSError as e:
        raise LockError(database, f"cannot open the lock file {path}: {e.strerror or e}") from e


def _lock(handle, path: Path, database: Path, deadline: float, timeout: float, role: str) -> None:  # noqa: ANN001
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(path)
                what = "echofeed daemon runs on" if role == "daemon" else "echofeed is writing"
                waited = f"; gave up waiting after {timeout:g}s" if timeout > 0 else ""
                raise LockError(database, f"another {what} it{holder}{waited}") from None
            time.sleep(POLL_SECONDS)
        except OSError as e:
            raise LockError(database, f"cannot lock {path}: {e.strerror or e}") from e


def _is_current(handle, path: Path) -> bool:  # noqa: ANN001
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
