"""Sections and topics: where each story is filed, and safe names for their files (pure).

Sections. A story's section is, in order: the seed's line 2 or the source's
`section:`; else the first of the entry's own categories that the `sections:`
alias table knows; else `default_section`. Every name is looked up in the
alias table, so `US`, `U.S.` and `United States` land in one section. Names
that differ only in case, accents, punctuation or spacing (`World`, `world`,
`Wörld.`, `U_S` and `U S`) are one section: its display name is the name in `sections:` when
it is there, else the first spelling ever seen.

Topics. A story is filed under a topic when
- any of its `keywords:` (words or phrases) occurs in the headline or body as
  whole words, ignoring case and accents; or one of the entry's own
  categories names the topic: looked up in the alias table, the category is
  the topic's name or one of its `categories:`;
- and none of its `exclude:` terms occurs in the headline, body or categories;
- and, when it lists `sections:`, the story is in one of them.
A story can have several topics.

Slugs (file names). A section or topic is published as `<slug>.atom`: the
name folded to lowercase ASCII words joined by hyphens (`São Paulo` ->
`sao-paulo`); a name in another script is Punycode-encoded as in domain
names (`Россия` -> `xn--h1alffa9f`); a name with no letters or digits, or a
reserved device name (`CON`, `NUL`, `LPT1`...), gets a hash of the name
(`x-1b2c...`, `con-...`); at most MAX_SLUG characters before a suffix. Slugs
hold only `a-z`, `0-9` and `-`, so no name can reach outside its folder. Once
given, a slug is kept (the pipeline stores it): a name that later slugs
alike gets `-2`, `-3`... and a warning, and never takes an existing file.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .sanitize import html_to_text

if TYPE_CHECKING:
    from .config import Config

# Bump when the matching rules themselves change: stored stories are re-sorted.
RULES_VERSION = 2
MAX_SLUG = 60
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}
# Latin letters that Unicode does not decompose into a base letter and an accent.
_LATIN_LETTERS = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i", "ħ": "h"}
)


class _WithoutCombining(dict[int, int | None]):
    """str.translate table dropping combining marks, filled as characters are met
    (only for the Basic Multilingual Plane, so hostile text cannot grow it past 64K)."""

    def __missing__(self, codepoint: int) -> int | None:
        kept = None if unicodedata.combining(chr(codepoint)) else codepoint
        if codepoint <= 0xFFFF:
            self[codepoint] = kept
        return kept


_WITHOUT_COMBINING = _WithoutCombining()
_NON_WORD = re.compile(r"[\W_]+")
# ASCII bytes -> lowercase letters and digits kept, everything else a space: what
# lower() and _NON_WORD do to ASCII text, in one bytes.translate (6x faster on
# article bodies, which topics_of folds for every story stored).
_ASCII_FOLD = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256)).lower()


def fold(text: str) -> str:
    """Lowercase, accents removed (`Łódź` -> `lodz`), punctuation and `_` to spaces:
    the form words are matched in, and the identity of a section or topic name."""
    if text.isascii():  # needs neither normalization nor accent stripping
        return " ".join(text.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split())
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = text.translate(_WITHOUT_COMBINING).translate(_LATIN_LETTERS)
    return " ".join(_NON_WORD.sub(" ", text).split())


def clean_name(text: str) -> str:
    """A name fit to display and to put in XML: no control characters, single spaces."""
    kept = (
        " " if unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff" else c for c in text
    )
    return " ".join("".join(kept).split())


def name_key(name: str) -> str:
    """The identity of a section or topic name: names with the same key are one."""
    return fold(name) or clean_name(name)


def slugify(name: str) -> str:
    """ASCII, lowercase, hyphens: safe as one file name on every system, never empty."""
    text = "-".join(fold(name).split())
    slug = text if text.isascii() else "xn--" + text.encode("punycode").decode("ascii")
    slug = slug[:MAX_SLUG].strip("-")
    if not slug or slug in _RESERVED:
        # Names with no letters or digits (or reserved ones) still need a stable, distinct file.
        digest = hashlib.sha256(name_key(name).encode("utf-8", "surrogatepass")).hexdigest()
        slug = f"{slug or 'x'}-{digest[:10]}"
    return slug


@dataclass(slots=True)
class SlugBook:
    """Which file name each section and topic has. A slug, once given, stays with its
    name, so a name that appears later never renames an existing feed's file."""

    known: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # (kind, name_key) -> (name, slug): given in earlier passes, as stored
    added: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # given in this pass: the caller stores them

    def slugs_for(self, kind: str, names: Iterable[str]) -> tuple[dict[str, str], tuple[str, ...]]:
        """name -> slug for each name; a warning when a new name must take a suffixed slug."""
        names = list(dict.fromkeys(names))
        given = {**self.known, **self.added}
        holders = {slug: name for (k, _), (name, slug) in given.items() if k == kind}
        warnings: list[str] = []
        # New names take slugs in a fixed order, so one pass decides like any other.
        for name in sorted(names, key=lambda n: (name_key(n), n)):
            key = name_key(name)
            if (kind, key) in given:
                continue
            base = slugify(name)
            slug, n = base, 2
            while slug in holders:
                slug, n = f"{base}-{n}", n + 1
            if slug != base:
                warnings.append(
                    f"{kind} {name!r} makes the same file name as {kind} {holders[base]!r} "
                    f"({base}.atom); {name!r} is published as {kind}/{slug}.atom"
                )
            holders[slug] = name
            given[(kind, key)] = self.added[(kind, key)] = (name, slug)
        return {name: given[(kind, name_key(name))][1] for name in names}, tuple(warnings)


@dataclass(frozen=True, slots=True)
class TopicRule:
    name: str
    keywords: re.Pattern[str] | None
    exclude: re.Pattern[str] | None
    categories: frozenset[str]  # alias-resolved keys of the topic's name and `categories:`
    sections: frozenset[str]  # alias-resolved keys; empty = every section


@dataclass(frozen=True, slots=True)
class Sorter:
    """The section and topic rules of one config, compiled once per pass."""

    aliases: Mapping[str, str]  # name_key of a configured name or alias -> display name
    default_section: str
    topics: tuple[TopicRule, ...]
    source_sections: Mapping[str, str]  # source URL -> its `section:`, for sources with one
    configured_sources: frozenset[str]  # URLs of every source in the config
    fingerprint: str
    # name_key -> display of each section not in `sections:`, as first seen
    seen_sections: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Sorter:
        aliases: dict[str, str] = {}
        for name, names in config.sections.items():
            for alias in (name, *names):
                aliases.setdefault(name_key(alias), clean_name(name))

        def section_key(name: str) -> str:
            key = name_key(name)
            return name_key(aliases[key]) if key in aliases else key

        rules = tuple(
            TopicRule(
                name=topic.name,
                keywords=_words_pattern(topic.keywords),
                exclude=_words_pattern(topic.exclude),
                categories=frozenset(section_key(c) for c in (topic.name, *topic.categories)),
                sections=frozenset(section_key(s) for s in topic.sections),
            )
            for topic in config.topics
        )
        default = clean_name(config.default_section)
        default = aliases.get(name_key(default), default)
        source_sections = {s.url: s.section for s in config.sources if s.section}
        described = {
            "version": RULES_VERSION,
            "sections": {k: list(v) for k, v in config.sections.items()},
            "default": config.default_section,
            "topics": [
                [t.name, t.keywords, t.exclude, t.sections, t.categories] for t in config.topics
            ],
            "sources": source_sections,
        }
        fingerprint = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
        sources = frozenset(s.url for s in config.sources)
        sorter = cls(aliases, default, rules, source_sections, sources, fingerprint)
        sorter.learn_sections([default])
        return sorter

    def learn_sections(self, names: Iterable[str]) -> None:
        """Remember the display names sections already have (the first one wins)."""
        for name in names:
            self.section_named(name)

    def section_named(self, name: str) -> str:
        """The display name of the section a given name (seed line 2, `section:`) means."""
        name = clean_name(name)
        key = name_key(name)
        if key in self.aliases:
            return self.aliases[key]
        return self.seen_sections.setdefault(key, name)

    def section_of(self, given: str, categories: Iterable[str] = ()) -> str:
        """The section of an entry: its given section, else its categories, else the default."""
        if clean_name(given):
            return self.section_named(given)
        for category in categories:
            if (name := self.aliases.get(name_key(category))) is not None:
                return name
        return self.default_section

    def topics_of(
        self,
        headline: str,
        body_html: str,
        section: str,
        categories: Iterable[str] = (),
        *,
        text: str | None = None,
    ) -> tuple[str, ...]:
        """Every topic a story is filed under, in config order.

        `text` is `topic_text(headline, body_html)`, when the caller made it already.
        """
        if not self.topics:
            return ()
        text = text or ""  # made when a rule first needs it

        def search(pattern: re.Pattern[str]) -> bool:
            nonlocal text
            text = text or topic_text(headline, body_html)
            return pattern.search(text) is not None

        categories = [c for c in categories if clean_name(c)]
        category_keys = {self._section_key(c) for c in categories}
        category_text = f" {' '.join(fold(c) for c in categories)} "
        section_key = self._section_key(section)
        found = []
        for rule in self.topics:
            if rule.sections and section_key not in rule.sections:
                continue
            if not (
                (rule.keywords and search(rule.keywords))
                or not category_keys.isdisjoint(rule.categories)
            ):
                continue
            if rule.exclude and (search(rule.exclude) or rule.exclude.search(category_text)):
                continue
            found.append(rule.name)
        return tuple(found)

    def _section_key(self, name: str) -> str:
        key = name_key(name)
        return name_key(self.aliases[key]) if key in self.aliases else key


def topic_text(headline: str, body_html: str, body_text: str | None = None) -> str:
    """The folded headline and body that topic keywords are matched in (pure, so the
    pipeline makes it where the feed is parsed). `body_text` is html_to_text(body_html),
    when the caller has it."""
    if body_text is None:
        body_text = html_to_text(body_html)
    return f" {fold(headline)} {fold(body_text)} "


def published_sections(config: Config, sorter: Sorter, stored: Iterable[str]) -> list[str]:
    """The sections that get a feed, one display name each, sorted by name.

    Every section in `sections:` and every source's `section:` (even with no
    story yet: subscribers never get a 404), and every section a stored story
    is filed in (withdrawn and duplicate rows too, so a section never vanishes
    while its stories are kept). A section that was only there through the
    config, and left it, is dropped.
    """
    by_key: dict[str, str] = {}
    configured = [sorter.section_named(name) for name in config.sections]
    from_sources = [sorter.section_named(s.section) for s in config.sources if s.section]
    for name in (*configured, *stored, *from_sources):
        if clean_name(name):
            by_key.setdefault(name_key(name), name)
    return sorted(by_key.values(), key=lambda n: (n.casefold(), n))


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({fold(w) for w in words if fold(w)}, key=len, reverse=True)
    if not folded:
        return None
    # Text and keywords are folded to single-spaced words, so padding with
    # spaces makes every match a whole-word (or whole-phrase) match.
    return re.compile("|".join(f" {re.escape(w)} " for w in folded))
