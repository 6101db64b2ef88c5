"""`inpaintzoo models`: the pretrained entries and classical fills, with their scores."""

from __future__ import annotations

import click

from inpaintzoo.catalog import pretrained_rows, render_models
from inpaintzoo.cli import common


@click.command("models")
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models_cmd(ctx: click.Context, pattern: str, as_json: bool) -> None:
    """List pretrained entries and classical fills (names matching PATTERN) with their scores.

    hole MSE, PSNR and SSIM are on the entry's own test split (CIFAR-10's for the 32x32 models); "photos dB" is
    the mean hole PSNR over the photo benchmark's five mask kinds (benchmarks/bench_photos.py).

    Use one with `inpaintzoo inpaint IMAGE --model NAME` or `inpaintzoo eval --model NAME`.
    """
    rows = pretrained_rows(common.get_registry(ctx, strict=False), pattern)
    if as_json:
        common.echo_json(rows)
        return
    click.echo(render_models(rows, common.text_width()))
    if not rows:
        common.err_console.print("no pretrained entries: `inpaintzoo export RUN_DIR NAME` makes one from a trained run")
