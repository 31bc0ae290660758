"""Feed bytes -> entries: every format, encoding, fallback and hostile input, from fixture files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echofeed.config import SourceConfig
from echofeed.errors import ParseError
from echofeed.parse import parse_feed
from echofeed.sanitize import html_to_text, sanitize_html

from .conftest import DATA

FEEDS = DATA / "feeds"
SOURCE = SourceConfig("Test Source", "http://feeds.example/dir/feed.xml")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def parse(name: str, headers: dict[str, str] | None = None, **kwargs):
    return parse_feed((FEEDS / name).read_bytes(), SOURCE, headers=headers, now=NOW, **kwargs)


def one(name: str, headers: dict[str, str] | None = None):
    [entry] = parse(name, headers).entries
    return entry


def test_rss_091():
    feed = parse("rss091.xml")
    assert feed.title == "Old Netscape Wire" and not feed.warnings
    entry = one("rss091.xml")
    assert (entry.headline, entry.link) == ("Harbour Reopens After Repairs",
                                            "http://old.example/harbour.html")  # fmt: skip
    assert entry.origin_id == entry.link  # no guid: the link is the id
    assert entry.published is None  # no date: the store dates it when first seen


def test_rss_092_item_without_title_takes_first_words_of_its_body():
    untitled, titled = parse("rss092.xml").entries
    assert untitled.headline == "An item with no title and no link, only this body text…"
    assert untitled.origin_id.startswith("sha256:") and untitled.link == ""
    assert untitled.categories == ("Notes",)
    assert titled.headline == "Titled & Linked"


def test_rss_10_rdf():
    entry = one("rss10.rdf")
    assert entry.headline == "Parliament Passes Budget"
    assert entry.published == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert entry.byline == "Jo Clerk"


def test_rss_20_author_name_and_guid():
    storm, commandos, _ = parse("rss2.xml").entries
    assert storm.byline == "Maria Lopez"  # not "desk@wire.example (Maria Lopez)"
    assert commandos.origin_id == "wire-4411"
    assert storm.body_html == "<p>A storm closed ports.</p><p>Shipping waits.</p>"


def test_atom_03():
    entry = one("atom03.xml")
    assert entry.headline == "Museum Opens New Wing"
    assert entry.origin_id == "tag:a03.example,2026:museum"
    assert entry.published == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    assert entry.byline == "Kim Curator" and entry.body_html == "<p>A new wing opened.</p>"


def test_atom_10_plain_text_summary_is_escaped_not_interpreted():
    _, caracas = parse("atom10.xml").entries
    assert caracas.body_html == "<p>Negotiators arrive in the capital.</p>"


def test_json_feed_10():
    feed = parse("jsonfeed10.json")
    assert feed.title == "JSON One"
    bridge, untitled = feed.entries
    assert bridge.headline == "Bridge Opens to Traffic" and bridge.byline == "Feed Author"
    assert bridge.body_html == "<p>The bridge <b>opened</b>.</p>"  # script gone
    assert bridge.categories == ("Transport",)
    assert untitled.headline == "No title here, just a plain text body. Second paragraph."
    assert (
        untitled.body_html
        == "<p>No title here, just a plain text body.</p><p>Second paragraph.</p>"
    )
    assert untitled.published == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # date_modified, +01:00


def test_json_feed_11_with_authors_and_skipped_items():
    feed = parse("jsonfeed11.json")
    [entry] = feed.entries
    assert entry.byline == "Ana Rail, Bo Track"
    assert entry.published == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    assert entry.summary_html == "<p>Trains run again.</p>"
    assert feed.warnings == (
        "Test Source: item 2 skipped: no title, link or body",
        "Test Source: item 3 skipped: not an object",
    )


def test_json_feed_is_recognised_by_its_body_whatever_the_content_type():
    body = (FEEDS / "jsonfeed11.json").read_bytes()
    for content_type in ("text/plain", "text/html", "application/octet-stream"):
        feed = parse_feed(body, SOURCE, headers={"content-type": content_type}, now=NOW)
        assert feed.entries[0].headline == "Rail Strike Ends"
    # and an XML feed labelled as JSON is still read as XML
    rss = parse_feed((FEEDS / "rss2.xml").read_bytes(), SOURCE,
                     headers={"content-type": "application/json"}, now=NOW)  # fmt: skip
    assert len(rss.entries) == 3


@pytest.mark.parametrize("problem", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": "no"}', "without an items list"),
    (b'{"title": "no version", "items": []}', "without a JSON Feed 1.x version"),
    (b'{"version": "https://jsonfeed.org/version/1", "items": [', "not a JSON Feed"),
])  # fmt: skip
def test_broken_json_feeds_name_the_source_and_the_problem(problem):
    body, words = problem
    with pytest.raises(ParseError, match=f"^Test Source: .*{words}"):
        parse_feed(body, SOURCE, now=NOW)


TEXT = "Café “quoted” naïve — déjà vu"
LATIN = "Café crème brûlée à la française"


@pytest.mark.parametrize(("name", "expected"), [
    ("enc-cp1252-undeclared.xml", TEXT),  # chardet's guess
    ("enc-latin1-undeclared.xml", LATIN),
    ("enc-latin1-declared.xml", LATIN),
    ("enc-utf8-bom.xml", TEXT),
    ("enc-utf16le.xml", TEXT),
    ("enc-utf16be.xml", TEXT),
    ("enc-utf32le.xml", TEXT),
    ("enc-leading-whitespace.xml", TEXT),
])  # fmt: skip
def test_encodings(name, expected):
    entry = one(name)
    assert entry.headline == expected
    assert expected in html_to_text(entry.body_html)


def test_http_charset_overrides_the_xml_declaration():
    # The file says utf-8 but is latin-1, as its server says (RFC 7303).
    headers = {"content-type": "application/rss+xml; charset=ISO-8859-1"}
    assert one("enc-header-charset.xml", headers).headline == LATIN


def test_bozo_feed_still_yields_entries_with_a_warning():
    feed = parse("bozo.xml")
    assert [e.headline for e in feed.entries] == ["Fish & Chips Shop Wins Award", "Second Item"]
    [warning] = feed.warnings
    assert warning.startswith("Test Source: feed is malformed but readable:")


def test_a_feed_served_with_a_wrong_content_type_is_read_without_warning():
    feed = parse("rss2.xml", {"content-type": "text/html; charset=utf-8"})
    assert len(feed.entries) == 3 and feed.warnings == ()


def test_relative_links_resolve_against_xml_base():
    first, second = parse("atom10-xmlbase.xml").entries
    assert first.link == "http://base.example/news/2026/relative.html"
    assert 'src="http://media.example/img/photo.jpg"' in first.body_html  # content's own base
    assert 'href="http://media.example/story.html"' in first.body_html
    assert second.link == "http://base.example/other/page.html"  # entry's xml:base="/other/"
    assert 'href="http://base.example/other/note.html"' in second.body_html


def test_relative_links_resolve_against_the_feed_url_without_xml_base():
    entry = one("rss2-relative.xml")
    assert entry.link == "http://feeds.example/stories/relative.html"
    assert 'href="http://feeds.example/dir/more.html"' in entry.body_html
    assert 'src="http://feeds.example/img/a.png"' in entry.body_html


def test_relative_links_resolve_against_the_url_after_redirects():
    body = (FEEDS / "rss2-relative.xml").read_bytes()
    [entry] = parse_feed(body, SOURCE, url="https://moved.example/new/feed", now=NOW).entries
    assert entry.link == "https://moved.example/stories/relative.html"


def test_fallbacks_for_missing_id_title_and_date_and_the_skipped_entry():
    feed = parse("fallbacks.xml")
    by_title = {e.headline: e for e in feed.entries}
    assert by_title["Link But No Guid"].origin_id == "http://fb.example/no-guid"
    hashed = by_title["Neither Guid Nor Link"].origin_id
    assert hashed.startswith("sha256:") and len(hashed) == 7 + 64
    assert parse("fallbacks.xml").entries[1].origin_id == hashed  # stable across parses
    untitled = "Only a body with more than twelve words in it so that…"
    assert untitled in by_title
    assert by_title["Future Date"].published is None  # in the future: first seen instead
    assert by_title["Ancient Date"].published is None  # before 1995: first seen instead
    assert "Test Source: entry 4 skipped: no title, link or body" in feed.warnings
    assert len(feed.entries) == 5


def test_hostile_html_is_sanitized_and_titles_are_plain_text():
    feed = parse("hostile.xml")
    assert feed.title == "Hostile"
    entry, js_link = feed.entries
    assert entry.headline == "Bold Title"
    stored = (entry.body_html + entry.summary_html).lower()
    for bad in ("<script", "alert(", "onclick", "onerror", "<iframe", "javascript",
                "<style", "<object", "<form", "<input"):  # fmt: skip
        assert bad not in stored, bad
    assert "<p>Text</p>" in entry.body_html and ">click</a>" in entry.body_html
    assert js_link.link == ""  # a javascript: entry link is no link


def test_empty_garbage_and_html_bodies_are_clear_errors():
    with pytest.raises(ParseError, match=r"^Test Source: empty body from http://"):
        parse_feed(b"  \n ", SOURCE, now=NOW)
    with pytest.raises(ParseError, match=r"^Test Source: .* is not an RSS, Atom or JSON feed"):
        parse_feed(b"\x00\x9f\x13garbage\xff" * 20, SOURCE, now=NOW)
    page = b"<!DOCTYPE html>\n<html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    with pytest.raises(ParseError, match=r"is an HTML page, not an RSS or Atom feed"):
        parse_feed(page, SOURCE, headers={"content-type": "text/html"}, now=NOW)


def test_sanitize_html_drops_scripts_handlers_iframes_and_javascript_urls():
    dirty = ('<p onmouseover="x()">a<script>b()</script><iframe src="http://e/"></iframe>'
             '<a href="javascript:c()">d</a><a href=" JAVASCRIPT:e()">f</a>'
             '<img src="data:image/png;base64,AAAA"><a href="rel">g</a></p>')  # fmt: skip
    clean = sanitize_html(dirty, "http://base.example/x/")
    assert clean == (
        '<p>a<a rel="noopener noreferrer nofollow">d</a><a rel="noopener noreferrer nofollow">f</a>'
        '<img><a href="http://base.example/x/rel" rel="noopener noreferrer nofollow">g</a></p>'
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_entries_or_our_own_error(body):
    try:
        feed = parse_feed(body, SOURCE, now=NOW)
    except ParseError as e:
        assert str(e).startswith("Test Source: ")
    else:
        for entry in feed.entries:
            assert "<script" not in entry.body_html.lower()


def test_a_relative_content_location_header_is_resolved_against_the_url():
    body = (FEEDS / "rss2-relative.xml").read_bytes()
    headers = {"content-location": "/mirror/feed.xml"}
    [entry] = parse_feed(body, SOURCE, headers=headers, now=NOW).entries
    assert 'href="http://feeds.example/mirror/more.html"' in entry.body_html


def test_json_feed_relative_item_urls_resolve_against_the_feed_url():
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J",
                "items": [{"id": "1", "url": "/posts/1", "title": "Relative"}]}"""
    [entry] = parse_feed(body, SOURCE, now=NOW).entries
    assert entry.link == "http://feeds.example/posts/1"
