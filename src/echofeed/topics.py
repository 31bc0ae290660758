"""Sections and topics: where each story is filed, and safe names for their files (pure).

A story's section is, in order: the seed's line 2 or the source's configured
`section:`; else the first of the entry's own categories that the `sections:`
alias table knows; else `default_section`. Any section name is folded through
the alias table, so `US`, `U.S.` and `United States` can land in one section.

A topic matches when any of its keywords or phrases occurs in the headline or
the body as whole words, ignoring case and accents, none of its `exclude:`
terms does, and (when it lists `sections:`) the story is in one of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import Config, TopicConfig
from .sanitize import html_to_text

_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}
MAX_SLUG = 60


def fold(text: str) -> str:
    """Lowercase, accents removed, punctuation to spaces: the form words are matched in."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def slugify(name: str) -> str:
    """ASCII, lowercase, hyphens: safe as one file name on every system, never empty."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_SLUG].strip("-")
    if not slug or slug in _RESERVED:
        # Names with no ASCII letters (or reserved ones) still need a stable, distinct file.
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        slug = f"{slug or 'x'}-{digest}"
    return slug


def assign_slugs(names: Iterable[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A distinct slug for each name (sorted order decides who keeps the plain one)."""
    slugs: dict[str, str] = {}
    taken: dict[str, str] = {}
    warnings: list[str] = []
    for name in sorted(set(names), key=lambda n: (fold(n), n)):
        base = slugify(name)
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        if slug != base:
            warnings.append(
                f"{name!r} and {taken[base]!r} both make the file name {base!r}; "
                f"{name!r} is published as {slug!r}"
            )
        taken[slug] = name
        slugs[name] = slug
    return slugs, tuple(warnings)


@dataclass(frozen=True, slots=True)
class Sorter:
    """The section and topic rules of one config, compiled once per pass."""

    aliases: Mapping[str, str]  # folded alias or name -> section display name
    default_section: str
    topics: tuple[tuple[TopicConfig, re.Pattern[str], re.Pattern[str] | None], ...]
    fingerprint: str

    @classmethod
    def from_config(cls, config: Config) -> Sorter:
        aliases: dict[str, str] = {}
        for name, names in config.sections.items():
            for alias in (name, *names):
                aliases.setdefault(fold(alias), name)
        compiled = tuple(
            (topic, _words_pattern(topic.keywords), _words_pattern(topic.exclude))
            for topic in config.topics
        )
        rules = {
            "sections": {k: list(v) for k, v in config.sections.items()},
            "default": config.default_section,
            "topics": [[t.name, t.keywords, t.exclude, t.sections] for t in config.topics],
        }
        fingerprint = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()
        return cls(aliases, config.default_section, compiled, fingerprint)

    def section_of(self, given: str, categories: Iterable[str] = ()) -> str:
        if given.strip():
            return self.aliases.get(fold(given), " ".join(given.split()))
        for category in categories:
            if (name := self.aliases.get(fold(category))) is not None:
                return name
        return self.default_section

    def topics_of(self, headline: str, body_html: str, section: str) -> tuple[str, ...]:
        text = f" {fold(headline)} {fold(html_to_text(body_html))} "
        folded_section = fold(section)
        found = []
        for topic, keywords, exclude in self.topics:
            if topic.sections and folded_section not in {fold(s) for s in topic.sections}:
                continue
            if keywords and keywords.search(text) and not (exclude and exclude.search(text)):
                found.append(topic.name)
        return tuple(found)


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({fold(w) for w in words if fold(w)}, key=len, reverse=True)
    if not folded:
        return None
    # Text and keywords are folded to single-spaced words, so padding with
    # spaces makes every match a whole-word (or whole-phrase) match.
    return re.compile("|".join(f" {re.escape(w)} " for w in folded))
