"""A pass that stored a few changed stories looks only at the archive pages and
article pages holding them (and at files not as the last publish left them),
and its output is still what a publish from scratch gives."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from echofeed import pipeline
from echofeed.config import load_config
from echofeed.pipeline import plan_feeds_keeping_slugs, refresh
from echofeed.publish import (
    EntryFragment,
    archive_fingerprint,
    entry_id,
    render_fragments,
    splice_archive_page,
)
from echofeed.store import Store

from .conftest import write_seed
from .test_publish_stale import T0, assert_current, seed_name


def key_of(number: int) -> str:
    return f"seed:{number:016x}"


def page_holding(config, key: str) -> set[str]:
    """The archive pages (relpaths) whose frozen stories include `key`."""
    with Store(config.database) as store:
        return {
            spec_page
            for feed in store.archived_feeds()
            for number, keys in enumerate(store.archive_pages(feed), start=1)
            if key in keys
            for spec_page in [f"archive/{feed.removesuffix('.atom')}/{number}.atom"]
        }


def keys_asked_of(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """The story keys the pipeline passes to Store.<method> from now on."""
    asked: list[str] = []
    real = getattr(Store, method)

    def recording(self, keys):  # noqa: ANN001, ANN202
        keys = list(keys)
        asked.extend(keys)
        return real(self, keys)

    monkeypatch.setattr(Store, method, recording)
    return asked


@pytest.fixture
def archived_newsroom(newsroom, tmp_path):
    """Thirty seeds in two sections, two to a page: most of them on frozen pages."""
    config = load_config(
        newsroom(entries_per_feed=2, topics={"Harbour": {"keywords": ["harbour"]}})
    )
    for n in range(30):
        headline = f"Harbour story number {n}" if n % 3 == 0 else f"Seed story number {n}"
        write_seed(tmp_path / "seeds", seed_name(n), headline,
                   section="World" if n % 2 else "Business")  # fmt: skip
    refresh(config, now=T0)
    return config


def test_the_store_names_the_stories_written_since_the_last_publish(archived_newsroom):
    config = archived_newsroom
    record, other = key_of(3), key_of(4)
    with Store(config.database) as store:
        assert store.changed_story_keys() == set()  # the pass published what it stored
        writes = [
            (lambda: store.touch(record, T0 + timedelta(hours=1)), set()),  # seen again
            (lambda: store.set_topics(record, ["Bridges"]), {record}),
            (lambda: store.set_section(record, "Science"), {record}),
            (lambda: store.set_updated(record, T0 + timedelta(hours=2)), {record}),
            # a copy filed under a story of record changes the record's carriers
            (lambda: store.make_duplicate(other, record), {other, record}),
        ]
        for write, marked in writes:
            with store.transaction():
                store.content_published()
                write()
            assert store.changed_story_keys() == marked
        # Which stories a feed's pages hold: anything may have changed.
        with store.transaction():
            store.content_published()
            store.freeze_archive_page("all.atom", 99, [record])
        assert store.changed_story_keys() is None and store.content_changed()
        with store.transaction():
            store.content_published()
        assert store.changed_story_keys() == set() and not store.content_changed()


def test_an_edited_archived_story_reads_and_rewrites_only_the_pages_holding_it(
    archived_newsroom, tmp_path, monkeypatch
):
    config = archived_newsroom
    edited = key_of(3)
    holding = page_holding(config, edited)
    assert {"archive/all/", "archive/topic/harbour/"} <= {
        p.rsplit("/", 1)[0] + "/" for p in holding
    }
    with Store(config.database) as store:
        pages = {
            f"archive/{feed.removesuffix('.atom')}/{n}.atom": keys
            for feed in store.archived_feeds()
            for n, keys in enumerate(store.archive_pages(feed), start=1)
        }
    assert len(pages) > 3 * len(holding)  # most pages hold something else
    stamped = keys_asked_of(monkeypatch, "story_stamps")
    before = {p: (config.output_dir / p).stat().st_mtime_ns for p in pages}
    write_seed(tmp_path / "seeds", seed_name(3), "Harbour story number 3", "A corrected paragraph.",
               section="Business")  # fmt: skip
    report = refresh(config, now=T0 + timedelta(minutes=10))
    assert report.counts["updated"] == 1
    after = {p: (config.output_dir / p).stat().st_mtime_ns for p in pages}
    assert {p for p in pages if after[p] != before[p]} == holding
    for relpath in holding:
        assert b"A corrected paragraph." in (config.output_dir / relpath).read_bytes()
    # Stamps were read for the pages holding it and the stories of the feeds' heads
    # and open pages: not for a story found only on frozen pages that do not hold it.
    held = {k for p in holding for k in pages[p]}
    unfrozen = {
        f"seed:{hex_id.decode()}"
        for feed in config.output_dir.rglob("*.atom")
        if feed.relative_to(config.output_dir).as_posix() not in pages
        for hex_id in re.findall(rb"/article/([0-9a-f]{16})\.html</id>", feed.read_bytes())
    }
    elsewhere = {k for p, keys in pages.items() if p not in holding for k in keys}
    assert stamped and not set(stamped) & (elsewhere - held - unfrozen)
    assert len(set(stamped)) < len({k for keys in pages.values() for k in keys}) / 2
    monkeypatch.undo()
    assert_current(config, tmp_path)


def test_an_edited_archived_story_is_spliced_into_its_pages_without_reading_the_others(
    archived_newsroom, tmp_path, monkeypatch
):
    config = archived_newsroom
    edited = key_of(3)
    holding = page_holding(config, edited)
    with Store(config.database) as store:
        neighbours = {
            key
            for feed in store.archived_feeds()
            for n, keys in enumerate(store.archive_pages(feed), start=1)
            if f"archive/{feed.removesuffix('.atom')}/{n}.atom" in holding
            for key in keys
        } - {edited}
    assert neighbours
    read = keys_asked_of(monkeypatch, "entry_fragments")
    write_seed(tmp_path / "seeds", seed_name(3), "Harbour story number 3", "A corrected paragraph.",
               section="Business")  # fmt: skip
    refresh(config, now=T0 + timedelta(minutes=10))
    # The other entries of its pages come from the page files; heads and open pages
    # still read their stories' kept entries.
    on_heads = {
        f"seed:{hex_id.decode()}"
        for feed in config.output_dir.rglob("*.atom")
        if "archive/" not in feed.relative_to(config.output_dir).as_posix()
        for hex_id in re.findall(rb"/article/([0-9a-f]{16})\.html</id>", feed.read_bytes())
    }
    assert edited in read
    assert not (set(read) & neighbours) - on_heads
    monkeypatch.undo()
    for relpath in holding:
        assert b"A corrected paragraph." in (config.output_dir / relpath).read_bytes()
    assert_current(config, tmp_path)


def test_a_page_edited_by_hand_to_the_same_size_and_mtime_is_not_spliced(
    archived_newsroom, tmp_path
):
    config = archived_newsroom
    page = config.output_dir / sorted(page_holding(config, key_of(3)))[0]
    stat = page.stat()
    original = page.read_bytes()
    forged = original.replace(b"Seed story number", b"Fake story number")
    assert forged != original and len(forged) == len(original)
    page.write_bytes(forged)
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    write_seed(tmp_path / "seeds", seed_name(3), "Harbour story number 3", "A corrected paragraph.",
               section="Business")  # fmt: skip
    refresh(config, now=T0 + timedelta(minutes=10))
    assert b"Fake story" not in page.read_bytes()
    assert b"A corrected paragraph." in page.read_bytes()
    assert_current(config, tmp_path)


def test_a_pass_that_changed_a_few_stories_reads_no_feed_whole(
    archived_newsroom, tmp_path, monkeypatch
):
    # Each feed's open page and head as the last publish left them, with the
    # stories written since, are all that can be off its frozen pages: neither
    # every story's place in every feed nor every frozen page is read.
    config = archived_newsroom
    with Store(config.database) as store:
        stored = len(store.feed_timelines()[("all", "")])
    asked = keys_asked_of(monkeypatch, "feed_timelines")
    read_pages: list[str] = []
    monkeypatch.setattr(Store, "archive_pages", lambda self, feed: read_pages.append(feed))
    write_seed(tmp_path / "seeds", seed_name(3), "Harbour story number 3", "A corrected paragraph.",
               section="Business")  # fmt: skip
    write_seed(tmp_path / "seeds", seed_name(40), "Harbour story number 40", section="World")
    report = refresh(config, now=T0 + timedelta(minutes=10))
    assert (report.counts["new"], report.counts["updated"]) == (1, 1)
    assert read_pages == []
    assert asked and len(set(asked)) < stored / 2
    assert key_of(3) in asked and key_of(40) in asked
    assert "Harbour story number 40" in (config.output_dir / "all.atom").read_text("utf-8")
    monkeypatch.undo()
    assert_current(config, tmp_path)


def test_a_head_feed_rendered_again_reads_only_its_new_stories(
    archived_newsroom, tmp_path, monkeypatch
):
    # A head's kept Atom entries and JSON Feed items stand for its stories: a new
    # story reads its own body, and the latest ones index.html shows, not the rest.
    config = archived_newsroom
    write_seed(tmp_path / "seeds", seed_name(40), "Seed story number 40", section="World")
    write_seed(tmp_path / "seeds", seed_name(42), "Seed story number 42", section="Business")
    refresh(config, now=T0 + timedelta(minutes=5))
    world_before = set(ids_in(config.output_dir / "section" / "world.json"))
    asked = keys_asked_of(monkeypatch, "stories_by_keys")
    write_seed(tmp_path / "seeds", seed_name(44), "Seed story number 44", section="World")
    refresh(config, now=T0 + timedelta(minutes=10))
    latest = ids_in(config.output_dir / "all.json")
    world = ids_in(config.output_dir / "section" / "world.json")
    assert world[0] == key_of(44) and world[1] in world_before and world[1] not in latest
    assert key_of(44) in asked and world[1] not in asked
    assert set(asked) <= set(latest)
    monkeypatch.undo()
    assert_current(config, tmp_path)


def ids_in(json_feed: Path) -> list[str]:
    """The story keys of a published JSON Feed's items, in its order."""
    return [
        f"seed:{item['url'].rsplit('/', 1)[1].removesuffix('.html')}"
        for item in json.loads(json_feed.read_bytes())["items"]
    ]


def test_a_database_without_the_record_of_unplaced_stories_reads_every_feed_once(
    archived_newsroom, tmp_path, monkeypatch
):
    # As a version that does not keep the record leaves the database (one run on it
    # in between included): the next publish reads every feed whole, and records it.
    config = archived_newsroom
    with sqlite3.connect(config.database) as db:
        db.execute("update meta set value = json_remove(value, '$.unplaced') "
                   "where key = 'published'")  # fmt: skip
    whole: list[bool] = []
    real = Store.feed_timelines

    def recording(self, keys=None):  # noqa: ANN001, ANN202
        whole.append(keys is None)
        return real(self, keys)

    monkeypatch.setattr(Store, "feed_timelines", recording)
    write_seed(tmp_path / "seeds", seed_name(40), "Harbour story number 40", section="World")
    refresh(config, now=T0 + timedelta(minutes=10))
    assert whole == [True]
    assert "Harbour story number 40" in (config.output_dir / "all.atom").read_text("utf-8")
    assert_current(config, tmp_path)
    write_seed(tmp_path / "seeds", seed_name(41), "Harbour story number 41", section="World")
    refresh(config, now=T0 + timedelta(minutes=20))
    assert whole[-1] is False
    assert_current(config, tmp_path)


def test_a_database_from_before_kept_json_items_gets_them(archived_newsroom, tmp_path):
    config = archived_newsroom
    with sqlite3.connect(config.database) as db:  # as a version before json_item left it
        db.execute("alter table entry_fragments drop column json_item")
    write_seed(tmp_path / "seeds", seed_name(29), "Seed story number 29", "A corrected paragraph.",
               section="World")  # fmt: skip
    refresh(config, now=T0 + timedelta(minutes=10))
    items = json.loads((config.output_dir / "all.json").read_bytes())["items"]
    assert any("A corrected paragraph." in item["content_html"] for item in items)
    with sqlite3.connect(config.database) as db:
        kept = db.execute("select count(*) from entry_fragments where json_item is not null")
        assert kept.fetchone()[0] >= len(items)
    assert_current(config, tmp_path)


def test_edits_on_many_pages_of_a_feed_are_spliced_in_threads_each_page_on_its_own(
    archived_newsroom, tmp_path, monkeypatch
):
    # Pages are spliced in threads (pipeline.SPLICE_THREADS, one per core): each
    # page's outcome is its own, whatever the others' was, on any machine.
    monkeypatch.setattr(pipeline, "SPLICE_THREADS", 3)
    config = archived_newsroom
    edits = [1, 5, 9, 13, 17, 21]  # World seeds, each on another page of all and of World
    pages = {n: sorted(p for p in page_holding(config, key_of(n)) if "/all/" in p) for n in edits}
    assert len({page for held in pages.values() for page in held}) == len(edits)
    forged = config.output_dir / pages[5][0]  # same size and mtime: must not be spliced
    stat = forged.stat()
    forged.write_bytes(forged.read_bytes().replace(b"Seed story number", b"Fake story number"))
    os.utime(forged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (config.output_dir / pages[13][0]).unlink()  # cannot be read: rendered again
    untouched = sorted(
        p.relative_to(config.output_dir).as_posix()
        for p in (config.output_dir / "archive" / "all").iterdir()
        if p.relative_to(config.output_dir).as_posix() not in {x for v in pages.values() for x in v}
    )
    before = {p: (config.output_dir / p).stat().st_mtime_ns for p in untouched}
    for n in edits:
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story number {n}",
                   f"Correction number {n}.", section="World")  # fmt: skip
    report = refresh(config, now=T0 + timedelta(minutes=10))
    assert report.counts["updated"] == len(edits)
    assert not [t for t in threading.enumerate() if t.name.startswith("echofeed-splice")]
    for n in edits:
        for relpath in page_holding(config, key_of(n)):
            assert f"Correction number {n}.".encode() in (config.output_dir / relpath).read_bytes()
    assert b"Fake story" not in forged.read_bytes()
    assert {p: (config.output_dir / p).stat().st_mtime_ns for p in untouched} == before
    assert_current(config, tmp_path)


def test_an_archived_story_lxml_refuses_is_left_out_of_its_pages_with_one_warning_each(
    archived_newsroom, tmp_path
):
    config = archived_newsroom
    refused = key_of(3)
    holding = page_holding(config, refused)
    with Store(config.database) as store, store.transaction():
        # As an older version could have stored it: parse.py strips such characters now.
        store.db.execute("update stories set headline = ? where key = ?", ["Bell \x07", refused])
    report = refresh(config, now=T0 + timedelta(minutes=10))
    warned = [w for w in report.warnings if refused in w]
    assert len(warned) == len(set(warned)) == len(holding)
    for relpath in holding:
        assert b"Harbour story number 3" not in (config.output_dir / relpath).read_bytes()
        assert b"<entry>" in (config.output_dir / relpath).read_bytes()  # the others stay


def test_a_page_holding_no_changed_story_is_still_restored_when_edited_or_deleted(
    archived_newsroom, tmp_path
):
    config = archived_newsroom
    untouched = sorted(
        p for p in (config.output_dir / "archive/all").iterdir()
        if not page_holding(config, key_of(3)) & {f"archive/all/{p.name}"}
    )  # fmt: skip
    edited, deleted = untouched[0], untouched[1]
    original = edited.read_bytes()
    edited.write_bytes(original.replace(b"Seed story", b"Fake story"))
    deleted.unlink()
    # Another story changes, so the pass publishes (and looks only where it must).
    write_seed(tmp_path / "seeds", seed_name(3), "Harbour story number 3", "A corrected paragraph.",
               section="Business")  # fmt: skip
    refresh(config, now=T0 + timedelta(minutes=10))
    assert edited.read_bytes() == original and deleted.exists()
    assert_current(config, tmp_path)
    # Touched to the same size and another mtime: looked at, found whole, left alone.
    os.utime(edited, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    write_seed(tmp_path / "seeds", seed_name(6), "Harbour story number 6", "Another correction.",
               section="Business")  # fmt: skip
    refresh(config, now=T0 + timedelta(minutes=20))
    assert edited.read_bytes() == original
    assert_current(config, tmp_path)


def test_a_new_section_publishes_its_feed_and_leaves_other_article_pages(
    archived_newsroom, tmp_path
):
    config = archived_newsroom
    article = config.output_dir / f"article/{1:016x}.html"
    before = article.read_bytes()
    write_seed(tmp_path / "seeds", seed_name(40), "A science story arrives", section="Science")
    refresh(config, now=T0 + timedelta(minutes=10))
    # The article pages of untouched stories show the feeds of their own section
    # only, so they stay; the new story's page and every feed's head are right.
    assert article.read_bytes() == before
    assert (config.output_dir / "section/science.atom").exists()
    assert_current(config, tmp_path)


def test_a_database_from_before_publish_pending_publishes_everything_once(
    archived_newsroom, tmp_path
):
    config = archived_newsroom
    with sqlite3.connect(config.database) as db:  # as the echofeed before it left it
        for (name,) in db.execute("select name from sqlite_master where name like 'pending_%'"):
            db.execute(f"drop trigger {name}")
        db.execute("drop table publish_pending")
        db.execute("insert into meta (key, value) values ('content_changed', '0')")
        db.execute(
            "create trigger changed_stories_u after update on stories begin "
            "update meta set value = '1' where key = 'content_changed'; end"
        )
    db.close()
    with Store(config.database) as store:
        assert store.changed_story_keys() is None  # nothing known: everything
        names = {n for (n,) in store.db.conn.execute("select name from sqlite_master")}
        assert "changed_stories_u" not in names and "pending_stories_u" in names
        assert store.get_meta("content_changed") is None
    (config.output_dir / "archive/all/1.atom").write_bytes(b"stale")
    refresh(config, now=T0 + timedelta(minutes=10))
    assert_current(config, tmp_path)
    with Store(config.database) as store:
        assert store.changed_story_keys() == set()


def _page_entries(document: bytes) -> list[EntryFragment]:
    """The entries of an archive page, in order, dated by their own elements."""
    found = re.findall(rb"  <entry>.*?  </entry>\n", document, re.S)

    def date(xml: bytes, tag: bytes) -> datetime:
        return datetime.fromisoformat(re.search(rb"\n    <" + tag + rb">([^<]*)<", xml)[1].decode())

    return [EntryFragment("", date(x, b"published"), date(x, b"updated"), x) for x in found]


def test_a_spliced_page_is_the_page_rendered_from_its_entries(archived_newsroom):
    # What a splice gives must be, byte for byte, what rendering the page from its
    # entries gives: the same entries, the feed's <updated> and fingerprint.
    config = archived_newsroom
    with Store(config.database) as store:
        spec = next(s for s in plan_feeds_keeping_slugs(config, store)[0] if s.kind == "all")
    number = 3
    document = (config.output_dir / spec.archive_relpath(number)).read_bytes()
    fingerprint = re.search(rb"echofeed archive page ([0-9a-f]{32})", document)[1].decode()
    first, second = _page_entries(document)
    assert archive_fingerprint(config, spec, number, [first, second]) == fingerprint
    later = max(first.updated, second.updated) + timedelta(days=1)

    def edited(entry: EntryFragment, *, updated: datetime, text: bytes) -> EntryFragment:
        old = re.search(rb"\n    <updated>([^<]*)<", entry.xml)[1]
        xml = entry.xml.replace(old, updated.isoformat().encode(), 1)
        xml = xml.replace(b"</content>", text + b"</content>", 1)
        return EntryFragment("", entry.published, updated, xml)

    def rendered(entries: list[EntryFragment]) -> tuple[bytes, str]:
        new = archive_fingerprint(config, spec, number, entries)
        page = render_fragments(config, spec, entries, archive_page=number,
                                prev_archive=number - 1, fingerprint=new)  # fmt: skip
        return page, new

    for renewed, entries in [
        # the page's newest entry now, and the feed's <updated> with it
        ({entry_id(second): (new := edited(second, updated=later, text=b" Corrected."))},
         [first, new]),
        # an edit that keeps its date: the feed's <updated> stays
        ({entry_id(first): (new := edited(first, updated=first.updated, text=b" Typo."))},
         [new, second]),
        # both at once
        ({entry_id(first): (a := edited(first, updated=later, text=b" A.")),
          entry_id(second): (b := edited(second, updated=later, text=b" B."))}, [a, b]),
    ]:  # fmt: skip
        spliced = splice_archive_page(config, spec, number, document, fingerprint, renewed)
        assert spliced == rendered(entries)

    def splice(renewed: dict[bytes, EntryFragment], bearing: str = fingerprint):  # noqa: ANN202
        return splice_archive_page(config, spec, number, document, bearing, renewed)

    moved = replace(second, published=second.published - timedelta(days=1))
    older = edited(second, updated=second.updated - timedelta(seconds=1), text=b"")
    assert splice({entry_id(second): moved}) is None  # its place on the page would change
    assert splice({entry_id(second): older}) is None  # the feed's <updated> may go back
    assert splice({b"tag:elsewhere,2026:1": second}) is None  # not on this page
    assert splice({entry_id(second): second}, bearing="0" * 32) is None  # not the page recorded
