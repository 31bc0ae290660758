"""A synthetic newsroom of any size, for the benchmark: seed files, external feeds, a server.

`generate_newsroom(folder, n_seeds, n_feeds, entries_per_feed)` writes
`seeds/` (files in the real seed format, see shared/SEED-FORMAT.md),
`feeds/` (RSS 2.0 and Atom 1.0 files, HTML-heavy) and `manifest.json`
(what was generated, including how many entries retell a story another
source already carried). `serve_folder()` serves `feeds/` on 127.0.0.1 with
ETag / If-None-Match, so an unchanged feed costs a 304; `change_inputs()`
edits a share of the seeds and feeds, for the "1% changed" pass.

Everything is deterministic for a given `rng_seed`, except the dates, which
are recent relative to the clock (echofeed discards dates in the future or
long past).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECTIONS = ("US", "World", "Business", "Politics", "Science", "Sports", "Culture", "Tech")
PUBLICATION = "GlobalEcho"
WIRE_NAMES = ("Wire", "Herald", "Courier", "Post", "Times", "Gazette", "Tribune", "Ledger")
TOPICS = {
    "Venezuela": ["Venezuela", "Maduro", "Caracas"],
    "Climate": ["climate", "emissions", "drought"],
    "Elections": ["election", "ballot", "campaign"],
    "Markets": ["markets", "stocks", "inflation"],
}

_SUBJECTS = (
    "Senate Leaders", "Central Bank", "Maduro", "Union Workers", "City Council", "Scientists",
    "Farmers", "The White House", "Tech Giants", "Oil Producers", "Voters", "Regulators",
    "The Governor", "Coast Guard", "Teachers", "Hospital Chiefs", "Trade Ministers", "Investors",
    "Election Officials", "Rebel Groups", "Airline Pilots", "The Mayor", "Climate Envoys",
    "Tenants", "Football Club", "Prosecutors", "Startup Founders", "Nurses", "Engineers",
    "Judges", "Fishermen", "Diplomats", "Police Chiefs", "Museum Curators", "Miners",
    "Astronomers", "Truck Drivers", "Court", "Parliament", "Refugees",
)  # fmt: skip
_VERBS = (
    "Weigh", "Reject", "Back", "Warn Over", "Push For", "Delay", "Approve", "Challenge",
    "Seek Talks On", "Brace For", "Rally Against", "Probe", "Unveil", "Cut", "Defend",
    "Expand", "Question", "Scrap", "Revive", "Block", "Celebrate", "Fear", "Debate", "Test",
    "Split Over", "Study", "Fund", "Halt", "Mark", "Embrace",
)  # fmt: skip
_OBJECTS = (
    "New Tariffs", "Drought Relief", "Border Deal", "Rate Hike", "Emissions Plan",
    "Ballot Rules", "Campaign Spending", "Stocks Slide", "Inflation Data", "Pension Reform",
    "Water Rights", "Housing Bill", "Vaccine Rollout", "Rail Strike", "Budget Gap",
    "Mining Permits", "Data Privacy Law", "School Funding", "Fuel Prices", "Wildfire Season",
    "Peace Talks", "Chip Exports", "Bridge Repairs", "Fishing Quotas", "Flood Defenses",
    "Space Launch", "Minimum Wage", "Refinery Fire", "Trade Pact", "Election Recount",
)  # fmt: skip
_PLACES = (
    "Caracas", "Texas", "Brussels", "Ohio", "Lagos", "Mumbai", "São Paulo", "Québec",
    "Nairobi", "Berlin", "Manila", "Arizona", "Lima", "Kyiv", "Seoul", "Oslo", "Bogotá",
    "Chicago", "Jakarta", "Cairo", "Montréal", "Zürich", "Dakar", "Reykjavík", "Hanoi",
)  # fmt: skip
_NAMES = (
    "Ahmad Wehbe", "Ana Reporter", "Li Wei", "María José Pérez", "John O'Neill", "Chloé Martin",
    "Kwame Mensah", "Sofia Rossi", "Jonas Berg", "Priya Natarajan", "Tomasz Nowak", "Aiko Sato",
)  # fmt: skip
_WORDS = (
    "officials said the decision would affect thousands of residents across the region while "
    "critics argued that the plan lacked detail and came too late to matter for families who "
    "have waited years for relief analysts expect markets to react cautiously as lawmakers "
    "return from recess and negotiators trade proposals behind closed doors the committee "
    "published its findings on Tuesday after months of hearings in which witnesses described "
    "delays shortages and rising costs local leaders welcomed the announcement but warned that "
    "funding remains uncertain and that any election year promise deserves scrutiny climate "
    "scientists noted that drought conditions have worsened and emissions targets slipped "
    "again inflation figures released this morning showed prices cooling in some sectors"
).split()


@dataclass(frozen=True, slots=True)
class Manifest:
    """What generate_newsroom wrote (saved as manifest.json beside it)."""

    n_seeds: int
    n_feeds: int
    entries_per_feed: int
    feed_entries: int
    duplicate_entries: int  # feed entries retelling a story a seed or an earlier entry told
    variant_duplicates: int  # of those, how many with a headline differing in form
    seed_bytes: int
    feed_bytes: int
    rng_seed: int


def _headlines(rng: random.Random) -> Iterator[str]:
    seen: set[str] = set()
    while True:
        shape = rng.random()
        subject, verb = rng.choice(_SUBJECTS), rng.choice(_VERBS)
        obj, place = rng.choice(_OBJECTS), rng.choice(_PLACES)
        if shape < 0.6:
            text = f"{subject} {verb} {obj} in {place}"
        elif shape < 0.8:
            text = f"{place}'s {obj}: {subject} {verb} Plan"
        else:
            text = f"{subject} and {rng.choice(_SUBJECTS)} {verb} {obj} — {place}"
        if text not in seen:
            seen.add(text)
            yield text


def headline_variant(headline: str, rng: random.Random) -> tuple[str, bool]:
    """The same headline as another desk would print it; (text, differs in form)."""
    choice = rng.randrange(8)
    if choice == 0:
        return headline, False
    if choice == 1:
        return headline.upper(), True
    if choice == 2:
        return headline.replace("'", "\u2019") + ".", True
    if choice == 3:
        return "  " + headline.replace(" ", "  ") + " ", True
    if choice == 4:
        return headline.replace("—", "-").replace(":", " -"), True
    if choice == 5:
        return headline.lower(), True
    if choice == 6:
        stripped = headline.translate(str.maketrans("áéíóúãç", "aeiouac"))
        return stripped, stripped != headline
    return headline.replace(" and ", " & "), " and " in headline


def _paragraphs(rng: random.Random, count: int, words: tuple[int, int] = (40, 90)) -> list[str]:
    out = []
    for _ in range(count):
        n = rng.randint(*words)
        start = rng.randrange(len(_WORDS))
        text = " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n))
        out.append(text[0].upper() + text[1:] + ".")
    return out


def seed_text(headline: str, section: str, rng: random.Random, *, edited: bool = False) -> str:
    """One seed file's text in the real format (no final newline, as in the example)."""
    paragraphs = _paragraphs(rng, rng.randint(3, 7))
    if edited:
        paragraphs.append("Editor's note: this article was updated with new figures.")
    byline = rng.choice(_NAMES)
    text = f"{PUBLICATION}\n{section}\n\n{headline}\n\n{byline}\n\n{headline}\n\n"
    text += "\n\n".join(paragraphs)
    # Real drops: some files come from Windows editors.
    return text.replace("\n", "\r\n") if rng.random() < 0.05 else text


def entry_html(rng: random.Random, story_slug: str) -> str:
    """HTML-heavy article content, with what feeds really carry (scripts, styles, relative URLs)."""
    paragraphs = _paragraphs(rng, rng.randint(3, 6))
    parts = [
        f'<div class="article" style="font-family: serif"><p><strong>{paragraphs[0]}</strong></p>'
    ]
    for i, text in enumerate(paragraphs[1:]):
        words = text.split(" ")
        link = f'<a href="/related/{story_slug}-{i}" onclick="track()">{" ".join(words[:3])}</a>'
        parts.append(f"<p>{link} {' '.join(words[3:])}</p>")
        if i == 0:
            parts.append(
                f'<figure><img src="/img/{story_slug}.jpg" alt="Photo" width="640">'
                "<figcaption>A photo from the scene.</figcaption></figure>"
            )
        if i == 1:
            parts.append('<script>window.ads && window.ads.push("slot");</script>')
            parts.append("<ul><li>First point</li><li><em>Second</em> point</li></ul>")
    parts.append('<blockquote cite="/quotes">"We will see," one official said.</blockquote>')
    parts.append('<iframe src="https://ads.example/frame"></iframe></div>')
    return "".join(parts)


def _rss(title: str, site: str, items: list[dict]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>{html.escape(title)}</title><link>{site}</link>",
        "<description>Synthetic benchmark feed</description>",
    ]
    for item in items:
        out.append(
            f"<item><title>{html.escape(item['title'])}</title><link>{item['link']}</link>"
            f'<guid isPermaLink="false">{item["id"]}</guid>'
            f"<pubDate>{format_datetime(item['date'], usegmt=True)}</pubDate>"
            f"<dc:creator>{html.escape(item['author'])}</dc:creator>"
            f"<category>{item['category']}</category>"
            f"<description>{html.escape(item['summary'])}</description>"
            f"<content:encoded><![CDATA[{item['content']}]]></content:encoded></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out)


def _atom(title: str, site: str, items: list[dict]) -> str:
    updated = max((i["date"] for i in items), default=datetime.now(UTC))
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{html.escape(title)}</title><id>{site}</id>",
        f'<link href="{site}"/><updated>{updated.isoformat()}</updated>',
    ]
    for item in items:
        out.append(
            f'<entry><title type="html">{html.escape(item["title"])}</title>'
            f'<id>{item["id"]}</id><link href="{item["link"]}"/>'
            f"<published>{item['date'].isoformat()}</published>"
            f"<updated>{item['date'].isoformat()}</updated>"
            f"<author><name>{html.escape(item['author'])}</name></author>"
            f'<category term="{item["category"]}"/>'
            f'<summary type="html">{html.escape(item["summary"])}</summary>'
            f'<content type="html">{html.escape(item["content"])}</content></entry>'
        )
    out.append("</feed>")
    return "\n".join(out)


def _feed_name(index: int) -> str:
    return f"feed{index:04d}." + ("xml" if index % 2 == 0 else "atom")


def _write_feed(folder: Path, index: int, items: list[dict]) -> int:
    site = f"https://news{index}.example/"
    title = f"{rng_name(index)} {WIRE_NAMES[index % len(WIRE_NAMES)]}"
    text = _rss(title, site, items) if index % 2 == 0 else _atom(title, site, items)
    raw = text.encode("utf-8")
    _write_bytes(folder / _feed_name(index), raw)
    return len(raw)


def rng_name(index: int) -> str:
    return random.Random(index).choice(("Metro", "National", "Daily", "Evening", "Global"))


def _write_bytes(path: Path, raw: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)


def generate_newsroom(
    folder: Path,
    n_seeds: int,
    n_feeds: int,
    entries_per_feed: int,
    *,
    duplicate_share: float = 0.2,
    rng_seed: int = 11,
) -> Manifest:
    """Write seeds/, feeds/ and manifest.json (plus feeds.json, the entries' state) in folder."""
    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(microsecond=0)
    seeds_dir, feeds_dir = folder / "seeds", folder / "feeds"
    seeds_dir.mkdir(parents=True, exist_ok=True)
    feeds_dir.mkdir(parents=True, exist_ok=True)
    fresh = _headlines(rng)
    told: list[str] = []  # headlines already carried by some source
    seed_bytes = 0
    for i in range(n_seeds):
        headline = next(fresh)
        told.append(headline)
        name = f"{i:05d}_{rng.getrandbits(64):016x}.txt"
        raw = seed_text(headline, rng.choice(SECTIONS), rng).encode("utf-8")
        (seeds_dir / name).write_bytes(raw)
        seed_bytes += len(raw)
    feeds: dict[str, list[dict]] = {}
    duplicates = variants = 0
    for f in range(n_feeds):
        items = []
        for k in range(entries_per_feed):
            if told and rng.random() < duplicate_share:
                headline, differs = headline_variant(rng.choice(told), rng)
                duplicates += 1
                variants += differs
            else:
                headline = next(fresh)
                told.append(headline)
            items.append(_new_item(f, k, headline, rng))
        feeds[str(f)] = items
    feed_bytes = _write_feeds(feeds_dir, feeds, now)
    (folder / "feeds.json").write_text(json.dumps(feeds), encoding="utf-8")
    manifest = Manifest(
        n_seeds, n_feeds, entries_per_feed, n_feeds * entries_per_feed, duplicates, variants,
        seed_bytes, feed_bytes, rng_seed,
    )  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1), "utf-8")
    return manifest


def _new_item(feed: int, k: int, headline: str, rng: random.Random) -> dict:
    slug = hashlib.sha1(f"{feed}/{k}/{headline}".encode()).hexdigest()[:12]
    content = entry_html(rng, slug)
    return {
        "id": f"urn:bench:feed{feed}:{slug}",
        "title": headline,
        "link": f"https://news{feed}.example/story/{slug}",
        "author": rng.choice(_NAMES),
        "category": rng.choice(SECTIONS),
        "summary": "<p>" + _paragraphs(rng, 1, (15, 30))[0] + "</p>",
        "content": content,
        "age_minutes": k * 7 + feed % 60,
    }


def _write_feeds(feeds_dir: Path, feeds: dict[str, list[dict]], now: datetime) -> int:
    total = 0
    for key, items in feeds.items():
        dated = [{**item, "date": now - timedelta(minutes=item["age_minutes"])} for item in items]
        total += _write_feed(feeds_dir, int(key), dated)
    return total


def change_inputs(folder: Path, share: float = 0.01, *, rng_seed: int = 99) -> dict[str, int]:
    """Edit `share` of the seed files and of the feeds (at least one of each).

    A changed seed gets a new paragraph; a changed feed gets one new entry in
    front (its oldest drops off) and one existing entry edited.
    """
    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(microsecond=0)
    seeds = sorted((folder / "seeds").glob("*.txt"))
    feeds: dict[str, list[dict]] = json.loads((folder / "feeds.json").read_text("utf-8"))
    seed_count = min(len(seeds), max(1, math.ceil(len(seeds) * share))) if seeds else 0
    feed_count = min(len(feeds), max(1, math.ceil(len(feeds) * share))) if feeds else 0
    fresh = _headlines(random.Random(rng_seed + 1))
    for path in rng.sample(seeds, seed_count):
        text = path.read_text("utf-8")
        path.write_text(text + "\n\nEditor's note: this article was updated.", "utf-8")
    for key in rng.sample(sorted(feeds), feed_count):
        items = feeds[key]
        items[0] = {**items[0], "content": items[0]["content"] + "<p>Update: more details.</p>"}
        new = _new_item(int(key), len(items) + rng.randrange(10**6), next(fresh), rng)
        new["age_minutes"] = 0
        feeds[key] = [new, *items[:-1]]
        dated = [{**i, "date": now - timedelta(minutes=i["age_minutes"])} for i in feeds[key]]
        _write_feed(folder / "feeds", int(key), dated)
    (folder / "feeds.json").write_text(json.dumps(feeds), encoding="utf-8")
    return {"seeds": seed_count, "feeds": feed_count}


def feed_urls(base_url: str, folder: Path) -> list[tuple[str, str]]:
    """(name, url) of every generated feed, as served by serve_folder at base_url."""
    return [
        (f"Bench {path.stem}", f"{base_url}{path.name}")
        for path in sorted((folder / "feeds").iterdir())
        if path.suffix in (".xml", ".atom")
    ]


# -- the feed server -----------------------------------------------------------


class _FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real feed hosts do
    root: Path = Path(".")
    _etags: dict[tuple[str, int, int], str] = {}
    _lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        name = self.path.split("?", 1)[0].lstrip("/")
        path = self.root / name
        if "/" in name or not name or not path.is_file():
            self._reply(404, b"not found", "text/plain")
            return
        stat = path.stat()
        key = (name, stat.st_mtime_ns, stat.st_size)
        raw = path.read_bytes()
        with self._lock:
            etag = self._etags.get(key)
            if etag is None:
                etag = '"' + hashlib.sha1(raw).hexdigest() + '"'
                self._etags[key] = etag
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        kind = "application/rss+xml" if name.endswith(".xml") else "application/atom+xml"
        self._reply(200, raw, f"{kind}; charset=utf-8", etag)

    def _reply(self, status: int, raw: bytes, content_type: str, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class BenchHTTPServer(ThreadingHTTPServer):
    # The stdlib's listen backlog is 5: with 8 fetchers connecting at once on a
    # busy machine a SYN gets dropped and that fetch waits 1s for the retry,
    # which is the harness, not echofeed. Real feed hosts accept hundreds.
    request_queue_size = 128
    daemon_threads = True


def make_feed_server(feeds_dir: Path) -> ThreadingHTTPServer:
    """A server for the files in feeds_dir on 127.0.0.1 (a free port); call serve_forever."""
    handler = type("FeedHandler", (_FeedHandler,), {"root": Path(feeds_dir), "_etags": {}})
    return BenchHTTPServer(("127.0.0.1", 0), handler)


def serve_folder(feeds_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    """Start make_feed_server in a thread; returns (server, base URL). Stop with shutdown()."""
    server = make_feed_server(feeds_dir)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}/"
