"""html_to_text skips the HTML parser for text without markup: it must give what the
parser gives, for every character."""

import random
import re

from echofeed.sanitize import _NEEDS_HTML_PARSER, _parsed_text, html_to_text


def test_plain_text_skips_the_parser_and_gives_what_the_parser_gives():
    characters = [
        chr(c) for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000 and chr(c) not in "<&"
    ]
    # In runs of 64 (one call each: any character the parser changes changes the run),
    # then each character alone at the start of a text, where the parser drops a BOM.
    texts = [
        joiner.join(characters[start : start + 64])
        for start in range(0, len(characters), 64)
        for joiner in ("", " ")
    ]
    texts += [c + "x" for c in characters if ord(c) < 0x3000 or 0xFE00 <= ord(c) < 0x10000]
    skipped = sum(not _NEEDS_HTML_PARSER.search(text) for text in texts)
    for text in texts:
        assert html_to_text(text) == _parsed_text(text), repr(text)
    rng = random.Random(7)
    alphabet = [*"ab \t\r\n>\"'\u200b\u00a0\ufeff\u2028\U0001f600", *characters[:600]]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        assert html_to_text(text) == _parsed_text(text), repr(text)
    assert skipped > len(texts) - 10  # what was checked is the fast path


def test_markup_and_references_still_go_through_the_parser():
    assert html_to_text("<p>One</p><p>two &amp; <script>x()</script>three</p>") == (
        "One two & three"
    )
    assert html_to_text("\ufeffBOM first") == "BOM first"
    assert html_to_text("a\x00b") == _parsed_text("a\x00b")


def test_threads_sanitizing_at_once_each_resolve_links_against_their_own_base():
    from concurrent.futures import ThreadPoolExecutor

    from echofeed.sanitize import sanitize_html

    fragment = "<p>" + '<a href="/story">x</a> ' * 200 + "</p>"

    def links(n: int) -> set[str]:
        base = f"https://site{n}.example/feed"
        found = set()
        for _ in range(20):
            html = sanitize_html(fragment, base)
            found |= set(re.findall(r'href="([^"]+)"', html))
        return found

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(links, range(8)))
    assert results == [{f"https://site{n}.example/story"} for n in range(8)]


def test_join_url_gives_what_urljoin_gives(monkeypatch):
    from urllib.parse import urljoin

    from echofeed import sanitize
    from echofeed.sanitize import join_url

    slow = []
    monkeypatch.setattr(sanitize, "urljoin", lambda *args: slow.append(args) or urljoin(*args))

    rng = random.Random(11)
    bases = [
        "https://news.example/feed/", "http://a/b/c/d;p?q", "HTTPS://Mixed.Example:8080/x",
        "https://h.example", "ftp://files.example/dir/", "http:/no-host", "//scheme-relative/x",
        "https://user@h.example/", "http://[::1]/x", "http://[::1/broken", "about:blank",
    ]  # fmt: skip
    pieces = [
        "/", "a", "B", "..", ".", "//", "?", "#", ";", "%20", " ", "\t", "é", ":", "@", "x.y",
        "http://", "https://", "HTTP://", "h.example", ":80", "[::1]", "&", "=", "~", "\\",
    ]  # fmt: skip
    urls = ["", "/", "/story/1", "/a/./b", "/a/../b", "/a//b", "/a/", "/.", "/..", "/a;p",
            "https://x.example/p?q#f", "https://x.example/p?", "https://x.example/p#",
            "http://x.example:81/a;b", "https://x.example", "mailto:a@b.example"]  # fmt: skip
    urls += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 9))) for _ in range(3000)]
    # Near the forms join_url answers itself, so that most of these take its short cut.
    segments = ["a", "b1", "..", ".", "", "x.y", "%2F", "~u", "é", "a;b", "q?", "f#", " ", "&=:"]
    for _ in range(3000):
        path = "/" + "/".join(rng.choice(segments) for _ in range(rng.randrange(1, 5)))
        host = rng.choice(["h.example", "H.Example:8080", "h.example:", "[::1]", "u@h", "h_x"])
        tail = rng.choice(["", "?", "?q=1", "#", "#f", "?a#b", "?#"])
        urls += [path, rng.choice(["http://", "https://", "HTTP://"]) + host + path + tail]
    checked = 0
    for base in bases:
        for url in urls:
            try:
                expected = urljoin(base, url)
            except ValueError:
                expected = ValueError
            try:
                got = join_url(base, url)
            except ValueError:
                got = ValueError
            assert got == expected, (base, url)
            checked += 1
    assert checked == len(bases) * len(urls)
    assert checked - len(slow) > 10_000  # many took the short cut
