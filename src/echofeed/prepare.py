"""What is worked out of a fetched body alone, before the store is asked anything:
its entries parsed and, for each, its dedup normal form, signatures and topics.

Pure, and light to import: with many sources this runs in parser processes, one
per core, forked from a server that imports this module before the first can
parse. It imports neither the store, the fetcher nor the publisher (about half
of what `echofeed.pipeline` imports), so the processes are ready sooner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from . import dedup
from .config import SourceConfig
from .errors import SourceError
from .model import Entry
from .parse import ParsedFeed, parse_feed
from .topics import Sorter, topic_text

log = logging.getLogger(__name__)

# How much lower than the pass the parser processes run (see lower_priority).
PARSER_NICENESS = 10


@dataclass(frozen=True, slots=True)
class Prepared:
    """What ingest_entry works out of an entry alone, before asking the store anything.

    Pure: made where the feed is parsed (a parser process when there are many
    sources), so the thread that writes the store spends its time storing.
    """

    key: str
    content_hash: str
    norm: dedup.Normalized
    signatures: tuple[str, ...]
    probes: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Preparing:
    """What preparing an entry needs of the config (pickled to the parser processes).

    `sorter` may be a copy of the pass's sorter: a copy may name a section
    differently (each learns display names in the order it meets them), but
    topics depend only on the section's key, which is the same.
    """

    publishers: tuple[str, ...]  # pipeline._publishers(config): every source's name
    sorter: Sorter


def prepare_entry(entry: Entry, preparing: Preparing, body_text: str | None = None) -> Prepared:
    """`body_text` is the plain text of the body, when the parser made it."""
    norm = dedup.normalize(entry.headline, preparing.publishers)
    sorter = preparing.sorter
    section = sorter.section_of(entry.section, entry.categories)
    text = None if body_text is None else topic_text(entry.headline, entry.body_html, body_text)
    topics = sorter.topics_of(entry.headline, entry.body_html, section, entry.categories,
                              text=text)  # fmt: skip
    return Prepared(entry.key, entry.content_hash, norm, dedup.signatures(norm),
                    dedup.probe_signatures(norm), topics)  # fmt: skip


def prepare_all(parsed: ParsedFeed, preparing: Preparing) -> tuple[Prepared, ...]:
    texts = parsed.body_texts or (None,) * len(parsed.entries)
    return tuple(
        prepare_entry(entry, preparing, text)
        for entry, text in zip(parsed.entries, texts, strict=True)
    )


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One fetched body to parse and prepare for the store, in a fetch thread or (it
    pickles) in a parser process."""

    body: bytes
    source: SourceConfig
    url: str
    headers: dict[str, str]
    now: datetime
    max_entries: int
    preparing: Preparing

    def run(
        self, parse: Callable[..., ParsedFeed] = parse_feed
    ) -> tuple[ParsedFeed, tuple[Prepared, ...]]:
        parsed = parse(
            self.body, self.source, url=self.url, headers=self.headers, now=self.now,
            max_entries=self.max_entries,
        )  # fmt: skip
        # The bodies' plain text has served (topics): not kept, nor sent back.
        return replace(parsed, body_texts=()), prepare_all(parsed, self.preparing)


def parse_in_worker(job: ParseJob) -> tuple[ParsedFeed, tuple[Prepared, ...]] | tuple[str, str]:
    """Runs in a parser process. Our errors do not survive pickling (their args are
    the formatted message), so a failure comes back as (kind, reason)."""
    try:
        return job.run()
    except SourceError as e:
        return ("parse", e.reason)
    except Exception as e:  # noqa: BLE001 - a bug on one source must not end the pass
        log.exception("%s: unexpected error", job.source.name)
        return ("unexpected", f"unexpected error: {e!r}")


def ready() -> None:
    """Does nothing, in a parser process: a task that makes the pool start one."""


def lower_priority() -> None:
    """Runs first in each parser process: lower its priority by PARSER_NICENESS.

    Every source is stored in turn by the one thread that writes the store, and
    with a parser per core that thread lost about a third of its core to them;
    behind it they take what it leaves. A first ingest of 50 feeds on 2 cores:
    1.25 -> 1.15 s (medians of 8 alternating runs); 200 feeds: 4.14 -> 3.85 s.
    It also leaves a server on the same machine (`echofeed serve`) ahead of them.
    """
    if hasattr(os, "nice"):
        os.nice(PARSER_NICENESS)
