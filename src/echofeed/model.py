"""The records that flow through echofeed: an Entry as read, a Story as stored."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EntryKind = Literal["seed", "feed"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One article as read from a seed file or an external feed, normalized.

    Text fields are final: `headline` and `byline` are plain text, `body_html`
    and `summary_html` are sanitized HTML.
    """

    kind: EntryKind
    source: str  # seed file name, or the source's configured feed URL
    source_name: str  # the publication that carried it
    origin_id: str  # the seed's 16-hex id, or the feed entry's own id (or fallback)
    headline: str
    section: str  # display name; "" means "let the section rules decide"
    published: datetime | None  # aware UTC; None when the source gave no plausible date
    byline: str = ""
    body_html: str = ""
    summary_html: str = ""
    link: str = ""  # the article's own page, absolute; "" for seeds
    categories: tuple[str, ...] = ()  # the source's own categories, as given

    @property
    def key(self) -> str:
        """The entry's permanent identity in the store."""
        if self.kind == "seed":
            return f"seed:{self.origin_id}"
        digest = hashlib.sha256(f"{self.source}\n{self.origin_id}".encode()).hexdigest()
        return f"feed:{digest[:32]}"

    @property
    def content_hash(self) -> str:
        """Changes exactly when something a reader sees changes."""
        visible = [
            self.headline,
            self.byline,
            self.section,
            self.body_html,
            self.summary_html,
            self.link,
            list(self.categories),
            self.source_name,
        ]
        return hashlib.sha256(json.dumps(visible).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SourceLink:
    """Another source that carried the same story."""

    name: str
    link: str  # "" when that copy has no page of its own (a seed)


@dataclass(frozen=True, slots=True)
class Story:
    """A story of record as stored, ready to publish."""

    key: str
    atom_id: str
    kind: EntryKind
    source_name: str
    origin_id: str
    headline: str
    byline: str
    section: str
    body_html: str
    summary_html: str
    link: str
    published: datetime
    updated: datetime
    topics: tuple[str, ...] = ()
    also_carried_by: tuple[SourceLink, ...] = ()
