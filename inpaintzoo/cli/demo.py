"""`inpaintzoo demo`: a shipped sample photo with a hole, filled beside the classical fills, as one PNG."""

from __future__ import annotations

from pathlib import Path

import click

from inpaintzoo.cli import common
from inpaintzoo.cli.options import DEVICE_OPTION
from inpaintzoo.files import refuse_existing


@click.command()
@click.option(
    "--model", "model_name", metavar="NAME", help="A pretrained entry or classical fill (default: best photo entry)."
)
@click.option("--sample", default="astronaut", show_default=True, help="Which shipped sample photo to fill.")
@click.option(
    "--kind",
    type=click.Choice(["thin", "medium", "thick", "stroke", "box"]),
    default="stroke",
    show_default=True,
    help="The kind of hole (the photo benchmark's mask kinds).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo.png"), show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@DEVICE_OPTION
@click.pass_context
def demo(
    ctx: click.Context, model_name: str | None, sample: str, kind: str, out: Path, overwrite: bool, device: str
) -> None:
    """Fill a hole in a photo shipped with inpaintzoo and write a side-by-side PNG (no file of your own needed).

    \b
      inpaintzoo demo                      # demo.png: hole | the zoo's photo model | Telea | PatchMatch
      inpaintzoo demo --model unet.freeform --kind box --out box.png
    """
    from inpaintzoo.demo import sample_photo, write_demo  # torch: imported when the command runs, not for --help
    from inpaintzoo.hub.load import default_model

    sample_photo(sample)  # an unknown sample fails before any model loads
    refuse_existing([out], overwrite)
    name = model_name or default_model(common.get_registry(ctx))
    model = common.load_target(ctx, None, name, device)
    common.err_console.print(f"{sample} with a {kind} hole, filled by {name} -> {write_demo(model, out, sample, kind)}")
