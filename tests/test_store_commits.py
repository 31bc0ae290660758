"""Store.commit_every: transactions committed together, each still all or nothing."""

import sqlite3

import pytest

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
