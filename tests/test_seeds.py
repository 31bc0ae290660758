"""Seed files: every case of SEED-FORMAT.md, each with the bytes written by the test.

The parser cases call `parse_seed` on bytes; the lifecycle cases (slow writer,
edits, unchanged files, deletion, rejection) run `refresh` on a real folder,
a real SQLite file and the published feeds.
"""

from __future__ import annotations

import html
import logging
import os
import re
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from echofeed import pipeline
from echofeed.cli import cli
from echofeed.config import load_config
from echofeed.errors import SeedError
from echofeed.pipeline import refresh
from echofeed.seeds import ParsedSeed, parse_seed

from .feedcheck import entries, validate_output

NAME = "001_00000000000000aa.txt"
BODY = "A recent incident involving the ferry has drawn attention.\n\nOfficials said on Tuesday."


def seed(
    headline: str = "Ferry Runs Aground Near Harbor",
    body: str = BODY,
    *,
    publication: str = "GlobalEcho",
    section: str = "World",
    byline: str | None = "Ana Reporter",
    repeat: str | None = "",  # "" repeats the headline as is, None leaves it out
    eol: str = "\n",
    final_newline: bool = False,
) -> str:
    """A seed's text in the layout of the real example."""
    parts = [f"{publication}\n{section}", headline]
    if byline is not None:
        parts.append(byline)
    if repeat is not None:
        parts.append(repeat or headline)
    parts.append(body)
    text = "\n\n".join(parts) + ("\n" if final_newline else "")
    return text.replace("\n", eol)


def parse(raw: bytes, name: str = NAME) -> ParsedSeed:
    return parse_seed(Path("seeds") / name, raw)


def paragraphs(parsed: ParsedSeed) -> list[str]:
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", parsed.entry.body_html)]


def rejection(raw: bytes, name: str = NAME, **kwargs: object) -> SeedError:
    with pytest.raises(SeedError) as caught:
        parse_seed(Path("seeds") / name, raw, **kwargs)
    assert caught.value.path == Path("seeds") / name
    assert str(caught.value).startswith(f"seeds/{name}:")
    return caught.value


PLAIN = parse(seed().encode())


def test_the_reference_layout_gives_every_field():
    entry = PLAIN.entry
    assert (entry.source_name, entry.section, entry.headline, entry.byline) == (
        "GlobalEcho", "World", "Ferry Runs Aground Near Harbor", "Ana Reporter",
    )  # fmt: skip
    assert entry.origin_id == "00000000000000aa" and entry.published is None
    assert paragraphs(PLAIN) == [
        "A recent incident involving the ferry has drawn attention.",
        "Officials said on Tuesday.",
    ]
    assert PLAIN.warnings == ()


# -- lenient: same meaning, same entry -------------------------------------------------


def test_crlf_line_ends_read_like_lf():
    assert parse(seed(eol="\r\n", final_newline=True).encode()).entry == PLAIN.entry
    assert parse(seed(eol="\r").encode()).entry == PLAIN.entry  # old Mac line ends


def test_utf8_byte_order_mark_is_not_part_of_the_publication():
    parsed = parse(b"\xef\xbb\xbf" + seed().encode())
    assert parsed.entry == PLAIN.entry and parsed.warnings == ()


def test_trailing_and_doubled_spaces_and_tabs_are_folded():
    text = seed().replace("\n", "  \t\n").replace("Ana Reporter", "Ana  Reporter\u00a0")
    assert parse(text.encode()).entry == PLAIN.entry


def test_extra_blank_lines_anywhere_but_under_the_publication():
    text = seed().replace("\n\n", "\n\n \n\n\n")
    assert parse(("\n\n  \n" + text + "\n\n\n").encode()).entry == PLAIN.entry


def test_missing_blank_lines_between_header_lines_are_tolerated():
    # Headline, byline and repeated headline are one line each, so a lost blank
    # line cannot glue the byline onto the headline ("... Harbor By Ana Reporter").
    text = (
        "GlobalEcho\nWorld\nFerry Runs Aground Near Harbor\nBy Ana Reporter\n"
        "Ferry Runs Aground Near Harbor\n\n" + BODY
    )
    assert parse(text.encode()).entry == PLAIN.entry


def test_a_byline_glued_to_the_first_paragraph_is_still_the_byline():
    text = seed(repeat=None, byline="By Ana Reporter").replace("Reporter\n\n", "Reporter\n")
    assert parse(text.encode()).entry == PLAIN.entry


@pytest.mark.parametrize("first_line", ["By the time rescuers came", "Officials", "Ana Reporter"])
def test_the_first_line_of_a_wrapped_paragraph_is_not_a_byline(first_line):
    body = f"{first_line}\nthe ferry had settled.\n\nMore."
    parsed = parse(seed(byline=None, repeat=None, body=body).encode())
    assert parsed.entry.byline == ""
    assert paragraphs(parsed) == [f"{first_line} the ferry had settled.", "More."]


def test_no_final_newline_and_a_final_newline_read_the_same():
    assert parse(seed(final_newline=True).encode()).entry == PLAIN.entry


def test_missing_repeated_headline():
    assert parse(seed(repeat=None).encode()).entry == PLAIN.entry


@pytest.mark.parametrize(
    "repeat",
    [
        "Ferry runs aground near harbour",  # case and spelling
        "FERRY RUNS AGROUND NEAR HARBOR!",
        "Ferry Runs Aground Near the Harbor",
        "Ferry Runs Aground Near Harbor \u2013 Updated",
    ],
)
def test_slightly_different_repeated_headline_is_dropped_from_the_body(repeat):
    parsed = parse(seed(repeat=repeat).encode())
    assert parsed.entry.headline == "Ferry Runs Aground Near Harbor"  # line 4 wins
    assert parsed.entry == PLAIN.entry


def test_a_different_line_where_the_repeat_would_be_stays_in_the_body():
    parsed = parse(seed(repeat="Officials blame fog for the grounding", byline=None).encode())
    assert paragraphs(parsed)[0] == "Officials blame fog for the grounding"


def test_several_paragraphs_keep_their_order_and_wrapped_lines_are_joined():
    body = "First paragraph,\nwrapped over\ntwo more lines.\n\nSecond one.\n\n\n\nThird one."
    assert paragraphs(parse(seed(body=body).encode())) == [
        "First paragraph, wrapped over two more lines.",
        "Second one.",
        "Third one.",
    ]


def test_leading_blank_lines_do_not_shift_the_fields():
    parsed = parse(b"\r\n\r\n   \r\n" + seed(eol="\r\n").encode())
    assert parsed.entry == PLAIN.entry


# -- the byline rule --------------------------------------------------------------------


def test_no_byline_line_6_is_the_repeated_headline():
    parsed = parse(seed(byline=None).encode())
    assert parsed.entry.byline == "" and paragraphs(parsed) == paragraphs(PLAIN)


def test_no_byline_line_6_is_a_one_line_first_paragraph():
    parsed = parse(seed(byline=None, repeat=None, body="Fog closed the port.\n\nMore.").encode())
    assert parsed.entry.byline == ""
    assert paragraphs(parsed) == ["Fog closed the port.", "More."]


@pytest.mark.parametrize(
    ("line", "byline"),
    [
        ("Ahmad Wehbe", "Ahmad Wehbe"),
        ("By Ahmad Wehbe", "Ahmad Wehbe"),
        ("by Ana Reporter and Li Wei, Reuters", "Ana Reporter and Li Wei, Reuters"),
        ("Maria de la Cruz", "Maria de la Cruz"),
        ("Omar al-Hassan | GlobalEcho", "Omar al-Hassan | GlobalEcho"),
        ("A. B. Smith", "A. B. Smith"),
    ],
)
def test_a_short_line_of_names_is_the_byline_even_without_the_repeat(line, byline):
    parsed = parse(seed(byline=line, repeat=None).encode())
    assert parsed.entry.byline == byline and paragraphs(parsed) == paragraphs(PLAIN)


def test_any_short_line_followed_by_the_repeated_headline_is_the_byline():
    assert parse(seed(byline="staff and agencies").encode()).entry.byline == "staff and agencies"


def test_the_byline_slot_before_the_repeated_headline_is_trusted_even_with_a_period():
    assert parse(seed(byline="By Ana Reporter.").encode()).entry.byline == "Ana Reporter."


def test_a_standfirst_in_the_byline_slot_is_the_first_paragraph_and_the_repeat_still_goes():
    standfirst = "Three hundred passengers waited " + "for hours on the listing deck " * 6
    parsed = parse(seed(byline=standfirst).encode())
    assert parsed.entry.byline == ""
    assert paragraphs(parsed) == [standfirst.strip(), *paragraphs(PLAIN)]


@pytest.mark.parametrize(
    "first",
    [
        "By the time rescuers arrived, the ferry had settled on the sandbank.",  # "By ..."
        "Fog closed the port",  # a lowercase word: not names
        "Rescuers Reached Every Passenger By Noon On Tuesday Despite The Fog",  # too long
        "What Went Wrong?",  # ends like a sentence
        "CARACAS \u2014",  # a dateline
        "y de la",  # joining words only
    ],
)
def test_a_first_paragraph_is_never_taken_for_a_byline(first):
    parsed = parse(seed(byline=None, repeat=None, body=f"{first}\n\nMore.").encode())
    assert parsed.entry.byline == "" and paragraphs(parsed) == [first, "More."]


# -- other encodings -------------------------------------------------------------------


def test_windows_1252_smart_quotes_dashes_euro_and_ellipsis_decode_right():
    body = "\u201cWe were lucky,\u201d said the captain \u2014 it cost \u20ac5m\u2026 caf\u00e9."
    raw = seed(headline="Ferry\u2019s Luck", body=body).encode("cp1252")
    assert b"\x93" in raw  # a real cp1252 smart quote, not UTF-8
    parsed = parse(raw)
    assert parsed.entry.headline == "Ferry\u2019s Luck"
    assert paragraphs(parsed) == [body]
    [warning] = parsed.warnings
    assert warning.startswith(f"seeds/{NAME}: not UTF-8") and "Windows-1252" in warning
    assert "line 4" in warning  # the first bad byte is in the headline


def test_latin1_text_decodes_right_with_a_warning_naming_the_file():
    body = "Nicol\u00e1s Maduro habl\u00f3 del a\u00f1o \u00abdif\u00edcil\u00bb en Caracas."
    parsed = parse(seed(body=body, byline="Jos\u00e9 P\u00e9rez").encode("latin-1"))
    assert paragraphs(parsed) == [body] and parsed.entry.byline == "Jos\u00e9 P\u00e9rez"
    [warning] = parsed.warnings
    assert NAME in warning and "Latin-1" in warning


def test_a_byte_windows_1252_leaves_undefined_does_not_spoil_the_smart_quotes():
    # Decoding the whole file as Latin-1 here would turn every smart quote into
    # an invisible C1 control code.
    raw = seed(body="\u201cSafe,\u201d he said.").encode("cp1252").replace(b"he", b"h\x81e", 1)
    parsed = parse(raw)
    assert paragraphs(parsed) == ["\u201cSafe,\u201d he said."]
    assert any("1 control character(s) dropped" in w for w in parsed.warnings)


def test_a_utf8_file_with_pasted_windows_1252_quotes_keeps_its_utf8_accents():
    body = "Nicol\u00e1s said \u201cno\u201d in S\u00e3o Paulo and Bogot\u00e1, a\u00f1o."
    raw = seed(body=body).encode().replace("\u201c".encode(), b"\x93")
    parsed = parse(raw)
    assert paragraphs(parsed) == [body]  # not "NicolÃ¡s"
    assert parsed.warnings == (
        f"seeds/{NAME}: not UTF-8 (first bad byte on line 10); "
        "mixed with UTF-8, its 1 bad byte(s) read as Windows-1252",
    )


def test_utf16_with_its_byte_order_mark_is_read():
    parsed = parse(seed().encode("utf-16"))
    assert parsed.entry == PLAIN.entry and "UTF-16" in parsed.warnings[0]


def test_a_stray_control_character_is_dropped_so_the_feed_stays_xml():
    parsed = parse(seed(body="Bell\x07 and escape\x1b here.").encode())
    assert paragraphs(parsed) == ["Bell and escape here."]
    assert parsed.warnings == (f"seeds/{NAME}: 2 control character(s) dropped",)


# -- rejections: file, line, reason ---------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", seed().encode() + b"\0", b"\0" * 64],
)
def test_nul_bytes_are_binary(raw):
    assert "binary content (NUL bytes)" in rejection(raw).reason


def test_control_characters_everywhere_are_binary():
    raw = bytes(range(1, 9)) * 50 + seed().encode()
    assert "binary content (400 control characters)" in rejection(raw).reason


@pytest.mark.parametrize("raw", [b"", b"\n", b"\r\n \t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n "])
def test_empty_file(raw):
    error = rejection(raw)
    assert error.reason.startswith("the file is empty") and error.line is None


def test_headline_only():
    error = rejection(b"GlobalEcho\nWorld\n\nFerry Runs Aground Near Harbor\n")
    assert (error.line, error.reason) == (4, "no body: the file ends after the headline")


def test_cut_off_after_the_byline():
    error = rejection(b"GlobalEcho\nWorld\n\nFerry Runs Aground\n\nBy Ana Reporter")
    assert (error.line, error.reason) == (6, "no body: the file ends after the byline")


def test_cut_off_after_the_repeated_headline():
    error = rejection(seed(body="").rstrip().encode())
    assert (error.line, error.reason) == (8, "no body: the file ends after the repeated headline")


def test_utf8_cut_off_in_the_middle_of_a_character():
    raw = seed(body="Nicol\u00e1s Maduro spoke in Bogot\u00e1.").encode()
    error = rejection(raw[: raw.rindex("\u00e1".encode()) + 1])
    assert error.line == 10 and "ends in the middle of a UTF-8 character" in error.reason
    # A Windows-1252 file may well end in such a byte: it is read, not rejected.
    assert paragraphs(parse(seed(body="Caf\u00e9").encode("cp1252"))) == ["Caf\u00e9"]


def test_no_headline():
    error = rejection(b"GlobalEcho\r\nWorld\r\n\r\n")
    assert (error.line, error.reason) == (2, "no headline: the file ends after the section")


@pytest.mark.parametrize(
    ("raw", "line", "reason"),
    [
        (b"GlobalEcho\n\nFerry Runs Aground\n\nBody.", 2, "blank"),
        (b"\n\nGlobalEcho\n\nFerry Runs Aground\n\nBody.", 4, "blank"),
        (b"GlobalEcho", 2, "missing"),
    ],
)
def test_section_line_missing(raw, line, reason):
    error = rejection(raw)
    assert error.line == line and error.reason.startswith("no section:")
    assert error.reason.endswith(f"and it is {reason}")


def test_section_line_too_long():
    # The section line left out, so the headline sits where the section belongs.
    raw = b"GlobalEcho\nU.S. Commandos Face Near Miss in Venezuela as Trump Gains Confidence\n"
    error = rejection(raw + b"\nAhmad Wehbe\n\nBody.")
    assert error.line == 2 and error.reason.startswith("section is 68 characters, over 60")


def test_publication_line_too_long():
    error = rejection(("A first paragraph pasted on top. " * 5 + "\n" + seed()).encode())
    assert error.line == 1 and error.reason.startswith("publication is 164 characters, over 120")


def test_headline_run_into_the_body():
    error = rejection(("GlobalEcho\nWorld\n\n" + "word " * 100).encode())
    assert error.line == 4 and "is a blank line missing after it?" in error.reason


def test_over_the_size_limit():
    raw = seed().encode()
    error = rejection(raw, max_bytes=len(raw) - 1)
    assert error.reason == f"{len(raw)} bytes, over the limit of {len(raw) - 1} (seed_max_bytes)"
    assert parse_seed(NAME, raw, max_bytes=len(raw)).entry == PLAIN.entry


# -- hypothesis -------------------------------------------------------------------------

# XML 1.0 Char: what a published feed can carry.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _mutated_seed() -> st.SearchStrategy[bytes]:
    base = seed(eol="\r\n").encode()
    return st.tuples(st.integers(0, len(base)), st.integers(0, len(base)), st.binary()).map(
        lambda t: base[: t[0]] + t[2] + base[t[1] :]
    )


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        _mutated_seed(),
        st.text().map(str.encode),
        st.binary().map(lambda b: b"\xff\xfe" + b),  # a UTF-16 mark, then anything
        st.text().map(lambda t: (seed() + t).encode("utf-16")),
    )
)
def test_any_bytes_give_a_seed_or_a_seed_error(raw):
    try:
        parsed = parse(raw)
    except SeedError as error:
        assert error.reason and str(error).startswith(f"seeds/{NAME}:")
        return
    entry = parsed.entry
    assert entry.source_name and entry.section and entry.headline and entry.body_html
    for text in (entry.source_name, entry.section, entry.headline, entry.byline, entry.body_html):
        assert not _NOT_XML.search(text), f"not XML-safe: {text!r}"
        assert text == text.strip() and "\n" not in text.replace("</p>\n<p>", "")


# Disjoint alphabets, so a body paragraph can never pass for the headline again;
# body paragraphs are sentences (they end in . ! ? or a closing quote), as in news.
_HEADLINE_WORD = st.text("abcdefghÀÉ", min_size=1, max_size=8).map(str.capitalize)
_NAME_WORD = st.text("ijklm", min_size=1, max_size=8).map(str.capitalize)
_BODY_WORD = (
    st.text("nopqrstuvwxyzñøß&<>\"'’—", min_size=1, max_size=10)
    .filter(lambda w: any(c.isalpha() for c in w))
    .flatmap(lambda w: st.sampled_from([w, w.capitalize(), w.upper()]))
)
_SENTENCE = st.tuples(
    st.lists(_BODY_WORD, min_size=1, max_size=12), st.sampled_from([".", "!", "?", ".\u201d"])
).map(lambda t: " ".join(t[0]) + t[1])
_PARAGRAPH = st.lists(_SENTENCE, min_size=1, max_size=3).map(" ".join)


@st.composite
def structured_seeds(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    headline = " ".join(draw(st.lists(_HEADLINE_WORD, min_size=1, max_size=8)))
    names = draw(st.lists(_NAME_WORD, min_size=1, max_size=4))
    byline = draw(st.sampled_from(["", " ".join(names), "By " + " ".join(names)]))
    body = draw(st.lists(_PARAGRAPH, min_size=1, max_size=4))
    repeat = draw(st.sampled_from([None, "", headline.upper()]))
    blank = draw(st.sampled_from(["\n\n", "\n\n\n", "\n \n"]))
    body_text = blank.join(
        p.replace(" ", "\n", 1) if draw(st.booleans()) else p for p in body
    )  # some paragraphs hard-wrapped
    text = seed(
        headline, body_text, section=draw(st.sampled_from(["US", "World", "Middle East"])),
        byline=byline or None, repeat=repeat, final_newline=draw(st.booleans()),
    ).replace("\n\n", blank)  # fmt: skip
    if draw(st.booleans()):
        text = text.replace("\n", "  \n")
    text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n"])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    raw = text.encode(encoding)
    if encoding == "cp1252":
        # Windows-1252 bytes that happen to form UTF-8 ("ß”" is DF 94) cannot be
        # told from UTF-8: such a file is not one we promise to read right.
        assume(not re.search(rb"[\xc2-\xf4][\x80-\xbf]", raw))
    expected = {"headline": headline, "byline": byline.removeprefix("By "), "body": body}
    return raw, expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured_seeds())
def test_a_well_formed_seed_never_loses_body_text(case):
    raw, expected = case
    parsed = parse(raw)
    assert parsed.entry.headline == expected["headline"]
    assert parsed.entry.byline == expected["byline"]
    assert paragraphs(parsed) == expected["body"]  # every word, in order, nothing added


# -- the pipeline: lifecycle of seed files -----------------------------------------------


def write(folder: Path, name: str, raw: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(raw)
    return path


def feed_ids(feed: Path) -> set[str]:
    return {str(e["id"]) for e in entries(feed)} if feed.exists() else set()


def atom_id(seed_id: str) -> str:
    return f"http://127.0.0.1:8080/article/{seed_id}.html"


def stories(db_path: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select origin_id, withdrawn, body_html from stories").fetchall()
    return {origin: (withdrawn, body) for origin, withdrawn, body in rows}


BAD_FILES = {
    "010_0000000000000b01.txt": b"",
    "011_0000000000000b02.txt": b"GlobalEcho\nWorld\n\nOnly A Headline\n",
    "012_0000000000000b03.txt": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0",
    "013_0000000000000b04.txt": b"GlobalEcho\n\nNo Section Here\n\nBody.",
    "014_0000000000000b05.txt": seed(body="x" * 5000).encode(),  # over seed_max_bytes below
}


def test_rejected_files_stay_untouched_while_the_rest_publish(newsroom, tmp_path, monkeypatch):
    read: list[str] = []
    real_read = pipeline._read_capped

    def recording_read(path, *args, **kwargs):
        read.append(path.name)
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_read_capped", recording_read)
    folder = tmp_path / "seeds"
    good = write(folder, NAME, seed().encode("cp1252"))
    bad = {name: write(folder, name, raw) for name, raw in BAD_FILES.items()}
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in bad.values()}
    report = refresh(load_config(newsroom(seed_max_bytes=4096)))
    assert report.seeds_read == 1 and report.counts["new"] == 1
    assert feed_ids(tmp_path / "feeds" / "all.atom") == {atom_id("00000000000000aa")}
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in bad.values()} == before
    assert good.exists()
    reasons = {e.path.name: (e.line, e.reason) for e in report.seed_errors}
    assert reasons == {
        "010_0000000000000b01.txt": (None, "the file is empty (nothing but blank space)"),
        "011_0000000000000b02.txt": (4, "no body: the file ends after the headline"),
        "012_0000000000000b03.txt": (3, "binary content (NUL bytes), not a text file"),
        "013_0000000000000b04.txt": (2, "no section: the line right under the publication "
                                     "must name the section, and it is blank"),
        "014_0000000000000b05.txt": (None, f"{len(BAD_FILES['014_0000000000000b05.txt']):,} "
                                     "bytes, over the limit of 4,096 (seed_max_bytes)"),
    }  # fmt: skip
    assert all(str(folder) in str(e) for e in report.seed_errors)
    assert "014_0000000000000b05.txt" not in read  # too big by its size: never read
    assert "5 rejected" in report.summary()


def test_a_windows_1252_seed_publishes_with_a_warning_naming_the_file(newsroom, tmp_path, caplog):
    body = "\u201cWe were lucky,\u201d said the captain \u2014 \u20ac5m\u2026"
    path = write(tmp_path / "seeds", NAME, seed(body=body).encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="echofeed.pipeline"):
        report = refresh(load_config(newsroom()))
    assert report.seed_errors == [] and report.seeds_read == 1
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{path}: not UTF-8") and warning in report.warnings
    validate_output(tmp_path / "feeds")
    [entry] = entries(tmp_path / "feeds" / "all.atom")
    assert entry["content"] == f"<p>{html.escape(body, quote=False)}</p>"


def test_status_lists_rejected_seeds_with_file_line_and_reason(newsroom, tmp_path):
    folder = tmp_path / "seeds"
    write(folder, NAME, seed().encode())
    for name, raw in BAD_FILES.items():
        write(folder, name, raw)
    config_path = newsroom(seed_max_bytes=4096)
    assert CliRunner().invoke(cli, ["-c", str(config_path), "refresh"]).exit_code == 0
    result = CliRunner().invoke(cli, ["-c", str(config_path), "status"])
    assert result.exit_code == 0, result.output
    assert "rejected seed files (5):" in result.output
    assert (
        f"{folder / '011_0000000000000b02.txt'}:4: no body: the file ends after the headline"
        in (result.output)
    )
    assert f"{folder / '012_0000000000000b03.txt'}:3: binary content (NUL bytes)" in result.output
    assert f"{folder / '010_0000000000000b01.txt'}:-: the file is empty" in result.output
    assert NAME not in result.output
    listed = re.findall(r"/(\d{3}_[0-9a-f]{16}\.txt):", result.output)
    assert listed == sorted(BAD_FILES)  # by file name, as in the folder


def test_not_seed_files_are_skipped_without_error_and_logged_once(newsroom, tmp_path, caplog):
    folder = tmp_path / "seeds"
    write(folder, NAME, seed().encode())
    others = [
        ".DS_Store", "README", f".{NAME}.swp", f"{NAME}~", ".hidden", "001_xyz.txt",
        "001_00000000000000aa.TXT", "notes.txt", "Thumbs.db", f"#{NAME}#",
    ]  # fmt: skip
    for name in others:
        write(folder, name, b"\0\x01 not a seed " + seed().encode())
    (folder / "002_00000000000000bb.txt").mkdir()  # a folder named like a seed
    config = load_config(newsroom())
    with caplog.at_level(logging.DEBUG, logger="echofeed.pipeline"):
        first = refresh(config)
        second = refresh(config)
    assert first.errors == [] and second.errors == []
    assert first.seeds_read == 1 and feed_ids(tmp_path / "feeds" / "all.atom") == {
        atom_id("00000000000000aa")
    }
    skipped = [r for r in caplog.records if "not seed files, skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelno == logging.DEBUG
    for name in [*others, "002_00000000000000bb.txt"]:
        assert name in skipped[0].getMessage()
    assert all(r.levelno < logging.WARNING for r in caplog.records)


def test_a_slow_writer_is_never_published_half(newsroom, tmp_path):
    path = tmp_path / "seeds" / NAME
    stop = threading.Event()

    def writer() -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(seed(body="The first paragraph arrived."))
            handle.flush()
            while not stop.is_set():
                handle.write("\n\nAnother paragraph arrived.")
                handle.flush()
                time.sleep(0.05)
            handle.write("\n\nThe last paragraph arrived.")

    config = load_config(newsroom(seed_quiet_seconds=1.0))
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not path.exists():
            time.sleep(0.01)
        during = [refresh(config), refresh(config)]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    for report in during:
        assert report.seeds_deferred == [str(path)] and report.seeds_read == 0
        assert "1 still being written" in report.summary()
    assert feed_ids(tmp_path / "feeds" / "all.atom") == set()
    after = refresh(config)  # the file is young: waited for, then read whole
    assert after.seeds_read == 1 and after.seeds_deferred == []
    [entry] = entries(tmp_path / "feeds" / "all.atom")
    assert str(entry["content"]).endswith("<p>The last paragraph arrived.</p>")


def test_a_file_that_changes_between_the_quiet_check_and_the_read_waits(
    newsroom, tmp_path, monkeypatch
):
    path = write(tmp_path / "seeds", NAME, seed(body="Half of it.").encode())
    quiet_check = pipeline.wait_until_quiet

    def writer_resumes_right_after_the_check(files, quiet_seconds):
        checked = quiet_check(files, quiet_seconds)
        with open(path, "ab") as handle:
            handle.write(b" And the rest of it.")
        return checked

    monkeypatch.setattr(pipeline, "wait_until_quiet", writer_resumes_right_after_the_check)
    config = load_config(newsroom())
    report = refresh(config)
    assert report.seeds_read == 0 and report.seeds_deferred == [str(path)]
    assert feed_ids(tmp_path / "feeds" / "all.atom") == set()
    monkeypatch.undo()
    assert refresh(config).seeds_read == 1
    [entry] = entries(tmp_path / "feeds" / "all.atom")
    assert "Half of it. And the rest of it." in str(entry["content"])


def test_an_edit_keeps_the_id_and_published_and_moves_updated(newsroom, tmp_path):
    path = write(tmp_path / "seeds", NAME, seed().encode())
    config = load_config(newsroom())
    refresh(config, now=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    [before] = entries(tmp_path / "feeds" / "all.atom")
    write(path.parent, NAME, seed(headline="Ferry Refloated", body="Tugs freed it.").encode())
    report = refresh(config, now=datetime(2026, 11, 21, 9, 30, tzinfo=UTC))
    assert report.counts == {"new": 0, "updated": 1, "duplicate": 0, "unchanged": 0}
    [after] = entries(tmp_path / "feeds" / "all.atom")
    assert after["id"] == before["id"] == atom_id("00000000000000aa")
    assert after["published"] == before["published"] == "2026-11-20T10:00:00+00:00"
    assert after["updated"] == "2026-11-21T09:30:00+00:00"
    assert after["title"] == "Ferry Refloated" and "Tugs freed it." in str(after["content"])


def test_an_unchanged_file_is_not_read_again_and_a_touched_one_not_parsed(
    newsroom, tmp_path, monkeypatch
):
    path = write(tmp_path / "seeds", NAME, seed().encode())
    calls = {"read": 0, "parse": 0}
    real_read, real_parse = pipeline._read_capped, pipeline.parse_seed

    def counting_read(*args, **kwargs):
        calls["read"] += 1
        return real_read(*args, **kwargs)

    def counting_parse(*args, **kwargs):
        calls["parse"] += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_read_capped", counting_read)
    monkeypatch.setattr(pipeline, "parse_seed", counting_parse)
    config = load_config(newsroom())
    refresh(config)
    assert calls == {"read": 1, "parse": 1}
    report = refresh(config)  # same size and mtime: not even opened
    assert calls == {"read": 1, "parse": 1} and report.seeds_unchanged == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    report = refresh(config)  # new mtime, same bytes: read and hashed, not parsed
    assert calls == {"read": 2, "parse": 1} and report.seeds_unchanged == 1
    assert refresh(config).seeds_unchanged == 1 and calls["read"] == 2  # the new mtime stuck
    write(path.parent, NAME, seed(body="New text.").encode())
    assert refresh(config).counts["updated"] == 1 and calls == {"read": 3, "parse": 2}


def test_a_deleted_seed_leaves_every_feed_and_stays_in_the_database(newsroom, tmp_path):
    folder = tmp_path / "seeds"
    gone = write(folder, NAME, seed(section="US", body="Caracas is calm.").encode())
    write(folder, "002_00000000000000bb.txt", seed("Storm Nears Caracas", section="US").encode())
    config = load_config(newsroom(topics={"Venezuela": {"keywords": ["Caracas"]}}))
    refresh(config)
    feeds = [
        tmp_path / "feeds" / f for f in ("all.atom", "section/us.atom", "topic/venezuela.atom")
    ]
    both = {atom_id("00000000000000aa"), atom_id("00000000000000bb")}
    assert all(feed_ids(feed) == both for feed in feeds)
    gone.unlink()
    report = refresh(config)
    assert report.withdrawn == 1 and "1 withdrawn" in report.summary()
    assert all(feed_ids(feed) == {atom_id("00000000000000bb")} for feed in feeds)
    validate_output(tmp_path / "feeds")
    withdrawn, body = stories(tmp_path / "echofeed.db")["00000000000000aa"]
    assert withdrawn == 1 and "Caracas is calm." in body
    write(folder, NAME, seed(section="US", body="Caracas is calm.").encode())
    assert refresh(config).counts["updated"] == 1  # put back: published again
    assert all(feed_ids(feed) == both for feed in feeds)


def test_a_missing_seeds_folder_withdraws_nothing(newsroom, tmp_path):
    write(tmp_path / "seeds", NAME, seed().encode())
    config = load_config(newsroom())
    refresh(config)
    (tmp_path / "seeds" / NAME).rename(tmp_path / NAME)
    (tmp_path / "seeds").rmdir()  # an unmounted share looks like this
    report = refresh(config)
    assert report.withdrawn == 0 and "cannot list the seeds folder" in report.warnings[0]
    assert feed_ids(tmp_path / "feeds" / "all.atom") == {atom_id("00000000000000aa")}


def test_a_published_seed_edited_into_a_broken_state_keeps_its_last_good_version(
    newsroom, tmp_path
):
    path = write(tmp_path / "seeds", NAME, seed(body="The good text.").encode())
    config_path = newsroom()
    config = load_config(config_path)
    refresh(config)
    path.write_bytes(b"GlobalEcho\nWorld\n\nFerry Runs Aground Near Harbor\n")  # cut off
    broken = (path.read_bytes(), path.stat().st_mtime_ns)
    for _ in range(2):  # said again on every pass until fixed
        report = refresh(config)
        [error] = report.seed_errors
        assert (error.path, error.line) == (path, 4)
        assert error.reason == (
            "no body: the file ends after the headline (the last good version stays published)"
        )
        [entry] = entries(tmp_path / "feeds" / "all.atom")
        assert "The good text." in str(entry["content"])
        assert (path.read_bytes(), path.stat().st_mtime_ns) == broken
    status = CliRunner().invoke(cli, ["-c", str(config_path), "status"]).output
    assert f"{path}:4: no body: the file ends after the headline" in status
    path.write_bytes(seed(body="The fixed text.").encode())
    report = refresh(config)
    assert report.seed_errors == [] and report.counts["updated"] == 1
    assert "The fixed text." in str(entries(tmp_path / "feeds" / "all.atom")[0]["content"])
    assert (
        "rejected seed files (0):"
        in CliRunner().invoke(cli, ["-c", str(config_path), "status"]).output
    )


def test_two_files_with_the_same_id_publish_one_and_reject_the_other(newsroom, tmp_path):
    folder = tmp_path / "seeds"
    write(folder, NAME, seed().encode())
    write(folder, "002_00000000000000AA.txt", seed("Another Story").encode())
    report = refresh(load_config(newsroom()))
    [error] = report.seed_errors
    assert error.path.name == "002_00000000000000AA.txt"
    assert error.reason == f"same article id as {NAME}; remove one of the two"
    [entry] = entries(tmp_path / "feeds" / "all.atom")
    assert entry["title"] == "Ferry Runs Aground Near Harbor"
