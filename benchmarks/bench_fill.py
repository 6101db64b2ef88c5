"""Inpainting speed of the density models: seconds per image to fill the central 8x8 hole of 32x32 images.

For every model at its default size: the naive fill (a full forward pass per sub-pixel) against the fast
one (a window, cached state or carried recurrent state), at batch 1 and 64; for pixelcnn also the
compiled `pixelcnn_fill` op when the extension is built. The naive fill costs the same for every pixel,
so by default it is timed on the hole's first pixels and scaled to the whole hole (`--naive-pixels 0`
times it in full). Untrained weights: the cost does not depend on them.

The `posterior-mean` decoding mode is timed too, at K = 16 and 64 samples (`--posterior-k`) and batch
`--posterior-batch` (1: its K samples already make one batch): K fast sampled fills plus one forward
pass of the K completed images, which is most of its cost.

    python benchmarks/bench_fill.py [--batches 1 64] [--models pixelcnn row-lstm] [--threads 1]

Prints a table and writes benchmarks/results/fill.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from inpaintzoo.ops.backend import extension_op
from inpaintzoo.ops.pixelcnn_fill import decode_subpixel, pixelcnn_fill, pixelcnn_fill_torch
from inpaintzoo.plugins import load_registry
from inpaintzoo.zoo.density.base import Decoder, DensityModel

SIZE, HOLE = 32, 8
MODELS = ("pixelcnn", "gated-pixelcnn", "row-lstm", "diag-bilstm", "flat-lstm")
RESULTS = Path(__file__).resolve().parent / "results" / "fill.json"


def central_hole(batch: int, pixels: int = 0) -> torch.Tensor:
    """`(B, H, W)` bool: the central 8x8 hole, or only its first `pixels` pixels in raster order."""
    holes = torch.zeros(batch, SIZE, SIZE, dtype=torch.bool)
    top = (SIZE - HOLE) // 2
    holes[:, top : top + HOLE, top : top + HOLE] = True
    if pixels:
        keep = torch.zeros(HOLE * HOLE, dtype=torch.bool)
        keep[:pixels] = True
        holes[:, top : top + HOLE, top : top + HOLE] = keep.view(HOLE, HOLE)
    return holes


def seconds(run: Callable[[], torch.Tensor], repeats: int) -> float:
    """Best of `repeats` wall-clock runs (the CPU is shared: the minimum is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def methods(model: DensityModel, name: str, images: torch.Tensor, naive_pixels: int):
    """(method label, fill function, factor to scale its time to the whole hole): greedy fills."""
    batch = images.shape[0]
    full = central_hole(batch)
    partial = central_hole(batch, naive_pixels) if naive_pixels else full
    scale = HOLE * HOLE / naive_pixels if naive_pixels else 1.0
    greedy = Decoder("greedy")
    rows = [("naive", lambda: model.fill_naive(images, partial, greedy), scale)]
    if name == "pixelcnn":
        weights = model.fill_weights()

        def torch_fill() -> torch.Tensor:
            return pixelcnn_fill_torch(images, full, weights, model.negative_slope, lambda z: decode_subpixel(z))

        rows.append(("fast (torch)", torch_fill, 1.0))
        if extension_op("pixelcnn_fill") is not None:
            rows.append(("fast (extension)", lambda: pixelcnn_fill(images, full, weights), 1.0))
    else:
        rows.append(("fast", lambda: model.fill_fast(images, full, greedy), 1.0))
    return rows


def posterior_methods(model: DensityModel, images: torch.Tensor, ks: list[int]):
    """(label, fill function, 1.0) of the posterior-mean fill at each K, through `fill`'s fast path."""
    full = central_hole(images.shape[0])

    def row(k: int):
        return (f"posterior-mean k={k}", lambda: model.fill(images, full, mode="posterior-mean", k=k), 1.0)

    return [row(k) for k in ks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--repeats", type=int, default=2, help="runs per fast measurement (best kept)")
    parser.add_argument("--naive-pixels", type=int, default=2, help="hole pixels the naive fill is timed on (0: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny sequential ops: 1 is best)")
    parser.add_argument("--posterior-k", nargs="*", type=int, default=[16, 64], help="posterior-mean's K (none: skip)")
    parser.add_argument("--posterior-batch", type=int, default=1, help="images per posterior-mean call")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry()
    results = []
    print(f"{'model':<16}{'method':<22}{'batch':>6}{'s/image':>12}{'speed-up':>10}")
    for name in args.models:
        torch.manual_seed(0)
        model = registry.build("density", name, image_size=SIZE).eval()
        batches = sorted({*args.batches, *([args.posterior_batch] if args.posterior_k else [])})
        for batch in batches:
            images = torch.randint(0, 256, (batch, 3, SIZE, SIZE)).float() / 255
            naive_time = None
            rows = methods(model, name, images, args.naive_pixels) if batch in args.batches else []
            if batch == args.posterior_batch:
                rows += posterior_methods(model, images, args.posterior_k)
            for label, run, scale in rows:
                with torch.no_grad():
                    run()  # warm-up (allocations, lazy init); not timed
                    took = seconds(run, 1 if label == "naive" else args.repeats) * scale
                per_image = took / batch
                naive_time = per_image if label == "naive" else naive_time
                speedup = naive_time / per_image if naive_time else 1.0
                print(f"{name:<16}{label:<22}{batch:>6}{per_image:>12.4f}{speedup:>9.1f}x", flush=True)
                results.append(
                    {
                        "model": name,
                        "method": label,
                        "mode": "posterior-mean" if label.startswith("posterior-mean") else "greedy",
                        "batch": batch,
                        "seconds_per_image": per_image,
                        "speedup_vs_naive": speedup,
                        "extrapolated_from_pixels": args.naive_pixels if label == "naive" and scale != 1.0 else None,
                    }
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "image_size": SIZE,
        "hole": HOLE,
        "mode": "greedy, and posterior-mean where a row says so",
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    args.out.write_text(json.dumps({"settings": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
