"""Seed files: the newsroom's own articles, bytes in, an Entry or a SeedError out.

The format (../shared/SEED-FORMAT.md), line by line:

    publication            the first non-blank line
    section                the line right under it, never blank
    (blank)
    headline               one line
    (blank)
    byline                 optional, one line
    (blank)
    headline again         optional, may differ slightly
    (blank)
    body paragraphs, separated by blank lines; lines inside one are joined

Lenient where the meaning is unambiguous:
- CRLF or CR line ends, a UTF-8 byte-order mark, trailing or repeated spaces,
  blank lines before the publication, extra blank lines between blocks, no
  final newline. A missing blank line between the header lines is tolerated:
  the headline, byline and repeated headline are each one line.
- Text that is not UTF-8 is read as Windows-1252, which reads Latin-1 text
  the same (they differ only in 0x80-0x9F, control codes in Latin-1 that real
  Latin-1 text never holds), with a warning naming the file. A UTF-8 file
  with a few pasted Windows-1252 bytes keeps its UTF-8 characters. A UTF-16
  file with its byte-order mark is read as UTF-16, with a warning.
- Control characters (other than tab and line ends) are dropped, with a
  warning: they are not text, and XML cannot carry most of them.
- The repeated headline is recognized when it matches the headline after
  folding case, accents and punctuation, or is at least 80% similar.

The byline rule. The line after the headline is the byline when it is not
the headline again and either
- the repeated headline follows it (the full layout: nothing else fits in
  that slot), and it is at most 160 characters; or
- it does not end like a sentence (. ! ? : ; maybe followed by a closing
  quote or bracket) or a dateline (a dash), and either starts with "By "
  and reads like names after it, or stands alone (a blank line follows it)
  and starts with "By " (at most 16 words, 160 characters) or reads like
  names. Reads like names: at most 8 words and 80 characters, every word
  capitalized except joining words such as and, de, van, bin, al-, of, to,
  the, and at least one capitalized.
A leading "By " is dropped. Anything else is the first paragraph. When in
doubt the line stays in the body: a byline read as a paragraph loses
nothing, a paragraph read as a byline would vanish from the body. The rule
cannot tell a title-case standfirst of a few words ("Harbor Officials Blame
Fog") from names: such a line becomes the byline.

Rejected with a SeedError naming the file and, where it applies, the line:
an empty file, binary content (NUL bytes, or more than 1 control character
in 100), UTF-8 text that ends in the middle of a character (cut off), a
missing or blank publication or section line, a section over 60 characters,
no headline, a headline over 400 characters, no body (the file ends after
the headline, the byline or the repeated headline), and a file over the
size limit.

Parsing is pure (bytes in, values out); `stat_seed_files` only lists the folder.
"""

from __future__ import annotations

import codecs
import difflib
import html
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import SeedError
from .model import Entry
from .sanitize import plain_text

SEED_NAME = re.compile(r"^(?P<seq>\d+)_(?P<id>[0-9a-fA-F]{16})\.txt$")
MAX_SECTION_CHARS = 60
MAX_PUBLICATION_CHARS = 120
MAX_HEADLINE_CHARS = 400
MAX_BYLINE_WORDS = 8
MAX_BYLINE_CHARS = 80
MAX_BY_BYLINE_WORDS = 16
MAX_BY_BYLINE_CHARS = 160
SAME_HEADLINE_RATIO = 0.8
_SENTENCE_END = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]*$")
_DATELINE_END = re.compile(r"[-\u2013\u2014]$")  # "CARACAS \u2014" opens a paragraph
_BY = re.compile(r"^by\s+(?=\S)", re.IGNORECASE)
_NAME_JOINERS = frozenset(
    "and & de da das del della der di do dos du la le van von ten ter bin ibn al el "
    "y e of in at for with to the from".split()
)
# Characters that are not text: C0 and C1 controls except the whitespace-like
# ones (tab, line ends, VT, FF, FS-US, NEL), and the two non-characters XML 1.0
# forbids.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufffe\uffff]")
_INVISIBLE = re.compile(r"[\ufeff\u200b]")  # BOMs and zero-width spaces from editors
_CONTROLS_ALLOWED_PER_100 = 1


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A file in the seeds folder that is named like a seed."""

    folder: Path
    name: str
    seed_id: str  # the 16 hex digits, lowercase
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        # Made when the file is read or named in an error, not for every file of
        # the listing: a Path each cost a pass over 10,000 unchanged seeds a sixth.
        return self.folder / self.name


@dataclass(frozen=True, slots=True)
class ParsedSeed:
    entry: Entry
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeedParts:
    """A seed's text, split into its fields (all plain text, cleaned)."""

    publication: str
    section: str
    headline: str
    byline: str
    paragraphs: tuple[str, ...]


def seed_id_of(name: str) -> str | None:
    """The 16-hex id of a seed file name, or None when the name is not a seed's."""
    match = SEED_NAME.match(name)
    return match.group("id").lower() if match else None


def stat_seed_files(seeds_dir: Path) -> tuple[tuple[SeedFile, ...], tuple[str, ...]]:
    """List the seed files in a folder, and the names skipped as not seeds.

    Raises OSError when the folder cannot be listed (missing, not a folder,
    no permission): the caller must not take that for "every seed deleted".
    """
    seeds: list[SeedFile] = []
    skipped: list[str] = []
    with os.scandir(seeds_dir) as entries:
        for item in entries:
            seed_id = seed_id_of(item.name)
            if seed_id is None:
                skipped.append(item.name)
                continue
            try:
                if not item.is_file():
                    skipped.append(item.name)
                    continue
                stat = item.stat()
            except OSError:
                continue  # vanished between listing and stat: gone, not broken
            seeds.append(SeedFile(seeds_dir, item.name, seed_id, stat.st_size, stat.st_mtime_ns))
    seeds.sort(key=lambda s: s.name)
    return tuple(seeds), tuple(sorted(skipped))


def decode_seed(path: Path | str, raw: bytes) -> tuple[str, tuple[str, ...]]:
    """Bytes -> text: UTF-8 (BOM optional), UTF-16 with a BOM, else Windows-1252.

    Raises SeedError for an empty file or binary content.
    """
    warnings: list[str] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as e:
            raise SeedError(path, None, "binary content: a UTF-16 mark, but not UTF-16") from e
        warnings.append(f"{path}: UTF-16 text, read as such (save seeds as UTF-8)")
    else:
        if b"\0" in raw:
            line = raw[: raw.index(b"\0")].count(b"\n") + 1
            raise SeedError(path, line, "binary content (NUL bytes), not a text file")
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad_line = raw[: e.start].count(b"\n") + 1
            text, how, cut_off = _decode_not_utf8(raw)
            if cut_off:
                raise SeedError(
                    path,
                    raw.count(b"\n") + 1,
                    "the file ends in the middle of a UTF-8 character: it looks cut off",
                ) from e
            warnings.append(f"{path}: not UTF-8 (first bad byte on line {bad_line}); {how}")
    if not text.strip(" \t\r\n\ufeff\u200b\u00a0"):
        raise SeedError(path, None, "the file is empty (nothing but blank space)")
    controls = len(_NOT_TEXT.findall(text))
    if controls:
        if controls > max(2, len(text) * _CONTROLS_ALLOWED_PER_100 // 100):
            raise SeedError(path, None, f"binary content ({controls} control characters), not text")
        warnings.append(f"{path}: {controls} control character(s) dropped")
    return text, tuple(warnings)


_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _decode_not_utf8(raw: bytes) -> tuple[str, str, bool]:
    """Text that failed as UTF-8 -> (text, how it was read, whether it is cut off).

    Usually the whole file is Windows-1252. A UTF-8 file with a few pasted
    Windows-1252 characters has more valid UTF-8 characters than bad bytes:
    then only the bad bytes are read as Windows-1252, so the UTF-8 ones do not
    turn into mojibake ("Ã©"). A UTF-8 file (one with a valid UTF-8 character)
    whose last character is incomplete was cut off. Bytes Windows-1252 leaves
    undefined (0x81 0x8D 0x8F 0x90 0x9D) are read as Latin-1 control codes,
    dropped later like any control.
    """
    escaped = raw.decode("utf-8", errors="surrogateescape")
    bad = sum(len(m.group()) for m in _ESCAPED_BYTES.finditer(escaped))
    non_ascii = len(escaped) - len(escaped.encode("ascii", errors="ignore"))
    good = non_ascii - bad
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    decoder.decode(raw, final=False)
    held_back = len(decoder.getstate()[0])  # an incomplete character at the end
    cut_off = held_back > 0 and good > 0 and (good > bad or bad == held_back)
    if good > bad:
        text = _ESCAPED_BYTES.sub(
            lambda m: _cp1252(m.group().encode("utf-8", errors="surrogateescape")), escaped
        )
        return text, f"mixed with UTF-8, its {bad} bad byte(s) read as Windows-1252", cut_off
    return _cp1252(raw), "read as Windows-1252 (Latin-1)", cut_off


def _cp1252(raw: bytes) -> str:
    return raw.decode("cp1252", errors="echofeed-latin1")


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("echofeed-latin1", _latin1_fallback)


def _clean(line: str) -> str:
    """One line as plain text: controls and invisible marks gone, spaces folded.

    str.split() also splits on the whitespace-like controls (tab, VT, FF, NEL,
    U+2028, no-break space), so they become single spaces.
    """
    return " ".join(_NOT_TEXT.sub("", _INVISIBLE.sub("", line)).split())


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[\W_]+", " ", "".join(c for c in text if not unicodedata.combining(c))).strip()


def same_headline(a: str, b: str) -> bool:
    """True when `b` is `a` again: equal after folding, or at least 80% similar."""
    fa, fb = _fold(a), _fold(b)
    if not fa or not fb:  # nothing but punctuation: only an exact repeat counts
        return a.casefold() == b.casefold()
    if fa == fb:
        return True
    matcher = difflib.SequenceMatcher(None, fa, fb, autojunk=False)
    # The quick upper bounds first: a 5,000-character paragraph is never
    # compared in full with a headline.
    return (
        matcher.real_quick_ratio() >= SAME_HEADLINE_RATIO
        and matcher.quick_ratio() >= SAME_HEADLINE_RATIO
        and matcher.ratio() >= SAME_HEADLINE_RATIO
    )


def _reads_like_names(line: str) -> bool:
    words = line.split()
    if not 1 <= len(words) <= MAX_BYLINE_WORDS or len(line) > MAX_BYLINE_CHARS:
        return False
    names = 0
    for word in words:
        letters = [c for c in word if c.isalpha()]
        if not letters:
            continue  # "|", "—", "&"
        if letters[0].isupper():
            names += 1  # "Wehbe", "O'Neil"
            continue
        bare = word.strip(",;/|()").casefold()
        if bare in _NAME_JOINERS or bare.startswith(("al-", "el-", "d'", "l'")):
            continue
        return False
    return names > 0  # "y", "and", "|" alone are no one's name


def _is_byline(line: str, headline: str, *, repeat_follows: bool, stands_alone: bool) -> bool:
    if same_headline(line, headline):
        return False
    if repeat_follows:
        # headline, this line, headline again: the byline's slot, nothing else fits.
        return len(line) <= MAX_BY_BYLINE_CHARS
    if _SENTENCE_END.search(line) or _DATELINE_END.search(line):
        return False
    if not stands_alone:
        # Glued to the text under it (a lost blank line): only "By " and names,
        # so the first line of a hard-wrapped paragraph ("By the time the",
        # "Officials") stays in it.
        return bool(_BY.match(line)) and _reads_like_names(_BY.sub("", line))
    if _BY.match(line):
        return len(line) <= MAX_BY_BYLINE_CHARS and len(line.split()) <= MAX_BY_BYLINE_WORDS + 1
    return _reads_like_names(line)


Line = tuple[int, str]  # (1-based line number, cleaned text)


def _blocks(lines: list[str], start: int) -> list[list[Line]]:
    """Runs of non-blank lines from lines[start:], each line with its number."""
    blocks: list[list[Line]] = []
    current: list[Line] = []
    for number, text in enumerate(lines[start:], start=start + 1):
        if text:
            current.append((number, text))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _take_line(blocks: list[list[Line]]) -> Line:
    """Remove and return the first line of the first block."""
    line = blocks[0].pop(0)
    if not blocks[0]:
        blocks.pop(0)
    return line


def parse_seed_text(path: Path | str, text: str) -> SeedParts:
    """Text -> its fields; SeedError naming the file and line if it is unusable."""
    lines = [_clean(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None:
        raise SeedError(path, None, "the file is empty (nothing but blank space)")
    publication = lines[first]
    if len(publication) > MAX_PUBLICATION_CHARS:
        raise SeedError(
            path,
            first + 1,
            f"publication is {len(publication)} characters, over {MAX_PUBLICATION_CHARS}: "
            "the first line must name the publication",
        )
    section_line = first + 2
    section = lines[first + 1] if first + 1 < len(lines) else ""
    if not section:
        raise SeedError(
            path,
            section_line,
            "no section: the line right under the publication must name the section, "
            "and it is " + ("blank" if first + 1 < len(lines) else "missing"),
        )
    if len(section) > MAX_SECTION_CHARS:
        raise SeedError(
            path,
            section_line,
            f"section is {len(section)} characters, over {MAX_SECTION_CHARS}: "
            "is this line really the section?",
        )
    blocks = _blocks(lines, first + 2)
    if not blocks:
        raise SeedError(path, section_line, "no headline: the file ends after the section")
    headline_line, headline = _take_line(blocks)
    if len(headline) > MAX_HEADLINE_CHARS:
        raise SeedError(
            path,
            headline_line,
            f"headline is {len(headline)} characters, over {MAX_HEADLINE_CHARS}: "
            "is a blank line missing after it?",
        )
    last_line, last_what = headline_line, "headline"
    byline = ""
    if blocks:
        line_no, candidate = blocks[0][0]
        if len(blocks[0]) > 1:
            following: str | None = blocks[0][1][1]
        else:
            following = blocks[1][0][1] if len(blocks) > 1 else None
        repeat_follows = following is not None and same_headline(following, headline)
        if _is_byline(
            candidate,
            headline,
            repeat_follows=repeat_follows,
            stands_alone=len(blocks[0]) == 1,
        ):
            _take_line(blocks)
            byline = _BY.sub("", candidate)
            last_line, last_what = line_no, "byline"
    if blocks and same_headline(blocks[0][0][1], headline):
        last_line, _ = _take_line(blocks)
        last_what = "repeated headline"
    elif not byline and len(blocks) > 1 and same_headline(blocks[1][0][1], headline):
        # A long line sat in the byline's slot (a standfirst): it is the first
        # paragraph, and the repeated headline after it is still not body text.
        del blocks[1][0]
        if not blocks[1]:
            del blocks[1]
    if not blocks:
        raise SeedError(path, last_line, f"no body: the file ends after the {last_what}")
    paragraphs = tuple(" ".join(text for _, text in block) for block in blocks)
    # Names and the headline are plain text: no tag-like markup (see sanitize.plain_text).
    # The body is escaped into HTML, where "<script>" stays visible text.
    return SeedParts(
        plain_text(publication), plain_text(section), plain_text(headline), plain_text(byline),
        paragraphs,
    )  # fmt: skip


def paragraphs_to_html(paragraphs: tuple[str, ...]) -> str:
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def parse_seed(path: Path | str, raw: bytes, *, max_bytes: int | None = None) -> ParsedSeed:
    """A seed file's bytes -> ParsedSeed; raises SeedError naming the file and line.

    Never raises anything else, whatever the bytes.
    """
    path = Path(path)
    seed_id = seed_id_of(path.name)
    if seed_id is None:
        raise SeedError(path, None, "not a seed file name (expected NNN_<16 hex digits>.txt)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise SeedError(
            path, None, f"{len(raw):,} bytes, over the limit of {max_bytes:,} (seed_max_bytes)"
        )
    text, warnings = decode_seed(path, raw)
    parts = parse_seed_text(path, text)
    entry = Entry(
        kind="seed",
        source=path.name,
        source_name=parts.publication,
        origin_id=seed_id,
        headline=parts.headline,
        section=parts.section,
        published=None,  # seeds carry no date: first seen by echofeed
        byline=parts.byline,
        body_html=paragraphs_to_html(parts.paragraphs),
        summary_html=paragraphs_to_html(parts.paragraphs[:1]),
    )
    return ParsedSeed(entry, warnings)
