"""`inpaintzoo train -m`: run every combination of the swept values, report each as it ends, then a table."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from inpaintzoo.cli import common
from inpaintzoo.registry import Registry
from inpaintzoo.sweep import Sweep, run_sweep, sweep_configs


def sweep(
    ctx: click.Context,
    overrides: list[str],
    registry: Registry,
    print_config: bool,
    progress: bool,
    overwrite: bool,
    jobs: int,
) -> None:
    """`train -m`: every combination trained (or, with `print_config`, printed), the summary table at the end;
    exit status 1 when a run did not finish."""
    if print_config:
        common.echo_json(sweep_configs(overrides, registry))
        return
    result = run_sweep(
        overrides,
        registry,
        jobs=jobs,
        overwrite=overwrite,
        progress=progress and jobs == 1,
        disabled=ctx.find_root().obj.get("disabled", ()),
        on_event=report,
    )
    common.console.print(summary_table(result))
    common.err_console.print(f"summary: {result.sweep_dir / 'sweep.json'}")
    if result.failed:
        common.err_console.print(f"[red]{len(result.failed)} of {len(result.runs)} runs did not finish[/]")
        sys.exit(1)


def report(run: Any) -> None:
    """A line when a run starts (its swept values and directory) and when one fails."""
    what = " ".join(run.overrides) or "(no swept keys)"
    if run.status == "running":
        common.err_console.print(f"[bold]sweep run {run.index}[/]: {escape(what)} -> {escape(run.run_dir)}")
    elif run.status != "ok":
        message = f"[red]sweep run {run.index} {run.status}:[/] {escape(run.error or '')}"
        common.err_console.print(message, soft_wrap=True)


def summary_table(result: Sweep) -> Table:
    """One row per run: its swept values, its status and its final validation metrics."""
    metrics = result.table_metrics()
    table = Table(title=f"sweep {result.sweep_dir} ({len(result.runs)} runs)")
    table.add_column("#", justify="right")
    for key in result.swept:
        table.add_column(key)
    table.add_column("status")
    for key in metrics:
        table.add_column(key.removeprefix("val_"), justify="right")
    for run in result.runs:
        values = [o.split("=", 1)[1] for o in run.overrides]
        scores = [f"{run.metrics[k]:.4g}" if k in run.metrics else "" for k in metrics]
        table.add_row(str(run.index), *map(escape, values), run.status, *scores)
    return table
