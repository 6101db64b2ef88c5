"""Inpainting quality on CIFAR-10's test images: learned models against classical fills.

Trains each learned model for a fixed CPU budget on the 50,000 training images, then scores every
method on the same test images (the shared copy's 1,000 exact test images) with the same 8x8 centre
hole: hole MSE and PSNR (0-255), the study's L2, SSIM and MAEM. Baselines: the mean colour of the
context, and OpenCV's Telea and Navier-Stokes inpainting (`cv2.inpaint`, radius 3). Also measures
training throughput (images per second) of reference configurations and of the benchmark's own.

Each learned model is scored with the checkpoint that validation picks (the last weights or the best
epoch's, whichever scores lower on the held-out 2% of the training split), never by the test set.

    python benchmarks/bench_inpainting.py --minutes 8            # everything (about an hour on 2 cores)
    python benchmarks/bench_inpainting.py --models l2,wgan --minutes 8 --merge

`--merge` runs the benchmark in parts: rows of the models run now replace rows of the same method in
the existing JSON, other rows are kept, and the PNG grid is redrawn from every row's run directory.

The CPU is shared: OpenMP threads that spin while they wait make multi-threaded PyTorch 10-25x slower
under other jobs' load, so the script re-executes itself with OMP_WAIT_POLICY=passive unless that is
set already. The load average before and after each training run is recorded beside its throughput.

Writes benchmarks/results/inpainting.json, inpainting.png (a row per method on the same images),
inpainting_zoom.png (the hole and its nearest context at 8x, for the baselines and context encoders) and
inpainting_previews.npz (each row's fill of the grid's images, so a merged grid keeps rows whose run
directories are gone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_common import RESULTS, cv2_fill, ensure_passive_openmp, load_average, score
from rich.console import Console
from rich.table import Table

from inpaintzoo.config import resolve_config
from inpaintzoo.context_encoder import local_box
from inpaintzoo.data.cifar10 import find_cifar10_root
from inpaintzoo.data.masks import CenterMask, fill_hole
from inpaintzoo.engine.trainer import Trainer
from inpaintzoo.errors import InpaintzooError
from inpaintzoo.plugins import default_registry
from inpaintzoo.runs import Run, load_run
from inpaintzoo.viz import save_grid

PREVIEW = 10  # test images per row of the PNG grid
#: rows of the close-up grid (the hole and its 4 px of context at 8x): the baselines and context encoders
CLOSE_UP = ("mean colour", "opencv telea", "l2", "gan", "wgan")
PREVIEWS = "inpainting_previews.npz"  # method -> its fill of the grid's hole pixels, uint8
ZOOM = "inpainting_zoom.png"
BATCH = 100  # test images per inpainting call

#: the generator every context encoder here shares: a U-Net code cropped around the hole, and no overlap band
#: (the study's x20 band costs hole MSE)
GENERATOR = ["encoder=unet", "encoder.width=24", "encoder.depth=1", "decoder=conv", "model.overlap=0"]
#: how each is trained: mirrored and shifted images (it overfits without), EMA weights with their own batch-norm
#: statistics
TRAINING = ["train.lr_decay=0.85", "train.ema=0.99", "train.hflip=true", "train.shift=2", "train.batch_size=64"]
#: the adversarial ones: L2 alone for the first 2,000 steps, then a DCGAN critic on the whole image whose push on
#: the patch is balanced against the reconstruction's (alpha: the reconstruction's share); no mirror averaging,
#: which would blur what the critic sharpened
ADVERSARY = [
    "disc=dcgan",
    "disc.width=32",
    "loss.balance=true",
    "loss.warmup=2000",
    "train.lr=1e-3",
    "train.disc_lr=2e-4",
]

#: learned models: name -> overrides (CIFAR-10, centre 8x8 hole)
MODELS: dict[str, list[str]] = {
    "l2": [*GENERATOR, "loss=l2", "model.mirror=true", "train.lr=2e-3", *TRAINING],
    "gan": [*GENERATOR, *ADVERSARY, "loss=gan", "loss.alpha=0.5", *TRAINING],
    # a clip of 0.01 (the WGAN paper's) starves this critic: its Wasserstein estimate stays near 1e-8
    "wgan": [*GENERATOR, *ADVERSARY, "loss=wgan", "loss.alpha=0.3", "loss.clip=0.1", "loss.n_critic=5", *TRAINING],
    "pixelcnn": ["density=pixelcnn", "train.lr=1e-3", "train.batch_size=32"],
    "row-lstm": ["density=row-lstm", "train.lr=1e-3", "train.batch_size=32"],
    "diag-bilstm": ["density=diag-bilstm", "train.lr=1e-3", "train.batch_size=32"],
    "flat-lstm": ["density=flat-lstm", "train.lr=2e-3", "train.batch_size=32"],
}
DENSITY_MODES = ("greedy", "mean", "sample", "best-of-k", "posterior-mean")
#: reference configurations at their defaults, beside the benchmark's own context encoders
THROUGHPUT = {
    "strided + l2": ["encoder=strided", "loss=l2"],
    "resnet + vgg + wgan": ["encoder=resnet", "disc=vgg", "loss=wgan"],
    "l2 (benchmark config)": MODELS["l2"],
    "gan (benchmark config)": MODELS["gan"],
    "wgan (benchmark config)": MODELS["wgan"],
}


def train_model(name: str, minutes: float, out: Path) -> tuple[Path, dict[str, Any]]:
    """Train `name` for `minutes`; returns its run directory and what to record about the run."""
    overrides = [
        *MODELS[name],
        "data=cifar10",
        f"train.max_minutes={minutes}",
        "train.epochs=1000",
        "train.val_fraction=0.02",
        "train.grid_every=0",
        f"train.out={out}",
        f"train.name={name}-{time.strftime('%Y%m%d-%H%M%S')}",
    ]
    config = resolve_config(overrides, default_registry())
    trainer = Trainer(config, default_registry(), progress=True)
    load_before = load_average()
    started = time.perf_counter()
    run_dir = trainer.fit()
    seconds = time.perf_counter() - started
    images = trainer.step * config["train"]["batch_size"]
    checkpoint, scores = pick_checkpoint(trainer, run_dir)
    info = {
        "overrides": overrides,
        "run_dir": str(run_dir),
        "checkpoint": checkpoint,
        **scores,
        "train_minutes": minutes,
        "train_seconds": seconds,
        "steps": trainer.step,
        "epochs": trainer.epoch,
        "images_seen": images,
        "train_img_per_s": images / seconds,
        "load_average": [load_before, load_average()],
    }
    return run_dir, info


def pick_checkpoint(trainer: Trainer, run_dir: Path) -> tuple[str, dict[str, float]]:
    """`last` or `best`, whichever scores lower on the validation slice; always `last` for adversarial models.

    A time budget usually stops training mid-epoch, so the last weights were never validated: they are
    scored here the same way as every epoch's (the averaged weights when the run keeps an EMA). An adversarial
    model trades squared error for detail on purpose, so validation L2 would pick its least adversarial
    epoch (a warm-up one, trained on L2 alone): it is scored with its last weights.
    """
    last = trainer.validate()["score"]
    best = trainer.best
    scores = {"val_score_last": last, "val_score_best": best}
    if trainer.disc is not None:
        return "last", scores
    if (run_dir / "checkpoints" / "best.pt").is_file() and math.isfinite(best) and best < last:
        return "best", scores
    return "last", scores


def predict(
    run: Run,
    truth: torch.Tensor,
    mask: torch.Tensor,
    mode: str | None,
    k: int,
    ess: list[torch.Tensor] | None = None,
    tau: float = 1.0,
    mirror: bool = False,
) -> torch.Tensor:
    """The fills of `truth`, batch by batch; `ess` collects posterior-mean's effective sample sizes."""
    kwargs: dict[str, Any] = {"mode": mode, "k": k} if mode else {}
    if mode == "posterior-mean":
        kwargs["tau"] = tau
    if mode and mirror:
        kwargs["mirror"] = True
    parts = []
    for i in range(0, len(truth), BATCH):
        parts.append(run.inpaint(truth[i : i + BATCH], mask[i : i + BATCH], **kwargs))
        if ess is not None and getattr(run.model, "last_ess", None) is not None:
            ess.append(run.model.last_ess.cpu())
    return torch.cat(parts)


def evaluate_model(
    name: str,
    run_dir: Path,
    info: dict[str, Any],
    truth: torch.Tensor,
    mask: torch.Tensor,
    args: argparse.Namespace,
    modes: tuple[str, ...] = DENSITY_MODES,
) -> list[tuple[dict[str, Any], torch.Tensor]]:
    """One row per fill mode (a single row for a context encoder), each with its first predictions."""
    run = load_run(run_dir, checkpoint=info["checkpoint"], device="cpu")
    limit = min(args.density_limit, len(truth)) if run.decodes else len(truth)
    # what the family adds to the metrics, measured once as `Run.evaluate` does: a density model's test likelihood
    # (whatever the mode), nothing for a context encoder
    likelihood = run.family.evaluation()
    with torch.no_grad():
        for i in range(0, limit, BATCH):
            likelihood.update(run.model, truth[i : i + BATCH])
    bits_per_dim = likelihood.compute(truth[:limit]).get("bits_per_dim")
    out = []
    for mode in modes if run.decodes else (None,):
        label = f"{name} ({mode})" if mode else name
        started = time.perf_counter()
        ess: list[torch.Tensor] = []
        k = args.posterior_k if mode == "posterior-mean" else args.k
        pred = predict(run, truth[:limit], mask[:limit], mode, k, ess, args.posterior_tau)
        fill_ms = (time.perf_counter() - started) / limit * 1000
        row = {
            "method": label,
            "model": name,
            "mode": mode,
            "images": limit,
            **score(pred, truth[:limit], mask[:limit]),
            "fill_ms_per_image": fill_ms,
            **info,
        }
        if mode in ("best-of-k", "posterior-mean"):
            row["k"] = k
        if ess:
            row["ess"] = torch.cat(ess).mean().item()
            row["tau"] = args.posterior_tau
        if bits_per_dim is not None:
            row["test_bits_per_dim"] = bits_per_dim
        out.append((row, pred[:PREVIEW]))
    return out


def zoo_rows(
    name: str, truth: torch.Tensor, mask: torch.Tensor, folder: Path | None = None
) -> list[tuple[dict[str, Any], torch.Tensor]]:
    """A pretrained density entry's rows, one per decoding (mode, and `+mirror`), with their first predictions.

    Its metrics are the ones its card records: `benchmarks/train_zoo.py` measured them with `Run.evaluate` on these
    1,000 test images and this centre hole, every mode (tests/test_zoo_entries.py measures the `mean` mode again);
    filling the 1,000 images again in every mode would cost the density models' fill time twice. The grid's fills
    are recomputed from the entry's weights on the grid's own images.
    """
    from inpaintzoo.hub import get_entry, load_pretrained, read_card

    entry = read_card(folder / f"{name}.json") if folder is not None else get_entry(name)
    card = entry.card
    by_mode = card.get("metrics_by_mode")
    if not by_mode:
        raise SystemExit(f"{name} is not a density entry with every mode's metrics (run benchmarks/train_zoo.py)")
    run = load_pretrained(entry, device="cpu", progress=False)
    budget = card.get("budget", {})
    out = []
    for label, metrics in by_mode.items():
        mode, mirror = str(metrics.get("mode", label)), bool(metrics.get("mirror", False))
        row = {
            "method": f"{name} ({label})",
            "model": name,
            "mode": mode,
            "mirror": mirror,
            "source": "card",
            **{k: v for k, v in metrics.items() if k != "bits_per_dim"},
            "test_bits_per_dim": metrics.get("bits_per_dim"),
            "train_minutes": budget.get("max_minutes"),
            "images_seen": card.get("images_seen"),
            "train_command": card.get("train_command"),
        }
        k, tau = int(metrics.get("k", 4)), float(metrics.get("tau", 1.0))
        preview = predict(run, truth[:PREVIEW], mask[:PREVIEW], mode, k, tau=tau, mirror=mirror)
        out.append((row, preview))
    return out


def row_run_dir(row: dict[str, Any]) -> Path | None:
    """Where a row's model was trained: recorded, or read from its `train.out` and `train.name` overrides."""
    if "run_dir" in row:
        return Path(row["run_dir"])
    settings = dict(o.split("=", 1) for o in row.get("overrides", []) if "=" in o)
    if "train.out" in settings and "train.name" in settings:
        return Path(settings["train.out"]) / settings["train.name"]
    return None


def row_mode(row: dict[str, Any]) -> str | None:
    """A density row's fill mode: recorded, or the one named in brackets after the model."""
    if "mode" in row:
        return row["mode"]
    label = row["method"]
    mode = label[label.rfind("(") + 1 : -1] if label.endswith(")") else None
    return mode if mode in DENSITY_MODES else None


def stored_preview(row: dict[str, Any], truth: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor | None:
    """A kept row's first predictions, recomputed from its run directory (None when that is gone).

    The first batch is filled exactly as when the row was scored, so sampled fills come out the same.
    """
    run_dir = row_run_dir(row)
    if run_dir is None or not run_dir.is_dir():
        return None
    try:
        run = load_run(run_dir, checkpoint=row.get("checkpoint", "last"), device="cpu")
    except InpaintzooError:
        return None
    return predict(run, truth[:BATCH], mask[:BATCH], row_mode(row), row.get("k", k), tau=row.get("tau", 1.0))[:PREVIEW]


def save_previews(path: Path, previews: dict[str, torch.Tensor], mask: torch.Tensor) -> None:
    """Each method's fill of the grid's hole pixels as uint8 (the grid's own precision), keyed by method."""
    hole = mask[:PREVIEW].expand(-1, 3, -1, -1)
    arrays = {m: p.clamp(0, 1).mul(255).round().to(torch.uint8)[hole].numpy() for m, p in previews.items()}
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)


def load_previews(path: Path, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The stored fills pasted into the grid's test images (empty when there is no file or another hole)."""
    if not path.is_file():
        return {}
    hole = mask[:PREVIEW].expand(-1, 3, -1, -1)
    out = {}
    with np.load(path) as stored:
        for method in stored.files:
            pixels = torch.from_numpy(stored[method])
            if pixels.numel() != int(hole.sum()):
                continue
            image = truth[:PREVIEW].clone()
            image[hole] = pixels.float() / 255
            out[method] = image
    return out


def throughput(overrides: list[str], steps: int = 12) -> float:
    """Training images per second on CIFAR-10 at the config's batch size (EMA off, after two warm-up steps)."""
    config = resolve_config([*overrides, "data=cifar10", "train.limit=4096", "train.ema=0"], default_registry())
    trainer = Trainer(config, default_registry(), progress=False)
    if getattr(trainer.models.objective, "warmup", 0):
        trainer.models.objective.warmup = 0  # time the adversarial steps, not the warm-up's L2 ones
    batch = config["train"]["batch_size"]
    images = trainer.train_images[: batch * (steps + 2)].float().div(255)
    for i in range(2):
        trainer.train_step(images[i * batch : (i + 1) * batch])
        trainer.step += 1
    start = time.perf_counter()
    for i in range(2, steps + 2):
        trainer.train_step(images[i * batch : (i + 1) * batch])
        trainer.step += 1
    return steps * batch / (time.perf_counter() - start)


def row_model(row: dict[str, Any]) -> str:
    """The model a row belongs to: recorded, or its method without the mode in brackets."""
    return row.get("model") or row["method"].split(" (")[0]


def merge_rows(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`old` with each row whose method is in `new` replaced in place, `new`'s other rows added; baselines
    first, then the learned models in `MODELS` order (a model's fill modes keep theirs)."""
    by_method = {r["method"]: r for r in new}
    merged = [by_method.pop(r["method"], r) for r in old] + list(by_method.values())
    order = {name: i for i, name in enumerate(MODELS)}

    def place(row: dict[str, Any]) -> int:  # baselines first; a zoo entry's rows go where its architecture's do
        name = row_model(row)
        if name not in order and "." not in name:
            return -1  # a baseline
        return order.get(name.split(".")[0], len(order))

    return sorted(merged, key=place)


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="CIFAR-10 test, 8x8 centre hole")
    columns = (
        "method",
        "images",
        "hole MSE",
        "PSNR dB",
        "study L2",
        "SSIM",
        "MAEM %",
        "sharpness",
        "bits/dim",
        "minutes",
        "images seen",
        "train img/s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(
            r["method"],
            str(r["images"]),
            f"{r['hole_mse']:.0f}",
            f"{r['psnr']:.2f}",
            f"{r['l2']:.4f}",
            f"{r['ssim']:.4f}",
            f"{100 * r['maem']:.1f}",
            f"{r['sharpness']:.2f}" if "sharpness" in r else "",
            f"{r['test_bits_per_dim']:.2f}" if "test_bits_per_dim" in r else "",
            f"{r['train_minutes']:g}" if "train_minutes" in r else "",
            f"{r['images_seen']:,}" if "images_seen" in r else "",
            f"{r['train_img_per_s']:.0f}" if "train_img_per_s" in r else "",
        )
    console.print(table)


def main() -> None:
    ensure_passive_openmp()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU training budget per model")
    parser.add_argument("--test-limit", type=int, default=1000, help="test images to score")
    parser.add_argument("--density-limit", type=int, default=1000, help="test images for density-model rows")
    parser.add_argument("--k", type=int, default=4, help="candidates for best-of-k")
    parser.add_argument("--posterior-k", type=int, default=16, help="samples for posterior-mean")
    parser.add_argument("--posterior-tau", type=float, default=1.0, help="posterior-mean's weight exponent")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench"), help="where the trained runs go")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--merge", action="store_true", help="replace these models' rows in the existing JSON")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--zoo",
        default="",
        help="comma-separated pretrained density entries (e.g. row-lstm.cifar10) whose rows come from their cards; "
        "with --merge they replace the rows of their architecture trained here",
    )
    parser.add_argument("--zoo-folder", type=Path, default=None, help="read --zoo cards from this folder")
    args = parser.parse_args()
    names = [m for m in args.models.split(",") if m]
    zoo_names = [z for z in args.zoo.split(",") if z]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    if find_cifar10_root() is None:
        raise SystemExit("CIFAR-10 not found: set INPAINTZOO_DATA to a cifar-10-batches-py folder")
    json_path = args.out / "inpainting.json"
    previous: dict[str, Any] = json.loads(json_path.read_text()) if args.merge and json_path.is_file() else {}
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets the whole table
    torch.manual_seed(0)
    from inpaintzoo.data.cifar10 import cifar10

    truth = cifar10("test").images[: args.test_limit].float() / 255
    centre = CenterMask(32, 8)
    mask = centre(len(truth))
    rows: list[dict[str, Any]] = []
    previews: dict[str, torch.Tensor] = {}

    baselines = {
        "mean colour": fill_hole(truth, mask, "mean"),
        "opencv telea": cv2_fill(truth, mask, "telea"),
        "opencv navier-stokes": cv2_fill(truth, mask, "navier-stokes"),
    }
    for name, pred in baselines.items():
        rows.append({"method": name, "images": len(truth), **score(pred, truth, mask)})
        previews[name] = pred[:PREVIEW]

    for name in names:
        run_dir, info = train_model(name, args.minutes, args.runs)
        for row, preview in evaluate_model(name, run_dir, info, truth, mask, args):
            rows.append(row)
            previews[row["method"]] = preview
            console.print(
                f"{row['method']}: hole MSE {row['hole_mse']:.0f}, MAEM {row['maem']:.3f} "
                f"({row['images_seen']:,} images at {row['train_img_per_s']:.0f}/s, {row['checkpoint']} checkpoint)"
            )

    for name in zoo_names:
        for row, preview in zoo_rows(name, truth, mask, args.zoo_folder):
            rows.append(row)
            previews[row["method"]] = preview
            console.print(f"{row['method']}: hole MSE {row['hole_mse']:.0f} (card, {row['images_seen']:,} images seen)")

    speeds = {} if args.skip_throughput else {k: throughput(v) for k, v in THROUGHPUT.items()}
    if previous:
        replaced = {z.split(".")[0] for z in zoo_names}  # a zoo entry's rows replace its architecture's rows here
        old_rows = [r for r in previous.get("rows", []) if row_model(r) not in replaced]
        rows = merge_rows(old_rows, rows)
        speeds = {**previous.get("throughput_img_per_s", {}), **speeds}
        kept = load_previews(args.out / PREVIEWS, truth, mask)
        for row in rows:
            if row["method"] in previews:
                continue
            preview = stored_preview(row, truth, mask, args.k)
            if preview is None:
                preview = kept.get(row["method"])
            if preview is None:
                console.print(f"{row['method']}: no run directory and no stored fill; left out of the grid")
            else:
                previews[row["method"]] = preview

    print_table(console, rows)
    for k, v in speeds.items():
        console.print(f"training throughput, {k}: {v:.0f} images/s")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {
            "cpu_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "minutes_per_model": args.minutes,
        "rows": rows,
        "throughput_img_per_s": speeds,
    }
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    grid = {"context": torch.where(mask, torch.ones_like(truth), truth)[:PREVIEW]}
    grid.update({r["method"]: previews[r["method"]] for r in rows if r["method"] in previews})
    grid["truth"] = truth[:PREVIEW]
    save_grid(list(grid.values()), args.out / "inpainting.png", labels=list(grid))
    t, l, h, w = local_box(32, centre.box)  # the hole and its nearest context, where the methods differ
    close_up = {m: g[..., t : t + h, l : l + w] for m, g in grid.items() if m in ("context", *CLOSE_UP, "truth")}
    save_grid(list(close_up.values()), args.out / ZOOM, labels=list(close_up), scale=8)
    save_previews(args.out / PREVIEWS, {m: previews[m] for m in grid if m in previews}, mask)
    console.print(f"wrote {json_path}, {args.out / 'inpainting.png'}, {args.out / ZOOM} and {args.out / PREVIEWS}")


if __name__ == "__main__":
    main()
