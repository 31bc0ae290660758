"""What gets published: Atom metadata, JSON Feed twins, RFC 5005 archives, byte
stability, stale files and WebSub pings, read back from the files on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree
from werkzeug import Response

from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import DATA, write_seed
from .feedcheck import ATOM, entries, validate_atom, validate_json_feed, validate_output

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
FH = "{http://purl.org/syndication/history/1.0}"
BASE = "http://127.0.0.1:8080/"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def links(element: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for link in element.findall(f"{ATOM}link"):
        found.setdefault(link.get("rel", "alternate"), []).append(link.get("href"))
    return found


def test_feed_and_entries_carry_every_element_readers_use(
    newsroom, real_seed, tmp_path, httpserver
):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    config = load_config(newsroom(
        sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
        topics={"Venezuela": {"keywords": ["Venezuela"]}},
        language="en-GB", icon="https://cdn.example/icon.png",
        logo="https://cdn.example/logo.png", author="GlobalEcho Desk",
    ))  # fmt: skip
    report = refresh(config)
    assert not report.errors, report.summary()
    feeds = tmp_path / "feeds"
    for path in validate_output(feeds):
        root = validate_atom(path).getroot()
        relpath = path.relative_to(feeds).as_posix()
        assert root.findtext(f"{ATOM}id") == BASE + relpath
        assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
        assert root.findtext(f"{ATOM}author/{ATOM}name") == "GlobalEcho Desk"
        assert root.findtext(f"{ATOM}generator") == "echofeed"
        assert root.findtext(f"{ATOM}icon") == "https://cdn.example/icon.png"
        assert root.findtext(f"{ATOM}logo") == "https://cdn.example/logo.png"
        assert links(root)["self"] == [BASE + relpath]
        assert links(root)["alternate"] == [BASE]
        published = entries(path)
        assert published
        # The feed's updated is its newest entry's, not the clock.
        assert root.findtext(f"{ATOM}updated") == max(e["updated"] for e in published)
        for entry in published:
            assert entry["published"] and entry["updated"] >= entry["published"]
            assert entry["author"] and entry["content"] and entry["categories"]
            assert [rel for rel, _ in entry["links"]].count("alternate") == 1
        json_twin = validate_json_feed(path.with_suffix(".json"))
        assert json_twin["feed_url"] == BASE + relpath.replace(".atom", ".json")
        assert [item["id"] for item in json_twin["items"]] == [e["id"] for e in published]
        assert [item["title"] for item in json_twin["items"]] == [e["title"] for e in published]

    tree = etree.parse(str(feeds / "all.atom"))
    [seed] = [
        e for e in tree.getroot().findall(f"{ATOM}entry")
        if e.findtext(f"{ATOM}title").startswith("U.S. Commandos")
    ]  # fmt: skip
    article = BASE + "article/8f9feb9b160033ea.html"
    assert seed.findtext(f"{ATOM}id") == article
    assert links(seed)["alternate"] == [article]
    assert links(seed)["related"] == ["https://wire.example/2026/commandos"]
    assert (feeds / "article" / "8f9feb9b160033ea.html").is_file()
    assert seed.find(f"{ATOM}title").get("type") in (None, "text")
    assert {c.get("term") for c in seed.findall(f"{ATOM}category")} == {"US", "Venezuela"}
    # The real seed's body is one 5,199-character paragraph: the summary is a cut of
    # it at a word boundary, the content the whole of it.
    summary = seed.find(f"{ATOM}summary")
    body = real_seed.read_text(encoding="utf-8").split("\n")[-1]
    assert summary.get("type") == "text" and summary.text.endswith("\u2026")
    assert 200 < len(summary.text) <= 501 and body.startswith(summary.text[:-1])
    assert body in seed.findtext(f"{ATOM}content")
    storm = [e for e in entries(feeds / "all.atom") if e["title"].startswith("Storm")][0]
    assert ("alternate", "https://wire.example/2026/storm-ports") in storm["links"]

    opml = etree.parse(str(feeds / "index.opml"))
    assert set(opml.xpath("//outline[@type='link']/@url")) == {
        BASE + "all.json", BASE + "section/news.json", BASE + "section/us.json",
        BASE + "topic/venezuela.json",
    }  # fmt: skip
    home = (feeds / "index.html").read_text(encoding="utf-8")
    assert f'href="{BASE}topic/venezuela.json"' in home


def seed_names(count: int, start: int = 0) -> list[str]:
    return [f"{n:03d}_{n:016x}.txt" for n in range(start, start + count)]


def follow_archives(feeds: Path, relpath: str) -> tuple[list[str], list[str]]:
    """Read a feed as an RFC 5005 client: the head, then prev-archive to the end.
    Returns (ids in reading order, relpaths of the documents read)."""
    ids: list[str] = []
    read: list[str] = []
    while relpath:
        path = feeds / relpath
        tree = validate_atom(path)
        read.append(relpath)
        root = tree.getroot()
        if read[1:]:
            assert root.find(f"{FH}archive") is not None, f"{relpath}: not marked fh:archive"
            assert links(root)["current"] == [BASE + read[0]]
        ids += [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        [prev] = links(root).get("prev-archive", [None])
        assert prev is None or prev.startswith(BASE)
        relpath = prev[len(BASE) :] if prev else ""
    return ids, read


def test_archives_hold_every_story_exactly_once_and_full_pages_never_change(newsroom, tmp_path):
    config = load_config(newsroom(entries_per_feed=3))
    seeds = tmp_path / "seeds"
    feeds = tmp_path / "feeds"
    names: list[str] = []
    full_pages: dict[str, bytes] = {}
    for step, batch in enumerate((2, 2, 3, 1, 5, 4)):
        new = seed_names(batch, start=len(names))
        for name in new:
            write_seed(seeds, name, f"Story number {name[:3]} of the day")
        names += new
        refresh(config, now=T0 + timedelta(hours=step))
        expected = {f"{BASE}article/{name[4:20]}.html" for name in names}
        ids, read = follow_archives(feeds, "all.atom")
        assert len(ids) == len(expected) and set(ids) == expected, f"after step {step}"
        head = entries(feeds / "all.atom")
        assert len(head) == min(3, len(names))  # the newest entries_per_feed
        newest = sorted(expected)[-3:]  # ids grow with the file numbers here
        assert {e["id"] for e in head} == set(newest)
        section_ids, section_read = follow_archives(feeds, "section/world.atom")
        assert sorted(section_ids) == sorted(ids)
        pages = sorted(p for p in read + section_read if p.startswith("archive/"))
        for relpath in pages:
            page_entries = entries(feeds / relpath)
            assert 1 <= len(page_entries) <= 3
            if len(page_entries) == 3:
                content = (feeds / relpath).read_bytes()
                assert full_pages.setdefault(relpath, content) == content, (
                    f"{relpath} changed after it was full"
                )
    # 17 stories, 3 in the head: 14 archived as 3+3+3+3+2, oldest on page 1.
    assert sorted(full_pages) == [f"archive/all/{n}.atom" for n in (1, 2, 3, 4)] + [
        f"archive/section/world/{n}.atom" for n in (1, 2, 3, 4)
    ]
    first = entries(feeds / "archive" / "all" / "1.atom")
    assert {e["id"] for e in first} == {f"{BASE}article/{n:016x}.html" for n in range(3)}
    # An edit of an archived story does reach its page (the page is not skipped as
    # unchanged), and a page deleted by hand is written again.
    write_seed(seeds, names[1], "Story number 001 of the day", "A corrected paragraph.")
    (feeds / "archive" / "all" / "4.atom").unlink()
    report = refresh(config, now=T0 + timedelta(days=1))
    assert report.published is not None
    assert {"archive/all/1.atom", "archive/all/4.atom"} <= set(report.published.also_written)
    [edited] = [e for e in entries(feeds / "archive/all/1.atom") if "001" in e["title"]]
    assert "corrected" in edited["content"] and edited["updated"] > edited["published"]
    assert (feeds / "archive/all/4.atom").read_bytes() == full_pages["archive/all/4.atom"]
    assert "archive/all/2.atom" in report.published.also_unchanged
    assert (
        links(etree.parse(str(feeds / "archive/all/1.atom")).getroot()).get("prev-archive") is None
    )


def test_unchanged_output_is_byte_identical_and_not_rewritten(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    config = load_config(newsroom(
        entries_per_feed=2,
        sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
        topics={"Ports": {"keywords": ["ports"]}},
    ))  # fmt: skip
    for name in seed_names(4):
        write_seed(tmp_path / "seeds", name, f"Seed story {name[:3]}")
    refresh(config, now=T0)
    feeds = tmp_path / "feeds"
    before = snapshot(feeds)
    assert {"all.json", "index.html", "index.opml", "archive/all/1.atom"} <= set(before)
    report = refresh(config, now=T0 + timedelta(days=3))  # a later clock changes nothing
    assert report.published is not None
    assert report.published.written == () and report.published.also_written == ()
    assert snapshot(feeds) == before
    [updated] = etree.parse(str(feeds / "all.atom")).xpath(
        "/a:feed/a:updated/text()", namespaces={"a": ATOM[1:-1]}
    )
    assert updated == max(e["updated"] for e in entries(feeds / "all.atom"))
    assert updated < (T0 + timedelta(days=1)).isoformat()

    write_seed(tmp_path / "seeds", "009_0000000000000009.txt", "A late story", section="Sport")
    report = refresh(config, now=T0 + timedelta(days=4))
    after = snapshot(feeds)
    changed = {path for path in after if after[path] != before.get(path)}
    assert changed >= {"all.atom", "all.json", "section/sport.atom", "section/sport.json",
                       "index.html", "index.opml", "article/0000000000000009.html"}  # fmt: skip
    # Feeds the new story is not in keep their bytes and their mtime.
    assert "section/world.atom" not in changed and "topic/ports.atom" not in changed
    assert "archive/all/1.atom" not in changed


def test_removed_topic_and_withdrawn_seed_leave_no_stale_files(newsroom, tmp_path):
    seed = write_seed(tmp_path / "seeds", "001_00000000000000aa.txt", "Bridge Reopens")
    config = load_config(newsroom(topics={"Bridges": {"keywords": ["bridge"]}}))
    refresh(config, now=T0)
    feeds = tmp_path / "feeds"
    assert {"topic/bridges.atom", "topic/bridges.json", "article/00000000000000aa.html"} <= {
        p.relative_to(feeds).as_posix() for p in feeds.rglob("*")
    }
    seed.unlink()
    report = refresh(load_config(newsroom(topics={})), now=T0 + timedelta(hours=1))
    assert report.published is not None
    assert set(report.published.removed) == {
        "topic/bridges.atom", "topic/bridges.json", "article/00000000000000aa.html",
    }  # fmt: skip
    assert not (feeds / "topic" / "bridges.json").exists()
    assert entries(feeds / "all.atom") == []
    validate_output(feeds)


def test_websub_hub_is_told_only_about_feeds_that_changed(newsroom, tmp_path, httpserver):
    pings: list[dict[str, list[str]]] = []

    def hub(request):
        pings.append(parse_qs(request.get_data(as_text=True)))
        return Response(status=204)

    httpserver.expect_request("/hub", method="POST").respond_with_handler(hub)
    hub_url = httpserver.url_for("/hub")
    config = load_config(newsroom(websub_hub=hub_url))
    write_seed(tmp_path / "seeds", "001_00000000000000aa.txt", "Bridge Reopens")
    refresh(config, now=T0)
    feeds = tmp_path / "feeds"
    root = etree.parse(str(feeds / "all.atom")).getroot()
    assert links(root)["hub"] == [hub_url]
    assert json.loads((feeds / "all.json").read_text())["hubs"] == [
        {"type": "WebSub", "url": hub_url}
    ]
    assert all(p["hub.mode"] == ["publish"] for p in pings)
    assert sorted(p["hub.url"][0] for p in pings) == [
        BASE + "all.atom", BASE + "all.json",
        BASE + "section/world.atom", BASE + "section/world.json",
    ]  # fmt: skip

    pings.clear()
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert pings == [] and report.published is not None and report.published.pinged == ()

    write_seed(tmp_path / "seeds", "002_00000000000000bb.txt", "Match Ends Level",
               section="Sport")  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert sorted(p["hub.url"][0] for p in pings) == [
        BASE + "all.atom", BASE + "all.json",
        BASE + "section/sport.atom", BASE + "section/sport.json",
    ]  # fmt: skip
    assert report.published is not None and len(report.published.pinged) == 4


def test_hub_failures_are_reported_and_the_feeds_still_publish(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/hub", method="POST").respond_with_data("no", status=500)
    write_seed(tmp_path / "seeds", "001_00000000000000aa.txt", "Bridge Reopens")
    report = refresh(load_config(newsroom(websub_hub=httpserver.url_for("/hub"))), now=T0)
    assert any("HTTP 500" in w and "/hub" in w for w in report.warnings), report.warnings
    assert len(entries(tmp_path / "feeds" / "all.atom")) == 1

    # A hub that is not there at all: one message, not a timeout per feed.
    write_seed(tmp_path / "seeds", "002_00000000000000bb.txt", "Another Story")
    report = refresh(load_config(newsroom(websub_hub="http://127.0.0.1:9/hub")),
                     now=T0 + timedelta(hours=1))  # fmt: skip
    [problem] = [w for w in report.warnings if "WebSub" in w]
    assert "cannot connect" in problem and "127.0.0.1:9" in problem
    assert len(entries(tmp_path / "feeds" / "all.atom")) == 2
