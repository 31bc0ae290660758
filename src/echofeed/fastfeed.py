"""The fast path for well-formed RSS and Atom 1.0: lxml, giving what feedparser gives.

feedparser reads a feed through SAX, with Python code for every element, at a
few MB/s; lxml builds the tree in C at about 180 MB/s. This module walks that
tree and reproduces, for the fields parse.py reads (an entry's title, link, id,
content, summary and summary_detail, published_parsed, updated_parsed, tags and
author; the feed's title), exactly what feedparser's strict parser would have
put there: the same precedence rules between duplicate elements (its depth
bookkeeping, `title_depth`, `hasContent`, a guid standing in for the link),
the same text clean-up (strip, the Latin-1-read-as-UTF-8 repair, the
Windows-1252 code points), the same xml:base arithmetic, and feedparser's own
date parser on the same strings.

It declines (returns None, and parse.py hands the body to feedparser) whenever
it cannot promise that:
- the bytes are not what feedparser would decode as UTF-8 (another charset, a
  BOM other than UTF-8's, an HTTP charset that differs from the document's);
- lxml finds the document not well-formed, or reports anything at all, or it
  has a DOCTYPE (so entities are never declared, and never expanded);
- the root is not `<rss>` (any version: feedparser reads them alike) with one
  `<channel>`, nor an Atom 1.0 `<feed>`; an item/entry sits anywhere else, or
  carries attributes (rdf:about, CDF's href and lastmod);
- a namespace is declared in a way that makes feedparser's element names differ
  from the obvious ones (a prefix bound to two namespaces, the default one
  excepted when both are namespaces feedparser knows; one unknown namespace
  under two prefixes; RSS 1.0/0.90 and Atom 0.3 namespaces, which change its
  version...);
- an element feedparser has a handler for is not in the lists below (handled,
  or known to touch none of the fields above); an element it has no handler
  for would be stored under a key those fields use;
- a text element (title, summary, content...) not of type xhtml holds child
  elements or comments (feedparser would switch it to XHTML, or drop a <div>),
  or has a `mode` attribute or a type feedparser would base64-decode; inline
  XHTML is serialized as feedparser does, but declined when it holds an element
  feedparser has a handler for (it calls the end handler), svg or math, a
  processing instruction, or a namespaced attribute;
- an author holds an element with children, or one feedparser has a handler for
  other than name, email and uri; a contributor anything but those.

Elements feedparser has no handler for (wfw:, slash:, feedburner:, sy:, yt:,
media:community...) only add keys parse.py never reads, and are walked for the
handled elements they might contain.
"""

from __future__ import annotations

import codecs
import html
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
# A DOCTYPE after the XML declaration, comments and processing instructions.
# Each part stops at its first end, so a body without one costs a glance.
_DOCTYPE = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s|<\?(?:[^?]|\?(?!>))*\?>|<!--(?:[^-]|-(?!->))*-->)*<!DOCTYPE"
)
_CP1252_RANGE = re.compile("[\x80-\x9f]")
# feedparser takes any attribute named base (xml:base, or in any namespace, any case).
# (A string, evaluated per document: a compiled XPath object is not for several threads.)
_ANY_BASE_ATTRIBUTE = "boolean(//@*[translate(local-name(), 'BASE', 'base') = 'base'])"
# feedparser's, for an email address in an author's name (TLDs of 2 to 4 letters).
_AUTHOR_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_XML_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")  # feedparser's own
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_CONTENT_TYPES = frozenset({"text/plain", "text/html", "application/xhtml+xml"})
# Codecs that decode an all-ASCII body to the same text as UTF-8 does.
_ASCII_SAFE = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252"})
_UTF8_NAMES = frozenset({"utf-8"})

# feedparser element names (prefix_local, as its handlers are named) by what
# they do to the fields we read.
_TITLE = frozenset({"title", "dc_title", "media_title"})
_DESCRIPTION = frozenset({"description", "dc_description", "media_description"})
_SUMMARY = frozenset({"summary", "itunes_summary"})
_PUBLISHED = frozenset({"pubdate", "published", "issued", "dcterms_issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
_CATEGORY = frozenset({"category", "dc_subject", "media_category", "keywords"})
_AUTHOR = frozenset({"author", "managingeditor", "dc_author", "dc_creator", "itunes_author"})
_AUTHOR_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
# Text constructs whose value we never read: only their emptiness of children matters.
_OTHER_TEXT = frozenset(
    {"rights", "copyright", "dc_rights", "subtitle", "tagline", "itunes_subtitle", "info",
     "feedburner_browserfriendly"}
)  # fmt: skip
# Handlers that touch only keys we never read, anywhere.
_HARMLESS = frozenset(
    {"enclosure", "media_thumbnail", "media_content", "media_group", "media_player",
     "media_rating", "media_credit", "media_restriction", "media_license", "itunes_image",
     "itunes_link", "itunes_explicit", "itunes_block", "created", "dcterms_created",
     "expirationdate", "language", "dc_language", "dc_publisher", "webmaster", "generator",
     "cloud", "georss_point", "newlocation"}
)  # fmt: skip
# Harmless at the feed level only (they write to the feed's own keys).
_FEED_HARMLESS = _HARMLESS | frozenset(
    {"link", "id", "guid", "contributor", "dc_contributor", "itunes_owner", "itunes_name",
     "itunes_email", "itunes_category", "itunes_keywords", "media_keywords", "width", "height",
     "email", "name", "uri", "url", "homepage"}
) | _PUBLISHED | _UPDATED | _CATEGORY | _AUTHOR  # fmt: skip
# Keys an element without a handler must not be stored under (feedparser keeps
# such an element's text under its name): ours, and those handlers index into.
_RESERVED = frozenset(
    {"title", "title_detail", "link", "links", "id", "guidislink", "content", "summary",
     "summary_detail", "published", "published_parsed", "updated", "updated_parsed", "tags",
     "author", "author_detail", "authors", "contributors", "publisher", "publisher_detail",
     "image", "textinput", "source", "href", "where", "media_content", "media_thumbnail",
     "media_credit", "media_rating", "media_restriction", "media_license", "media_player",
     "entries", "feed", "items", "channel", "date", "date_parsed", "modified", "issued",
     "description", "description_detail", "copyright", "tagline", "url", "guid", "category",
     "enclosures", "license", "subtitle", "subtitle_detail", "rights", "rights_detail"}
)  # fmt: skip


class Declined(Exception):
    """The document is not one the fast path can read exactly like feedparser."""


class FastFeed:
    """What parse.py reads of feedparser's result: the feed title and the entries
    as dicts holding the same keys and values as feedparser's entries."""

    __slots__ = ("title", "entries")

    def __init__(self, title: str, entries: list[dict[str, Any]]) -> None:
        self.title, self.entries = title, entries


class _Feedparser:
    """The pieces of feedparser the fast path calls, imported on first use."""

    def __init__(self) -> None:
        import feedparser.api
        import feedparser.datetimes
        import feedparser.html
        import feedparser.mixin
        import feedparser.urls

        parser_class = feedparser.api.StrictFeedParser
        self.handlers = frozenset(
            name.split("_", 2)[2]
            for name in dir(parser_class)
            if name.startswith(("_start_", "_end_"))
        )
        self.handlers |= frozenset(
            name[len("_end_") :] for name in dir(parser_class) if name.startswith("_end_")
        )
        mixin = feedparser.mixin._FeedParserMixin
        self.namespaces = {uri.lower(): prefix for uri, prefix in mixin.namespaces.items()}
        self.known_prefixes = frozenset(p.lower() for p in mixin.namespaces.values() if p)
        self.looks_like_html = mixin.looks_like_html
        self.parse_date = feedparser.datetimes._parse_date
        self.urljoin = feedparser.urls._urljoin
        self.cp1252 = feedparser.html._cp1252
        self.urls = feedparser.urls


_FP: _Feedparser | None = None


def _fp() -> _Feedparser:
    global _FP
    if _FP is None:
        _FP = _Feedparser()
    return _FP


def parse_fast(body: bytes, headers: Mapping[str, str]) -> FastFeed | None:
    """The feed as feedparser would read our fields of it, or None to use feedparser.

    `body` is what would be handed to feedparser.parse, `headers` its
    response_headers (with content-location, the base of relative links)."""
    try:
        result = _read(body, headers)
    except Exception:  # noqa: BLE001 - a bug here must not cost the feed: feedparser reads it
        log.warning("fast path failed on a body; feedparser reads it", exc_info=True)
        return None
    return result if isinstance(result, FastFeed) else None


def why_declined(body: bytes, headers: Mapping[str, str]) -> str | None:
    """Why parse_fast declines this body (None: it does not), for tests and diagnosis;
    an unexpected error is raised, not hidden."""
    result = _read(body, headers)
    return None if isinstance(result, FastFeed) else result


def _read(body: bytes, headers: Mapping[str, str]) -> FastFeed | str:
    if not _decodes_as_utf8(body, headers):
        return "feedparser would not decode it as UTF-8"
    try:
        return _Reader(_fp(), headers.get("content-location", "")).read(body)
    except Declined as e:
        return str(e)


def _decodes_as_utf8(data: bytes, headers: Mapping[str, str]) -> bool:
    """Whether feedparser's convert_to_utf8 would read the body as UTF-8 (or, for an
    all-ASCII body, as any ASCII-compatible charset), and lxml would too."""
    bom = ""
    if data[:3] == codecs.BOM_UTF8:
        bom, data = "utf-8", data[3:]
    elif data[:1] != b"<":
        return False  # UTF-16/32, EBCDIC, or leading junk: feedparser's business
    match = _XML_ENCODING.match(data)
    try:
        declared = match.group(1).decode("utf-8").lower() if match else ""
    except UnicodeDecodeError:
        return False
    is_ascii = data.isascii()
    if declared and _codec(declared) not in (_ASCII_SAFE if is_ascii else _UTF8_NAMES):
        return False  # lxml decodes by the declaration
    content_type, _, params = (headers.get("content-type") or "").partition(";")
    content_type = content_type.strip()
    http_charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            http_charset = value.strip().strip("\"'")
    # convert_to_utf8's choice of the first encoding to try (RFC 3023).
    if content_type in (
        "application/xml",
        "application/xml-dtd",
        "application/xml-external-parsed-entity",
    ) or (content_type.startswith("application/") and content_type.endswith("+xml")):
        first = http_charset or declared or "utf-8"
    elif content_type.startswith("text/"):
        first = http_charset or "us-ascii"
    elif headers and "content-type" not in headers:
        first = declared or "iso-8859-1"
    else:
        first = declared or "utf-8"
    for proposed in (first, declared, bom):
        if not proposed:
            continue
        codec = _codec(proposed)
        if codec in _UTF8_NAMES or (is_ascii and codec in _ASCII_SAFE):
            return True
        if codec == "ascii":
            continue  # fails on a non-ASCII body; feedparser tries the next one
        return False
    return False


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        recover=False,
        collect_ids=False,
        strip_cdata=True,
    )


class _Reader:
    """One document: feedparser's strict-parser state, for the elements we allow."""

    def __init__(self, fp: _Feedparser, base: str) -> None:
        self.fp = fp
        self.base = base  # feedparser's baseuri: content-location
        self.bases: list[str] = []
        self.depth = 0
        self.title_depth = -1
        self.has_content = 0
        self.guid_is_link = False
        self.in_image = self.in_textinput = False
        self.has_summary: set[str] = set()  # feed-level contexts holding a 'summary'
        self.feed_title: str | None = None
        self.atom = False
        self.entries: list[dict[str, Any]] = []
        self.names: dict[str, tuple[str, bool]] = {}
        self.prefix_of: dict[str, str] = {}
        self._same_base: dict[str, str] = {}
        self.fixed_base = False
        self.dates: dict[str, Any] = {}

    # -- document ---------------------------------------------------------

    def read(self, body: bytes) -> FastFeed:
        # Not even handed to lxml: it would read the internal subset, and fetch an
        # external parameter entity from a file (the network is off) before we
        # could decline.
        if _DOCTYPE.match(body):
            raise Declined("a DOCTYPE")
        parser = _new_parser()
        try:
            root = etree.fromstring(body, parser)
        except etree.XMLSyntaxError as e:
            raise Declined(f"not well-formed: {e}") from e
        if len(parser.error_log):  # an unbound prefix, or anything lxml only warned about
            raise Declined(f"lxml reported: {parser.error_log[0].message}")
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.xml_version != "1.0":
            raise Declined("a DOCTYPE, or not XML 1.0")
        if body.count(b"xmlns") != len(root.nsmap):
            self._check_namespaces(root)  # declarations below the root, maybe
        else:
            self._check_bindings(root.nsmap.items())
        if not root.xpath(_ANY_BASE_ATTRIBUTE):
            self._fix_base()
        if root.tag == "rss":
            self._read_rss(root)
        elif root.tag == f"{{{ATOM_NS}}}feed":
            self.atom = True
            self._enter(root)
            self._walk_feed(root)
            self._leave()
        else:
            raise Declined(f"root is {root.tag}")
        return FastFeed(self.feed_title or "", self.entries)

    def _check_namespaces(self, root: etree._Element) -> None:
        """Declarations that keep feedparser's element names the obvious ones."""
        bound: dict[str | None, str] = {}
        bindings: set[tuple[str | None, str]] = set()
        for el in root.iter(tag=etree.Element):
            for prefix, uri in el.nsmap.items():
                if bound.setdefault(prefix, uri) != uri:
                    # The default namespace may change between namespaces feedparser
                    # knows (Atom, then XHTML in a <div>): it names elements by
                    # namespace, not by prefix.
                    known = self.fp.namespaces
                    if prefix is not None or uri.lower() not in known:
                        raise Declined(f"prefix {prefix} bound to two namespaces")
                    if bound[prefix].lower() not in known:
                        raise Declined(f"prefix {prefix} bound to two namespaces")
                bindings.add((prefix, uri))
        self._check_bindings(bindings)

    def _check_bindings(self, bindings: Iterable[tuple[str | None, str]]) -> None:
        known = self.fp.namespaces
        known_prefixes: set[str] = set()
        for prefix, uri in bindings:
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                raise Declined("a userland namespace")
            standard = known.get(lower)
            if standard == "" and uri != ATOM_NS:  # RSS 1.0/0.90, Atom 0.3...: another version
                raise Declined(f"namespace {uri}")
            if standard is not None:
                if prefix is not None:
                    known_prefixes.add(prefix.lower())
                    if prefix != standard and prefix.lower() in self.fp.known_prefixes:
                        raise Declined(f"prefix {prefix} for {uri}")
                continue
            if uri in self.prefix_of:
                raise Declined(f"namespace {uri} under two prefixes")
            # feedparser names an element of an unknown namespace by its prefix;
            # as the default namespace, by its local name alone (WordPress's
            # <post-id xmlns="com-wordpress:feed-additions:1">).
            self.prefix_of[uri] = prefix.lower() if prefix is not None else ""
        # feedparser maps an element's prefix once more through the document's
        # bindings of known namespaces ('a' -> 'atom'...): only harmless when none
        # of those prefixes is the name it gives another namespace's elements.
        for prefix in self.prefix_of.values():
            if prefix and prefix in known_prefixes:
                raise Declined(f"unknown namespace under prefix {prefix}")

    def _name(self, tag: str) -> tuple[str, bool]:
        """feedparser's name for an element ('title', 'dc_creator', 'yt_videoid'),
        and whether it has a prefix."""
        known = self.names.get(tag)
        if known is not None:
            return known
        prefixed = True
        if tag[0] != "{":
            name, prefixed = tag.lower(), False
        else:
            uri, local = tag[1:].split("}", 1)
            standard = self.fp.namespaces.get(uri.lower())
            if standard is None:
                prefix = self.prefix_of.get(uri)
                if prefix is None:
                    raise Declined(f"undeclared namespace {uri}")
                if prefix:
                    name = prefix + "_" + local.lower()
                else:
                    name, prefixed = local.lower(), False
            elif standard == "":
                name, prefixed = local.lower(), False
            else:
                name = standard.lower() + "_" + local.lower()
        self.names[tag] = (name, prefixed)
        return name, prefixed

    # -- per element: depth, xml:base -------------------------------------

    def _attrs(self, el: etree._Element) -> dict[str, str]:
        """feedparser's attrs_d: lower-cased local names; rel and type values lower-cased."""
        attrs: dict[str, str] = {}
        for key, value in el.items():
            local = key.rsplit("}", 1)[-1].lower()
            if local in attrs:  # feedparser would keep one of them
                raise Declined(f"attribute {local} twice")
            attrs[local] = value.lower() if local in ("rel", "type") else value
        return attrs

    def _fix_base(self) -> None:
        """Without any base attribute, the base stays what feedparser's first
        element makes of content-location: no need to follow it element by element."""
        base = self.base
        for _ in range(3):
            if not base:
                break
            again = self.fp.urls.make_safe_absolute_uri(base, base) or base
            if again == base:
                break
            base = again
        else:
            return
        self.base, self.fixed_base = base, True

    def _enter(self, el: etree._Element, attrs: dict[str, str] | None = None) -> None:
        self.depth += 1
        if self.fixed_base:
            return
        base_attr = (attrs if attrs is not None else self._attrs(el)).get("base")
        if base_attr:
            if self.base:
                self.base = self.fp.urls.make_safe_absolute_uri(self.base, base_attr) or self.base
            else:
                self.base = self.fp.urljoin(self.base, base_attr)
        elif self.base:
            same = self._same_base.get(self.base)
            if same is None:
                same = self.fp.urls.make_safe_absolute_uri(self.base, self.base) or self.base
                self._same_base[self.base] = same
            self.base = same
        self.bases.append(self.base)

    def _leave(self) -> None:
        if self.fixed_base:
            self.depth -= 1
            return
        self.bases.pop()
        if self.bases and self.bases[-1]:
            self.base = self.bases[-1]
        self.depth -= 1

    # -- text, as feedparser's pop() leaves it ------------------------------

    def _text(self, el: etree._Element, xhtml: bool = False) -> str:
        if len(el):
            if xhtml:
                return self._xhtml(el)
            # feedparser would switch to inline XHTML (or drop a <div>) and serialize
            raise Declined(f"markup or a comment inside <{el.tag}>")
        text = el.text or ""
        if xhtml and text:
            text = html.escape(text, quote=False)
        return text.strip()

    def _unread_text(self, el: etree._Element, attrs: dict[str, str], default: str) -> None:
        """A text construct whose value we never read: only inline XHTML may hold markup,
        and that markup must not end in a feedparser handler."""
        if len(el):
            if _map_content_type(attrs.get("type", default)) != "application/xhtml+xml":
                raise Declined(f"markup or a comment inside <{el.tag}>")
            self._xhtml(el)

    def _xhtml(self, el: etree._Element) -> str:
        """Inline XHTML as feedparser serializes it: tags rebuilt from lower-cased local
        names and attributes, text escaped, comments dropped; in Atom 1.0, a <div>
        wrapping everything is unwrapped."""
        pieces: list[str] = []  # feedparser's pieces: each tag, each run of text
        text_last = False

        def add_text(text: str | None) -> None:
            nonlocal text_last
            if text:
                if text_last:
                    pieces[-1] += html.escape(text, quote=False)
                else:
                    pieces.append(html.escape(text, quote=False))
                    text_last = True

        def walk(node: etree._Element) -> None:
            nonlocal text_last
            add_text(node.text)
            for child in node:
                if isinstance(child.tag, str):
                    name = self._name(child.tag)[0]
                    local = child.tag.rsplit("}", 1)[-1].lower()
                    # feedparser calls the end handler of an element it serialized.
                    if name in self.fp.handlers or local in ("svg", "math"):
                        raise Declined(f"<{name}> in inline XHTML")
                    attributes = ""
                    seen: set[str] = set()
                    for key, value in child.items():
                        key = key.lower()
                        if key[0] == "{" or key in seen:
                            raise Declined("namespaced or repeated attribute in inline XHTML")
                        seen.add(key)
                        if key in ("rel", "type"):
                            value = value.lower()
                        # As feedparser writes it: only the double quote besides & < >.
                        quoted = html.escape(value, quote=False).replace('"', "&quot;")
                        attributes += f' {key}="{quoted}"'
                    pieces.append(f"<{local}{attributes}>")
                    text_last = False
                    walk(child)
                    pieces.append(f"</{local}>")
                    text_last = False
                elif child.tag is not etree.Comment:
                    raise Declined("a processing instruction in inline XHTML")
                add_text(child.tail)

        walk(el)
        if self.atom:
            while len(pieces) > 1 and not pieces[-1].strip():
                del pieces[-1]
            while len(pieces) > 1 and not pieces[0].strip():
                del pieces[0]
            first = pieces[0] if pieces else ""
            if (first == "<div>" or first.startswith("<div ")) and pieces[-1] == "</div>":
                depth = 0
                for piece in pieces[:-1]:
                    if piece.startswith("</"):
                        depth -= 1
                        if depth == 0:
                            break
                    elif piece.startswith("<") and not piece.endswith("/>"):
                        depth += 1
                else:
                    pieces = pieces[1:-1]
        return "".join(pieces).strip()

    def _clean(self, output: str) -> str:
        if not output.isascii():
            try:
                output = output.encode("iso-8859-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
            if _CP1252_RANGE.search(output):
                output = output.translate(self.fp.cp1252)
        return output

    def _content_params(self, attrs: dict[str, str], default: str) -> dict[str, Any]:
        if "mode" in attrs:
            raise Declined("mode attribute")
        kind = _map_content_type(attrs.get("type", default))
        if kind not in _CONTENT_TYPES:
            raise Declined(f"content type {kind}, which feedparser base64-decodes")
        return {"type": kind, "base": self.base}

    # -- RSS 2.0 / Atom 1.0 -----------------------------------------------

    def _read_rss(self, root: etree._Element) -> None:
        # Every RSS version (feedparser's 'rss091u', 'rss20', 'rss'...) is read alike.
        self._enter(root)
        channels = [child for child in root if isinstance(child.tag, str)]
        if len(channels) != 1 or channels[0].tag != "channel":
            raise Declined("rss children")
        channel = channels[0]
        channel_attrs = self._attrs(channel)
        if "lastmod" in channel_attrs or "href" in channel_attrs:
            raise Declined("channel attributes")
        self._enter(channel, channel_attrs)
        self._walk_feed(channel)
        self._leave()
        self._leave()

    def _walk_feed(self, parent: etree._Element) -> None:
        """The feed-level children of <channel> or <feed>, in document order."""
        entry_tag = f"{{{ATOM_NS}}}entry" if self.atom else "item"
        for el in parent:
            tag = el.tag
            if not isinstance(tag, str):
                continue
            if tag == entry_tag:
                self._read_entry(el)
            else:
                self._feed_element(el)

    def _special_hack(self, name: str, prefixed: bool) -> None:
        # feedparser leaves an <image>/<textInput> when any other unprefixed
        # element starts ("better tracking of empty textinput/image elements").
        if prefixed:
            return
        if name not in ("title", "link", "description", "name"):
            self.in_textinput = False
        if name not in ("title", "link", "description", "url", "href", "width", "height"):
            self.in_image = False

    def _feed_context(self) -> str:
        # feedparser's _get_context() outside entries.
        if self.in_image:
            return "image"
        return "textinput" if self.in_textinput else "feed"

    def _feed_element(self, el: etree._Element) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return
        name, prefixed = self._name(tag)
        attrs = self._attrs(el)
        self._enter(el, attrs)
        self._special_hack(name, prefixed)
        if name in _TITLE:
            params = self._content_params(attrs, "text/plain")
            value = self._clean(self._text(el, params["type"] == "application/xhtml+xml"))
            if not (-1 < self.title_depth <= self.depth) and self._feed_context() == "feed":
                self.feed_title = value
            if value and name != "media_title":
                self.title_depth = self.depth
        elif name in _DESCRIPTION or name in _SUMMARY:
            # Only whether the context then holds a summary, and hasContent, matter:
            # they decide how the entries' descriptions are read.
            context = self._feed_context()
            if context in self.has_summary and not self.has_content:
                default = "text/plain"
                self.has_content = 1  # feedparser reads it as content
            else:
                default = "text/html" if name in _DESCRIPTION else "text/plain"
                if name in _SUMMARY:
                    self.has_summary.add(context)
            self._content_params(attrs, default)
            self._unread_text(el, attrs, default)
        elif name in ("content", "content_encoded"):
            default = "text/plain" if name == "content" else "text/html"
            self._content_params(attrs, default)
            self._unread_text(el, attrs, default)
            self.has_content = 1
            self.has_summary.add(self._feed_context())  # every type we accept is copied
        elif name == "image":
            self.in_image = True
            self.title_depth = -1
            self._walk_children(el, self._feed_element)
            self.in_image = False
        elif name == "textinput":
            self.in_textinput = True
            self.title_depth = -1
            self._walk_children(el, self._feed_element)
            self.in_textinput = False
        elif name in _OTHER_TEXT:
            self._unread_text(el, attrs, "text/plain")
        elif name in _FEED_HARMLESS:
            self._walk_children(el, self._feed_element)
        else:
            self._unknown(name)
            self._walk_children(el, self._feed_element)
        self._leave()

    def _walk_children(self, el: etree._Element, visit: Any) -> None:
        for child in el:
            if isinstance(child.tag, str):
                visit(child)

    def _unknown(self, name: str) -> None:
        if name in self.fp.handlers:
            raise Declined(f"element {name}, which feedparser does more with")
        if name in _RESERVED or name in ("item", "entry", "feed", "channel", "rss"):
            raise Declined(f"element {name}, which feedparser keeps under a key we read")

    # -- entries -------------------------------------------------------------

    def _read_entry(self, el: etree._Element) -> None:
        attrs = self._attrs(el)
        if set(attrs) - {"base", "lang"}:
            raise Declined("entry attributes")  # rdf:about, CDF's href and lastmod
        self._enter(el, attrs)
        self.in_textinput = self.in_image = False
        entry: dict[str, Any] = {}
        self.entry, self.depths = entry, {}
        self.entries.append(entry)
        self.guid_is_link = False
        self.title_depth = -1
        self._walk_children(el, self._entry_element)
        self.has_content = 0
        self._leave()

    def _store(self, key: str, value: str) -> None:
        """pop()'s rule for an entry: the shallowest element wins, the later among equals."""
        old = self.depths.get(key)
        if old is None or self.depth <= old:
            self.depths[key] = self.depth
            self.entry[key] = value

    def _entry_element(self, el: etree._Element) -> None:
        name = self._name(el.tag)[0]
        attrs = self._attrs(el)
        self._enter(el, attrs)
        handler = _ENTRY_HANDLERS.get(name)
        if handler is not None:
            handler(self, el, attrs, name)
        elif name in _OTHER_TEXT:
            self._unread_text(el, attrs, "text/plain")
        elif name in _HARMLESS:
            self._walk_children(el, self._entry_element)
        else:
            self._unknown(name)
            self._walk_children(el, self._entry_element)
        self._leave()

    def _title(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        params = self._content_params(attrs, "text/plain")
        value = self._clean(self._text(el, params["type"] == "application/xhtml+xml"))
        if not (-1 < self.title_depth <= self.depth):
            self._store("title", value)
        if value and name != "media_title":
            self.title_depth = self.depth

    def _link(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" in attrs:
            self._text_free(el)
            href = self.fp.urljoin(self.base or "", attrs["href"])
            if rel == "alternate" and _map_content_type(attrs["type"]) in _HTML_TYPES:
                self.entry["link"] = href
            return
        output = self._text(el)
        if output:
            output = self.fp.urljoin(self.base or "", output)
        output = self._clean(output).replace("&amp;", "&")
        self.entry["link"] = _LINK_ENTITY.sub(r"&\g<1>", output)

    def _text_free(self, el: etree._Element) -> None:
        if len(el):
            raise Declined("children of <link>")

    def _guid(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        self.guid_is_link = attrs.get("ispermalink", "true") == "true"
        output = self._text(el)
        if output and self.guid_is_link:
            output = self.fp.urljoin(self.base or "", output)
        output = self._clean(output)
        self._store("id", output)
        self.entry.setdefault("guidislink", self.guid_is_link and "link" not in self.entry)
        if self.guid_is_link:
            self.entry.setdefault("link", output)

    def _description(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        if "summary" in self.entry and not self.has_content:
            self._content(el, attrs, "content_via_description")
            return
        self._summary_like(el, self._content_params(attrs, "text/html"), "summary")

    def _summary(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        if "summary" in self.entry and not self.has_content:
            self._content(el, attrs, "content_via_summary")
            return
        self._summary_like(el, self._content_params(attrs, "text/plain"), "summary")

    def _summary_like(self, el: etree._Element, params: dict[str, Any], key: str) -> None:
        output = self._text(el, params["type"] == "application/xhtml+xml")
        if not self.atom and params["type"] == "text/plain" and self.fp.looks_like_html(output):
            params["type"] = "text/html"
        output = self._clean(output)
        self._store(key, output)
        params["value"] = output
        self.entry[key + "_detail"] = params

    def _content(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        # <content>, and a description or summary read as content, go through
        # feedparser's _start_content (plain text by default, src kept).
        encoded = name == "content_encoded"
        params = self._content_params(attrs, "text/html" if encoded else "text/plain")
        if not encoded and attrs.get("src"):
            params["src"] = attrs["src"]
        self.has_content = 1
        output = self._text(el, params["type"] == "application/xhtml+xml")
        if not self.atom and params["type"] == "text/plain" and self.fp.looks_like_html(output):
            params["type"] = "text/html"
        output = self._clean(output)
        params["value"] = output
        self.entry.setdefault("content", []).append(params)
        # Every type we accept is copied to the summary when there is none yet.
        self.entry.setdefault("summary", output)

    def _date(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        value = self._clean(self._text(el))
        key = "published_parsed" if name in _PUBLISHED else "updated_parsed"
        if value not in self.dates:  # Atom's published and updated are often the same
            self.dates[value] = self.fp.parse_date(value)
        self.entry[key] = self.dates[value]

    def _category(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        if name == "media_category":
            attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        tags = self.entry.setdefault("tags", [])
        _add_tag(
            tags, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label")
        )
        value = self._clean(self._text(el))
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(tags, value, None, None)

    def _keywords(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        if attrs:
            raise Declined(
                "keywords attributes"
            )  # feedparser then stores the attributes and crashes in its handler
        output = self._clean(self._text(el))
        scheme = "http://www.itunes.com/" if name == "itunes_keywords" else None
        for term in output.split(","):
            if term.strip():
                _add_tag(self.entry.setdefault("tags", []), term.strip(), scheme, None)

    def _author(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        authors = self.entry.setdefault("authors", [])
        authors.append({})
        pieces = [el.text or ""]
        for child in el:
            if not isinstance(child.tag, str):
                pieces.append(child.tail or "")
                continue
            part = self._name(child.tag)[0]
            child_attrs = self._attrs(child)
            self._enter(child, child_attrs)
            if part not in _AUTHOR_PARTS:
                # Blogger's <gd:image/>: kept under its own name, its tail is the author's.
                self._unknown(part)
                self._text(child)
                self._leave()
                pieces.append(child.tail or "")
                continue
            value = self._text(child)
            if part in ("name", "email"):
                self._save_author(part, value)
            else:
                if value:
                    value = self.fp.urljoin(self.base or "", value)
                value = self._clean(value)
                self._store("href", value)
                self._save_author("href", value)
            self._leave()
            pieces.append(child.tail or "")
        self._store("author", self._clean("".join(pieces).strip()))
        self._sync_author()

    def _save_author(self, key: str, value: str) -> None:
        self._sync_author()
        self.entry.setdefault("authors", [{}])[-1][key] = value

    def _sync_author(self) -> None:
        """feedparser's _sync_author_detail, quirks included: while the latest author
        is still empty, it is filled from the name and email found in 'author'."""
        detail = self.entry.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                self.entry["author"] = f"{name} ({email})"
            elif name:
                self.entry["author"] = name
            elif email:
                self.entry["author"] = email
            return
        author, email = self.entry.get("author"), None
        if not author:
            return
        match = _AUTHOR_EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _contributor(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        # Its name, email and uri go to 'contributors' (and a uri to 'href'): unread.
        if name == "dc_contributor":
            self._text(el)
            return
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if self._name(child.tag)[0] not in _AUTHOR_PARTS:
                raise Declined(f"{self._name(child.tag)[0]} in a contributor")
            self._text(child)

    def _source(self, el: etree._Element, attrs: dict[str, str], name: str) -> None:
        # What a <source> holds goes to the entry's 'source'; only its effect on
        # title_depth (reset, then set by the source's own title) reaches us.
        self.title_depth = -1
        if not self.atom:
            self._text(el)
            return
        self._walk_children(el, self._source_element)

    def _source_element(self, el: etree._Element) -> None:
        name = self._name(el.tag)[0]
        attrs = self._attrs(el)
        self._enter(el, attrs)
        if name in _TITLE:
            params = self._content_params(attrs, "text/plain")
            value = self._clean(self._text(el, params["type"] == "application/xhtml+xml"))
            if value and name != "media_title":
                self.title_depth = self.depth
        elif name in _OTHER_TEXT:
            self._unread_text(el, attrs, "text/plain")
        elif name in _FEED_HARMLESS:
            self._walk_children(el, self._source_element)
        else:
            self._unknown(name)
            self._walk_children(el, self._source_element)
        self._leave()


def _map_content_type(kind: str) -> str:
    kind = kind.lower()
    if kind in ("text", "plain"):
        return "text/plain"
    if kind == "html":
        return "text/html"
    if kind == "xhtml":
        return "application/xhtml+xml"
    return kind


def _add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def _content_handler(reader: _Reader, el: Any, attrs: dict[str, str], name: str) -> None:
    reader._content(el, attrs, name)


_ENTRY_HANDLERS: dict[str, Any] = {
    **dict.fromkeys(_TITLE, _Reader._title),
    "link": _Reader._link,
    "guid": _Reader._guid,
    "id": _Reader._guid,
    **dict.fromkeys(_DESCRIPTION, _Reader._description),
    **dict.fromkeys(_SUMMARY, _Reader._summary),
    "content": _content_handler,
    "content_encoded": _content_handler,
    **dict.fromkeys(_PUBLISHED | _UPDATED, _Reader._date),
    **dict.fromkeys(_CATEGORY, _Reader._category),
    "itunes_keywords": _Reader._keywords,
    "media_keywords": _Reader._keywords,
    **dict.fromkeys(_AUTHOR, _Reader._author),
    "source": _Reader._source,
    "contributor": _Reader._contributor,
    "dc_contributor": _Reader._contributor,
}
