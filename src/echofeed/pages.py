"""The HTML a person opens: `index.html` (every feed, the latest headlines) and
one page per seed article (`article/<id>.html`, the seed entry's alternate link).

Everything that comes from a seed or a feed is escaped, or sanitized when it
is HTML by design (an article body); URLs outside http and https are dropped.
The pages carry a Content-Security-Policy that forbids scripts, and need none:
inline CSS only, no JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlsplit

from .config import Config
from .model import Story
from .publish import (
    FeedSpec,
    alternate_url,
    article_relpath,
    feed_url,
    summary_of,
)
from .sanitize import html_to_text, sanitize_html

HEADLINES_ON_INDEX = 30
TEASER_MAX_CHARS = 240  # a line or three under each headline on the index
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src http: https:"
_CSS = """
body{margin:0 auto;max-width:42rem;padding:1.5rem 1rem 3rem;font:1.05rem/1.6 Georgia,
"Times New Roman",serif;color:#1d1d1f;background:#fdfcf8}
h1,h2,h3{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.25}
h1{font-size:1.9rem;margin:.5rem 0 .75rem}h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:1px solid #ddd;padding-bottom:.25rem}
a{color:#0b5394}a:visited{color:#5b3a8c}
.meta,.feeds td,.more{font:.9rem/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;
color:#555}
ol.headlines{list-style:none;padding:0}ol.headlines li{margin:0 0 1rem}
ol.headlines a{font-weight:600;text-decoration:none}
table.feeds{border-collapse:collapse;width:100%}
.feeds td{padding:.3rem .5rem .3rem 0;border-bottom:1px solid #eee}
article img{max-width:100%;height:auto}
blockquote{margin-left:0;padding-left:1rem;border-left:3px solid #ccc;color:#444}
nav{font:.9rem system-ui,-apple-system,"Segoe UI",sans-serif}
""".strip()


def render_index(config: Config, specs: Sequence[FeedSpec], latest: Sequence[Story]) -> bytes:
    """index.html: autodiscovery links, subscribe links for every feed, the latest headlines."""
    discovery = []
    for spec in specs:
        title = _attr(spec.title)
        discovery.append(
            f'<link rel="alternate" type="application/atom+xml" title={title} '
            f"href={_attr(feed_url(config, spec.relpath))}>"
        )
        discovery.append(
            f'<link rel="alternate" type="application/feed+json" title={title} '
            f"href={_attr(feed_url(config, spec.json_relpath))}>"
        )
    headlines = []
    for story in latest[:HEADLINES_ON_INDEX]:
        href = _local_or_safe(config, story)
        title = _text(story.headline)
        link = f"<a href={_attr(href)}>{title}</a>" if href else title
        summary, _ = summary_of(story)
        teaser = _shorten(html_to_text(summary), TEASER_MAX_CHARS)
        headlines.append(
            "<li>"
            f"{link}"
            f'<div class="meta">{_text(story.section)} · {_text(story.source_name)} · '
            f"{_time(story.published)}</div>"
            + (f"<div>{_text(teaser)}</div>" if teaser else "")
            + "</li>"
        )
    rows = []
    for group, label in (("all", "Everything"), ("section", "Section"), ("topic", "Topic")):
        for spec in (s for s in specs if s.kind == group):
            name = spec.name or label
            rows.append(
                "<tr>"
                f"<td>{_text(name)}{'' if group == 'all' else f' <small>({label})</small>'}</td>"
                f"<td><a href={_attr(feed_url(config, spec.relpath))}>Atom</a></td>"
                f"<td><a href={_attr(feed_url(config, spec.json_relpath))}>JSON Feed</a></td>"
                "</tr>"
            )
    body = (
        f"<h1>{_text(config.title)}</h1>\n"
        "<h2>Latest headlines</h2>\n"
        + (
            f'<ol class="headlines">\n{chr(10).join(headlines)}\n</ol>\n'
            if headlines
            else "<p>No stories yet.</p>\n"
        )
        + "<h2>Subscribe</h2>\n"
        "<p>Add one of these addresses to your feed reader.</p>\n"
        f'<table class="feeds">\n{chr(10).join(rows)}\n</table>\n'
        f'<p class="more">All feeds as an <a href="{_url(config.base_url + "index.opml")}">'
        "OPML list</a>.</p>\n"
    )
    return _page(config, config.title, "\n".join(discovery), body)


def render_article(config: Config, story: Story, specs: Sequence[FeedSpec]) -> bytes:
    """article/<id>.html: a seed story with its byline, section, dates and sources."""
    byline = f"By {_text(story.byline)} · " if story.byline else ""
    dates = f"Published {_time(story.published)}"
    if story.updated > story.published:
        dates += f" · updated {_time(story.updated)}"
    section_spec = next((s for s in specs if s.kind == "section" and s.name == story.section), None)
    section = _text(story.section)
    if section_spec is not None:
        section = f"<a href={_attr(feed_url(config, section_spec.relpath))}>{section}</a>"
    sources = [_text(story.source_name)]
    for carrier in story.also_carried_by:
        href = _safe_url(carrier.link)
        sources.append(
            f"<a href={_attr(href)}>{_text(carrier.name)}</a>" if href else _text(carrier.name)
        )
    sources = list(dict.fromkeys(sources))
    topics = ", ".join(_text(t) for t in story.topics)
    discovery = "\n".join(
        f'<link rel="alternate" type="application/atom+xml" title={_attr(s.title)} '
        f"href={_attr(feed_url(config, s.relpath))}>"
        for s in specs
        if s.kind == "all" or s is section_spec
    )
    body = (
        f'<nav><a href="../index.html">{_text(config.title)}</a></nav>\n'
        "<article>\n"
        f"<h1>{_text(story.headline)}</h1>\n"
        f'<p class="meta">{byline}{section} · {dates}</p>\n'
        f"{sanitize_html(story.body_html)}\n"
        "</article>\n"
        f'<p class="meta">Carried by {", ".join(sources)}'
        + (f" · Topics: {topics}" if topics else "")
        + "</p>\n"
    )
    return _page(config, f"{story.headline} · {config.title}", discovery, body)


def _page(config: Config, title: str, head_extra: str, body: str) -> bytes:
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang={_attr(config.language)}>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n"
        f"{head_extra}\n"
        f"<style>\n{_CSS}\n</style>\n"
        "</head>\n<body>\n"
        f"{body}"
        "</body>\n</html>\n"
    )
    return page.encode("utf-8")


def _local_or_safe(config: Config, story: Story) -> str:
    if story.kind == "seed":
        return article_relpath(story)  # relative: works from a file:// copy too
    return _safe_url(alternate_url(config, story))


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,;:-\u2026") + "\u2026"


def _safe_url(url: str) -> str:
    """The URL if it is http or https, else "" (no javascript:, data: or relative tricks)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def _text(text: str) -> str:
    return escape(text, quote=False)


def _attr(value: str) -> str:
    return f'"{escape(value, quote=True)}"'


def _url(value: str) -> str:
    return escape(value, quote=True)


def _time(when: datetime) -> str:
    return f'<time datetime="{when.isoformat()}">{when:%Y-%m-%d %H:%M} UTC</time>'
