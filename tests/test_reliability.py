"""Faults of the machine: disk full, read-only output, unwritable database, names that
would escape output_dir. Each ends in a clear error naming the path, and the feeds
already published stay byte-identical; the next pass after the fault publishes."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from echofeed import store as store_module
from echofeed.cli import cli
from echofeed.config import load_config
from echofeed.errors import PublishError, StoreError
from echofeed.lock import writer_lock
from echofeed.pipeline import refresh
from echofeed.publish import safe_output_path, write_if_changed

from .conftest import DATA, write_seed
from .feedcheck import entries, validate_output

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
ATOM = (DATA / "feeds" / "atom10.xml").read_bytes()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def run_cli(config: Path, *args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(cli, ["-c", str(config), *args])


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make a file or a whole folder unwritable, even for root (tests run as root here)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    # chmod does not stop root; the immutable attribute does (CAP_LINUX_IMMUTABLE).
    if shutil.which("chattr") is None:
        pytest.skip("running as root and chattr is not installed: cannot make a path read-only")
    made = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=True)


@pytest.fixture
def published(newsroom, real_seed, tmp_path, httpserver) -> Path:
    """A newsroom that has published once: returns its config path."""
    httpserver.expect_request("/wire.xml").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    config = newsroom(
        sources=[{"name": "Wire", "url": httpserver.url_for("/wire.xml"), "section": "World"}],
        topics={"Venezuela": {"keywords": ["Venezuela"]}},
    )
    result = run_cli(config, "refresh")
    assert result.exit_code == 0, result.output
    validate_output(tmp_path / "feeds")
    # Something new to publish, so the next pass has to write.
    write_seed(tmp_path / "seeds", "001_00000000000000a1.txt", "Harbour reopens after storm")
    return config


# -- the database ---------------------------------------------------------------


def test_database_runs_in_wal_mode_and_passes_integrity_check(published, tmp_path):
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_one_transaction_per_source_a_failure_mid_source_keeps_none_of_it(
    newsroom, tmp_path, httpserver, monkeypatch
):
    httpserver.expect_request("/a.xml").respond_with_data(RSS, content_type="application/rss+xml")
    httpserver.expect_request("/b.atom").respond_with_data(
        ATOM, content_type="application/atom+xml"
    )
    config = load_config(newsroom(sources=[
        {"name": "A", "url": httpserver.url_for("/a.xml")},
        {"name": "B", "url": httpserver.url_for("/b.atom")},
    ]))  # fmt: skip
    put_entry = store_module.Store.put_entry
    stored_from_b = []

    def failing_put_entry(self, entry, **kwargs):  # noqa: ANN001, ANN202
        if entry.source_name == "B":
            stored_from_b.append(entry.origin_id)
            if len(stored_from_b) == 2:  # the second entry of B: the first is in the transaction
                raise sqlite3.OperationalError("disk I/O error")
        return put_entry(self, entry, **kwargs)

    monkeypatch.setattr(store_module.Store, "put_entry", failing_put_entry)
    with pytest.raises(StoreError, match="echofeed.db: write failed, nothing of it was kept"):
        refresh(config)
    monkeypatch.undo()
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        sources = dict(db.execute("select source_name, count(*) from stories group by 1"))
    assert sources.get("A", 0) > 0 and "B" not in sources, sources
    report = refresh(config)  # the fault gone, B's entries all arrive
    assert not report.errors, report.summary()
    names = {e["author"] for e in entries(tmp_path / "feeds" / "all.atom")}
    assert len(stored_from_b) == 2 and len(names) > 1


def test_database_path_that_is_a_folder_is_a_clear_error(newsroom, tmp_path):
    (tmp_path / "echofeed.db").mkdir()
    result = run_cli(newsroom(), "refresh")
    assert result.exit_code == 1
    assert f"{tmp_path / 'echofeed.db'}: cannot open the database" in result.output


def test_read_only_database_is_a_clear_error_and_feeds_stay(published, tmp_path):
    feeds_before = snapshot(tmp_path / "feeds")
    with unwritable(tmp_path / "echofeed.db"):
        result = run_cli(published, "refresh")
    assert result.exit_code == 1, result.output
    assert str(tmp_path / "echofeed.db") in result.output
    assert snapshot(tmp_path / "feeds") == feeds_before
    result = run_cli(published, "refresh")
    assert result.exit_code == 0, result.output
    assert "Harbour reopens after storm" in (tmp_path / "feeds" / "all.atom").read_text()


def test_corrupt_database_is_a_clear_error_and_feeds_stay(published, tmp_path):
    feeds_before = snapshot(tmp_path / "feeds")
    database = tmp_path / "echofeed.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(database.read_bytes())
    raw[0:100] = b"\xff" * 100  # the header: not an SQLite file any more
    database.write_bytes(bytes(raw))
    result = run_cli(published, "refresh")
    assert result.exit_code == 1
    assert f"{database}: cannot open the database" in result.output
    assert snapshot(tmp_path / "feeds") == feeds_before


def test_status_only_reads_even_while_a_refresh_is_writing(published, tmp_path):
    """status opens an up-to-date database read-only: it writes nothing (it holds no
    writer lock) and does not wait for a refresh in the middle of a transaction."""
    database = tmp_path / "echofeed.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files_before = {p.name: p.read_bytes() for p in tmp_path.glob("echofeed.db*")}
    release = threading.Event()
    holding = threading.Event()

    def refresh_mid_write() -> None:
        with writer_lock(database):
            writer = sqlite3.connect(database, isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            holding.set()
            release.wait(60)
            writer.execute("ROLLBACK")
            writer.close()

    thread = threading.Thread(target=refresh_mid_write)
    thread.start()
    try:
        assert holding.wait(10)
        result = run_cli(published, "status")
    finally:
        release.set()
        thread.join(60)
    assert result.exit_code == 0, result.output
    assert f"stored in {database})" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.glob("echofeed.db*")} == files_before


def test_status_on_a_database_of_a_newer_echofeed_is_a_clear_error(published, tmp_path):
    database = tmp_path / "echofeed.db"
    with sqlite3.connect(database) as db:
        db.execute("update meta set value = '99' where key = 'schema_version'")
    result = run_cli(published, "status")
    assert result.exit_code == 1
    assert f"{database}: made by a newer echofeed (schema 99" in result.output


# -- the output folder ------------------------------------------------------------


def test_read_only_output_is_a_clear_error_and_feeds_stay_byte_identical(published, tmp_path):
    feeds_before = snapshot(tmp_path / "feeds")
    with unwritable(tmp_path / "feeds"):
        result = run_cli(published, "refresh")
    assert result.exit_code == 1, result.output
    assert f"echofeed: error: {tmp_path / 'feeds' / 'all.atom'}: cannot write" in result.output
    assert snapshot(tmp_path / "feeds") == feeds_before
    # The stories were stored; the next pass with a writable folder publishes them.
    result = run_cli(published, "refresh")
    assert result.exit_code == 0, result.output
    validate_output(tmp_path / "feeds")
    assert "Harbour reopens after storm" in (tmp_path / "feeds" / "all.atom").read_text()


def test_disk_full_while_publishing_keeps_the_old_feeds(published, tmp_path, monkeypatch):
    feeds_before = snapshot(tmp_path / "feeds")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PublishError) as caught:
        refresh(load_config(published))
    monkeypatch.undo()
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "feeds" / "all.atom"))
    assert "No space left on device" in message and "previous version is untouched" in message
    assert snapshot(tmp_path / "feeds") == feeds_before  # no temp file left either
    report = refresh(load_config(published))
    assert "all.atom" in report.published.written
    validate_output(tmp_path / "feeds")


def test_temp_files_of_a_killed_write_are_cleaned_by_the_next_pass(published, tmp_path):
    feeds = tmp_path / "feeds"
    leftovers = [feeds / ".all.atom.k1ll3d.tmp", feeds / ".index.opml.a_b9c8d7.tmp",
                 feeds / "section" / ".world.atom.k1ll3d.tmp",
                 feeds / "mine" / "deep" / ".index.html.x1y2z3.tmp"]  # fmt: skip
    # Not ours (not what our writer names a temp file): left alone.
    others = [feeds / ".editor.swp.tmp", feeds / "notes.atom.tmp", feeds / ".all.atom.tmp",
              feeds / "mine" / ".draft.txt.abc123.tmp"]  # fmt: skip
    for path in leftovers + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><ti')
    result = run_cli(published, "refresh")
    assert result.exit_code == 0, result.output
    assert [p for p in leftovers if p.exists()] == []
    assert [p for p in others if not p.exists()] == []


def test_write_if_changed_leaves_no_half_file_when_the_write_fails(tmp_path, monkeypatch):
    write_if_changed(tmp_path, "f.atom", b"old complete feed")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PublishError, match="f.atom: cannot write"):
        write_if_changed(tmp_path, "f.atom", b"new feed " * 1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.atom"]
    assert (tmp_path / "f.atom").read_bytes() == b"old complete feed"


INTEGRITY_CHECK = (
    "import sqlite3, sys; "
    "print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
)
UNSHARE_SCRIPT = r"""
set -u
mount -t tmpfs -o size=600k tmpfs "$MNT" || exit 99
cp -a "$STATE"/. "$MNT"/
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
"$PY" -m echofeed.cli -q -c "$MNT/config.yaml" refresh > "$OUT/stdout1" 2> "$OUT/stderr1"
echo $? > "$OUT/rc1"
cp -a "$MNT/feeds" "$OUT/feeds1"
rm -f "$MNT/filler"
"$PY" -c "$CHECK" "$MNT/echofeed.db" > "$OUT/integrity1" 2>&1
"$PY" -m echofeed.cli -q -c "$MNT/config.yaml" refresh > "$OUT/stdout2" 2> "$OUT/stderr2"
echo $? > "$OUT/rc2"
cp -a "$MNT/feeds" "$OUT/feeds2"
"""


def test_disk_really_full_is_a_clear_error_naming_the_path(published, tmp_path):
    """A real full file system: a small tmpfs in a private mount namespace, filled up."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace (needs root): {probe.stderr.strip()}")
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    for name in ("seeds", "feeds", "echofeed.db", "echofeed.db-wal", "echofeed.db-shm"):
        if (tmp_path / name).is_dir():
            shutil.copytree(tmp_path / name, state / name)
        elif (tmp_path / name).exists():
            shutil.copy2(tmp_path / name, state / name)
    config = yaml.safe_load(published.read_text())
    (state / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "MNT": str(mnt), "STATE": str(state), "OUT": str(out),
           "PY": sys.executable, "CHECK": INTEGRITY_CHECK}  # fmt: skip
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", UNSHARE_SCRIPT], env=env, timeout=60,
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    stderr = (out / "stderr1").read_text()
    assert (out / "rc1").read_text().strip() == "1", stderr
    assert stderr.startswith(f"echofeed: error: {mnt}/"), stderr
    reason = stderr.split(str(mnt), 1)[1]
    assert "disk holding it is full" in reason or "No space left on device" in reason, stderr
    assert snapshot(out / "feeds1") == snapshot(state / "feeds")
    assert (out / "integrity1").read_text().strip() == "ok"
    assert (out / "rc2").read_text().strip() == "0", (out / "stderr2").read_text()
    validate_output(out / "feeds2")
    assert "Harbour reopens after storm" in (out / "feeds2" / "all.atom").read_text()


# -- names that would escape output_dir ------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    ["../x.atom", "../../x.atom", "/etc/passwd", "section/../../x.atom", "a\0b.atom", "", "."],
)
def test_safe_output_path_refuses_names_outside_output_dir(tmp_path, relpath):
    with pytest.raises(PublishError, match="refusing to write outside the output folder"):
        safe_output_path(tmp_path / "feeds", relpath)


def test_safe_output_path_resolves_every_name_as_realpath_does(tmp_path):
    out = tmp_path / "feeds"
    (out / "archive" / "all").mkdir(parents=True)
    (out / "archive" / "all" / "page-1.atom").write_text("x")
    (out / "file.atom").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (out / "linked").symlink_to(out / "archive")  # a folder linked inside
    (out / "away").symlink_to(tmp_path / "elsewhere")  # and one outside
    (out / "archive" / "all" / "page-2.atom").symlink_to(out / "archive" / "all" / "page-1.atom")
    (out / "escape.atom").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "feeds-link").symlink_to(out)  # output_dir itself a symlink
    for root in (out, tmp_path / "feeds-link"):
        for relpath in ("archive/all/page-1.atom", "archive/all/new.atom", "new/folder/x.atom",
                        "linked/all/page-1.atom", "archive/all/page-2.atom", "file.atom/x.atom",
                        "archive//all/page-1.atom", "./archive/all/page-1.atom",
                        "archive/../file.atom"):  # fmt: skip
            assert safe_output_path(root, relpath) == Path(os.path.realpath(root / relpath))
        for relpath in ("away/x.atom", "escape.atom", "linked/../../x.atom"):
            with pytest.raises(PublishError, match="refusing to write outside the output folder"):
                safe_output_path(root, relpath)


def test_symlinked_subfolder_pointing_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "section").symlink_to(outside)
    with pytest.raises(PublishError, match="refusing to write outside"):
        write_if_changed(tmp_path / "feeds", "section/world.atom", b"x")
    assert list(outside.iterdir()) == []


HOSTILE_NAMES = ["../../x", "../../../tmp/escaped", "/etc/cron.d/evil", "..", ".", "~root",
                 "a/../../b", "C:\\Windows\\x", "section/../../../y", "\u202e..\\..\\z",
                 "con", "x" * 300]  # fmt: skip


def test_hostile_section_names_from_seeds_and_feeds_stay_inside_output_dir(
    newsroom, tmp_path, httpserver
):
    items = "".join(
        f"<item><title>Feed story {i}</title><link>http://w.test/{i}</link>"
        f"<category><![CDATA[{name}]]></category></item>"
        for i, name in enumerate(HOSTILE_NAMES)
    )
    httpserver.expect_request("/cats.xml").respond_with_data(
        f'<rss version="2.0"><channel><title>c</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    for i, name in enumerate(HOSTILE_NAMES):
        write_seed(tmp_path / "seeds", f"{i:03d}_{i:016x}.txt", f"Seed story {i}", section=name)
    aliases = {name: [f"alias {i}"] for i, name in enumerate(HOSTILE_NAMES[:3])}
    config = newsroom(
        sources=[
            {"name": "Cats", "url": httpserver.url_for("/cats.xml")},
            {"name": "Sec", "url": httpserver.url_for("/cats.xml?x"), "section": "../../../sec"},
        ],
        sections=aliases,
        topics={"../../topic": {"keywords": ["story"]}, "/abs/topic": {"keywords": ["seed"]}},
    )
    before = {p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path / "feeds")}
    result = run_cli(config, "refresh")
    assert result.exit_code == 0, result.output
    after = {p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path / "feeds")}
    new_outside = {p for p in after - before if p.parent != tmp_path}  # the db files are ours
    assert new_outside == set(), new_outside
    assert {p.name for p in after - before if p.parent == tmp_path} <= {
        "echofeed.db",
        "echofeed.db-wal",
        "echofeed.db-shm",
    }
    feeds = validate_output(tmp_path / "feeds")
    for path in feeds:
        relative = path.relative_to(tmp_path / "feeds")
        assert len(relative.parts) <= 2 and ".." not in relative.parts
    published = {e["title"] for e in entries(tmp_path / "feeds" / "all.atom")}
    # Every seed publishes but the one whose section is over 60 characters: that one
    # is rejected with a reason naming its file and line 2.
    assert {f"Seed story {i}" for i in range(len(HOSTILE_NAMES) - 1)} <= published
    assert "011_000000000000000b.txt:2: " in result.output


def test_opening_a_new_database_while_another_pass_creates_it_waits(tmp_path):
    """A cron refresh starting while the daemon creates the database must wait, not fail
    with 'database is locked' (it did, one run in a dozen, before the schema was created
    in an immediate transaction)."""
    path = tmp_path / "echofeed.db"
    creator = sqlite3.connect(path, isolation_level=None)
    creator.execute("PRAGMA journal_mode=WAL")
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("create table meta (key text primary key, value text)")
    outcome: dict[str, object] = {}

    def open_store() -> None:
        try:
            store_module.Store(path).close()
            outcome["opened"] = True
        except StoreError as e:
            outcome["error"] = e

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(0.3)  # ordering, not timing: let the opener reach the schema first
    creator.execute("COMMIT")
    creator.close()
    opener.join(timeout=60)
    assert outcome == {"opened": True}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("select value from meta where key = 'schema_version'").fetchone()
