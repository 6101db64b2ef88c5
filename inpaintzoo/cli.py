"""The `inpaintzoo` command: thin click commands that parse, call the library and render with rich.

Every error a user can cause ends as one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inpaintzoo.errors import InpaintzooError, UsageError
from inpaintzoo.registry import KINDS, Registry

console = Console()
err_console = Console(stderr=True)


def get_registry(ctx: click.Context) -> Registry:
    from inpaintzoo.plugins import load_registry

    obj = ctx.find_root().obj
    if obj.get("registry") is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj["registry"] = load_registry(disabled=obj.get("disabled", ()))
        for w in caught:
            err_console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    return obj["registry"]


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
      inpaintzoo list                      every component, with its parameters
      inpaintzoo train data=samples train.epochs=2
      inpaintzoo train encoder=resnet disc=vgg loss=wgan data=cifar10
      inpaintzoo eval runs/<run>           metrics on the test split + a PNG grid
      inpaintzoo inpaint runs/<run> photo.png --box 12,12,8,8
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

    KIND is one of encoder, decoder, discriminator, density, loss, dataset, mask.
    A single argument that is not a kind is taken as the pattern: `inpaintzoo list 'res*'`.
    """
    registry = get_registry(ctx)
    if kind is not None:
        singular = kind[:-1] if kind.endswith("s") and kind[:-1] in KINDS else kind
        if singular in KINDS:
            kind = singular
        elif pattern == "*" and (any(ch in kind for ch in "*?[") or registry.list(pattern=kind)):
            kind, pattern = None, kind
    components = registry.list(kind, pattern)
    if as_json:
        rows = [
            {
                "kind": c.kind,
                "name": c.name,
                "plugin": c.plugin,
                "summary": c.summary,
                "parameters": [
                    {
                        "name": p.name,
                        "type": p.type_name,
                        "default": None if p.required else p.default,
                        "required": p.required,
                    }
                    for p in c.parameters
                ],
            }
            for c in components
        ]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"{len(components)} components", show_lines=True, expand=True)
    for column in ("kind", "name", "plugin"):
        table.add_column(column, no_wrap=True, style="bold" if column == "name" else None)
    table.add_column("summary", ratio=3)
    table.add_column("parameters", ratio=2, no_wrap=True)
    for c in components:
        params = "\n".join(p.describe() for p in c.parameters)
        table.add_row(c.kind, c.name, c.plugin, escape(c.summary), escape(params))
    console.print(table)


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
@click.pass_context
def train(
    ctx: click.Context, overrides: tuple[str, ...], print_config: bool, resume: Path | None, progress: bool
) -> None:
    """Train a model from KEY=VALUE overrides (Hydra style).

    \b
    Groups pick a component and set its parameters:
      encoder=NAME encoder.KEY=V   decoder=...   disc=...   loss=...
      density=NAME density.KEY=V   (a density model instead of a context encoder)
      data=NAME data.KEY=V         mask=NAME mask.KEY=V
    Settings: train.epochs, train.batch_size (per process), train.lr, train.max_steps, train.seed,
    train.out, train.name, ...; model.overlap, model.overlap_weight, model.judge, model.mirror.
    `inpaintzoo config` (or --print-config) shows every key with its value;
    `inpaintzoo list` shows every component's parameters.
    """
    from inpaintzoo.config import load_config, resolve_config
    from inpaintzoo.engine.trainer import Trainer

    registry = get_registry(ctx)
    base = None
    if resume is not None:
        if not (resume / "config.json").is_file():
            raise UsageError(f"{resume} is not a run directory (no config.json): give a directory `train` wrote")
        base = load_config(resume / "config.json")
    config = resolve_config(list(overrides), registry, base=base)
    if print_config:
        print_config_json(config)
        return
    trainer = Trainer(config, registry, run_dir=resume, progress=progress)
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
    err_console.print(f"done: {run_dir} (config.json, metrics.jsonl, checkpoints/, grid.png, curves.png)")


def print_config_json(config: dict[str, Any]) -> None:
    click.echo(json.dumps(config, indent=2))


@cli.command("config", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@click.pass_context
def config_cmd(ctx: click.Context, overrides: tuple[str, ...]) -> None:
    """Print the resolved config for KEY=VALUE overrides (every key, with defaults filled in)."""
    from inpaintzoo.config import resolve_config

    print_config_json(resolve_config(list(overrides), get_registry(ctx)))


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{existing[0]} already exists: pass --overwrite or choose another --out")


@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--split", default="test", show_default=True, help="Dataset split to evaluate.")
@click.option("--limit", default=0, show_default=True, help="Evaluate the first N images only (0: all).")
@click.option("--mode", default="greedy", show_default=True, help="Density models: greedy, sample, mean or best-of-k.")
@click.option("--k", default=4, show_default=True, help="Candidates for --mode best-of-k.")
@click.option("--temperature", default=1.0, show_default=True, help="Softmax temperature for sampling.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Stem of the outputs (default RUN_DIR/eval-SPLIT[-MODE]): writes .json and .png.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--device", default="auto", show_default=True)
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    run_dir: Path,
    split: str,
    limit: int,
    mode: str,
    k: int,
    temperature: float,
    checkpoint: str,
    out: Path | None,
    overwrite: bool,
    device: str,
) -> None:
    """Evaluate a trained run: hole MSE, PSNR, the study's L2, SSIM and MAEM, plus a PNG grid."""
    from inpaintzoo.viz import save_grid

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    run = load_run_for(ctx, run_dir, device, checkpoint)
    stem = out or run_dir / (f"eval-{split}-{mode}" if run.is_density else f"eval-{split}")
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    refuse_existing([json_path, png_path], overwrite)
    args = {"mode": mode, "k": k, "temperature": temperature} if run.is_density else {}
    metrics, preview = run.evaluate(split=split, limit=limit, progress=True, **args)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"run": str(run_dir), "split": split, **args, **metrics}, indent=2) + "\n")
    save_grid([p[:8] for p in preview], png_path, labels=["context", "prediction", "truth"])
    table = Table(title=f"{run_dir.name} on {split} ({metrics['images']} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    err_console.print(f"wrote {json_path} and {png_path}")


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        top, left, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box takes TOP,LEFT,HEIGHT,WIDTH in pixels (e.g. 12,12,8,8), got {text!r}") from None
    if min(top, left) < 0 or min(h, w) < 1:
        raise UsageError(f"--box {text}: top and left must be >= 0, height and width >= 1")
    return top, left, h, w


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mask", "mask_path", type=click.Path(path_type=Path), help="PNG mask: white marks the hole.")
@click.option("--box", help="The hole as TOP,LEFT,HEIGHT,WIDTH (default: the run's own mask).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("inpainted"),
    show_default=True,
    help="Folder for the results (IMAGE stem + .png).",
)
@click.option("--mode", default="greedy", show_default=True, help="Density models: greedy, sample, mean, best-of-k.")
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing result files.")
@click.option("--device", default="auto", show_default=True)
@click.pass_context
def inpaint(
    ctx: click.Context,
    run_dir: Path,
    images: tuple[Path, ...],
    mask_path: Path | None,
    box: str | None,
    out: Path,
    mode: str,
    seed: int,
    overwrite: bool,
    device: str,
) -> None:
    """Fill a hole in your own IMAGES with a trained run; writes one PNG per image."""
    import torch

    from inpaintzoo.data.io import load_image, save_image
    from inpaintzoo.data.masks import box_mask, load_mask

    if mask_path is not None and box is not None:
        raise UsageError("give either --mask or --box, not both")
    run = load_run_for(ctx, run_dir, device)
    targets = [out / f"{p.stem}.png" for p in images]
    if len(set(targets)) != len(targets):
        raise UsageError("two input images share a file name; inpaint them into different --out folders")
    refuse_existing(targets, overwrite)
    loaded = [load_image(p) for p in images]  # read everything first: a bad file stops before any write
    for path, image, target in zip(images, loaded, targets):
        size = image.shape[-1]
        if image.shape[-2] != size and not run.is_density:
            raise UsageError(f"{path} is {image.shape[-1]}x{image.shape[-2]}: this model takes square images")
        if mask_path is not None:
            mask = load_mask(mask_path, image.shape[-2:] if run.is_density else size)
        elif box is not None:
            mask = box_mask(image.shape[-2:] if run.is_density else size, parse_box(box))
        else:
            mask = None
        result = run.inpaint(
            image.unsqueeze(0), None if mask is None else mask.reshape(1, 1, *image.shape[-2:]), mode=mode, seed=seed
        )
        save_image(result[0].clamp(0, 1).to("cpu", torch.float32), target)
        err_console.print(f"{path} -> {target}")


def load_run_for(ctx: click.Context, run_dir: Path, device: str, checkpoint: str = "best") -> Any:
    from inpaintzoo.runs import load_run

    return load_run(run_dir, checkpoint=checkpoint, device=device, registry=get_registry(ctx))


@cli.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Versions, device, kernel backend and loaded plugins."""
    import numpy
    import torch

    import inpaintzoo
    from inpaintzoo.ops.backend import BACKEND_ENV, backend_info

    registry = get_registry(ctx)
    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("inpaintzoo", inpaintzoo.__version__)
    table.add_row("python", platform.python_version())
    table.add_row("torch", torch.__version__)
    table.add_row("numpy", numpy.__version__)
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    table.add_row("device", f"cuda: {cuda}; cpu threads: {torch.get_num_threads()}")
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
    table.add_row("plugins", ", ".join(plugins))
    for name, why_failed in registry.failures.items():
        table.add_row("failed plugin", f"{name}: {why_failed}")
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning user errors into one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="inpaintzoo", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InpaintzooError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
