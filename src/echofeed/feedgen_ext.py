"""Our feedgen extension: what feedgen 1.0 cannot write by itself.

Only publish.py uses it, on the first document a process writes (see
`publish._feed_generator`): importing feedgen is kept off the path of a pass
that writes nothing.
"""

from __future__ import annotations

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005


def new_feed_generator(kind: type[FeedGenerator] = FeedGenerator) -> FeedGenerator:
    """An empty feedgen document (of `kind`, a FeedGenerator subclass in the tests)
    with our extension registered as `echofeed`."""
    fg = kind()
    fg.register_extension("echofeed", _FeedExtension, _EntryLinks, atom=True, rss=False)
    return fg


class _FeedExtension(BaseExtension):
    """Feed-level hook of our feedgen extension: RFC 5005's fh:archive marker,
    which feedgen has no field for."""

    def __init__(self) -> None:
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.archive:
            marker = etree.Element(f"{{{HISTORY_NS}}}archive")
            # Before the first entry: feed metadata first reads best.
            first_entry = feed.find("{http://www.w3.org/2005/Atom}entry")
            if first_entry is not None:
                first_entry.addprevious(marker)
            else:
                feed.append(marker)
        return feed


class _EntryLinks(BaseEntryExtension):
    """Writes an entry's links. feedgen 1.0's FeedEntry.atom_entry() shadows its loop
    variable and so drops rel, type and title of every entry link (all would read as
    rel="alternate", which is invalid Atom for a second link); we write them here."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        namespace = etree.QName(entry).namespace
        tag = f"{{{namespace}}}link" if namespace else "link"
        for link in self.links:
            etree.SubElement(entry, tag, {k: v for k, v in link.items() if v})
        return entry
