"""Checks every test applies to a published feed: RFC 4287 by the RELAX NG grammar
(../shared/schema/atom.rng, copied to tests/data) plus the two rules the grammar
leaves to Schematron."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

from lxml import etree

DATA = Path(__file__).parent / "data"
ATOM = "{http://www.w3.org/2005/Atom}"


@cache
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))


def validate_atom(path: Path) -> etree._ElementTree:
    """Parse and validate one Atom file; raise AssertionError naming what is wrong."""
    tree = etree.parse(str(path))
    schema = _schema()
    assert schema.validate(tree), f"{path}: not RFC 4287: {schema.error_log}"
    feed = tree.getroot()
    entries = feed.findall(f"{ATOM}entry")
    if feed.find(f"{ATOM}author") is None:
        assert all(e.find(f"{ATOM}author") is not None for e in entries), (
            f"{path}: no feed author and an entry without one"
        )
    for entry in entries:
        alternate = [
            link
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert alternate or entry.find(f"{ATOM}content") is not None, (
            f"{path}: entry {entry.findtext(f'{ATOM}id')} has neither alternate link nor content"
        )
    self_links = [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_links, f"{path}: no self link"
    return tree


def validate_output(output_dir: Path) -> list[Path]:
    """Validate every Atom and JSON Feed file under output_dir; return the Atom head feeds
    (archive pages are validated too, but left out of the list)."""
    feeds = sorted(output_dir.rglob("*.atom"))
    assert feeds, f"no feeds in {output_dir}"
    for path in feeds:
        validate_atom(path)
    for path in sorted(output_dir.rglob("*.json")):
        validate_json_feed(path)
    archive = output_dir / "archive"
    return [p for p in feeds if not p.is_relative_to(archive)]


JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def validate_json_feed(path: Path) -> dict:
    """Check a JSON Feed 1.1 document against the spec's required fields and types
    (https://www.jsonfeed.org/version/1.1/); return it."""
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path}: not a JSON object"
    assert document.get("version") == JSON_FEED_VERSION, f"{path}: version"
    assert isinstance(document.get("title"), str) and document["title"], f"{path}: title"
    assert isinstance(document.get("items"), list), f"{path}: items must be an array"
    for key in ("home_page_url", "feed_url", "icon", "favicon", "language"):
        if key in document:
            assert isinstance(document[key], str) and document[key], f"{path}: {key}"
    _check_authors(path, document)
    for hub in document.get("hubs", []):
        assert isinstance(hub.get("type"), str) and isinstance(hub.get("url"), str), (
            f"{path}: hub {hub}"
        )
    ids = []
    for index, item in enumerate(document["items"]):
        where = f"{path}: items[{index}]"
        assert isinstance(item.get("id"), str) and item["id"], f"{where}: id is required"
        ids.append(item["id"])
        assert isinstance(item.get("content_html"), str) or isinstance(
            item.get("content_text"), str
        ), f"{where}: content_html or content_text is required"
        for key in ("url", "external_url", "title", "summary", "image"):
            if key in item:
                assert isinstance(item[key], str), f"{where}: {key} must be a string"
        for key in ("date_published", "date_modified"):
            if key in item:
                parsed = datetime.fromisoformat(item[key])
                assert parsed.tzinfo is not None, f"{where}: {key} must be RFC 3339"
        if "tags" in item:
            assert all(isinstance(t, str) for t in item["tags"]), f"{where}: tags"
        _check_authors(where, item)
    assert len(ids) == len(set(ids)), f"{path}: duplicate item ids"
    return document


def _check_authors(where: object, holder: dict) -> None:
    if "authors" not in holder:
        return
    assert isinstance(holder["authors"], list), f"{where}: authors must be an array"
    for author in holder["authors"]:
        assert any(isinstance(author.get(k), str) for k in ("name", "url", "avatar")), (
            f"{where}: an author needs a name, url or avatar"
        )


def entries(path: Path) -> list[dict[str, object]]:
    """The entries of a feed as plain dicts, in document order."""
    tree = etree.parse(str(path))
    found = []
    for entry in tree.getroot().findall(f"{ATOM}entry"):
        found.append(
            {
                "id": entry.findtext(f"{ATOM}id"),
                "title": entry.findtext(f"{ATOM}title"),
                "author": entry.findtext(f"{ATOM}author/{ATOM}name"),
                "content": entry.findtext(f"{ATOM}content") or "",
                "published": entry.findtext(f"{ATOM}published"),
                "updated": entry.findtext(f"{ATOM}updated"),
                "categories": [c.get("term") for c in entry.findall(f"{ATOM}category")],
                "links": [
                    (link.get("rel", "alternate"), link.get("href"))
                    for link in entry.findall(f"{ATOM}link")
                ],
            }
        )
    return found
