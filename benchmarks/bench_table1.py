"""The study's Table 1, side by side: its own configurations trained here at one equal budget, then scored.

Rows are the study's models as its configurations describe them, at this project's default optimiser settings
(no weight averaging, which the study did not use): the L2 context encoder ("L2 CNN": the `cnn` encoder with its
512-wide bottleneck, the `deconv` decoder, the overlap band weighted x20), the VGG-like WGAN, the PixelCNN and
the Row LSTM. Every row trains for the same wall-clock budget on the 50,000 CIFAR-10 training images, one thread
each, `--jobs` at a time, and is scored on the 1,000 test images with the centre 8x8 hole (density rows in each
decoding mode of `--modes`, with test bits/dim). The study reports its L2 on an unstated scale, so the table
compares orderings and ratios, not values; the study's numbers this project has are PixelCNN 6.98 and L2 CNN
7.49 (PixelCNN better, ratio 0.93).

    python benchmarks/bench_table1.py --minutes 10 [--jobs 2] [--rows l2-cnn,pixelcnn] [--train-only|--score-only]
    python benchmarks/bench_table1.py --minutes 10 --rows wgan-vgg --score-only --merge   # add one row

The density rows can come from the zoo's own trainings instead: `train_zoo.py NAME --snapshot-at 10
--snapshot-to runs/table1/NAME` keeps the run after 10 minutes, and `--score-only` scores it here.

Writes benchmarks/results/table1.json (and prints the table); run directories go under --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_common import RESULTS, cv2_fill, ensure_passive_openmp, load_average, score
from bench_inpainting import DENSITY_MODES, evaluate_model

#: the study's rows: name -> (label, overrides)
ROWS: dict[str, tuple[str, list[str]]] = {
    "l2-cnn": ("L2 CNN", ["encoder=cnn", "decoder=deconv", "loss=l2", "model.overlap=4", "model.overlap_weight=20"]),
    "wgan-vgg": ("WGAN (VGG-like)", ["encoder=vgg", "decoder=deconv", "disc=vgg", "loss=wgan"]),
    "pixelcnn": ("PixelCNN", ["density=pixelcnn"]),
    "row-lstm": ("Row LSTM", ["density=row-lstm"]),
}
#: the study's Table 1 values this project has (its L2, unstated scale)
STUDY = {"l2-cnn": 7.49, "pixelcnn": 6.98}
#: what every row shares: the data, the held-out slice validation picks checkpoints on, no EMA
COMMON = ["data=cifar10", "train.epochs=1000", "train.val_fraction=0.02", "train.grid_every=0", "train.ema=0"]


def train_rows(names: list[str], minutes: float, runs: Path, jobs: int) -> None:
    """`inpaintzoo train` for each row, `jobs` at a time, one thread each; logs beside the run directories."""
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}
    waiting, running = list(names), []
    while waiting or running:
        while waiting and len(running) < jobs:
            name = waiting.pop(0)
            overrides = [*ROWS[name][1], *COMMON, f"train.max_minutes={minutes}", f"train.out={runs}",
                         f"train.name={name}"]
            cmd = [sys.executable, "-m", "inpaintzoo", "train", "--overwrite", "--no-progress", *overrides]
            log = (runs / f"{name}.log").open("w")
            print(f"training {name}: {' '.join(overrides)}", flush=True)
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(2)
        for item in list(running):
            name, proc, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                if proc.returncode:
                    raise SystemExit(f"training {name} failed (exit {proc.returncode}): see {runs / f'{name}.log'}")
                print(f"trained {name}", flush=True)


def run_info(run_dir: Path, minutes: float) -> dict[str, Any]:
    """What the run's metrics say it bought: steps, images seen, epochs."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    config = json.loads((run_dir / "config.json").read_text())
    steps = max((r.get("step", 0) for r in records), default=0)
    batch = config["train"]["batch_size"]
    adversarial = (config.get("disc") or {}).get("name") is not None
    return {
        "run_dir": str(run_dir),
        "checkpoint": "last" if adversarial else "best",  # best.pt is the better of the epochs and the stop
        "train_minutes": minutes,
        "steps": steps,
        "images_seen": steps * batch,
        "epochs": steps * batch / (50_000 * (1 - config["train"]["val_fraction"])),
    }


def main() -> None:
    ensure_passive_openmp()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of " + ",".join(ROWS))
    parser.add_argument("--minutes", type=float, default=15.0, help="the equal training budget of every row")
    parser.add_argument("--jobs", type=int, default=2, help="rows trained at a time (one thread each)")
    parser.add_argument("--runs", type=Path, default=Path("runs/table1"), help="where the trained runs go")
    parser.add_argument("--score-only", action="store_true", help="score the run directories already under --runs")
    parser.add_argument("--train-only", action="store_true", help="train the rows, score nothing")
    parser.add_argument("--modes", default=",".join(DENSITY_MODES), help="density decoding modes to score")
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--k", type=int, default=4, help="candidates for best-of-k")
    parser.add_argument("--posterior-k", type=int, default=16)
    parser.add_argument("--posterior-tau", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=RESULTS / "table1.json")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other rows already in --out (scored before at the same budget)")
    args = parser.parse_args()
    names = [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"unknown row {unknown[0]!r}: choose from {', '.join(ROWS)}")
    modes = tuple(m for m in args.modes.split(",") if m)
    if not args.score_only:
        train_rows(names, args.minutes, args.runs, args.jobs)
    if args.train_only:
        return

    import torch

    from inpaintzoo.data.cifar10 import cifar10
    from inpaintzoo.data.masks import CenterMask, fill_hole

    truth = cifar10("test").images[: args.test_limit].float() / 255
    mask = CenterMask(32, 8)(len(truth))
    args.density_limit = len(truth)
    rows: list[dict[str, Any]] = []
    baselines = {"mean colour": fill_hole(truth, mask, "mean"), "opencv telea": cv2_fill(truth, mask, "telea")}
    for label, pred in baselines.items():
        rows.append({"row": label, "label": label, "images": len(truth), **score(pred, truth, mask)})
    if args.merge and args.out.is_file():
        kept = json.loads(args.out.read_text())
        if kept["minutes_per_row"] != args.minutes:
            raise SystemExit(f"{args.out} holds rows trained {kept['minutes_per_row']} minutes each, not "
                             f"{args.minutes}: merge only rows of one budget")
        rows += [r for r in kept["rows"] if r["row"] in ROWS and r["row"] not in names]
    for name in names:
        run_dir = args.runs / name
        info = run_info(run_dir, args.minutes)
        load_before = load_average()
        for row, _ in evaluate_model(name, run_dir, info, truth, mask, args, modes=modes):
            rows.append({"row": name, "label": ROWS[name][0], "study_l2": STUDY.get(name), **row,
                         "load_average": [load_before, load_average()]})
            print(f"{row['method']}: hole MSE {row['hole_mse']:.0f}, study L2 {row['l2']:.4f}", flush=True)
    order_of = {name: i for i, name in enumerate(ROWS)}
    rows.sort(key=lambda r: order_of.get(r["row"], -1))  # baselines first, then the study's order (stable)
    best = {}
    for r in rows:
        if r["row"] in ROWS and (r["row"] not in best or r["hole_mse"] < best[r["row"]]["hole_mse"]):
            best[r["row"]] = r
    order = sorted(best, key=lambda n: best[n]["hole_mse"])
    study_order = sorted(STUDY, key=STUDY.get)
    result = {
        "minutes_per_row": args.minutes,
        "threads_per_row": 1,
        "torch": torch.__version__,
        "rows": rows,
        "ordering_here": order,
        "ordering_study": study_order,
        "ratios_here": {f"{a}/{b}": best[a]["l2"] / best[b]["l2"] for a in STUDY for b in STUDY if a < b and
                        a in best and b in best},
        "ratios_study": {f"{a}/{b}": STUDY[a] / STUDY[b] for a in STUDY for b in STUDY if a < b},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'row':28}{'hole MSE':>10}{'study L2':>10}{'bits/dim':>10}{'images seen':>13}{'study':>8}")
    for r in rows:
        bpd = f"{r['test_bits_per_dim']:.3f}" if "test_bits_per_dim" in r else ""
        seen = f"{r['images_seen']:,}" if "images_seen" in r else ""
        study = f"{r['study_l2']:.2f}" if r.get("study_l2") else ""
        print(f"{r.get('method', r['label']):28}{r['hole_mse']:10.0f}{r['l2']:10.4f}{bpd:>10}{seen:>13}{study:>8}")
    print(f"\nordering here (best mode of each row): {' < '.join(order)}; the study's: {' < '.join(study_order)}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
