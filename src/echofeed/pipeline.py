"""One refresh pass: sources -> normalize -> dedup/topics -> store -> publish.

`refresh()` is what `echofeed refresh` runs once and `echofeed daemon` runs on
a schedule. Each seed file and each source ends as a result or an error in
the report; one failure never stops the others, and the feeds are published
from everything stored, so a failed source's earlier entries stay published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import __version__, dedup
from .config import Config, SourceConfig
from .errors import EchofeedError, FetchError, ParseError, SeedError, SourceError
from .fetch import Fetcher, FetchResult, Validators
from .lock import writer_lock
from .model import Entry, Story
from .pages import render_article, render_index
from .parse import ParsedFeed, parse_feed
from .prepare import (
    ParseJob,
    Prepared,
    Preparing,
    lower_priority,
    parse_in_worker,
    prepare_entry,
    ready,
)
from .publish import (
    EPOCH,
    EntryFragment,
    FeedSpec,
    PublishResult,
    archive_fingerprint,
    archive_is_current,
    archive_stamp,
    article_fingerprint,
    article_relpath,
    article_relpath_of,
    entry_fragment,
    entry_id,
    feed_url,
    fragment_stamp,
    head_stamp,
    json_feed_item,
    left_out_warning,
    listing_digest,
    newest_first,
    output_listing,
    paginate,
    plan_feeds,
    remove_stale,
    render_fragments,
    render_json_feed,
    render_opml,
    splice_archive_file,
    write_if_changed,
)
from .seeds import SeedFile, parse_seed, stat_seed_files
from .store import MayExist, SeedFileState, SourceState, Store, StoredEntry, StoredFragment
from .topics import SlugBook, Sorter
from .websub import ping_hub

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
# feedparser is pure Python: in the fetch threads, parsing runs on one core at a
# time. A pass with at least this many sources due parses in worker processes,
# one per core; fewer would not pay for starting them (a few tenths of a second).
PARSE_PROCESSES_FROM = 8
# Starting them costs about 0.45 s: the first bodies of a pass are parsed in the
# fetch threads, so a pass where only one or two of many feeds changed (most
# answer 304) does not start them at all.
PARSE_IN_THREADS_FIRST = 2
PRUNE_EVERY = timedelta(hours=1)
# Each source is stored in a transaction of its own, and those of about this many
# seconds are committed together: a commit per source cost more than storing
# its 50 entries did (store.commit_every).
COMMIT_EVERY = 1.0
Outcome = str  # "new" | "updated" | "duplicate" | "unchanged"


@dataclass(slots=True)
class SourceResult:
    """How one external source ended this pass."""

    name: str
    url: str
    status: str  # "ok", "not modified", "unchanged", "failed", "outage", "skipped", "gone"
    counts: dict[str, int] = field(default_factory=dict)
    error: EchofeedError | None = None
    note: str = ""


@dataclass(slots=True)
class RefreshReport:
    seeds_read: int = 0
    seeds_unchanged: int = 0
    seeds_deferred: list[str] = field(default_factory=list)
    seed_errors: list[SeedError] = field(default_factory=list)
    withdrawn: int = 0
    sources: list[SourceResult] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "updated": 0, "duplicate": 0, "unchanged": 0}
    )
    published: PublishResult | None = None
    warnings: list[str] = field(default_factory=list)
    outage: str | None = None
    resorted: int = 0
    pruned: int = 0  # expired external stories deleted (retention_days)
    seconds: float = 0.0
    output_dir: Path | None = None

    @property
    def errors(self) -> list[EchofeedError]:
        return [*self.seed_errors, *(s.error for s in self.sources if s.error)]

    def count(self, outcome: Outcome, n: int = 1) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + n

    def summary(self) -> str:
        c = self.counts
        failed = sum(1 for s in self.sources if s.status in ("failed", "outage", "gone"))
        lines = [
            f"seeds: {self.seeds_read} read, {self.seeds_unchanged} unchanged, "
            f"{len(self.seed_errors)} rejected, {len(self.seeds_deferred)} still being written, "
            f"{self.withdrawn} withdrawn",
            f"sources: {len(self.sources)} ({len(self.sources) - failed} ok, {failed} failed)",
            f"entries: {c['new']} new, {c['updated']} updated, {c['duplicate']} duplicate, "
            f"{c['unchanged']} unchanged",
        ]
        if self.published is not None:
            p = self.published
            lines.append(
                f"feeds: {len(p.written)} written, {len(p.unchanged)} unchanged, "
                f"{len(p.removed)} removed, in {self.output_dir}"
            )
        problems = [str(e) for e in self.errors]
        if self.outage:
            problems.insert(0, self.outage)
        if problems:
            lines.append(f"problems ({len(problems)}):")
            lines += [f"  - {p}" for p in problems]
        if self.warnings:
            # Encoding fallbacks, malformed-but-readable feeds, moved sources, slug
            # collisions: nothing lost, but an editor should know.
            lines.append(f"warnings ({len(self.warnings)}):")
            lines += [f"  - {w}" for w in dict.fromkeys(self.warnings)]
        lines.append(f"done in {self.seconds:.2f}s")
        return "\n".join(lines)


ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


def refresh(
    config: Config,
    *,
    now: datetime | None = None,
    force: bool = False,
    only_due: bool = False,
    progress: ProgressCallback | None = None,
    lock_timeout: float = 30.0,
) -> RefreshReport:
    """Ingest every seed and due source once, prune expired stories, republish every feed.

    `force` fetches sources even while they back off after failures;
    `only_due` (the daemon) fetches only sources whose interval has passed.
    The whole pass holds the writer lock (see `lock`); waiting more than
    `lock_timeout` seconds for it raises LockError.
    """
    started = time.monotonic()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    report = RefreshReport(output_dir=config.output_dir)
    sorter = Sorter.from_config(config)
    with writer_lock(config.database, timeout=lock_timeout), Store(config.database) as store:
        report.resorted = resort_if_rules_changed(store, sorter, config)
        rekey_if_rules_changed(store, config)
        ingest_seeds(config, store, sorter, now, report)
        with store.commit_every(COMMIT_EVERY):
            ingest_sources(config, store, sorter, now, report, force=force, only_due=only_due,
                           progress=progress)  # fmt: skip
        report.pruned = prune_expired(store, config, now)
        report.published = publish_all(config, store, report)
    report.seconds = time.monotonic() - started
    log.info("%s", pass_line(report))
    return report


def prune_expired(store: Store, config: Config, now: datetime) -> int:
    """Apply retention_days, at most once per PRUNE_EVERY (it scans every stored story)."""
    last = store.get_meta("pruned_at")
    if last and timedelta(0) <= now - datetime.fromisoformat(last) < PRUNE_EVERY:
        return 0
    with store.transaction():
        pruned = store.prune_external(now - timedelta(days=config.retention_days))
        store.set_meta("pruned_at", now.isoformat())
    return pruned


def pass_line(report: RefreshReport) -> str:
    """The pass in one log line: what changed and how long it took."""
    c = report.counts
    fetched = [s for s in report.sources if s.status not in ("skipped", "gone")]
    failed = sum(1 for s in report.sources if s.status in ("failed", "gone"))
    feeds = len(report.published.written) if report.published else 0
    return (
        f"pass: {c['new']} new, {c['updated']} updated, {c['duplicate']} duplicate, "
        f"{report.withdrawn} withdrawn, {report.pruned} pruned; seeds {report.seeds_read} read, "
        f"{len(report.seed_errors)} rejected; sources {len(fetched)} fetched, {failed} failed; "
        f"{feeds} feeds written; {report.seconds:.2f}s"
    )


# -- normalize, dedup, store -------------------------------------------------


def atom_id_for(entry: Entry, config: Config) -> str:
    """A stable IRI for a new story; kept forever once stored."""
    if entry.kind == "seed":
        return f"{config.base_url}article/{entry.origin_id}.html"
    parts = urlsplit(entry.origin_id)
    if (
        parts.scheme
        and (parts.netloc or parts.scheme in ("urn", "tag"))
        and " " not in entry.origin_id
    ):
        return entry.origin_id
    if entry.link:
        return entry.link
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.source}#{entry.origin_id}").urn


def ingest_entry(
    store: Store,
    entry: Entry,
    sorter: Sorter,
    config: Config,
    now: datetime,
    prepared: Prepared | None = None,
    may_exist: MayExist | None = None,
) -> Outcome:
    """Store one entry, deciding whether it is a new story, an update or a copy.

    Merge policy: the first version seen is the story of record, except that
    the newsroom's own seed takes over from an external record. A copy keeps
    its place: an external entry whose title changes at its source (same id,
    or same link under a new id) is an update of the story it was filed
    with, never a new one; only a seed whose headline is edited is decided
    again. So the record never flips between copies from one pass to the next.

    `prepared` is prepare_entry(entry, ...), when it was made beforehand;
    `may_exist` says what of the entry's batch may be stored (see MayExist): what
    certainly is not is not looked up.
    """
    key = prepared.key if prepared else entry.key
    existing = store.get_entry(key) if may_exist is None or key in may_exist.keys else None
    if (
        existing is None
        and entry.kind == "feed"
        and (may_exist is None or entry.link in may_exist.links)
        and urlsplit(entry.link).path.strip("/")
    ):
        earlier = store.find_by_link(entry.source, entry.link, exclude_key=key)
        # An entry seen in this very pass with the same link is another entry
        # (live blogs share a link); an older one is this entry under a new id.
        if earlier is not None and earlier.last_seen != now:
            entry = replace(entry, origin_id=earlier.origin_id)
            key, existing = entry.key, earlier
    content_hash = prepared.content_hash if prepared else entry.content_hash
    if existing and not existing.withdrawn and existing.content_hash == content_hash:
        store.touch(key, now)
        return "unchanged"
    if prepared is None:
        prepared = prepare_entry(entry, Preparing(_publishers(config, entry.source_name), sorter))
    norm = prepared.norm
    section = sorter.section_of(entry.section, entry.categories)
    topics = prepared.topics
    record_key: str | None = None
    takes_over: str | None = None
    if existing and (existing.headline_key == norm.key or entry.kind == "feed"):
        record_key = existing.duplicate_of  # an update: it stays where it was filed
    elif may_exist is None or not may_exist.signatures.isdisjoint(prepared.probes):
        record = find_story_of_record(store, norm, key, config, probes=prepared.probes)
        if record is not None:
            if entry.kind == "seed" and record.kind == "feed":
                takes_over = record.key  # the newsroom's own copy is the story of record
            else:
                record_key = record.key
    if existing:
        published, updated = existing.published, now
        outcome = "updated"
    else:
        published = entry.published or now
        updated = published
        outcome = "duplicate" if record_key else "new"
    atom_id = (existing.atom_id if existing else "") or atom_id_for(entry, config)
    if (
        not existing
        and (may_exist is None or atom_id in may_exist.atom_ids)
        and store.atom_id_taken(atom_id, exclude_key=key)
    ):
        # Another entry already has this id (entries sharing one link): readers
        # would take them for one entry, so this one gets its own.
        atom_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.source}#{entry.origin_id}").urn
    store.put_entry(
        entry,
        atom_id=atom_id,
        headline_key=norm.key,
        section=section,
        published=published,
        updated=updated,
        seen=now,
        duplicate_of=record_key,
        topics=topics,
        signatures=prepared.signatures,
        content_hash=content_hash,
        new=existing is None,
    )
    if may_exist is not None:
        may_exist.wrote(key, entry.link, atom_id, prepared.signatures)
    seed_record_retitled = (
        entry.kind == "seed" and existing and existing.duplicate_of is None
        and existing.headline_key != norm.key
    )  # fmt: skip
    if seed_record_retitled:
        _refile_copies(store, key, norm, config)  # its copies may no longer match it
    if existing and existing.duplicate_of is None and record_key:
        store.make_duplicate(key, record_key)  # its own copies follow it
    if takes_over:
        store.make_duplicate(takes_over, key)
    if record_key and (not existing or existing.duplicate_of != record_key):
        store.set_updated(record_key, now)  # the record now lists one more source
    return outcome


def _publishers(config: Config, *names: str) -> tuple[str, ...]:
    """Names that, put before or after a headline, are a source's name, not news."""
    return tuple(dict.fromkeys([config.title, *(s.name for s in config.sources), *names]))


def find_story_of_record(
    store: Store,
    norm: dedup.Normalized,
    exclude_key: str,
    config: Config,
    *,
    probes: tuple[str, ...] | None = None,
) -> StoredEntry | None:
    """The oldest live story of record that `norm` is the same story as, if any.

    `probes` is dedup.probe_signatures(norm), when the caller has it already.
    """
    if probes is None:
        probes = dedup.probe_signatures(norm)
    for candidate in store.find_record(probes, exclude_key=exclude_key):
        other = dedup.normalize(candidate.headline, _publishers(config, candidate.source_name))
        if dedup.decide(norm, other).same:
            return candidate
    return None


def _refile_copies(store: Store, record_key: str, norm: dedup.Normalized, config: Config) -> None:
    """After a record's headline changed, copies that no longer match it are filed again."""
    for copy in store.copies_of(record_key):
        copy_norm = dedup.normalize(copy.headline, _publishers(config, copy.source_name))
        if dedup.decide(norm, copy_norm).same:
            continue
        other = find_story_of_record(store, copy_norm, copy.key, config)
        store.set_duplicate_of(copy.key, other.key if other and other.key != record_key else None)


def rekey_if_rules_changed(store: Store, config: Config) -> int:
    """Recompute headline keys and signatures when the dedup rules or source names changed.

    Only the index is rebuilt: no story changes its record, so nothing flips.
    """
    fingerprint = hashlib.sha256(
        json.dumps([dedup.RULES_VERSION, _publishers(config)]).encode()
    ).hexdigest()
    if store.get_meta("dedup_rules") == fingerprint:
        return 0
    count = 0
    with store.transaction():
        for key, headline, source_name in list(store.iter_headlines()):
            norm = dedup.normalize(headline, _publishers(config, source_name))
            store.set_signatures(key, dedup.signatures(norm), norm.key)
            count += 1
        store.set_meta("dedup_rules", fingerprint)
    return count


def resort_if_rules_changed(store: Store, sorter: Sorter, config: Config) -> int:
    """Re-file stored stories when the section or topic rules changed; no refetch.

    First the sorter learns the display names stored sections already have,
    so a new spelling of a known section (`world` for `World`) joins it. Then,
    if the rules' fingerprint differs from the one stored, every stored story
    (oldest first, withdrawn ones too) gets its section and topics again from
    what is stored: its given section (for a source still configured, the
    source's current `section:`), categories, headline and body. Returns how
    many stories changed section or topics.
    """
    sorter.learn_sections(store.sections())
    if store.get_meta("sorting_rules") == sorter.fingerprint:
        return 0
    changed = 0
    with store.transaction():
        for row in list(store.iter_sortable()):
            categories = tuple(json.loads(row["categories"] or "[]"))
            stored_given = row["section_given"] or ""
            given = stored_given
            if row["kind"] == "feed" and row["source"] in sorter.configured_sources:
                given = sorter.source_sections.get(row["source"], "")
            section = sorter.section_of(given, categories)
            topics = sorter.topics_of(row["headline"], row["body_html"], section, categories)
            moved = section != row["section"]
            if moved or given != stored_given:
                # A source's section is kept as it is now, for when it leaves the config.
                store.set_section(row["key"], section, given)
            retopiced = set(topics) != set(json.loads(row["topics"] or "[]"))
            if retopiced:
                store.set_topics(row["key"], topics)
            changed += moved or retopiced
        store.set_meta("sorting_rules", sorter.fingerprint)
    return changed


# -- seeds -----------------------------------------------------------------


def ingest_seeds(
    config: Config, store: Store, sorter: Sorter, now: datetime, report: RefreshReport
) -> None:
    """Read new and changed seed files, store them, withdraw the deleted ones.

    A file whose size and mtime match what was last seen is not opened; one
    whose bytes hash the same is not parsed. A file is read only after it was
    quiet for `seed_quiet_seconds`, and dropped for this pass if it changed
    while being read. A rejected file is only read, never moved or touched.
    """
    try:
        files, skipped = stat_seed_files(config.seeds_dir)
    except OSError as e:
        # An unmounted share must not look like "every seed was deleted":
        # nothing is withdrawn when the folder cannot be listed.
        report.warnings.append(
            f"{config.seeds_dir}: cannot list the seeds folder ({e.strerror or e}); "
            "no seed read or withdrawn"
        )
        log.warning("%s", report.warnings[-1])
        return
    _log_skipped_once(config.seeds_dir, skipped)
    files, deferred = wait_until_quiet(files, config.seed_quiet_seconds)
    report.seeds_deferred = [str(f.path) for f in deferred]
    states = store.seed_file_states()
    present_ids = {f.seed_id for f in files} | {f.seed_id for f in deferred}
    seen_ids: dict[str, str] = {}
    with store.transaction():
        for seed_file in files:
            name = seed_file.name
            if seed_file.seed_id in seen_ids:
                error = SeedError(
                    seed_file.path, None,
                    f"same article id as {seen_ids[seed_file.seed_id]}; remove one of the two",
                )  # fmt: skip
                _reject_seed(store, seed_file, "", error, now, report, duplicate=True)
                continue
            seen_ids[seed_file.seed_id] = name
            state = states.get(name)
            if state and (state.size, state.mtime_ns) == (seed_file.size, seed_file.mtime_ns):
                _count_unchanged_seed(config, state, report)
                continue
            if seed_file.size > config.seed_max_bytes:
                # Known from the stat alone: a huge file is never read.
                error = SeedError(seed_file.path, None,
                                  f"{seed_file.size:,} bytes, over the limit of "
                                  f"{config.seed_max_bytes:,} (seed_max_bytes)")  # fmt: skip
                _reject_seed(store, seed_file, "", error, now, report)
                continue
            try:
                raw = _read_capped(seed_file.path, config.seed_max_bytes, seed_file)
            except FileNotFoundError:
                continue  # deleted since the listing: withdrawn on the next pass
            except OSError as e:
                _reject_seed(store, seed_file, "", SeedError(seed_file.path, None,
                             f"cannot be read: {e.strerror or e}"), now, report)  # fmt: skip
                continue
            if raw is None:
                report.seeds_deferred.append(str(seed_file.path))
                continue
            digest = hashlib.sha256(raw).hexdigest()
            if state and state.sha256 == digest:
                store.put_seed_file(replace(state, size=seed_file.size,
                                            mtime_ns=seed_file.mtime_ns), now)  # fmt: skip
                _count_unchanged_seed(config, state, report)
                continue
            try:
                parsed = parse_seed(seed_file.path, raw, max_bytes=config.seed_max_bytes)
            except SeedError as error:
                _reject_seed(store, seed_file, digest, error, now, report)
                continue
            for warning in parsed.warnings:
                log.warning("%s", warning)
            report.warnings.extend(parsed.warnings)
            report.seeds_read += 1
            report.count(ingest_entry(store, parsed.entry, sorter, config, now))
            store.put_seed_file(
                SeedFileState(name, seed_file.seed_id, seed_file.size, seed_file.mtime_ns,
                              digest, "published", None, None),
                now,
            )  # fmt: skip
        report.withdrawn = len(store.withdraw_seeds_except(present_ids, now))
        store.forget_seed_files_except({f.name for f in (*files, *deferred)})


# Names already reported as "not a seed", per folder: the daemon lists each
# once while it stays there, not on every pass.
_skipped_logged: dict[Path, set[str]] = {}


def _log_skipped_once(seeds_dir: Path, skipped: Sequence[str]) -> None:
    folder = seeds_dir.resolve()
    logged = _skipped_logged.get(folder, set())
    new = [name for name in skipped if name not in logged]
    if new:
        log.debug("%s: not seed files, skipped: %s", seeds_dir, ", ".join(new))
    _skipped_logged[folder] = set(skipped)  # forget names gone: no unbounded growth


def _count_unchanged_seed(config: Config, state: SeedFileState, report: RefreshReport) -> None:
    report.seeds_unchanged += 1
    if state.status == "rejected":
        # Still broken: say so on every pass until an editor fixes it.
        report.seed_errors.append(
            SeedError(config.seeds_dir / state.name, state.line, state.reason or "")
        )


def _reject_seed(
    store: Store,
    seed_file: SeedFile,
    digest: str,
    error: SeedError,
    now: datetime,
    report: RefreshReport,
    *,
    duplicate: bool = False,
) -> None:
    live = None if duplicate else store.get_entry(f"seed:{seed_file.seed_id}")
    if live is not None and not live.withdrawn:
        error = SeedError(
            error.path, error.line, f"{error.reason} (the last good version stays published)"
        )
    report.seed_errors.append(error)
    store.put_seed_file(
        SeedFileState(seed_file.name, seed_file.seed_id, seed_file.size, seed_file.mtime_ns,
                      digest, "rejected", error.reason, error.line),
        now,
    )  # fmt: skip


def _read_capped(path: Path, max_bytes: int, seen: SeedFile | None = None) -> bytes | None:
    """The file's bytes, or None when it is no longer the file `seen` described.

    Reads one byte past the cap, so a file that grew past it is known to be
    too big without being loaded whole. The size and mtime are checked again
    after the read: a writer that resumed after the quiet period would
    otherwise get half a file published.
    """
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
        after = os.fstat(handle.fileno())
    if seen is not None and (len(raw), after.st_size, after.st_mtime_ns) != (
        seen.size, seen.size, seen.mtime_ns,
    ):  # fmt: skip
        return None
    return raw


def wait_until_quiet(
    files: Sequence[SeedFile], quiet_seconds: float
) -> tuple[tuple[SeedFile, ...], tuple[SeedFile, ...]]:
    """Hold back files modified in the last `quiet_seconds`: they may be half-copied.

    Young files are waited for once (at most `quiet_seconds`) and looked at again;
    one that changed meanwhile is deferred to the next pass.
    """
    if quiet_seconds <= 0:
        return tuple(files), ()
    wall_now = time.time_ns()
    quiet_ns = int(quiet_seconds * 1e9)
    young = [f for f in files if wall_now - f.mtime_ns < quiet_ns]
    if not young:
        return tuple(files), ()
    newest = max(f.mtime_ns for f in young)
    time.sleep(max(0.0, min(quiet_seconds, (newest + quiet_ns - wall_now) / 1e9)))
    young_names = {f.name for f in young}
    ready = [f for f in files if f.name not in young_names]
    deferred = []
    for seed_file in young:
        try:
            stat = seed_file.path.stat()
        except FileNotFoundError:
            continue
        if (stat.st_size, stat.st_mtime_ns) == (seed_file.size, seed_file.mtime_ns):
            ready.append(seed_file)
        else:
            deferred.append(seed_file)
    ready.sort(key=lambda f: f.name)
    return tuple(ready), tuple(deferred)


# -- external sources ----------------------------------------------------------


@dataclass(slots=True)
class _Fetched:
    source: SourceConfig
    state: SourceState
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    prepared: tuple[Prepared, ...] = ()
    error: SourceError | None = None
    body_sha256: str | None = None
    unchanged_body: bool = False


def _initial_state(source: SourceConfig) -> SourceState:
    return SourceState(source.url, source.name, source.url, None, None, None, None, None, 0,
                       None, False, None)  # fmt: skip


def ingest_sources(
    config: Config,
    store: Store,
    sorter: Sorter,
    now: datetime,
    report: RefreshReport,
    *,
    force: bool = False,
    only_due: bool = False,
    progress: ProgressCallback | None = None,
) -> None:
    due: list[_Fetched] = []
    for source in config.sources:
        state = store.source_state(source.url) or _initial_state(source)
        if state.gone and not force:
            report.sources.append(SourceResult(
                source.name, source.url, "gone",
                error=FetchError(source.name, f"{state.last_error or 'HTTP 410 Gone'}; "
                                 "remove it from the config, or refresh --force to try again"),
            ))  # fmt: skip
            continue
        backing_off = state.failures > 0 and state.next_due and state.next_due > now
        if (backing_off and not force) or (only_due and state.next_due and state.next_due > now):
            report.sources.append(SourceResult(
                source.name, source.url, "skipped",
                note=f"next try at {state.next_due:%Y-%m-%d %H:%M:%S}Z",
            ))  # fmt: skip
            continue
        due.append(_Fetched(source, state))
    if not due:
        return
    fetcher = Fetcher(config.fetch, contact_url=config.base_url)
    results: list[SourceResult | None] = [None] * len(due)
    workers = min(config.fetch.concurrency, len(due))
    # Each source is stored as soon as it and the ones before it in the config
    # are parsed, while the pool fetches the next: a story that two sources
    # carry in one pass is filed under the one listed first, whichever answered
    # first, as in any earlier version. At most `window` sources are fetched,
    # parsed or stored at a time, and each is dropped once stored, so memory
    # grows with the fetch concurrency, not with the number of sources. A source
    # slow to answer holds up the storing of the ones after it, and the fetch of
    # those more than `window` after it, by at most its fetch deadline.
    window = 2 * workers
    upcoming = iter(due)
    cores = os.cpu_count() or 1
    parsers = _Parsers(cores) if cores > 1 and len(due) >= PARSE_PROCESSES_FROM else None
    if parsers is not None and sum(item.state.body_sha256 is None for item in due) >= (
        PARSE_PROCESSES_FROM
    ):
        # That many sources never sent a body, so none can answer 304 or send the
        # same one again: the processes will be needed, and they start while the
        # first feeds download instead of once two bodies are in.
        parsers.start()
    sorter_copy = deepcopy(sorter)  # the fetch threads' own: see Preparing
    # The new states of the sources with nothing to store (a 304, or a body as it
    # was), written in one statement once the others are stored: a transaction
    # (and two savepoint statements) each was a tenth of a pass where all answer
    # 304. A crash before then loses only when they were last fetched.
    unchanged: list[SourceState] = []
    # Every source's name is among them already: one tuple for all (made per
    # source, it was 40,000 names walked in a pass of 200 sources).
    preparing = Preparing(_publishers(config), sorter_copy)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:

            def submit(item: _Fetched) -> Future[None]:
                return pool.submit(_fetch_and_parse, fetcher, item, now, preparing, parsers)

            pending = deque(submit(item) for item in islice(upcoming, window))
            for index, item in enumerate(due):
                pending.popleft().result()
                if item.error is None:
                    # A source that answered rules out an outage: store it now.
                    results[index] = _store_source(
                        store, sorter, config, item, now, report, False, unchanged
                    )
                    item.parsed, item.prepared = None, ()
                if (following := next(upcoming, None)) is not None:
                    pending.append(submit(following))
                if progress:
                    progress("sources", index + 1, len(due))
    finally:
        if parsers is not None:
            parsers.close()
    if unchanged:
        with store.transaction():
            store.put_source_states(unchanged)
    # Failures wait for the end: only when every source failed to connect is it
    # the network's fault (an outage), not the sources'.
    network_failures = [f for f in due if isinstance(f.error, FetchError) and f.error.network]
    outage = len(due) >= 2 and len(network_failures) == len(due)
    if outage:
        report.outage = (
            f"network outage: all {len(due)} sources failed to connect "
            f"(first: {network_failures[0].error}); not counted against the sources"
        )
    for index, item in enumerate(due):
        if results[index] is None:
            results[index] = _store_source(store, sorter, config, item, now, report, outage)
    report.sources.extend(result for result in results if result is not None)


class _Parsers:
    """Parses feed bodies in worker processes, one per core, started on first use.

    A worker that dies (a crash in a C library, the OOM killer) breaks the whole
    pool: it is replaced, and each source it was parsing is tried once more in a
    process of its own, so the one that killed it ends with a ParseError naming it
    and the others parse.

    multiprocessing and the process pool are imported on the first body sent to
    a process: a pass whose sources all answer 304 has no use for them.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._starter: threading.Thread | None = None
        self._lock = threading.Lock()
        self._bodies = 0

    def start(self) -> None:
        """Start the processes now, ahead of the first body, in a thread: starting
        one waits for the fork server's imports (about 0.1 s), and the caller has
        feeds to fetch meanwhile."""
        self._starter = threading.Thread(target=self._start, name="echofeed-parsers", daemon=True)
        self._starter.start()

    def _start(self) -> None:
        try:
            pool = self._current()
            for _ in range(self._workers):
                # With a fork server the pool starts a process per task submitted
                # while none is idle: one task each starts them all.
                pool.submit(ready)
        except Exception as e:  # noqa: BLE001 - closed meanwhile, or cannot start
            # A pool that cannot start fails again on each body sent to it, and
            # that error is reported against the body's source.
            log.debug("parser processes not started ahead: %r", e)

    def take(self) -> bool:
        """Whether the next body goes to the processes: not the first
        PARSE_IN_THREADS_FIRST of the pass, which the calling thread parses."""
        with self._lock:
            self._bodies += 1
            return self._bodies > PARSE_IN_THREADS_FIRST

    def parse(self, job: ParseJob) -> tuple[ParsedFeed, tuple[Prepared, ...]]:
        from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor

        pool = self._current()
        try:
            outcome = pool.submit(parse_in_worker, job).result()
        except BrokenProcessPool:
            self._discard(pool)
            # Every source the dead pool was parsing lands here. Each tries once more
            # in a process of its own, so only the feed that kills its parser fails:
            # a shared retry pool would die again with it and take the others along.
            alone = ProcessPoolExecutor(1, mp_context=self._context(), initializer=lower_priority)
            try:
                outcome = alone.submit(parse_in_worker, job).result()
            except BrokenProcessPool:
                raise ParseError(
                    job.source.name,
                    "the parser process died on this feed, twice (tried again next pass)",
                ) from None
            finally:
                alone.shutdown(wait=False, cancel_futures=True)
        if isinstance(outcome[0], ParsedFeed):
            return outcome
        kind, reason = outcome
        raise (SourceError if kind == "unexpected" else ParseError)(job.source.name, reason)

    @staticmethod
    def _context() -> multiprocessing.context.BaseContext:
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        # Not fork: this process runs threads. The fork server imports the main
        # script and echofeed.prepare (the parser, not the pipeline) once, and
        # forks each worker from itself with them imported: what they import is
        # a wait at the start of every pass that parses in processes (see the
        # CLI module's imports). As in any spawned process, the main script is
        # imported again: refresh() from a script needs `if __name__ == "__main__":`.
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload(["__main__", "echofeed.prepare"])
        return context

    def _current(self) -> ProcessPoolExecutor:
        from concurrent.futures.process import ProcessPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers, mp_context=self._context(), initializer=lower_priority
                )
            return self._pool

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._starter is not None:
            self._starter.join()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _fetch_and_parse(
    fetcher: Fetcher,
    item: _Fetched,
    now: datetime,
    preparing: Preparing,
    parsers: _Parsers | None = None,
) -> None:
    """Runs in a worker thread: network, parsing and preparing entries, no database."""
    try:
        validators = Validators(item.state.etag, item.state.last_modified)
        item.result = fetcher.fetch(item.source.name, item.state.current_url, validators)
        if item.result.not_modified:
            return
        body = item.result.body
        item.result = replace(item.result, body=b"")  # held until stored: keep it small
        item.body_sha256 = hashlib.sha256(body).hexdigest()
        if item.body_sha256 == item.state.body_sha256:
            item.unchanged_body = True  # the server ignores conditional GET: skip the parse
            return
        job = ParseJob(body, item.source, item.result.url, dict(item.result.headers), now,
                        fetcher.settings.max_entries, preparing)  # fmt: skip
        if parsers is not None and parsers.take():
            item.parsed, item.prepared = parsers.parse(job)
        else:
            # This module's parse_feed, looked up now: the one the bench times and
            # the tests count.
            item.parsed, item.prepared = job.run(parse_feed)
    except SourceError as e:
        item.error = e
    except Exception as e:  # noqa: BLE001 - a bug on one source must not end the pass
        log.exception("%s: unexpected error", item.source.name)
        item.error = SourceError(item.source.name, f"unexpected error: {e!r}")


def _store_source(
    store: Store,
    sorter: Sorter,
    config: Config,
    item: _Fetched,
    now: datetime,
    report: RefreshReport,
    outage: bool,
    unchanged: list[SourceState] | None = None,
) -> SourceResult:
    """Store what a source gave (or its failure) and its new state. With `unchanged`,
    a source that gave nothing to store has its new state appended there instead,
    for the caller to write with the others'."""
    source, state = item.source, item.state
    result = SourceResult(source.name, source.url, "ok")
    interval = timedelta(seconds=source.interval or config.refresh_interval)
    if item.error is None and item.parsed is None:
        assert item.result is not None
        result.status = "not modified" if item.result.not_modified else "unchanged"
        if unchanged is not None:
            unchanged.append(_answered_state(item, now, interval, report))
            return result
    with store.transaction():
        if item.error is not None:
            result.status, result.error = "failed", item.error
            if outage:
                # Reported once in report.outage; not an error of this source.
                result.status, result.error, result.note = "outage", None, str(item.error)
                store.put_source_state(replace(state, name=source.name, last_fetch=now,
                                               last_error=str(item.error)))  # fmt: skip
                return result
            failures = state.failures + 1
            backoff = min(
                BACKOFF_BASE * 2 ** min(failures - 1, 20),
                timedelta(seconds=config.fetch.backoff_max),
            )
            retry_after = getattr(item.error, "retry_after", None)
            if retry_after:
                backoff = max(backoff, timedelta(seconds=min(retry_after, 7 * 86400)))
            gone = getattr(item.error, "status", None) == 410
            if gone:
                result.status = "gone"
            store.put_source_state(replace(
                state, name=source.name, last_fetch=now, last_error=str(item.error),
                failures=failures, next_due=now + backoff, gone=gone,
            ))  # fmt: skip
            return result
        answered = _answered_state(item, now, interval, report)  # its warning first
        if item.parsed is not None:
            report.warnings.extend(item.parsed.warnings)
            entries = item.parsed.entries
            may_exist = store.may_exist(
                source.url,
                keys=[prepared.key for prepared in item.prepared],
                links=[entry.link for entry in entries],
                atom_ids=[atom_id_for(entry, config) for entry in entries],
                signatures=[probe for prepared in item.prepared for probe in prepared.probes],
            )
            for entry, prepared in zip(entries, item.prepared, strict=True):
                outcome = ingest_entry(store, entry, sorter, config, now, prepared, may_exist)
                report.count(outcome)
                result.counts[outcome] = result.counts.get(outcome, 0) + 1
        store.put_source_state(answered)
    return result


def _answered_state(
    item: _Fetched, now: datetime, interval: timedelta, report: RefreshReport
) -> SourceState:
    """The state of a source that answered: its validators, its new URL when every
    redirect was permanent (with a warning), no failure, due again after `interval`."""
    source, state, fetched = item.source, item.state, item.result
    assert fetched is not None
    if fetched.permanent_url:
        report.warnings.append(
            f"{source.name}: moved permanently to {fetched.permanent_url}; fetching it there "
            "from now on (update the url in the config)"
        )
    return replace(
        state,
        name=source.name,
        current_url=fetched.permanent_url or state.current_url,
        etag=fetched.validators.etag or (state.etag if fetched.not_modified else None),
        last_modified=fetched.validators.last_modified
        or (state.last_modified if fetched.not_modified else None),
        last_fetch=now, last_success=now, last_error=None, failures=0,
        next_due=now + interval, gone=False,
        body_sha256=item.body_sha256 or state.body_sha256,
    )  # fmt: skip


# -- publish -----------------------------------------------------------------


def plan_feeds_keeping_slugs(
    config: Config, store: Store
) -> tuple[list[FeedSpec], tuple[str, ...]]:
    """plan_feeds, with every section and topic keeping the file name it was first given."""
    slugs = store.feed_slugs()
    book = SlugBook(slugs)
    # A section whose stories were all pruned keeps its feed while it has
    # complete archive pages: they are not taken down with it.
    archived = store.archived_feeds()
    sections = [*store.sections(), *(
        name for (kind, _), (name, slug) in slugs.items()
        if kind == "section" and f"section/{slug}.atom" in archived
    )]  # fmt: skip
    specs, warnings = plan_feeds(config, sections, book)
    with store.transaction():
        store.add_feed_slugs(book.added)
    for warning in warnings:
        log.warning("%s", warning)  # said once: the pass that gives the name its file
    return specs, warnings


def _archive_record(known: dict[str, tuple[str, str | None]], relpath: str) -> tuple[str, str, str]:
    """(stamp, fingerprint, file's "size mtime") an archive page was last written
    with; empty strings for a page never recorded. Its fingerprint, then its file's
    size and mtime: a page edited by hand between its fingerprint comment and its
    closing tag is rendered again."""
    stamp, page = known.get(relpath, ("", None))
    fingerprint, _, file = (page or "").partition(" ")
    return stamp, fingerprint, file


def _articles_due(
    config: Config,
    store: Store,
    specs: Sequence[FeedSpec],
    known: dict[str, tuple[str, str | None]],
    current: list[str],
    on_disk: Callable[[str], str | None],
    changed: set[str] | None,
) -> dict[str, str]:
    """The seed article pages to render this pass, story key -> page fingerprint.

    Rendering all of them on every pass cost most of a pass that changed nothing;
    a page is due when its fingerprint is not the one it was last rendered with,
    or its file is not the one that was written. A story not `changed` since the
    last publish (None: any may have) has the fingerprint it had, so only its
    file is looked at. The others' relpaths are added to `current`.
    """
    candidates = []
    for key, origin_id, section in store.live_seeds():
        relpath = article_relpath_of(origin_id)
        was = known.get(relpath)
        if changed is not None and key not in changed and was and was[1] == on_disk(relpath):
            current.append(relpath)
        else:
            candidates.append((key, relpath, section))
    stamps = store.story_stamps(key for key, _, _ in candidates)
    due = {}
    for key, relpath, section in candidates:
        fingerprint = article_fingerprint(config, specs, section, stamps[key])
        if known.get(relpath) == (fingerprint, on_disk(relpath)):
            current.append(relpath)
        else:
            due[key] = fingerprint
    return due


def _publish_inputs(config: Config) -> str:
    """Names what a publish pass reads besides the stored content: the config and
    the echofeed version."""
    return hashlib.sha256(repr((__version__, config)).encode("utf-8")).hexdigest()


def _specs_digest(specs: Sequence[FeedSpec]) -> str:
    return hashlib.sha256(repr(tuple(specs)).encode("utf-8")).hexdigest()


def _last_publish(store: Store) -> dict[str, Any]:
    """What the last publish pass recorded (see the end of `publish_all`)."""
    try:
        last = json.loads(store.get_meta("published") or "null")
    except ValueError:
        return {}
    return last if isinstance(last, dict) else {}


def _unplaced_record(last: dict[str, Any]) -> dict[str, list[str]] | None:
    """Each feed's keys left off its frozen pages by the last publish (its open page
    and head), as that publish recorded them; None when it did not. Kept in the
    same record as the rest of what it published: a version that does not keep it,
    run on the same database in between, leaves none rather than a stale one."""
    record = last.get("unplaced")
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class _FrozenPages:
    """A feed's frozen archive pages: all of them read, or only counted, with the
    changed stories each one holds (its other keys read when it is rendered)."""

    store: Store
    feed: str
    count: int
    pages: list[list[str]] | None = None
    changed_on: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, store: Store, feed: str) -> _FrozenPages:
        pages = store.archive_pages(feed)
        return cls(store, feed, len(pages), pages)

    @classmethod
    def counted(cls, store: Store, feed: str, changed_on: dict[int, list[str]]) -> _FrozenPages:
        return cls(store, feed, store.archive_page_count(feed), None, changed_on)

    @property
    def holding(self) -> set[str]:
        """The changed stories on these pages (when only counted)."""
        return {key for keys in self.changed_on.values() for key in keys}

    def keys(self, number: int) -> list[str]:
        if self.pages is not None:
            return self.pages[number - 1]
        return self.store.archive_page(self.feed, number)

    def edited(self, number: int, changed: set[str]) -> list[str]:
        """The `changed` stories on page `number`."""
        if self.pages is not None:
            return [key for key in self.pages[number - 1] if key in changed]
        return self.changed_on.get(number, [])


def _unchanged_since_last_publish(
    config: Config, store: Store, last: dict[str, Any], listing: dict[str, tuple[int, int]]
) -> PublishResult | None:
    """What the last publish pass published, when nothing it read has changed since
    and every file it left is as it left it; None when this pass has to publish.

    A pass that fetched only 304s and found every seed as it was would otherwise
    read every feed's timeline and every story's stamp to learn that nothing is
    due: about half of such a pass at 10,000 seeds.
    """
    if store.content_changed() or last.get("inputs") != _publish_inputs(config):
        return None
    if last.get("output") != listing_digest(listing):
        return None
    feeds = tuple(last.get("feeds", ()))
    others = sorted(
        p for p in listing if p not in feeds and p.endswith((".atom", ".json", ".html"))
    )
    return PublishResult((), feeds, (), also_unchanged=tuple(others))


SPLICE_THREADS = min(4, os.cpu_count() or 1)


class _Splicer:
    """Splices archive pages (`splice_archive_file`) in threads, for a whole publish.

    Reading, hashing and writing a page's bytes, most of a splice, let go of the
    GIL: about 400 pages of 190 kB each in a pass that edited 1% of 10,000 seeds.
    One pool for every feed, started on the first feed with two pages to splice:
    a pool per feed spent what the threads gained where feeds have a few each."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> _Splicer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def splice(
        self,
        config: Config,
        spec: FeedSpec,
        renewals: Sequence[tuple[int, str, dict[bytes, EntryFragment]]],
    ) -> list[tuple[str, bool] | None]:
        """`splice_archive_file` for each (page number, recorded fingerprint, renewed
        entries), in that order."""
        if len(renewals) < 2 or SPLICE_THREADS < 2:
            return [splice_archive_file(config, spec, *renewal) for renewal in renewals]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SPLICE_THREADS, thread_name_prefix="echofeed-splice")
        return list(
            self._pool.map(lambda renewal: splice_archive_file(config, spec, *renewal), renewals)
        )


class _Entries:
    """Every story's rendered Atom entry, kept in the store between passes.

    A story sits in several feeds (all, its section, its topics), and one edited
    in place re-renders every archive page that holds it (fifty entries each):
    rendering each page from its stories cost a 1%-changed pass about a sixth of
    a full one at 10,000 seeds. Each entry is rendered once and read back while
    its story's stamp is the one it was rendered from, so an edit, a re-filing,
    a new base_url or a new version renders it again.
    """

    FLUSH_EVERY = 2000  # entries held before they go to the store: bounded memory

    def __init__(self, config: Config, store: Store, warnings: list[str]) -> None:
        self.config, self.store, self.warnings = config, store, warnings
        self.pending: dict[str, StoredFragment] = {}
        self._stamps: dict[str, str] = {}  # story stamp -> fragment stamp

    def page(
        self, spec: FeedSpec, keys: Sequence[str], story_stamps: dict[str, str]
    ) -> list[EntryFragment]:
        """The entries of an archive page of these stories, newest first; a withdrawn
        seed and a story lxml refuses to write (with a warning) are left out."""
        wanted, found = self._kept(keys, story_stamps)
        missing = [key for key in keys if key not in found]
        stories = self.store.archive_stories(missing) if missing else []
        for story in stories:
            found[story.key] = self._render(spec, story, wanted)
        returned = {story.key for story in stories}
        for key in missing:  # stamped but not given back: a withdrawn seed
            if key in wanted and key not in returned:
                self.pending[key] = StoredFragment(wanted[key], EPOCH, EPOCH, None)
        self._flush_when_full()
        return newest_first(f for f in found.values() if f is not None)

    def renewed(
        self, spec: FeedSpec, edited: Sequence[str], story_stamps: dict[str, str]
    ) -> dict[bytes, EntryFragment] | None:
        """The entries of the `edited` stories of an archive page, rendered again, by
        the escaped text of their <id>: what `splice_archive_file` puts in place of
        theirs. None (the caller makes the page from kept entries) when one is left
        out: withdrawn, or refused by lxml."""
        renewed = {entry_id(f): f for f in self.page(spec, edited, story_stamps)}
        if len(renewed) != len(edited) or None in renewed:
            return None
        return renewed  # type: ignore[return-value]  # no None key: checked above

    def head(
        self,
        spec: FeedSpec,
        keys: Sequence[str],
        story_stamps: dict[str, str],
        loaded: Sequence[Story] = (),
    ) -> tuple[list[EntryFragment], list[bytes]]:
        """A head feed's Atom entries (a story lxml refuses to write left out, with a
        warning) and JSON Feed items, newest first. Both are kept under the story's
        stamp, so the stories (but those `loaded` already) are read only for what is
        not kept: a head rendered again for one new story reads one body, not fifty,
        and serializing fifty items was most of the JSON twin's cost."""
        wanted, kept = self._current(keys, story_stamps)
        current = {key: stored for key, stored in kept.items() if stored.entry is not None}
        stories = {story.key: story for story in loaded}
        unread = [k for k in keys if (k not in current or current[k].json_item is None)]
        stories.update(
            (story.key, story)
            for story in self.store.stories_by_keys([k for k in unread if k not in stories])
        )
        shown: list[tuple[datetime, str, EntryFragment | None, bytes]] = []
        for key in keys:
            stored = current.get(key)
            story = stories.get(key)
            if stored is not None:
                assert stored.entry is not None  # see `current`
                fragment: EntryFragment | None = EntryFragment(
                    key, stored.published, stored.updated, zlib.decompress(stored.entry)
                )
            elif story is not None:
                fragment = self._render(spec, story, wanted)
            else:
                continue  # no longer stored: never so in a head read in this pass
            if stored is not None and stored.json_item is not None:
                item = zlib.decompress(stored.json_item)
            else:
                assert story is not None  # read above: its item is not kept
                item = json_feed_item(self.config.base_url, story)
                if fragment is not None and key in wanted:  # never kept for a refused story
                    entry = self.pending.get(key, stored)
                    assert entry is not None  # kept, or just rendered by _render
                    self.pending[key] = replace(entry, json_item=zlib.compress(item, 1))
            published = stored.published if stored is not None else story.published  # type: ignore[union-attr]
            shown.append((published, key, fragment, item))
        shown.sort(key=lambda shown_story: shown_story[:2], reverse=True)  # see newest_first
        self._flush_when_full()
        return [f for _, _, f, _ in shown if f is not None], [item for *_, item in shown]

    def _kept(
        self, keys: Sequence[str], story_stamps: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, EntryFragment | None]]:
        """(key -> stamp its entry must have been rendered from, key -> the entry kept
        under that stamp, None for a story left out of archive pages)."""
        wanted, kept = self._current(keys, story_stamps)
        found: dict[str, EntryFragment | None] = {}
        for key, stored in kept.items():
            found[key] = None
            if stored.entry is not None:
                xml = zlib.decompress(stored.entry)
                found[key] = EntryFragment(key, stored.published, stored.updated, xml)
        return wanted, found

    def _current(
        self, keys: Sequence[str], story_stamps: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, StoredFragment]]:
        """(key -> stamp its entry must have been rendered from, key -> what is kept,
        pending or stored, under that stamp)."""
        wanted = {k: self._fragment_stamp(story_stamps[k]) for k in keys if k in story_stamps}
        kept = {k: self.pending[k] for k in wanted if k in self.pending}
        kept.update(self.store.entry_fragments(k for k in wanted if k not in kept))
        return wanted, {k: stored for k, stored in kept.items() if stored.stamp == wanted[k]}

    def _fragment_stamp(self, story_stamp: str) -> str:
        # A story sits on a page of each of its feeds: its stamp is digested once.
        stamp = self._stamps.get(story_stamp)
        if stamp is None:
            stamp = self._stamps[story_stamp] = fragment_stamp(self.config.base_url, story_stamp)
        return stamp

    def _render(self, spec: FeedSpec, story: Story, wanted: dict[str, str]) -> EntryFragment | None:
        try:
            fragment = entry_fragment(self.config.base_url, story)
        except ValueError as e:  # never kept: it warns on every pass that renders its page
            warning = left_out_warning(spec, story, e)
            if warning not in self.warnings:  # once, though a failed splice renders it twice
                self.warnings.append(warning)
            return None
        if story.key in wanted:
            self.pending[story.key] = StoredFragment(
                wanted[story.key], fragment.published, fragment.updated,
                zlib.compress(fragment.xml, 1),
            )  # fmt: skip
        return fragment

    def _flush_when_full(self) -> None:
        if len(self.pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.store.transaction():
                self.store.put_entry_fragments(self.pending)
            self.pending.clear()


def publish_all(config: Config, store: Store, report: RefreshReport) -> PublishResult:
    """Every feed (Atom head, JSON twin, RFC 5005 archive pages), the seed article
    pages, index.html and index.opml; then the WebSub ping for changed feeds."""
    with _Splicer() as splicer:
        return _publish_all(config, store, report, splicer)


def _publish_all(
    config: Config, store: Store, report: RefreshReport, splicer: _Splicer
) -> PublishResult:
    listing = output_listing(config.output_dir)
    last = _last_publish(store)
    if (unchanged := _unchanged_since_last_publish(config, store, last, listing)) is not None:
        return unchanged
    specs, warnings = plan_feeds_keeping_slugs(config, store)
    report.warnings.extend(warnings)
    # The stories written since the last publish, when that publish read the same
    # config, version and feeds: a frozen archive page holding none of them, and
    # whose file is as that publish left it, is as it was. Reading every page's
    # stories' stamps to learn so cost a 1%-changed pass at 10,000 seeds a third.
    changed = store.changed_story_keys()
    if last.get("inputs") != _publish_inputs(config) or last.get("specs") != _specs_digest(specs):
        changed = None
    written, unchanged, also_written, also_unchanged = [], [], [], []
    changed_feeds: list[str] = []

    def write(relpath: str, content: bytes, *, feed: bool = False, durable: bool = True) -> bool:
        wrote = write_if_changed(config.output_dir, relpath, content, durable=durable)
        record(relpath, wrote, feed=feed)
        return wrote

    def record(relpath: str, wrote: bool, *, feed: bool = False) -> None:
        if feed:
            (written if wrote else unchanged).append(relpath)
        else:
            (also_written if wrote else also_unchanged).append(relpath)
        if wrote:  # the listing stays what is on disk, without a second walk
            stat = os.lstat(config.output_dir / relpath)
            listing[relpath] = (stat.st_size, stat.st_mtime_ns)

    def on_disk(relpath: str) -> str | None:
        """Size and mtime of a published file (as the pass found it, or as it wrote
        it): a head feed, an archive or article page edited or deleted by hand (or
        cut short by a power loss) is rendered again though its stories did not change."""
        size_mtime = listing.get(relpath)
        return f"{size_mtime[0]} {size_mtime[1]}" if size_mtime else None

    def write_page(
        spec: FeedSpec, number: int, fragments: list[EntryFragment], fingerprint: str
    ) -> None:
        page = render_fragments(
            config, spec, fragments,
            archive_page=number, prev_archive=number - 1 or None, fingerprint=fingerprint,
        )  # fmt: skip
        write(spec.archive_relpath(number), page, durable=False)

    known = store.render_stamps()
    rendered: dict[str, tuple[str, str | None]] = {}
    story_stamps: dict[str, str] = {}  # of this pass, shared by the feeds
    latest: list[Story] = []
    entries = _Entries(config, store, report.warnings)
    # The keys each feed left off its frozen pages at the last publish: with the
    # stories written since, they are all that can be off them now (a story joins,
    # leaves or moves in a feed only by a write), so a pass that changed little
    # reads those and the frozen pages holding a changed story, not every feed's
    # timeline and pages (a tenth of a 1%-changed pass at 10,000 seeds).
    unplaced_before = _unplaced_record(last) if changed is not None else None
    if unplaced_before is not None and all(spec.relpath in unplaced_before for spec in specs):
        assert changed is not None
        timelines = store.feed_timelines({*changed, *chain(*unplaced_before.values())})
        places = store.archive_places(changed)
    else:
        unplaced_before, places = None, None
        timelines = store.feed_timelines()
    unplaced_now: dict[str, list[str]] = {}
    for spec in specs:
        # A copy that took over from a pruned archived story is that story: archived.
        heirs = store.archive_heirs(spec.relpath)
        timeline = [key for key in timelines.get((spec.kind, spec.name), []) if key not in heirs]
        if unplaced_before is None or places is None:
            frozen = _FrozenPages.read(store, spec.relpath)
            head_keys, to_freeze, open_page = paginate(
                timeline, config.entries_per_feed, frozen.pages
            )
        else:
            assert changed is not None
            frozen = _FrozenPages.counted(store, spec.relpath, places.get(spec.relpath, {}))
            may_be_off = set(unplaced_before[spec.relpath]) | (changed - frozen.holding)
            head_keys, to_freeze, open_page = paginate(
                [key for key in timeline if key in may_be_off], config.entries_per_feed
            )
        unplaced_now[spec.relpath] = [*open_page, *head_keys]
        if to_freeze:
            # Frozen before any file is written: a pass killed in between leaves
            # pages the next pass renders, never a page whose stories could move.
            with store.transaction():
                for number, page_keys in enumerate(to_freeze, start=frozen.count + 1):
                    store.freeze_archive_page(spec.relpath, number, page_keys)
        due_pages, to_splice = [], []
        for number in range(1, frozen.count + 1):
            relpath = spec.archive_relpath(number)
            if changed is not None:
                _, fingerprint_was, file_was = _archive_record(known, relpath)
                if fingerprint_was and file_was == on_disk(relpath):
                    edited = frozen.edited(number, changed)
                    if edited:
                        to_splice.append((number, fingerprint_was, edited))
                    else:
                        also_unchanged.append(relpath)
                    continue
            due_pages.append((number, frozen.keys(number)))
        later = [*to_freeze, *([open_page] if open_page else [])]
        due_pages += enumerate(later, start=frozen.count + 1)
        page_count = frozen.count + len(later)
        story_stamps.update(store.story_stamps(
            key for *_, edited in to_splice for key in edited if key not in story_stamps
        ))  # fmt: skip
        renewals = []
        for number, fingerprint_was, edited in to_splice:
            renewed = entries.renewed(spec, edited, story_stamps)
            if renewed is None:
                due_pages.append((number, frozen.keys(number)))
            else:
                renewals.append((number, fingerprint_was, renewed))
        spliced_pages = splicer.splice(config, spec, renewals)
        for (number, *_), spliced in zip(renewals, spliced_pages, strict=True):
            relpath = spec.archive_relpath(number)
            if spliced is None:
                due_pages.append((number, frozen.keys(number)))
                continue
            fingerprint, wrote = spliced
            record(relpath, wrote)
            # The page's stamp is left unknown: it names every story's stamp, and
            # reading those was most of what the splice saves. A pass that looks at
            # every page finds the page by its fingerprint as it is.
            rendered[relpath] = ("", f"{fingerprint} {on_disk(relpath)}")
        unstamped = [k for _, keys in due_pages for k in keys if k not in story_stamps]
        unstamped += [k for k in head_keys if k not in story_stamps]
        story_stamps.update(store.story_stamps(unstamped))
        for number, page_keys in due_pages:
            relpath = spec.archive_relpath(number)
            stamp = archive_stamp(config, spec, number, [story_stamps.get(k) for k in page_keys])
            stamp_was, fingerprint_was, file_was = _archive_record(known, relpath)
            file_now = on_disk(relpath)
            if (
                stamp == stamp_was
                and fingerprint_was
                and file_was == file_now
                and archive_is_current(config.output_dir, relpath, fingerprint_was)
            ):
                also_unchanged.append(relpath)
                continue
            fragments = entries.page(spec, page_keys, story_stamps)
            fingerprint = archive_fingerprint(config, spec, number, fragments)
            if file_was == file_now and archive_is_current(config.output_dir, relpath, fingerprint):
                also_unchanged.append(relpath)
            else:
                write_page(spec, number, fragments, fingerprint)
            rendered[relpath] = (stamp, f"{fingerprint} {on_disk(relpath)}")
        loaded: list[Story] = []
        if spec.kind == "all":  # index.html shows its latest, whether it is rendered or not
            latest = loaded = newest_first(store.stories_by_keys(head_keys))
        stamp = head_stamp(config, spec, page_count, [story_stamps.get(k) for k in head_keys])
        if all(known.get(p) == (stamp, on_disk(p)) for p in spec.head_relpaths):
            unchanged.append(spec.relpath)
            also_unchanged.append(spec.json_relpath)
            continue
        fragments, items = entries.head(spec, head_keys, story_stamps, loaded)
        atom = render_fragments(config, spec, fragments, prev_archive=page_count or None)
        if write(spec.relpath, atom, feed=True):
            changed_feeds.append(feed_url(config, spec.relpath))
        if write(spec.json_relpath, render_json_feed(config, spec, items)):
            changed_feeds.append(feed_url(config, spec.json_relpath))
        rendered.update((p, (stamp, on_disk(p))) for p in spec.head_relpaths)
    due = _articles_due(config, store, specs, known, also_unchanged, on_disk, changed)
    for story in store.iter_stories(due):
        relpath = article_relpath(story)
        write(relpath, render_article(config, story, specs), durable=False)
        rendered[relpath] = (due[story.key], on_disk(relpath))
    write("index.html", render_index(config, specs, latest))
    write("index.opml", render_opml(config, specs), feed=True)
    removed = remove_stale(
        config.output_dir,
        {*written, *unchanged, *also_written, *also_unchanged},
        folders=("section", "topic", "archive", "article"),
        listing=listing,
    )
    published = {*written, *unchanged, *also_written, *also_unchanged}
    entries.flush()
    with store.transaction():
        store.put_render_stamps(rendered)
        store.forget_render_stamps(set(known) - published)
        store.content_published()
        store.set_meta("published", json.dumps({
            "inputs": _publish_inputs(config),
            "specs": _specs_digest(specs),
            "output": listing_digest(listing),
            "feeds": sorted({*written, *unchanged}),
            "unplaced": unplaced_now,
        }))  # fmt: skip
    pinged: tuple[str, ...] = ()
    if config.websub_hub and changed_feeds:
        pinged, problems = ping_hub(config.websub_hub, changed_feeds)
        report.warnings.extend(problems)
        warnings += problems
    return PublishResult(
        tuple(written), tuple(unchanged), removed, tuple(warnings),
        tuple(also_written), tuple(also_unchanged), pinged,
    )  # fmt: skip
