"""What every command shares: the consoles it renders to, the registry it loads once, the model it works on.

Commands print through `common.console` and `common.err_console` (looked up when they print, so a test can
swap them) and let a user's error propagate: `inpaintzoo.cli.app.main` turns it into one line and exit status 2.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from inpaintzoo import plugins
from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Registry

console = Console()
# one-line errors and warnings stay one line in logs: rich wraps at 80 columns when stderr is no terminal
err_console = Console(stderr=True, soft_wrap=not getattr(sys.stderr, "isatty", lambda: False)())

#: the widest text block `list` and `models` render
MAX_WIDTH = 100


def warn(message: str) -> None:
    """One `warning:` line on stderr (`message` is rich markup: escape what the user or a plugin wrote)."""
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def text_width() -> int:
    """The terminal's width (80 through a pipe), at most MAX_WIDTH."""
    return min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH)


def echo_json(data: Any) -> None:
    """`data` as indented JSON on stdout (what `--json` and `--print-config` print)."""
    click.echo(json.dumps(data, indent=2, default=str))


def get_registry(ctx: click.Context, strict: bool = True) -> Registry:
    """The registry of every installed plugin, loaded once per command; `strict`: two plugins colliding is an error.

    `list`, `models` and `info` pass `strict=False`: they show what is installed and which plugins collide.
    """
    obj = ctx.find_root().obj
    if obj.get("registry") is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj["registry"] = plugins.load_registry(disabled=obj.get("disabled", ()), strict=False)
        for w in caught:
            warn(str(w.message))
    registry = obj["registry"]
    if strict:
        registry.check_collisions()
    return registry


def given_options(ctx: click.Context, names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` that the user set (not left at their default), with their values."""
    given = [n for n in names if n in ctx.params and ctx.get_parameter_source(n) != ParameterSource.DEFAULT]
    return {n: ctx.params[n] for n in given}


def load_target(
    ctx: click.Context, run_dir: Path | None, model_name: str | None, device: str, checkpoint: str = "best"
) -> Any:
    """The model a command works on: a pretrained entry or classical fill (--model NAME) or a run directory, never
    both; an unusable --device is named as the option the user typed."""
    from inpaintzoo.engine.build import resolve_device  # torch: imported when a command runs, not for --help
    from inpaintzoo.hub.load import load_pretrained
    from inpaintzoo.runs import load_run

    if model_name is not None and run_dir is not None:
        raise UsageError(f"give either RUN_DIR ({run_dir}) or --model {model_name}, not both")
    if model_name is None and run_dir is None:
        raise UsageError("give a RUN_DIR or a pretrained --model NAME (see `inpaintzoo models`)")
    resolve_device(device, setting="--device")
    registry = get_registry(ctx)
    if model_name is not None:
        return load_pretrained(model_name, device=device, registry=registry)
    return load_run(run_dir, checkpoint=checkpoint, device=device, registry=registry)
