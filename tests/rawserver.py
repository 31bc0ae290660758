"""A stdlib HTTP server on 127.0.0.1 for the cases pytest-httpserver cannot play:
bodies that drip, never end, or explode when decompressed; headers that drip.

Use it as a context manager; it is shut down (and its handler threads told to
stop) on exit, so no test leaves a thread behind writing into a socket.
"""

from __future__ import annotations

import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler, threading.Event], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, Route] = {}
    stopping: threading.Event

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        try:
            route(self, self.stopping)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client hung up: that is what most of these tests want

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def raw_server(routes: dict[str, Route], tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve `routes` (path -> handler) on 127.0.0.1; yield the base URL.

    With `tls` (certificate file, key file) it serves https.
    """
    stopping = threading.Event()
    handler = type("Handler", (_Handler,), {"routes": routes, "stopping": stopping})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def drip_body(interval: float = 1.0) -> Route:
    """A 200 that promises 1000 bytes and sends one every `interval` seconds."""

    def route(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(1000):
            if stopping.wait(interval):
                return
            handler.wfile.write(b" ")
            handler.wfile.flush()

    return route


def drip_headers(interval: float = 1.0) -> Route:
    """A status line, then header bytes one every `interval` seconds, forever."""

    def route(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        handler.wfile.flush()
        while not stopping.wait(interval):
            handler.wfile.write(b"a")
            handler.wfile.flush()

    return route


def endless_body(chunk: bytes = b"<rss>" + b"x" * 65536) -> Route:
    """A 200 without Content-Length whose body never ends (until the client leaves)."""

    def route(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Connection", "close")
        handler.end_headers()
        while not stopping.is_set():
            handler.wfile.write(chunk)

    return route


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A small gzip body that inflates to `decompressed_bytes` of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    block = b"\0" * (1 << 20)
    parts = [compressor.compress(block) for _ in range(decompressed_bytes // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def fixed(status: int, body: bytes, headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def counting(active: list[int], peak: list[int], lock: threading.Lock, hold: float) -> Route:
    """A 200 that holds each request `hold` seconds and records the peak concurrency."""
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'

    def route(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(hold)
        finally:
            with lock:
                active[0] -= 1
        fixed(200, body, {"Content-Type": "application/rss+xml"})(handler, stopping)

    return route
