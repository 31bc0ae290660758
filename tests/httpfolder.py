"""A folder served over http://127.0.0.1 by the standard library, for the tests
that point a real reader or browser at the published files."""

from __future__ import annotations

import functools
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


@contextmanager
def reserved_server() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    """A server bound to a free port, not yet serving: (server, base URL).

    The base URL is known before anything is published, so the config's
    base_url (and every self link and article link) can point at it.
    """
    holder: dict[str, Path] = {}

    def handler(*args: object, **kwargs: object) -> SimpleHTTPRequestHandler:
        return _QuietHandler(*args, directory=str(holder["folder"]), **kwargs)  # type: ignore[arg-type]

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.folder_holder = holder  # type: ignore[attr-defined]
    thread: threading.Thread | None = None
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        thread = getattr(server, "serving_thread", None)
        if thread is not None:
            server.shutdown()
            thread.join(timeout=10)
        server.server_close()


def start_serving(server: ThreadingHTTPServer, folder: Path) -> None:
    server.folder_holder["folder"] = folder  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=functools.partial(server.serve_forever, poll_interval=0.1), daemon=True
    )
    server.serving_thread = thread  # type: ignore[attr-defined]
    thread.start()
