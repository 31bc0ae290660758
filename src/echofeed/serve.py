"""HTTP over output_dir: a small WSGI app of our own, served by waitress.

What feed readers and caches need and nothing more: the right content types,
ETag and Last-Modified with 304 answers to conditional requests, gzip when
the client accepts it (with `Vary: Accept-Encoding`), HEAD, and `index.html`
for a folder when there is one. Never anything outside output_dir: paths with
`..`, backslashes, NUL or hidden names are refused, symlinks are resolved and
must stay inside, and folders are never listed.
"""

from __future__ import annotations

import gzip
import logging
import mimetypes
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import waitress
from waitress import trigger, wasyncore
from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".xsl": "application/xslt+xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
COMPRESSIBLE = ("text/", "application/atom+xml", "application/feed+json", "application/xml",
                "application/xslt+xml", "image/svg+xml", "application/json")  # fmt: skip
GZIP_MIN_BYTES = 256  # below this gzip saves nothing worth a CPU cycle
MAX_FILE_BYTES = 64 * 1024 * 1024  # what we read into memory to answer one request
GZIP_CACHE_ENTRIES = 512  # compressed bodies kept; old versions of a file age out
GZIP_CACHE_BYTES = 32 * 1024 * 1024
CACHE_CONTROL = "public, max-age=60"  # readers revalidate cheaply with the validators

StartResponse = Callable[..., Any]


class FeedServer:
    """The WSGI app serving one folder."""

    def __init__(self, output_dir: Path) -> None:
        self.root = Path(output_dir).resolve()
        # Compressed bodies by (path, etag): feeds are read far more often than written.
        self._gzipped: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._gzipped_bytes = 0
        self._gzipped_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", method,
                          [("Allow", "GET, HEAD")])  # fmt: skip
        target = self.resolve(environ.get("PATH_INFO", "/"))
        if target is None:
            return _plain(start_response, "404 Not Found", method)
        try:
            with open(target, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_size > MAX_FILE_BYTES:
                    return _plain(start_response, "404 Not Found", method)
                body = handle.read()
        except OSError:
            return _plain(start_response, "404 Not Found", method)
        content_type = content_type_of(target)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}-{stat.st_ino:x}"'
        headers = [
            ("Content-Type", content_type),
            ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
            ("Cache-Control", CACHE_CONTROL),
            ("X-Content-Type-Options", "nosniff"),
        ]
        compressible = content_type.startswith(COMPRESSIBLE) and len(body) >= GZIP_MIN_BYTES
        if compressible:
            headers.append(("Vary", "Accept-Encoding"))
            if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
                etag = etag[:-1] + '-gz"'  # another representation, another validator
                body = self._gzip(str(target), etag, body)
                headers.append(("Content-Encoding", "gzip"))
        headers.append(("ETag", etag))
        if not_modified(environ, etag, int(stat.st_mtime)):
            start_response("304 Not Modified", [h for h in headers if h[0] != "Content-Type"])
            return []
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    def resolve(self, path_info: str) -> Path | None:
        """The file a request path names inside the root, or None (never outside it)."""
        try:
            # WSGI hands the decoded path as latin-1 text; file names are UTF-8.
            path = path_info.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        if "\\" in path or "\0" in path or not path.startswith("/"):
            return None
        parts = path.split("/")[1:]
        for part in parts[:-1] if parts and parts[-1] == "" else parts:
            # Hidden names cover "..", "." and the temporary files of a write in progress.
            if part == "" or part.startswith("."):
                return None
        candidate = self.root.joinpath(*[p for p in parts if p])
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            return None  # a symlink pointing out of the folder
        if real.is_dir():
            if parts and parts[-1] != "":
                return None  # a folder: no listing (and no redirect to guess at)
            index = (real / "index.html").resolve()
            if not index.is_file() or not index.is_relative_to(self.root):
                return None
            return index
        return real if real.is_file() else None

    def _gzip(self, name: str, etag: str, body: bytes) -> bytes:
        key = (name, etag)
        with self._gzipped_lock:
            cached = self._gzipped.get(key)
            if cached is not None:
                self._gzipped.move_to_end(key)
                return cached
        # mtime=0 keeps the bytes the same for the same file, so the ETag holds.
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        with self._gzipped_lock:
            if key not in self._gzipped:
                self._gzipped[key] = compressed
                self._gzipped_bytes += len(compressed)
            while len(self._gzipped) > GZIP_CACHE_ENTRIES or (
                self._gzipped_bytes > GZIP_CACHE_BYTES and len(self._gzipped) > 1
            ):
                _, dropped = self._gzipped.popitem(last=False)
                self._gzipped_bytes -= len(dropped)
        return compressed


def content_type_of(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def accepts_gzip(accept_encoding: str) -> bool:
    """True when Accept-Encoding allows gzip (or *) with a q above zero."""
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def not_modified(environ: dict[str, Any], etag: str, mtime: int) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins over If-Modified-Since."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in wanted
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return mtime <= since.timestamp()
    return False


def _plain(
    start_response: StartResponse,
    status: str,
    method: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = (status.split(" ", 1)[1] + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("X-Content-Type-Options", "nosniff"), *(extra or [])])  # fmt: skip
    return [] if method == "HEAD" else [body]


def make_server(
    output_dir: Path, host: str = "127.0.0.1", port: int = 8080, *, threads: int = 8
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for output_dir, bound but not yet running (call .run())."""
    return waitress.create_server(
        FeedServer(output_dir), host=host, port=port, threads=threads, ident="echofeed",
        clear_untrusted_proxy_headers=True,
    )  # fmt: skip


def server_url(server: BaseWSGIServer | MultiSocketServer) -> str:
    if isinstance(server, MultiSocketServer):
        host, port = server.effective_listen[0]
    else:
        host, port = server.effective_host, server.effective_port
    return f"http://[{host}]:{port}/" if ":" in str(host) else f"http://{host}:{port}/"


def stop_server(server: BaseWSGIServer | MultiSocketServer) -> None:
    """End the worker threads and close every socket; a running run() returns at once."""
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    socket_map = server.map if isinstance(server, MultiSocketServer) else server._map
    wake = next((d for d in list(socket_map.values()) if isinstance(d, trigger.trigger)), None)
    if wake is None:
        wasyncore.close_all(socket_map)
        return
    # Closed from inside the loop's own thread, the loop ends now rather than after its
    # select() times out, and no socket is closed under its feet.
    wake.pull_trigger(lambda: wasyncore.close_all(socket_map))
