"""The command line: parse arguments, call one library function, print, exit.

Exit codes: 0 done (feeds published, even if some sources failed); 1 an error
that stopped the pass (database, output folder); 2 a usage or config error.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .config import Config, load_config
from .errors import ConfigError, EchofeedError, StoreError

# The rest is imported by the commands that use it. Under the `echofeed` command
# this module is the main script, and the parser processes' fork server imports
# the main script before it can start one: whatever this module imports at the
# top, a pass that parses in processes waits for again (the pipeline, the store
# and rich were about 0.15 s of the 0.3 s that server took to start).
if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("echofeed")

EXIT_FAILED = 1
EXIT_CONFIG = 2


def _load(config_path: Path) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as e:
        click.echo(f"echofeed: config error: {e}", err=True)
        sys.exit(EXIT_CONFIG)


def _fail(error: EchofeedError) -> None:
    click.echo(f"echofeed: error: {error}", err=True)
    sys.exit(EXIT_FAILED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), default="config.yaml",
    show_default=True, help="The config file.",
)  # fmt: skip
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(__version__, prog_name="echofeed")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: int, quiet: bool) -> None:
    """echofeed: the newsroom's seed articles and external feeds in, Atom feeds out."""
    from rich.console import Console

    from .logs import level_for, setup_logging

    level = level_for(verbose, quiet)
    # On a terminal, refresh draws a progress bar: its log lines go through the same console,
    # and its table says what the pass line would, so that line waits for -v.
    console = Console(stderr=True) if ctx.invoked_subcommand == "refresh" and _tty() else None
    if console is not None and not verbose:
        level = max(level, logging.WARNING)
    setup_logging(level, console=console)
    ctx.obj = config_path
    ctx.meta["console"] = console


def freeze_imported() -> None:
    """Leave what is imported so far out of the garbage collector's walks, for good.

    Modules live as long as the process, yet each full collection walked them
    again, and so did the one at exit. Called by the commands once they have
    imported what they run (and by the bench's pass, which stands for
    `echofeed refresh`): a first refresh of 50 feeds collected for 38 ms
    instead of 13, and took 40 ms to exit instead of 10.
    """
    gc.freeze()


def _tty() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@cli.command()
@click.option("--force", is_flag=True, help="Also fetch sources that are backing off or gone.")
@click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=30, show_default=True,
    help="Seconds to wait while another echofeed (the daemon) writes the same database.",
)  # fmt: skip
@click.pass_context
def refresh(ctx: click.Context, force: bool, lock_timeout: float) -> None:
    """Ingest every seed and source once and republish the feeds.

    Example: echofeed -c config.yaml refresh
    """
    from rich.console import Console

    from . import pipeline
    from .progress import print_summary, refresh_with_progress

    config = _load(ctx.obj)
    freeze_imported()
    console = ctx.meta.get("console")
    try:
        if console is None:
            report = pipeline.refresh(config, force=force, lock_timeout=lock_timeout)
        else:
            report = refresh_with_progress(config, console, force=force, lock_timeout=lock_timeout)
    except EchofeedError as e:
        _fail(e)
    if console is None:
        click.echo(report.summary())
    else:
        print_summary(report, Console())


@cli.command()
@click.option("--serve", "serve_too", is_flag=True, help="Also serve the feeds over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="With --serve: port.")  # fmt: skip
@click.option("--tick", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Seconds between looks at the seeds, the sources and the config.")  # fmt: skip
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60, show_default=True,
              help="Seconds a pass waits while another echofeed writes the database.")  # fmt: skip
@click.option("--stop-grace", type=click.FloatRange(min=0), default=5, show_default=True,
              help="On SIGTERM/SIGINT, seconds to let the pass in progress finish.")  # fmt: skip
@click.pass_obj
def daemon(
    config_path: Path, serve_too: bool, host: str, port: int, tick: float,
    lock_timeout: float, stop_grace: float,
) -> None:  # fmt: skip
    """Keep the feeds fresh: pick up seeds within seconds, fetch sources when due.

    Runs until SIGTERM or SIGINT (exit code 0). Reloads the config file when it
    changes; a new config with an error is reported and the running one kept.

    Example: echofeed -c /srv/echofeed/config.yaml daemon --serve --port 8080
    """
    from .daemon import DaemonOptions, run_daemon

    config = _load(config_path)
    freeze_imported()  # once: what a pass imports later is collected as usual
    options = DaemonOptions(tick_seconds=tick, lock_timeout=lock_timeout, stop_grace=stop_grace)
    try:
        run_daemon(config, options, serve_at=(host, port) if serve_too else None)
    except EchofeedError as e:
        _fail(e)
    except OSError as e:
        _fail(EchofeedError(f"cannot serve on {host}:{port}: {e.strerror or e}"))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")  # fmt: skip
@click.pass_obj
def serve(config_path: Path, host: str, port: int) -> None:
    """Serve output_dir over HTTP (waitress): feeds with validators, 304s and gzip.

    Example: echofeed serve --host 127.0.0.1 --port 8080
    """
    from .serve import make_server, server_url

    config = _load(config_path)
    try:
        server = make_server(config.output_dir, host, port)
    except OSError as e:
        _fail(EchofeedError(f"cannot serve on {host}:{port}: {e.strerror or e}"))
    if not config.output_dir.is_dir():
        log.warning("%s does not exist yet: run `echofeed refresh` first", config.output_dir)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # waitress's run() takes this as its cue to shut down

    signal.signal(signal.SIGTERM, stop)
    log.info("serving %s at %s", config.output_dir, server_url(server))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    log.info("stopped")


def _open_to_read(database: Path) -> Store:
    """The database for a command that only reads. Opened read-only when it is up to
    date: status then writes nothing outside the writer lock, needs no write access
    and never waits for a running refresh. Only a missing or older database is made or
    upgraded, under the writer lock like any write (an error then says what is wrong)."""
    from .lock import writer_lock
    from .store import Store

    if database.is_file():
        try:
            return Store(database, read_only=True)
        except StoreError:
            pass
    with writer_lock(database):
        return Store(database)


@cli.command()
@click.pass_obj
def status(config_path: Path) -> None:
    """Show rejected seed files and the state of every external source.

    Example: echofeed status
    """
    config = _load(config_path)
    try:
        with _open_to_read(config.database) as store:
            rejected = store.rejected_seeds()
            sources = {s.url: s for s in store.source_states()}
            counts = store.count_stories()
    except EchofeedError as e:
        _fail(e)
    click.echo(
        f"stories: {counts['published']} published, {counts['duplicates']} duplicates, "
        f"{counts['withdrawn']} withdrawn ({counts['total']} stored in {config.database})"
    )
    click.echo(f"\nrejected seed files ({len(rejected)}):")
    for seed in rejected:
        click.echo(f"  {config.seeds_dir / seed.name}:{seed.line or '-'}: {seed.reason}")
    click.echo(f"\nsources ({len(config.sources)}):")
    header = ("name", "state", "last fetch", "last success", "failures", "next due",
              "last error")  # fmt: skip
    rows = [header]
    for source in config.sources:
        state = sources.get(source.url)
        if state is None:
            rows.append((source.name, "never fetched", "-", "-", "0", "-", "-"))
            continue
        condition = "gone" if state.gone else ("failing" if state.failures else "ok")
        if condition == "ok" and state.last_error:
            condition = "unreachable (outage)"  # failed in an outage: not counted
        if state.current_url != source.url:
            condition += f" (moved to {state.current_url})"
        next_due = _when(state.next_due) if state.next_due else "next pass"
        rows.append((
            source.name, condition, _when(state.last_fetch), _when(state.last_success),
            str(state.failures), "never (gone)" if state.gone else next_due,
            (state.last_error or "-")[:100],
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        click.echo(("  " + "  ".join(cells)).rstrip())


@cli.command("why-duplicate")
@click.argument("headline_a")
@click.argument("headline_b")
@click.pass_obj
def why_duplicate(config_path: Path, headline_a: str, headline_b: str) -> None:
    """Explain whether two headlines count as one story, and by which rule.

    Prints both normalized forms, the verdict and the rule that decided. The
    config's title and source names, when the config exists, count as source
    names (as they do in `refresh`).

    Example: echofeed why-duplicate "BREAKING: Storm hits coast - Wire" "Storm Hits Coast"
    """
    from . import dedup

    publishers: list[str] = []
    if config_path.exists():
        config = _load(config_path)
        publishers = [config.title, *(s.name for s in config.sources)]
    click.echo(dedup.explain(headline_a, headline_b, publishers))


def _when(value) -> str:  # noqa: ANN001
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def main() -> None:
    cli(prog_name="echofeed")


if __name__ == "__main__":
    main()
