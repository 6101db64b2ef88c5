"""`inpaintzoo export`: a run directory as a pretrained entry (NAME.safetensors + NAME.json)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from inpaintzoo.cli import common
from inpaintzoo.errors import UsageError
from inpaintzoo.files import check_out_folder


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True, help="Folder to write.")
@click.option("--score", is_flag=True, help="Evaluate the exported weights on the test split; metrics go in the card.")
@click.option("--no-half", is_flag=True, help="Keep float32 weights (default: float16 where values fit).")
@click.option("--limit", default=0, show_default=True, help="With --score: the first N test images only (0: all).")
@click.option("--command", "command", default=None, help="The command that trained it (default: rebuilt from config).")
@click.option("--overwrite", is_flag=True, help="Replace existing NAME.safetensors / NAME.json.")
@click.pass_context
def export_cmd(
    ctx: click.Context,
    run_dir: Path,
    name: str,
    out: Path,
    score: bool,
    no_half: bool,
    limit: int,
    command: str | None,
    overwrite: bool,
) -> None:
    """Turn RUN_DIR into a pretrained entry NAME (ARCHITECTURE.TAG): OUT/NAME.safetensors + OUT/NAME.json.

    A plugin ships the two files as package data and registers the folder (docs/plugins.md).
    """
    from inpaintzoo.hub.export import export  # torch: imported when the command runs, not for --help

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    check_out_folder(out)
    weights, card = export(
        run_dir,
        name,
        out,
        score=score,
        half=not no_half,
        overwrite=overwrite,
        registry=common.get_registry(ctx),
        command=command,
        progress=True,
        limit=limit,
    )
    data = json.loads(card.read_text())
    metrics = data["card"].get("metrics") or {}
    if metrics:
        delta = data["card"].get("fp16_delta", {})
        line = f"hole MSE {metrics['hole_mse']:.1f}, PSNR {metrics['psnr']:.2f} on {metrics['images']} test images"
        if "hole_mse" in delta:
            line += f" (fp16 - fp32: {delta['hole_mse']:+.3f} hole MSE)"
        common.err_console.print(line, highlight=False)
    common.err_console.print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card}", highlight=False)
