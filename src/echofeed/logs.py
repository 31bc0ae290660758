"""Logging set-up for the command line: levels from -v/-q, plain lines or rich.

Plain `time LEVEL name: message` lines when the output is piped, logged to a
file or read by journald (the daemon); rich's handler on a terminal, sharing
the console with the progress bar so the two do not garble each other.
"""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_for(verbose: int, quiet: bool) -> int:
    if quiet:
        return logging.WARNING
    return logging.DEBUG if verbose > 1 else logging.INFO


def setup_logging(level: int, *, console: Console | None = None) -> None:
    """Send echofeed's log to stderr: through `console` when given, else plain lines."""
    root = logging.getLogger()
    handler: logging.Handler
    if console is not None:
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler.set_name("echofeed")
    for old in list(root.handlers):
        if old.get_name() == "echofeed":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler says "Running job ..." at INFO on every tick; only -vv wants that.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    )
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedTickFilter) for f in scheduler_log.filters):
        scheduler_log.addFilter(_SkippedTickFilter())
    # waitress logs its own "Serving on" line at INFO; ours says the same.
    logging.getLogger("waitress").setLevel(max(level, logging.WARNING))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


class _SkippedTickFilter(logging.Filter):
    """A tick skipped because a pass is still running is by design, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True
