"""What HTML from a seed or a feed may carry into our output, and its plain text.

nh3 (ammonia) keeps an allow-list of tags and attributes: no script, style,
iframe, object or form, no event handlers, and only http, https and mailto
URLs, so `javascript:` links are dropped. It runs when an entry is stored and
again when a feed is written, so a stored row from an older, laxer version
cannot leak through.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

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


def sanitize_html(fragment: str, base_url: str | None = None) -> str:
    """Safe HTML: allow-listed tags only; relative links made absolute against base_url."""
    if not fragment:
        return ""

    def resolve(element: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES and base_url:
            return urljoin(base_url, value.strip())
        return value

    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=resolve,
        strip_comments=True,
    ).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, spaces folded."""
    if not fragment:
        return ""
    # Sanitize first so the text of <script> and <style> elements is gone too.
    text = nh3.clean(
        fragment, tags=_BLOCK_TAGS, attributes={}, clean_content_tags={"script", "style"}
    )
    text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.replace("\u200b", "").split())


def first_paragraph(fragment: str) -> str:
    """The first <p> of sanitized HTML, else the whole fragment."""
    match = re.search(r"<p[ >].*?</p>", fragment, re.DOTALL)
    return match.group(0) if match else fragment
