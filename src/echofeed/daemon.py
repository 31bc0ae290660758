"""The daemon: `pipeline.refresh` on an APScheduler clock, and nothing of its own.

A cheap tick runs every few seconds (one job, max_instances=1 and coalesce,
so passes never overlap and missed ticks fold into one). Each tick:

- reloads the config when its file changed; a new config that does not load
  is logged with the key at fault and the running one is kept;
- runs a refresh pass (only the sources that are due) when the seeds folder
  changed (a listing of names, sizes and mtimes: no file is read), when a
  source's next try (its interval, backoff or Retry-After, kept in the
  database) has come, when the config changed, or when `refresh_interval`
  has passed since the last pass.

Every pass holds the writer lock (see `lock`), and a daemon holds a second
lock for its whole life, so a second daemon on the same database refuses to
start. SIGTERM and SIGINT stop the daemon: no new pass starts, the one in
progress gets `stop_grace` seconds to finish, and is otherwise abandoned;
each source's writes are one transaction and feeds are replaced by rename, so
an abandoned pass leaves the database and the feeds as they were before it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from . import pipeline
from .config import Config, load_config
from .errors import ConfigError, EchofeedError, LockError
from .lock import writer_lock
from .publish import remove_temp_files
from .serve import make_server, server_url, stop_server
from .store import Store

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 60.0  # seconds before a pass that failed as a whole is tried again
# A network outage does not move the sources' next try (it is not their fault), so
# without a pause every tick would find them due and try them all again.
OUTAGE_PAUSE = 60.0

Stamp = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    tick_seconds: float = 2.0  # how often to look at the seeds, the sources and the config
    lock_timeout: float = 60.0  # how long a pass waits for another writer (a cron refresh)
    stop_grace: float = 5.0  # how long a stop waits for the pass in progress


def file_stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def folder_stamp(folder: Path) -> frozenset[tuple[str, int, int]]:
    """What the seeds folder holds, by name, size and mtime; cheap enough for every tick."""
    try:
        with os.scandir(folder) as scan:
            stamps = set()
            for item in scan:
                try:
                    stat = item.stat()
                except OSError:
                    continue  # deleted while we looked: the next tick sees it gone
                stamps.add((item.name, stat.st_size, stat.st_mtime_ns))
            return frozenset(stamps)
    except OSError:
        return frozenset()


class Daemon:
    """Decides when to run a pass; the pass itself is pipeline.refresh."""

    def __init__(
        self, config: Config, options: DaemonOptions | None = None, *, serving: Path | None = None
    ) -> None:
        self.config = config
        self.serving = serving  # the folder the built-in server serves, if any
        self.options = options or DaemonOptions()
        self.config_stamp = file_stamp(config.path)
        self.seeds_stamp: frozenset[tuple[str, int, int]] | None = None
        self.pending_reason: str | None = "start"
        self.last_pass = 0.0
        self.next_source_due: datetime | None = None
        self.retry_at = 0.0
        self.sources_paused_until = 0.0
        self.previous_problems: set[str] = set()
        self.passes = 0
        # idle is clear while a pass runs; stopping, once set, keeps new passes from starting.
        self.idle = threading.Event()
        self.idle.set()
        self.stopping = False
        self._state = threading.Lock()

    def tick(self) -> None:
        """One look: reload a changed config, then run a pass if anything is due."""
        try:
            self.check_config()
            reason = self.due_reason()
            if reason:
                self.run_pass(reason)
        except Exception:  # noqa: BLE001 - a bug in one tick must not stop the clock
            log.exception("unexpected error; trying again in %gs", RETRY_AFTER_FAILURE)
            self.retry_at = time.monotonic() + RETRY_AFTER_FAILURE

    def check_config(self) -> None:
        stamp = file_stamp(self.config.path)
        if stamp == self.config_stamp:
            return
        self.config_stamp = stamp
        try:
            config = load_config(self.config.path)
        except ConfigError as e:
            log.error("config not reloaded: %s; keeping the previous config", e)
            return
        if config.database != self.config.database:
            log.error(
                "config not reloaded: %s: database: changing it needs a restart "
                "(this daemon writes %s); keeping the previous config",
                self.config.path, self.config.database,
            )  # fmt: skip
            return
        if config == self.config:
            return
        if self.serving is not None and config.output_dir != self.serving:
            log.warning(
                "output_dir changed: feeds now go to %s, but the built-in server keeps "
                "serving %s until a restart", config.output_dir, self.serving,
            )  # fmt: skip
        self.config = config
        self.pending_reason = "config changed"
        log.info("config reloaded from %s", config.path)

    def due_reason(self) -> str | None:
        now = time.monotonic()
        if now < self.retry_at:
            return None
        if self.pending_reason:
            return self.pending_reason
        if folder_stamp(self.config.seeds_dir) != self.seeds_stamp:
            return "seeds changed"
        if (
            self.next_source_due is not None
            and datetime.now(UTC) >= self.next_source_due
            and now >= self.sources_paused_until
        ):
            return "sources due"
        if now - self.last_pass >= self.config.refresh_interval:
            return "refresh interval"
        return None

    def run_pass(self, reason: str) -> pipeline.RefreshReport | None:
        with self._state:
            if self.stopping:
                return None
            self.idle.clear()
        try:
            return self._run_pass(reason)
        finally:
            self.idle.set()

    def _run_pass(self, reason: str) -> pipeline.RefreshReport | None:
        config = self.config
        # Taken before the pass, so a seed dropped during it brings another pass.
        seeds_stamp = folder_stamp(config.seeds_dir)
        log.debug("pass starting: %s", reason)
        try:
            with writer_lock(config.database, timeout=self.options.lock_timeout):
                report = pipeline.refresh(config, only_due=True)
                self.next_source_due = next_source_due(config)
        except LockError as e:
            log.warning("%s; trying again at the next tick", e)
            return None
        except EchofeedError as e:
            log.error("pass failed: %s; trying again in %gs", e, RETRY_AFTER_FAILURE)
            self.retry_at = time.monotonic() + RETRY_AFTER_FAILURE
            return None
        self.passes += 1
        self.seeds_stamp = seeds_stamp
        self.pending_reason = None
        self.last_pass = time.monotonic()
        if report.outage:
            self.sources_paused_until = self.last_pass + OUTAGE_PAUSE
        self._log_problems(report)
        return report

    def _log_problems(self, report: pipeline.RefreshReport) -> None:
        # A broken seed or source is reported on every pass; say it loudly once,
        # then quietly, so a log read weeks later is not one line repeated.
        problems = [str(e) for e in report.errors] + report.warnings
        if report.outage:
            problems.insert(0, report.outage)
        for problem in problems:
            level = logging.DEBUG if problem in self.previous_problems else logging.WARNING
            log.log(level, "%s", problem)
        self.previous_problems = set(problems)


def next_source_due(config: Config) -> datetime | None:
    """When the next configured source is due (now for one never fetched); None if none."""
    with Store(config.database) as store:
        states = {state.url: state for state in store.source_states()}
    due: list[datetime] = []
    for source in config.sources:
        state = states.get(source.url)
        if state is None or state.next_due is None:
            return datetime.now(UTC)
        if not state.gone:
            due.append(state.next_due)
    return min(due, default=None)


def remove_leftover_temp_files(output_dir: Path) -> list[Path]:
    """Delete the temporary files of a write that a killed process left (`.name.XXXX.tmp`).

    Only under the writer lock: a writer's temporary file exists for a moment by design.
    """
    removed = list(remove_temp_files(output_dir))
    for path in removed:
        log.info("%s: removed, left by an interrupted write", path)
    return removed


def run_daemon(
    config: Config,
    options: DaemonOptions | None = None,
    *,
    serve_at: tuple[str, int] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; raises LockError when another daemon runs on the database."""
    options = options or DaemonOptions()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.warning("second %s: abandoning the pass in progress now",
                        signal.Signals(signum).name)  # fmt: skip
            _exit_now()
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    with writer_lock(config.database, timeout=0, role="daemon"):
        with writer_lock(config.database, timeout=options.lock_timeout):
            remove_leftover_temp_files(config.output_dir)
        daemon = Daemon(config, options, serving=config.output_dir if serve_at else None)
        server = None
        if serve_at is not None:
            server = make_server(config.output_dir, *serve_at)
            threading.Thread(target=server.run, name="echofeed-serve", daemon=True).start()
            log.info("serving %s at %s", config.output_dir, server_url(server))
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            daemon.tick, "interval", seconds=options.tick_seconds, id="tick",
            max_instances=1, coalesce=True, misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )  # fmt: skip
        scheduler.start()
        log.info(
            "daemon started: %s, every %gs a look at %s and the sources",
            config.path, options.tick_seconds, config.seeds_dir,
        )  # fmt: skip
        try:
            while not stop.wait(1.0):
                pass
        finally:
            with daemon._state:
                daemon.stopping = True
            scheduler.shutdown(wait=False)
            if server is not None:
                stop_server(server)
            finished = daemon.idle.wait(options.stop_grace)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not finished:
            log.warning(
                "the pass in progress did not finish within %gs: abandoned; its unfinished "
                "writes are rolled back and the published feeds stay as they were",
                options.stop_grace,
            )
            _exit_now()
    log.info("daemon stopped after %d passes", daemon.passes)


def _exit_now() -> None:
    # The pass runs in worker threads that the interpreter would wait for at exit;
    # leaving at once is safe: SQLite rolls back what was not committed.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
