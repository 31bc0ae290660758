"""Headline dedup: the labelled corpus, the blocking index, the merge policy, why-duplicate."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from echofeed import dedup
from echofeed.cli import cli
from echofeed.config import load_config
from echofeed.pipeline import refresh
from echofeed.store import Store

from .conftest import DATA, write_seed
from .feedcheck import entries, validate_output
from .rawserver import fixed, raw_server

PUBLISHERS = ("Example Wire", "Daily Paper")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def load_pairs() -> list[tuple[str, str, str, str]]:
    """(label, kind, headline A, headline B) from tests/data/headlines/pairs.tsv."""
    rows = []
    text = (DATA / "headlines" / "pairs.tsv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        assert len(fields) == 4 and fields[0] in ("same", "different"), f"pairs.tsv row {number}"
        label, kind, a, b = (
            re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), f) for f in fields
        )
        rows.append((label, kind, a, b))
    return rows


PAIRS = load_pairs()


def verdict(a: str, b: str) -> dedup.Verdict:
    return dedup.decide(dedup.normalize(a, PUBLISHERS), dedup.normalize(b, PUBLISHERS))


# -- the labelled corpus ---------------------------------------------------------


def test_corpus_no_different_story_merged_and_95_percent_of_same_story_merged():
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    wrong_merges, missed = [], []
    for label, kind, a, b in PAIRS:
        same = verdict(a, b).same
        ok = same == (label == "same")
        tally[label, kind][0] += ok
        tally[label, kind][1] += 1
        if not ok:
            (wrong_merges if label == "different" else missed).append((kind, a, b))
    report = ["label      kind                  right/total"]
    report += [f"{label:<10} {kind:<21} {r}/{n}" for (label, kind), (r, n) in sorted(tally.items())]
    print("\n".join(report))  # shown with pytest -s or -rP: the per-kind numbers
    same_total = sum(1 for p in PAIRS if p[0] == "same")
    different_total = len(PAIRS) - same_total
    assert same_total >= 60 and different_total >= 60
    assert not wrong_merges, "\n".join(report) + f"\nwrong merges: {wrong_merges}"
    assert (same_total - len(missed)) / same_total >= 0.95, f"missed: {missed}"


def test_corpus_covers_every_kind_the_issue_names():
    kinds = Counter((label, kind) for label, kind, _, _ in PAIRS)
    for kind in ("case", "quotes", "entities", "tags", "zero-width", "unicode", "dash",
                 "source-suffix", "source-prefix", "editorial-prefix", "editorial-suffix",
                 "trailing-stop", "number-format", "ampersand", "abbreviation", "hyphenation",
                 "inflection", "leading-article", "words-added", "clauses-reordered"):  # fmt: skip
        assert kinds["same", kind] >= 1, kind
    for kind in ("number", "name", "place", "direction", "negation", "opposite-verb",
                 "ordinal", "swapped", "short-generic"):  # fmt: skip
        assert kinds["different", kind] >= 4, kind


@pytest.mark.parametrize(("label", "kind", "a", "b"), PAIRS)
def test_verdict_is_symmetric_and_every_accepted_pair_shares_a_signature(label, kind, a, b):
    na, nb = dedup.normalize(a, PUBLISHERS), dedup.normalize(b, PUBLISHERS)
    forward, backward = dedup.decide(na, nb), dedup.decide(nb, na)
    assert forward.same == backward.same
    if forward.same:
        # The blocking index must find every pair the rules accept, both ways.
        assert set(dedup.probe_signatures(na)) & set(dedup.signatures(nb)), (a, b)
        assert set(dedup.probe_signatures(nb)) & set(dedup.signatures(na)), (a, b)


def test_rules_named_for_the_cases_editors_ask_about():
    assert verdict("Lakers beat Celtics in overtime", "Celtics beat Lakers in overtime").rule == (
        "order-differs"
    )
    assert verdict("Senate approves budget bill", "Senate rejects budget bill").rule == (
        "differs-opposite"
    )
    assert verdict("Oil prices rise on supply fears", "Oil prices fall on supply fears").rule == (
        "differs-direction"
    )
    assert verdict("Floods displace 10,000 people", "Floods displace 20,000 people").rule == (
        "differs-number"
    )
    assert verdict("Live updates", "Live updates").rule == "too-short-or-generic"
    assert verdict("Stocks slide as oil prices surge", "Oil prices surge as stocks slide").rule == (
        "clauses-reordered"
    )


def test_normalized_form_folds_form_only():
    key = dedup.headline_key
    assert key("BREAKING: U.S. &amp; U.N. Back Cease-Fire Plan – Example Wire.", PUBLISHERS) == (
        key("US and united nations back ceasefire plan")
    )
    assert key("Ｆｉｒｅ　crews\u200b contain blaze") == key("Fire crews contain blaze")
    assert key("Floods displace 10,000") == key("Floods displace 10000")
    assert key("Inflation hits 3.2 percent") != key("Inflation hits 32 percent")
    assert key("Pilots searching for wreck") == key("Pilots search for wreck")
    # "us" the pronoun is not the country.
    assert key("Trump tells us to wait") != key("Trump tells U.S. to wait")
    # A colon prefix that is not a publication's name is part of the story.
    assert key("Ukraine: talks resume in Geneva") != key("Talks resume in Geneva")


# -- scale: the blocking index -------------------------------------------------------


def synthetic_headlines(count: int, seed: int = 7) -> list[str]:
    import random

    rng = random.Random(seed)
    subjects = ["Senate", "Mayor", "Police", "Court", "Union", "Airline", "Minister", "Council",
                "Rebels", "Farmers", "Regulator", "Hospital", "Team", "Bank", "Army"]  # fmt: skip
    verbs = ["approves", "rejects", "probes", "delays", "backs", "blocks", "unveils", "halts",
             "extends", "drops", "reviews", "defends", "targets", "expands", "ends"]  # fmt: skip
    objects = ["budget", "merger", "strike", "tax", "plan", "deal", "ban", "rules", "inquiry",
               "reform", "subsidy", "contract", "talks", "tariffs", "probe"]  # fmt: skip
    places = ["Ohio", "Lyon", "Kenya", "Quebec", "Bavaria", "Osaka", "Chile", "Texas", "Wales",
              "Punjab", "Sicily", "Alberta", "Ghana", "Peru", "Norway"]  # fmt: skip
    return [
        f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} in "
        f"{rng.choice(places)} after {rng.randint(1, 9999)} complaints"
        for _ in range(count)
    ]


def test_lookup_examines_few_candidates_not_every_stored_story(tmp_path):
    stored = synthetic_headlines(3000)
    with Store(tmp_path / "echofeed.db") as store:
        rows = []
        for i, headline in enumerate(stored):
            norm = dedup.normalize(headline)
            rows.append((f"feed:{i}", headline, norm.key, dedup.signatures(norm)))
        store.load_headlines(rows, T0)
        probes = [*stored[:50], *(h + ", officials say" for h in stored[50:100])]
        probes += synthetic_headlines(50, seed=99)
        examined = 0
        for headline in probes:
            norm = dedup.normalize(headline)
            candidates = store.find_record(dedup.probe_signatures(norm), exclude_key="none")
            examined += len(candidates)
            matched = [
                c for c in candidates if dedup.decide(norm, dedup.normalize(c.headline)).same
            ]
            if headline in stored[:100] or headline.endswith("officials say"):
                assert matched, headline
    # Each probe finds its own story and almost nothing else among 3,000.
    assert examined <= 2 * len(probes)


# -- merge policy, end to end ---------------------------------------------------------


def rss(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (guid, link, title) items."""
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>'
        f"<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>"
        f"<description>Copy of {escape(t)}.</description></item>"
        for guid, link, t in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://{title.lower().replace(' ', '')}.example/</link>"
        "<description>d</description>"
        f"{body}</channel></rss>"
    ).encode()


@pytest.fixture
def feeds(httpserver):
    """Serve whatever bytes are in the dict at /<name>.xml; change them between refreshes."""
    served: dict[str, bytes] = {}

    def handler(request: Request) -> Response:
        name = request.path.strip("/").removesuffix(".xml")
        return Response(served[name], content_type="application/rss+xml")

    httpserver.expect_request(re.compile(r"/\w+\.xml")).respond_with_handler(handler)
    return served


def sources(httpserver, *names: str) -> list[dict[str, str]]:
    return [{"name": n, "url": httpserver.url_for(f"/{n.split()[-1].lower()}.xml")} for n in names]


def titles(tmp_path: Path) -> list[str]:
    return sorted(e["title"] for e in entries(tmp_path / "feeds" / "all.atom"))


def test_seed_is_record_and_lists_every_source_that_carried_it(
    newsroom, tmp_path, httpserver, feeds
):
    write_seed(tmp_path / "seeds", "001_00000000000000aa.txt", "Senate Passes Infrastructure Bill")
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1",
         "BREAKING: The Senate passes infrastructure bill - Example Wire"),
        ("w2", "https://wire.example/2", "Senate rejects infrastructure bill"),
    ])  # fmt: skip
    feeds["paper"] = rss("Daily Paper", [
        ("p1", "https://paper.example/1", "Senate passes infrastructure bill, officials say"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire", "Daily Paper")))
    report = refresh(config, now=T0)
    assert report.counts["new"] == 2 and report.counts["duplicate"] == 2, report.summary()
    validate_output(tmp_path / "feeds")
    published = entries(tmp_path / "feeds" / "all.atom")
    assert titles(tmp_path) == [
        "Senate Passes Infrastructure Bill",
        "Senate rejects infrastructure bill",
    ]
    [record] = [e for e in published if e["title"] == "Senate Passes Infrastructure Bill"]
    assert record["id"] == "http://127.0.0.1:8080/article/00000000000000aa.html"
    assert ("related", "https://wire.example/1") in record["links"]
    assert ("related", "https://paper.example/1") in record["links"]
    assert "Example Wire" in record["content"] and "Daily Paper" in record["content"]


def test_seed_arriving_later_takes_over_and_copies_never_publish_again(
    newsroom, tmp_path, httpserver, feeds
):
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Airline plans to cut regional routes"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire")))
    refresh(config, now=T0)
    [first] = entries(tmp_path / "feeds" / "all.atom")
    assert first["id"] == "https://wire.example/1"  # a bare guid gives way to the link
    write_seed(tmp_path / "seeds", "002_00000000000000bb.txt",
               "Exclusive: Airline Plans to Cut Regional Routes")  # fmt: skip
    refresh(config, now=T0 + timedelta(hours=1))
    [record] = entries(tmp_path / "feeds" / "all.atom")
    assert record["id"] == "http://127.0.0.1:8080/article/00000000000000bb.html"
    assert ("related", "https://wire.example/1") in record["links"]
    # The wire edits its copy: still the same story, not published again.
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Airline plans to cut regional routes (Updated)"),
    ])  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert report.counts["updated"] == 1 and report.counts["new"] == 0
    [again] = entries(tmp_path / "feeds" / "all.atom")
    assert again["id"] == record["id"]


def test_external_title_edit_is_an_update_by_id_or_by_link(newsroom, tmp_path, httpserver, feeds):
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Fire crews contain blaze near Athens"),
        ("w2", "https://wire.example/2", "Central bank holds rates steady"),
    ])  # fmt: skip
    feeds["paper"] = rss("Daily Paper", [
        ("p1", "https://paper.example/1", "Fire crews contain blaze near Athens"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire", "Daily Paper")))
    refresh(config, now=T0)
    ids_before = sorted(e["id"] for e in entries(tmp_path / "feeds" / "all.atom"))
    assert len(ids_before) == 2
    # Same id, new title that no longer matches the record: still the same story.
    feeds["paper"] = rss("Daily Paper", [
        ("p1", "https://paper.example/1", "Athens blaze: crews battle flames for third day"),
    ])  # fmt: skip
    # New id, same link, new title: the same entry re-issued, not a new story.
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Fire crews contain blaze near Athens"),
        ("w2-v2", "https://wire.example/2", "Central bank holds interest rates steady at 4%"),
    ])  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.counts["new"] == 0 and report.counts["updated"] == 2, report.summary()
    published = entries(tmp_path / "feeds" / "all.atom")
    assert sorted(e["id"] for e in published) == ids_before
    assert "Central bank holds interest rates steady at 4%" in [e["title"] for e in published]
    report = refresh(config, now=T0 + timedelta(hours=2))
    assert report.counts["new"] == 0 and report.counts["updated"] == 0


def test_edited_seed_headline_is_decided_again(newsroom, tmp_path, httpserver, feeds):
    seed = write_seed(tmp_path / "seeds", "003_00000000000000cc.txt",
                      "Storm Closes Ports Along the Gulf Coast")  # fmt: skip
    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Storm closes ports along Gulf Coast - Example Wire"),
        ("w2", "https://wire.example/2", "Mayor opens new central library in Tampa"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire")))
    refresh(config, now=T0)
    assert titles(tmp_path) == [
        "Mayor opens new central library in Tampa", "Storm Closes Ports Along the Gulf Coast",
    ]  # fmt: skip
    # The editor reuses the file for another story: the wire's storm copy stands on its own.
    write_seed(seed.parent, seed.name, "Tampa Mayor Opens New Central Library")
    refresh(config, now=T0 + timedelta(hours=1))
    assert titles(tmp_path) == [
        "Mayor opens new central library in Tampa",
        "Storm closes ports along Gulf Coast - Example Wire",
        "Tampa Mayor Opens New Central Library",
    ]  # fmt: skip
    # Edited again to the wire's library headline: now a copy... of a feed record, so it
    # takes over as the newsroom's own.
    write_seed(seed.parent, seed.name, "Mayor Opens New Central Library in Tampa")
    refresh(config, now=T0 + timedelta(hours=2))
    published = entries(tmp_path / "feeds" / "all.atom")
    assert sorted(e["title"] for e in published) == [
        "Mayor Opens New Central Library in Tampa",
        "Storm closes ports along Gulf Coast - Example Wire",
    ]  # fmt: skip
    [library] = [e for e in published if "Library" in e["title"]]
    assert library["id"] == "http://127.0.0.1:8080/article/00000000000000cc.html"


def test_record_never_flips_between_copies_across_refreshes_in_any_order(
    newsroom, tmp_path, httpserver, feeds
):
    wire_items = [
        ("w1", "https://wire.example/1", "Floods displace 10,000 in Bangladesh - Example Wire"),
        ("w2", "https://wire.example/2", "Oil prices rise on supply fears"),
    ]
    paper_items = [
        ("p1", "https://paper.example/1", "Floods Displace 10000 in Bangladesh"),
        ("p2", "https://paper.example/2", "Oil prices fall on supply fears"),
    ]
    feeds["wire"], feeds["paper"] = rss("Example Wire", wire_items), rss("Daily Paper", paper_items)
    both = sources(httpserver, "Example Wire", "Daily Paper")
    refresh(load_config(newsroom(sources=both)), now=T0)
    first = {e["id"]: e["title"] for e in entries(tmp_path / "feeds" / "all.atom")}
    expected = ["https://paper.example/2", "https://wire.example/1", "https://wire.example/2"]
    assert sorted(first) == expected
    for step in range(1, 5):
        order = both if step % 2 else both[::-1]
        # Each copy's title changes at its source, in forms that do and do not match.
        wire_now = [*wire_items]
        wire_now[0] = (*wire_items[0][:2],
                       "Floods displace 10,000 in Bangladesh, aid groups warn" if step % 2
                       else "Bangladesh floods: thousands flee rising water")  # fmt: skip
        paper_now = [*paper_items]
        paper_now[0] = (*paper_items[0][:2],
                        "Floods displace 10,000 in Bangladesh, officials say" if step % 2
                        else paper_items[0][2] + " (Updated)")  # fmt: skip
        feeds["wire"] = rss("Example Wire", wire_now[:: 1 if step % 2 else -1])
        feeds["paper"] = rss("Daily Paper", paper_now[:: -1 if step % 2 else 1])
        refresh(load_config(newsroom(sources=order)), now=T0 + timedelta(hours=step))
        ids = sorted(e["id"] for e in entries(tmp_path / "feeds" / "all.atom"))
        assert ids == expected, f"refresh {step}"


def test_a_story_two_sources_carry_is_filed_under_the_one_listed_first_whoever_answers_first(
    newsroom, tmp_path
):
    wire = rss(
        "Example Wire", [("w1", "https://wire.example/1", "Floods displace 10,000 in Bangladesh")]
    )
    paper = rss(
        "Daily Paper", [("p1", "https://paper.example/1", "Floods Displace 10000 in Bangladesh")]
    )
    paper_answered = threading.Event()
    rss_type = {"Content-Type": "application/rss+xml"}

    def wire_after_paper(handler, stopping):
        paper_answered.wait(5)
        fixed(200, wire, rss_type)(handler, stopping)

    def paper_at_once(handler, stopping):
        fixed(200, paper, rss_type)(handler, stopping)
        paper_answered.set()

    with raw_server({"/wire.xml": wire_after_paper, "/paper.xml": paper_at_once}) as base:
        config = load_config(newsroom(sources=[
            {"name": "Example Wire", "url": f"{base}/wire.xml"},
            {"name": "Daily Paper", "url": f"{base}/paper.xml"},
        ]))  # fmt: skip
        report = refresh(config, now=T0)
    assert paper_answered.is_set()
    assert [e["id"] for e in entries(tmp_path / "feeds" / "all.atom")] == ["https://wire.example/1"]
    assert [(s.name, s.counts) for s in report.sources] == [
        ("Example Wire", {"new": 1}), ("Daily Paper", {"duplicate": 1}),
    ]  # fmt: skip


# -- why-duplicate ---------------------------------------------------------------------


def test_why_duplicate_prints_forms_verdict_and_rule(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(tmp_path / "none.yaml"), "why-duplicate",
                                 "BREAKING: U.S. sanctions target shipping firms - Reuters",
                                 "US sanctions target shipping firms."])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "normalized: usa sanction target ship firm" in result.output
    assert "verdict: same story" in result.output and "rule: same-form" in result.output
    result = runner.invoke(cli, ["-c", str(tmp_path / "none.yaml"), "why-duplicate",
                                 "Lakers beat Celtics in overtime",
                                 "Celtics beat Lakers in overtime"])  # fmt: skip
    assert result.exit_code == 0
    assert "verdict: different stories" in result.output
    assert "rule: order-differs" in result.output and "who did what to whom" in result.output


def test_why_duplicate_uses_the_configs_source_names(newsroom, tmp_path):
    config_path = newsroom(
        sources=[{"name": "Kyiv Independent Desk", "url": "https://k.example/f"}]
    )
    a, b = (
        "Grain talks resume in Istanbul - Kyiv Independent Desk",
        "Grain talks resume in Istanbul",
    )
    result = CliRunner().invoke(cli, ["-c", str(config_path), "why-duplicate", a, b])
    assert result.exit_code == 0 and "verdict: same story" in result.output
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "none.yaml"), "why-duplicate", a, b])
    assert "verdict: different stories" in result.output


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_any_text_gives_a_verdict_and_accepted_pairs_share_a_signature(a, b):
    na, nb = dedup.normalize(a), dedup.normalize(b)
    forward = dedup.decide(na, nb)
    assert forward.same == dedup.decide(nb, na).same and forward.rule
    assert dedup.decide(na, na).same == (not na.too_short)
    if forward.same:
        assert set(dedup.probe_signatures(na)) & set(dedup.signatures(nb))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Senate",
                "approves",
                "budget",
                "for",
                "Ohio",
                "schools",
                "new",
                "plan",
                "rail",
                "workers",
                "strike",
                "over",
                "pay",
            ]
        ),
        min_size=4,
        max_size=9,
    ),  # fmt: skip
    st.sampled_from(["officials say", "police say", "report says", "sources say"]),
)
def test_headline_plus_attribution_is_found_through_the_index(words, tail):
    base = " ".join(words)
    na, nb = dedup.normalize(base), dedup.normalize(f"{base}, {tail}")
    if dedup.decide(na, nb).same:
        assert set(dedup.probe_signatures(nb)) & set(dedup.signatures(na))
        assert set(dedup.probe_signatures(na)) & set(dedup.signatures(nb))


def test_database_without_signatures_is_reindexed_on_the_next_refresh(
    newsroom, tmp_path, httpserver, feeds
):
    import sqlite3

    feeds["wire"] = rss("Example Wire", [
        ("w1", "https://wire.example/1", "Pilots strike over pay at regional airline"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire")))
    refresh(config, now=T0)
    with sqlite3.connect(tmp_path / "echofeed.db") as db:  # as an older echofeed left it
        db.execute("delete from story_signatures")
        db.execute("delete from meta where key = 'dedup_rules'")
    feeds["paper"] = rss("Daily Paper", [
        ("p1", "https://paper.example/1", "BREAKING: Pilots Strike Over Pay at Regional Airline"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire", "Daily Paper")))
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.counts["duplicate"] == 1 and report.counts["new"] == 0, report.summary()
    assert titles(tmp_path) == ["Pilots strike over pay at regional airline"]


def test_entries_sharing_one_link_stay_separate_stories(newsroom, tmp_path, httpserver, feeds):
    live = "https://wire.example/live/election"
    feeds["wire"] = rss("Example Wire", [
        ("e1", live, "Polls close in Ohio governor race"),
        ("e2", live, "Turnout reaches record high in Ohio governor race"),
    ])  # fmt: skip
    config = load_config(newsroom(sources=sources(httpserver, "Example Wire")))
    refresh(config, now=T0)
    feeds["wire"] = rss("Example Wire", [
        ("e3", live, "Challenger concedes Ohio governor race"),
        ("e1", live, "Polls close in Ohio governor race"),
        ("e2", live, "Turnout reaches record high in Ohio governor race"),
    ])  # fmt: skip
    report = refresh(config, now=T0 + timedelta(hours=1))
    assert report.counts["new"] == 1 and report.counts["updated"] == 0, report.summary()
    published = entries(tmp_path / "feeds" / "all.atom")
    assert len(published) == 3 and len({e["id"] for e in published}) == 3


def test_bench_helper_finds_every_other_form_and_reports_a_ratio(tmp_path):
    from echofeed.dedup_bench import measure_headline_matching

    bench = measure_headline_matching(stored=500, new=40, workdir=tmp_path)
    # Every other probe is another form of a stored headline; the rest are new stories
    # (a random new one may rarely coincide with a stored one).
    assert bench.stored == 500 and 20 <= bench.matched <= 22
    assert bench.candidates < 3 * bench.checked
    assert bench.ratio > 0 and "ratio" in bench.summary()
