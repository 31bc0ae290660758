"""`echofeed refresh` on a terminal: a progress bar while it runs, a table at the end.

Only for people watching; piped, under cron or in the daemon the same pass
prints `RefreshReport.summary()` and logs plain lines instead.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from . import pipeline
from .config import Config


def refresh_with_progress(
    config: Config, console: Console, *, force: bool = False, lock_timeout: float = 30.0
) -> pipeline.RefreshReport:
    """pipeline.refresh, showing the sources done of those due."""
    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("seeds and sources", total=None)

        def advance(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        return pipeline.refresh(config, force=force, progress=advance, lock_timeout=lock_timeout)


def print_summary(report: pipeline.RefreshReport, console: Console) -> None:
    """The report as a table, then its problems, each naming its file or source."""
    c = report.counts
    failed = sum(1 for s in report.sources if s.status in ("failed", "gone"))
    skipped = sum(1 for s in report.sources if s.status == "skipped")
    table = Table(title="echofeed refresh", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "seeds",
        f"{report.seeds_read} read, {report.seeds_unchanged} unchanged, "
        f"{len(report.seed_errors)} rejected, {len(report.seeds_deferred)} still being written, "
        f"{report.withdrawn} withdrawn",
    )
    table.add_row(
        "sources",
        f"{len(report.sources)}: {len(report.sources) - failed - skipped} ok, "
        f"{failed} failed, {skipped} not due",
    )
    table.add_row(
        "entries",
        f"{c['new']} new, {c['updated']} updated, {c['duplicate']} duplicate, "
        f"{c['unchanged']} unchanged, {report.pruned} pruned",
    )
    if report.published is not None:
        p = report.published
        table.add_row(
            "feeds",
            f"{len(p.written)} written, {len(p.unchanged)} unchanged, {len(p.removed)} removed, "
            f"in {report.output_dir}",
        )
    table.add_row("time", f"{report.seconds:.2f}s")
    console.print(table)
    problems = [str(e) for e in report.errors]
    if report.outage:
        problems.insert(0, report.outage)
    if problems:
        console.print(Text(f"problems ({len(problems)}):", style="bold red"))
        for problem in problems:
            console.print(Text(f"  - {problem}"))
