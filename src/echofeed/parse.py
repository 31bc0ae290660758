"""Feed bytes -> normalized Entry records: RSS and Atom through feedparser, JSON Feed here.

Well-formed RSS and Atom 1.0 go through fastfeed first: lxml, giving the values
feedparser would give for the fields read here, or declining (then feedparser
reads the body, as for everything else). feedparser is imported on first use.

feedparser is handed the bytes and the response headers (so it sees the HTTP
charset and content type) and never fetches anything itself. Its own HTML
sanitizer and relative-URI resolver are off: they cost most of its time, and
we do both (nh3, against the xml:base feedparser records for each field) on
the fields we publish only.

Fallbacks for entries that lack a field:
- no id: the link, else a hash of the title and the source URL;
- no date, or an implausible one (in the future, or before 1995): None, and
  the store dates the entry when echofeed first saw it;
- no title: the first words of the body;
- none of title, link and body: skipped, with the reason in the warnings.

Every text field leaves here without the characters XML cannot carry
(sanitize.strip_controls: a JSON string may hold ESC or \\u0001, and lxml would
refuse to write them), and the plain-text ones (headline, byline, categories)
without tag-like markup (sanitize.plain_text): a title escaped twice in the XML
or a JSON author name is text, and must not become a `<script>` in a careless
reader.

A feed gives at most `max_entries` entries (config fetch.max_entries): the
newest by date when every entry has one, else the first in document order
(feeds list newest first); the rest are ignored with a warning. feedparser
still reads the whole body, so parse time is bounded by fetch.max_bytes.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from . import fastfeed
from .config import FetchConfig, SourceConfig
from .errors import ParseError
from .model import Entry
from .sanitize import first_paragraph, html_to_text, plain_text, sanitize_html, strip_controls

EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=10)
UNTITLED_WORDS = 12
DEFAULT_MAX_ENTRIES = FetchConfig().max_entries
_RSS_AUTHOR = re.compile(r"^\s*[^\s()]+@[^\s()]+\s*\((?P<name>[^()]+)\)\s*$")  # "a@b.c (Name)"


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: tuple[Entry, ...]
    warnings: tuple[str, ...] = ()
    # The plain text of each entry's body (html_to_text), made while parsing anyway:
    # topic keywords are matched in it.
    body_texts: tuple[str, ...] = ()


def plausible_date(when: datetime | None, now: datetime) -> datetime | None:
    """The date if it is believable for a news story, else None."""
    if when is None:
        return None
    when = when.astimezone(UTC).replace(microsecond=0)
    if when < EARLIEST_PLAUSIBLE or when > now + CLOCK_SKEW:
        return None
    return when


def parse_feed(
    body: bytes,
    source: SourceConfig,
    *,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> ParsedFeed:
    """Parse a fetched body; raise ParseError naming the source when it is not a feed."""
    now = now or datetime.now(UTC)
    url = url or source.url
    headers = dict(headers or {})
    if _looks_like_json(body, headers):
        return _parse_json_feed(body, source, url, now, max_entries)
    return _parse_xml_feed(body, source, url, headers, now, max_entries)


def _newest(
    items: list[Any], dates: list[datetime | None], max_entries: int, source: SourceConfig
) -> tuple[list[tuple[int, Any]], list[str]]:
    """The (index, item) pairs to read: all, or the newest max_entries and a warning."""
    numbered = list(enumerate(items))
    if len(items) <= max_entries:
        return numbered, []
    if all(dates):
        # Sorted by date, then back in document order: the feed's order is kept.
        newest = sorted(numbered, key=lambda pair: dates[pair[0]], reverse=True)[:max_entries]
        kept, how = sorted(newest, key=lambda pair: pair[0]), "the newest"
    else:
        kept, how = numbered[:max_entries], "the first"
    warning = (
        f"{source.name}: {len(items):,} entries, over fetch.max_entries ({max_entries:,}): "
        f"kept {how} {max_entries:,}, ignored {len(items) - max_entries:,}"
    )
    return kept, [warning]


def _looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    # The body decides; the content type only when the body does not say
    # (servers send feeds as text/html, and JSON as text/plain).
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"["):
        return True
    if first == b"<":
        return False
    return "json" in headers.get("content-type", "").lower()


# Well-formed RSS and Atom 1.0 are read by fastfeed (lxml), which gives what
# feedparser would and declines everything else; off (tests), all goes to feedparser.
FAST_PATH = True


@functools.cache
def _feedparser() -> Any:
    """feedparser, imported on first use (a pass where every feed answers 304 parses
    nothing) and patched once."""
    import feedparser
    import feedparser.mixin

    # Text buffered (see saxreader): tried first, before feedparser's own preference.
    if "echofeed.saxreader" not in feedparser.api.PREFERRED_XML_PARSERS:
        feedparser.api.PREFERRED_XML_PARSERS.insert(0, "echofeed.saxreader")
    # feedparser resolves the base URI in force against itself at every element (two
    # urljoins each time: an eighth of its parse time). The answer is a function of
    # the two strings alone, so it is remembered.
    safe_absolute_uri = getattr(feedparser.mixin, "make_safe_absolute_uri", None)
    if safe_absolute_uri is not None and not hasattr(safe_absolute_uri, "cache_info"):
        feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=4096)(
            safe_absolute_uri
        )
    return feedparser


def _harmless_bozo(problem: object) -> bool:
    # Not malformations: a feed served as text/plain or without a content type, or
    # whose declared charset was overridden by the HTTP one, is an ordinary feed.
    feedparser = _feedparser()
    return isinstance(problem, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType)


def _parse_xml_feed(
    body: bytes,
    source: SourceConfig,
    url: str,
    headers: dict[str, str],
    now: datetime,
    max_entries: int,
) -> ParsedFeed:
    if not body.strip():
        raise ParseError(source.name, f"empty body from {url}")
    # Relative links resolve against xml:base, else Content-Location, else the
    # URL. A relative Content-Location would leave feedparser without any base.
    location = headers.get("content-location", "").strip()
    headers["content-location"] = urljoin(url, location) if location else url
    # An XML declaration must come first: drop whitespace before it (a common
    # slip of templating systems). BOM-prefixed bodies are left to feedparser.
    stripped = body.lstrip(b" \t\r\n")
    document = _drop_bad_char_refs(stripped if stripped[:1] == b"<" else body)
    fast = fastfeed.parse_fast(document, headers) if FAST_PATH else None
    if fast is not None:
        feed_title, items, warnings = fast.title, fast.entries, []
    else:
        feed_title, items, warnings = _feedparser_read(document, stripped, source, url, headers)
    feed_title = plain_text(html_to_text(feed_title)) or source.name
    dates = [_item_date(item) for item in items]
    kept, cap_warnings = _newest(items, dates, max_entries, source)
    warnings += cap_warnings
    entries, body_texts = [], []
    for index, item in kept:
        made = _xml_entry(item, source, url, now)
        if made is None:
            warnings.append(f"{source.name}: entry {index + 1} skipped: no title, link or body")
            continue
        entries.append(made[0])
        body_texts.append(made[1])
    return ParsedFeed(feed_title, tuple(entries), tuple(warnings), tuple(body_texts))


def _feedparser_read(
    document: bytes, stripped: bytes, source: SourceConfig, url: str, headers: dict[str, str]
) -> tuple[str, list[Any], list[str]]:
    """The feed's title, entries and warnings, as feedparser reads them."""
    try:
        parsed = _feedparser().parse(
            document, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as e:  # noqa: BLE001 - feedparser is lenient, but not infallible
        raise ParseError(source.name, f"feed could not be parsed: {e}") from e
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        head = stripped[:512].lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise ParseError(source.name, f"{url} is an HTML page, not an RSS or Atom feed")
        detail = f": {problem}" if problem and not _harmless_bozo(problem) else ""
        raise ParseError(source.name, f"{url} is not an RSS, Atom or JSON feed{detail}")
    warnings = []
    if parsed.get("bozo") and parsed.entries and not _harmless_bozo(problem):
        warnings.append(f"{source.name}: feed is malformed but readable: {problem}")
    return parsed.feed.get("title", ""), parsed.entries, warnings


# A numeric character reference: feedparser's lenient parser crashes on one to a
# lone surrogate (it encodes chr(0xD800) as UTF-8), losing the whole feed.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _drop_bad_char_refs(body: bytes) -> bytes:
    """The body without references to characters XML 1.0 cannot carry (ASCII-based
    encodings only; in UTF-16 the pattern does not match, and nothing changes)."""
    if b"&#" not in body:
        return body

    def replace(match: re.Match[bytes]) -> bytes:
        code = int(match[1], 16) if match[1] else int(match[2])
        if code > 0x10FFFF or strip_controls(chr(code)) == "":
            return b""
        return match[0]

    return _CHAR_REF.sub(replace, body)


def _struct_time_to_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _item_date(item: Any) -> datetime | None:
    # dict.get, not item.get: feedparser maps a missing updated_parsed to
    # published_parsed with a DeprecationWarning (its issue 310), and we ask for
    # updated_parsed exactly when published_parsed is absent or unreadable.
    return _struct_time_to_datetime(dict.get(item, "published_parsed")) or (
        _struct_time_to_datetime(dict.get(item, "updated_parsed"))
    )


def _xml_entry(
    item: Any, source: SourceConfig, url: str, now: datetime
) -> tuple[Entry, str] | None:
    # feedparser resolves the href of <link> elements itself (always); HTML
    # fields carry the xml:base in force where they appeared.
    link = _http_link(item.get("link", ""))
    content, content_base = "", url
    if item.get("content"):
        # Prefer the HTML alternative when several are given.
        detail = sorted(item["content"], key=lambda c: "html" not in c.get("type", ""))[0]
        content, content_base = _as_html(detail), detail.get("base") or url
    summary_detail = item.get("summary_detail") or {}
    summary = _as_html(summary_detail) if summary_detail else item.get("summary", "")
    summary_base = summary_detail.get("base") or url
    body_html = (
        sanitize_html(content, content_base) if content else sanitize_html(summary, summary_base)
    )
    summary_html = sanitize_html(summary, summary_base) if summary and content else ""
    date = _item_date(item)
    categories = tuple(
        term for tag in item.get("tags", []) if (term := (tag.get("label") or tag.get("term")))
    )
    author = str(item.get("author", "") or "")
    if match := _RSS_AUTHOR.match(author):
        author = match["name"]  # feedparser's author_detail garbles this form
    return _make_entry(
        source,
        origin_id=str(item.get("id", "") or "").strip(),
        title=html_to_text(item.get("title", "")),
        link=link,
        body_html=body_html,
        summary_html=summary_html,
        byline=html_to_text(author),
        published=plausible_date(date, now),
        categories=categories,
    )


def _as_html(detail: Mapping[str, Any]) -> str:
    """A feedparser text construct as HTML: plain text is escaped, not interpreted."""
    value = str(detail.get("value", "") or "")
    if detail.get("type", "text/html") == "text/plain":
        return "".join(f"<p>{_escape(p)}</p>" for p in value.split("\n\n") if p.strip())
    return value


def _http_link(link: str) -> str:
    link = (link or "").strip()
    return link if link.lower().startswith(("http://", "https://")) else ""


def _first_words(text: str, count: int = UNTITLED_WORDS) -> str:
    words = text.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


def _make_entry(
    source: SourceConfig,
    *,
    origin_id: str,
    title: str,
    link: str,
    body_html: str,
    summary_html: str,
    byline: str,
    published: datetime | None,
    categories: tuple[str, ...],
) -> tuple[Entry, str] | None:
    """The entry and the plain text of its body, or None when it has nothing to show."""
    body_html, summary_html = strip_controls(body_html), strip_controls(summary_html)
    link, origin_id = strip_controls(link), strip_controls(origin_id)
    body_text = html_to_text(body_html)
    title = plain_text(title)
    if not title and not link and not body_text:
        return None
    if not title:
        title = plain_text(_first_words(body_text) if body_text else link)
    byline = plain_text(byline)
    categories = tuple(term for c in categories if (term := plain_text(c)))
    if not origin_id:
        origin_id = link or (
            "sha256:" + hashlib.sha256(f"{source.url}\n{title}".encode()).hexdigest()
        )
    if not summary_html:
        summary_html = first_paragraph(body_html)
    entry = Entry(
        kind="feed",
        source=source.url,
        source_name=source.name,
        origin_id=origin_id[:2000],
        headline=title[:1000],
        section=source.section or "",
        published=published,
        byline=byline[:200],
        body_html=body_html,
        summary_html=summary_html,
        link=link,
        categories=tuple(c[:100] for c in categories[:20]),
    )
    return entry, body_text


def _parse_json_feed(
    body: bytes, source: SourceConfig, url: str, now: datetime, max_entries: int
) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError(source.name, f"not a JSON Feed: {e}") from e
    except RecursionError as e:
        # json recurses once per level: thousands of nested arrays exhaust the stack.
        raise ParseError(source.name, "not a JSON Feed: nested too deeply to read") from e
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/1"
    ):
        raise ParseError(source.name, "JSON without a JSON Feed 1.x version field")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(source.name, "JSON Feed without an items list")
    feed_authors = _json_authors(document)
    dates = [
        (_iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")))
        if isinstance(item, dict)
        else None
        for item in items
    ]
    kept, warnings = _newest(items, dates, max_entries, source)
    entries, body_texts = [], []
    for index, item in kept:
        if not isinstance(item, dict):
            warnings.append(f"{source.name}: item {index + 1} skipped: not an object")
            continue
        item_url = str(item.get("url") or "").strip()
        link = _http_link(urljoin(url, item_url)) if item_url else ""
        content = item.get("content_html") or ""
        if not content and item.get("content_text"):
            text = str(item["content_text"])
            content = "".join(f"<p>{_escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        summary = str(item.get("summary") or "")
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        made = _make_entry(
            source,
            origin_id=str(item.get("id") or "").strip(),
            title=html_to_text(str(item.get("title") or "")),
            link=link,
            body_html=sanitize_html(str(content), link or url),
            summary_html=f"<p>{_escape(summary)}</p>" if summary else "",
            byline=_json_authors(item) or feed_authors,
            published=plausible_date(
                _iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")),
                now,
            ),
            categories=tuple(str(t) for t in tags if isinstance(t, str | int)),
        )
        if made is None:
            warnings.append(f"{source.name}: item {index + 1} skipped: no title, link or body")
            continue
        entries.append(made[0])
        body_texts.append(made[1])
    title = plain_text(html_to_text(str(document.get("title") or ""))) or source.name
    return ParsedFeed(title, tuple(entries), tuple(warnings), tuple(body_texts))


def _json_authors(obj: dict[str, Any]) -> str:
    authors = obj.get("authors")
    if not isinstance(authors, list):
        authors = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    names = [str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")]
    return ", ".join(names)


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
