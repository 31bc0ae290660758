"""The HTML pages: index.html and the seed article pages, their content and
their escaping of anything a seed, a feed or the config can put in them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import lxml.html
from lxml import etree

from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import DATA, write_seed

BASE = "http://127.0.0.1:8080/"
RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
# After every date in rss2.xml: a pass on a clock behind them would take their
# dates for implausible future ones and date the entries when first seen instead.
AFTER_FEEDS = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

HOSTILE_HEADLINE = '<script>alert(1)</script> "Breaking" & <b>bold</b>'
# A seed headline loses tag-like markup (sanitize.plain_text); quotes and & are escaped.
HOSTILE_HEADLINE_TEXT = 'alert(1) "Breaking" & bold'
HOSTILE_BYLINE = '"onload="alert(2)" Jo'
HOSTILE_SECTION = "javascript:alert(3)"
HOSTILE_TOPIC = '"><script>alert(7)</script>'
HOSTILE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Hostile Wire</title><link>https://hostile.example/</link>
<description>x</description>
<item><title>&lt;img src=x onerror=alert(5)&gt; Wire "story" about alert</title>
<link>javascript:alert(6)</link><guid isPermaLink="false">h-1</guid>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p onclick="alert(8)"&gt;Body with
&lt;a href="javascript:alert(9)"&gt;a link&lt;/a&gt;
&lt;script&gt;alert(10)&lt;/script&gt;&lt;/p&gt;</description></item>
</channel></rss>"""


def assert_harmless(path: Path) -> lxml.html.HtmlElement:
    """No script, no event handler, no javascript: URL; a CSP that forbids scripts."""
    raw = path.read_text(encoding="utf-8")
    document = lxml.html.fromstring(raw)
    assert document.xpath("//script") == [], f"{path}: a script element"
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"{path}: {name}= on <{element.tag}>"
            if name in ("href", "src", "action"):
                assert not value.strip().lower().startswith(("javascript:", "data:")), (
                    f"{path}: {name}={value!r}"
                )
    [csp] = document.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
    assert "default-src 'none'" in csp and "script-src" not in csp
    return document


def test_hostile_titles_bylines_sections_and_links_are_escaped(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/hostile.xml").respond_with_data(HOSTILE_RSS)
    write_seed(
        tmp_path / "seeds", "001_00000000000000aa.txt", HOSTILE_HEADLINE,
        "Body <img src=x onerror=alert(4)> text.\n\nSecond.",
        byline=HOSTILE_BYLINE, section=HOSTILE_SECTION,
    )  # fmt: skip
    config = load_config(newsroom(
        sources=[{"name": 'Hostile "Wire" <i>', "url": httpserver.url_for("/hostile.xml")}],
        topics={HOSTILE_TOPIC: {"keywords": ["alert"]}},
    ))  # fmt: skip
    report = refresh(config)
    assert not report.errors, report.summary()
    feeds = tmp_path / "feeds"

    index = assert_harmless(feeds / "index.html")
    headlines = [a.text_content() for a in index.xpath("//ol[@class='headlines']/li/a")]
    assert HOSTILE_HEADLINE_TEXT in headlines
    texts = index.xpath("//ol[@class='headlines']/li")
    wire = [li for li in texts if "Wire" in li.text_content()][0]
    # The entry's javascript: link is not made a link at all (and feedparser already
    # took the markup out of its title: a feed title is HTML in RSS practice).
    assert wire.xpath(".//a") == [] and 'Wire "story" about alert' in wire.text_content()
    assert 'Hostile "Wire" <i>' in wire.text_content()
    assert HOSTILE_TOPIC in index.text_content()
    titles = index.xpath("//head/link[@rel='alternate']/@title")
    assert f"GlobalEcho: {HOSTILE_TOPIC}" in titles

    article = assert_harmless(feeds / "article" / "00000000000000aa.html")
    assert article.xpath("string(//h1)") == HOSTILE_HEADLINE_TEXT
    meta = article.xpath("string(//p[@class='meta'])")
    assert HOSTILE_BYLINE in meta and HOSTILE_SECTION in meta
    assert "Body <img src=x onerror=alert(4)> text." in article.text_content()
    assert article.xpath("//article//img") == []


def test_index_lists_every_feed_and_the_latest_headlines(newsroom, real_seed, tmp_path, httpserver):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    config = load_config(newsroom(
        sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
        topics={"Venezuela": {"keywords": ["Venezuela"]}},
    ))  # fmt: skip
    refresh(config, now=AFTER_FEEDS)
    feeds = tmp_path / "feeds"
    index = assert_harmless(feeds / "index.html")
    assert index.get("lang") == "en"
    relpaths = ["all", "section/news", "section/us", "topic/venezuela"]
    discovery = {
        (link.get("type"), link.get("href"))
        for link in index.xpath("//head/link[@rel='alternate']")
    }
    assert discovery == {("application/atom+xml", f"{BASE}{r}.atom") for r in relpaths} | {
        ("application/feed+json", f"{BASE}{r}.json") for r in relpaths
    }
    subscribe = set(index.xpath("//table[@class='feeds']//a/@href"))
    assert subscribe == {href for _, href in discovery}
    for _, href in discovery:
        assert (feeds / href[len(BASE) :]).is_file()
    items = index.xpath("//ol[@class='headlines']/li")
    heads = [li.xpath("string(a)") for li in items]
    # Newest first: the seed is dated when it was first seen, the pass's now.
    assert heads[:2] == [
        "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence",
        "Storm Closes Ports Along the Gulf Coast",
    ]
    assert items[0].xpath("a/@href") == ["article/8f9feb9b160033ea.html"]
    storm = items[1]
    assert storm.xpath("a/@href") == ["https://wire.example/2026/storm-ports"]
    assert "2026-11-23 08:00 UTC" in storm.text_content()

    article = assert_harmless(feeds / "article" / "8f9feb9b160033ea.html")
    assert article.xpath("string(//h1)").startswith("U.S. Commandos Face Near Miss")
    meta = article.xpath("string(//article/p[@class='meta'])")
    assert "By Ahmad Wehbe" in meta and "US" in meta and "Published 20" in meta
    assert article.xpath("//article//time/@datetime")
    body = real_seed.read_text(encoding="utf-8").split("\n")[-1]
    assert body in article.xpath("string(//article/p[2])")
    carried = article.xpath("(//p[@class='meta'])[last()]//a")
    assert [(a.text, a.get("href")) for a in carried] == [
        ("Example Wire", "https://wire.example/2026/commandos")
    ]
    assert f"{BASE}section/us.atom" in article.xpath("//head/link/@href")
    # The article page's URL is the one the feed entry points to.
    tree = etree.parse(str(feeds / "all.atom"))
    hrefs = tree.xpath("//a:entry/a:link[@rel='alternate']/@href",
                       namespaces={"a": "http://www.w3.org/2005/Atom"})  # fmt: skip
    assert f"{BASE}article/8f9feb9b160033ea.html" in hrefs


def test_pages_drop_non_http_links_even_from_stored_rows(newsroom):
    """parse.py already refuses such links; the pages must not rely on it (an older
    database, a future source type)."""
    from datetime import UTC, datetime

    from echofeed.model import SourceLink, Story
    from echofeed.pages import render_article, render_index
    from echofeed.publish import plan_feeds

    config = load_config(newsroom())
    when = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    story = Story(
        key="feed:1", atom_id="tag:x,2026:1", kind="feed", source_name="Wire",
        origin_id="1", headline="Linked", byline="", section="News",
        body_html="<p>Body</p>", summary_html="", link="javascript:alert(1)",
        published=when, updated=when,
    )  # fmt: skip
    seed = Story(
        key="seed:00000000000000aa", atom_id=BASE + "article/00000000000000aa.html",
        kind="seed", source_name="GlobalEcho", origin_id="00000000000000aa",
        headline="Seed", byline="", section="News", body_html="<p>Body</p>",
        summary_html="", link="", published=when, updated=when,
        also_carried_by=(SourceLink("Evil", " JavaScript:alert(2)"),
                         SourceLink("Data", "data:text/html,<script>alert(3)</script>")),
    )  # fmt: skip
    specs, _ = plan_feeds(config, ["News"])
    for page in (render_index(config, specs, [story, seed]), render_article(config, seed, specs)):
        document = lxml.html.fromstring(page)
        hrefs = document.xpath("//@href")
        assert hrefs and all(
            h.startswith(("http://", "https://", "article/", "../")) for h in hrefs
        )
        assert "Evil" in document.text_content() or "Linked" in document.text_content()
