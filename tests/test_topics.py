"""Sections and topics: where stories are filed, the files they land in, and index.opml.

Feeds are served on 127.0.0.1; seeds are real files; the database is a real
SQLite file reopened on every refresh.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from echofeed.config import load_config, parse_config
from echofeed.errors import ConfigError, PublishError
from echofeed.pipeline import refresh
from echofeed.publish import safe_output_path
from echofeed.topics import MAX_SLUG, SlugBook, Sorter, fold, name_key, slugify

from .conftest import DATA, write_seed
from .feedcheck import entries, validate_atom, validate_output

CATEGORIES = (DATA / "feeds" / "categories.xml").read_bytes()
RSS = (DATA / "feeds" / "rss2.xml").read_bytes()
SAFE_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
BASE = "http://127.0.0.1:8080/"
WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"{d}{i}" for d in ("com", "lpt") for i in range(10)),
}
LONG = "Regional news from the northern provinces and the coastal areas"  # > MAX_SLUG


def make_sorter(**settings: Any) -> Sorter:
    raw = {"title": "T", "base_url": "http://x/", **settings}
    return Sorter.from_config(parse_config(raw, Path("config.yaml")))


def published(output_dir: Path) -> set[str]:
    return {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*.atom")}


def titles(feed: Path) -> list[str]:
    return [str(e["title"]) for e in entries(feed)]


def seed_name(n: int) -> str:
    return f"{n:03d}_{n:016x}.txt"


def opml_groups(output_dir: Path) -> dict[str, list[dict[str, str]]]:
    """index.opml as {group text: [child outline attributes]}, checking its shape."""
    root = etree.parse(str(output_dir / "index.opml")).getroot()
    assert root.tag == "opml" and root.get("version") == "2.0"
    groups = root.find("body").findall("outline")
    # The feeds' JSON Feed twins follow as a fourth group of plain links.
    assert [g.get("text") for g in groups] == ["All", "Sections", "Topics", "JSON Feed"]
    assert {child.get("type") for child in groups[3]} <= {"link"}
    groups = groups[:3]
    return {g.get("text"): [dict(child.attrib) for child in g] for g in groups}


# -- the rules, pure ---------------------------------------------------------


def test_section_precedence_aliases_and_one_display_name():
    sorter = make_sorter(sections={"US": ["U.S.", "United States"]}, default_section="Home")
    assert sorter.section_of("United States") == "US"
    assert sorter.section_of("u. s.") == "US"  # case, punctuation and spacing do not matter
    assert sorter.section_of("", ["Politics", "U.S."]) == "US"  # categories through aliases
    assert sorter.section_of("", ["Politics"]) == "Home"  # not in the table: the default
    assert sorter.section_of("World", ["U.S."]) == "World"  # a given section beats categories
    assert sorter.section_of("world") == "World"  # the first spelling seen is the display
    assert sorter.section_of("WÖRLD.") == "World"
    assert sorter.section_of("home") == "Home"
    assert sorter.section_of("Sports\x01") == "Sports"  # no control character reaches XML
    assert sorter.section_of("U_S") == "US"
    assert sorter.section_of("Łódź") == "Łódź" == sorter.section_of("LODZ")


def test_topics_match_whole_words_and_phrases_ignoring_case_and_accents():
    sorter = make_sorter(
        sections={"US": ["U.S.", "United States"]},
        topics={
            "Venezuela": {"keywords": ["Nicolás Maduro", "Caracas"], "exclude": ["baseball"]},
            "São Paulo": {"keywords": ["Sao Paulo"]},
            "US Politics": {"keywords": ["Senate"], "sections": ["United States"]},
        },
    )

    def topics_of(headline: str, body: str = "", section: str = "World") -> tuple[str, ...]:
        return sorter.topics_of(headline, f"<p>{body}</p>", section)

    assert topics_of("NICOLAS MADURO Speaks") == ("Venezuela",)  # phrase, any case, no accent
    assert topics_of("Talks", "Envoys met in <b>Caracas</b>, then left.") == ("Venezuela",)
    assert topics_of("Maduro speaks") == ()  # one word of a phrase is not the phrase
    assert topics_of("Caracass gets a new mayor") == ()  # whole words only
    assert topics_of("Caracas Baseball Team Wins") == ()  # an exclude term vetoes
    assert topics_of("Rain in SÃO PAULO", "and in Caracas.") == ("Venezuela", "São Paulo")
    assert topics_of("Senate votes", section="US") == ("US Politics",)
    assert topics_of("Senate votes", section="World") == ()  # restricted to US


@given(st.text(alphabet=st.characters(max_codepoint=127)))
@settings(max_examples=300, deadline=None)
def test_ascii_text_folds_by_the_general_rule(text):
    # fold() has a fast path for ASCII: it must give what the general rule gives
    # (lowercase, every run of non-letters-or-digits, `_` too, one space).
    assert fold(text) == " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())
    assert fold(f"{text}é") == " ".join(re.sub(r"[\W_]+", " ", f"{text.lower()}e").split())


def test_categories_feed_topics_through_the_alias_table():
    sorter = make_sorter(
        sections={"US": ["U.S.", "United States"]},
        topics={
            "US News": {"categories": ["United States"], "exclude": ["baseball"]},
            "Weather": {"keywords": ["storm"]},
        },
    )
    assert sorter.topics_of("Budget passes", "", "US", ["Politics", "U.S."]) == ("US News",)
    assert sorter.topics_of("Fog", "", "Home", ["weather"]) == ("Weather",)  # the topic's name
    assert sorter.topics_of("Final", "", "US", ["US", "Baseball"]) == ()  # excluded by category
    assert sorter.topics_of("Museum reopens", "", "Home", ["Culture"]) == ()


HOSTILE = [
    "../../x", "/etc/passwd", "..", ".", "C:\\Windows\\System32", "CON", "nul", "Lpt1",
    "a\0b", "x" * 300, "x" * 299 + "y", "???", "—", "Россия", "Ελλάδα", "日本",
    f"{LONG} West", f"{LONG} East", "\u202eevil", "São Paulo", "Łódź", "U_S",
]  # fmt: skip


def test_hostile_names_give_distinct_safe_slugs(tmp_path):
    slugs, warnings = SlugBook().slugs_for("section", HOSTILE)
    assert len(set(slugs.values())) == len(HOSTILE)
    for name, slug in slugs.items():
        assert SAFE_SLUG.match(slug), (name, slug)
        assert slug not in WINDOWS_DEVICES, (name, slug)
        assert len(slug) <= MAX_SLUG + 11, (name, slug)
        target = safe_output_path(tmp_path, f"section/{slug}.atom")
        assert target.parent == (tmp_path / "section").resolve()
    assert slugs["../../x"] == "x" and slugs["/etc/passwd"] == "etc-passwd"
    assert slugs["São Paulo"] == "sao-paulo"
    assert slugs["Россия"] == "xn--h1alffa9f"  # Punycode, as in domain names
    assert slugs["CON"].startswith("con-") and slugs["nul"].startswith("nul-")
    assert slugs["???"].startswith("x-") and slugs["???"] != slugs["—"]
    assert slugs["Łódź"] == "lodz" and slugs["U_S"] == "u-s"
    assert len(warnings) == 2  # the two pairs of long names
    assert slugify("a\0b") == "a-b"
    for relpath in ("../x.atom", "/etc/x.atom", "section/a\0b.atom", "section/../../x.atom"):
        with pytest.raises(PublishError, match="outside the output folder"):
            safe_output_path(tmp_path / "feeds", relpath)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=8))
def test_any_names_get_safe_slugs_distinct_per_name(names):
    slugs, _ = SlugBook().slugs_for("topic", names)
    by_key = {name_key(name): slugs[name] for name in names}
    assert len(set(by_key.values())) == len(by_key)  # names that are not one get two files
    root = Path("/nonexistent/feeds")
    for slug in slugs.values():
        assert SAFE_SLUG.match(slug) and slug not in WINDOWS_DEVICES
        assert safe_output_path(root, f"topic/{slug}.atom").parent == root / "topic"


def test_a_later_colliding_name_never_takes_an_existing_file():
    west, east = f"{LONG} West", f"{LONG} East"
    plain = slugify(west)
    assert slugify(east) == plain and len(plain) == MAX_SLUG
    first = SlugBook()
    assert first.slugs_for("section", [west]) == ({west: plain}, ())
    later = SlugBook(known=dict(first.added))
    slugs, warnings = later.slugs_for("section", [east, west])
    assert slugs == {east: f"{plain}-2", west: plain}
    assert f"{east!r} is published as section/{plain}-2.atom" in warnings[0]
    # Deciding afresh from the names alone would have renamed the first one's file.
    assert SlugBook().slugs_for("section", [east, west])[0][east] == plain


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"topics": {"Bad\x01": {"keywords": ["a"]}}}, "topics.Bad\x01: 'Bad\\x01': a topic name "
         "must not contain control characters"),
        ({"topics": {"Économie": {"keywords": ["a"]}, "economie": {"keywords": ["b"]}}},
         "topics.economie: same topic as 'Économie'"),
        ({"sections": {"US": ["America"], "Americas": ["america"]}},
         "sections.Americas[0]: 'america' already means section 'US'"),
        ({"sections": {"US": "U.S."}}, "sections.US: must be a list of aliases, not text"),
        ({"topics": {"T": {"keywords": ["ok", "!!!"]}}},
         "topics.T.keywords[1]: '!!!': a keyword needs at least one letter or digit"),
        ({"topics": {"T": None}}, "topics.T.keywords: is required"),
        ({"topics": {"T": {"keywords": ["a"], "tags": ["b"]}}}, "topics.T.tags: unknown key"),
        ({"default_section": "---"}, "default_section: '---': a section name needs"),
    ],
)  # fmt: skip
def test_bad_section_and_topic_config_is_refused_naming_the_key(settings, message):
    raw = {"title": "T", "base_url": "http://x/", **settings}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("config.yaml"))
    assert message in str(caught.value)
    assert str(caught.value).startswith("config.yaml: ")


# -- end to end ------------------------------------------------------------


def test_sections_from_each_origin_and_aliases_make_one_file(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/cats.xml").respond_with_data(CATEGORIES)
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    seeds = tmp_path / "seeds"
    write_seed(seeds, seed_name(1), "Governors Meet in Denver", section="United States")
    write_seed(seeds, seed_name(2), "Rail Strike Ends", section="U.S.")
    write_seed(seeds, seed_name(3), "Wildfire Contained", section="US")
    config = load_config(newsroom(
        sections={"US": ["U.S.", "United States"]},
        default_section="Home",
        sources=[
            {"name": "Cats", "url": httpserver.url_for("/cats.xml")},  # no section: categories
            {"name": "Wire", "url": httpserver.url_for("/wire.xml"), "section": "World"},
        ],
    ))  # fmt: skip
    report = refresh(config)
    assert not report.errors, report.summary()
    out = tmp_path / "feeds"
    validate_output(out)
    assert published(out) == {
        "all.atom", "section/us.atom", "section/world.atom", "section/home.atom",
    }  # fmt: skip
    assert sorted(titles(out / "section" / "us.atom")) == [
        "Governors Meet in Denver", "Local Team Wins the Final", "Rail Strike Ends",
        "Senate Passes the Budget", "Wildfire Contained",
    ]  # fmt: skip
    assert {e["categories"][0] for e in entries(out / "section" / "us.atom")} == {"US"}
    # The wire's own "Weather" category does not override its configured section.
    assert sorted(titles(out / "section" / "world.atom")) == [
        "Central Bank Holds Rates Steady", "Storm Closes Ports Along the Gulf Coast",
        "U.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence",
    ]  # fmt: skip
    assert sorted(titles(out / "section" / "home.atom")) == [
        "Harbor Fog Delays Ferries", "Museum Reopens",
    ]  # fmt: skip
    assert [o["text"] for o in opml_groups(out)["Sections"]] == ["Home", "US", "World"]


def test_spellings_of_one_section_share_its_first_display_name(newsroom, tmp_path):
    seeds = tmp_path / "seeds"
    for n, spelling in enumerate(["World", "world", "WORLD.", "Wörld"], start=1):
        write_seed(seeds, seed_name(n), f"Story number {n}", section=spelling)
    refresh(load_config(newsroom()))
    out = tmp_path / "feeds"
    assert published(out) == {"all.atom", "section/world.atom"}
    assert {e["categories"][0] for e in entries(out / "section" / "world.atom")} == {"World"}
    assert len(entries(out / "section" / "world.atom")) == 4
    # A display name set in the config wins, for the stories already stored too.
    refresh(load_config(newsroom(sections={"World News": ["World"]})))
    assert published(out) == {"all.atom", "section/world-news.atom"}
    assert len(entries(out / "section" / "world-news.atom")) == 4


def test_topics_from_keywords_and_source_categories(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/cats.xml").respond_with_data(CATEGORIES)
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    write_seed(tmp_path / "seeds", seed_name(1), "Senate Recess Begins", section="World")
    config = load_config(newsroom(
        sections={"US": ["U.S.", "United States"]},
        sources=[
            {"name": "Cats", "url": httpserver.url_for("/cats.xml")},
            {"name": "Wire", "url": httpserver.url_for("/wire.xml")},
        ],
        topics={
            "US Politics": {"keywords": ["Senate"], "categories": ["United States"],
                            "exclude": ["baseball"]},
            "Weather": {"keywords": ["storm"]},
            "Culture": {"categories": ["Culture", "Arts"]},
        },
    ))  # fmt: skip
    assert not refresh(config).errors
    out = tmp_path / "feeds"
    validate_output(out)
    # Keyword (seed), alias category (U.S.); the final is tagged Baseball: excluded.
    assert sorted(titles(out / "topic" / "us-politics.atom")) == [
        "Senate Passes the Budget", "Senate Recess Begins",
    ]  # fmt: skip
    # A keyword in the text, or a category equal to the topic's name.
    assert sorted(titles(out / "topic" / "weather.atom")) == [
        "Harbor Fog Delays Ferries", "Storm Closes Ports Along the Gulf Coast",
    ]  # fmt: skip
    assert titles(out / "topic" / "culture.atom") == ["Museum Reopens"]
    [budget] = [e for e in entries(out / "all.atom") if e["title"] == "Senate Passes the Budget"]
    assert budget["categories"] == ["US", "US Politics"]


def test_hostile_section_and_topic_names_stay_inside_output_dir(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    given = [
        "../../x", "/etc/passwd", "..", "C:\\Windows\\System32", "CON", "nul.txt", "???",
        "Россия", "Ελλάδα", "Łódź", "U_S", "Sports\x01",
    ]  # fmt: skip
    for n, section in enumerate(given, start=1):
        write_seed(tmp_path / "seeds", seed_name(n), f"Story filed under {n}", section=section)
    long_section = "Z" * 300
    config = load_config(newsroom(
        sources=[{"name": "Wire", "url": httpserver.url_for("/wire.xml"), "section": long_section}],
        topics={"../../etc/cron.d": {"keywords": ["story"]}, "CON": {"keywords": ["storm"]}},
    ))  # fmt: skip
    outside_before = {p for p in tmp_path.parent.rglob("*") if tmp_path not in p.parents}
    report = refresh(config)
    assert not report.errors and report.seeds_read == len(given), report.summary()
    out = tmp_path / "feeds"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(out in p.parents for p in files)
    assert {p.relative_to(out).parts[0] for p in files if p.parent != out} <= {
        "section", "topic", "article", "archive",
    }  # fmt: skip
    assert {p for p in tmp_path.parent.rglob("*") if tmp_path not in p.parents} == outside_before
    assert {p.name for p in tmp_path.iterdir()} <= {
        "config.yaml", "seeds", "feeds", "echofeed.db", "echofeed.db-wal", "echofeed.db-shm",
    }  # fmt: skip
    sections = [p for p in files if p.parent == out / "section" and p.suffix == ".atom"]
    assert len(sections) == len(given) + 1  # one distinct file per section
    assert all(SAFE_SLUG.match(p.stem) for p in files if p.suffix == ".atom")
    validate_output(out)
    groups = opml_groups(out)
    assert "Sports" in [o["text"] for o in groups["Sections"]]
    assert long_section in [o["text"] for o in groups["Sections"]]
    topic_urls = {o["xmlUrl"] for o in groups["Topics"]}
    assert topic_urls == {
        BASE + f"topic/{p.name}" for p in files if p.parent == out / "topic" and p.suffix == ".atom"
    }
    assert BASE + "topic/etc-cron-d.atom" in topic_urls


def test_empty_topic_and_section_publish_valid_empty_feeds_and_removed_ones_go(newsroom, tmp_path):
    write_seed(tmp_path / "seeds", seed_name(1), "Caracas Talks Resume", section="World")
    topics = {"Venezuela": {"keywords": ["Caracas"]}, "Mars": {"keywords": ["Mars"]}}
    config = load_config(newsroom(sections={"Science": []}, topics=topics))
    refresh(config)
    out = tmp_path / "feeds"
    assert published(out) == {
        "all.atom", "section/science.atom", "section/world.atom",
        "topic/mars.atom", "topic/venezuela.atom",
    }  # fmt: skip
    for empty in ("topic/mars.atom", "section/science.atom"):
        validate_atom(out / empty)
        assert entries(out / empty) == []
    assert [o["text"] for o in opml_groups(out)["Topics"]] == [t.name for t in config.topics]

    report = refresh(load_config(newsroom(topics={"Venezuela": topics["Venezuela"]})))
    assert published(out) == {"all.atom", "section/world.atom", "topic/venezuela.atom"}
    assert report.published is not None
    assert set(report.published.removed) == {
        "topic/mars.atom", "topic/mars.json", "section/science.atom", "section/science.json",
    }  # fmt: skip
    groups = opml_groups(out)
    assert [o["text"] for o in groups["Topics"]] == ["Venezuela"]
    assert [o["text"] for o in groups["Sections"]] == ["World"]
    assert titles(out / "topic" / "venezuela.atom") == ["Caracas Talks Resume"]


def test_topic_rule_change_resorts_stored_stories_without_fetching(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/cats.xml").respond_with_data(CATEGORIES)
    source = {"name": "Cats", "url": httpserver.url_for("/cats.xml")}
    refresh(load_config(newsroom(sources=[source], topics={"Ferries": {"keywords": ["ferry"]}})))
    out = tmp_path / "feeds"
    assert titles(out / "topic" / "ferries.atom") == []  # "ferry" is not "Ferries"
    requests_so_far = len(httpserver.log)
    assert requests_so_far == 1

    # The source is gone from the config: nothing can be fetched, only re-sorted.
    config = load_config(newsroom(sources=[], topics={
        "Ferries": {"keywords": ["ferry", "ferries"]}, "Museums": {"keywords": ["museum"]},
    }))  # fmt: skip
    refresh(config)
    assert len(httpserver.log) == requests_so_far
    assert titles(out / "topic" / "ferries.atom") == ["Harbor Fog Delays Ferries"]
    assert titles(out / "topic" / "museums.atom") == ["Museum Reopens"]
    validate_output(out)
    again = refresh(config)  # same rules: no re-sort, nothing rewritten
    assert again.resorted == 0 and again.published is not None
    assert again.published.written == ()


def test_source_section_change_resorts_without_reparsing(newsroom, tmp_path, httpserver):
    # The server sends the same bytes again, so the body is not parsed again:
    # only the re-sort from stored data can move the stories.
    httpserver.expect_request("/cats.xml").respond_with_data(CATEGORIES)
    source = {"name": "Cats", "url": httpserver.url_for("/cats.xml"), "section": "Wire"}
    aliases = {"US": ["U.S.", "United States"]}
    refresh(load_config(newsroom(sources=[source], sections=aliases)))
    out = tmp_path / "feeds"
    assert published(out) == {"all.atom", "section/us.atom", "section/wire.atom"}
    assert titles(out / "section" / "us.atom") == []  # configured: published, empty

    del source["section"]
    report = refresh(load_config(newsroom(sources=[source], sections=aliases)))
    assert report.sources[0].status == "unchanged" and report.resorted == 4
    assert published(out) == {"all.atom", "section/us.atom", "section/news.atom"}
    assert sorted(titles(out / "section" / "us.atom")) == [
        "Local Team Wins the Final", "Senate Passes the Budget",
    ]  # fmt: skip
    assert "section/wire.atom" in report.published.removed  # only the config made it

    # The source leaves the config; a topic change re-sorts again: its stories stay put.
    topics = {"Ferries": {"keywords": ["ferries"]}}
    report = refresh(load_config(newsroom(sources=[], sections=aliases, topics=topics)))
    assert report.resorted == 1  # the ferry story got its topic; none moved section
    assert published(out) == {
        "all.atom", "section/us.atom", "section/news.atom", "topic/ferries.atom",
    }  # fmt: skip
    assert titles(out / "topic" / "ferries.atom") == ["Harbor Fog Delays Ferries"]


def test_section_that_only_existed_through_an_alias_goes_when_the_alias_does(newsroom, tmp_path):
    write_seed(tmp_path / "seeds", seed_name(1), "Border Talks Open", section="US")
    out = tmp_path / "feeds"
    refresh(load_config(newsroom(sections={"Americas": ["US", "Canada"]})))
    assert published(out) == {"all.atom", "section/americas.atom"}
    assert titles(out / "section" / "americas.atom") == ["Border Talks Open"]

    report = refresh(load_config(newsroom()))
    assert report.resorted == 1
    assert published(out) == {"all.atom", "section/us.atom"}
    assert [o["text"] for o in opml_groups(out)["Sections"]] == ["US"]
    [entry] = entries(out / "all.atom")
    assert entry["categories"] == ["US"]


def test_slugs_stay_put_when_a_colliding_name_appears_later(newsroom, tmp_path, httpserver):
    httpserver.expect_request("/wire.xml").respond_with_data(RSS)
    httpserver.expect_request("/cats.xml").respond_with_data(CATEGORIES)
    west_name, east_name = f"{LONG} West", f"{LONG} East"
    west = {"name": "West", "url": httpserver.url_for("/wire.xml"), "section": west_name}
    east = {"name": "East", "url": httpserver.url_for("/cats.xml"), "section": east_name}
    west_topic = {west_name: {"keywords": ["storm"]}}
    out = tmp_path / "feeds"
    refresh(load_config(newsroom(sources=[west], topics=west_topic)))
    plain = slugify(west_name)
    assert published(out) == {"all.atom", f"section/{plain}.atom", f"topic/{plain}.atom"}

    # "... East" sorts before "... West": decided afresh, it would take the plain name.
    assert slugify(east_name) == plain
    topics = {**west_topic, east_name: {"keywords": ["ferries"]}}
    report = refresh(load_config(newsroom(sources=[west, east], topics=topics)))
    assert "Storm Closes Ports Along the Gulf Coast" in titles(out / "section" / f"{plain}.atom")
    assert "Museum Reopens" in titles(out / "section" / f"{plain}-2.atom")
    assert titles(out / "topic" / f"{plain}.atom") == ["Storm Closes Ports Along the Gulf Coast"]
    assert titles(out / "topic" / f"{plain}-2.atom") == ["Harbor Fog Delays Ferries"]
    assert len([w for w in report.warnings if f"{plain}-2.atom" in w]) == 2
    # Removed and added back, a topic gets its own file name again.
    config = load_config(newsroom(sources=[west, east], topics={east_name: topics[east_name]}))
    refresh(config)
    assert not (out / "topic" / f"{plain}.atom").exists()
    assert titles(out / "topic" / f"{plain}-2.atom") == ["Harbor Fog Delays Ferries"]
    refresh(load_config(newsroom(sources=[west, east], topics=topics)))
    assert titles(out / "topic" / f"{plain}.atom") == ["Storm Closes Ports Along the Gulf Coast"]


def test_opml_groups_all_sections_and_topics(newsroom, tmp_path):
    write_seed(tmp_path / "seeds", seed_name(1), "Caracas Talks Resume", section="World")
    write_seed(tmp_path / "seeds", seed_name(2), "Markets Rally", section="Business")
    out = tmp_path / "feeds"
    refresh(load_config(newsroom()))
    groups = opml_groups(out)
    assert groups["All"] == [{
        "type": "rss", "version": "ATOM1", "text": "GlobalEcho", "title": "GlobalEcho",
        "xmlUrl": BASE + "all.atom", "htmlUrl": BASE,
    }]  # fmt: skip
    assert [(o["text"], o["xmlUrl"]) for o in groups["Sections"]] == [
        ("Business", BASE + "section/business.atom"), ("World", BASE + "section/world.atom"),
    ]  # fmt: skip
    assert groups["Topics"] == []  # the group is there, empty

    topics = {"Venezuela": {"keywords": ["Caracas"]}, "Economy": {"keywords": ["markets"]}}
    refresh(load_config(newsroom(topics=topics)))
    groups = opml_groups(out)
    # In config order (the test fixture writes the YAML with sorted keys).
    assert [(o["text"], o["title"], o["xmlUrl"], o["type"]) for o in groups["Topics"]] == [
        ("Economy", "GlobalEcho: Economy", BASE + "topic/economy.atom", "rss"),
        ("Venezuela", "GlobalEcho: Venezuela", BASE + "topic/venezuela.atom", "rss"),
    ]  # fmt: skip
    assert [len(entries(out / "topic" / f)) for f in ("economy.atom", "venezuela.atom")] == [1, 1]
