"""Three parts of a training step timed alone, in CPU time on one thread: the fetch, Adam's step, the EMA update.

- the fetch of a batch of 64 CIFAR-sized images with the mirror-and-shift moves: the path before the moves
  joined the fetch (floats first, then the moves, then the layout), the engine's now (the moves and the layout on
  the stored uint8 images, `arrange_batch`), and a plain fetch without moves; NCHW and channels-last;
- one Adam step over the `l2` generator's parameters: torch's for-loop, foreach and fused kernels;
- one update of the engine's moving average (EMA) of the same parameters, work the minimal loop does not do.

Each run times every part (the median of many calls); the table gives the median over `--runs` runs with the
lowest and highest, and the load average before and after. Writes results/step_parts.json.

    python benchmarks/bench_step_parts.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from bench_training import CONTEXT, build_trainer

from inpaintzoo.data.augment import FlipShift, arrange_batch, move_pixels
from inpaintzoo.engine.ema import EMA

RESULTS = Path(__file__).resolve().parent / "results" / "step_parts.json"


def cpu_ms(fn: Callable[[], object], calls: int) -> float:
    """Milliseconds of process CPU time per call, after one warm-up call."""
    fn()
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e3


def parts() -> dict[str, Callable[[], object]]:
    stored = torch.randint(0, 256, (5000, 3, 32, 32), dtype=torch.uint8)
    rows = torch.randperm(5000, generator=torch.Generator().manual_seed(0))[:64]
    moves = FlipShift(32, 32, flip=True, pixels=2)
    g = torch.Generator().manual_seed(1)
    out: dict[str, Callable[[], object]] = {}
    for cl in (False, True):
        layout = " channels-last" if cl else ""

        def before(cl: bool = cl) -> torch.Tensor:
            x = move_pixels(stored[rows].float().div_(255), moves.draw(64, g))
            return x.contiguous(memory_format=torch.channels_last) if cl else x

        out[f"fetch, floats then moves{layout}"] = before
        def now(cl: bool = cl, moved: bool = True) -> torch.Tensor:
            index = moves.draw(64, g) if moved else None
            return arrange_batch(stored[rows], index, cl).float().div_(255)

        out[f"fetch, moves on uint8{layout}"] = now
        out[f"fetch, no moves{layout}"] = lambda cl=cl: now(cl, moved=False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(CONTEXT["l2"], "fp32", False, 64, torch.device("cpu"), Path(tmp))
    params = list(trainer.model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    for name, flags in (("for-loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        out[f"Adam step, {name} ({len(params)} tensors)"] = torch.optim.Adam(params, lr=1e-4, **flags).step
    ema = EMA(trainer.model, 0.999)  # the engine's moving average, updated after every step
    out[f"EMA update ({len(params)} tensors)"] = lambda: ema.update(trainer.model)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    for _ in range(args.runs):
        load_before = os.getloadavg()[0]
        timed = {name: cpu_ms(fn, 200 if name.startswith("fetch") else 50) for name, fn in parts().items()}
        runs.append({"ms": timed, "load_average": [load_before, os.getloadavg()[0]]})
    names = list(runs[0]["ms"])
    summary = {n: {"median": statistics.median(r["ms"][n] for r in runs), "min": min(r["ms"][n] for r in runs),
                   "max": max(r["ms"][n] for r in runs)} for n in names}
    print(f"{'part':44}{'ms median':>11}  [lowest, highest] over {args.runs} runs")
    for n, s in summary.items():
        print(f"{n:44}{s['median']:11.3f}  [{s['min']:.3f}, {s['max']:.3f}]")
    print("load average: " + ", ".join(f"{a:.2f}->{b:.2f}" for a, b in (r["load_average"] for r in runs)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "summary": summary, "torch": torch.__version__}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
