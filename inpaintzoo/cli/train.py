"""`inpaintzoo train`: train one run from KEY=VALUE overrides, resume one, or sweep (`-m`, in `cli.sweep`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from inpaintzoo.cli import common
from inpaintzoo.cli.sweep import sweep
from inpaintzoo.config import run_config
from inpaintzoo.errors import UsageError


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit without training.")
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    metavar="RUN_DIR",
    help="Continue the run in RUN_DIR from its last checkpoint (train.* overrides may change).",
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory (train.out/train.name).")
@click.option(
    "-m",
    "--multirun",
    is_flag=True,
    help="Sweep: KEY=A,B lists run every combination, each in a run directory under one sweep directory.",
)
@click.option("--jobs", default=1, show_default=True, metavar="N", help="With --multirun: train N runs at a time.")
@click.pass_context
def train(
    ctx: click.Context,
    overrides: tuple[str, ...],
    print_config: bool,
    resume: Path | None,
    progress: bool,
    overwrite: bool,
    multirun: bool,
    jobs: int,
) -> None:
    """Train a model from KEY=VALUE overrides (Hydra style).

    \b
    Groups pick a component and set its parameters:
      encoder=NAME encoder.KEY=V   decoder=...   disc=...   loss=...
      density=NAME density.KEY=V   (a density model instead of a context encoder)
      data=NAME data.KEY=V         mask=NAME mask.KEY=V
    Settings: train.epochs, train.batch_size (per process), train.lr, train.max_steps, train.seed,
    train.out, train.name, ...; model.overlap, model.overlap_weight, model.judge, model.mirror.
    train.max_steps=N train.cooldown_steps=C takes the learning rate linearly to 0 over the last C steps
    (resume a time-budgeted run with both to cool it down).
    train.tensorboard=true also writes TensorBoard events to the run directory (off by default, even
    with tensorboard installed): `tensorboard --logdir runs`.
    `inpaintzoo config` (or --print-config) shows every key with its value;
    `inpaintzoo list` shows every component's parameters.

    \b
    Sweeps (-m/--multirun), as in Hydra:
      inpaintzoo train -m encoder=strided,resnet train.lr=1e-3,3e-4 [--jobs 2]
    run the 4 combinations under train.out/train.name (default runs/sweep-DATE-TIME), then print a
    summary of each run's overrides and final validation metrics (also in sweep.json there).
    """
    from inpaintzoo.engine.preflight import check_config  # torch: imported when the command runs, not for --help
    from inpaintzoo.engine.trainer import Trainer

    registry = common.get_registry(ctx)
    if resume is not None and (overwrite or multirun):
        raise UsageError("--resume continues one run: it does not combine with --overwrite or --multirun")
    if jobs != 1 and not multirun:
        raise UsageError("--jobs applies to sweeps: add -m/--multirun")
    if multirun:
        sweep(ctx, list(overrides), registry, print_config, progress, overwrite, jobs)
        return
    config = run_config(overrides, registry, resume)
    if print_config:
        check_config(config, registry, new_run=resume is None)  # as `inpaintzoo config` and training check it
        common.echo_json(config)
        return
    trainer = Trainer(config, registry, run_dir=resume, progress=progress)
    trainer.overwrite = overwrite
    run_dir = trainer.fit(resume=resume is not None, on_start=announce)
    if trainer.stop_signal is not None:
        common.err_console.print(
            f"stopped by {signal.Signals(trainer.stop_signal).name} at step {trainer.step}; checkpoint written. "
            f"Continue with: inpaintzoo train --resume {run_dir}"
        )
        sys.exit(128 + trainer.stop_signal)
    if trainer.stop_reason is not None:
        common.err_console.print(trainer.stop_reason, highlight=False)
    common.err_console.print(f"done: {run_dir} ({', '.join(trainer.outputs())})", highlight=False)


def announce(run_dir: Path) -> None:
    """The run directory, as soon as training has made it (a long run's first line)."""
    common.err_console.print(f"run directory: [bold]{run_dir}[/]")
