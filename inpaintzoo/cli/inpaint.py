"""`inpaintzoo inpaint`: fill holes in the user's own images with a pretrained entry, a run or a classical fill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from inpaintzoo.cli import common
from inpaintzoo.cli.options import DEVICE_OPTION, K_OPTION, MIRROR_OPTION, TAU_OPTION
from inpaintzoo.errors import UsageError
from inpaintzoo.files import check_out_folder


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="[RUN_DIR] IMAGE...")
@click.option("--model", "model_name", metavar="NAME", help="A pretrained entry (see `inpaintzoo models`), no RUN_DIR.")
@click.option("--mask", "mask_path", type=click.Path(path_type=Path), help="PNG mask: white marks the hole.")
@click.option("--box", "boxes", multiple=True, help="A hole as TOP,LEFT,HEIGHT,WIDTH; repeat for several holes.")
@click.option(
    "--strategy",
    type=click.Choice(["crop", "resize", "original"]),
    default="crop",
    show_default=True,
    help="Images of another size than the model's: a window around each hole (crop), the whole image resized "
    "(resize), or the image as it is (original: models that run at any size).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Also write STEM-compare.png: the image with the hole marked | the fill | Telea's and PatchMatch's fills.",
)
@click.option(
    "--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True, help="Autocast precision."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("inpainted"),
    show_default=True,
    help="Folder for the results (IMAGE stem + .png).",
)
@click.option(
    "--mode",
    default="greedy",
    show_default=True,
    help="Density models: greedy, sample, mean, best-of-k, posterior-mean. A pretrained density entry decodes "
    "as its card's headline metrics were measured (its mode, --k, --tau and --mirror) unless these are given.",
)
@K_OPTION
@TAU_OPTION
@MIRROR_OPTION
@click.option(
    "--texture",
    type=float,
    metavar="LEVEL",
    help="Photo models: the photo's own grain added to the fill until the hole has LEVEL (0-1) of the context's "
    "detail around it; 0 gives the network's fill as it is. Default: the model's own (ffc.photos-texture: 0.75).",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing result files.")
@DEVICE_OPTION
@click.pass_context
def inpaint(
    ctx: click.Context,
    paths: tuple[Path, ...],
    model_name: str | None,
    mask_path: Path | None,
    boxes: tuple[str, ...],
    strategy: str,
    compare: bool,
    precision: str,
    out: Path,
    texture: float | None,
    seed: int,
    overwrite: bool,
    device: str,
    **decoding_options: Any,  # mode, k, tau, mirror: read as given (`common.given_options`)
) -> None:
    """Fill holes in your own IMAGES (any size) with a pretrained --model NAME or a trained RUN_DIR.

    Without either, the best photo model of the zoo fills the photo at its own resolution. Classical fills
    are models too: --model telea, navier-stokes, patchmatch (pip install pypatchmatch) or mean.

    \b
      inpaintzoo inpaint photo.jpg --mask stroke.png --compare
      inpaintzoo inpaint photo.png --mask stroke.png --model unet.freeform
      inpaintzoo inpaint runs/<run> photo.png --box 12,12,8,8 --box 40,30,8,8 --compare
    Every input is checked before the first file is written; one PNG per image in --out.
    """
    from inpaintzoo.decoding import DECODING_OPTIONS, apply_texture, decoding_for  # torch: imported on use
    from inpaintzoo.engine.precision import check_precision
    from inpaintzoo.fill_files import fill_jobs, output_paths, read_jobs
    from inpaintzoo.holes import parse_boxes
    from inpaintzoo.hub.load import default_model

    if mask_path is not None and boxes:
        raise UsageError("give either --mask or --box, not both")
    if model_name is None and not paths[0].is_dir():  # no RUN_DIR: the best photo entry (or Telea)
        model_name = default_model(common.get_registry(ctx))
        common.err_console.print(f"no --model given: using {model_name}")
    run_dir, images = (None, paths) if model_name is not None else (paths[0], paths[1:])
    if run_dir is not None and not run_dir.is_dir():
        raise UsageError(
            f"{run_dir} is not a run directory: give RUN_DIR before the images, or a pretrained --model NAME"
        )
    if not images:
        raise UsageError("give at least one IMAGE to inpaint")
    check_out_folder(out)
    hole_boxes = parse_boxes(boxes)
    targets = output_paths(images, out, compare, overwrite)
    model = common.load_target(ctx, run_dir, model_name, device)
    decoding = decoding_for(model, common.given_options(ctx, (*DECODING_OPTIONS, "seed")))
    apply_texture(model, texture, model_name or str(run_dir))
    check_precision(precision, model.device, key="--precision")
    jobs = read_jobs(images, targets, model, strategy, mask_path, hole_boxes, seed)
    for job in fill_jobs(model, jobs, strategy, precision, decoding, compare):
        common.err_console.print(f"{job.path} -> {job.target}")
