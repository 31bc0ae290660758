"""config.yaml -> a frozen Config, with every key checked and named on error.

Paths inside the file are relative to the file itself, so a config works the
same from any working directory (cron, systemd, a shell).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .topics import fold, name_key


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    url: str
    section: str | None = None
    interval: float | None = None  # seconds; None = the global refresh_interval


@dataclass(frozen=True, slots=True)
class TopicConfig:
    name: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()  # empty = every section
    categories: tuple[str, ...] = ()  # source categories that file a story here (besides name)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline: float = 30.0  # whole fetch, body included
    max_bytes: int = 10 * 1024 * 1024  # also after decompression
    max_redirects: int = 5
    concurrency: int = 8  # sources fetched at once
    per_host: int = 2  # requests at once to one host
    backoff_max: float = 6 * 3600.0  # cap of the per-source failure backoff
    max_entries: int = 500  # entries read from one feed body; the newest are kept


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    title: str
    base_url: str  # always ends with "/"
    seeds_dir: Path
    database: Path
    output_dir: Path
    sources: tuple[SourceConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    sections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> aliases
    default_section: str = "News"
    language: str = "en"
    author: str | None = None  # feed author; the title when unset
    icon: str | None = None
    logo: str | None = None
    entries_per_feed: int = 50
    websub_hub: str | None = None
    refresh_interval: float = 900.0
    retention_days: int = 90
    seed_max_bytes: int = 5 * 1024 * 1024
    seed_quiet_seconds: float = 2.0
    fetch: FetchConfig = field(default_factory=FetchConfig)

    @property
    def feed_author(self) -> str:
        return self.author or self.title


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> float:
    """'15m' -> 900.0; accepts s, m, h, d, or a plain number of seconds."""
    if isinstance(text, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


class _Reader:
    """Checks one mapping of the config, naming each key by its full path."""

    def __init__(self, path: Path, where: str, mapping: Any, allowed: set[str]) -> None:
        self.path, self.where = path, where
        if not isinstance(mapping, dict):
            raise ConfigError(path, where or None, f"must be a mapping, not {_kind(mapping)}")
        self.mapping = mapping
        for key in mapping:
            if not isinstance(key, str) or key not in allowed:
                hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                known = ", ".join(sorted(allowed))
                raise ConfigError(
                    path, self.name(str(key)), f"unknown key{suggestion}; known keys: {known}"
                )

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.path, self.name(key), reason)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required=False):
        if key not in self.mapping or self.mapping[key] is None:
            if required:
                raise self.fail(key, "is required")
            return None if default is ... else default
        value = self.mapping[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"must be {_names(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.fail(key, f"must be {_names(kinds)}, not {_kind(value)}")
        return value

    def text(self, key: str, default: Any = ..., *, required: bool = False) -> Any:
        value = self.get(key, str, default, required=required)
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise self.fail(key, "must not be empty")
        return value

    def number(self, key: str, default: Any, *, minimum: float = 0, integer=False) -> Any:
        value = self.get(key, int if integer else (int, float), default)
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}")
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.get(key, (str, int, float), default)
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.fail(key, str(e)) from None

    def words(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        words = []
        for i, word in enumerate(value):
            if not isinstance(word, str | int | float) or isinstance(word, bool):
                raise self.fail(f"{key}[{i}]", f"must be text, not {_kind(word)}")
            if not str(word).strip():
                raise self.fail(f"{key}[{i}]", "must not be empty")
            words.append(str(word).strip())
        return tuple(words)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _names(kinds: tuple[type, ...]) -> str:
    words = {
        str: "text",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(dict.fromkeys(words.get(k, k.__name__) for k in kinds))


def _check_url(reader: _Reader, key: str, url: str, *, schemes=("http", "https")) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes or not parts.netloc:
        raise reader.fail(key, f"{url!r} is not an absolute {' or '.join(schemes)} URL")
    return url


_TOP_KEYS = {
    "title", "base_url", "seeds_dir", "database", "output_dir", "sources", "topics",
    "sections", "default_section", "language", "author", "icon", "logo",
    "entries_per_feed", "websub_hub", "refresh_interval", "retention_days",
    "seed_max_bytes", "seed_quiet_seconds", "fetch",
}  # fmt: skip
_SOURCE_KEYS = {"name", "url", "section", "interval"}
_TOPIC_KEYS = {"keywords", "exclude", "sections", "categories"}
_FETCH_KEYS = {
    "connect_timeout", "read_timeout", "deadline", "max_bytes", "max_redirects",
    "concurrency", "per_host", "backoff_max", "max_entries",
}  # fmt: skip


def load_config(path: Path | str) -> Config:
    """Read and check a config file; raise ConfigError naming the key at fault."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "no such file (pass another with -c PATH)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, None, f"cannot be read: {e}") from e
    # Imported here, not by the parser processes that need SourceConfig (12 ms).
    import yaml

    try:
        # libyaml's loader where PyYAML has it (its wheels do): the pure-Python one
        # took 28 ms for a config of 200 sources, this one 3 ms. A file it refuses
        # is read again by the pure-Python one, whose errors say more ("found
        # character '\t'", where libyaml names no character).
        raw = yaml.load(raw_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raw = _pure_python_yaml(raw_text, path)
    return parse_config(raw if raw is not None else {}, path)


def _pure_python_yaml(raw_text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw_text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(path, where, f"not valid YAML: {problem}") from e


def parse_config(raw: Any, path: Path) -> Config:
    """Check an already parsed config mapping (see load_config)."""
    top = _Reader(path, "", raw, _TOP_KEYS)
    base = path.parent
    base_url = _check_url(top, "base_url", top.text("base_url", required=True))
    if not base_url.endswith("/"):
        base_url += "/"

    def local_path(key: str, default: str) -> Path:
        value = top.text(key, default)
        if "\0" in value:
            raise top.fail(key, "must not contain a NUL character")
        return (base / Path(value).expanduser()).resolve()

    sources = _parse_sources(top)
    topics = _parse_topics(top)
    sections = _parse_sections(top)
    fetch = _parse_fetch(top)
    hub = top.text("websub_hub", None)
    if hub:
        _check_url(top, "websub_hub", hub)
    return Config(
        path=path.resolve(),
        title=top.text("title", required=True),
        base_url=base_url,
        seeds_dir=local_path("seeds_dir", "seeds"),
        database=local_path("database", "echofeed.db"),
        output_dir=local_path("output_dir", "feeds"),
        sources=sources,
        topics=topics,
        sections=sections,
        default_section=_check_name(
            top, "default_section", top.text("default_section", "News"), "section name"
        ),
        language=top.text("language", "en"),
        author=top.text("author", None),
        icon=top.text("icon", None),
        logo=top.text("logo", None),
        entries_per_feed=top.number("entries_per_feed", 50, minimum=1, integer=True),
        websub_hub=hub,
        refresh_interval=top.duration("refresh_interval", 900.0),
        retention_days=top.number("retention_days", 90, minimum=1, integer=True),
        seed_max_bytes=top.number("seed_max_bytes", 5 * 1024 * 1024, minimum=1, integer=True),
        seed_quiet_seconds=top.number("seed_quiet_seconds", 2.0),
        fetch=fetch,
    )


def _parse_sources(top: _Reader) -> tuple[SourceConfig, ...]:
    sources: list[SourceConfig] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(top.get("sources", list, [])):
        reader = _Reader(top.path, f"sources[{i}]", item, _SOURCE_KEYS)
        url = _check_url(reader, "url", reader.text("url", required=True))
        name = reader.text("name", required=True)
        for what, value in (("url", url), ("name", name)):
            owner = seen.get(f"{what}:{value}")
            if owner:
                raise reader.fail(what, f"{value!r} is already used by {owner}")
            seen[f"{what}:{value}"] = f"sources[{i}]"
        sources.append(
            SourceConfig(
                name=name,
                url=url,
                section=reader.text("section", None),
                interval=reader.duration("interval", None),
            )
        )
    return tuple(sources)


def _check_name(reader: _Reader, key: str, value: str, what: str) -> str:
    """A section or topic name, alias or term: printable, with a letter or digit."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise reader.fail(key, f"{value!r}: a {what} must not contain control characters")
    if not fold(value):
        raise reader.fail(key, f"{value!r}: a {what} needs at least one letter or digit")
    return " ".join(value.split())


def _terms(reader: _Reader, key: str, what: str) -> tuple[str, ...]:
    return tuple(
        _check_name(reader, f"{key}[{i}]", word, what) for i, word in enumerate(reader.words(key))
    )


def _parse_topics(top: _Reader) -> tuple[TopicConfig, ...]:
    topics: list[TopicConfig] = []
    names: dict[str, str] = {}  # name_key -> topic name
    for raw_name, item in top.get("topics", dict, {}).items():
        where = f"topics.{raw_name}"
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise top.fail(where, "a topic name must be non-empty text")
        name = _check_name(top, where, raw_name, "topic name")
        if (other := names.get(name_key(name))) is not None:
            raise top.fail(
                where, f"same topic as {other!r}: the names differ only in case, accents or "
                "punctuation, and would share one feed",
            )  # fmt: skip
        names[name_key(name)] = name
        reader = _Reader(top.path, where, {} if item is None else item, _TOPIC_KEYS)
        keywords = _terms(reader, "keywords", "keyword")
        categories = _terms(reader, "categories", "category")
        if not keywords and not categories:
            raise reader.fail(
                "keywords", "is required: a list of words or phrases (or give categories:)"
            )
        topics.append(
            TopicConfig(
                name=name,
                keywords=keywords,
                exclude=_terms(reader, "exclude", "term"),
                sections=_terms(reader, "sections", "section name"),
                categories=categories,
            )
        )
    return tuple(topics)


def _parse_sections(top: _Reader) -> dict[str, tuple[str, ...]]:
    """The alias table: section display name -> its other spellings."""
    sections: dict[str, tuple[str, ...]] = {}
    owners: dict[str, str] = {}  # name_key of every spelling -> the section it means
    for raw_name, aliases in top.get("sections", dict, {}).items():
        key = f"sections.{raw_name}"
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise top.fail(key, "a section name must be non-empty text")
        name = _check_name(top, key, raw_name, "section name")
        if aliases is None:
            aliases = []
        if not isinstance(aliases, list):
            raise top.fail(key, f"must be a list of aliases, not {_kind(aliases)}")
        spellings = [(key, name)]
        for i, alias in enumerate(aliases):
            if not isinstance(alias, str | int | float) or isinstance(alias, bool):
                raise top.fail(f"{key}[{i}]", f"an alias must be text, not {_kind(alias)}")
            alias_name = _check_name(top, f"{key}[{i}]", str(alias), "section alias")
            spellings.append((f"{key}[{i}]", alias_name))
        for where, spelling in spellings:
            owner = owners.setdefault(name_key(spelling), name)
            if owner != name:
                raise top.fail(
                    where, f"{spelling!r} already means section {owner!r}; a spelling "
                    "(ignoring case, accents and punctuation) can name only one section",
                )  # fmt: skip
        sections[name] = tuple(alias for _, alias in spellings[1:])
    return sections


def _parse_fetch(top: _Reader) -> FetchConfig:
    raw = top.get("fetch", dict, {})
    reader = _Reader(top.path, "fetch", raw, _FETCH_KEYS)
    defaults = FetchConfig()
    number: Callable[..., Any] = reader.number
    return FetchConfig(
        connect_timeout=number("connect_timeout", defaults.connect_timeout, minimum=0.1),
        read_timeout=number("read_timeout", defaults.read_timeout, minimum=0.1),
        deadline=number("deadline", defaults.deadline, minimum=0.1),
        max_bytes=number("max_bytes", defaults.max_bytes, minimum=1, integer=True),
        max_redirects=number("max_redirects", defaults.max_redirects, integer=True),
        concurrency=number("concurrency", defaults.concurrency, minimum=1, integer=True),
        per_host=number("per_host", defaults.per_host, minimum=1, integer=True),
        backoff_max=reader.duration("backoff_max", defaults.backoff_max),
        max_entries=number("max_entries", defaults.max_entries, minimum=1, integer=True),
    )
