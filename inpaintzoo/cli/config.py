"""`inpaintzoo config`: the resolved config of KEY=VALUE overrides, checked as `train` checks it."""

from __future__ import annotations

import click

from inpaintzoo.cli import common
from inpaintzoo.config import resolve_config


@click.command("config", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@click.pass_context
def config_cmd(ctx: click.Context, overrides: tuple[str, ...]) -> None:
    """Print the resolved config for KEY=VALUE overrides (every key, with defaults filled in).

    It is checked as `train` checks it before reading data (device, train.out, buildable models that fit
    in memory), so a config printed here trains.
    """
    from inpaintzoo.engine.preflight import check_config  # torch: imported when the command runs, not for --help

    registry = common.get_registry(ctx)
    config = resolve_config(list(overrides), registry)
    check_config(config, registry)
    common.echo_json(config)
