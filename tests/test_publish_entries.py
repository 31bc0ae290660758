"""Each story's <entry> is rendered by feedgen once and reused in every feed and
archive page that holds it: the documents must be byte for byte the ones feedgen
writes when it renders every entry inside the feed itself."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from feedgen.feed import FeedGenerator

from echofeed import publish
from echofeed.config import load_config
from echofeed.model import SourceLink, Story
from echofeed.pipeline import refresh
from echofeed.store import Store

from .conftest import DATA, write_seed
from .feedcheck import validate_atom

RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def whole_feed(monkeypatch: pytest.MonkeyPatch, config, spec, stories, **page) -> bytes:
    """The document as feedgen writes it with every entry added to the feed itself."""

    class WholeFeed(FeedGenerator):
        def atom_str(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            for story in stories:
                publish._add_entry(self, config, story)
            return super().atom_str(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(publish, "FeedGenerator", WholeFeed)
        patch.setattr(publish, "_entry_fragment", lambda base_url, story: b"")
        return publish.render_atom(config, spec, stories, **page)


def awkward_stories() -> list[Story]:
    """Text that could trip a cut at the wrong place or an escape done twice."""
    base = Story(
        key="feed:awkward", atom_id="urn:x:1", kind="external", source_name="Wire & Co",
        origin_id="1", headline="  <entry> & </feed>\n]]> “quoted” \u00e9\U0001f4f0",
        byline="", section="World", body_html="<p>Body <b>bold</b> &amp; </entry></p>",
        summary_html="", link="https://wire.example/a?b=1&c=2", published=T0, updated=T0,
        topics=("Energy", "Energy & Climate"),
        also_carried_by=(SourceLink("Other <Paper>", "https://other.example/x"),
                         SourceLink("Seed desk", "")),
    )  # fmt: skip
    long_summary = dataclasses.replace(
        base, key="feed:long", atom_id="urn:x:2", summary_html="<p>" + "word " * 300 + "</p>"
    )
    return [base, long_summary]


def test_feeds_and_archive_pages_are_the_bytes_feedgen_writes_whole(
    newsroom, real_seed, tmp_path, httpserver, monkeypatch
):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    seeds = tmp_path / "seeds"
    places = ["Caracas oil", "Lima water", "Quito power", "Bogota rail", "Santiago port"]
    for i, place in enumerate(places):
        body = f"Venezuela and {place}: paragraph {i}.\n\nMore about {place} & co."
        write_seed(seeds, f"{i:03d}_{i:016x}.txt", f"{place} deal signed after talks", body)
    config = load_config(newsroom(
        sources=[{"name": "Example Wire", "url": httpserver.url_for("/wire.xml")}],
        topics={"Venezuela": {"keywords": ["Venezuela"]}},
        icon="https://cdn.example/icon.png", logo="https://cdn.example/logo.png",
    ))  # fmt: skip
    report = refresh(config)
    assert not report.errors, report.summary()
    with Store(config.database) as store:
        specs, _ = publish.plan_feeds(config, store.sections())
        stored = publish.newest_first(store.stories_by_keys(store.feed_timelines()[("all", "")]))
    stories = stored + awkward_stories()
    assert len(stored) > 5 and any(s.also_carried_by or s.topics for s in stored)
    hub = dataclasses.replace(config, websub_hub="https://hub.example/")
    pages = [
        {},
        {"prev_archive": 2},
        {"archive_page": 1, "fingerprint": "0" * 32},
        {"archive_page": 3, "prev_archive": 2, "fingerprint": "f" * 32},
    ]
    checked = 0
    for cfg in (config, hub):
        for spec in specs:
            for page in pages:
                for chosen in (stories, stories[:1], []):
                    ours = publish.render_atom(cfg, spec, chosen, **page)
                    assert ours == whole_feed(monkeypatch, cfg, spec, chosen, **page)
                    checked += 1
    assert checked == 2 * len(specs) * len(pages) * 3
    # And what we assemble is a valid Atom document holding every story once.
    path = tmp_path / "check.atom"
    path.write_bytes(publish.render_atom(config, specs[0], stories, archive_page=1))
    root = validate_atom(path).getroot()
    ids = [e.findtext("{http://www.w3.org/2005/Atom}id") for e in root.iter(
        "{http://www.w3.org/2005/Atom}entry")]  # fmt: skip
    assert ids == [s.atom_id for s in stories]


def test_a_story_xml_cannot_carry_is_left_out_with_a_warning(newsroom, tmp_path):
    config = load_config(newsroom())
    spec = publish.plan_feeds(config, ["World"])[0][0]
    good, _ = awkward_stories()
    bad = dataclasses.replace(good, key="feed:bad", atom_id="urn:x:bad", headline="bell \x07")
    warnings: list[str] = []
    document = publish.render_atom(config, spec, [good, bad], warnings=warnings)
    assert document == publish.render_atom(config, spec, [good])
    assert len(warnings) == 1 and "feed:bad" in warnings[0]
