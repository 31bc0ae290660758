"""Atom feeds and the OPML list, written atomically and only when they change.

feedgen builds the XML. Around it we keep three promises it does not:
entries are appended in our order (its add_entry prepends by default), every
datetime is aware UTC (naive ones raise a bare ValueError there), and a file
is replaced in one rename (its atom_file writes in place), and only when its
bytes differ, so an unchanged feed keeps its mtime and its HTTP validators.

A feed's `updated` is the newest `updated` of its entries, never the clock,
so the same stories always give the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from . import __version__
from .config import Config
from .errors import PublishError
from .model import Story
from .sanitize import sanitize_html
from .topics import assign_slugs

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR_URI = "https://pypi.org/project/echofeed/"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to publish: where it goes and which stories it holds."""

    kind: str  # "all", "section" or "topic"
    name: str  # display name of the section or topic; "" for all
    relpath: str  # path under output_dir, with forward slashes
    title: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    written: tuple[str, ...]  # relpaths whose bytes changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def feed_count(self) -> int:
        return len(self.written) + len(self.unchanged)


def plan_feeds(config: Config, sections: Iterable[str]) -> tuple[list[FeedSpec], tuple[str, ...]]:
    """Every feed we publish: all, one per section, one per configured topic."""
    section_names = sorted(set(sections) | set(config.sections), key=str.casefold)
    section_slugs, section_warnings = assign_slugs(section_names)
    topic_names = [topic.name for topic in config.topics]
    topic_slugs, topic_warnings = assign_slugs(topic_names)
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


class _FeedExtension(BaseExtension):
    """Feed-level hook of our feedgen extension (nothing to add yet)."""


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


def render_atom(config: Config, spec: FeedSpec, stories: Sequence[Story]) -> bytes:
    """One Atom feed's bytes, deterministic for the same stories."""
    fg = FeedGenerator()
    fg.register_extension("echofeed", _FeedExtension, _EntryLinks, atom=True, rss=False)
    self_url = feed_url(config, spec.relpath)
    fg.id(self_url)
    fg.title(spec.title)
    fg.author({"name": config.feed_author})
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=config.base_url, rel="alternate", type="text/html")
    fg.generator("echofeed", version=__version__, uri=GENERATOR_URI)
    fg.language(config.language)
    if config.icon:
        fg.icon(config.icon)
    if config.logo:
        fg.logo(config.logo)
    if config.websub_hub:
        fg.link(href=config.websub_hub, rel="hub")
    fg.updated(max((s.updated for s in stories), default=EPOCH))
    for story in stories:
        _add_entry(fg, config, story)
    return fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)


def _add_entry(fg: FeedGenerator, config: Config, story: Story) -> None:
    entry = fg.add_entry(order="append")
    entry.id(story.atom_id)
    entry.title(story.headline)
    entry.published(story.published)
    entry.updated(max(story.updated, story.published))
    entry.author({"name": story.byline or story.source_name})
    links = entry.echofeed.links
    if story.link:
        links.append({"rel": "alternate", "type": "text/html", "href": story.link})
    related = dict.fromkeys(
        c.link for c in story.also_carried_by if c.link and c.link != story.link
    )
    names = {c.link: c.name for c in story.also_carried_by}
    for href in related:
        links.append({"rel": "related", "type": "text/html", "href": href, "title": names[href]})
    entry.category(term=story.section, scheme=config.base_url + "section/", label=story.section)
    for topic in story.topics:
        entry.category(term=topic, scheme=config.base_url + "topic/", label=topic)
    if story.summary_html:
        entry.summary(sanitize_html(story.summary_html), type="html")
    entry.content(sanitize_html(story.body_html + _carried_by_html(story)), type="html")


def _carried_by_html(story: Story) -> str:
    names = [story.source_name]
    for carrier in story.also_carried_by:
        if carrier.name not in names:
            names.append(carrier.name)
    if len(names) < 2:
        return ""
    return f"\n<p><em>Reported by: {escape(', '.join(names), quote=False)}</em></p>"


def render_opml(config: Config, specs: Sequence[FeedSpec]) -> bytes:
    """OPML 2.0: the feeds grouped as All, Sections and Topics."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_xml_text(config.title)} feeds</title>",
        f"    <ownerName>{_xml_text(config.feed_author)}</ownerName>",
        "  </head>",
        "  <body>",
    ]

    def outline(spec: FeedSpec, indent: str) -> str:
        text = quoteattr(spec.name or spec.title)
        return (
            f'{indent}<outline type="rss" version="ATOM1" text={text} '
            f"title={quoteattr(spec.title)} xmlUrl={quoteattr(feed_url(config, spec.relpath))} "
            f"htmlUrl={quoteattr(config.base_url)}/>"
        )

    for group, label in (("all", "All"), ("section", "Sections"), ("topic", "Topics")):
        members = [s for s in specs if s.kind == group]
        if group == "all":
            lines += [outline(s, "    ") for s in members]
            continue
        lines.append(f"    <outline text={quoteattr(label)} title={quoteattr(label)}>")
        lines += [outline(s, "      ") for s in members]
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _xml_text(text: str) -> str:
    return xml_escape(text)


def write_if_changed(output_dir: Path, relpath: str, content: bytes) -> bool:
    """Atomically replace output_dir/relpath with content; False when it was already so."""
    target = safe_output_path(output_dir, relpath)
    try:
        if target.read_bytes() == content:
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
    root = output_dir.resolve()
    if "\0" in relpath:  # checked first: resolve() raises a bare ValueError on a NUL
        shown = relpath.replace("\0", "\\0")
        raise PublishError(root / shown, "refusing to write outside the output folder")
    target = (root / relpath).resolve()
    if not target.is_relative_to(root) or target == root:
        raise PublishError(root / relpath, "refusing to write outside the output folder")
    return target


def remove_stale(output_dir: Path, keep: set[str], folders: Iterable[str]) -> tuple[str, ...]:
    """Delete feeds in `folders` that are no longer published (a removed topic)."""
    removed = []
    for folder in folders:
        directory = output_dir / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            relpath = f"{folder}/{path.name}"
            if path.is_file() and relpath not in keep and path.suffix in (".atom", ".json"):
                _remove_quietly(path)
                removed.append(relpath)
            elif path.name.startswith(".") and path.name.endswith(".tmp"):
                _remove_quietly(path)  # left by a pass that was killed mid-write
    return tuple(removed)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
