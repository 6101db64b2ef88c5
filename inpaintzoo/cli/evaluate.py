"""`inpaintzoo eval`: a run directory or a pretrained entry scored on a split, as JSON, a PNG grid and a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from inpaintzoo.cli import common
from inpaintzoo.cli.options import DEVICE_OPTION, K_OPTION, MIRROR_OPTION, TAU_OPTION
from inpaintzoo.errors import UsageError


@click.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--model", "model_name", metavar="NAME", help="Evaluate a pretrained entry (see `inpaintzoo models`).")
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="test, train, or val: the held-out slice of the training split the run validated on.",
)
@click.option("--limit", default=0, show_default=True, help="Evaluate the first N images only (0: all).")
@click.option(
    "--mode",
    default="greedy",
    show_default=True,
    help="Density models: greedy, sample, mean, best-of-k or posterior-mean. A pretrained density entry "
    "decodes as its card's headline metrics were measured (its mode, --k, --tau and --mirror) unless these are given.",
)
@K_OPTION
@click.option("--temperature", default=1.0, show_default=True, help="Softmax temperature for sampling.")
@TAU_OPTION
@click.option("--window", type=int, default=None, help="posterior-mean: weigh by the N rows below the hole only.")
@MIRROR_OPTION
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Stem of the outputs (default RUN_DIR/eval-SPLIT[-MODE]): writes .json and .png.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@DEVICE_OPTION
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the dataset from here instead of the folder the run recorded (data.root).",
)
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    run_dir: Path | None,
    model_name: str | None,
    split: str,
    limit: int,
    checkpoint: str,
    out: Path | None,
    overwrite: bool,
    device: str,
    data_root: Path | None,
    **decoding_options: Any,  # mode, k, temperature, tau, window, mirror: read as given (`common.given_options`)
) -> None:
    """Evaluate a trained RUN_DIR or a pretrained --model NAME: hole MSE, PSNR, L2, SSIM, MAEM and a PNG grid."""
    from inpaintzoo.decoding import DECODING_OPTIONS, decoding_for  # torch: imported when the command runs
    from inpaintzoo.evaluation import check_evaluable, eval_stem, evaluate_to_files, use_data_root

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    model = common.load_target(ctx, run_dir, model_name, device, checkpoint)
    check_evaluable(model)
    use_data_root(model, data_root)
    what = str(run_dir or model.name)
    decoding = decoding_for(model, common.given_options(ctx, DECODING_OPTIONS), what)
    stem = out or eval_stem(model, split, decoding, run_dir)
    metrics, json_path, png_path = evaluate_to_files(model, stem, split, limit, decoding, overwrite, what)
    table = Table(title=f"{model.name} on {split} ({metrics['images']} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    common.console.print(table)
    common.err_console.print(f"wrote {json_path} and {png_path}")
