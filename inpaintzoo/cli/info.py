"""`inpaintzoo info`: versions, device, processor, kernel backend and plugins, as a two-column table."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from inpaintzoo.cli import common


@click.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Versions, device, kernel backend and loaded plugins (and any two that collide)."""
    from inpaintzoo.about import info_rows  # torch: imported when the command runs, not for --help

    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in info_rows(common.get_registry(ctx, strict=False)):
        table.add_row(key, escape(value))
    common.console.print(table)
