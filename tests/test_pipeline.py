"""The core pipeline end to end: real seed files, feeds served on 127.0.0.1, a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from echofeed.cli import cli
from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import DATA, write_seed
from .feedcheck import entries, validate_atom, validate_output

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
ATOM = (DATA / "feeds" / "atom10.xml").read_bytes()
# After every date in those feeds: a pass on a clock behind them would take their
# dates for implausible future ones and date the entries when first seen instead.
AFTER_FEEDS = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_real_seed_publishes_headline_byline_section_and_full_body(newsroom, real_seed, tmp_path):
    config = load_config(newsroom(topics={"Venezuela": {"keywords": ["Maduro", "Caracas"]}}))
    report = refresh(config)
    assert report.counts["new"] == 1 and not report.errors
    feeds = validate_output(tmp_path / "feeds")
    assert {p.relative_to(tmp_path / "feeds").as_posix() for p in feeds} == {
        "all.atom", "section/us.atom", "topic/venezuela.atom",
    }  # fmt: skip
    [entry] = entries(tmp_path / "feeds" / "all.atom")
    assert entry["title"] == "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence"
    assert entry["author"] == "Ahmad Wehbe"
    assert entry["id"] == "http://127.0.0.1:8080/article/8f9feb9b160033ea.html"
    assert "US" in entry["categories"] and "Venezuela" in entry["categories"]
    body = real_seed.read_text(encoding="utf-8").split("\n")[-1]
    assert len(body) > 5000
    content = etree.fromstring(f"<div>{entry['content']}</div>".encode()).xpath("string(p[1])")
    assert content == body  # the whole body, not a cut
    assert "Maduro" in entry["content"] and "Nicolás" in entry["content"]
    [section_entry] = entries(tmp_path / "feeds" / "section" / "us.atom")
    assert section_entry["id"] == entry["id"]


def test_rss_and_atom_sources_publish_and_seed_duplicate_once(
    newsroom, real_seed, tmp_path, httpserver
):
    httpserver.expect_request("/wire.xml").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    httpserver.expect_request("/paper.atom").respond_with_data(
        ATOM, content_type="application/atom+xml"
    )
    config = load_config(
        newsroom(
            sources=[
                {
                    "name": "Example Wire",
                    "url": httpserver.url_for("/wire.xml"),
                    "section": "World",
                },
                {"name": "Daily Paper", "url": httpserver.url_for("/paper.atom")},
            ],
            topics={"Venezuela": {"keywords": ["Venezuela", "Maduro", "Caracas"]}},
        )
    )
    report = refresh(config, now=AFTER_FEEDS)
    assert not report.errors, report.summary()
    assert report.counts == {"new": 5, "updated": 0, "duplicate": 1, "unchanged": 0}
    validate_output(tmp_path / "feeds")
    published = entries(tmp_path / "feeds" / "all.atom")
    titles = [e["title"] for e in published]
    # The wire's copy of the seed's story is not published again: the seed is the record.
    assert titles.count("U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence") == 1
    commandos = published[
        titles.index("U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence")
    ]
    assert commandos["author"] == "Ahmad Wehbe"
    assert ("related", "https://wire.example/2026/commandos") in commandos["links"]
    assert "Example Wire" in commandos["content"]
    assert set(titles) >= {
        "Storm Closes Ports Along the Gulf Coast", "Central Bank Holds Rates Steady",
        "Election Results Are Certified in Ohio", "Caracas Prepares for Talks",
    }  # fmt: skip
    # Newest first, by published date.
    assert [e["published"] for e in published] == sorted(
        (e["published"] for e in published), reverse=True
    )
    storm = published[titles.index("Storm Closes Ports Along the Gulf Coast")]
    assert storm["published"] == "2026-11-23T08:00:00+00:00"
    assert storm["id"] == "https://wire.example/2026/storm-ports"
    assert ("alternate", "https://wire.example/2026/storm-ports") in storm["links"]
    ohio = published[titles.index("Election Results Are Certified in Ohio")]
    assert ohio["id"] == "tag:paper.example,2026:ohio-certified"
    assert "<script" not in ohio["content"] and "alert(1)" not in ohio["content"]
    world = [e["title"] for e in entries(tmp_path / "feeds" / "section" / "world.atom")]
    assert "Storm Closes Ports Along the Gulf Coast" in world
    news = [e["title"] for e in entries(tmp_path / "feeds" / "section" / "news.atom")]
    assert news == ["Election Results Are Certified in Ohio", "Caracas Prepares for Talks"]
    topic = [e["title"] for e in entries(tmp_path / "feeds" / "topic" / "venezuela.atom")]
    assert set(topic) == {
        "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence",
        "Caracas Prepares for Talks",
    }
    opml = etree.parse(str(tmp_path / "feeds" / "index.opml"))
    urls = set(opml.xpath("//outline/@xmlUrl"))
    assert urls == {
        "http://127.0.0.1:8080/all.atom", "http://127.0.0.1:8080/section/news.atom",
        "http://127.0.0.1:8080/section/us.atom", "http://127.0.0.1:8080/section/world.atom",
        "http://127.0.0.1:8080/topic/venezuela.atom",
    }  # fmt: skip


def test_same_story_sent_twice_by_two_sources_publishes_once(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/a.xml").respond_with_data(RSS)
    httpserver.expect_request("/b.xml").respond_with_data(
        RSS.replace(b"wire.example", b"mirror.example").replace(b"wire-4411", b"m-1")
    )
    config = load_config(newsroom(sources=[
        {"name": "A", "url": httpserver.url_for("/a.xml")},
        {"name": "B", "url": httpserver.url_for("/b.xml")},
    ]))  # fmt: skip
    report = refresh(config)
    assert report.counts["new"] == 3 and report.counts["duplicate"] == 3
    published = entries(tmp_path / "feeds" / "all.atom")
    assert len(published) == 3
    # The first source seen is the story of record; the second is listed as a related link.
    assert all("wire.example" in e["id"] or e["id"] == "wire-4411" or "urn:" in e["id"]
               for e in published)  # fmt: skip
    assert all(any(rel == "related" and "mirror.example" in href for rel, href in e["links"])
               for e in published)  # fmt: skip


def test_second_refresh_with_nothing_changed_changes_no_file(
    newsroom, real_seed, tmp_path, httpserver
):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    config = load_config(newsroom(
        sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
        topics={"Venezuela": {"keywords": ["Venezuela"]}},
    ))  # fmt: skip
    refresh(config)
    before = snapshot(tmp_path / "feeds")
    report = refresh(config)
    assert report.counts["new"] == 0 and report.counts["updated"] == 0
    assert report.published is not None and report.published.written == ()
    assert snapshot(tmp_path / "feeds") == before


def test_edited_seed_keeps_id_and_published_and_moves_updated(newsroom, tmp_path):
    from datetime import UTC, datetime

    seed = write_seed(
        tmp_path / "seeds", "001_00000000000000aa.txt", "Bridge Reopens After Repairs"
    )
    config = load_config(newsroom())
    refresh(config, now=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    [before] = entries(tmp_path / "feeds" / "all.atom")
    write_seed(tmp_path / "seeds", seed.name, "Bridge Reopens After Repairs",
               "A corrected first paragraph.\n\nMore.")  # fmt: skip
    report = refresh(config, now=datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    assert report.counts["updated"] == 1
    [after] = entries(tmp_path / "feeds" / "all.atom")
    assert after["id"] == before["id"] and after["published"] == before["published"]
    assert after["updated"] == "2026-11-21T10:00:00+00:00" != before["updated"]
    assert "corrected" in after["content"]


def test_broken_source_does_not_block_others(newsroom, real_seed, tmp_path, httpserver):
    httpserver.expect_request("/ok.xml").respond_with_data(RSS)
    httpserver.expect_request("/bad.xml").respond_with_data("oops", status=500)
    config = load_config(newsroom(sources=[
        {"name": "Good", "url": httpserver.url_for("/ok.xml")},
        {"name": "Broken", "url": httpserver.url_for("/bad.xml")},
    ]))  # fmt: skip
    report = refresh(config)
    [error] = report.errors
    assert "Broken" in str(error) and "500" in str(error)
    assert len(entries(tmp_path / "feeds" / "all.atom")) == 3  # seed + 2 (one is a duplicate)
    validate_atom(tmp_path / "feeds" / "all.atom")


def test_database_is_a_real_file_that_reopens(newsroom, real_seed, tmp_path):
    refresh(load_config(newsroom()))
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        [(headline,)] = db.execute("select headline from stories").fetchall()
    assert headline.startswith("U.S. Commandos")


def test_cli_refresh_prints_summary_and_exits_0(newsroom, real_seed, tmp_path):
    result = CliRunner().invoke(cli, ["-c", str(newsroom()), "refresh"])
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output and "feeds: 3 written" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: X\nbase_url: http://x/\nfoo: 1\n", "foo: unknown key"),
        ("title: X\nbase_url: http://x/\nsources: {}\n", "sources: must be a list"),
        ("title: X\nbase_url: http://x/\nsources:\n  - name: A\n    url: ftp://x/\n",
         "sources[0].url: 'ftp://x/' is not an absolute http or https URL"),
        ("title: X\nbase_url: http://x/\nsources:\n  - name: A\n", "sources[0].url: is required"),
        ("base_url: http://x/\n", "title: is required"),
        ("title: X\nbase_url: http://x/\ntopics:\n  T:\n    keywords: 3\n",
         "topics.T.keywords: must be a list"),
        ("title: X\nbase_url: http://x/\ntitel: Y\n", "did you mean 'title'"),
        ("title: [unclosed\n", "not valid YAML"),
        # A tab, the commonest slip: named as such (libyaml's own error does not).
        ("title: X\n\tbase_url: http://x/\n",
         "line 2: not valid YAML: found character '\\t' that cannot start any token"),
    ],
)  # fmt: skip
def test_config_errors_exit_2_naming_the_key(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["-c", str(path), "refresh"])
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output


def test_missing_config_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "nope.yaml"), "refresh"])
    assert result.exit_code == 2 and "nope.yaml: no such file" in result.output


def test_paths_in_config_are_relative_to_the_config_file(
    newsroom, real_seed, tmp_path, monkeypatch
):
    config_path = newsroom()
    monkeypatch.chdir("/")
    refresh(load_config(config_path))
    assert (tmp_path / "feeds" / "all.atom").exists() and (tmp_path / "echofeed.db").exists()


def test_backoff_max_takes_a_duration_or_seconds(newsroom):
    assert load_config(newsroom(fetch={"backoff_max": "2h"})).fetch.backoff_max == 7200
    assert load_config(newsroom(fetch={"backoff_max": 90})).fetch.backoff_max == 90
    result = CliRunner().invoke(
        cli, ["-c", str(newsroom(fetch={"backoff_max": "soon"})), "refresh"]
    )
    assert result.exit_code == 2 and "fetch.backoff_max" in result.output
