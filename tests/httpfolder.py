"""A folder served over http://127.0.0.1 by the standard library, for the tests
that point a real reader or browser at the published files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".atom": "application/atom+xml",
        ".json": "application/feed+json",
        ".opml": "text/x-opml",
    }

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class FolderServer:
    """Bound to a free port at once, so its URL can go into the config's base_url
    before anything is published; `serve(folder)` starts answering."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        outer = self

        class Handler(_QuietHandler):
            def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(outer.folder), **kwargs)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread: threading.Thread | None = None

    def serve(self, folder: Path) -> None:
        self.folder = folder
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()


@contextmanager
def folder_server() -> Iterator[FolderServer]:
    server = FolderServer()
    try:
        yield server
    finally:
        server.close()
