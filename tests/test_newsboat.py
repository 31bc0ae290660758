"""A real feed reader reads the output: newsboat, headless, over http://127.0.0.1.

newsboat keeps what it read in an SQLite cache (`rss_item`); the test reads it
back and compares every entry with the published feeds. Skipped only where
newsboat is not installed (CI installs the Debian package).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from echofeed.config import load_config
from echofeed.pipeline import refresh

from .conftest import DATA, write_seed
from .feedcheck import entries, validate_output
from .httpfolder import folder_server

NEWSBOAT = shutil.which("newsboat")
RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(NEWSBOAT is None, reason="newsboat is not installed")


def run_newsboat(home: Path, feed_urls: list[str]) -> tuple[Path, str]:
    """`newsboat -x reload print-unread` with a private HOME, config, cache and urls file."""
    home.mkdir()
    urls = home / "urls"
    urls.write_text("".join(f"{url}\n" for url in feed_urls), encoding="utf-8")
    config = home / "config"
    config.write_text("download-timeout 20\nreload-threads 2\n", encoding="utf-8")
    cache = home / "cache.db"
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    result = subprocess.run(
        [NEWSBOAT, "-u", str(urls), "-C", str(config), "-c", str(cache),
         "-x", "reload", "print-unread"],
        env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, f"newsboat failed: {result.stdout}\n{result.stderr}"
    return cache, result.stdout


def test_newsboat_stores_every_entry_with_its_title_link_and_date(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/wire.xml").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    with folder_server() as server:
        base_url = server.url
        config = load_config(newsroom(
            base_url=base_url,
            entries_per_feed=4,
            sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
            topics={"Venezuela": {"keywords": ["Venezuela"]}},
        ))  # fmt: skip
        seeds = tmp_path / "seeds"
        for n, headline in enumerate(
            ["Bridge Reopens After Repairs", 'Council Votes "Yes" on Budget < 5% & Tax',
             "Caf\u00e9 Owners in Caracas Reopen", "Harbour Lights Return"]
        ):  # fmt: skip
            write_seed(seeds, f"{n:03d}_{n:016x}.txt", headline, section="City")
        refresh(config, now=T0)
        # An edit: the entry's updated moves, its published does not.
        write_seed(seeds, f"{0:03d}_{0:016x}.txt", "Bridge Reopens After Repairs",
                   "A corrected first paragraph.\n\nMore.", section="City")  # fmt: skip
        refresh(config, now=T0 + timedelta(hours=5))
        feeds = tmp_path / "feeds"
        heads = validate_output(feeds)
        server.serve(feeds)

        feed_urls = [base_url + p.relative_to(feeds).as_posix() for p in heads]
        cache, stdout = run_newsboat(tmp_path / "newsboat", feed_urls)

    published = {}
    for path in heads:
        for entry in entries(path):
            published[entry["id"]] = entry
    # Seeds 4 + wire 3, one wire story being the same as no seed: nothing deduplicated here.
    assert len(published) >= 7
    with sqlite3.connect(cache) as db:
        rows = db.execute(
            "select guid, title, url, pubDate, author from rss_item where deleted = 0"
        ).fetchall()
    stored = {guid: (title, url, date, author) for guid, title, url, date, author in rows}
    assert set(stored) == set(published), "newsboat did not store exactly the published entries"
    assert f"{len(published)} unread articles" in stdout
    for entry_id, entry in published.items():
        title, url, date, author = stored[entry_id]
        assert title == entry["title"]
        [alternate] = [href for rel, href in entry["links"] if rel == "alternate"]
        assert url == alternate
        assert author == entry["author"]
        expected = datetime.fromisoformat(str(entry["published"]))
        assert datetime.fromtimestamp(date, UTC) == expected, (entry_id, date, entry)
    bridge = stored[f"{base_url}article/{0:016x}.html"]
    assert bridge[0] == "Bridge Reopens After Repairs"
    assert bridge[1] == f"{base_url}article/{0:016x}.html"
    assert datetime.fromtimestamp(bridge[2], UTC) == T0
    council = stored[f"{base_url}article/{1:016x}.html"]
    assert council[0] == 'Council Votes "Yes" on Budget < 5% & Tax'
