"""Checks every test applies to a published feed: RFC 4287 by the RELAX NG grammar
(../shared/schema/atom.rng, copied to tests/data) plus the two rules the grammar
leaves to Schematron."""

from __future__ import annotations

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
    """Validate every Atom file under output_dir; return them."""
    feeds = sorted(output_dir.rglob("*.atom"))
    assert feeds, f"no feeds in {output_dir}"
    for path in feeds:
        validate_atom(path)
    return feeds


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
