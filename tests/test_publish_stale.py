"""Red team of the shortcuts that let a pass publish less: the skip path (nothing
changed since the last publish), the kept <entry> of each story, and archive and
article pages written without a disk flush. After each change a user makes, the
files on disk must be what a publish from scratch of the same database gives
(`fresh`), and the change must show where a reader would look for it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from echofeed import pipeline
from echofeed.cli import cli
from echofeed.config import Config, load_config
from echofeed.daemon import Daemon
from echofeed.pipeline import refresh
from echofeed.store import Store

from .conftest import write_seed
from .feedcheck import entries
from .test_retention import Feed, rss

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def seed_name(number: int) -> str:
    return f"{number:03d}_{number:016x}.txt"


def files(folder: Path) -> dict[str, bytes]:
    """Every published file (symlinks read through, as a web server would)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def fresh(config: Config, tmp_path: Path) -> dict[str, bytes]:
    """What a publish from scratch of a copy of the database writes: no kept entry,
    no render stamp, no record of the last publish."""
    work = Path(tempfile.mkdtemp(prefix="fresh-", dir=tmp_path))
    copy = work / "echofeed.db"
    with sqlite3.connect(config.database) as source, sqlite3.connect(copy) as db:
        source.backup(db)
        db.execute("delete from render_stamps")
        db.execute("delete from entry_fragments")
        db.execute("delete from meta where key = 'published'")
        db.execute("insert or ignore into publish_pending (key) values ('*')")
    source.close()
    db.close()
    out = work / "feeds"
    with Store(copy) as store:  # publish only: a pass would fetch and store again
        pipeline.publish_all(replace(config, database=copy, output_dir=out), store,
                             pipeline.RefreshReport())  # fmt: skip
    return files(out)


def assert_current(config: Config, tmp_path: Path) -> None:
    """The published files are what a from-scratch publish would write."""
    published = files(config.output_dir)
    expected = fresh(config, tmp_path)
    stale = sorted(p for p in {*published, *expected} if published.get(p) != expected.get(p))
    assert stale == []


def old_base_url_links(config: Config) -> list[str]:
    """Lines of the published files that still point at the old base_url, other than the
    atom:id of a seed (an id is kept for good, whatever the base_url becomes)."""
    found = []
    for relpath, data in files(config.output_dir).items():
        if relpath.endswith(".json"):  # one line: its values, by key
            found += [f"{relpath}: {key}: {value}" for key, value in json_values(json.loads(data))
                      if "127.0.0.1:8080" in value and key != "id"]  # fmt: skip
            continue
        found += [
            f"{relpath}: {line.strip()}"
            for line in data.decode("utf-8").splitlines()
            if "127.0.0.1:8080" in line and not line.strip().startswith("<id>")
        ]
    return found


def json_values(value: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) of every string in a JSON document, with the key it is under."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            yield from json_values(inner, inner_key)
    elif isinstance(value, list):
        for inner in value:
            yield from json_values(inner, key)
    elif isinstance(value, str):
        yield key, value


def titles(config: Config, relpath: str = "all.atom") -> list[str]:
    return [e["title"] for e in entries(config.output_dir / relpath)]


def swap(a: Path, b: Path) -> None:
    text_a, text_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(text_b)
    b.write_bytes(text_a)


def test_seed_edited_deleted_renamed_and_restored(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    seeds = tmp_path / "seeds"
    for n in range(5):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    now = T0
    steps = [
        lambda: write_seed(seeds, seed_name(0), "Seed story 0", "A corrected paragraph."),
        lambda: write_seed(seeds, seed_name(1), "Seed story one retitled"),
        lambda: (seeds / seed_name(2)).unlink(),
        lambda: (seeds / seed_name(3)).rename(seeds / seed_name(9)),
        lambda: write_seed(seeds, seed_name(2), "Seed story 2"),  # restored
        lambda: write_seed(seeds, seed_name(4), "Seed story 4", section="Business"),
        lambda: swap(seeds / seed_name(0), seeds / seed_name(9)),  # two stories trade texts
    ]
    for step in steps:
        step()
        now += timedelta(minutes=10)
        refresh(config, now=now)
        assert_current(config, tmp_path)
    archived = b"".join((config.output_dir / "archive/all").joinpath(p).read_bytes()
                        for p in os.listdir(config.output_dir / "archive/all"))  # fmt: skip
    published = b"".join([(config.output_dir / "all.atom").read_bytes(), archived])
    assert b"A corrected paragraph." in (config.output_dir / f"article/{9:016x}.html").read_bytes()
    assert b"A corrected paragraph." in published
    assert b"Seed story one retitled" in published
    assert not (config.output_dir / f"article/{3:016x}.html").exists()
    assert (config.output_dir / f"article/{9:016x}.html").exists()
    assert (config.output_dir / f"article/{2:016x}.html").exists()
    assert "Seed story 4" in titles(config, "section/business.atom")


def test_feed_edits_drops_and_duplicates_show_after_the_next_pass(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(("a", "Harbour Reopens After Storm", T0),
                                             ("b", "Rail Strike Called Off", T0)))  # fmt: skip
    other = Feed(httpserver, "/other.xml", rss())
    config = load_config(newsroom(entries_per_feed=2, sources=[
        {"name": "Wire", "url": wire.url}, {"name": "Other", "url": other.url}]))  # fmt: skip
    refresh(config, now=T0)
    now = T0 + timedelta(minutes=20)
    wire.body = rss(("a", "Harbour Reopens After Big Storm", T0))  # edited, b dropped
    refresh(config, now=now)
    assert "Harbour Reopens After Big Storm" in titles(config)
    assert_current(config, tmp_path)
    # The same story from another source: the record lists it.
    other.body = rss(("z", "Harbour Reopens After Big Storm", T0 + timedelta(minutes=5)))
    other.body = other.body.replace(b"wire.example/z", b"other.example/z")
    now += timedelta(minutes=20)
    refresh(config, now=now)
    assert b"Reported by: Wire, Other" in (config.output_dir / "all.atom").read_bytes()
    assert b"https://other.example/z" in (config.output_dir / "all.atom").read_bytes()
    assert_current(config, tmp_path)
    # The copy leaves its feed and is pruned: the record no longer lists it.
    other.body = rss()
    now += timedelta(days=120)
    wire.body = rss(("a", "Harbour Reopens After Big Storm", T0))
    refresh(config, now=now)
    assert_current(config, tmp_path)


def test_retention_pruning_with_a_later_now(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(*(
        (f"s{n}", f"Story number {n} of the wire", T0 + timedelta(minutes=n)) for n in range(5)
    )))  # fmt: skip
    config = load_config(newsroom(entries_per_feed=2, retention_days=1,
                                  sources=[{"name": "Wire", "url": wire.url}]))  # fmt: skip
    refresh(config, now=T0 + timedelta(hours=1))
    wire.body = rss(("s9", "A later story of the wire", T0 + timedelta(days=3)))
    now = T0 + timedelta(days=3)
    refresh(config, now=now)
    assert titles(config)[0] == "A later story of the wire"
    assert_current(config, tmp_path)
    # A pass with nothing new but a later clock prunes more: the skip path must not hide it.
    now += timedelta(days=3)
    wire.body = rss(("s10", "The latest story of the wire", now))
    refresh(config, now=now)
    now += timedelta(hours=2)
    refresh(config, now=now)
    assert titles(config) == ["The latest story of the wire"]
    assert_current(config, tmp_path)


@pytest.mark.parametrize(
    "edit",
    [
        {"topics": {"Ports": {"keywords": ["harbour"]}}},
        {"sections": {"Globe": ["world"]}},
        {"entries_per_feed": 3},
        {"entries_per_feed": 1},
        {"base_url": "https://news.example/"},
        {"title": "EchoDaily"},
        {"language": "fr", "author": "Desk"},
    ],
)
def test_config_edits_republish(newsroom, tmp_path, edit):
    config = load_config(newsroom(entries_per_feed=2, topics={"Rail": {"keywords": ["rail"]}}))
    for n in range(6):
        write_seed(tmp_path / "seeds", seed_name(n), f"Harbour and rail story {n}")
    refresh(config, now=T0)
    refresh(config, now=T0 + timedelta(minutes=5))
    settings = {"entries_per_feed": 2, "topics": {"Rail": {"keywords": ["rail"]}}, **edit}
    config = load_config(newsroom(**settings))
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert_current(config, tmp_path)
    if "base_url" in edit:
        assert old_base_url_links(config) == []


def test_output_files_deleted_edited_touched_symlinked_or_added(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    for n in range(5):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    out, now = config.output_dir, T0
    actions = [
        lambda: (out / "all.json").unlink(),
        lambda: (out / "all.atom").write_bytes(b"<feed/>"),
        lambda: os.utime(out / "section/world.atom", ns=(1, 1)),
        lambda: (out / "archive/all/1.atom").write_bytes(b"garbage"),
        lambda: (out / f"article/{1:016x}.html").write_text("defaced"),
        lambda: (out / "extra").mkdir(),
        lambda: shutil.rmtree(out / "archive"),
        lambda: shutil.rmtree(out),
    ]
    for action in actions:
        action()
        now += timedelta(minutes=5)
        refresh(config, now=now)
        assert_current(config, tmp_path)


def test_head_feed_replaced_by_a_symlink_to_another_feed(newsroom, tmp_path):
    """`ln -sf all.atom section/world.atom`: the next pass publishes the section's own
    feed at that name again, and all.atom stays the feed of everything."""
    config = load_config(newsroom(entries_per_feed=1))
    write_seed(tmp_path / "seeds", seed_name(2), "An older world story", section="World")
    write_seed(tmp_path / "seeds", seed_name(0), "A world story", section="World")
    write_seed(tmp_path / "seeds", seed_name(1), "A business story", section="Business")
    refresh(config, now=T0)
    out = config.output_dir
    heads = {p: (out / p).read_bytes() for p in ("all.atom", "section/world.atom")}
    (out / "section/world.atom").unlink()
    (out / "section/world.atom").symlink_to(out / "all.atom")
    archived = ("archive/all/1.atom", "archive/section/world/1.atom")
    pages = {p: (out / p).read_bytes() for p in (f"article/{0:016x}.html", "all.json", *archived)}
    (out / archived[1]).unlink()
    (out / archived[1]).symlink_to("../../all/1.atom")
    (out / f"article/{1:016x}.html").unlink()
    (out / f"article/{1:016x}.html").symlink_to(out / f"article/{0:016x}.html")
    (out / "section/world.json").unlink()
    (out / "section/world.json").symlink_to("../all.json")
    for minutes in (5, 10):
        refresh(config, now=T0 + timedelta(minutes=minutes))
        assert {p: (out / p).read_bytes() for p in heads} == heads
        assert {p: (out / p).read_bytes() for p in pages} == pages
        assert b"A business story" in (out / f"article/{1:016x}.html").read_bytes()
    assert_current(config, tmp_path)


def test_database_restored_from_an_older_copy(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    seeds = tmp_path / "seeds"
    write_seed(seeds, seed_name(0), "Seed story 0")
    refresh(config, now=T0)
    shutil.copyfile(config.database, tmp_path / "backup.db")
    write_seed(seeds, seed_name(0), "Seed story 0", "An edit after the backup.")
    for n in range(1, 6):  # enough to freeze archive pages the backup knows nothing of
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0 + timedelta(minutes=5))
    assert (config.output_dir / "archive/all/2.atom").exists()
    # The editor undoes the day: the seeds and the database go back to the backup.
    for n in range(1, 6):
        (seeds / seed_name(n)).unlink()
    write_seed(seeds, seed_name(0), "Seed story 0")
    shutil.copyfile(tmp_path / "backup.db", config.database)
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert titles(config) == ["Seed story 0"]
    assert b"An edit after the backup." not in b"".join(files(config.output_dir).values())
    assert list((config.output_dir / "archive").rglob("*.atom")) == []
    assert_current(config, tmp_path)


def test_pass_killed_between_storing_and_publishing(newsroom, tmp_path, monkeypatch):
    config = load_config(newsroom())
    write_seed(tmp_path / "seeds", seed_name(0), "Seed story 0")
    refresh(config, now=T0)

    def killed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "publish_all", killed)
        write_seed(tmp_path / "seeds", seed_name(0), "Seed story 0 corrected")
        with pytest.raises(KeyboardInterrupt):
            refresh(config, now=T0 + timedelta(minutes=5))
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert titles(config) == ["Seed story 0 corrected"]
    assert_current(config, tmp_path)


@pytest.mark.parametrize("where", ["put_render_stamps", "content_published", "set_meta"])
def test_pass_killed_after_writing_files_before_recording_them(newsroom, tmp_path, where):
    config = load_config(newsroom(entries_per_feed=2))
    for n in range(5):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)

    def killed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, where, killed)
        write_seed(tmp_path / "seeds", seed_name(0), "Seed story 0", "Corrected.")
        write_seed(tmp_path / "seeds", seed_name(5), "Seed story 5")
        with pytest.raises(KeyboardInterrupt):
            refresh(config, now=T0 + timedelta(minutes=5))
    # Then the pass after it, and a page damaged in between.
    (config.output_dir / "archive/all/1.atom").write_bytes(b"")
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert b"Corrected." in (config.output_dir / f"article/{0:016x}.html").read_bytes()
    assert_current(config, tmp_path)


def test_two_configs_sharing_one_database(newsroom, tmp_path):
    """A mirror with its own output folder, base_url, title and topics on the same
    database: each publishes its own files after each pass of its own."""
    other = load_config(newsroom(output_dir="mirror", title="Mirror",
                                 base_url="https://mirror.example/",
                                 topics={"Storms": {"keywords": ["storm"]}}))  # fmt: skip
    config = load_config(newsroom(entries_per_feed=2))
    seeds = tmp_path / "seeds"
    for n in range(4):
        write_seed(seeds, seed_name(n), f"Storm story {n}")
    now = T0
    for step in range(6):
        if step in (2, 3):
            write_seed(seeds, seed_name(0), f"Storm story 0, take {step}")
        each = (config, other)[step % 2]
        now += timedelta(minutes=1)
        refresh(each, now=now)
        assert_current(each, tmp_path)
        if step >= 3:
            assert (
                b"Storm story 0, take 3"
                in (each.output_dir / f"article/{0:016x}.html").read_bytes()
            )
    assert (other.output_dir / "topic/storms.atom").exists()
    assert not (config.output_dir / "topic/storms.atom").exists()


def test_output_folder_switched_away_and_back(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    seeds = tmp_path / "seeds"
    for n in range(5):
        write_seed(seeds, seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    elsewhere = load_config(newsroom(entries_per_feed=2, output_dir="elsewhere"))
    write_seed(seeds, seed_name(0), "Seed story 0", "Edited while publishing elsewhere.")
    refresh(elsewhere, now=T0 + timedelta(minutes=5))
    config = load_config(newsroom(entries_per_feed=2))
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert (
        b"Edited while publishing elsewhere."
        in (config.output_dir / "archive/all/1.atom").read_bytes()
    )
    assert_current(config, tmp_path)


def test_cli_refresh_force_publishes_what_it_fetched(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(("a", "Harbour Reopens", T0)))
    path = newsroom(sources=[{"name": "Wire", "url": wire.url}])
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "-c", str(path), "refresh"]).exit_code == 0
    wire.body = rss(("a", "Harbour Reopens At Dawn", T0))
    assert runner.invoke(cli, ["-q", "-c", str(path), "refresh", "--force"]).exit_code == 0
    config = load_config(path)
    assert titles(config) == ["Harbour Reopens At Dawn"]
    assert runner.invoke(cli, ["-q", "-c", str(path), "refresh", "--force"]).exit_code == 0
    assert_current(config, tmp_path)


def test_forced_refresh_and_daemon_passes_in_one_process(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(("a", "Harbour Reopens", T0)))
    config = load_config(newsroom(sources=[{"name": "Wire", "url": wire.url}]))
    daemon = Daemon(config)
    assert daemon.run_pass("start") is not None
    wire.body = rss(("a", "Harbour Reopens At Dawn", T0))
    refresh(config, now=datetime.now(UTC) + timedelta(minutes=1), force=True)
    assert titles(config) == ["Harbour Reopens At Dawn"]
    write_seed(tmp_path / "seeds", seed_name(0), "A seed between daemon passes")
    wire.body = rss(("a", "Harbour Reopens At Dusk", T0))
    assert daemon.run_pass("seeds changed") is not None
    assert "A seed between daemon passes" in titles(config)
    assert_current(config, tmp_path)


# -- kept entries --------------------------------------------------------------


def test_kept_entries_follow_carriers_topics_withdrawal_and_base_url(
    newsroom, tmp_path, httpserver
):
    wire = Feed(httpserver, "/wire.xml", rss())
    settings = {"entries_per_feed": 2, "topics": {"Harbour": {"keywords": ["harbour"]}},
                "sources": [{"name": "Wire", "url": wire.url}]}  # fmt: skip
    config = load_config(newsroom(**settings))
    seeds = tmp_path / "seeds"
    write_seed(seeds, seed_name(0), "Harbour Reopens After Storm")
    for n in range(1, 5):
        write_seed(seeds, seed_name(n), f"Unrelated seed {n}")
    now = T0
    refresh(config, now=now)

    def step(config: Config) -> None:
        nonlocal now
        now += timedelta(minutes=10)
        refresh(config, now=now)
        assert_current(config, tmp_path)

    # A carrier arrives for the archived seed, then leaves its feed and is pruned.
    wire.body = rss(("h", "Harbour Reopens After Storm", now))
    step(config)
    page = (config.output_dir / "archive/all/1.atom").read_bytes()
    assert b"https://wire.example/h" in page
    # Topics change by a config edit.
    config = load_config(newsroom(**{**settings, "topics": {"Storms": {"keywords": ["storm"]}}}))
    step(config)
    assert b'term="Storms"' in (config.output_dir / "archive/all/1.atom").read_bytes()
    # Withdrawn, then restored.
    (seeds / seed_name(0)).unlink()
    step(config)
    assert b"Harbour Reopens" not in (config.output_dir / "archive/all/1.atom").read_bytes()
    write_seed(seeds, seed_name(0), "Harbour Reopens After Storm")
    step(config)
    assert b"Harbour Reopens" in (config.output_dir / "archive/all/1.atom").read_bytes()
    # A new base_url reaches every kept entry.
    config = load_config(newsroom(**{**settings, "topics": {"Storms": {"keywords": ["storm"]}},
                                     "base_url": "https://news.example/"}))  # fmt: skip
    step(config)
    assert old_base_url_links(config) == []
    # The carrier leaves its feed and is pruned.
    now += timedelta(days=200)
    wire.body = rss(("x", "Something else entirely", now))
    step(config)
    assert b"https://wire.example/h" not in (config.output_dir / "archive/all/1.atom").read_bytes()


def test_pruned_archived_story_renders_from_its_snapshot(newsroom, tmp_path, httpserver):
    wire = Feed(httpserver, "/wire.xml", rss(*(
        (f"s{n}", f"Wire story number {n}", T0 + timedelta(minutes=n)) for n in range(5)
    )))  # fmt: skip
    config = load_config(newsroom(entries_per_feed=2, retention_days=1,
                                  sources=[{"name": "Wire", "url": wire.url}]))  # fmt: skip
    refresh(config, now=T0 + timedelta(hours=1))
    before = (config.output_dir / "archive/all/1.atom").read_bytes()
    wire.body = rss(("new", "A much later story", T0 + timedelta(days=5)))
    now = T0 + timedelta(days=5)
    refresh(config, now=now)
    assert (config.output_dir / "archive/all/1.atom").read_bytes() == before
    assert_current(config, tmp_path)
    # The pruned story's entry is deleted from the keep: the page is rendered from its snapshot.
    with sqlite3.connect(config.database) as db:
        db.execute("delete from entry_fragments")
        db.execute("delete from render_stamps")
    db.close()
    (config.output_dir / "archive/all/1.atom").unlink()
    refresh(config, now=now + timedelta(minutes=5))
    assert (config.output_dir / "archive/all/1.atom").read_bytes() == before


# -- pages written without a disk flush -----------------------------------------


def test_truncated_or_edited_archive_and_article_pages_are_rendered_again(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=2))
    for n in range(6):
        write_seed(tmp_path / "seeds", seed_name(n), f"Seed story {n}")
    refresh(config, now=T0)
    out, now = config.output_dir, T0
    page, article = out / "archive/all/1.atom", out / f"article/{0:016x}.html"
    good_page, good_article = page.read_bytes(), article.read_bytes()
    damage = [
        lambda: page.write_bytes(good_page[: len(good_page) // 2]),  # cut short
        lambda: page.write_bytes(good_page[:-20] + b"\0" * 20),  # a zeroed tail
        # Edited in the middle: fingerprint comment and closing tag intact.
        lambda: page.write_bytes(good_page.replace(b"Seed story 0", b"Seed story X", 1)),
        lambda: page.write_bytes(good_page.replace(b"Seed story 0", b"Fake news", 1)),
        lambda: article.write_bytes(good_article[:100]),
        lambda: article.write_bytes(good_article.replace(b"Seed story 0", b"Seed story X")),
    ]
    for harm in damage:
        harm()
        now += timedelta(minutes=5)
        refresh(config, now=now)
        assert (page.read_bytes(), article.read_bytes()) == (good_page, good_article)


def test_story_pruned_again_after_a_killed_pass_shows_its_last_version(
    newsroom, tmp_path, httpserver, monkeypatch
):
    """A pruned archived story comes back edited (same length), the pass that stored it
    is killed before publishing, and the next pass prunes it again: its page shows the
    edit, not the first snapshot."""
    wire = Feed(httpserver, "/wire.xml", rss(*(
        (f"s{n}", f"Wire story number {n}", T0 + timedelta(minutes=n)) for n in range(5)
    )))  # fmt: skip
    config = load_config(newsroom(entries_per_feed=2, retention_days=1,
                                  sources=[{"name": "Wire", "url": wire.url}]))  # fmt: skip
    refresh(config, now=T0 + timedelta(hours=1))
    now = T0 + timedelta(days=5)
    wire.body = rss(("n1", "A much later story", now))
    refresh(config, now=now)
    assert b"Wire story number 0" in (config.output_dir / "archive/all/1.atom").read_bytes()

    def killed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "publish_all", killed)
        wire.body = rss(("s0", "Wire story NUMBER 0", T0), ("n1", "A much later story", now))
        with pytest.raises(KeyboardInterrupt):
            refresh(config, now=now + timedelta(hours=2))
    now += timedelta(days=3)
    wire.body = rss(("n2", "An even later story", now))
    refresh(config, now=now)
    page = (config.output_dir / "archive/all/1.atom").read_bytes()
    assert b"Wire story NUMBER 0" in page
    assert_current(config, tmp_path)


def test_seed_copy_withdrawn_leaves_the_records_kept_entry(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=1))
    seeds = tmp_path / "seeds"
    write_seed(seeds, seed_name(0), "Dam Breach Floods Valley Town")
    refresh(config, now=T0)
    write_seed(seeds, seed_name(1), "Dam Breach Floods Valley Town", publication="Valley Desk")
    write_seed(seeds, seed_name(2), "An unrelated later story")
    refresh(config, now=T0 + timedelta(minutes=5))
    page = config.output_dir / "archive/all/1.atom"
    assert b"Reported by: GlobalEcho, Valley Desk" in page.read_bytes()
    (seeds / seed_name(1)).unlink()
    now = T0 + timedelta(minutes=10)
    refresh(config, now=now)
    assert b"Valley Desk" not in page.read_bytes()
    assert b"Valley Desk" not in (config.output_dir / f"article/{0:016x}.html").read_bytes()
    assert_current(config, tmp_path)
