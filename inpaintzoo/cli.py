"""The `inpaintzoo` command: thin click commands that parse, call the library and render with rich.

Every error a user can cause ends as one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inpaintzoo.errors import InpaintzooError, UsageError
from inpaintzoo.files import refuse_existing
from inpaintzoo.registry import KINDS, Component, Parameter, Registry

console = Console()
# one-line errors and warnings stay one line in logs: rich wraps at 80 columns when stderr is no terminal
err_console = Console(stderr=True, soft_wrap=not getattr(sys.stderr, "isatty", lambda: False)())


def get_registry(ctx: click.Context, strict: bool = True) -> Registry:
    """The registry of every installed plugin; `strict`: two plugins colliding is an error.

    `list` and `info` pass `strict=False`: they show what is installed and which plugins collide.
    """
    from inpaintzoo.plugins import load_registry

    obj = ctx.find_root().obj
    if obj.get("registry") is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj["registry"] = load_registry(disabled=obj.get("disabled", ()), strict=False)
        for w in caught:
            err_console.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
    registry = obj["registry"]
    if strict:
        registry.check_collisions()
    return registry


def kind_of(word: str) -> str | None:
    """The registry kind a word names: a kind, its config group (`disc`, `data`) or either's plural."""
    from inpaintzoo.config import COMPONENT_GROUPS

    by_group = {group: kind for group, (kind, _) in COMPONENT_GROUPS.items()}
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate in KINDS:
            return candidate
        if candidate in by_group:
            return by_group[candidate]
    return None


def parameter_json(p: Parameter) -> dict[str, Any]:
    row = {"name": p.name, "type": p.type_name, "default": None if p.required else p.default, "required": p.required}
    if p.choices is not None:
        row["choices"] = list(p.choices)
    return row


def render_components(components: list[Component], width: int) -> str:
    """`inpaintzoo list` as plain text: a block per component, its summary and each parameter on own lines.

    Readable at 80 columns and through a pipe (nothing is truncated; long lines wrap with an indent).
    """
    from inpaintzoo.config import COMPONENT_GROUPS

    group_of = {kind: group for group, (kind, _) in COMPONENT_GROUPS.items()}
    width = max(width, 40)
    lines = [f"{len(components)} components"]
    kind = None
    for c in components:
        if c.kind != kind:
            kind = c.kind
            group = group_of.get(kind)
            choose = f"  (pick with {group}=NAME, set with {group}.KEY=VALUE)" if group else ""
            lines += ["", f"{kind}{choose}"]
        version = f" {c.version}" if c.version else ""
        lines.append(f"  {c.name}  [{c.plugin}{version}]")
        if c.summary:
            lines += textwrap.wrap(c.summary, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for p in c.parameters:
            lines += textwrap.wrap(
                p.describe(), width, initial_indent=" " * 6 + "- ", subsequent_indent=" " * 10, break_long_words=False
            )
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--disable-plugin",
    "disabled",
    multiple=True,
    metavar="NAME",
    help="Do not load this plugin (repeatable; also $INPAINTZOO_DISABLE_PLUGINS=a,b).",
)
@click.version_option(package_name="inpaintzoo")
@click.pass_context
def cli(ctx: click.Context, disabled: tuple[str, ...]) -> None:
    """inpaintzoo: train, evaluate and use image-inpainting models.

    \b
    Typical use:
      inpaintzoo models                    pretrained models and their test metrics
      inpaintzoo inpaint photo.png --mask stroke.png --model unet.freeform --compare
      inpaintzoo serve                     a web page: paint a hole, compare models side by side
      inpaintzoo list                      every component, with its parameters
      inpaintzoo train data=samples train.epochs=2
      inpaintzoo train -m encoder=strided,resnet train.lr=1e-3,3e-4 data=cifar10
      inpaintzoo eval runs/<run>           metrics on the test split + a PNG grid
      inpaintzoo export runs/<run> unet.mine --score
    """
    ctx.ensure_object(dict)
    ctx.obj["disabled"] = disabled


@cli.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, pattern: str, as_json: bool) -> None:
    """List registered components, optionally of one KIND and matching a glob PATTERN.

    KIND is one of encoder, decoder, discriminator (or disc), density, loss, dataset (or data), mask.
    A single argument that is not a kind is taken as the pattern: `inpaintzoo list 'res*'`.
    Two plugins registering one name are reported on stderr; the first one's component is listed.
    """
    registry = get_registry(ctx, strict=False)
    if kind is not None:
        if kind_of(kind) is not None:
            kind = kind_of(kind)
        elif pattern == "*" and (any(ch in kind for ch in "*?[") or registry.list(pattern=kind)):
            kind, pattern = None, kind
    components = registry.list(kind, pattern)
    for message in registry.collisions:
        err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if as_json:
        rows = [
            {
                "kind": c.kind,
                "name": c.name,
                "plugin": c.plugin,
                "version": c.version,
                "summary": c.summary,
                "parameters": [parameter_json(p) for p in c.parameters],
            }
            for c in components
        ]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    click.echo(render_components(components, min(shutil.get_terminal_size((80, 24)).columns, 100)))


@cli.command(context_settings={"ignore_unknown_options": True})
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
    from inpaintzoo.config import check_plugins, load_config, resolve_config
    from inpaintzoo.engine.trainer import Trainer

    registry = get_registry(ctx)
    if resume is not None and (overwrite or multirun):
        raise UsageError("--resume continues one run: it does not combine with --overwrite or --multirun")
    if jobs != 1 and not multirun:
        raise UsageError("--jobs applies to sweeps: add -m/--multirun")
    if multirun:
        sweep_cmd(ctx, list(overrides), registry, print_config, progress, overwrite, jobs)
        return
    base = None
    if resume is not None:
        if not (resume / "config.json").is_file():
            raise UsageError(f"{resume} is not a run directory (no config.json): give a directory `train` wrote")
        base = load_config(resume / "config.json")
        check_plugins(base, registry)
    config = resolve_config(list(overrides), registry, base=base)
    if print_config:
        from inpaintzoo.engine.preflight import check_config

        check_config(config, registry, new_run=resume is None)  # as `inpaintzoo config` and training check it
        print_config_json(config)
        return
    trainer = Trainer(config, registry, run_dir=resume, progress=progress)
    trainer.overwrite = overwrite
    run_dir = trainer.fit(
        resume=resume is not None, on_start=lambda path: err_console.print(f"run directory: [bold]{path}[/]")
    )
    if trainer.stop_signal is not None:
        name = signal.Signals(trainer.stop_signal).name
        err_console.print(
            f"stopped by {name} at step {trainer.step}; checkpoint written. Continue with: "
            f"inpaintzoo train --resume {run_dir}"
        )
        sys.exit(128 + trainer.stop_signal)
    if trainer.stop_reason is not None:
        err_console.print(trainer.stop_reason, highlight=False)
    err_console.print(f"done: {run_dir} ({', '.join(trainer.outputs())})", highlight=False)


def print_config_json(config: dict[str, Any]) -> None:
    click.echo(json.dumps(config, indent=2))


def sweep_cmd(
    ctx: click.Context,
    overrides: list[str],
    registry: Registry,
    print_config: bool,
    progress: bool,
    overwrite: bool,
    jobs: int,
) -> None:
    """`train -m`: run every combination, report each as it ends, then the summary table."""
    from inpaintzoo.config import resolve_config
    from inpaintzoo.sweep import combinations, expand, run_sweep

    if print_config:
        fixed, _ = expand(overrides)
        configs = [resolve_config([*fixed, *combo], registry) for combo in combinations(overrides)]
        click.echo(json.dumps(configs, indent=2))
        return

    def report(run: Any) -> None:
        what = " ".join(run.overrides) or "(no swept keys)"
        if run.status == "running":
            err_console.print(f"[bold]sweep run {run.index}[/]: {escape(what)} -> {escape(run.run_dir)}")
        elif run.status != "ok":
            err_console.print(f"[red]sweep run {run.index} {run.status}:[/] {escape(run.error or '')}", soft_wrap=True)

    sweep = run_sweep(
        overrides,
        registry,
        jobs=jobs,
        overwrite=overwrite,
        progress=progress and jobs == 1,
        disabled=ctx.find_root().obj.get("disabled", ()),
        on_event=report,
    )
    metrics = sweep.table_metrics()
    table = Table(title=f"sweep {sweep.sweep_dir} ({len(sweep.runs)} runs)")
    table.add_column("#", justify="right")
    for key in sweep.swept:
        table.add_column(key)
    table.add_column("status")
    for key in metrics:
        table.add_column(key.removeprefix("val_"), justify="right")
    for run in sweep.runs:
        values = [o.split("=", 1)[1] for o in run.overrides]
        scores = [f"{run.metrics[k]:.4g}" if k in run.metrics else "" for k in metrics]
        table.add_row(str(run.index), *map(escape, values), run.status, *scores)
    console.print(table)
    err_console.print(f"summary: {sweep.sweep_dir / 'sweep.json'}")
    if sweep.failed:
        err_console.print(f"[red]{len(sweep.failed)} of {len(sweep.runs)} runs did not finish[/]")
        sys.exit(1)


@cli.command("config", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@click.pass_context
def config_cmd(ctx: click.Context, overrides: tuple[str, ...]) -> None:
    """Print the resolved config for KEY=VALUE overrides (every key, with defaults filled in).

    It is checked as `train` checks it before reading data (device, train.out, buildable models that fit
    in memory), so a config printed here trains.
    """
    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.preflight import check_config

    registry = get_registry(ctx)
    config = resolve_config(list(overrides), registry)
    check_config(config, registry)
    print_config_json(config)


#: `--mirror` of `eval` and `inpaint`
MIRROR_OPTION = click.option(
    "--mirror/--no-mirror",
    default=False,
    show_default=True,
    help="Density models (greedy, mean, posterior-mean): also fill the mirror image and average the two fills "
    "(twice the time, a lower hole MSE).",
)


@cli.command("eval")
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
@click.option("--k", default=4, show_default=True, help="Samples for --mode best-of-k and posterior-mean.")
@click.option("--temperature", default=1.0, show_default=True, help="Softmax temperature for sampling.")
@click.option("--tau", default=1.0, show_default=True, help="posterior-mean: exponent of the weights (0: plain mean).")
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
@click.option("--device", default="auto", show_default=True)
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
    mode: str,
    k: int,
    temperature: float,
    tau: float,
    window: int | None,
    mirror: bool,
    checkpoint: str,
    out: Path | None,
    overwrite: bool,
    device: str,
    data_root: Path | None,
) -> None:
    """Evaluate a trained RUN_DIR or a pretrained --model NAME: hole MSE, PSNR, L2, SSIM, MAEM and a PNG grid."""
    from inpaintzoo.viz import save_grid

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    run = load_target(ctx, run_dir, model_name, device, checkpoint)
    if data_root is not None:
        if "root" not in run.config["data"]:
            raise UsageError(f"--data-root: data={run.config['data']['name']} reads no folder (it has no data.root)")
        run.config["data"]["root"] = str(data_root)
    refuse_density_options(ctx, run, run_dir or run.name)
    mode, k, tau, mirror = card_decoding(ctx, run, model_name, mode, k, tau, mirror)
    stem_name = f"eval-{split}-{mode}{'-mirror' if mirror else ''}" if run.is_density else f"eval-{split}"
    # a pretrained entry's outputs go to the current folder: eval-test-unet-l2.json (no dot for with_suffix to eat)
    stem = out or (run_dir / stem_name if run_dir is not None else Path(f"{stem_name}-{run.name.replace('.', '-')}"))
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    refuse_existing([json_path, png_path], overwrite)
    args = {"mode": mode, "k": k, "temperature": temperature} if run.is_density else {}
    if run.is_density and mode == "posterior-mean":
        args.update(tau=tau, window=window)
    if run.is_density and mirror:
        args.update(mirror=True)
    metrics, preview = run.evaluate(split=split, limit=limit, progress=True, **args)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    record = {"run": str(run_dir or run.name), "split": split, **args, **metrics}
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    save_grid(
        [p[:8] for p in preview],
        png_path,
        labels=["context", "prediction", "truth"],
        column_labels=hole_mse_labels(preview, 8),
    )
    table = Table(title=f"{run.name} on {split} ({metrics['images']} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    err_console.print(f"wrote {json_path} and {png_path}")


#: options of `eval` and `inpaint` that only density models read
DENSITY_OPTIONS = ("mode", "k", "temperature", "tau", "window", "mirror")


def refuse_density_options(ctx: click.Context, run: Any, run_dir: Path) -> None:
    """No silent drops: a decoding option given for a context encoder, which has nothing to decode, is an error."""
    from click.core import ParameterSource

    if run.is_density:
        return
    typed = [n for n in DENSITY_OPTIONS if n in ctx.params]
    given = [n for n in typed if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]
    if given:
        raise UsageError(
            f"--{given[0]} applies to density models, which fill pixel by pixel; {run_dir} is a context encoder "
            "(it predicts the whole patch at once): drop it"
        )


def card_decoding(
    ctx: click.Context, run: Any, model_name: str | None, mode: str, k: int, tau: float, mirror: bool
) -> tuple[str, int, float, bool]:
    """A pretrained density entry decodes as its card's headline metrics were measured (their mode, K, tau and
    mirror): what a user gets by default is what the zoo's table says. Options given on the command line win."""
    from click.core import ParameterSource

    if model_name is None or not run.is_density:
        return mode, k, tau, mirror
    from inpaintzoo.pretrained import get_entry

    best = get_entry(model_name, get_registry(ctx)).metrics
    if ctx.get_parameter_source("mode") != ParameterSource.DEFAULT or "mode" not in best:
        return mode, k, tau, mirror
    keep = {n: ctx.get_parameter_source(n) != ParameterSource.DEFAULT for n in ("k", "tau", "mirror")}
    return (
        str(best["mode"]),
        k if keep["k"] or "k" not in best else int(best["k"]),
        tau if keep["tau"] or "tau" not in best else float(best["tau"]),
        mirror if keep["mirror"] else bool(best.get("mirror", False)),
    )


def hole_mse_labels(preview: Any, columns: int) -> list[str] | None:
    """`mse 812` above each column of an eval grid: that image's hole MSE (0-255 scale)."""
    from inpaintzoo.metrics import hole_mse

    mask = getattr(preview, "mask", None)
    if mask is None:
        return None
    _, pred, truth = preview
    n = min(columns, len(pred))
    return [f"mse {hole_mse(pred[i : i + 1], truth[i : i + 1], mask[i : i + 1]):.0f}" for i in range(n)]


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        top, left, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box takes TOP,LEFT,HEIGHT,WIDTH in pixels (e.g. 12,12,8,8), got {text!r}") from None
    if min(top, left) < 0 or min(h, w) < 1:
        raise UsageError(f"--box {text}: top and left must be >= 0, height and width >= 1")
    return top, left, h, w


@cli.command()
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
@click.option("--k", default=4, show_default=True, help="Samples for --mode best-of-k and posterior-mean.")
@click.option("--tau", default=1.0, show_default=True, help="posterior-mean: exponent of the weights (0: plain mean).")
@MIRROR_OPTION
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing result files.")
@click.option("--device", default="auto", show_default=True)
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
    mode: str,
    k: int,
    tau: float,
    mirror: bool,
    seed: int,
    overwrite: bool,
    device: str,
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
    import numpy as np
    import torch
    from PIL import Image

    from inpaintzoo.data.io import load_image_uint8, save_filled_like
    from inpaintzoo.data.masks import load_mask
    from inpaintzoo.errors import DataError
    from inpaintzoo.photos import check_image_size, compare_image, inpaint_photo

    if mask_path is not None and boxes:
        raise UsageError("give either --mask or --box, not both")
    if model_name is None and not paths[0].is_dir():  # no RUN_DIR: the best photo entry (or Telea)
        from inpaintzoo.pretrained import default_model

        model_name = default_model(get_registry(ctx))
        err_console.print(f"no --model given: using {model_name}")
    run_dir, images = (None, paths) if model_name is not None else (paths[0], paths[1:])
    if run_dir is not None and not run_dir.is_dir():
        raise UsageError(
            f"{run_dir} is not a run directory: give RUN_DIR before the images, or a pretrained --model NAME"
        )
    if not images:
        raise UsageError("give at least one IMAGE to inpaint")
    check_out_folder(out)
    parsed_boxes = [parse_box(b) for b in boxes]
    targets = [out / f"{p.stem}.png" for p in images]
    if len(set(targets)) != len(targets):
        raise UsageError("two input images share a file name; inpaint them into different --out folders")
    extra = [t.with_name(f"{t.stem}-compare.png") for t in targets] if compare else []
    refuse_existing(targets + extra, overwrite)
    run = load_target(ctx, run_dir, model_name, device)
    refuse_density_options(ctx, run, run.name)
    mode, k, tau, mirror = card_decoding(ctx, run, model_name, mode, k, tau, mirror)
    from inpaintzoo.engine.precision import check_precision

    check_precision(precision, run.device, key="--precision")
    # read and check everything first: a bad file or a hole the model cannot fill stops before any write
    jobs = []
    for path in images:
        pixels = load_image_uint8(path)
        h, w = pixels.shape[-2:]
        try:
            check_image_size(h, w)
            if mask_path is not None:
                hole = load_mask(mask_path, (h, w))[0, 0]
            elif parsed_boxes:
                hole = torch.zeros(h, w, dtype=torch.bool)
                for top, left, bh, bw in parsed_boxes:
                    if top + bh > h or left + bw > w:
                        raise DataError(f"--box {top},{left},{bh},{bw} does not fit in the {w}x{h} image")
                    hole[top : top + bh, left : left + bw] = True
            elif (h, w) == (run.image_size, run.image_size):
                hole = run.mask(1, generator=torch.Generator().manual_seed(seed))[0, 0].cpu()
            else:
                raise DataError(
                    f"the image is {w}x{h}; mark the hole with --mask or --box (this model's own hole is for "
                    f"{run.image_size}x{run.image_size} images)"
                )
            if bool(hole.all()):
                raise DataError("the hole covers the whole image: leave some context for the model to read")
            reason = run.serves(hole, strategy)
            if reason is not None:
                raise DataError(reason)
        except InpaintzooError as exc:
            raise type(exc)(f"{path}: {exc}") from None
        jobs.append((path, pixels.permute(1, 2, 0).numpy(), hole.numpy()))
    density = {"mode": mode, "k": k, "tau": tau, "seed": seed, "mirror": mirror} if run.is_density else {}
    for (path, image, hole), target in zip(jobs, targets):
        filled = inpaint_photo(run, image, hole, strategy=strategy, precision=precision, **density)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_filled_like(path, filled, hole, target)  # the input's own form: alpha, greyscale, 16-bit kept
        err_console.print(f"{path} -> {target}")
        if compare:
            from inpaintzoo.classical import comparison_fills

            anchors = comparison_fills(run.name, image, hole)
            side = compare_image(
                image, hole, [filled, *anchors.values()], ("hole", f"{run.name} ({strategy})", *anchors)
            )
            Image.fromarray(np.ascontiguousarray(side)).save(target.with_name(f"{target.stem}-compare.png"))


def check_out_folder(out: Path) -> None:
    """`--out` must be a folder or creatable as one: not a file, nor under one."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"is under {parent}, which is a file"
                raise UsageError(f"--out {out} {what}: give a folder")
            return


def load_target(
    ctx: click.Context, run_dir: Path | None, model_name: str | None, device: str, checkpoint: str = "best"
) -> Any:
    """The model a command works on: a pretrained entry (--model NAME) or a run directory, never both."""
    if model_name is not None and run_dir is not None:
        raise UsageError(f"give either RUN_DIR ({run_dir}) or --model {model_name}, not both")
    if model_name is None:
        if run_dir is None:
            raise UsageError("give a RUN_DIR or a pretrained --model NAME (see `inpaintzoo models`)")
        return load_run_for(ctx, run_dir, device, checkpoint)
    from inpaintzoo.engine.build import resolve_device
    from inpaintzoo.pretrained import load_pretrained

    resolve_device(device, setting="--device")
    return load_pretrained(model_name, device=device, registry=get_registry(ctx))


METRIC_COLUMNS = (("hole_mse", "hole MSE", ".0f"), ("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".3f"))


def pretrained_rows(registry: Registry) -> list[dict[str, Any]]:
    """One JSON-able row per pretrained entry: name, plugin, what it fills, where its weights are, its metrics."""
    rows = []
    for component in registry.list("pretrained"):
        entry = component.factory
        rows.append(
            {
                "name": entry.name,
                "plugin": component.plugin,
                "summary": entry.card.get("summary", ""),
                "mask": entry.config["mask"]["name"],
                "box": list(entry.box) if entry.box is not None else None,
                "image_size": entry.config["data"].get("image_size", 32),
                "weights": entry.weights.where,
                "bytes": entry.weights.size,
                "metrics": entry.metrics,
                "photo_benchmark": entry.card.get("photo_benchmark"),
                "eval_command": entry.card.get("eval_command"),
            }
        )
    from inpaintzoo.classical import CLASSICAL, SUMMARIES, patchmatch_available, scores

    measured = scores()
    for name in CLASSICAL:  # the classical fills are models of the zoo too: no weights, any image, any hole
        missing = name == "patchmatch" and not patchmatch_available()
        rows.append(
            {
                "name": name,
                "plugin": "inpaintzoo (classical)" + (", needs pypatchmatch" if missing else ""),
                "summary": SUMMARIES[name],
                "mask": "no training",
                "box": None,
                "image_size": None,
                "weights": "none",
                "bytes": None,
                "metrics": {},
                "photo_benchmark": measured.get(name),
                "eval_command": None,
            }
        )
    return rows


def render_models(rows: list[dict[str, Any]], width: int) -> str:
    """`inpaintzoo models` as plain text: a block per model, readable at 80 columns and through a pipe."""
    width = max(width, 40)
    lines = [f"{len(rows)} models"]
    for r in rows:
        fills = f"{r['box'][2]}x{r['box'][3]} box" if r["box"] else f"any mask ({r['mask']})"
        metrics = r["metrics"]
        scores = ", ".join(f"{label} {format(metrics[k], f)}" for k, label, f in METRIC_COLUMNS if k in metrics)
        photo = r.get("photo_benchmark")
        facts = [
            f"fills {fills}",
            f"test: {scores}" if scores else "",
            f"photos: {photo['mean_psnr']:.2f} dB (mean hole PSNR, {len(photo['kinds'])} mask kinds)" if photo else "",
            f"weights: {r['weights']}{file_size(r['bytes'])}",
        ]
        lines += ["", f"  {r['name']}  [{r['plugin']}]"]
        for text in (r["summary"], "; ".join(f for f in facts if f)):
            lines += textwrap.wrap(text, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def file_size(size: int | None) -> str:
    if not size:
        return ""
    return f", {size / 1e6:.1f} MB" if size >= 1e6 else f", {size / 1e3:.0f} KB"


@cli.command()
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
@click.option("--device", default="auto", show_default=True)
@click.pass_context
def demo(
    ctx: click.Context, model_name: str | None, sample: str, kind: str, out: Path, overwrite: bool, device: str
) -> None:
    """Fill a hole in a photo shipped with inpaintzoo and write a side-by-side PNG (no file of your own needed).

    \b
      inpaintzoo demo                      # demo.png: hole | the zoo's photo model | Telea | PatchMatch
      inpaintzoo demo --model unet.freeform --kind box --out box.png
    """
    from inpaintzoo.demo import sample_photo, write_demo
    from inpaintzoo.pretrained import default_model

    sample_photo(sample)  # an unknown sample fails before any model loads
    refuse_existing([out], overwrite)
    name = model_name or default_model(get_registry(ctx))
    run = load_target(ctx, None, name, device)
    err_console.print(f"{sample} with a {kind} hole, filled by {name} -> {write_demo(run, out, sample, kind)}")


@cli.command("models")
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models_cmd(ctx: click.Context, pattern: str, as_json: bool) -> None:
    """List pretrained entries and classical fills (names matching PATTERN) with their scores.

    hole MSE, PSNR and SSIM are on the entry's own test split (CIFAR-10's for the 32x32 models); "photos dB" is
    the mean hole PSNR over the photo benchmark's five mask kinds (benchmarks/bench_photos.py).

    Use one with `inpaintzoo inpaint IMAGE --model NAME` or `inpaintzoo eval --model NAME`.
    """
    import fnmatch

    rows = [r for r in pretrained_rows(get_registry(ctx, strict=False)) if fnmatch.fnmatchcase(r["name"], pattern)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render_models(rows, min(shutil.get_terminal_size((80, 24)).columns, 100)))
    if not rows:
        err_console.print("no pretrained entries: `inpaintzoo export RUN_DIR NAME` makes one from a trained run")


@cli.command("export")
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
    from inpaintzoo.pretrained import export

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
        registry=get_registry(ctx),
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
        err_console.print(line, highlight=False)
    err_console.print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card}", highlight=False)


def load_run_for(ctx: click.Context, run_dir: Path, device: str, checkpoint: str = "best") -> Any:
    from inpaintzoo.engine.build import resolve_device
    from inpaintzoo.runs import load_run

    resolve_device(device, setting="--device")  # an unusable device is named as the option the user typed
    return load_run(run_dir, checkpoint=checkpoint, device=device, registry=get_registry(ctx))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback: this machine only).")
@click.option("--port", default=7860, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--model", "names", multiple=True, metavar="NAME", help="A pretrained model to offer (repeatable).")
@click.option(
    "--run", "run_dirs", multiple=True, type=click.Path(path_type=Path), metavar="RUN_DIR", help="A run to offer."
)
@click.option("--max-side", default=2048, show_default=True, help="Refuse images longer than this on a side (px).")
@click.option("--max-upload-mb", default=16.0, show_default=True, help="Refuse uploads larger than this (MB).")
@click.option("--workers", default=2, show_default=True, help="Fills that run at the same time.")
@click.option("--device", default="auto", show_default=True)
def serve(
    host: str,
    port: int,
    names: tuple[str, ...],
    run_dirs: tuple[Path, ...],
    max_side: int,
    max_upload_mb: float,
    workers: int,
    device: str,
) -> None:
    """A local web page: paint a hole, fill it with several models, compare them side by side.

    Offers every pretrained model unless --model or --run is given. Needs `pip install 'inpaintzoo[web]'`.
    """
    from inpaintzoo.web import require_web
    from inpaintzoo.web import serve as serve_web

    require_web()
    from inpaintzoo.web.inputs import Limits
    from inpaintzoo.web.models import load_models

    if max_side < 1 or max_upload_mb <= 0 or workers < 1:
        raise UsageError("--max-side, --max-upload-mb and --workers must be positive")
    models = load_models(names, run_dirs, device=device)
    limits = Limits(max_side=max_side, max_upload_bytes=int(max_upload_mb * 2**20))
    serve_web(
        models,
        host=host,
        port=port,
        limits=limits,
        workers=workers,
        echo=lambda line: click.echo(line),
        warn=lambda line: err_console.print(f"[yellow]warning:[/] {line}", highlight=False),
    )


@cli.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Versions, device, kernel backend and loaded plugins (and any two that collide)."""
    import numpy
    import torch

    import inpaintzoo
    from inpaintzoo.machine import FLAGS, describe_machine
    from inpaintzoo.ops.backend import BACKEND_ENV, backend_info

    registry = get_registry(ctx, strict=False)
    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("inpaintzoo", inpaintzoo.__version__)
    table.add_row("python", platform.python_version())
    table.add_row("torch", torch.__version__)
    table.add_row("numpy", numpy.__version__)
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    table.add_row("device", f"cuda: {cuda}; cpu threads: {torch.get_num_threads()}")
    machine = describe_machine()
    table.add_row("processor", escape(f"{machine['cpu']} ({machine['cores']} cores, {machine['arch']})"))
    units = [label if machine[key] else f"no {label}" for key, label in FLAGS.items()]
    table.add_row("cpu units", ", ".join(units) + f"; torch kernels {machine['torch_cpu_capability']}")
    load = machine["load_average"]
    table.add_row(
        "threads, load",
        f"torch {machine['torch_threads']} threads; load "
        + (" ".join(f"{x:.2f}" for x in load) + " (1, 5, 15 min)" if load is not None else "unknown"),
    )
    from inpaintzoo.engine.precision import cpu_features

    features = cpu_features()
    bf16 = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX-512-BF16"}
    has = [label for key, label in bf16.items() if features.get(key)]
    missing = [label for key, label in bf16.items() if not features.get(key)]
    table.add_row(
        "cpu bf16",
        (f"has {', '.join(has)}" if has else "no AMX-BF16 or AVX-512-BF16")
        + (f"; no {', '.join(missing)}" if has and missing else "")
        + (" (train.precision=bf16 runs on the tile unit)" if features.get("amx_bf16") else ""),
    )
    info = backend_info()
    backend = info["backend"]
    if "error" in info:
        detail = f"unavailable: {info['error']}"
    elif backend == "extension":
        detail = f"C++ extension, CPU kernels {info['cpu_isa']}, OpenMP {'on' if info['openmp'] else 'off'}, "
        detail += "CUDA kernels built" if info["cuda_kernels"] else "no CUDA kernels"
    else:
        detail = f"PyTorch fallback ({info['reason']})" if info.get("reason") else "PyTorch"
    table.add_row("kernel backend", f"{escape(detail)}  [{BACKEND_ENV}={os.environ.get(BACKEND_ENV, 'auto')}]")
    plugins = sorted({c.plugin for c in registry.list()})
    versions = registry.plugin_versions
    table.add_row("plugins", ", ".join(f"{p} {versions[p]}" if versions.get(p) else p for p in plugins))
    for name, why_failed in registry.failures.items():
        table.add_row("failed plugin", f"{name}: {escape(why_failed)}")
    for message in registry.collisions:
        table.add_row("collision", escape(message))
    console.print(table)


def show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A warning as one `warning:` line on stderr, without the source line Python would quote."""
    err_console.print(f"[yellow]warning:[/] {escape(one_line(str(message)))}", highlight=False, soft_wrap=True)


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def click_error_line(exc: click.ClickException) -> str:
    """click's message (its did-you-mean included) as one line, pointing at --help instead of a Usage block."""
    message = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see {ctx.command_path} --help)"
    return message


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or "out of memory" in str(exc)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning user errors into one line and exit status 2."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        run_cli(argv)


def run_cli(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="inpaintzoo", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `inpaintzoo` alone: the help text is the answer
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        err_console.print(f"[red]error:[/] {escape(click_error_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except InpaintzooError as exc:
        err_console.print(f"[red]error:[/] {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        err_console.print(
            f"[red]error:[/] out of memory ({escape(one_line(str(exc))[:160])}): lower train.batch_size or the "
            "model's width, or use a device with more memory",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
