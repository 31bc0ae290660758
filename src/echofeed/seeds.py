"""Seed files: the newsroom's own articles, bytes in, an Entry or a SeedError out.

The format (../shared/SEED-FORMAT.md):

    line 1   publication
    line 2   section
    (blank)
    headline
    (blank)
    byline                 optional
    (blank)
    headline again         optional, may differ slightly
    (blank)
    body paragraphs, separated by blank lines

Lenient where the meaning is unambiguous: CRLF or CR line ends, a UTF-8 BOM,
trailing spaces, extra blank lines, no final newline, Windows-1252 or Latin-1
text (with a warning). Rejected, naming the file and line: empty, binary,
too large, no publication, no or overlong section, no headline, no body.

The byline rule: the block after the headline is a byline when it starts with
"By ", or when it is short (at most 8 words and 80 characters), does not end
like a sentence (. ! ? : ; or a closing quote after one), does not repeat the
headline, and more text follows it. Anything else is the first paragraph.

Parsing is pure (bytes in, values out); `stat_seed_files` only lists the folder.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import SeedError
from .model import Entry

SEED_NAME = re.compile(r"^(?P<seq>\d+)_(?P<id>[0-9a-fA-F]{16})\.txt$")
MAX_SECTION_CHARS = 60
MAX_PUBLICATION_CHARS = 120
MAX_HEADLINE_CHARS = 400
MAX_BYLINE_WORDS = 8
MAX_BYLINE_CHARS = 80
_SENTENCE_END = re.compile(r"[.!?:;][\"'\u201d\u2019)]*$")


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A file in the seeds folder that is named like a seed."""

    path: Path
    seed_id: str  # the 16 hex digits, lowercase
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class ParsedSeed:
    entry: Entry
    warnings: tuple[str, ...] = ()


def seed_id_of(name: str) -> str | None:
    """The 16-hex id of a seed file name, or None when the name is not a seed's."""
    match = SEED_NAME.match(name)
    return match.group("id").lower() if match else None


def stat_seed_files(seeds_dir: Path) -> tuple[tuple[SeedFile, ...], tuple[str, ...]]:
    """List the seed files in a folder, and the names skipped as not seeds."""
    seeds: list[SeedFile] = []
    skipped: list[str] = []
    try:
        scan: Iterator[os.DirEntry[str]] = os.scandir(seeds_dir)
    except FileNotFoundError:
        return (), ()
    with scan as entries:
        for item in entries:
            seed_id = seed_id_of(item.name)
            if seed_id is None or item.name.startswith("."):
                skipped.append(item.name)
                continue
            try:
                if not item.is_file():
                    skipped.append(item.name)
                    continue
                stat = item.stat()
            except OSError:
                continue  # vanished between listing and stat: gone, not broken
            seeds.append(SeedFile(Path(item.path), seed_id, stat.st_size, stat.st_mtime_ns))
    seeds.sort(key=lambda s: s.path.name)
    return tuple(seeds), tuple(sorted(skipped))


def decode_seed(path: Path | str, raw: bytes) -> tuple[str, tuple[str, ...]]:
    """Bytes -> text; UTF-8 first, then Windows-1252, then Latin-1 (with a warning)."""
    if not raw.strip():
        raise SeedError(path, None, "the file is empty")
    if b"\0" in raw:
        raise SeedError(path, None, "binary content (NUL bytes), not a text file")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), ()
    except UnicodeDecodeError as e:
        bad_line = raw[: e.start].count(b"\n") + 1
        first_error = f"not UTF-8 (first bad byte on line {bad_line})"
    for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            break
        return text, (f"{path}: {first_error}; read as {label}",)
    raise SeedError(path, None, "binary content, not text in UTF-8, Windows-1252 or Latin-1")


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    return controls > max(2, len(text) // 100)


def _clean(line: str) -> str:
    # Zero-width and BOM characters inside lines are invisible noise from editors.
    line = line.replace("\ufeff", "").replace("\u200b", "").replace("\u00a0", " ")
    return " ".join(line.split())


def _blocks(lines: list[str], start: int) -> list[tuple[int, str]]:
    """Paragraphs from lines[start:], each with the 1-based line it starts on."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(lines[start:], start=start + 1):
        text = _clean(line)
        if text:
            if not current:
                first = number
            current.append(text)
        elif current:
            blocks.append((first, " ".join(current)))
            current = []
    if current:
        blocks.append((first, " ".join(current)))
    return blocks


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[\W_]+", " ", "".join(c for c in text if not unicodedata.combining(c))).strip()


def _same_headline(a: str, b: str) -> bool:
    fa, fb = _fold(a), _fold(b)
    if fa == fb:
        return True
    return difflib.SequenceMatcher(None, fa, fb).ratio() >= 0.8


def _is_byline(block: str, headline: str, more_follows: bool) -> bool:
    if re.match(r"^by\s+\S", block, re.IGNORECASE):
        return len(block) <= MAX_BYLINE_CHARS * 2
    return (
        more_follows
        and len(block) <= MAX_BYLINE_CHARS
        and len(block.split()) <= MAX_BYLINE_WORDS
        and not _SENTENCE_END.search(block)
        and not _same_headline(block, headline)
    )


def parse_seed_text(path: Path | str, text: str) -> tuple[str, str, str, str, tuple[str, ...]]:
    """Text -> (publication, section, headline, byline, paragraphs); SeedError if unusable."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    publication = _clean(lines[0]) if lines else ""
    if not publication:
        raise SeedError(path, 1, "line 1 must name the publication, and it is blank")
    if len(publication) > MAX_PUBLICATION_CHARS:
        raise SeedError(path, 1, f"publication is over {MAX_PUBLICATION_CHARS} characters")
    section = _clean(lines[1]) if len(lines) > 1 else ""
    if not section:
        raise SeedError(path, 2, "line 2 must name the section, and it is missing or blank")
    if len(section) > MAX_SECTION_CHARS:
        raise SeedError(
            path,
            2,
            f"section is {len(section)} characters, over {MAX_SECTION_CHARS}: "
            "is line 2 really the section?",
        )
    blocks = _blocks(lines, 2)
    if not blocks:
        raise SeedError(path, 3, "no headline after the section line")
    headline_line, headline = blocks[0]
    if len(headline) > MAX_HEADLINE_CHARS:
        raise SeedError(path, headline_line, f"headline is over {MAX_HEADLINE_CHARS} characters")
    rest = blocks[1:]
    byline = ""
    if rest and _is_byline(rest[0][1], headline, more_follows=len(rest) > 1):
        byline = re.sub(r"^by\s+", "", rest[0][1], flags=re.IGNORECASE)
        rest = rest[1:]
    if rest and _same_headline(rest[0][1], headline):
        rest = rest[1:]
    if not rest:
        raise SeedError(path, headline_line, "no body: the file ends after the headline")
    return publication, section, headline, byline, tuple(text for _, text in rest)


def paragraphs_to_html(paragraphs: tuple[str, ...]) -> str:
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def parse_seed(path: Path | str, raw: bytes, *, max_bytes: int | None = None) -> ParsedSeed:
    """A seed file's bytes -> ParsedSeed; raises SeedError naming the file and line."""
    path = Path(path)
    seed_id = seed_id_of(path.name)
    if seed_id is None:
        raise SeedError(path, None, "not a seed file name (expected NNN_<16 hex digits>.txt)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise SeedError(path, None, f"{len(raw):,} bytes, over the limit of {max_bytes:,}")
    text, warnings = decode_seed(path, raw)
    publication, section, headline, byline, paragraphs = parse_seed_text(path, text)
    entry = Entry(
        kind="seed",
        source=path.name,
        source_name=publication,
        origin_id=seed_id,
        headline=headline,
        section=section,
        published=None,  # seeds carry no date: first seen by echofeed
        byline=byline,
        body_html=paragraphs_to_html(paragraphs),
        summary_html=paragraphs_to_html(paragraphs[:1]),
    )
    return ParsedSeed(entry, warnings)
