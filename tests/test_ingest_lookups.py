"""Store.may_exist lets ingest skip lookups of what cannot be stored: the stories stored
must be the same as with every lookup made (tricky feeds: ids repeated in one feed,
links shared by several entries, an entry renamed at its source, copies of one story,
an id two sources use)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from echofeed import pipeline
from echofeed.config import load_config
from echofeed.pipeline import refresh

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<description>&lt;p&gt;{title} in full.&lt;/p&gt;</description></item>"
        for guid, title, link in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{body}</channel></rss>'
    )


FIRST = {
    "a": [
        ("a1", "Senate Leaders Weigh New Tariffs in Ohio", "https://a.example/s/1"),
        ("a1", "Senate Leaders Weigh New Tariffs in Ohio", "https://a.example/s/1"),  # repeated
        ("a2", "Live: Storm Hits the Coast Overnight", "https://a.example/live"),
        ("a3", "Live: Storm Hits the Coast, More Rain Due", "https://a.example/live"),  # same link
        ("a4", "Central Bank Delays Rate Hike in Lima", "https://a.example/s/4"),
        ("urn:story:7", "Tech Giants Unveil Chip Exports Plan", "https://a.example/s/7"),
    ],
    "b": [
        ("b1", "Senate leaders weigh new tariffs in Ohio - Daily Wire", "https://b.example/1"),
        ("b2", "Central Bank Delays Rate Hike in Lima, officials say", "https://b.example/2"),
        ("b3", "Central Bank Delays Rate Hike in Lima, officials say", "https://b.example/2"),
        (
            "urn:story:7",
            "Nurses Back Pension Reform in Oslo",
            "https://b.example/7",
        ),  # its id taken
    ],
}
SECOND = {
    "a": [
        ("a1-renamed", "Senate Leaders Weigh New Tariffs in Ohio", "https://a.example/s/1"),
        ("a2", "Live: Storm Hits the Coast Overnight", "https://a.example/live"),
        ("a5", "Farmers Brace For Drought Relief Vote", "https://a.example/s/5"),
        ("a6", "Farmers Brace For Drought Relief Vote", "https://a.example/s/6"),
    ],
    "b": [
        ("b1", "Senate Leaders Weigh New Tariffs in Ohio, Updated", "https://b.example/1"),
        ("b4", "Farmers brace for drought relief vote", "https://b.example/4"),
    ],
}


def stored(database: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(database) as db:
        return {
            table: sorted(db.execute(f"select * from {table}"))
            for table in ("stories", "story_topics", "story_signatures")
        }


def run_passes(newsroom, httpserver, tmp_path: Path, name: str) -> dict[str, list[tuple]]:
    config_path = newsroom(
        database=f"{name}.db",
        output_dir=f"{name}-feeds",
        sources=[
            {"name": "Paper A", "url": httpserver.url_for("/a.xml")},
            {"name": "Daily Wire", "url": httpserver.url_for("/b.xml")},
        ],
        topics={"Farms": {"keywords": ["drought"]}},
    )
    config = load_config(config_path)
    for when, feeds in ((T0, FIRST), (T0 + timedelta(hours=2), SECOND)):
        httpserver.clear_all_handlers()
        for path, items in feeds.items():
            httpserver.expect_request(f"/{path}.xml").respond_with_data(
                rss(items), content_type="application/rss+xml"
            )
        report = refresh(config, now=when, force=True)
        assert not report.errors, report.summary()
    return stored(tmp_path / f"{name}.db")


def test_skipped_lookups_store_what_every_lookup_stores(
    newsroom, httpserver, tmp_path, monkeypatch
):
    short_cut = run_passes(newsroom, httpserver, tmp_path, "short")
    ingest_entry = pipeline.ingest_entry

    def every_lookup(store, entry, sorter, config, now, prepared=None, may_exist=None):
        return ingest_entry(store, entry, sorter, config, now, prepared)  # no may_exist

    monkeypatch.setattr(pipeline, "ingest_entry", every_lookup)
    looked_up = run_passes(newsroom, httpserver, tmp_path, "full")
    assert short_cut == looked_up
    assert len(short_cut["stories"]) >= 9  # the cases above were stored, not skipped


def test_topics_prepared_with_a_copy_of_the_sorter_are_the_ones_ingest_would_give(newsroom):
    from copy import deepcopy

    from echofeed.model import Entry
    from echofeed.pipeline import Preparing, prepare_entry
    from echofeed.topics import Sorter

    config = load_config(newsroom(topics={
        "Storms": {"keywords": ["storm"], "sections": ["Weather Desk"]},
        "Farms": {"keywords": ["drought"]},
    }))  # fmt: skip
    sorter = Sorter.from_config(config)
    copy = deepcopy(sorter)
    # Each learns another spelling first, so they name the section differently.
    assert sorter.section_of("Weather Desk") == "Weather Desk"
    assert copy.section_of("weather desk") == "weather desk"
    for given in ("WEATHER DESK", "weather desk", "Weather-Desk", "", "Sports"):
        entry = Entry(
            kind="feed", source="https://a.example/feed", source_name="A", origin_id="1",
            headline="Storm and drought hit the coast", section=given, published=None,
            body_html="<p>A storm came.</p>",
        )  # fmt: skip
        prepared = prepare_entry(entry, Preparing(("A",), copy), "A storm came.")
        section = sorter.section_of(entry.section, entry.categories)
        assert prepared.topics == sorter.topics_of(entry.headline, entry.body_html, section)
        assert ("Storms" in prepared.topics) == (given.lower().replace("-", " ") == "weather desk")
