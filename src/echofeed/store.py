"""The database: the only module that speaks SQL.

sqlite-utils creates and migrates the schema; the rows written on every pass
(stories, seed files, sources) go through prepared statements of our own.

Tables:
- stories: every entry ever ingested, seeds and external. A story of record
  has duplicate_of NULL; a later copy of the same story points at its record.
  Withdrawn seeds (file deleted) keep their row with withdrawn = 1.
- story_topics: which topics each story is filed under.
- story_signatures: the blocking index of headline dedup: each story under the
  few signatures `dedup.signatures()` gives its headline, so a new headline
  finds its candidate matches by index lookups, not by a scan of every story.
- feed_slugs: the file name given to each section and topic, kept for good so
  a name that slugs alike later never renames an existing feed.
- sources: per external source, HTTP validators and failure state.
- seed_files: what was last seen of each seed file (size, mtime, hash, verdict).
- archive_pages: the frozen membership of every complete RFC 5005 archive page
  (feed, page number, position, story key). Written once, when the page fills.
- archive_snapshots: a pruned story that a frozen page holds, as it was when
  pruned (JSON), so the page can still be rendered once its row is gone.
- archive_heirs: a copy that became the story of record when its record was
  pruned (story_key), and the archived story it continues (heir_of).
- render_stamps: per published file (relpath) that is costly to render (article
  and archive pages, head feeds and their JSON twins), the stamp of the inputs it
  was last rendered from (see `story_stamps`), and for an archive page the
  fingerprint written into it, for a head feed the file's size and mtime.
- entry_fragments: per story, its rendered Atom <entry> (zlib-compressed; NULL
  when an archive page leaves the story out) and, once a head feed showed it, its
  JSON Feed item (json_item, zlib-compressed) under the stamp they were rendered
  from, so re-rendering an archive page reads its entries instead of its stories.
  A cache: a row whose stamp is not the story's current one is never used.
- meta: schema version, the fingerprint of the sorting rules, whether anything
  publishing reads was written since the last publish (set by triggers on every
  such write, so a pass can tell that nothing it would publish changed) and what
  was published (with each feed's stories left off its frozen pages by that
  publish: its open page and head).

SQLite runs in WAL mode; callers group the writes of one source in one
transaction (`Store.transaction()`), so a crash leaves each source either
wholly stored or not at all. Inside `Store.commit_every(seconds)` those
transactions are savepoints, committed together once `seconds` have passed:
a commit cost more than storing a source's 50 entries did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import StoreError
from .model import Entry, SourceLink, Story


@contextmanager
def _unimportable(*names: str) -> Iterator[None]:
    """The imports inside see these modules as not installed (each one not imported yet)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


# sqlite-utils imports numpy and pandas as it is imported, when they are
# installed, to accept their values in inserts. echofeed passes it none, and
# where they are installed (a data-science environment, our bench's for its
# plot) numpy alone was a third of echofeed's start-up, about 0.1 s of each
# `echofeed refresh`. They are hidden from that import only: any code imported
# later that wants them gets them.
with _unimportable("numpy", "pandas"):
    import sqlite_utils  # noqa: E402

SCHEMA_VERSION = 1
log = logging.getLogger(__name__)
# The writer checkpoints the log itself only past this many pages (40 MB), should
# the checkpoint thread (see _Checkpointer) fall behind; SQLite's default is 1,000.
WAL_BACKSTOP_PAGES = 10_000


def to_text(when: datetime) -> str:
    """Timestamps are stored as fixed-width UTC text, so they sort as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_text(text: str) -> datetime:
    # fromisoformat reads our fixed format ("Z" included, Python 3.11+) some 30 times
    # faster than strptime, which was a tenth of a full publish (every story read).
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """What ingest needs to know of an already stored entry."""

    key: str
    kind: str
    headline_key: str
    content_hash: str
    duplicate_of: str | None
    withdrawn: bool
    published: datetime
    updated: datetime
    headline: str = ""
    source: str = ""
    source_name: str = ""
    origin_id: str = ""
    last_seen: datetime | None = None
    atom_id: str = ""


@dataclass(slots=True)
class MayExist:
    """What of a batch of entries (one source's) may be stored: read by `Store.may_exist`
    before the batch, one query per kind, and added to as the batch writes.

    A key, link, atom id or signature not in it is certainly not stored, so ingest
    skips looking it up: on a first ingest, four queries per entry become four per
    source. One that is in it is looked up as before.
    """

    keys: set[str]
    links: set[str]  # of the batch's source
    atom_ids: set[str]
    signatures: set[str]

    def wrote(self, key: str, link: str, atom_id: str, signatures: Iterable[str]) -> None:
        self.keys.add(key)
        self.links.add(link)
        self.atom_ids.add(atom_id)
        self.signatures.update(signatures)


@dataclass(frozen=True, slots=True)
class SeedFileState:
    name: str
    seed_id: str
    size: int
    mtime_ns: int
    sha256: str
    status: str  # "published" or "rejected"
    reason: str | None
    line: int | None


@dataclass(frozen=True, slots=True)
class SourceState:
    url: str  # the configured URL: the source's identity
    name: str
    current_url: str  # where it is fetched now (after permanent redirects)
    etag: str | None
    last_modified: str | None
    last_fetch: datetime | None
    last_success: datetime | None
    last_error: str | None
    failures: int
    next_due: datetime | None
    gone: bool
    body_sha256: str | None


@dataclass(slots=True)
class _CommitGroup:
    seconds: float  # between commits, at least
    committed: float  # time.monotonic() of the last one
    inside: bool = False  # in one of them now: a nested transaction() just runs


class _Checkpointer:
    """Copies the write-ahead log into the database file, in a thread of its own.

    SQLite does it in the thread that commits, once the log passes 1,000 pages,
    and waits there for an fsync of the log and one of the database: 45 ms of the
    65 ms the last commit of a first pass of 50 feeds took, while the parsers
    waited for that thread to store their next feed. Here a commit only appends
    to the log and wakes this thread, which checkpoints on a connection of its own
    (PASSIVE: it never waits for, nor blocks, the writer or a reader) at most
    every GAP seconds, while the pass goes on storing and publishing. Closing the
    store waits for it; the last connection to close checkpoints what is left.
    """

    GAP = 0.5  # seconds between checkpoints, at least: each costs two fsyncs

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="echofeed-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), check_same_thread=False)
        except sqlite3.Error as e:  # the writer checkpoints past WAL_BACKSTOP_PAGES
            log.debug("%s: no checkpoint thread: %s", self._path, e)
            return
        try:
            while True:
                self._wake.wait()
                if self._closing.is_set():
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the log keeps every page: nothing is lost
                    log.debug("%s: checkpoint failed: %s", self._path, e)
                self._closing.wait(self.GAP)
        finally:
            conn.close()


def _disk_full_note(path: Path) -> str:
    """SQLite reports a full disk as a vague "disk I/O error" when it cannot grow -shm."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    return "; the disk holding it is full" if free < 1024 * 1024 else ""


class Store:
    """An open echofeed database."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open the database, creating or migrating it; the caller holds the writer lock.

        `read_only` opens an existing, up-to-date database without writing anything
        (SQLite refuses writes on it), for commands that only read and take no lock;
        a missing or older database is then a StoreError.
        """
        self.path = Path(path)
        self._group: _CommitGroup | None = None
        self._checkpointer: _Checkpointer | None = None
        try:
            if read_only:
                self._open_read_only()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(connection)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # 32 MB of page cache (SQLite's default is 2 MB): a first pass writes
            # each story into seven b-trees of stories and a few of its signatures
            # and topics, and with the default cache their pages left memory
            # between writes. Storing 10,000 feed entries: 3.1 s -> 2.6 s of CPU.
            self.db.execute("PRAGMA cache_size=-32000")
            self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            self._migrate()
            # Once the store is usable: a store that fails to open is never closed.
            self._checkpointer = _Checkpointer(self.path)
        except sqlite3.DatabaseError as e:
            reason = f"cannot open the database: {e}{_disk_full_note(self.path)}"
            raise StoreError(self.path, reason) from e
        except OSError as e:
            raise StoreError(self.path, f"cannot open the database: {e}") from e

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        conn = self.db.conn
        if self._group is not None and not self._group.inside:
            with self._grouped_transaction(self._group):
                yield
            return
        try:
            if conn.in_transaction:  # nested: the outer transaction decides
                yield
                return
            # An explicit BEGIN: sqlite3 only opens a transaction at the first
            # INSERT/UPDATE/DELETE, and a sqlite-utils upsert before that ran in
            # (and committed) a transaction of its own, so a failure or a kill
            # mid-source kept that row without its topics. Inside ours,
            # sqlite-utils 4 uses savepoints. IMMEDIATE takes the write lock now.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.commit()
                self._committed()
            except BaseException:
                conn.rollback()  # also after a failed COMMIT, which leaves it open
                raise
        except sqlite3.DatabaseError as e:
            reason = f"write failed, nothing of it was kept: {e}{_disk_full_note(self.path)}"
            raise StoreError(self.path, reason) from e

    @contextmanager
    def commit_every(self, seconds: float) -> Iterator[None]:
        """Commit the transactions opened inside together: the first to end `seconds`
        or more after the last commit commits, and the last one at the end.

        Each is a savepoint of the current commit, so it still keeps all of its
        writes or none: one that fails is rolled back alone, and the ones before
        it are committed before its error goes on. A crash loses the transactions
        of the last `seconds` or so, each whole; nothing else.
        """
        if self._group is not None or self.db.conn.in_transaction:
            yield  # already grouped, or inside a transaction that decides
            return
        self._group = group = _CommitGroup(seconds, time.monotonic())
        try:
            yield
        finally:
            self._group = None
            self._commit_group(group)

    @contextmanager
    def _grouped_transaction(self, group: _CommitGroup) -> Iterator[None]:
        conn = self.db.conn
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")  # see transaction()
            conn.execute("SAVEPOINT grouped")
            group.inside = True
            try:
                yield
                conn.execute("RELEASE grouped")
            except BaseException:
                # A failed write may have ended the whole transaction already
                # (SQLite rolls back on a full disk): then there is no savepoint.
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO grouped")
                    conn.execute("RELEASE grouped")
                raise
            finally:
                group.inside = False
            if time.monotonic() - group.committed >= group.seconds:
                self._commit_group(group)
        except sqlite3.DatabaseError as e:
            reason = f"write failed, nothing of it was kept: {e}{_disk_full_note(self.path)}"
            raise StoreError(self.path, reason) from e

    def _commit_group(self, group: _CommitGroup) -> None:
        conn = self.db.conn
        group.committed = time.monotonic()
        if not conn.in_transaction:
            return
        try:
            conn.commit()
            self._committed()
        except sqlite3.DatabaseError as e:
            conn.rollback()  # a failed COMMIT leaves the transaction open
            reason = (
                f"write failed, nothing since the last commit was kept: "
                f"{e}{_disk_full_note(self.path)}"
            )
            raise StoreError(self.path, reason) from e

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wake()

    def _open_read_only(self) -> None:
        if not self.path.is_file():
            raise StoreError(self.path, "no database yet (`echofeed refresh` makes it)")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        self.db = sqlite_utils.Database(connection)
        version = self._meta("schema_version") if self.db["meta"].exists() else None
        if version != str(SCHEMA_VERSION):
            self.close()
            newer = version is not None and version.isdigit() and int(version) > SCHEMA_VERSION
            raise StoreError(
                self.path,
                f"made by a newer echofeed (schema {version}, this one knows {SCHEMA_VERSION})"
                if newer
                else f"schema {version or 'none'}, not yet upgraded to {SCHEMA_VERSION} "
                "(`echofeed refresh` upgrades it)",
            )

    def _migrate(self) -> None:
        db = self.db
        with self.transaction():  # IMMEDIATE: a second process waits, not fails
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            row = self._meta("schema_version")
            if row is not None and int(row) > SCHEMA_VERSION:
                raise StoreError(
                    self.path,
                    f"made by a newer echofeed (schema {row}, this one knows {SCHEMA_VERSION})",
                )
            db["stories"].create(
                {
                    "key": str, "kind": str, "source": str, "source_name": str,
                    "origin_id": str, "atom_id": str, "headline": str, "headline_key": str,
                    "byline": str, "section": str, "section_given": str, "categories": str,
                    "body_html": str, "summary_html": str, "link": str, "content_hash": str,
                    "published": str, "updated": str, "first_seen": str, "last_seen": str,
                    "duplicate_of": str, "withdrawn": int,
                },
                pk="key", not_null={"kind", "headline", "published", "updated"},
                defaults={"withdrawn": 0}, if_not_exists=True,
            )  # fmt: skip
            db["story_topics"].create(
                {"story_key": str, "topic": str}, pk=("story_key", "topic"), if_not_exists=True
            )
            db["story_signatures"].create(
                {"signature": str, "story_key": str}, pk=("signature", "story_key"),
                if_not_exists=True,
            )  # fmt: skip
            db["feed_slugs"].create(
                {"kind": str, "key": str, "name": str, "slug": str},
                pk=("kind", "key"), if_not_exists=True,
            )  # fmt: skip
            db["feed_slugs"].create_index(["kind", "slug"], unique=True, if_not_exists=True)
            db["sources"].create(
                {
                    "url": str, "name": str, "current_url": str, "etag": str,
                    "last_modified": str, "last_fetch": str, "last_success": str,
                    "last_error": str, "failures": int, "next_due": str, "gone": int,
                    "body_sha256": str,
                },
                pk="url", defaults={"failures": 0, "gone": 0}, if_not_exists=True,
            )  # fmt: skip
            db["seed_files"].create(
                {
                    "name": str, "seed_id": str, "size": int, "mtime_ns": int, "sha256": str,
                    "status": str, "reason": str, "line": int, "checked": str,
                },
                pk="name", if_not_exists=True,
            )  # fmt: skip
            db["archive_pages"].create(
                {"feed": str, "number": int, "position": int, "story_key": str},
                pk=("feed", "number", "position"), if_not_exists=True,
            )  # fmt: skip
            db["archive_snapshots"].create(
                {"story_key": str, "story": str}, pk="story_key", if_not_exists=True
            )
            db["archive_heirs"].create(
                {"story_key": str, "heir_of": str}, pk="story_key", if_not_exists=True
            )
            db["render_stamps"].create(
                {"relpath": str, "stamp": str, "fingerprint": str},
                pk="relpath", if_not_exists=True,
            )  # fmt: skip
            db["entry_fragments"].create(
                {"story_key": str, "stamp": str, "published": str, "updated": str,
                 "entry": bytes, "json_item": bytes},
                pk="story_key", if_not_exists=True,
            )  # fmt: skip
            if "json_item" not in db["entry_fragments"].columns_dict:  # before 2026-12-06
                db["entry_fragments"].add_column("json_item", bytes)
            for table, columns in (
                ("archive_pages", ["story_key"]),
                ("stories", ["duplicate_of", "withdrawn", "published"]),
                # Covers `sections()`, read twice a pass: a scan of every story
                # before (0.05 s each at 20,000 stories).
                ("stories", ["section", "first_seen"]),
                ("story_signatures", ["story_key"]),
                ("stories", ["source", "link"]),
                ("stories", ["atom_id"]),
            ):
                db[table].create_index(columns, if_not_exists=True)
            # The live seeds, read on every pass (which seed files are gone) and on
            # every pass that publishes (their article pages): a scan of every
            # story's first page before (36 ms at 20,000 stories, 7 ms with it).
            # Partial: a feed entry, most of what a first pass stores, is not in it.
            db.execute(
                "create index if not exists idx_live_seeds on stories "
                "(origin_id, key, section, duplicate_of) where kind = 'seed' and withdrawn = 0"
            )
            # Every feed's timeline (`feed_timelines`), read by every pass that
            # publishes: from the stories' rows, scattered among their bodies, 129 ms
            # at 20,000 stories; 37 ms from this. Partial: copies and withdrawn seeds
            # are in no timeline.
            db.execute(
                "create index if not exists idx_timeline on stories "
                "(first_seen, published, key, section) where duplicate_of is null and withdrawn = 0"
            )
            # Covered by the indexes above (section, first_seen) and (source, link):
            # one b-tree fewer to update for every story written.
            db.execute("drop index if exists idx_stories_section")
            db.execute("drop index if exists idx_stories_source")
            # No query looks a story up by its headline key (the dedup lookups go
            # through story_signatures), nor a topic's stories up by the topic (the
            # timelines read each story's topics): b-trees fewer to update per story.
            db.execute("drop index if exists idx_stories_headline_key")
            db.execute("drop index if exists idx_story_topics_topic")
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
            # The stories written since the last publish, kept by SQLite triggers
            # whatever code wrote them; '*' stands for everything (a new database
            # has published nothing yet, or one written by an echofeed that kept
            # only a flag).
            if not db["publish_pending"].exists():
                db.execute("create table publish_pending (key text primary key) without rowid")
                db.execute("insert into publish_pending (key) values ('*')")
            triggers = dict(
                db.execute("select name, sql from sqlite_master where type = 'trigger'").fetchall()
            )
            for table, events in _OLD_CONTENT_TRIGGERS.items():
                for name in events:
                    if f"changed_{table}_{name}" in triggers:
                        db.execute(f"drop trigger changed_{table}_{name}")
            db.execute("delete from meta where key = 'content_changed'")
            for table, events in _PENDING_TRIGGERS.items():
                for name, (event, keys) in events.items():
                    # The WHEN makes a pass that is to publish everything anyway
                    # (a first ingest) pay one lookup per row written, not an insert.
                    # Not INSERT OR IGNORE: the statement that fires a trigger imposes
                    # its own conflict policy (an INSERT OR FAIL would fail on a key
                    # marked twice).
                    values = " union ".join(f"select {key} as k" for key in keys)
                    trigger = f"pending_{table}_{name}"
                    sql = (
                        f"CREATE TRIGGER {trigger} after {event} "
                        f"on {table} when not exists "
                        "(select 1 from publish_pending where key = '*') "
                        f"begin insert into publish_pending (key) select k from ({values}) "
                        "where k is not null and k not in (select key from publish_pending); end"
                    )
                    # Made again when the code says otherwise than the database.
                    if triggers.get(trigger) != sql:
                        db.execute(f"drop trigger if exists {trigger}")
                        db.execute(sql)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one read, as dicts, straight from sqlite3: for the reads done for
        every entry ingested. sqlite-utils' query() wraps each read in a savepoint
        (three statements instead of one)."""
        cursor = self.db.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    # -- meta ---------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return rows[0]["value"] if rows else None

    def get_meta(self, key: str) -> str | None:
        return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    def content_changed(self) -> bool:
        """Whether anything publishing reads (stories as published, their topics,
        archive pages, snapshots and heirs, feed slugs) was written since
        `content_published()`: SQLite triggers say so, whatever wrote it. A re-fetch
        that merely saw a story again leaves it as it was."""
        return bool(self._rows("select 1 from publish_pending limit 1"))

    def changed_story_keys(self) -> set[str] | None:
        """The stories whose published form may have changed since
        `content_published()`: each written one, and the story of record of a copy
        written (it lists its carriers). None when anything may have: a feed's pages
        or slugs were written, or nothing was published yet."""
        keys = {row["key"] for row in self._rows("select key from publish_pending")}
        return None if "*" in keys else keys

    def content_published(self) -> None:
        """Everything stored is published: `content_changed()` is False until the
        next write to what publishing reads."""
        self.db.conn.execute("delete from publish_pending")

    def integrity_check(self) -> str:
        return next(self.db.query("PRAGMA integrity_check"))["integrity_check"]

    # -- stories ------------------------------------------------------------

    def get_entry(self, key: str) -> StoredEntry | None:
        rows = self._rows(f"select {_ENTRY_COLUMNS} from stories where key = ?", [key])
        return _stored_entry(rows[0]) if rows else None

    def find_record(self, signatures: Sequence[str], *, exclude_key: str) -> list[StoredEntry]:
        """Live stories of record filed under any of `signatures`, oldest first.

        These are the candidates a new headline is decided against; the
        signature index keeps them few whatever the number of stories stored.
        """
        if not signatures:
            return []
        marks = ",".join("?" * len(signatures))
        # CROSS JOIN keeps SQLite on the signature index: left to itself it
        # prefers the duplicate_of index, which is a scan of every record.
        rows = self._rows(
            f"select distinct {_ENTRY_COLUMNS} from story_signatures cross join stories "
            f"on key = story_key where signature in ({marks}) and key != ? "
            "and duplicate_of is null and withdrawn = 0 order by first_seen, key",
            [*signatures, exclude_key],
        )
        return [_stored_entry(row) for row in rows]

    def find_by_link(self, source: str, link: str, *, exclude_key: str) -> StoredEntry | None:
        """The one entry a source published earlier under this link (its id may have changed).

        None when the source used the link for several entries: then the link
        names a page (a live blog, the home page), not one entry.
        """
        rows = self._rows(
            f"select {_ENTRY_COLUMNS} from stories where source = ? and link = ? "
            "and key != ? limit 2",
            [source, link, exclude_key],
        )
        return _stored_entry(rows[0]) if len(rows) == 1 else None

    def may_exist(
        self,
        source: str,
        *,
        keys: Iterable[str],
        links: Iterable[str],
        atom_ids: Iterable[str],
        signatures: Iterable[str],
    ) -> MayExist:
        """Which of these are stored now (links: of `source`); see MayExist."""

        def stored(sql: str, values: Iterable[str], *before: str) -> set[str]:
            found: set[str] = set()
            for chunk, marks in _in_chunks(sorted(set(values))):
                cursor = self.db.conn.execute(sql.format(marks=marks), [*before, *chunk])
                found.update(row[0] for row in cursor)
            return found

        return MayExist(
            keys=stored("select key from stories where key in ({marks})", keys),
            links=stored(
                "select distinct link from stories where source = ? and link in ({marks})",
                links,
                source,
            ),
            atom_ids=stored("select atom_id from stories where atom_id in ({marks})", atom_ids),
            signatures=stored(
                "select distinct signature from story_signatures where signature in ({marks})",
                signatures,
            ),
        )

    def copies_of(self, record_key: str) -> list[StoredEntry]:
        """The entries filed as copies of `record_key`, oldest first."""
        rows = self.db.query(
            f"select {_ENTRY_COLUMNS} from stories where duplicate_of = ? order by first_seen, key",
            [record_key],
        )
        return [_stored_entry(row) for row in rows]

    def set_signatures(self, key: str, signatures: Iterable[str], headline_key: str) -> None:
        """File `key` under these dedup signatures (and no others)."""
        self.db.execute("delete from story_signatures where story_key = ?", [key])
        self.db.execute("update stories set headline_key = ? where key = ?", [headline_key, key])
        self.db.conn.executemany(
            "insert or ignore into story_signatures (signature, story_key) values (?, ?)",
            [(sig, key) for sig in signatures],
        )

    def iter_headlines(self) -> Iterator[tuple[str, str, str]]:
        """(key, headline, source_name) of every story, for re-keying after a rule change."""
        for row in self.db.query("select key, headline, source_name from stories order by key"):
            yield row["key"], row["headline"], row["source_name"] or ""

    def load_headlines(
        self, rows: Iterable[tuple[str, str, str, Sequence[str]]], when: datetime
    ) -> None:
        """Bulk-insert bare external stories (key, headline, key, signatures): for benchmarks."""
        stamp = to_text(when)
        with self.db.conn:
            for key, headline, hkey, sigs in rows:
                self.db.execute(
                    "insert into stories (key, kind, source, source_name, origin_id, atom_id, "
                    "headline, headline_key, content_hash, published, updated, first_seen, "
                    "last_seen, withdrawn) values (?, 'feed', 'bench', 'Bench', ?, ?, ?, ?, '', "
                    "?, ?, ?, ?, 0)",
                    [key, key, key, headline, hkey, stamp, stamp, stamp, stamp],
                )
                self.db.conn.executemany(
                    "insert or ignore into story_signatures (signature, story_key) values (?, ?)",
                    [(sig, key) for sig in sigs],
                )

    def put_entry(
        self,
        entry: Entry,
        *,
        atom_id: str,
        headline_key: str,
        section: str,
        published: datetime,
        updated: datetime,
        seen: datetime,
        duplicate_of: str | None,
        topics: Iterable[str],
        signatures: Iterable[str] | None = None,
        content_hash: str | None = None,
        new: bool = False,
    ) -> None:
        """Insert or replace an entry's row (first_seen is kept on replace).

        With `signatures`, the entry is also filed under them (see `set_signatures`).
        `content_hash` is entry.content_hash, when the caller has it already.
        `new`: the caller knows the key is not stored, so it has no topics or
        signatures to replace (pruning deletes them with the story): storing 10,000
        new feed entries spent about a twentieth of its time deleting nothing.
        """
        key = entry.key
        seen_text = to_text(seen)
        self.db.execute(
            _PUT_ENTRY,
            [
                key, entry.kind, entry.source, entry.source_name, entry.origin_id, atom_id,
                entry.headline, headline_key, entry.byline, section, entry.section,
                json.dumps(list(entry.categories)), entry.body_html, entry.summary_html,
                entry.link, content_hash or entry.content_hash, to_text(published),
                to_text(updated), seen_text, seen_text, duplicate_of,
                0,  # storing it brings a withdrawn seed back
            ],
        )  # fmt: skip
        self.set_topics(key, topics, replace=not new)
        if signatures is not None:
            # The row was just written with its headline_key: only the index to update.
            if not new:
                self.db.conn.execute("delete from story_signatures where story_key = ?", [key])
            self.db.conn.executemany(
                "insert or ignore into story_signatures (signature, story_key) values (?, ?)",
                [(sig, key) for sig in signatures],
            )

    def atom_id_of(self, key: str) -> str | None:
        rows = self._rows("select atom_id from stories where key = ?", [key])
        return rows[0]["atom_id"] if rows else None

    def atom_id_taken(self, atom_id: str, *, exclude_key: str) -> bool:
        rows = self._rows(
            "select 1 from stories where atom_id = ? and key != ? limit 1", [atom_id, exclude_key]
        )
        return bool(rows)

    def touch(self, key: str, seen: datetime) -> None:
        self.db.execute("update stories set last_seen = ? where key = ?", [to_text(seen), key])

    def set_updated(self, key: str, updated: datetime) -> None:
        self.db.execute("update stories set updated = ? where key = ?", [to_text(updated), key])

    def make_duplicate(self, key: str, record_key: str) -> None:
        """File `key` and every copy filed under it as copies of `record_key`."""
        self.db.execute(
            "update stories set duplicate_of = ? where key = ? or duplicate_of = ?",
            [record_key, key, key],
        )
        self.db.execute("update stories set duplicate_of = null where key = ?", [record_key])

    def set_duplicate_of(self, key: str, record_key: str | None) -> None:
        self.db.execute("update stories set duplicate_of = ? where key = ?", [record_key, key])

    def set_topics(self, key: str, topics: Iterable[str], *, replace: bool = True) -> None:
        if replace:
            self.db.conn.execute("delete from story_topics where story_key = ?", [key])
        # Plain executemany: sqlite-utils' insert_all introspects the table and
        # opens a savepoint on every call, which dominated a re-sort's time.
        self.db.conn.executemany(
            "insert into story_topics (story_key, topic) values (?, ?)",
            [(key, topic) for topic in dict.fromkeys(topics)],
        )

    def withdraw_seeds_except(self, present_ids: set[str], when: datetime) -> list[str]:
        """Withdraw every seed story whose file is gone; return their keys."""
        live = self.db.conn.execute(
            "select key, origin_id from stories where kind = 'seed' and withdrawn = 0"
        )  # tuples straight from sqlite3: every pass reads every live seed
        gone = [key for key, origin_id in live if origin_id not in present_ids]
        for key in gone:
            self.db.execute(
                "update stories set withdrawn = 1, updated = ? where key = ?", [to_text(when), key]
            )
        return gone

    def prune_external(self, older_than: datetime) -> int:
        """Delete external stories published and last seen in their feed before `older_than`.

        Seeds are never pruned, withdrawn ones included. A story its source still
        carries stays even when old, or the next fetch would bring it back as new:
        one seen in the source's latest parsed body (the newest last_seen of that
        source) while the source answered since the cutoff (an unchanged body or a
        304 does not touch last_seen). When a pruned story was the record of copies
        that stay, the oldest of them becomes the record. A pruned story that a
        frozen archive page holds leaves a snapshot (see `archive_stories`).
        Returns how many went.
        """
        cutoff = to_text(older_than)
        keys = [
            row["key"]
            for row in self.db.query(
                "select s.key from stories s "
                "left join (select source, max(last_seen) as latest from stories "
                "  where kind = 'feed' group by source) l on l.source = s.source "
                "left join sources src on src.url = s.source "
                "where s.kind = 'feed' and s.published < :cutoff and s.last_seen < :cutoff "
                "and not (s.last_seen = l.latest and coalesce(src.last_success, '') >= :cutoff)",
                {"cutoff": cutoff},
            )
        ]
        if not keys:
            return 0
        self.db.execute("create temp table if not exists prune_keys (key text primary key)")
        self.db.execute("delete from prune_keys")
        self.db.conn.executemany("insert into prune_keys values (?)", ((k,) for k in keys))
        # A complete archive page never loses a story to retention: what it
        # renders of a pruned story is kept, the story itself (its signatures,
        # topics, place in the live feeds) goes.
        archived = list(
            self.db.query(
                "select s.* from stories s join prune_keys p on p.key = s.key "
                "where s.key in (select story_key from archive_pages)"
            )
        )
        self.db.conn.executemany(
            "insert or replace into archive_snapshots (story_key, story) values (?, ?)",
            [(story.key, _story_json(story)) for story in self._stories(archived)],
        )
        orphaned = self.db.query(
            "select s.key, s.duplicate_of from stories s join prune_keys p "
            "on p.key = s.duplicate_of where s.key not in (select key from prune_keys) "
            "order by s.duplicate_of, s.first_seen, s.key"
        )
        heirs: dict[str, str] = {}
        for row in list(orphaned):
            heir = heirs.setdefault(row["duplicate_of"], row["key"])
            self.db.execute(
                "update stories set duplicate_of = ? where key = ?",
                [None if heir == row["key"] else heir, row["key"]],
            )
        # An heir of a story on a frozen page is that story still: the feeds that
        # archived it must not publish it again as a new entry (see archive_heirs).
        self.db.conn.executemany(
            "insert or replace into archive_heirs (story_key, heir_of) select ?, root from "
            "(select coalesce((select heir_of from archive_heirs where story_key = ?), ?) "
            "as root) where root in (select story_key from archive_pages)",
            [(heir, pruned, pruned) for pruned, heir in heirs.items()],
        )
        self.db.execute("delete from archive_heirs where story_key in (select key from prune_keys)")
        self.db.execute(
            "delete from story_signatures where story_key in (select key from prune_keys)"
        )
        self.db.execute("delete from story_topics where story_key in (select key from prune_keys)")
        self.db.execute(
            "delete from entry_fragments where story_key in (select key from prune_keys) "
            "and story_key not in (select story_key from archive_pages)"
        )
        self.db.execute("delete from stories where key in (select key from prune_keys)")
        self.db.execute("delete from prune_keys")
        return len(keys)

    def iter_sortable(self) -> Iterator[dict[str, Any]]:
        """Every story's sorting inputs, oldest first, for a re-sort after the rules change."""
        yield from self.db.query(
            "select key, kind, source, headline, body_html, categories, section, section_given, "
            "(select json_group_array(t.topic) from story_topics t where t.story_key = s.key) "
            "as topics from stories s order by first_seen, key"
        )

    def set_section(self, key: str, section: str, section_given: str | None = None) -> None:
        self.db.execute("update stories set section = ? where key = ?", [section, key])
        if section_given is not None:
            self.db.execute(
                "update stories set section_given = ? where key = ?", [section_given, key]
            )

    # -- publishing reads ---------------------------------------------------

    def sections(self) -> list[str]:
        """Every section a stored story is filed in, the longest-used first."""
        return [
            row["section"]
            for row in self.db.query(
                "select section from stories group by section order by min(first_seen), section"
            )
        ]

    def feed_slugs(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(kind, name key) -> (name, slug) of every section and topic ever published."""
        return {
            (row["kind"], row["key"]): (row["name"], row["slug"])
            for row in self.db.query("select kind, key, name, slug from feed_slugs")
        }

    def add_feed_slugs(self, slugs: Mapping[tuple[str, str], tuple[str, str]]) -> None:
        """Keep newly given slugs; one already given is never changed."""
        rows = [
            {"kind": kind, "key": key, "name": name, "slug": slug}
            for (kind, key), (name, slug) in slugs.items()
        ]
        if rows:
            self.db["feed_slugs"].insert_all(rows, pk=("kind", "key"), ignore=True)

    def feed_timelines(self, keys: Iterable[str] | None = None) -> dict[tuple[str, str], list[str]]:
        """Keys of the live stories of record of every feed, in the order they were
        first seen: ("all", "") for all of them, ("section", name) and ("topic", name)
        for each section and topic that has any. With `keys`, only those stories.

        This is the archive order: a new story is always added at the end (ties
        within one pass go by published date). Stories already on a frozen archive
        page (`archive_pages`) are in it too; the caller pages the others after them.
        One read for every feed: a query per feed cost a pass that changed little
        a few tenths of a second at 10,000 seeds.
        """
        columns = (
            "select s.first_seen, s.published, s.key, s.section, (select group_concat(topic, "
            "char(31)) from story_topics t where t.story_key = s.key) from stories s"
        )
        if keys is None:
            rows: Iterable[tuple[str, str, str, str, str | None]] = self.db.conn.execute(
                f"{columns} indexed by idx_timeline where s.duplicate_of is null "
                "and s.withdrawn = 0 "
                "order by s.first_seen, s.published, s.key"
            )
        else:  # the dates are fixed-width text (see to_text): they sort as SQL does
            rows = sorted(
                (
                    row
                    for chunk, marks in _in_chunks(list(keys))
                    for row in self.db.conn.execute(  # by key: SQLite would scan the live ones
                        f"{columns} where s.key in ({marks}) and +s.duplicate_of is null "
                        "and +s.withdrawn = 0",
                        chunk,
                    )
                ),
                key=lambda row: (row[0] or "", row[1], row[2]),  # SQL puts a null first
            )
        timelines: dict[tuple[str, str], list[str]] = {("all", ""): []}
        for _, _, key, section, topics in rows:
            timelines[("all", "")].append(key)
            timelines.setdefault(("section", section), []).append(key)
            for topic in topics.split("\x1f") if topics else ():
                timelines.setdefault(("topic", topic), []).append(key)
        return timelines

    def archive_pages(self, feed: str) -> list[list[str]]:
        """The frozen pages of `feed` (its relpath), page 1 first, each a list of story keys."""
        pages: list[list[str]] = []
        for number, key in self.db.conn.execute(
            "select number, story_key from archive_pages where feed = ? order by number, position",
            [feed],
        ):  # tuples straight from sqlite3: every pass reads every feed's pages
            while len(pages) < number:
                pages.append([])
            pages[number - 1].append(key)
        return pages

    def archive_page(self, feed: str, number: int) -> list[str]:
        """The story keys of frozen page `number` of `feed`, in page order."""
        return [
            key
            for (key,) in self.db.conn.execute(
                "select story_key from archive_pages where feed = ? and number = ? "
                "order by position",
                [feed, number],
            )
        ]

    def archive_page_count(self, feed: str) -> int:
        """How many frozen pages `feed` has."""
        row = self.db.conn.execute(
            "select max(number) from archive_pages where feed = ?", [feed]
        ).fetchone()
        return row[0] or 0

    def archive_places(self, keys: Iterable[str]) -> dict[str, dict[int, list[str]]]:
        """feed -> page number -> which of these stories its frozen page holds."""
        places: dict[str, dict[int, list[str]]] = {}
        for chunk, marks in _in_chunks(list(keys)):
            for feed, number, key in self.db.conn.execute(
                f"select feed, number, story_key from archive_pages where story_key in ({marks})",
                chunk,
            ):
                places.setdefault(feed, {}).setdefault(number, []).append(key)
        return places

    def archived_feeds(self) -> set[str]:
        """The relpaths of every feed that has a frozen archive page."""
        return {row["feed"] for row in self.db.query("select distinct feed from archive_pages")}

    def archive_heirs(self, feed: str) -> set[str]:
        """Stories of record that continue a pruned story on one of `feed`'s frozen pages."""
        return {
            row["story_key"]
            for row in self.db.query(
                "select h.story_key from archive_heirs h join archive_pages p "
                "on p.story_key = h.heir_of where p.feed = ?",
                [feed],
            )
        }

    def freeze_archive_page(self, feed: str, number: int, keys: Sequence[str]) -> None:
        """Record page `number` of `feed` as complete: it holds these stories for good."""
        self.db.conn.executemany(
            "insert into archive_pages (feed, number, position, story_key) values (?, ?, ?, ?)",
            [(feed, number, position, key) for position, key in enumerate(keys)],
        )

    def archive_stories(self, keys: Iterable[str]) -> list[Story]:
        """The stories of an archive page, in the order given: the stored version when
        the story is still stored, else its snapshot from when it was pruned. Withdrawn
        seeds are left out (a retraction reaches the archive too)."""
        wanted = list(keys)
        live = {story.key: story for story in self.stories_by_keys(wanted)}
        withdrawn = set()
        for chunk, marks in _in_chunks(wanted):
            withdrawn.update(
                row["key"]
                for row in self.db.query(
                    f"select key from stories where withdrawn = 1 and key in ({marks})", chunk
                )
            )
        missing = [key for key in wanted if key not in live]
        snapshots: dict[str, Story] = {}
        for chunk, marks in _in_chunks(missing):
            for row in self.db.query(
                f"select story from archive_snapshots where story_key in ({marks})", chunk
            ):
                story = _story_from_json(row["story"])
                snapshots[story.key] = story
        found = {**snapshots, **live}
        return [found[key] for key in wanted if key in found and key not in withdrawn]

    def stories_by_keys(self, keys: Iterable[str]) -> list[Story]:
        """The stories with these keys, in the order given (unknown keys are left out)."""
        wanted = list(keys)
        found: dict[str, Story] = {}
        for chunk, marks in _in_chunks(wanted):
            rows = list(self.db.query(f"select * from stories where key in ({marks})", chunk))
            found.update((story.key, story) for story in self._stories(rows))
        return [found[key] for key in wanted if key in found]

    def iter_stories(self, keys: Iterable[str], batch: int = 200) -> Iterator[Story]:
        """The stories with these keys, in the order given, read `batch` at a time:
        publishing every seed's page must not hold every body in memory."""
        wanted = list(keys)
        for start in range(0, len(wanted), batch):
            yield from self.stories_by_keys(wanted[start : start + batch])

    def live_seeds(self) -> list[tuple[str, str, str]]:
        """(key, origin_id, section) of every live seed story of record, each of which
        gets its own article page."""
        # "+duplicate_of": read from idx_live_seeds, not the duplicate_of index
        # (which holds every story of record), and sorted here.
        return sorted(
            self.db.conn.execute(
                "select key, origin_id, section from stories where kind = 'seed' "
                "and +duplicate_of is null and withdrawn = 0"
            )
        )

    def story_stamps(self, keys: Iterable[str]) -> dict[str, str]:
        """A short text per story that changes whenever something a page renders of it
        does (content hash, dates, section, topics, the other sources that carried it,
        withdrawal; a pruned story's snapshot), read without reading any body.

        It lets publishing skip a page whose stories are as they were when it was
        last rendered instead of loading and rendering them all on every pass.
        Unknown keys (with no row nor snapshot) are left out.
        """
        wanted = list(keys)
        stamps: dict[str, str] = {}
        for chunk, marks in _in_chunks(wanted):
            for row in self.db.conn.execute(
                f"select {_STAMP_COLUMNS} from stories s where s.key in ({marks})", chunk
            ):
                stamps[row[0]] = _stamp(row[1:])
            missing = [key for key in chunk if key not in stamps]
            if missing:
                marks = ",".join("?" * len(missing))
                # A snapshot never changes once taken, but a story can be pruned,
                # come back and be pruned again: the digest its snapshot carries
                # (see _story_json) tells the two apart, where the length did not (an
                # edit of the same length). Older snapshots have only their length.
                for row in self.db.query(
                    "select story_key, coalesce(json_extract(story, '$.stamp'), "
                    f"length(story)) as stamp from archive_snapshots where story_key in ({marks})",
                    missing,
                ):
                    stamps[row["story_key"]] = f"snapshot {row['stamp']}"
        return stamps

    def render_stamps(self) -> dict[str, tuple[str, str | None]]:
        """relpath -> (stamp, fingerprint) of every page rendered with a stamp."""
        return {
            relpath: (stamp, fingerprint)
            for relpath, stamp, fingerprint in self.db.conn.execute(
                "select relpath, stamp, fingerprint from render_stamps"
            )
        }

    def put_render_stamps(self, stamps: Mapping[str, tuple[str, str | None]]) -> None:
        self.db.conn.executemany(
            "insert or replace into render_stamps (relpath, stamp, fingerprint) values (?, ?, ?)",
            [(relpath, stamp, fingerprint) for relpath, (stamp, fingerprint) in stamps.items()],
        )

    def forget_render_stamps(self, relpaths: Iterable[str]) -> None:
        self.db.conn.executemany(
            "delete from render_stamps where relpath = ?", [(relpath,) for relpath in relpaths]
        )

    def entry_fragments(self, keys: Iterable[str]) -> dict[str, StoredFragment]:
        """The stored rendered entries of these stories (see `put_entry_fragments`);
        stories with none are left out."""
        found: dict[str, StoredFragment] = {}
        for chunk, marks in _in_chunks(list(keys)):
            for key, stamp, published, updated, entry, json_item in self.db.conn.execute(
                "select story_key, stamp, published, updated, entry, json_item "
                f"from entry_fragments where story_key in ({marks})",
                chunk,
            ):
                found[key] = StoredFragment(
                    stamp, from_text(published), from_text(updated), entry, json_item
                )
        return found

    def put_entry_fragments(self, fragments: Mapping[str, StoredFragment]) -> None:
        """Keep each story's rendered entry under the stamp it was rendered from,
        replacing the one it had."""
        self.db.conn.executemany(
            "insert or replace into entry_fragments "
            "(story_key, stamp, published, updated, entry, json_item) values (?, ?, ?, ?, ?, ?)",
            [
                (key, f.stamp, to_text(f.published), to_text(f.updated), f.entry, f.json_item)
                for key, f in fragments.items()
            ],
        )

    def _stories(self, rows: list[dict[str, Any]]) -> list[Story]:
        if not rows:
            return []
        keys = [row["key"] for row in rows]
        marks = ",".join("?" * len(keys))
        topics: dict[str, list[str]] = {}
        for row in self.db.query(
            f"select story_key, topic from story_topics where story_key in ({marks}) "
            "order by topic",
            keys,
        ):
            topics.setdefault(row["story_key"], []).append(row["topic"])
        carriers: dict[str, list[SourceLink]] = {}
        for row in self.db.query(
            f"select duplicate_of, source_name, link from stories where duplicate_of in ({marks}) "
            "and withdrawn = 0 order by first_seen, key",
            keys,
        ):
            carriers.setdefault(row["duplicate_of"], []).append(
                SourceLink(row["source_name"], row["link"] or "")
            )
        return [
            Story(
                key=row["key"],
                atom_id=row["atom_id"],
                kind=row["kind"],
                source_name=row["source_name"],
                origin_id=row["origin_id"],
                headline=row["headline"],
                byline=row["byline"] or "",
                section=row["section"],
                body_html=row["body_html"] or "",
                summary_html=row["summary_html"] or "",
                link=row["link"] or "",
                published=from_text(row["published"]),
                updated=from_text(row["updated"]),
                topics=tuple(topics.get(row["key"], ())),
                also_carried_by=tuple(carriers.get(row["key"], ())),
            )
            for row in rows
        ]

    def count_stories(self) -> dict[str, int]:
        row = next(
            self.db.query(
                "select count(*) as total, "
                "sum(duplicate_of is null and withdrawn = 0) as published, "
                "sum(duplicate_of is not null) as duplicates, "
                "sum(withdrawn) as withdrawn from stories"
            )
        )
        return {k: int(v or 0) for k, v in row.items()}

    # -- seed files ---------------------------------------------------------

    def seed_file_states(self) -> dict[str, SeedFileState]:
        return {
            row[0]: SeedFileState(*row)
            for row in self.db.conn.execute(
                "select name, seed_id, size, mtime_ns, sha256, status, reason, line from seed_files"
            )
        }

    def put_seed_file(self, state: SeedFileState, checked: datetime) -> None:
        self.db.execute(
            _PUT_SEED_FILE,
            [state.name, state.seed_id, state.size, state.mtime_ns, state.sha256, state.status,
             state.reason, state.line, to_text(checked)],
        )  # fmt: skip

    def forget_seed_files_except(self, names: set[str]) -> None:
        known = [name for (name,) in self.db.conn.execute("select name from seed_files")]
        self.db.conn.executemany(
            "delete from seed_files where name = ?", [(n,) for n in known if n not in names]
        )

    def rejected_seeds(self) -> list[SeedFileState]:
        """Seed files rejected on their last reading, by file name."""
        states = self.seed_file_states().values()
        return sorted((s for s in states if s.status == "rejected"), key=lambda s: s.name)

    # -- sources ------------------------------------------------------------

    def source_state(self, url: str) -> SourceState | None:
        rows = self._rows("select * from sources where url = ?", [url])
        return _source_state(rows[0]) if rows else None

    def source_states(self) -> list[SourceState]:
        return [_source_state(row) for row in self.db.query("select * from sources order by name")]

    def put_source_state(self, state: SourceState) -> None:
        self.put_source_states([state])

    def put_source_states(self, states: Iterable[SourceState]) -> None:
        self.db.conn.executemany(
            _PUT_SOURCE,
            [
                [state.url, state.name, state.current_url, state.etag, state.last_modified,
                 _opt(state.last_fetch), _opt(state.last_success), state.last_error,
                 state.failures, _opt(state.next_due), int(state.gone), state.body_sha256]
                for state in states
            ],
        )  # fmt: skip


def _upsert_sql(table: str, columns: Sequence[str], key: str, keep: Sequence[str] = ()) -> str:
    """One prepared INSERT ... ON CONFLICT DO UPDATE, setting every column but `keep`.

    sqlite-utils' upsert() introspects the table and wraps each row in
    savepoints: about 29 statements a row, 12x the time of this one
    (sqlite-utils still creates and migrates the schema).
    """
    marks = ", ".join("?" * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key and c not in keep)
    return (
        f"insert into {table} ({', '.join(columns)}) values ({marks}) "
        f"on conflict({key}) do update set {sets}"
    )


_STORY_COLUMNS = (
    "key", "kind", "source", "source_name", "origin_id", "atom_id", "headline", "headline_key",
    "byline", "section", "section_given", "categories", "body_html", "summary_html", "link",
    "content_hash", "published", "updated", "first_seen", "last_seen", "duplicate_of",
    "withdrawn",
)  # fmt: skip
_PUT_ENTRY = _upsert_sql("stories", _STORY_COLUMNS, "key", keep=("first_seen",))
_SEED_FILE_COLUMNS = (
    "name", "seed_id", "size", "mtime_ns", "sha256", "status", "reason", "line", "checked",
)  # fmt: skip
_PUT_SEED_FILE = _upsert_sql("seed_files", _SEED_FILE_COLUMNS, "name")
_SOURCE_COLUMNS = (
    "url", "name", "current_url", "etag", "last_modified", "last_fetch", "last_success",
    "last_error", "failures", "next_due", "gone", "body_sha256",
)  # fmt: skip
_PUT_SOURCE = _upsert_sql("sources", _SOURCE_COLUMNS, "url")


def _story_json(story: Story) -> str:
    """A pruned story's snapshot, with a digest of itself under "stamp" (see story_stamps)."""
    fields: dict[str, object] = {
        "key": story.key, "atom_id": story.atom_id, "kind": story.kind,
        "source_name": story.source_name, "origin_id": story.origin_id,
        "headline": story.headline, "byline": story.byline, "section": story.section,
        "body_html": story.body_html, "summary_html": story.summary_html,
        "link": story.link, "published": to_text(story.published),
        "updated": to_text(story.updated), "topics": list(story.topics),
        "also_carried_by": [[c.name, c.link] for c in story.also_carried_by],
    }  # fmt: skip
    text = json.dumps(fields, ensure_ascii=False)
    fields["stamp"] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return json.dumps(fields, ensure_ascii=False)


def _story_from_json(text: str) -> Story:
    fields = json.loads(text)
    fields.pop("stamp", None)
    fields["published"] = from_text(fields["published"])
    fields["updated"] = from_text(fields["updated"])
    fields["topics"] = tuple(fields["topics"])
    fields["also_carried_by"] = tuple(SourceLink(n, link) for n, link in fields["also_carried_by"])
    return Story(**fields)


# What a page renders of a story, without its body: the content hash stands for
# the body and summary. Topics and live carriers in the order _stories reads them.
_STAMP_COLUMNS = (
    "s.key, s.atom_id, s.content_hash, s.headline, s.byline, s.section, s.link, "
    "s.source_name, s.published, s.updated, s.withdrawn, "
    "(select group_concat(topic, char(31)) from (select topic from story_topics "
    " where story_key = s.key order by topic)) as topics, "
    "(select group_concat(source_name || char(30) || coalesce(link, ''), char(31)) from "
    " (select source_name, link from stories c where c.duplicate_of = s.key "
    "  and c.withdrawn = 0 order by first_seen, key)) as carriers"
)


# What fills publish_pending: table -> trigger name -> (event, keys it marks). A
# story's last_seen (a re-fetch saw it) and headline_key (the dedup index) are
# never published, so updating only them does not count. A copy's story of
# record (its duplicate_of) is marked with it: its carriers are published with it.
# Frozen pages, heirs and slugs change which stories a feed's pages hold: '*'.
_STORY_COLUMNS_PUBLISHED = (
    "kind, source, source_name, origin_id, atom_id, headline, byline, section, section_given, "
    "categories, body_html, summary_html, link, content_hash, published, updated, first_seen, "
    "duplicate_of, withdrawn"
)
_PENDING_TRIGGERS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "stories": {
        "i": ("insert", ("new.key", "new.duplicate_of")),
        "d": ("delete", ("old.key", "old.duplicate_of")),
        "u": (f"update of {_STORY_COLUMNS_PUBLISHED}",
              ("new.key", "old.key", "new.duplicate_of", "old.duplicate_of")),
    },
    **{
        table: {
            "i": ("insert", ("new.story_key",)),
            "d": ("delete", ("old.story_key",)),
            "u": ("update", ("new.story_key", "old.story_key")),
        }
        for table in ("story_topics", "archive_snapshots")
    },
    **{
        table: {"i": ("insert", ("'*'",)), "d": ("delete", ("'*'",)), "u": ("update", ("'*'",))}
        for table in ("archive_pages", "archive_heirs", "feed_slugs")
    },
}  # fmt: skip
# The triggers that set a meta flag before publish_pending: dropped on opening.
_OLD_CONTENT_TRIGGERS = {
    "stories": ("i", "d", "u"),
    **{
        table: ("i", "d", "u")
        for table in ("story_topics", "archive_pages", "archive_snapshots", "archive_heirs",
                      "feed_slugs")
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredFragment:
    """A story's rendered Atom entry as the store keeps it: the stamp it was rendered
    from, the dates a page is ordered and dated by, and the compressed entry (None:
    the story is left out of archive pages, a withdrawn seed); once a head feed
    showed the story, its compressed JSON Feed item too, rendered from the same."""

    stamp: str
    published: datetime
    updated: datetime
    entry: bytes | None
    json_item: bytes | None = None


def _stamp(fields: Sequence[Any]) -> str:
    """The stamp of a story from the _STAMP_COLUMNS after its key, in their order."""
    return hashlib.sha256(json.dumps(list(fields)).encode("utf-8")).hexdigest()[:32]


def _in_chunks(keys: list[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """`keys` in chunks under SQLite's variable limit, each with its `?,?,...` marks."""
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        yield chunk, ",".join("?" * len(chunk))


def _opt(when: datetime | None) -> str | None:
    return to_text(when) if when else None


def _opt_time(text: str | None) -> datetime | None:
    return from_text(text) if text else None


_ENTRY_COLUMNS = (
    "key, kind, headline_key, content_hash, duplicate_of, withdrawn, published, updated, "
    "headline, source, source_name, origin_id, last_seen, atom_id"
)


def _stored_entry(row: dict[str, Any]) -> StoredEntry:
    return StoredEntry(
        key=row["key"],
        kind=row["kind"],
        headline_key=row["headline_key"],
        content_hash=row["content_hash"],
        duplicate_of=row["duplicate_of"],
        withdrawn=bool(row["withdrawn"]),
        published=from_text(row["published"]),
        updated=from_text(row["updated"]),
        headline=row["headline"] or "",
        source=row["source"] or "",
        source_name=row["source_name"] or "",
        origin_id=row["origin_id"] or "",
        last_seen=_opt_time(row["last_seen"]),
        atom_id=row["atom_id"] or "",
    )


def _source_state(row: dict[str, Any]) -> SourceState:
    return SourceState(
        url=row["url"],
        name=row["name"],
        current_url=row["current_url"] or row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_fetch=_opt_time(row["last_fetch"]),
        last_success=_opt_time(row["last_success"]),
        last_error=row["last_error"],
        failures=int(row["failures"] or 0),
        next_due=_opt_time(row["next_due"]),
        gone=bool(row["gone"]),
        body_sha256=row["body_sha256"],
    )
