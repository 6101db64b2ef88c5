"""Inpainting quality on CIFAR-10's test images: learned models against classical fills.

Trains each learned model for a fixed CPU budget on the 50,000 training images, then scores every
method on the same test images (the shared copy's 1,000 exact test images) with the same 8x8 centre
hole: hole MSE and PSNR (0-255), the study's L2, SSIM and MAEM. Baselines: the mean colour of the
context, and OpenCV's Telea and Navier-Stokes inpainting (`cv2.inpaint`, radius 3). Also measures
training throughput of `strided`+`l2` and `resnet`+`vgg`+`wgan`.

    python benchmarks/bench_inpainting.py --minutes 8            # everything (about an hour on 2 cores)
    python benchmarks/bench_inpainting.py --models l2,wgan --minutes 2

Writes benchmarks/results/inpainting.json and inpainting.png (a row per method on the same images).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from inpaintzoo.config import resolve_config
from inpaintzoo.data.cifar10 import find_cifar10_root
from inpaintzoo.data.masks import CenterMask, fill_hole
from inpaintzoo.engine.trainer import Trainer
from inpaintzoo.metrics import MetricAccumulator
from inpaintzoo.plugins import default_registry
from inpaintzoo.runs import load_run
from inpaintzoo.viz import save_grid

RESULTS = Path(__file__).resolve().parent / "results"

#: learned models: name -> overrides (CIFAR-10, centre 8x8 hole, overlap trick on)
MODELS: dict[str, list[str]] = {
    "l2": ["encoder=strided", "encoder.width=16", "encoder.bottleneck=0", "decoder.width=32", "loss=l2",
           "model.overlap_weight=1", "train.lr=1e-3", "train.batch_size=64"],
    "wgan": ["encoder=strided", "encoder.width=16", "encoder.bottleneck=0", "decoder.width=32", "disc=dcgan",
             "disc.width=32", "loss=wgan", "model.overlap_weight=1", "train.lr=1e-3", "train.disc_lr=5e-5",
             "train.batch_size=64"],
    "pixelcnn": ["density=pixelcnn", "train.lr=1e-3", "train.batch_size=32"],
    "row-lstm": ["density=row-lstm", "train.lr=1e-3", "train.batch_size=32"],
    "diag-bilstm": ["density=diag-bilstm", "train.lr=1e-3", "train.batch_size=32"],
    "flat-lstm": ["density=flat-lstm", "train.lr=2e-3", "train.batch_size=32"],
}
DENSITY_MODES = ("greedy", "mean", "sample", "best-of-k")
THROUGHPUT = {
    "strided + l2": ["encoder=strided", "loss=l2"],
    "resnet + vgg + wgan": ["encoder=resnet", "disc=vgg", "loss=wgan"],
}


def cv2_fill(images: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "navier-stokes": cv2.INPAINT_NS}[method]
    out = []
    for img, m in zip(images, mask):
        u8 = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        hole = m[0].numpy().astype(np.uint8) * 255
        out.append(torch.from_numpy(cv2.inpaint(u8, hole, 3, flag)).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def score(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    acc = MetricAccumulator()
    for i in range(0, len(truth), 250):
        acc.update(pred[i : i + 250], truth[i : i + 250], mask[i : i + 250])
    return acc.compute()


def train_model(name: str, minutes: float, out: Path) -> tuple[Path, dict[str, Any]]:
    overrides = [*MODELS[name], "data=cifar10", f"train.max_minutes={minutes}", "train.epochs=1000",
                 "train.val_fraction=0.02", "train.grid_every=0", f"train.out={out}",
                 f"train.name={name}-{time.strftime('%Y%m%d-%H%M%S')}"]
    config = resolve_config(overrides, default_registry())
    trainer = Trainer(config, default_registry(), progress=True)
    started = time.perf_counter()
    run_dir = trainer.fit()
    seconds = time.perf_counter() - started
    info = {"overrides": overrides, "train_seconds": seconds, "steps": trainer.step,
            "images_seen": trainer.step * config["train"]["batch_size"],
            "train_img_per_s": trainer.step * config["train"]["batch_size"] / seconds}
    return run_dir, info


def throughput(overrides: list[str], steps: int = 12) -> float:
    """Training images per second on CIFAR-10 at batch 64 (after two warm-up steps)."""
    config = resolve_config([*overrides, "data=cifar10", "train.limit=2048", "train.ema=0"], default_registry())
    trainer = Trainer(config, default_registry(), progress=False)
    batch = config["train"]["batch_size"]
    images = trainer.train_images[: batch * (steps + 2)].float().div(255)
    for i in range(2):
        trainer.train_step(images[i * batch : (i + 1) * batch])
    start = time.perf_counter()
    for i in range(2, steps + 2):
        trainer.train_step(images[i * batch : (i + 1) * batch])
        trainer.step += 1
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU training budget per model")
    parser.add_argument("--test-limit", type=int, default=1000, help="test images to score")
    parser.add_argument("--density-limit", type=int, default=1000, help="test images for density-model rows")
    parser.add_argument("--k", type=int, default=4, help="candidates for best-of-k")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench"), help="where the trained runs go")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if find_cifar10_root() is None:
        raise SystemExit("CIFAR-10 not found: set INPAINTZOO_DATA to a cifar-10-batches-py folder")
    console = Console()
    torch.manual_seed(0)
    from inpaintzoo.data.cifar10 import cifar10

    truth = cifar10("test").images[: args.test_limit].float() / 255
    mask = CenterMask(32, 8)(len(truth))
    rows: list[dict[str, Any]] = []
    grid = {"context": torch.where(mask, torch.ones_like(truth), truth)[:10]}

    baselines = {
        "mean colour": fill_hole(truth, mask, "mean"),
        "opencv telea": cv2_fill(truth, mask, "telea"),
        "opencv navier-stokes": cv2_fill(truth, mask, "navier-stokes"),
    }
    for name, pred in baselines.items():
        rows.append({"method": name, "images": len(truth), **score(pred, truth, mask)})
        grid[name] = pred[:10]

    for name in [m for m in args.models.split(",") if m]:
        run_dir, info = train_model(name, args.minutes, args.runs)
        run = load_run(run_dir, checkpoint="last", device="cpu")
        modes = DENSITY_MODES if run.is_density else (None,)
        limit = min(args.density_limit, len(truth)) if run.is_density else len(truth)
        for mode in modes:
            label = f"{name} ({mode})" if mode else name
            started = time.perf_counter()
            kwargs = {"mode": mode, "k": args.k} if mode else {}
            preds = [run.inpaint(truth[i : i + 100], mask[i : i + 100], **kwargs) for i in range(0, limit, 100)]
            pred = torch.cat(preds)
            fill_ms = (time.perf_counter() - started) / limit * 1000
            row = {"method": label, "images": limit, **score(pred, truth[:limit], mask[:limit]),
                   "fill_ms_per_image": fill_ms, **info}
            if run.is_density:
                nll = sum(run.model.nll(truth[i : i + 100]).sum().item() for i in range(0, limit, 100))
                row["test_bits_per_dim"] = nll / (limit * 3 * 32 * 32 * math.log(2))
            rows.append(row)
            grid[label] = pred[:10]
            console.print(f"{label}: hole MSE {row['hole_mse']:.0f}, MAEM {row['maem']:.3f}")
    grid["truth"] = truth[:10]

    speeds = {} if args.skip_throughput else {k: throughput(v) for k, v in THROUGHPUT.items()}

    table = Table(title=f"CIFAR-10 test, 8x8 centre hole, {args.minutes:g} CPU minutes of training per model")
    for col in ("method", "images", "hole MSE", "PSNR dB", "study L2", "SSIM", "MAEM %", "bits/dim", "train img/s"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(r["method"], str(r["images"]), f"{r['hole_mse']:.0f}", f"{r['psnr']:.2f}", f"{r['l2']:.4f}",
                      f"{r['ssim']:.4f}", f"{100 * r['maem']:.1f}",
                      f"{r['test_bits_per_dim']:.2f}" if "test_bits_per_dim" in r else "",
                      f"{r['train_img_per_s']:.0f}" if "train_img_per_s" in r else "")
    console.print(table)
    for k, v in speeds.items():
        console.print(f"training throughput, {k}, batch 64: {v:.0f} images/s")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                          "python": platform.python_version()},
              "minutes_per_model": args.minutes, "rows": rows, "throughput_img_per_s": speeds}
    (args.out / "inpainting.json").write_text(json.dumps(result, indent=2) + "\n")
    save_grid(list(grid.values()), args.out / "inpainting.png", labels=list(grid))
    console.print(f"wrote {args.out / 'inpainting.json'} and {args.out / 'inpainting.png'}")


if __name__ == "__main__":
    main()
