"""RFC 5005 archive pages that never change once complete: a complete page keeps its
stories through retention pruning, withdrawal, takeover and re-sort, and a reader
following prev-archive from the head sees every entry exactly once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from echofeed.config import load_config
from echofeed.pipeline import refresh
from echofeed.publish import paginate

from .conftest import write_seed
from .feedcheck import entries, validate_output
from .test_publish import BASE, follow_archives
from .test_retention import Feed, rss

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def page_ids(feeds: Path, relpath: str) -> list[str]:
    return sorted(e["id"] for e in entries(feeds / relpath))


def archive_files(feeds: Path, feed: str = "all") -> dict[str, bytes]:
    folder = feeds / "archive" / feed
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.atom"))}


def read_exactly_once(feeds: Path, relpath: str = "all.atom") -> set[str]:
    """Every id a reader gets by following prev-archive from the head, each only once."""
    ids, _ = follow_archives(feeds, relpath)
    assert len(ids) == len(set(ids)), f"{relpath}: an entry is read twice: {sorted(ids)}"
    return set(ids)


def article(number: int) -> str:
    return f"{BASE}article/{number:016x}.html"


def seed_name(number: int) -> str:
    return f"{number:03d}_{number:016x}.txt"


def test_paginate_keeps_frozen_pages_and_pages_new_keys_after_them():
    keys = [f"k{n}" for n in range(9)]
    assert paginate(keys, 2) == (["k7", "k8"], [["k0", "k1"], ["k2", "k3"], ["k4", "k5"]], ["k6"])
    # k1 and k3 left the timeline (pruned, withdrawn): the frozen pages are not
    # re-cut, the rest pages after them.
    frozen = [["k0", "k1"], ["k2", "k3"]]
    live = ["k0", "k2", "k4", "k5", "k6", "k7", "k8", "k9"]
    assert paginate(live, 2, frozen) == (["k8", "k9"], [["k4", "k5"], ["k6", "k7"]], [])
    # A story that came back (a re-filed copy, a restored seed) stays on its page.
    assert paginate(["k1", "k4"], 2, frozen) == (["k4"], [], [])
    # entries_per_feed raised to 3: complete pages keep their 2, later pages hold 3.
    assert paginate(keys, 3, frozen) == (["k6", "k7", "k8"], [], ["k4", "k5"])
    with pytest.raises(ValueError):
        paginate(keys, 0)


def test_retention_keeps_complete_archive_pages_as_they_were(newsroom, tmp_path, httpserver):
    # The daemon helper's reproduction: 2 entries per page, 8 stories that then
    # leave the source, 40 days later with retention_days 30.
    old = [(f"s{n}", f"Wire story {n}", T0 - timedelta(hours=10 - n)) for n in range(8)]
    wire = Feed(httpserver, "/wire.xml", rss(*old))
    config = load_config(newsroom(
        sources=[{"name": "Wire", "url": wire.url, "interval": "1h"}],
        retention_days=30, entries_per_feed=2,
    ))  # fmt: skip
    feeds = tmp_path / "feeds"
    refresh(config, now=T0)
    wire_ids = {f"https://wire.example/s{n}" for n in range(8)}
    assert read_exactly_once(feeds) == wire_ids
    before = archive_files(feeds)
    assert sorted(before) == ["1.atom", "2.atom", "3.atom"]
    assert page_ids(feeds, "archive/all/1.atom") == ["https://wire.example/s0",
                                                     "https://wire.example/s1"]  # fmt: skip

    wire.body = rss(("n1", "A new story", T0 + timedelta(days=39)),
                    ("n2", "Another new story", T0 + timedelta(days=39, hours=1)))  # fmt: skip
    report = refresh(config, now=T0 + timedelta(days=40))
    assert report.pruned == 8, report.summary()
    validate_output(feeds)
    # The complete pages are exactly as they were (not rewritten, not removed); the
    # two stories that were in the head are pruned from the feeds, the new ones lead.
    assert archive_files(feeds) == before
    assert not report.published.removed
    assert {e["title"] for e in entries(feeds / "all.atom")} == {"A new story",
                                                                 "Another new story"}  # fmt: skip
    expected = (wire_ids - {"https://wire.example/s6", "https://wire.example/s7"}) | {
        "https://wire.example/n1", "https://wire.example/n2",
    }  # fmt: skip
    assert read_exactly_once(feeds) == expected
    # The database did shed the stories: only the snapshots the pages need remain.
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        assert db.execute("select count(*) from stories").fetchone()[0] == 2
        assert db.execute("select count(*) from story_topics where story_key not in "
                          "(select key from stories)").fetchone()[0] == 0  # fmt: skip
        assert db.execute("select count(*) from archive_snapshots").fetchone()[0] == 6

    # A page deleted by hand is rendered again, from the snapshots, to the same bytes.
    (feeds / "archive" / "all" / "2.atom").unlink()
    report = refresh(config, now=T0 + timedelta(days=40, hours=2))
    assert "archive/all/2.atom" in report.published.also_written
    assert archive_files(feeds) == before

    # New stories page after the frozen ones: page 4 is the first new page.
    wire.body = rss(*[(f"m{n}", f"Later story {n}", T0 + timedelta(days=41, hours=n))
                      for n in range(3)])  # fmt: skip
    refresh(config, now=T0 + timedelta(days=42))
    files = archive_files(feeds)
    assert {name: files[name] for name in before} == before
    assert page_ids(feeds, "archive/all/4.atom") == ["https://wire.example/n1",
                                                     "https://wire.example/n2"]  # fmt: skip
    assert read_exactly_once(feeds) == expected | {f"https://wire.example/m{n}" for n in range(3)}


def test_section_whose_stories_are_all_pruned_keeps_its_archive(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(
        *[(f"s{n}", f"Match report {n}", T0 - timedelta(hours=9 - n)) for n in range(4)]
    ))  # fmt: skip
    source = {"name": "Wire", "url": wire.url, "section": "Sport"}
    config = load_config(newsroom(sources=[source], retention_days=30, entries_per_feed=2))
    feeds = tmp_path / "feeds"
    refresh(config, now=T0)
    before = archive_files(feeds, "section/sport")
    assert sorted(before) == ["1.atom"]

    # The source leaves the config and its stories expire: nothing is filed in Sport
    # any more, but the section's complete page stays published, linked from its feed.
    config = load_config(newsroom(sources=[], retention_days=30, entries_per_feed=2))
    report = refresh(config, now=T0 + timedelta(days=40))
    assert report.pruned == 4, report.summary()
    validate_output(feeds)
    assert archive_files(feeds, "section/sport") == before
    assert entries(feeds / "section/sport.atom") == []
    assert read_exactly_once(feeds, "section/sport.atom") == {
        "https://wire.example/s0", "https://wire.example/s1",
    }  # fmt: skip


def test_copy_that_inherits_a_pruned_archived_record_is_not_published_again(
    newsroom, tmp_path, httpserver
):
    first = Feed(httpserver, "/first.xml", rss(
        ("a0", "Bridge Opens After Ten Years", T0 - timedelta(days=5)),
        *[(f"a{n}", f"First wire story {n}", T0 - timedelta(days=5, hours=-n)) for n in (1, 2, 3)],
    ))  # fmt: skip
    second = Feed(httpserver, "/second.xml", rss(
        ("b1", "Bridge Opens After Ten Years", T0 - timedelta(days=4)),
    ))  # fmt: skip
    config = load_config(newsroom(
        sources=[{"name": "First", "url": first.url, "interval": "1h"},
                 {"name": "Second", "url": second.url, "interval": "1h"}],
        retention_days=30, entries_per_feed=2,
    ))  # fmt: skip
    feeds = tmp_path / "feeds"
    report = refresh(config, now=T0)
    assert report.counts == {"new": 4, "duplicate": 1, "updated": 0, "unchanged": 0}
    first_ids = {f"https://wire.example/a{n}" for n in range(4)}
    assert read_exactly_once(feeds) == first_ids
    before = archive_files(feeds)
    assert sorted(before) == ["1.atom"]
    [bridge] = [e for e in entries(feeds / "archive/all/1.atom") if e["title"].startswith("Bridge")]
    assert ("related", "https://wire.example/b1") in bridge["links"]

    # First drops everything old; Second still carries its copy, which becomes the
    # story of record when First's is pruned. Readers already have the story on
    # page 1: the copy must not come back as a new entry.
    first.body = rss(("a9", "First wire later", T0 + timedelta(days=39)))
    second.body = rss(("b1", "Bridge Opens After Ten Years", T0 - timedelta(days=4)),
                      ("b2", "Second wire later", T0 + timedelta(days=39)))  # fmt: skip
    report = refresh(config, now=T0 + timedelta(days=40))
    assert report.pruned == 4, report.summary()
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        [[record]] = db.execute("select duplicate_of from stories where link like '%/b1'")
        signatures_left = db.execute("select count(*) from story_signatures where story_key "
                                     "not in (select key from stories)").fetchone()[0]  # fmt: skip
    assert record is None and signatures_left == 0
    validate_output(feeds)
    assert archive_files(feeds) == before
    assert read_exactly_once(feeds) == {
        "https://wire.example/a0", "https://wire.example/a1",
        "https://wire.example/a9", "https://wire.example/b2",
    }  # fmt: skip


def test_withdrawn_seed_is_retracted_from_its_page_and_no_other_page_moves(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    seeds = tmp_path / "seeds"
    feeds = tmp_path / "feeds"
    for n in range(8):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
        refresh(config, now=T0 + timedelta(hours=n))
    before = archive_files(feeds)
    assert sorted(before) == ["1.atom", "2.atom", "3.atom"]
    assert page_ids(feeds, "archive/all/2.atom") == [article(2), article(3)]

    (seeds / seed_name(2)).unlink()
    report = refresh(config, now=T0 + timedelta(hours=9))
    assert report.withdrawn == 1
    validate_output(feeds)
    # Retracted everywhere: gone from its page (which stays, half empty, in the
    # chain), its article page removed; pages 1 and 3 keep their bytes.
    after = archive_files(feeds)
    assert page_ids(feeds, "archive/all/2.atom") == [article(3)]
    assert after["1.atom"] == before["1.atom"] and after["3.atom"] == before["3.atom"]
    assert report.published.also_written == ("archive/all/2.atom",
                                             "archive/section/world/2.atom")  # fmt: skip
    assert "article/0000000000000002.html" in report.published.removed
    everyone = {article(n) for n in range(8)}
    assert read_exactly_once(feeds) == everyone - {article(2)}
    assert read_exactly_once(feeds, "section/world.atom") == everyone - {article(2)}

    # Newer stories do not fill the gap: they page after the frozen pages.
    for n in (8, 9):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0 + timedelta(hours=10))
    assert page_ids(feeds, "archive/all/4.atom") == [article(6), article(7)]
    assert archive_files(feeds)["3.atom"] == before["3.atom"]

    # A page whose every story is retracted stays in the chain, empty.
    (seeds / seed_name(3)).unlink()
    refresh(config, now=T0 + timedelta(hours=11))
    validate_output(feeds)
    assert page_ids(feeds, "archive/all/2.atom") == []
    assert read_exactly_once(feeds) == {article(n) for n in range(10)} - {article(2), article(3)}

    # Seeds put back come back on their own page, not as new stories in the head.
    write_seed(seeds, seed_name(2), "Seed story 2")
    write_seed(seeds, seed_name(3), "Seed story 3")
    refresh(config, now=T0 + timedelta(hours=12))
    assert page_ids(feeds, "archive/all/2.atom") == [article(2), article(3)]
    assert {e["id"] for e in entries(feeds / "all.atom")} == {article(8), article(9)}
    assert read_exactly_once(feeds) == {article(n) for n in range(10)}


def test_seed_taking_over_an_archived_story_leaves_its_page_alone(newsroom, tmp_path, httpserver):
    items = [(f"x{n}", f"Wire headline number {n} of many", T0 - timedelta(hours=9 - n))
             for n in range(6)]  # fmt: skip
    items[0] = ("x0", "Harbour Bridge Reopens After Two Years Of Repairs", items[0][2])
    wire = Feed(httpserver, "/wire.xml", rss(*items))
    config = load_config(newsroom(
        sources=[{"name": "Wire", "url": wire.url}], entries_per_feed=2,
    ))  # fmt: skip
    feeds = tmp_path / "feeds"
    refresh(config, now=T0)
    before = archive_files(feeds)
    assert sorted(before) == ["1.atom", "2.atom"]
    assert "https://wire.example/x0" in page_ids(feeds, "archive/all/1.atom")

    # The newsroom files its own copy: it becomes the story of record (the wire's is
    # now a copy of it), but the wire's entry stays on the page readers archived.
    write_seed(tmp_path / "seeds", seed_name(42),
               "Harbour Bridge Reopens After Two Years Of Repairs")  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.counts["new"] == 1, report.summary()
    with sqlite3.connect(tmp_path / "echofeed.db") as db:
        [[record]] = db.execute("select duplicate_of from stories where link like '%/x0'")
    assert record == "seed:000000000000002a"
    validate_output(feeds)
    after = archive_files(feeds)
    assert {name: after[name] for name in before} == before
    # The seed enters the head, pushing x4 onto a new, still open page 3.
    assert page_ids(feeds, "archive/all/3.atom") == ["https://wire.example/x4"]
    head = entries(feeds / "all.atom")
    assert [e["id"] for e in head] == [article(42), "https://wire.example/x5"]
    assert ("related", "https://wire.example/x0") in head[0]["links"]
    wire_ids = {f"https://wire.example/x{n}" for n in range(6)}
    assert read_exactly_once(feeds) == wire_ids | {article(42)}


def test_resort_keeps_frozen_membership_and_every_entry_once(newsroom, tmp_path):
    seeds = tmp_path / "seeds"
    feeds = tmp_path / "feeds"
    config = load_config(newsroom(entries_per_feed=2,
                                  topics={"Bridges": {"keywords": ["bridge"]}}))  # fmt: skip
    for n in range(6):
        body = "The river rose." if n % 2 == 0 else "A quiet day."
        write_seed(seeds, seed_name(n), f"Bridge story {n}", body)
    refresh(config, now=T0)
    topic_before = archive_files(feeds, "topic/bridges")
    assert {name: page_ids(feeds, f"archive/topic/bridges/{name}") for name in topic_before} == {
        "1.atom": [article(0), article(1)], "2.atom": [article(2), article(3)],
    }  # fmt: skip

    # The topic now follows rivers: stories 1, 3 and 5 leave it. The frozen pages
    # keep their members (an archive records what the feed carried); only the
    # unfrozen story 5 leaves the feed.
    config = load_config(newsroom(entries_per_feed=2,
                                  topics={"Bridges": {"keywords": ["river"]}}))  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.resorted == 3
    validate_output(feeds)
    assert page_ids(feeds, "archive/topic/bridges/1.atom") == [article(0), article(1)]
    assert page_ids(feeds, "archive/topic/bridges/2.atom") == [article(2), article(3)]
    # ... each shown as it is now: story 1 no longer carries the topic's category.
    [one] = [e for e in entries(feeds / "archive/topic/bridges/1.atom") if e["id"] == article(1)]
    assert "Bridges" not in one["categories"]
    assert [e["id"] for e in entries(feeds / "topic/bridges.atom")] == [article(4)]
    assert read_exactly_once(feeds, "topic/bridges.atom") == {article(n) for n in range(5)}
    # all.atom is not touched by the topic change in its membership.
    assert read_exactly_once(feeds) == {article(n) for n in range(6)}
    for n in (6, 7):
        write_seed(seeds, seed_name(n), f"Bridge story {n}", "By the river.")
    refresh(config, now=T0 + timedelta(hours=2))
    assert page_ids(feeds, "archive/topic/bridges/3.atom") == [article(4)]
    assert read_exactly_once(feeds, "topic/bridges.atom") == {
        article(n) for n in (0, 1, 2, 3, 4, 6, 7)
    }
    pages = {name: page_ids(feeds, f"archive/topic/bridges/{name}") for name in ("1.atom",
             "2.atom", "3.atom")}  # fmt: skip

    # A topic taken out of the config takes its feed and archive with it; put back,
    # it gets its complete pages back as they were.
    refresh(load_config(newsroom(entries_per_feed=2)), now=T0 + timedelta(hours=3))
    assert not [p for p in feeds.rglob("*") if p.is_file() and "topic" in p.parts]
    refresh(config, now=T0 + timedelta(hours=4))
    for name, ids in pages.items():
        assert page_ids(feeds, f"archive/topic/bridges/{name}") == ids
    assert read_exactly_once(feeds, "topic/bridges.atom") == {
        article(n) for n in (0, 1, 2, 3, 4, 6, 7)
    }


def test_only_rendered_config_keys_rewrite_archive_pages(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    for n in range(5):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    feeds = tmp_path / "feeds"
    before = archive_files(feeds)
    assert sorted(before) == ["1.atom", "2.atom"]

    config = load_config(newsroom(entries_per_feed=2, retention_days=7,
                                  refresh_interval="5m", seed_max_bytes=100_000))  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert not [p for p in report.published.also_written if p.startswith("archive/")]
    assert archive_files(feeds) == before

    config = load_config(newsroom(entries_per_feed=2, language="fr"))
    report = refresh(config, now=T0 + timedelta(hours=2))
    written = {p for p in report.published.also_written if p.startswith("archive/all/")}
    assert written == {"archive/all/1.atom", "archive/all/2.atom"}
    assert b'xml:lang="fr"' in (feeds / "archive" / "all" / "1.atom").read_bytes()
