"""retention_days: old external stories leave the database and the feeds; seeds stay."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import write_seed
from .feedcheck import entries, validate_output

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rss(*items: tuple[str, str, datetime]) -> bytes:
    """An RSS 2.0 feed of (guid, title, published) items."""
    body = "".join(
        f"<item><title>{title}</title><link>https://wire.example/{guid}</link>"
        f"<guid>https://wire.example/{guid}</guid><pubDate>{format_datetime(when)}</pubDate>"
        f"<description>Story {guid}.</description></item>"
        for guid, title, when in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example/</link><description>w</description>{body}</channel></rss>"
    ).encode()


class Feed:
    """A source whose body the test changes between passes."""

    def __init__(self, httpserver, path: str, body: bytes) -> None:
        self.body = body
        httpserver.expect_request(path).respond_with_handler(self.respond)
        self.url = httpserver.url_for(path)

    def respond(self, request):  # noqa: ANN001, ANN201
        from werkzeug import Response

        return Response(self.body, content_type="application/rss+xml")


def titles(tmp_path) -> list[str]:
    return [e["title"] for e in entries(tmp_path / "feeds" / "all.atom")]


def stored(tmp_path) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        rows = db.execute("select headline, kind, withdrawn, duplicate_of from stories")
        return {headline: (kind, withdrawn, dup) for headline, kind, withdrawn, dup in rows}


def test_old_external_stories_are_pruned_seeds_and_carried_stories_stay(
    newsroom, tmp_path, httpserver
):
    wire = Feed(httpserver, "/wire.xml", rss(
        ("old", "Old Harbour Reopens", T0 - timedelta(days=20)),
        ("fresh", "Fresh Budget Vote", T0 - timedelta(days=1)),
    ))  # fmt: skip
    config = load_config(newsroom(
        sources=[{"name": "Wire", "url": wire.url, "interval": "1h"}], retention_days=30,
    ))  # fmt: skip
    write_seed(tmp_path / "seeds", "001_00000000000000a1.txt", "Our Own Scoop")
    write_seed(tmp_path / "seeds", "002_00000000000000a2.txt", "A Story We Withdrew")
    refresh(config, now=T0)
    (tmp_path / "seeds" / "002_00000000000000a2.txt").unlink()
    refresh(config, now=T0 + timedelta(days=1))
    assert set(titles(tmp_path)) == {"Old Harbour Reopens", "Fresh Budget Vote", "Our Own Scoop"}

    # 40 days on, the wire still carries both (same body): old, but not gone from the source.
    report = refresh(config, now=T0 + timedelta(days=40))
    assert report.pruned == 0
    assert "Old Harbour Reopens" in titles(tmp_path)

    # The wire drops the old story: now it is pruned, from the database and the feeds.
    wire.body = rss(("fresh", "Fresh Budget Vote", T0 - timedelta(days=1)))
    report = refresh(config, now=T0 + timedelta(days=41))
    assert report.pruned == 1, report.summary()
    validate_output(tmp_path / "feeds")
    assert set(titles(tmp_path)) == {"Fresh Budget Vote", "Our Own Scoop"}
    rows = stored(tmp_path)
    assert "Old Harbour Reopens" not in rows
    # Seeds are never pruned, the withdrawn one included (its withdrawal is remembered).
    assert rows["Our Own Scoop"][:2] == ("seed", 0)
    assert rows["A Story We Withdrew"][:2] == ("seed", 1)
    assert rows["Fresh Budget Vote"][0] == "feed"

    # Once a source is gone from the config, even its last stories expire.
    config = load_config(newsroom(sources=[], retention_days=30))
    report = refresh(config, now=T0 + timedelta(days=80))
    assert report.pruned == 1
    assert titles(tmp_path) == ["Our Own Scoop"]


def test_pruning_a_story_of_record_hands_it_to_a_remaining_copy(newsroom, tmp_path, httpserver):
    first = Feed(httpserver, "/first.xml", rss(
        ("a1", "Bridge Opens After Ten Years", T0 - timedelta(days=5)),
    ))  # fmt: skip
    second = Feed(httpserver, "/second.xml", rss(
        ("b1", "Bridge Opens After Ten Years", T0 - timedelta(days=4)),
    ))  # fmt: skip
    sources = [
        {"name": "First", "url": first.url, "interval": "1h"},
        {"name": "Second", "url": second.url, "interval": "1h"},
    ]
    config = load_config(newsroom(sources=sources, retention_days=30))
    report = refresh(config, now=T0)
    assert report.counts["new"] == 1 and report.counts["duplicate"] == 1
    [record] = entries(tmp_path / "feeds" / "all.atom")
    assert record["id"] == "https://wire.example/a1"

    first.body = rss(("a2", "Something Else Entirely", T0 + timedelta(days=39)))
    second.body = rss(
        ("b1", "Bridge Opens After Ten Years", T0 - timedelta(days=4)),
        ("b2", "Second Source Keeps Going", T0 + timedelta(days=39)),
    )
    report = refresh(config, now=T0 + timedelta(days=40))
    assert report.pruned == 1, report.summary()
    published = entries(tmp_path / "feeds" / "all.atom")
    bridge = [e for e in published if e["title"] == "Bridge Opens After Ten Years"]
    # The remaining copy is now the story of record: still published, exactly once.
    assert [e["id"] for e in bridge] == ["https://wire.example/b1"]
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        dangling = db.execute(
            "select count(*) from stories where duplicate_of is not null "
            "and duplicate_of not in (select key from stories)"
        ).fetchone()[0]
        topics_left = db.execute(
            "select count(*) from story_topics where story_key not in (select key from stories)"
        ).fetchone()[0]
    assert dangling == 0 and topics_left == 0
