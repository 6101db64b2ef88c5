"""Options several commands take, declared once so that their names, defaults and help stay the same."""

from __future__ import annotations

import click

#: `--mirror` of `eval` and `inpaint`
MIRROR_OPTION = click.option(
    "--mirror/--no-mirror",
    default=False,
    show_default=True,
    help="Density models (greedy, mean, posterior-mean): also fill the mirror image and average the two fills "
    "(twice the time, a lower hole MSE).",
)
K_OPTION = click.option("--k", default=4, show_default=True, help="Samples for --mode best-of-k and posterior-mean.")
TAU_OPTION = click.option(
    "--tau", default=1.0, show_default=True, help="posterior-mean: exponent of the weights (0: plain mean)."
)
DEVICE_OPTION = click.option("--device", default="auto", show_default=True)
