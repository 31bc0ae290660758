"""Store.commit_every: transactions committed together, each still all or nothing."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from echofeed import store as store_module
from echofeed.errors import StoreError
from echofeed.store import Store


def committed(path, key):
    """What another connection sees: only committed writes."""
    with sqlite3.connect(path) as other:
        row = other.execute("select value from meta where key = ?", [key]).fetchone()
    return row[0] if row else None


def test_transactions_are_committed_together_and_at_the_end(tmp_path):
    path = tmp_path / "echofeed.db"
    with Store(path) as store, store.commit_every(3600):
        with store.transaction():
            store.set_meta("a", "1")
        with store.transaction():
            store.set_meta("b", "2")
            with store.transaction():  # nested: part of the one around it
                store.set_meta("c", "3")
        assert committed(path, "a") is None and committed(path, "c") is None
    assert committed(path, "a") == "1" and committed(path, "c") == "3"


def test_a_transaction_ending_after_the_interval_commits(tmp_path):
    path = tmp_path / "echofeed.db"
    with Store(path) as store, store.commit_every(0):
        with store.transaction():
            store.set_meta("a", "1")
        assert committed(path, "a") == "1"
        with store.transaction():
            store.set_meta("b", "2")
            assert committed(path, "b") is None  # not before it ends
        assert committed(path, "b") == "2"


def test_a_failed_transaction_keeps_none_of_it_and_the_ones_before_are_committed(tmp_path):
    path = tmp_path / "echofeed.db"
    with Store(path) as store:
        with pytest.raises(StoreError, match="write failed, nothing of it was kept"):
            with store.commit_every(3600):
                with store.transaction():
                    store.set_meta("a", "1")
                with store.transaction():
                    store.set_meta("b", "2")
                    raise sqlite3.OperationalError("disk I/O error")
        assert committed(path, "a") == "1" and committed(path, "b") is None
        with store.transaction():  # the store is usable as before
            store.set_meta("b", "3")
    assert committed(path, "b") == "3"


def test_an_error_of_our_own_rolls_back_its_transaction_only(tmp_path):
    path = tmp_path / "echofeed.db"
    with Store(path) as store:
        with pytest.raises(KeyError), store.commit_every(3600):
            with store.transaction():
                store.set_meta("a", "1")
            with store.transaction():
                store.set_meta("b", "2")
                raise KeyError("a bug")
    assert committed(path, "a") == "1" and committed(path, "b") is None


def write_megabytes(store, megabytes: int) -> None:
    """One committed transaction of about that many MB (a few thousand pages)."""
    with store.transaction():
        for i in range(megabytes * 16):
            store.set_meta(f"filler-{i}", f"{i:08d}" * 8192)  # 64 KB each


def test_a_commit_leaves_copying_the_log_into_the_database_to_another_thread(tmp_path, monkeypatch):
    path = tmp_path / "echofeed.db"
    waits: list[str] = []
    monkeypatch.setattr(store_module._Checkpointer, "wake", lambda self: waits.append("woken"))
    with Store(path) as store:
        write_megabytes(store, 6)
        # The commit only appended to the log: 6 MB is under the writer's backstop,
        # and with no checkpoint thread to do it, the database file did not grow.
        assert waits and path.stat().st_size < 1_000_000
        assert Path(f"{path}-wal").stat().st_size > 6_000_000
    # Closing checkpoints what is left, and removes the log.
    assert path.stat().st_size > 6_000_000 and not Path(f"{path}-wal").exists()
    assert committed(path, "filler-95") == f"{95:08d}" * 8192


def test_the_checkpoint_thread_copies_the_log_while_the_store_is_open(tmp_path):
    path = tmp_path / "echofeed.db"
    with Store(path) as store:
        write_megabytes(store, 6)
        deadline = time.monotonic() + 30
        while path.stat().st_size < 6_000_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > 6_000_000
        store.set_meta("after", "1")  # the writer goes on meanwhile
    assert committed(path, "after") == "1"


def test_past_the_backstop_the_writer_checkpoints_itself(tmp_path, monkeypatch):
    # Should the thread fall behind (here: never run), the log still stops growing.
    path = tmp_path / "echofeed.db"
    monkeypatch.setattr(store_module, "WAL_BACKSTOP_PAGES", 500)  # 2 MB
    monkeypatch.setattr(store_module._Checkpointer, "wake", lambda self: None)
    with Store(path) as store:
        write_megabytes(store, 6)
        assert path.stat().st_size > 6_000_000


def test_no_checkpoint_thread_outlives_its_store(tmp_path):
    # The daemon opens a store every pass: one thread each would pile up.
    def checkpoint_threads() -> int:
        return sum(t.name == "echofeed-checkpoint" for t in threading.enumerate())

    before = checkpoint_threads()
    for _ in range(3):
        with Store(tmp_path / "echofeed.db") as store:
            store.set_meta("a", "1")
            assert checkpoint_threads() == before + 1
    assert checkpoint_threads() == before
    with Store(tmp_path / "echofeed.db", read_only=True):
        assert checkpoint_threads() == before  # a reader has none
    # Nor one whose store failed to open (the daemon tries again every pass).
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        db.execute("update meta set value = '999' where key = 'schema_version'")
    with pytest.raises(StoreError, match="made by a newer echofeed"):
        Store(tmp_path / "echofeed.db")
    assert checkpoint_threads() == before
