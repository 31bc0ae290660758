"""Atom and JSON feeds, their RFC 5005 archives and the OPML list, written
atomically and only when they change.

feedgen builds the XML. Around it we keep three promises it does not:
entries are appended in our order (its add_entry prepends by default), every
datetime is aware UTC (naive ones raise a bare ValueError there), and a file
is replaced in one rename (its atom_file writes in place), and only when its
bytes differ, so an unchanged feed keeps its mtime and its HTTP validators.

A feed's `updated` is the newest `updated` of its entries, never the clock,
so the same stories always give the same bytes.

Paging (RFC 5005 archived feeds): a feed's stories are kept in the order they
were first seen. The newest `entries_per_feed` form the subscription document;
everything older goes to archive pages, `archive/<feed>/1.atom` being the
oldest. Once a page holds `entries_per_feed` stories it is complete and its
membership is frozen in the database: later stories are paged after it,
whatever happens to the stories before it (pruned, withdrawn, merged, moved to
another section), so a complete page keeps its stories for good. Its bytes
change only when a story on it changes (see `archive_stamp`). The head
links to the newest page with `prev-archive`, each page to the one before it,
and no story is on two documents of the same feed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from stat import S_ISLNK
from typing import Protocol, TypeVar
from xml.sax.saxutils import escape as xml_escape

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from . import __version__
from .config import Config
from .errors import PublishError
from .model import SourceLink, Story
from .sanitize import first_paragraph, html_to_text, sanitize_html
from .topics import SlugBook, Sorter, published_sections

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR_URI = "https://pypi.org/project/echofeed/"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# A summary is a teaser: a body that is one giant paragraph (the real seed's
# is 5,199 characters) is cut at a word boundary, as plain text.
SUMMARY_MAX_CHARS = 500


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to publish: where it goes and which stories it holds."""

    kind: str  # "all", "section" or "topic"
    name: str  # display name of the section or topic; "" for all
    relpath: str  # path under output_dir, with forward slashes
    title: str

    @property
    def json_relpath(self) -> str:
        """The JSON Feed twin of the Atom file: same path, .json."""
        return self.relpath.removesuffix(".atom") + ".json"

    @property
    def head_relpaths(self) -> tuple[str, str]:
        """The subscription documents: the Atom head and its JSON twin."""
        return self.relpath, self.json_relpath

    def archive_relpath(self, number: int) -> str:
        """Archive page `number` (1 is the oldest)."""
        return f"archive/{self.relpath.removesuffix('.atom')}/{number}.atom"


@dataclass(frozen=True, slots=True)
class PublishResult:
    written: tuple[str, ...]  # Atom feeds and index.opml whose bytes changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    # JSON feeds, archive pages and HTML pages, kept apart from the feeds above
    also_written: tuple[str, ...] = ()
    also_unchanged: tuple[str, ...] = ()
    pinged: tuple[str, ...] = ()  # feed URLs the WebSub hub was told about

    @property
    def feed_count(self) -> int:
        return len(self.written) + len(self.unchanged)


def plan_feeds(
    config: Config, sections: Iterable[str], slug_book: SlugBook | None = None
) -> tuple[list[FeedSpec], tuple[str, ...]]:
    """Every feed we publish: all, one per section, one per configured topic.

    `sections` are the stored stories' sections; `slug_book` holds the file
    names given in earlier passes (new ones are added to it for the caller
    to keep). Without it, slugs are decided afresh from the names alone.
    """
    book = slug_book if slug_book is not None else SlugBook()
    sorter = Sorter.from_config(config)
    stored = list(sections)
    sorter.learn_sections(stored)
    section_names = published_sections(config, sorter, stored)
    section_slugs, section_warnings = book.slugs_for("section", section_names)
    topic_names = [topic.name for topic in config.topics]
    topic_slugs, topic_warnings = book.slugs_for("topic", topic_names)
    specs = [FeedSpec("all", "", "all.atom", config.title)]
    specs += [
        FeedSpec("section", name, f"section/{section_slugs[name]}.atom", f"{config.title}: {name}")
        for name in section_names
    ]
    specs += [
        FeedSpec("topic", name, f"topic/{topic_slugs[name]}.atom", f"{config.title}: {name}")
        for name in topic_names
    ]
    return specs, section_warnings + topic_warnings


def feed_url(config: Config, relpath: str) -> str:
    return config.base_url + relpath


def article_relpath(story: Story) -> str:
    """Where a seed story's own page is published (its atom:id names the same place)."""
    return article_relpath_of(story.origin_id)


def article_relpath_of(origin_id: str) -> str:
    return f"article/{origin_id}.html"


def article_fingerprint(
    config: Config, specs: Sequence[FeedSpec], section: str, story_stamp: str
) -> str:
    """Names everything a seed's article page is made of (see `render_article`): the
    story (its stamp, from the store), the config keys and feeds the page shows and
    the echofeed version. Same fingerprint, same bytes: the page need not be rendered."""
    shown = (config.title, config.language, config.base_url, str(config.output_dir))
    feeds = [s for s in specs if s.kind == "all" or (s.kind == "section" and s.name == section)]
    inputs = repr((__version__, shown, feeds, story_stamp))
    return hashlib.sha256(inputs.encode("utf-8")).hexdigest()[:32]


def alternate_url(config: Config, story: Story) -> str:
    """The page a reader opens for a story: its source's, or our article page for a seed."""
    if story.kind == "seed":
        return config.base_url + article_relpath(story)
    return story.link


def paginate(
    keys: Sequence[str], per_page: int, frozen: Sequence[Sequence[str]] = ()
) -> tuple[list[str], list[list[str]], list[str]]:
    """Split a feed's live keys (oldest first) around its frozen archive pages.

    Returns (head, pages to freeze now, open page). Keys already on a frozen
    page stay there and are left out of the rest. Of the others, the head is
    the newest `per_page`; the older ones fill pages of `per_page` after the
    frozen ones: each full one is to be frozen now (it becomes page
    len(frozen) + 1, + 2, ...), and what is left is the open page, which fills
    up as stories leave the head (empty when nothing is left).
    """
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    placed = {key for page in frozen for key in page}
    unplaced = [key for key in keys if key not in placed]
    split = max(0, len(unplaced) - per_page)
    archived = unplaced[:split]
    full = len(archived) - len(archived) % per_page
    to_freeze = [archived[i : i + per_page] for i in range(0, full, per_page)]
    return unplaced[split:], to_freeze, archived[full:]


class _Dated(Protocol):
    @property
    def published(self) -> datetime: ...
    @property
    def key(self) -> str: ...


DatedT = TypeVar("DatedT", bound=_Dated)


def newest_first(items: Iterable[DatedT]) -> list[DatedT]:
    """Stories (or their rendered entries) in the order a feed shows them."""
    return sorted(items, key=lambda s: (s.published, s.key), reverse=True)


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


@dataclass(frozen=True, slots=True)
class EntryFragment:
    """One story's Atom <entry> as rendered, with what a page orders and dates it by."""

    key: str
    published: datetime
    updated: datetime
    xml: bytes


def entry_fragment(base_url: str, story: Story) -> EntryFragment:
    """The story's <entry> for any of our feeds; ValueError when lxml refuses its text
    (a character XML cannot carry, say a control character stored by an older version)."""
    xml = _entry_fragment(base_url, story)
    return EntryFragment(story.key, story.published, _entry_updated(story), xml)


def fragment_stamp(base_url: str, story_stamp: str) -> str:
    """Names what a story's <entry> is rendered from: the store's stamp of the story
    (see `Store.story_stamps`), the one config key an entry shows, and the version."""
    return _digest(__version__, base_url, story_stamp)


def left_out_warning(spec: FeedSpec, story: Story, error: Exception) -> str:
    return (
        f"{spec.relpath}: story {story.headline[:80]!r} from {story.source_name} "
        f"(story {story.key}) left out: it cannot be written as XML: {error}"
    )


def render_atom(
    config: Config,
    spec: FeedSpec,
    stories: Sequence[Story],
    *,
    prev_archive: int | None = None,
    archive_page: int | None = None,
    fingerprint: str | None = None,
    warnings: list[str] | None = None,
) -> bytes:
    """One Atom document's bytes, deterministic for the same stories.

    Without `archive_page` it is the subscription document (the head), with a
    hub link when WebSub is configured; with it, archive page `archive_page`.
    `prev_archive` is the number of the page before it, if any; `fingerprint`
    (archive pages) goes into a comment after the XML declaration.

    A story lxml refuses to write is left out, and a warning naming it and its
    source goes to `warnings`: one bad story must not stop publishing.
    """
    fragments = []
    for story in stories:
        try:
            fragments.append(entry_fragment(config.base_url, story))
        except ValueError as e:
            if warnings is not None:
                warnings.append(left_out_warning(spec, story, e))
    return render_fragments(
        config, spec, fragments,
        prev_archive=prev_archive, archive_page=archive_page, fingerprint=fingerprint,
    )  # fmt: skip


def render_fragments(
    config: Config,
    spec: FeedSpec,
    fragments: Sequence[EntryFragment],
    *,
    prev_archive: int | None = None,
    archive_page: int | None = None,
    fingerprint: str | None = None,
) -> bytes:
    """`render_atom` from entries already rendered, in the order given: an archive
    page whose stories are as they were is assembled without reading them."""
    fg = FeedGenerator()
    fg.register_extension("echofeed", _FeedExtension, _EntryLinks, atom=True, rss=False)
    head_url = feed_url(config, spec.relpath)
    self_url = (
        head_url if archive_page is None else feed_url(config, spec.archive_relpath(archive_page))
    )
    # RFC 5005: the pages of an archived feed are one feed, so they share its id.
    fg.id(head_url)
    fg.title(spec.title if archive_page is None else f"{spec.title} (archive {archive_page})")
    fg.author({"name": config.feed_author})
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=config.base_url, rel="alternate", type="text/html")
    fg.generator("echofeed", version=__version__, uri=GENERATOR_URI)
    fg.language(config.language)
    if config.icon:
        fg.icon(config.icon)
    if config.logo:
        fg.logo(config.logo)
    if archive_page is None:
        if config.websub_hub:
            fg.link(href=config.websub_hub, rel="hub")
    else:
        fg.link(href=head_url, rel="current", type="application/atom+xml")
        fg.echofeed.archive = True
    if prev_archive is not None:
        fg.link(
            href=feed_url(config, spec.archive_relpath(prev_archive)),
            rel="prev-archive",
            type="application/atom+xml",
        )
    fg.updated(max((f.updated for f in fragments), default=EPOCH))
    document = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    # feedgen appends entries after every feed-level element (and after our
    # fh:archive marker), so the entries go just before the closing tag.
    document = document.removesuffix(_FEED_END) + b"".join(f.xml for f in fragments) + _FEED_END
    if fingerprint is not None:
        declaration, rest = document.split(b"\n", 1)
        document = declaration + b"\n" + _fingerprint_comment(fingerprint) + rest
    return document


def archive_fingerprint(
    config: Config, spec: FeedSpec, number: int, fragments: Sequence[EntryFragment]
) -> str:
    """Names what an archive page's bytes are made of, from its rendered entries:
    written into the page, it tells whether the file on disk is already these
    bytes. Unlike `archive_stamp` it does not change when nothing shown does (a
    pruned story rendered from its snapshot), so such a page is not rewritten."""
    return _fingerprint(config, spec, number, b"".join(fragment.xml for fragment in fragments))


def _fingerprint(config: Config, spec: FeedSpec, number: int, entries: bytes) -> str:
    digest = hashlib.sha256(repr((__version__, _shown(config), spec, number)).encode("utf-8"))
    digest.update(entries)
    return digest.hexdigest()[:32]


def archive_stamp(
    config: Config, spec: FeedSpec, number: int, story_stamps: Sequence[str | None]
) -> str:
    """Names everything an archive page is made of, from its stories' stamps.

    Rendering every page of every feed on every pass would cost far more than
    the rest of the pass; a page whose stamp is the one it was last rendered
    with (and whose file still bears its fingerprint) is skipped without
    reading its stories or their entries. It covers only what a page
    renders: the config keys it shows (an edit of retention_days or of a source
    leaves the archive alone), the feed, the page number, its stories' stamps
    in the store (an edited or re-filed story re-renders its page) and the
    echofeed version (a sanitizer fix reaches old pages too).
    """
    return _digest(__version__, _shown(config), spec, number, tuple(story_stamps))


def head_stamp(
    config: Config, spec: FeedSpec, archive_pages: int, story_stamps: Sequence[str | None]
) -> str:
    """Names what a head feed and its JSON twin are made of (see `render_atom` and
    `render_json_feed`): the config keys they show, the feed, its number of archive
    pages, the stamps of its stories and the echofeed version."""
    shown = (*_shown(config), config.websub_hub)  # the hub link is on the head only
    return _digest(__version__, shown, spec, archive_pages, tuple(story_stamps))


def _shown(config: Config) -> tuple[str | None, ...]:
    """The config keys every published page displays."""
    return (config.base_url, config.language, config.feed_author, config.icon, config.logo)


def _digest(*inputs: object) -> str:
    return hashlib.sha256(repr(inputs).encode("utf-8")).hexdigest()[:32]


def _fingerprint_comment(fingerprint: str) -> bytes:
    return f"<!-- echofeed archive page {fingerprint} -->\n".encode("ascii")


def archive_is_current(output_dir: Path, relpath: str, fingerprint: str) -> bool:
    """Whether the archive page on disk was rendered from exactly these inputs, and
    is whole (archive pages are written without a disk flush: see write_if_changed)."""
    try:
        with open(safe_output_path(output_dir, relpath), "rb") as page:
            start = page.read(200)
            page.seek(-len(_FEED_END), os.SEEK_END)
            end = page.read()
    except OSError:
        return False
    return _fingerprint_comment(fingerprint) in start and end == _FEED_END


def _entry_updated(story: Story) -> datetime:
    return max(story.updated, story.published)


_FEED_END = b"</feed>\n"
_ENTRY_START = b"  <entry>"
_ENTRY_END = b"  </entry>\n"
# An entry's own elements, at the indentation pretty printing gives them in a
# page (an author's name is deeper): an entry writes each of these once.
_ENTRY_ID = re.compile(rb"\n    <id>([^<]*)</id>")
_UPDATED, _PUBLISHED = b"\n    <updated>", b"\n    <published>"
_FEED_UPDATED = b"\n  <updated>"  # the feed's own, before its entries


def splice_archive_page(
    config: Config,
    spec: FeedSpec,
    number: int,
    document: bytes,
    fingerprint: str,
    renewed: Mapping[bytes, EntryFragment],
) -> tuple[bytes, str] | None:
    """Archive page `number` as `render_fragments` wrote it (`document`, bearing
    `fingerprint`), with the entries whose escaped <id> text is a key of `renewed`
    put in place of theirs: (the page, its fingerprint), the bytes `render_fragments`
    gives for its entries so changed.

    An edit of one archived story rewrites a page of each of its feeds, fifty
    entries each. This works on the file's bytes: the entries are hashed in one
    run, the edited ones found by their <id>, the feed's <updated> and the
    fingerprint replaced; taking the page apart into entries and rendering it
    again cost about twice as much. None (the caller renders the page from its
    entries) when the bytes are not such a page or do not hash to `fingerprint`,
    when an entry is not on the page (or is there twice), or when an edit would
    move it (another published date) or make it older.
    """
    start = document.find(b"\n" + _ENTRY_START) + 1
    if start == 0 or not document.endswith(_FEED_END):
        return None
    header, entries = document[:start], document[start : -len(_FEED_END)]
    comment = _fingerprint_comment(fingerprint)
    if comment not in header or _fingerprint(config, spec, number, entries) != fingerprint:
        return None
    pieces, cut = [], 0
    newest = _header_updated(header)
    if newest is None:
        return None
    # Text and attributes are escaped and an author's name is deeper: a line with
    # this <id> at this indentation is an entry's own, and one opening an entry
    # opens one.
    needles = {b"\n    <id>" + text + b"</id>": fragment for text, fragment in renewed.items()}
    for place, needle, fragment in sorted(
        (entries.find(needle), needle, fragment) for needle, fragment in needles.items()
    ):
        if place < cut or entries.find(needle, place + 1) >= 0:
            return None
        begin = entries.rfind(b"\n" + _ENTRY_START, 0, place) + 1
        end = entries.find(_ENTRY_END, place)
        if end < 0:
            return None
        end += len(_ENTRY_END)
        old = entries[begin:end]
        try:
            published = _date_at(old, old.rindex(_PUBLISHED) + len(_PUBLISHED))
            updated = _date_at(old, old.index(_UPDATED) + len(_UPDATED))
        except ValueError:
            return None
        if published != fragment.published or fragment.updated < updated:
            return None
        # The feed's <updated> is its newest entry's: no edited entry is older
        # than it was, so the newest of the rest is at most the old one.
        newest = max(newest, fragment.updated)
        pieces += [entries[cut:begin], fragment.xml]
        cut = end
    entries = b"".join([*pieces, entries[cut:]])
    new_fingerprint = _fingerprint(config, spec, number, entries)
    header = header.replace(comment, _fingerprint_comment(new_fingerprint), 1)
    at = header.index(_FEED_UPDATED) + len(_FEED_UPDATED)
    header = header[:at] + newest.isoformat().encode("ascii") + header[header.index(b"<", at) :]
    return header + entries + _FEED_END, new_fingerprint


def splice_archive_file(
    config: Config,
    spec: FeedSpec,
    number: int,
    fingerprint: str,
    renewed: Mapping[bytes, EntryFragment],
) -> tuple[str, bool] | None:
    """Archive page `number` of `spec` spliced in its file (see `splice_archive_page`)
    and written back when its bytes change: (its fingerprint now, whether the file
    was rewritten). None when the file cannot be read or is not the page that
    `fingerprint` names, or an edit would move an entry: the caller renders the page.
    Touches nothing but the page's file, so pages can be spliced in threads."""
    relpath = spec.archive_relpath(number)
    try:
        document = safe_output_path(config.output_dir, relpath).read_bytes()
    except OSError:
        return None
    spliced = splice_archive_page(config, spec, number, document, fingerprint, renewed)
    if spliced is None:
        return None
    page, new_fingerprint = spliced
    if new_fingerprint == fingerprint:  # an edit its entry does not show
        return new_fingerprint, False
    return new_fingerprint, write_if_changed(config.output_dir, relpath, page, durable=False)


def _header_updated(header: bytes) -> datetime | None:
    at = header.find(_FEED_UPDATED)
    if at < 0:
        return None
    try:
        return _date_at(header, at + len(_FEED_UPDATED))
    except ValueError:
        return None


def _date_at(xml: bytes, start: int) -> datetime:
    return datetime.fromisoformat(xml[start : xml.index(b"<", start)].decode("ascii"))


def entry_id(fragment: EntryFragment) -> bytes | None:
    """The escaped text of an entry's <id>: the same in every rendering of its story."""
    match = _ENTRY_ID.search(fragment.xml)
    return match[1] if match else None


def _entry_fragment(base_url: str, story: Story) -> bytes:
    """The story's <entry> cut from a one-entry feed rendered by feedgen. Pretty
    printing indents by depth alone and an entry declares no namespace of its own,
    so these are the bytes it has in any feed (the caller keeps them: see
    `pipeline._Entries`)."""
    fg = FeedGenerator()
    fg.register_extension("echofeed", _FeedExtension, _EntryLinks, atom=True, rss=False)
    fg.id(base_url)
    fg.title("entry")
    fg.updated(EPOCH)
    _add_entry(fg, _BaseUrl(base_url), story)
    document = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    start = document.index(_ENTRY_START)
    if not document.endswith(_FEED_END):
        raise PublishError(Path(story.key), "feedgen wrote an entry we cannot cut out")
    return document[start : -len(_FEED_END)]


@dataclass(frozen=True, slots=True)
class _BaseUrl:
    """The one config key an entry shows: a kept entry is rendered from it and its story alone."""

    base_url: str


def _add_entry(fg: FeedGenerator, config: Config | _BaseUrl, story: Story) -> None:
    entry = fg.add_entry(order="append")
    entry.id(story.atom_id)
    entry.title(story.headline)
    entry.published(story.published)
    entry.updated(_entry_updated(story))
    entry.author({"name": story.byline or story.source_name})
    links = entry.echofeed.links
    alternate = alternate_url(config, story)
    if alternate:
        links.append({"rel": "alternate", "type": "text/html", "href": alternate})
    for carrier in related_sources(story):
        links.append(
            {"rel": "related", "type": "text/html", "href": carrier.link, "title": carrier.name}
        )
    entry.category(term=story.section, scheme=config.base_url + "section/", label=story.section)
    for topic in story.topics:
        entry.category(term=topic, scheme=config.base_url + "topic/", label=topic)
    summary, summary_type = summary_of(story)
    if summary:
        entry.summary(summary, type=summary_type)
    entry.content(content_of(story), type="html")


def related_sources(story: Story) -> list[SourceLink]:
    """The other sources that carried the story and have a page of their own, once each."""
    seen = {story.link}
    related = []
    for carrier in story.also_carried_by:
        if carrier.link and carrier.link not in seen:
            seen.add(carrier.link)
            related.append(carrier)
    return related


# A story sits in several feeds (all, its section, its topics) and in the JSON
# twins: sanitizing it once per pass, not once per document, halves the work.
# Keyed by the whole frozen Story, so an edit is never served from the cache.
@functools.lru_cache(maxsize=2048)
def content_of(story: Story) -> str:
    """The entry content: the sanitized body and the list of sources that carried it."""
    return sanitize_html(story.body_html + _carried_by_html(story))


@functools.lru_cache(maxsize=2048)
def summary_of(story: Story) -> tuple[str, str]:
    """The entry summary and its Atom type: the first paragraph, as sanitized HTML,
    or cut to SUMMARY_MAX_CHARS as plain text when that paragraph is longer."""
    paragraph = sanitize_html(first_paragraph(story.summary_html or story.body_html))
    text = html_to_text(paragraph)
    if not text:
        return "", "text"
    if len(text) <= SUMMARY_MAX_CHARS:
        return paragraph, "html"
    cut = text[: SUMMARY_MAX_CHARS + 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "\u2026", "text"


def render_json_feed(config: Config, spec: FeedSpec, items: Sequence[bytes]) -> bytes:
    """The JSON Feed 1.1 twin of a head Atom feed, from its stories' `json_feed_item`s
    (newest first), deterministic for the same ones. Compact: every item is kept
    already serialized, and a pretty printer would take them apart again."""
    document: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": spec.title,
        "home_page_url": config.base_url,
        "feed_url": feed_url(config, spec.json_relpath),
        "authors": [{"name": config.feed_author}],
        "language": config.language,
    }
    # JSON Feed's icon is the big square image and favicon the small one.
    if config.logo:
        document["icon"] = config.logo
    if config.icon:
        document["favicon"] = config.icon
    if config.websub_hub:
        document["hubs"] = [{"type": "WebSub", "url": config.websub_hub}]
    head = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"".join([head[:-1], b',"items":[', b",".join(items), b"]}\n"])


def json_feed_item(base_url: str, story: Story) -> bytes:
    """The story's JSON Feed item, serialized (UTF-8): the same in every feed, and
    rendered from its story and base_url alone, as its Atom entry is."""
    item: dict[str, object] = {"id": story.atom_id}
    alternate = alternate_url(_BaseUrl(base_url), story)
    if alternate:
        item["url"] = alternate
    summary, summary_type = summary_of(story)
    item.update(
        {
            "title": story.headline,
            "content_html": content_of(story),
            "summary": summary if summary_type == "text" else html_to_text(summary),
            "date_published": story.published.isoformat(),
            "date_modified": _entry_updated(story).isoformat(),
            "authors": [{"name": story.byline or story.source_name}],
            "tags": list(dict.fromkeys((story.section, *story.topics))),
        }
    )
    if not item["summary"]:
        del item["summary"]
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _carried_by_html(story: Story) -> str:
    names = [story.source_name]
    for carrier in story.also_carried_by:
        if carrier.name not in names:
            names.append(carrier.name)
    if len(names) < 2:
        return ""
    return f"\n<p><em>Reported by: {escape(', '.join(names), quote=False)}</em></p>"


def render_opml(config: Config, specs: Sequence[FeedSpec]) -> bytes:
    """OPML 2.0: the feeds as three outlines, All, Sections and Topics (each always there)."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{config.title} feeds"
    etree.SubElement(head, "ownerName").text = config.feed_author
    body = etree.SubElement(opml, "body")
    for kind, label in (("all", "All"), ("section", "Sections"), ("topic", "Topics")):
        group = etree.SubElement(body, "outline", text=label, title=label)
        for spec in specs:
            if spec.kind == kind:
                etree.SubElement(
                    group, "outline", type="rss", version="ATOM1", text=spec.name or spec.title,
                    title=spec.title, xmlUrl=feed_url(config, spec.relpath),
                    htmlUrl=config.base_url,
                )  # fmt: skip
    # The JSON Feed twins are listed as links, not as rss outlines: a reader
    # importing this list would otherwise subscribe to every story twice.
    twins = etree.SubElement(body, "outline", text="JSON Feed", title="JSON Feed")
    for spec in specs:
        etree.SubElement(
            twins, "outline", type="link", text=f"{spec.name or spec.title} (JSON Feed)",
            url=feed_url(config, spec.json_relpath),
        )  # fmt: skip
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _xml_text(text: str) -> str:
    return xml_escape(text)


def write_if_changed(
    output_dir: Path, relpath: str, content: bytes, *, durable: bool = True
) -> bool:
    """Atomically replace output_dir/relpath with content; False when it was already so.

    A process killed at any point leaves the old file or the new one. `durable`
    also flushes the new bytes to disk before the rename, so that a power loss
    cannot leave the name on a truncated file; it costs a disk flush per file,
    which is worth it for the documents readers subscribe to, while the archive
    and article pages (thousands of them in a first pass) are each checked on
    every pass, by size and mtime against what was written, and by content
    whenever their stories or the config change, and re-rendered when they do
    not hold what the store says (see `archive_is_current` and
    `pipeline.publish_all`). A power loss that leaves a renamed file empty or
    short changes its size."""
    target = safe_output_path(output_dir, relpath)
    link = _symlink_in_output(output_dir, relpath)
    if link is not None:
        # A published name made a symlink (say to another feed) gets its own file
        # back: writing through the link would overwrite the file it points to.
        target = link
    try:
        # The size first: a rewritten page is most often another size, and then
        # its old bytes need not be read back.
        if (
            link is None
            and os.stat(target).st_size == len(content)
            and target.read_bytes() == content
        ):
            return False
    except FileNotFoundError:
        pass
    except OSError as e:
        raise PublishError(target, f"cannot read the published file: {e.strerror or e}") from e
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as e:
        raise PublishError(target, f"cannot write: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(content)
            temp.flush()
            if durable:
                os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except OSError as e:
        _remove_quietly(Path(temp_name))
        raise PublishError(
            target, f"cannot write ({e.strerror or e}); the previous version is untouched"
        ) from e
    return True


def safe_output_path(output_dir: Path, relpath: str) -> Path:
    """output_dir/relpath, refusing anything that would land outside output_dir."""
    # On strings: called for every page a pass checks or writes, where pathlib's
    # resolve() took 65 µs a call against 47 µs for this.
    root = os.path.realpath(output_dir)
    # Checked before realpath(), which raises a bare ValueError on a NUL.
    if "\0" in relpath:
        raise PublishError(Path(root), f"refusing to write outside the output folder: {relpath!r}")
    target = _below(root, relpath) or os.path.realpath(os.path.join(root, relpath))
    if os.path.commonpath((root, target)) != root or target == root:
        raise PublishError(Path(root, relpath), "refusing to write outside the output folder")
    return Path(target)


def _below(root: str, relpath: str) -> str | None:
    """What realpath(root/relpath) is, for a plain relpath (no "..", ".", empty or
    absolute part) under a resolved root, found with one lstat per part that
    exists: realpath walks every folder from "/" again, in Python, which was a
    tenth of a pass that rewrote 400 archive pages. None when a part is a
    symlink or relpath is not plain: realpath decides those."""
    parts = relpath.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    path = root
    for part in parts:
        path = f"{path}/{part}" if path != "/" else f"/{part}"
        try:
            if S_ISLNK(os.lstat(path).st_mode):
                return None
        except FileNotFoundError:
            return os.path.join(root, relpath)  # nothing below it exists to link anywhere
        except OSError:
            return None
    return path


def _symlink_in_output(output_dir: Path, relpath: str) -> Path | None:
    """output_dir/relpath itself, with its folders resolved, when it is a symlink
    (in a folder inside output_dir); None otherwise."""
    if not os.path.islink(os.path.join(output_dir, relpath)):
        return None  # one lstat: this is asked of every file a pass writes
    root = os.path.realpath(output_dir)
    folder = os.path.realpath(os.path.join(root, os.path.dirname(relpath)))
    path = os.path.join(folder, os.path.basename(relpath))
    if os.path.commonpath((root, folder)) == root and os.path.islink(path):
        return Path(path)
    return None


def output_listing(output_dir: Path) -> dict[str, tuple[int, int]]:
    """relpath -> (size, mtime_ns) of every file under output_dir (symlinks not
    followed; {} when it is missing): what a pass that publishes nothing new checks
    so that a published file deleted, edited or added by hand is still noticed."""
    listing: dict[str, tuple[int, int]] = {}
    folders = [(output_dir, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), f"{prefix}{entry.name}/"))
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            listing[prefix + entry.name] = (stat.st_size, stat.st_mtime_ns)
    return listing


def listing_digest(listing: dict[str, tuple[int, int]]) -> str:
    return _digest(sorted(listing.items()))


def remove_stale(
    output_dir: Path,
    keep: set[str],
    folders: Iterable[str],
    listing: dict[str, tuple[int, int]],
) -> tuple[str, ...]:
    """Delete what is no longer published under `folders` (a removed topic, its
    JSON twin and archive pages, a withdrawn seed's article page), and the temporary
    files of a killed write anywhere under output_dir.

    `listing` is the files under output_dir as `output_listing` gives them (kept up
    to date by the pass: no second walk of thousands of pages); the files deleted
    are taken out of it.
    """
    managed = tuple(folders)
    removed: list[str] = []
    emptied: set[str] = set()
    for relpath in sorted(listing):
        folder, _, name = relpath.rpartition("/")
        if is_temp_file_name(name):
            path = output_dir / relpath
            if not path.is_symlink():
                _remove_quietly(path)
                del listing[relpath]
            continue
        if (
            relpath not in keep
            and folder
            and folder.split("/", 1)[0] in managed
            and name.endswith(_PUBLISHED_SUFFIXES)
            and not (path := output_dir / relpath).is_symlink()
        ):
            _remove_quietly(path)
            del listing[relpath]
            removed.append(relpath)
            emptied.add(folder)
    # A removed feed's archive: its emptied subfolders go, deepest first (never a
    # managed folder itself). rmdir only succeeds when a folder is empty.
    while emptied:
        folder = max(emptied, key=lambda f: f.count("/"))
        emptied.discard(folder)
        if "/" in folder:
            try:
                os.rmdir(output_dir / folder)
            except OSError:
                continue
            emptied.add(folder.rpartition("/")[0])
    return tuple(sorted(removed))


_PUBLISHED_SUFFIXES = (".atom", ".json", ".html")

# What write_if_changed's mkstemp names a temporary file: ".<target name>.<random>.tmp",
# for a target with one of the suffixes we publish.
_TEMP_NAME = re.compile(r"\.(?P<target>.+\.(?:atom|json|html|opml))\.[A-Za-z0-9_]+\.tmp")


def is_temp_file_name(name: str) -> bool:
    """Whether `name` is one write_if_changed gives its temporary files."""
    return _TEMP_NAME.fullmatch(name) is not None


def remove_temp_files(output_dir: Path) -> tuple[Path, ...]:
    """Delete the temporary files a killed write left anywhere under output_dir.

    Only ever called under the writer lock, where no other write is under way, so
    every such file is stale (a half feed a static server could serve). Symlinked
    folders are not followed: nothing outside output_dir is touched.
    """
    removed = []
    for folder, _subfolders, names in os.walk(output_dir):
        for name in names:
            path = Path(folder) / name
            if not is_temp_file_name(name) or path.is_symlink():
                continue
            try:
                path.unlink()
            except OSError:
                continue  # tried again next pass; a folder we cannot write fails the pass anyway
            removed.append(path)
    return tuple(removed)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
