"""Free-form holes on CIFAR-10's test images: models that serve any mask against classical fills.

Every method fills the same 1,000 test images under the same seeded masks, from two families:
`brush` (the builtin BrushMask: three 3 px strokes a 32x32 image) and `freeform` (FreeformMask: brush
strokes of 1-5 px, random rectangles of 2-16 px, or both). Baselines: the mean colour of the context and
OpenCV's Telea and Navier-Stokes (`cv2.inpaint`, radius 3). Models: run directories (`--run DIR`) or
pretrained entries (`--model NAME`); only models that can serve a free-form mask take part.

    python benchmarks/bench_freeform.py --model unet.freeform
    python benchmarks/bench_freeform.py --run runs/freeform --label "freeform (run)"

Writes benchmarks/results/freeform.json and freeform.png (a row per method on the first 10 images of
each mask family).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from bench_common import RESULTS, cv2_fill, ensure_passive_openmp, load_average, score
from rich.console import Console
from rich.table import Table

from inpaintzoo.data.masks import BrushMask, FreeformMask, fill_hole
from inpaintzoo.viz import save_grid

PREVIEW = 10
SEED = 2024  # the masks' seed: the same holes for every method
MASKS = {"brush": BrushMask(32), "freeform": FreeformMask(32)}


def load_model(spec: str, kind: str) -> Any:
    import inpaintzoo

    return inpaintzoo.pretrained(spec, device="cpu") if kind == "model" else inpaintzoo.load_run(spec, device="cpu")


def fill(run: Any, truth: torch.Tensor, mask: torch.Tensor, batch: int = 100) -> torch.Tensor:
    return torch.cat([run.inpaint(truth[i : i + batch], mask[i : i + batch]) for i in range(0, len(truth), batch)])


def main() -> None:
    ensure_passive_openmp()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="a pretrained entry (repeatable)")
    parser.add_argument("--run", action="append", default=[], help="a run directory (repeatable)")
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from inpaintzoo.data.cifar10 import cifar10, find_cifar10_root

    if find_cifar10_root() is None:
        raise SystemExit("CIFAR-10 not found: set INPAINTZOO_DATA to a cifar-10-batches-py folder")
    truth = cifar10("test").images[: args.test_limit].float() / 255
    models = [(m, load_model(m, "model")) for m in args.model]
    models += [(Path(r).name, load_model(r, "run")) for r in args.run]
    rows: list[dict[str, Any]] = []
    console = Console(width=None if sys.stdout.isatty() else 160)
    for family, generator in MASKS.items():
        mask = generator(len(truth), torch.Generator().manual_seed(SEED))
        preds = {
            "mean colour": fill_hole(truth, mask, "mean"),
            "opencv telea": cv2_fill(truth, mask, "telea"),
            "opencv navier-stokes": cv2_fill(truth, mask, "navier-stokes"),
        }
        seconds = {}
        for name, run in models:
            started = time.perf_counter()
            preds[name] = fill(run, truth, mask)
            seconds[name] = time.perf_counter() - started
        for name, pred in preds.items():
            row = {"masks": family, "method": name, "images": len(truth), **score(pred, truth, mask)}
            row["hole_fraction"] = mask.float().mean().item()
            if name in seconds:
                row["fill_ms_per_image"] = 1000 * seconds[name] / len(truth)
            rows.append(row)
        context = torch.where(mask[:PREVIEW], torch.ones_like(truth[:PREVIEW]), truth[:PREVIEW])
        save_grid(
            [context, *(p[:PREVIEW] for p in preds.values()), truth[:PREVIEW]],
            args.out / f"freeform_{family}.png",
            labels=["context", *preds, "truth"],
        )
    telea = {r["masks"]: r["hole_mse"] for r in rows if r["method"] == "opencv telea"}
    for r in rows:
        r["vs_telea"] = r["hole_mse"] / telea[r["masks"]]
    table = Table(title="free-form holes, CIFAR-10 test")
    for col in ("masks", "method", "hole MSE", "x Telea", "PSNR dB", "SSIM", "MAEM %", "sharpness", "ms/image"):
        table.add_column(col, justify="left" if col in ("masks", "method") else "right")
    for r in rows:
        table.add_row(
            r["masks"],
            r["method"],
            f"{r['hole_mse']:.0f}",
            f"{r['vs_telea']:.2f}",
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.4f}",
            f"{100 * r['maem']:.1f}",
            f"{r['sharpness']:.2f}",
            f"{r['fill_ms_per_image']:.2f}" if "fill_ms_per_image" in r else "",
        )
    console.print(table)
    out = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "load_average": load_average()},
        "seed": SEED,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "freeform.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
