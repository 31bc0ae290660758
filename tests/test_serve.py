"""`echofeed serve`: waitress on 127.0.0.1, probed with a real HTTP client."""

from __future__ import annotations

import gzip
import http.client
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from echofeed.serve import make_server, server_url, stop_server

ATOM = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    + (b"<entry><title>A story worth compressing</title></entry>" * 40)
    + b"</feed>\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "feeds"
    (root / "section").mkdir(parents=True)
    (root / "all.atom").write_bytes(ATOM)
    (root / "section" / "world.atom").write_bytes(ATOM)
    (root / "index.opml").write_text('<?xml version="1.0"?><opml version="2.0"/>')
    (root / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}')
    (root / "index.html").write_text("<!doctype html><title>GlobalEcho feeds</title>")
    (root / ".all.atom.x1y2.tmp").write_bytes(b"half a feed")
    (tmp_path / "secret.txt").write_text("outside the output folder")
    (root / "escape.atom").symlink_to(tmp_path / "secret.txt")
    (root / "inside.atom").symlink_to(root / "all.atom")
    return root


@pytest.fixture
def url(site: Path):
    server = make_server(site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        stop_server(server)
        thread.join(10)
        assert not thread.is_alive()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("all.atom", "application/atom+xml"),
        ("section/world.atom", "application/atom+xml"),
        ("feed.json", "application/feed+json"),
        ("index.opml", "text/x-opml"),
        ("index.html", "text/html"),
        ("", "text/html"),  # / is index.html
    ],
)
def test_content_types(url, site, path, content_type):
    response = requests.get(url + path, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == content_type
    assert response.content == (site / (path or "index.html")).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_etag_and_last_modified_give_304_and_change_with_the_file(url, site):
    first = requests.get(url + "all.atom", headers={"Accept-Encoding": "identity"}, timeout=5)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('"')

    again = requests.get(url + "all.atom", headers={"If-None-Match": etag,
                         "Accept-Encoding": "identity"}, timeout=5)  # fmt: skip
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    since = requests.get(url + "all.atom", headers={"If-Modified-Since": last_modified,
                         "Accept-Encoding": "identity"}, timeout=5)  # fmt: skip
    assert since.status_code == 304
    listed = requests.get(url + "all.atom", headers={"If-None-Match": f'"other", W/{etag}',
                          "Accept-Encoding": "identity"}, timeout=5)  # fmt: skip
    assert listed.status_code == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110): a stale tag means a full answer.
    stale = requests.get(url + "all.atom", headers={"If-None-Match": '"stale"',
                         "If-Modified-Since": last_modified,
                         "Accept-Encoding": "identity"}, timeout=5)  # fmt: skip
    assert stale.status_code == 200 and stale.content == ATOM

    # The publisher replaces the file (new bytes, new mtime): the old validators no longer match.
    new = ATOM.replace(b"worth", b"still worth")
    os.utime(site / "all.atom", ns=(1, 1))  # make sure the mtime really moves
    (site / "all.atom").write_bytes(new)
    changed = requests.get(url + "all.atom", headers={"If-None-Match": etag,
                           "Accept-Encoding": "identity"}, timeout=5)  # fmt: skip
    assert changed.status_code == 200 and changed.content == new
    assert changed.headers["ETag"] != etag


def test_gzip_when_accepted_with_vary_and_its_own_etag(url):
    raw = requests.get(url + "all.atom", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert "Content-Encoding" not in raw.headers
    assert raw.headers["Vary"] == "Accept-Encoding"

    conn = http.client.HTTPConnection(url.split("//")[1].rstrip("/"), timeout=5)
    try:
        conn.request("GET", "/all.atom", headers={"Accept-Encoding": "br;q=1.0, gzip;q=0.8"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip"
        assert response.getheader("Vary") == "Accept-Encoding"
        assert int(response.getheader("Content-Length")) == len(body) < len(ATOM)
        assert gzip.decompress(body) == ATOM
        gz_etag = response.getheader("ETag")
        assert gz_etag != raw.headers["ETag"]
        conn.request("GET", "/all.atom", headers={"Accept-Encoding": "gzip",
                                                  "If-None-Match": gz_etag})  # fmt: skip
        revalidated = conn.getresponse()
        revalidated.read()
        assert revalidated.status == 304
        conn.request("GET", "/all.atom", headers={"Accept-Encoding": "gzip;q=0"})
        refused = conn.getresponse()
        assert refused.getheader("Content-Encoding") is None and refused.read() == ATOM
    finally:
        conn.close()


def test_head_has_the_headers_and_no_body(url):
    conn = http.client.HTTPConnection(url.split("//")[1].rstrip("/"), timeout=5)
    try:
        conn.request("HEAD", "/all.atom", headers={"Accept-Encoding": "identity"})
        response = conn.getresponse()
        assert response.read() == b""
        assert response.status == 200
        assert response.getheader("Content-Length") == str(len(ATOM))
        assert response.getheader("Content-Type").startswith("application/atom+xml")
        assert response.getheader("ETag")
        conn.request("POST", "/all.atom", body=b"x")
        refused = conn.getresponse()
        refused.read()
        assert refused.status == 405 and refused.getheader("Allow") == "GET, HEAD"
    finally:
        conn.close()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/../secret.txt",
        "/section/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/section%2f..%2f..%2fsecret.txt",
        "/section/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/section\\..\\..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/all.atom%00.html",
        "/escape.atom",  # a symlink pointing outside
        "/.all.atom.x1y2.tmp",  # a feed being written
        "/section/",  # a folder without index.html: no listing
        "/section",
        "//etc/passwd",
        "/etc/passwd",
        "/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 for "."
    ],
)
def test_traversal_and_listing_attempts_are_404(url, raw_path):
    host = url.split("//")[1].rstrip("/")
    conn = http.client.HTTPConnection(host, timeout=5)
    try:
        # putrequest sends the path byte for byte: no client-side normalization.
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status in (400, 404), raw_path
    assert b"outside the output folder" not in body and b"half a feed" not in body
    assert b"world.atom" not in body


def test_symlink_inside_the_folder_is_served(url):
    response = requests.get(url + "inside.atom", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert response.status_code == 200 and response.content == ATOM


def test_serve_command_answers_and_stops_on_sigterm_with_exit_0(newsroom, site, tmp_path):
    config = newsroom()
    process = subprocess.Popen(
        [sys.executable, "-m", "echofeed.cli", "-c", str(config), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stderr.readline()  # "... serving <dir> at http://127.0.0.1:PORT/"
        assert "serving" in line, line
        base = line.rsplit(" at ", 1)[1].strip()
        response = requests.get(base + "all.atom", timeout=5)
        assert response.status_code == 200 and response.content == ATOM
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait(10)
        process.stderr.close()
