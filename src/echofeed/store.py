"""The database: the only module that speaks SQL (through sqlite-utils).

Tables:
- stories: every entry ever ingested, seeds and external. A story of record
  has duplicate_of NULL; a later copy of the same story points at its record.
  Withdrawn seeds (file deleted) keep their row with withdrawn = 1.
- story_topics: which topics each story is filed under.
- sources: per external source, HTTP validators and failure state.
- seed_files: what was last seen of each seed file (size, mtime, hash, verdict).
- meta: schema version and the fingerprint of the sorting rules.

SQLite runs in WAL mode; callers group the writes of one source in one
transaction (`Store.transaction()`), so a crash leaves each source either
wholly stored or not at all.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import StoreError
from .model import Entry, SourceLink, Story

SCHEMA_VERSION = 1


def to_text(when: datetime) -> str:
    """Timestamps are stored as fixed-width UTC text, so they sort as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_text(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


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


def _disk_full_note(path: Path) -> str:
    """SQLite reports a full disk as a vague "disk I/O error" when it cannot grow -shm."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    return "; the disk holding it is full" if free < 1024 * 1024 else ""


class Store:
    """An open echofeed database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(connection)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            reason = f"cannot open the database: {e}{_disk_full_note(self.path)}"
            raise StoreError(self.path, reason) from e
        except OSError as e:
            raise StoreError(self.path, f"cannot open the database: {e}") from e

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        conn = self.db.conn
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
            except BaseException:
                conn.rollback()  # also after a failed COMMIT, which leaves it open
                raise
        except sqlite3.DatabaseError as e:
            reason = f"write failed, nothing of it was kept: {e}{_disk_full_note(self.path)}"
            raise StoreError(self.path, reason) from e

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
            for table, columns in (
                ("stories", ["headline_key"]),
                ("stories", ["duplicate_of", "withdrawn", "published"]),
                ("stories", ["section"]),
                ("stories", ["source"]),
                ("story_topics", ["topic"]),
            ):
                db[table].create_index(columns, if_not_exists=True)
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")

    # -- meta ---------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return rows[0]["value"] if rows else None

    def get_meta(self, key: str) -> str | None:
        return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    def integrity_check(self) -> str:
        return next(self.db.query("PRAGMA integrity_check"))["integrity_check"]

    # -- stories ------------------------------------------------------------

    def get_entry(self, key: str) -> StoredEntry | None:
        rows = list(
            self.db.query(
                "select key, kind, headline_key, content_hash, duplicate_of, withdrawn, "
                "published, updated from stories where key = ?",
                [key],
            )
        )
        return _stored_entry(rows[0]) if rows else None

    def find_record(self, headline_key: str, *, exclude_key: str) -> StoredEntry | None:
        """The live story of record with this headline key, if any (oldest first)."""
        rows = self.db.query(
            "select key, kind, headline_key, content_hash, duplicate_of, withdrawn, "
            "published, updated from stories where headline_key = ? and key != ? "
            "and duplicate_of is null and withdrawn = 0 order by first_seen, key limit 1",
            [headline_key, exclude_key],
        )
        row = next(iter(rows), None)
        return _stored_entry(row) if row else None

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
    ) -> None:
        """Insert or replace an entry's row (first_seen is kept on replace)."""
        key = entry.key
        existing = list(self.db.query("select first_seen from stories where key = ?", [key]))
        first_seen = existing[0]["first_seen"] if existing else to_text(seen)
        self.db["stories"].upsert(
            {
                "key": key, "kind": entry.kind, "source": entry.source,
                "source_name": entry.source_name, "origin_id": entry.origin_id,
                "atom_id": atom_id, "headline": entry.headline, "headline_key": headline_key,
                "byline": entry.byline, "section": section, "section_given": entry.section,
                "categories": json.dumps(list(entry.categories)),
                "body_html": entry.body_html, "summary_html": entry.summary_html,
                "link": entry.link, "content_hash": entry.content_hash,
                "published": to_text(published), "updated": to_text(updated),
                "first_seen": first_seen, "last_seen": to_text(seen),
                "duplicate_of": duplicate_of, "withdrawn": 0,
            },
            pk="key",
        )  # fmt: skip
        self.set_topics(key, topics)

    def atom_id_of(self, key: str) -> str | None:
        rows = list(self.db.query("select atom_id from stories where key = ?", [key]))
        return rows[0]["atom_id"] if rows else None

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

    def set_topics(self, key: str, topics: Iterable[str]) -> None:
        self.db.execute("delete from story_topics where story_key = ?", [key])
        rows = [{"story_key": key, "topic": t} for t in dict.fromkeys(topics)]
        if rows:
            self.db["story_topics"].insert_all(rows, pk=("story_key", "topic"))

    def withdraw_seeds_except(self, present_ids: set[str], when: datetime) -> list[str]:
        """Withdraw every seed story whose file is gone; return their keys."""
        live = self.db.query(
            "select key, origin_id from stories where kind = 'seed' and withdrawn = 0"
        )
        gone = [row["key"] for row in live if row["origin_id"] not in present_ids]
        for key in gone:
            self.db.execute(
                "update stories set withdrawn = 1, updated = ? where key = ?", [to_text(when), key]
            )
        return gone

    def iter_sortable(self) -> Iterator[dict[str, Any]]:
        """Every story's sorting inputs, for a re-sort after the rules change."""
        yield from self.db.query(
            "select key, headline, body_html, categories, section, section_given from stories"
        )

    def set_section(self, key: str, section: str) -> None:
        self.db.execute("update stories set section = ? where key = ?", [section, key])

    # -- publishing reads ---------------------------------------------------

    def sections(self) -> list[str]:
        """Every section any story was ever filed in (feeds never vanish under readers)."""
        return [row["section"] for row in self.db.query("select distinct section from stories")]

    def feed_stories(
        self, *, section: str | None = None, topic: str | None = None, limit: int = 50
    ) -> list[Story]:
        """The newest live stories of record, newest first (at most `limit`)."""
        where = ["s.duplicate_of is null", "s.withdrawn = 0"]
        params: list[Any] = []
        join = ""
        if section is not None:
            where.append("s.section = ?")
            params.append(section)
        if topic is not None:
            join = "join story_topics t on t.story_key = s.key"
            where.append("t.topic = ?")
            params.append(topic)
        params.append(limit)
        rows = list(
            self.db.query(
                f"select s.* from stories s {join} where {' and '.join(where)} "
                "order by s.published desc, s.key desc limit ?",
                params,
            )
        )
        return self._stories(rows)

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
            row["name"]: SeedFileState(
                row["name"],
                row["seed_id"],
                row["size"],
                row["mtime_ns"],
                row["sha256"],
                row["status"],
                row["reason"],
                row["line"],
            )  # fmt: skip
            for row in self.db.query("select * from seed_files")
        }

    def put_seed_file(self, state: SeedFileState, checked: datetime) -> None:
        self.db["seed_files"].upsert(
            {
                "name": state.name, "seed_id": state.seed_id, "size": state.size,
                "mtime_ns": state.mtime_ns, "sha256": state.sha256, "status": state.status,
                "reason": state.reason, "line": state.line, "checked": to_text(checked),
            },
            pk="name",
        )  # fmt: skip

    def forget_seed_files_except(self, names: set[str]) -> None:
        for row in list(self.db.query("select name from seed_files")):
            if row["name"] not in names:
                self.db.execute("delete from seed_files where name = ?", [row["name"]])

    def rejected_seeds(self) -> list[SeedFileState]:
        return [s for s in self.seed_file_states().values() if s.status == "rejected"]

    # -- sources ------------------------------------------------------------

    def source_state(self, url: str) -> SourceState | None:
        rows = list(self.db.query("select * from sources where url = ?", [url]))
        return _source_state(rows[0]) if rows else None

    def source_states(self) -> list[SourceState]:
        return [_source_state(row) for row in self.db.query("select * from sources order by name")]

    def put_source_state(self, state: SourceState) -> None:
        self.db["sources"].upsert(
            {
                "url": state.url, "name": state.name, "current_url": state.current_url,
                "etag": state.etag, "last_modified": state.last_modified,
                "last_fetch": _opt(state.last_fetch), "last_success": _opt(state.last_success),
                "last_error": state.last_error, "failures": state.failures,
                "next_due": _opt(state.next_due), "gone": int(state.gone),
                "body_sha256": state.body_sha256,
            },
            pk="url",
        )  # fmt: skip


def _opt(when: datetime | None) -> str | None:
    return to_text(when) if when else None


def _opt_time(text: str | None) -> datetime | None:
    return from_text(text) if text else None


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
