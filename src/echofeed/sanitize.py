"""What HTML from a seed or a feed may carry into our output, and its plain text.

nh3 (ammonia) keeps an allow-list of tags and attributes: no script, style,
iframe, object or form, no event handlers, and only http, https and mailto
URLs, so `javascript:` links are dropped. It runs when an entry is stored and
again when a feed is written, so a stored row from an older, laxer version
cannot leak through.

Nesting is capped before nh3 sees a fragment: html5ever's time grows with the
square of the depth (20k nested <div> took ~1 s per call), so one hostile item
could stall a pass. `cap_nesting` counts open tags in one regex scan and, past
MAX_NESTING (512) levels, drops the deeper tags and keeps their text: the
fragment is flattened, not cut, so no words are lost. Real articles never come
near that depth. The count is of tags as written (void elements such as <br>
excepted), so a fragment of 600 unclosed <p> is flattened too; nothing real
looks like that.

Plain-text fields (headlines, bylines, categories, publication and section
names) must be text, not markup: Atom, JSON Feed and our HTML pages escape
them, but a careless reader that renders a title as HTML would run a
`<script>` in it. `plain_text` therefore removes what a browser would read as a
tag (`<` then a letter, `/`, `!` or `?`, up to the next `>`), so
`<script>alert(1)</script>` becomes `alert(1)`, and drops the `<` of such a tag
left unclosed; a `<` before a space or a digit stays ("a < b", "i <3 it").
`strip_controls` removes what XML 1.0 cannot carry (C0 controls but tab, line
feed and carriage return; lone surrogates; U+FFFE and U+FFFF) and the C1
controls: lxml refuses the former, so one such character would make a feed
unwritable.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dfn",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "q": {"cite"},
    "blockquote": {"cite"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
_URL_ATTRIBUTES = ("href", "src", "cite")
_TAG = re.compile(r"<[^>]*>")
# Kept (attributes dropped) by the first pass of html_to_text, so that the
# text of two paragraphs does not run together; inline tags just vanish.
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
}  # fmt: skip


MAX_NESTING = 512
# A tag as browsers see one: "<" and a name; comments and the like are not counted.
_TAG_SCAN = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)[^>]*>")
_VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TAG_LIKE = re.compile(r"<[a-zA-Z/!?][^<>]*>")
_TAG_OPENER = re.compile(r"<(?=[a-zA-Z/!?])")
# What html5ever changes in text without markup: a tag or reference starts with "<" or
# "&", NUL is dropped, a leading BOM is dropped, and a lone surrogate cannot be passed.
_NEEDS_HTML_PARSER = re.compile("[<&\x00\ud800-\udfff]|^\ufeff")


def cap_nesting(fragment: str, limit: int = MAX_NESTING) -> str:
    """The fragment with tags nested deeper than `limit` dropped (their text kept)."""
    if fragment.count("<") <= limit:
        return fragment  # cannot be that deep: the common case costs one count
    pieces: list[str] = []
    depth = position = 0
    for tag in _TAG_SCAN.finditer(fragment):
        if tag[2].lower() in _VOID_TAGS:
            continue
        if tag[1]:  # a closing tag
            too_deep = depth > limit
            depth = max(depth - 1, 0)
        else:
            depth += 1
            too_deep = depth > limit
        if too_deep:
            pieces.append(fragment[position : tag.start()])
            position = tag.end()
    if not pieces:
        return fragment
    pieces.append(fragment[position:])
    return "".join(pieces)


def strip_controls(text: str) -> str:
    """The text without the characters XML 1.0 cannot carry, nor C1 controls."""
    return _NOT_XML_TEXT.sub("", text)


def plain_text(text: str) -> str:
    """A plain-text field without controls or anything a browser would take for a tag.

    Spaces are folded. Text that is nothing but tags keeps their words (only the
    `<` that opens each is dropped), so a field never becomes empty.
    """
    text = " ".join(strip_controls(text).split())
    stripped = text
    for _ in range(3):  # "<scr<script>ipt>" needs two passes; the last step is the guard
        stripped = _TAG_LIKE.sub("", stripped)
    stripped = " ".join(_TAG_OPENER.sub("", stripped).split())
    return stripped or " ".join(_TAG_OPENER.sub("", text).split())


def _cleaner(**options: Any) -> Callable[[str], str]:
    """nh3.clean with these options, as a reusable nh3.Cleaner where nh3 has one (0.3+):
    it builds its rules once instead of on every call, which was half of each call."""
    if hasattr(nh3, "Cleaner"):
        return nh3.Cleaner(**options).clean
    return functools.partial(nh3.clean, **options)


# The base URL of the sanitize_html call running in this thread: the cleaner and its
# attribute filter are shared, the base is not.
_base = threading.local()


def _resolve(element: str, attribute: str, value: str) -> str | None:
    base_url = getattr(_base, "url", None)
    if attribute in _URL_ATTRIBUTES and base_url:
        return join_url(base_url, value.strip())
    return value


# The two forms most links take, for which urljoin's answer is known without running
# it (it was a third of sanitizing an article): a path from the root, without empty
# or dot segments, ";", "?" or "#"; and a full http(s) URL whose urlsplit and
# urlunsplit give it back unchanged (lowercase scheme, plain host, no ";" in the path,
# no empty "?" or "#").
_ROOT_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,=:@%/]*")
_EMPTY_OR_DOT_SEGMENT = re.compile(r"//|/\.\.?(?:/|\Z)")
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]+)?(?:/[^\s;?#]*)?(?:\?[^\s#]+)?(?:#\S+)?"
)


@functools.lru_cache(maxsize=256)
def _scheme_and_host(base_url: str) -> tuple[str, str] | None:
    parts = urlsplit(base_url)
    return (
        (parts.scheme, parts.netloc) if parts.scheme in ("http", "https") and parts.netloc else None
    )


def join_url(base_url: str, url: str) -> str:
    """urljoin(base_url, url), faster for the common forms (tests/test_sanitize.py)."""
    # The base is read first, as urljoin does: a base it refuses raises here too.
    if url and (base := _scheme_and_host(base_url)) is not None:
        if _PLAIN_URL.fullmatch(url):
            return url
        if _ROOT_PATH.fullmatch(url) and not _EMPTY_OR_DOT_SEGMENT.search(url):
            return f"{base[0]}://{base[1]}{url}"
    return urljoin(base_url, url)


_sanitize = _cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    attribute_filter=_resolve,
    strip_comments=True,
)
_text_only = _cleaner(tags=_BLOCK_TAGS, attributes={}, clean_content_tags={"script", "style"})


def sanitize_html(fragment: str, base_url: str | None = None) -> str:
    """Safe HTML: allow-listed tags only; relative links made absolute against base_url."""
    if not fragment:
        return ""
    fragment = cap_nesting(fragment)
    _base.url = base_url
    try:
        return _sanitize(fragment).strip()
    finally:
        _base.url = None


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, spaces folded."""
    if not fragment:
        return ""
    if not _NEEDS_HTML_PARSER.search(fragment):
        # Plain text (most titles and bylines) comes out of the parser as it went in:
        # skip it (tests/test_sanitize.py checks that on every code point).
        return " ".join(fragment.replace("\u200b", "").split())
    return _parsed_text(fragment)


def _parsed_text(fragment: str) -> str:
    # Sanitize first so the text of <script> and <style> elements is gone too.
    text = _text_only(cap_nesting(fragment))
    text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.replace("\u200b", "").split())


def first_paragraph(fragment: str) -> str:
    """The first <p> of sanitized HTML, else the whole fragment."""
    match = re.search(r"<p[ >].*?</p>", fragment, re.DOTALL)
    return match.group(0) if match else fragment
