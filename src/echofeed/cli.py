"""The command line: parse arguments, call one library function, print, exit.

Exit codes: 0 done (feeds published, even if some sources failed); 1 an error
that stopped the pass (database, output folder); 2 a usage or config error.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__, dedup, pipeline
from .config import Config, load_config
from .errors import ConfigError, EchofeedError
from .store import Store

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
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = config_path


@cli.command()
@click.option("--force", is_flag=True, help="Also fetch sources that are backing off or gone.")
@click.pass_obj
def refresh(config_path: Path, force: bool) -> None:
    """Ingest every seed and source once and republish the feeds.

    Example: echofeed -c config.yaml refresh
    """
    config = _load(config_path)
    try:
        report = pipeline.refresh(config, force=force)
    except EchofeedError as e:
        _fail(e)
    click.echo(report.summary())


@cli.command()
@click.pass_obj
def status(config_path: Path) -> None:
    """Show rejected seed files and the state of every external source.

    Example: echofeed status
    """
    config = _load(config_path)
    try:
        with Store(config.database) as store:
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
