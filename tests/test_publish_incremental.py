"""A pass renders only the pages whose inputs changed: article pages and archive pages
are skipped when the story stamps in the store say nothing on them changed, and come
back when something did (or when their file is gone). Counted by wrapping the renderers,
and read back from the files on disk."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from echofeed import pipeline
from echofeed.config import load_config
from echofeed.pipeline import refresh
from echofeed.store import Store

from .conftest import write_seed
from .test_publish import snapshot
from .test_retention import Feed, rss

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def seed_name(number: int) -> str:
    return f"{number:03d}_{number:016x}.txt"


def article(number: int) -> str:
    return f"article/{number:016x}.html"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts article pages rendered and archived stories read from the store."""
    counts: Counter[str] = Counter()
    render_article = pipeline.render_article
    archive_stories = Store.archive_stories

    def counted_render(config, story, specs):  # noqa: ANN001, ANN202
        counts[f"article/{story.origin_id}.html"] += 1
        return render_article(config, story, specs)

    def counted_read(store, keys):  # noqa: ANN001, ANN202
        stories = archive_stories(store, keys)
        counts["archived stories read"] += len(stories)
        return stories

    def counting(name: str, render):  # noqa: ANN001, ANN202
        def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            counts[name] += 1
            return render(*args, **kwargs)

        return counted

    monkeypatch.setattr(pipeline, "render_article", counted_render)
    render_fragments = pipeline.render_fragments

    def counted_head(config, spec, fragments, **page):  # noqa: ANN001, ANN003, ANN202
        counts["atom"] += page.get("archive_page") is None
        return render_fragments(config, spec, fragments, **page)

    monkeypatch.setattr(pipeline, "render_fragments", counted_head)
    json_feed = counting("json", pipeline.render_json_feed)
    monkeypatch.setattr(pipeline, "render_json_feed", json_feed)
    monkeypatch.setattr(Store, "archive_stories", counted_read)
    return counts


def test_unchanged_pass_renders_no_article_and_reads_no_archived_story(newsroom, tmp_path, renders):
    config = load_config(newsroom(entries_per_feed=2))
    seeds, feeds = tmp_path / "seeds", tmp_path / "feeds"
    for n in range(7):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    assert sum(renders[article(n)] for n in range(7)) == 7
    before = snapshot(feeds)
    assert {"archive/all/1.atom", "archive/all/2.atom", article(6)} <= set(before)

    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert renders == {}
    assert report.published.written == () and report.published.also_written == ()
    assert report.published.removed == ()
    assert snapshot(feeds) == before

    # An edited seed: its article page and the archive pages holding it, nothing else.
    write_seed(seeds, seed_name(1), "Seed story 1", "A corrected first paragraph.")
    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert {k: v for k, v in renders.items() if k.startswith("article/")} == {article(1): 1}
    assert "A corrected first paragraph." in (feeds / article(1)).read_text("utf-8")
    assert set(report.published.also_written) >= {
        article(1), "archive/all/1.atom", "archive/section/world/1.atom",
    }  # fmt: skip
    assert "archive/all/2.atom" not in report.published.also_written

    # A page deleted by hand comes back, the same bytes, and only it is rendered.
    kept = (feeds / article(4)).read_bytes()
    (feeds / article(4)).unlink()
    (feeds / "archive" / "all" / "2.atom").unlink()
    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=3))
    assert {k: v for k, v in renders.items() if k.startswith("article/")} == {article(4): 1}
    assert (feeds / article(4)).read_bytes() == kept
    assert set(report.published.also_written) == {article(4), "archive/all/2.atom"}

    # So does a head feed deleted or edited by hand; the other heads are not rendered.
    heads = {p: (feeds / p).read_bytes() for p in ("all.atom", "section/world.json")}
    (feeds / "all.atom").unlink()
    (feeds / "section/world.json").write_text("{}", encoding="utf-8")
    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=4))
    assert (renders["atom"], renders["json"]) == (2, 2)  # all and section/world
    assert {p: (feeds / p).read_bytes() for p in heads} == heads
    assert report.published.written == ("all.atom",)
    assert report.published.also_written == ("section/world.json",)


def test_page_shows_a_new_carrier_and_a_new_topic_without_a_change_of_its_seed(
    newsroom, tmp_path, httpserver, renders
):
    wire = Feed(httpserver, "/wire.xml", rss(("x1", "Harbour Budget Passes", T0)))
    sources = [{"name": "Harbour Wire", "url": wire.url}]
    config = load_config(newsroom(sources=sources))
    write_seed(tmp_path / "seeds", seed_name(1), "Bridge Reopens After Long Repairs")
    refresh(config, now=T0)
    page = tmp_path / "feeds" / article(1)
    assert "Harbour Wire" not in page.read_text("utf-8")

    # The wire now carries the seed's story too: its page names the wire.
    wire.body = rss(
        ("x1", "Harbour Budget Passes", T0),
        ("x2", "Bridge Reopens After Long Repairs", T0 + timedelta(minutes=5)),
    )
    renders.clear()
    refresh(config, now=T0 + timedelta(hours=1))
    assert renders[article(1)] == 1
    assert "Harbour Wire" in page.read_text("utf-8")

    # A new topic files the story under it: the page lists it.
    config = load_config(newsroom(sources=sources, topics={"Bridges": {"keywords": ["bridge"]}}))
    renders.clear()
    refresh(config, now=T0 + timedelta(hours=2))
    assert renders[article(1)] == 1
    assert "Topics: Bridges" in page.read_text("utf-8")

    renders.clear()
    refresh(config, now=T0 + timedelta(hours=3))
    assert renders[article(1)] == 0


def test_a_config_key_the_pages_show_renders_them_all_again(newsroom, tmp_path, renders):
    config = load_config(newsroom(entries_per_feed=2))
    for n in range(5):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    renders.clear()
    refresh(load_config(newsroom(entries_per_feed=2, title="EchoDaily")), now=T0)
    assert {k: v for k, v in renders.items() if k.startswith("article/")} == {
        article(n): 1 for n in range(5)
    }
    for relpath in (article(3), "all.atom", "all.json", "archive/all/1.atom"):
        assert "EchoDaily" in (tmp_path / "feeds" / relpath).read_text("utf-8")


def test_a_pass_that_stored_nothing_new_reads_no_feed_and_writes_nothing(
    newsroom, tmp_path, httpserver, monkeypatch
):
    items = [(f"w{n}", f"Wire story number {n}", T0 - timedelta(hours=n)) for n in range(3)]
    wire = Feed(httpserver, "/wire.xml", rss(*items))
    config = load_config(newsroom(sources=[{"name": "Wire", "url": wire.url}]))
    write_seed(tmp_path / "seeds", seed_name(1), "Bridge Reopens After Long Repairs")
    refresh(config, now=T0)
    feeds = tmp_path / "feeds"
    before = snapshot(feeds)
    timelines = Counter[str]()
    feed_timelines = Store.feed_timelines

    def counted(store, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        timelines["read"] += 1
        return feed_timelines(store, *args, **kwargs)

    monkeypatch.setattr(Store, "feed_timelines", counted)
    # The server ignores conditional GET and sends the same stories in new bytes:
    # they are parsed and seen again, but nothing publishing shows changed.
    wire.body = rss(*items) + b"<!-- rebuilt at 10:00 -->"
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert (report.counts["unchanged"], report.counts["new"], report.counts["updated"]) == (3, 0, 0)
    assert timelines["read"] == 0
    assert report.published.written == () and report.published.also_written == ()
    assert set(report.published.unchanged) == {
        p for p in before if p == "index.opml" or (p.endswith(".atom") and "archive/" not in p)
    }
    assert article(1) in report.published.also_unchanged
    assert snapshot(feeds) == before

    # A new story, a config key the feeds show, a file touched by hand: each publishes.
    wire.body = rss(("w9", "Harbour Budget Passes", T0 + timedelta(hours=2)), *items)
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert timelines["read"] > 0 and "all.atom" in report.published.written
    assert "Harbour Budget Passes" in (feeds / "all.atom").read_text("utf-8")
    timelines.clear()
    refresh(load_config(newsroom(sources=[{"name": "Wire", "url": wire.url}],
                                 title="EchoDaily")), now=T0 + timedelta(hours=3))  # fmt: skip
    assert timelines["read"] > 0 and "EchoDaily" in (feeds / "all.atom").read_text("utf-8")
    timelines.clear()
    (feeds / "section" / "world.atom").write_text("<feed/>", encoding="utf-8")
    refresh(load_config(newsroom(sources=[{"name": "Wire", "url": wire.url}],
                                 title="EchoDaily")), now=T0 + timedelta(hours=4))  # fmt: skip
    assert timelines["read"] > 0
    assert "EchoDaily" in (feeds / "section" / "world.atom").read_text("utf-8")


def test_archive_pages_are_rebuilt_from_kept_entries_with_the_same_bytes(
    newsroom, tmp_path, renders
):
    config = load_config(newsroom(entries_per_feed=2))
    seeds, feeds = tmp_path / "seeds", tmp_path / "feeds"
    for n in range(7):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    pages = ("archive/all/1.atom", "archive/all/2.atom", "archive/section/world/1.atom")
    kept = {page: (feeds / page).read_bytes() for page in pages}

    # Every page deleted: rebuilt from the entries kept in the store, no story read.
    for page in pages:
        (feeds / page).unlink()
    renders.clear()
    refresh(config, now=T0 + timedelta(hours=1))
    assert renders["archived stories read"] == 0
    assert {page: (feeds / page).read_bytes() for page in pages} == kept

    # An edited story is read once, for every page of every feed that holds it.
    write_seed(seeds, seed_name(1), "Seed story 1", "A corrected first paragraph.")
    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert renders["archived stories read"] == 1
    assert {"archive/all/1.atom", "archive/section/world/1.atom"} <= set(
        report.published.also_written
    )
    for page in ("archive/all/1.atom", "archive/section/world/1.atom"):
        assert "A corrected first paragraph." in (feeds / page).read_text("utf-8")

    # A withdrawn seed stays off its page when the page is rebuilt from kept entries.
    (seeds / seed_name(0)).unlink()
    refresh(config, now=T0 + timedelta(hours=3))
    (feeds / "archive/all/1.atom").unlink()
    renders.clear()
    refresh(config, now=T0 + timedelta(hours=4))
    assert renders["archived stories read"] == 0
    page = (feeds / "archive/all/1.atom").read_text("utf-8")
    assert "Seed story 0" not in page and "Seed story 1" in page


def test_pages_written_without_a_disk_flush_are_rendered_again_when_not_whole(
    newsroom, tmp_path, renders, monkeypatch
):
    # Archive and article pages skip the per-file fsync that head feeds get: a page a
    # power loss cut short, or one edited by hand, must not stay so.
    flushed: list[str] = []
    fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (flushed.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd))
    )
    config = load_config(newsroom(entries_per_feed=2))
    seeds, feeds = tmp_path / "seeds", tmp_path / "feeds"
    for n in range(5):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    targets = {Path(name).name.split(".")[1] for name in flushed}  # ".all.atom.x.tmp"
    assert {"all", "index"} <= targets and not targets & {f"{n:016x}" for n in range(5)}
    page, story = feeds / "archive/all/1.atom", feeds / article(2)
    whole = page.read_bytes(), story.read_bytes()
    page.write_bytes(whole[0][: len(whole[0]) // 2])  # the fingerprint comment is intact
    story.write_bytes(whole[1].replace(b"Seed story 2", b"Seed story 2 (edited by hand)"))
    renders.clear()
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert (page.read_bytes(), story.read_bytes()) == whole
    assert set(report.published.also_written) == {"archive/all/1.atom", article(2)}


def test_kept_entries_follow_a_new_base_url(newsroom, tmp_path):
    for n in range(5):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(load_config(newsroom(entries_per_feed=2)), now=T0)
    page = tmp_path / "feeds" / "archive" / "all" / "1.atom"
    old_base = "http://127.0.0.1:8080/"
    assert f'scheme="{old_base}section/"' in page.read_text("utf-8")

    refresh(load_config(newsroom(entries_per_feed=2, base_url="https://news.example/")), now=T0)
    text = page.read_text("utf-8")
    assert 'scheme="https://news.example/section/"' in text
    assert 'href="https://news.example/article/' in text
    # The entries' ids stay what they were first published as: ids are for good.
    assert f'href="{old_base}' not in text and f'scheme="{old_base}' not in text
    assert f"<id>{old_base}article/" in text


def test_the_store_knows_whether_anything_published_was_written(newsroom, tmp_path):
    write_seed(tmp_path / "seeds", seed_name(1), "Bridge Reopens After Long Repairs")
    write_seed(tmp_path / "seeds", seed_name(2), "Harbour Budget Passes")
    config = load_config(newsroom())
    refresh(config, now=T0)
    with Store(config.database) as store:
        assert not store.content_changed()  # the pass published what it stored
        key = f"seed:{1:016x}"
        with store.transaction():
            store.touch(key, T0 + timedelta(hours=1))  # seen again: nothing shown changed
        assert not store.content_changed()
        for write in (
            lambda: store.set_topics(key, ["Bridges"]),
            lambda: store.set_section(key, "Science"),
            lambda: store.make_duplicate(f"seed:{2:016x}", key),
            lambda: store.set_updated(key, T0 + timedelta(hours=2)),
        ):
            with store.transaction():
                store.content_published()
            assert not store.content_changed()
            with store.transaction():
                write()
            assert store.content_changed()
    # And a pass after such a write publishes it, though it stored nothing itself.
    report = refresh(config, now=T0 + timedelta(hours=3))
    assert "section/science.atom" in report.published.written
