"""Benchmark of one training step of every model the project trains, against its floor, side by side in one run.

Rows: every builtin density model (its fast path and, beside it, its reference path: the original code that
`inpaintzoo.zoo.density.fast.reference_path()` selects), the benchmark's `l2` and `gan` context encoders
(benchmarks/bench_inpainting.py MODELS) and the defaults `strided + l2` and `resnet + vgg + wgan`. Each in fp32 and
bf16 (torch.autocast; AMX on a Sapphire Rapids CPU), the context encoders also channels-last. Per row:

- images/s of the engine's training step (`Trainer.fetch` of one batch from the stored uint8 images with its
  augmentation, then `Trainer.train_step`: mask, objective, EMA), the median over the repeats with their spread
  (lowest and highest);
- the FLOPs of the step's matrix products and convolutions (forward and backward, torch's FlopCounterMode) and
  its memory traffic (the bytes every ATen op of the step reads and writes, counted once per op: an upper
  bound, as if no operand stayed in cache);
- its floor at that precision: the larger of the FLOPs at the GEMM rate and the traffic at the memory
  bandwidth, both measured in the same run (a 2048^3 matmul in that dtype, a 256 MB copy), and the step's
  ratio to it;
- the engine's overhead against a hand-written minimal loop (same model, same batch, same optimiser, no
  logging: the same rows taken from the uint8 images and made float, the likelihood or the L2 reconstruction,
  backward, the optimiser's step) for the density models and
  the L2 encoders; the two are timed in alternation, the order changing every round (`--overhead-pairs`,
  9 pairs for the density rows: a single pair's ratio scatters by 5% and more), and the overhead is the median
  of the pairs' ratios. The L2 rows, whose overhead has a goal (<= 5%), take 31 rounds (`--l2-rounds`) of the
  engine, the minimal loop and a second minimal loop: the second against the first is an A/A control, the
  overhead this measurement reads where there is none (its resolution on that machine);
- for a row more than 3x its floor, a profile of one step (torch.profiler): the ops with the most self time and
  their share of the step, i.e. what bounds it.

The load average before and after each row is recorded: on a shared machine every wall-clock number is a lower
bound of what the code can do; the `cpu ms` column (the process's CPU time per step) is the step's own cost
whatever the load, with `--threads 1`. Run with OMP_WAIT_POLICY=passive (the script re-executes itself with it).

    python benchmarks/bench_training.py [--quick] [--repeats 5] [--batch 64] [--only pixelcnn,l2] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_common import ensure_passive_openmp, load_average
from bench_inpainting import MODELS
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from inpaintzoo.config import resolve_config
from inpaintzoo.data.augment import arrange_batch
from inpaintzoo.engine.precision import autocast, cpu_features
from inpaintzoo.engine.trainer import Trainer, to_float
from inpaintzoo.machine import describe_machine, machine_summary
from inpaintzoo.ops.backend import backend_name
from inpaintzoo.plugins import default_registry
from inpaintzoo.zoo.density.fast import reference_path

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"
DENSITY = ["pixelcnn", "gated-pixelcnn", "row-lstm", "diag-bilstm", "flat-lstm"]
CONTEXT: dict[str, list[str]] = {
    "l2": MODELS["l2"],
    "gan": MODELS["gan"],
    "strided + l2": ["encoder=strided", "loss=l2"],
    "resnet + vgg + wgan": ["encoder=resnet", "disc=vgg", "loss=wgan"],
}
#: rows whose minimal loop is the L2 reconstruction step (the adversarial objectives have no simple one)
MINIMAL_L2 = {"l2", "strided + l2"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], repeats: int, device: torch.device, warm_up: bool = True) -> dict[str, Any]:
    """Seconds per call: median, lowest, highest over `repeats` calls after one warm-up; beside the wall time,
    the process's CPU time (on a machine shared with other jobs it counts only the cycles this process got:
    with --threads 1 it is the step's own cost, whatever the load)."""
    if warm_up:
        fn()
        sync(device)
    samples, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "samples_s": samples,
        "cpu_median_s": statistics.median(cpu),
        "cpu_samples_s": cpu,
    }


def timed_alternating(
    fns: list[Callable[[], Any]], repeats: int, device: torch.device
) -> list[dict[str, Any]]:
    """`timed` for functions called in rounds, each round in the next of their orders (A B, B A, ...; for three,
    all six in turn), so that a drift of the machine's speed (another job, the clock) and any after-effect of
    the step before fall on all alike: their ratios are what the engine's overhead is read from."""
    samples: list[list[dict[str, Any]]] = [[] for _ in fns]
    for fn in fns:
        fn()
    sync(device)
    orders = list(itertools.permutations(range(len(fns))))
    for round_ in range(repeats):
        for i in orders[round_ % len(orders)]:
            samples[i].append(timed(fns[i], 1, device, warm_up=False))
    return [
        {
            "median_s": statistics.median(t["median_s"] for t in runs),
            "min_s": min(t["median_s"] for t in runs),
            "max_s": max(t["median_s"] for t in runs),
            "samples_s": [t["median_s"] for t in runs],
            "cpu_median_s": statistics.median(t["cpu_median_s"] for t in runs),
            "cpu_samples_s": [t["cpu_median_s"] for t in runs],
        }
        for runs in samples
    ]


def paired_overhead(engine: dict[str, Any], minimal: dict[str, Any]) -> float:
    """The engine's overhead: the median over the rounds of engine step / minimal step, minus one (a round's
    steps ran back to back, so a slow spell of the machine cancels in its ratio). Given a second minimal loop
    for `engine`, the same figure is the benchmark's A/A control: how far it reads from zero is its resolution."""
    return statistics.median(e / m for e, m in zip(engine["samples_s"], minimal["samples_s"], strict=True)) - 1.0


def gemm_rate(dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """FLOP/s of a 2048^3 matmul in `dtype`: the practical peak of dense math at that precision."""
    n = 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    t = timed(lambda: torch.mm(a, b, out=out), max(3, repeats), device)
    return 2 * n**3 / t["median_s"]


def bandwidth(device: torch.device, repeats: int) -> float:
    """Bytes/s of a 256 MB copy (read + write counted): what an elementwise pass over memory can get."""
    src = torch.empty(64 * 2**20, device=device).uniform_()
    dst = torch.empty_like(src)
    t = timed(lambda: dst.copy_(src), max(3, repeats), device)
    return 2 * src.numel() * src.element_size() / t["median_s"]


class TrafficCounter(TorchDispatchMode):
    """Sums the bytes of every tensor each ATen op reads or writes (each storage once per op)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        seen: set[int] = set()

        def count(x: Any) -> None:
            if isinstance(x, torch.Tensor) and x.device.type != "meta":
                key = x.untyped_storage().data_ptr() + x.storage_offset() * x.element_size()
                if key not in seen:
                    seen.add(key)
                    self.bytes += x.numel() * x.element_size()
            elif isinstance(x, (list, tuple)):
                for item in x:
                    count(item)

        if func.__name__.split(".")[0] not in ("view", "_unsafe_view", "as_strided", "t", "transpose", "permute",
                                               "expand", "slice", "select", "unsqueeze", "squeeze", "detach",
                                               "alias", "empty", "empty_like", "empty_strided"):
            count(args)
            count(kwargs.values() if kwargs else [])
            count(out)
        return out


def build_trainer(overrides: list[str], precision: str, channels_last: bool, batch: int, device: torch.device,
                  out: Path) -> Trainer:
    config = resolve_config(
        [
            *overrides,
            "data=samples",
            f"train.batch_size={batch}",
            f"train.precision={precision}",
            f"train.channels_last={str(channels_last).lower()}",
            f"train.device={device.type}",
            f"train.out={out}",
            "train.grid_every=0",
        ],
        default_registry(),
    )
    return Trainer(config, default_registry(), progress=False)


def batch_rows(trainer: Trainer, batch: int) -> torch.Tensor:
    """The training images one timed step takes (fixed, so every repeat moves the same bytes)."""
    return torch.arange(batch) % len(trainer.train_images)


def minimal_step(trainer: Trainer, rows: torch.Tensor, precision: str) -> Callable[[], None] | None:
    """The hand-written loop of one step of the trainer's model: the rows from the uint8 images as floats (in the
    model's layout), loss, backward, the engine's optimiser (a fresh one of the same kind and settings); None for
    adversarial rows."""
    model, device = trainer.model, trainer.device

    def fetch() -> torch.Tensor:
        return to_float(arrange_batch(trainer.train_images[rows], None, trainer.channels_last), device)

    engine_opt = trainer.optimizers["generator"]  # the same optimiser (fused where the engine's is), its own state
    opt = type(engine_opt)(model.parameters(), **engine_opt.defaults)
    if trainer.family.task == "density":

        def density() -> None:
            images = fetch()
            with autocast(device, precision):
                loss = model.nll(images).float().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return density
    mask = trainer.mask(len(rows), generator=torch.Generator().manual_seed(0)).to(device)

    def l2() -> None:
        images = fetch()
        with autocast(device, precision):
            loss = model.reconstruction_loss(model(images, mask), images, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return l2


#: rows further than this from their floor get a profile of what their time goes to
PROFILE_OVER = 3.0


def profile_step(step: Callable[[], None], top: int = 6) -> list[dict[str, Any]]:
    """The ops with the most self CPU time in one step, with their share of the step's self time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total, "calls": e.count}
        for e in events[:top]
    ]


def count_step(step: Callable[[], None]) -> tuple[float, float]:
    """FLOPs of the matrix products and convolutions of one step, and its memory traffic in bytes."""
    with FlopCounterMode(display=False) as flops, TrafficCounter() as traffic:
        step()
    return float(flops.get_total_flops()), float(traffic.bytes)


def bench_row(
    name: str,
    overrides: list[str],
    precision: str,
    channels_last: bool,
    reference: bool,
    args: argparse.Namespace,
    rates: dict[str, Any],
    device: torch.device,
    out: Path,
    once_beside: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row. With `once_beside` (the fast row of the same model, precision and batch) a reference step is timed
    once, without warm-up, minimal loop or counting: its FLOPs and traffic are the fast row's (the same arithmetic),
    for reference paths that take minutes a step."""
    load_before = load_average()
    torch.manual_seed(0)
    trainer = build_trainer(overrides, precision, channels_last, args.batch, device, out)
    rows = batch_rows(trainer, args.batch)

    def step() -> None:
        trainer.train_step(trainer.fetch(rows))

    path = reference_path(reference) if trainer.family.task == "density" else contextlib.nullcontext()
    gemm, bw = rates["gemm_flops"][precision], rates["bandwidth_bytes"]
    with path:
        if once_beside is not None:
            engine = timed(step, 1, device, warm_up=False)
            minimal, control, bound = None, None, None
            flops, traffic = once_beside["flops"], once_beside["traffic_bytes"]
            floor = max(flops / gemm, traffic / bw)
        else:
            density_or_l2 = trainer.family.task == "density" or name in MINIMAL_L2
            minimal_fn = minimal_step(trainer, rows, precision) if density_or_l2 else None
            control = None
            if minimal_fn is None:
                engine, minimal = timed(step, args.repeats, device), None
            elif trainer.family.task == "density":
                pairs = max(args.repeats, args.overhead_pairs)  # single pairs scatter by +-5% and more
                engine, minimal = timed_alternating([step, minimal_fn], pairs, device)
            else:  # the overhead goal's rows: more rounds, and a second minimal loop as the A/A control
                second = minimal_step(trainer, rows, precision)
                assert second is not None
                rounds = max(args.repeats, args.l2_rounds)
                engine, minimal, control = timed_alternating([step, minimal_fn, second], rounds, device)
            flops, traffic = count_step(step)
            floor = max(flops / gemm, traffic / bw)
            slow = engine["median_s"] / floor > PROFILE_OVER
            bound = profile_step(step) if slow else None
    row = {
        "model": name,
        "path": "reference" if reference else ("fast" if trainer.family.task == "density" else "engine"),
        "precision": precision,
        "channels_last": channels_last,
        "batch": args.batch,
        "step": engine,
        "images_per_s": args.batch / engine["median_s"],
        "flops": flops,
        "traffic_bytes": traffic,
        "floor_s": floor,
        "floor_bound": "gemm" if flops / gemm >= traffic / bw else "memory",
        "x_floor": engine["median_s"] / floor,
        "x_floor_cpu": engine["cpu_median_s"] / floor,
        "minimal": minimal,
        "engine_overhead": paired_overhead(engine, minimal) if minimal else None,
        "control": control,
        "aa_control": paired_overhead(control, minimal) if control and minimal else None,
        "profile": bound,
        "load_average": [load_before, load_average()],
    }
    print(format_row(row), flush=True)
    if bound:
        print("    bound by: " + ", ".join(f"{p['op']} {p['share']:.0%}" for p in bound), flush=True)
    return row


HEADER = (
    f"{'model':22}{'path':>10}{'prec':>6}{'NHWC':>5}{'img/s':>9}{'step ms':>10}{'spread ms':>16}{'cpu ms':>9}"
    f"{'GFLOP':>8}{'GB':>7}{'floor ms':>10}{'bound':>7}{'x floor':>8}{'overhead':>9}{'A/A':>7}{'load':>12}"
)


def format_row(row: dict[str, Any]) -> str:
    step = row["step"]
    spread = f"{step['min_s'] * 1e3:.0f}-{step['max_s'] * 1e3:.0f}"
    overhead = f"{row['engine_overhead'] * 100:+.1f}%" if row["engine_overhead"] is not None else "n/a"
    control = f"{row['aa_control'] * 100:+.1f}%" if row.get("aa_control") is not None else "n/a"
    load = f"{row['load_average'][0]:.1f}->{row['load_average'][1]:.1f}"
    return (
        f"{row['model']:22}{row['path']:>10}{row['precision']:>6}{'y' if row['channels_last'] else 'n':>5}"
        f"{row['images_per_s']:9.1f}{step['median_s'] * 1e3:10.1f}{spread:>16}{step['cpu_median_s'] * 1e3:9.1f}"
        f"{row['flops'] / 1e9:8.1f}"
        f"{row['traffic_bytes'] / 1e9:7.2f}{row['floor_s'] * 1e3:10.1f}{row['floor_bound']:>7}{row['x_floor']:8.2f}"
        f"{overhead:>9}{control:>7}{load:>12}"
    )


def speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Fast over reference path per density model and precision: the same batch in the same run."""
    out = {}
    for row in rows:
        if row["path"] != "fast":
            continue
        for ref in rows:
            same = (ref["model"], ref["precision"]) == (row["model"], row["precision"])
            if same and ref["path"] == "reference":
                out[f"{row['model']} {row['precision']}"] = ref["step"]["median_s"] / row["step"]["median_s"]
                out[f"{row['model']} {row['precision']} (CPU time)"] = (
                    ref["step"]["cpu_median_s"] / row["step"]["cpu_median_s"]
                )
            if row["precision"] != "fp32" and (ref["model"], ref["path"], ref["precision"]) == (
                row["model"], "reference", "fp32"
            ):  # the yardstick: the fast reduced-precision step against today's fp32 step
                out[f"{row['model']} {row['precision']} over reference fp32"] = (
                    ref["step"]["median_s"] / row["step"]["median_s"]
                )
    return out


def run_device(device: torch.device, args: argparse.Namespace, precisions: list[str]) -> dict[str, Any]:
    rates = {
        "gemm_flops": {p: gemm_rate(DTYPES[p], device, args.repeats) for p in precisions},
        "bandwidth_bytes": bandwidth(device, args.repeats),
    }
    print(
        f"\n{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}: "
        + ", ".join(f"{p} GEMM {r / 1e9:.0f} GFLOP/s" for p, r in rates["gemm_flops"].items())
        + f", copy bandwidth {rates['bandwidth_bytes'] / 1e9:.1f} GB/s, batch {args.batch}, "
        f"medians of {args.repeats} steps"
    )
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="bench-warm-up-") as tmp:  # the process's first steps run slow
        warm = build_trainer(["density=pixelcnn"], precisions[0], False, args.batch, device, Path(tmp))
        rows = batch_rows(warm, args.batch)
        for _ in range(3):
            warm.train_step(warm.fetch(rows))
        sync(device)
        del warm
    rows = []
    only = set(args.only.split(",")) if args.only else None
    skip_reference = set(args.skip_reference.split(",")) if args.skip_reference else set()
    reference_once = set(args.reference_once.split(",")) if args.reference_once else set()
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        for name in DENSITY:
            if only and name not in only:
                continue
            for precision in precisions:
                overrides = [f"density={name}"]
                timed_reference = name not in skip_reference and name not in reference_once
                if timed_reference:  # the reference first, as in every earlier table
                    rows.append(bench_row(name, overrides, precision, False, True, args, rates, device, Path(tmp)))
                fast = bench_row(name, overrides, precision, False, False, args, rates, device, Path(tmp))
                rows.append(fast)
                if name in reference_once and name not in skip_reference:
                    rows.append(bench_row(name, overrides, precision, False, True, args, rates, device, Path(tmp),
                                          once_beside=fast))
        for name, overrides in CONTEXT.items():
            if only and name not in only:
                continue
            for precision in precisions:
                for channels_last in (False, True):
                    rows.append(
                        bench_row(name, overrides, precision, channels_last, False, args, rates, device, Path(tmp))
                    )
    gains = speedups(rows)
    print("\nfast path over reference (same run): " + ", ".join(f"{k} {v:.2f}x" for k, v in gains.items()))
    return {
        "device": str(device),
        "name": torch.cuda.get_device_name(device) if device.type == "cuda" else describe_machine()["cpu"],
        "rates": rates,
        "rows": rows,
        "speedup_fast_over_reference": gains,
    }


def row_key(row: dict[str, Any]) -> str:
    return f"{row['model']} | {row['path']} | {row['precision']} | {'cl' if row['channels_last'] else 'nchw'}"


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def combine(paths: list[Path], out: Path, command: str) -> dict[str, Any]:
    """Several runs of the table (each its own JSON) as one: every run kept, and per row and per speed-up the
    median over the runs with the lowest and highest, so a goal is met only where every run meets it."""
    runs = [json.loads(p.read_text()) for p in paths]
    rows: dict[str, dict[str, list[float]]] = {}
    gains: dict[str, list[float]] = {}
    for run in runs:
        device = run["devices"][0]
        for row in device["rows"]:
            entry = rows.setdefault(
                row_key(row), {"images_per_s": [], "step_ms": [], "x_floor": [], "overhead": [], "aa_control": []}
            )
            entry["images_per_s"].append(row["images_per_s"])
            entry["step_ms"].append(row["step"]["median_s"] * 1e3)
            entry["x_floor"].append(row["x_floor"])
            if row["engine_overhead"] is not None:
                entry["overhead"].append(row["engine_overhead"])
            if row.get("aa_control") is not None:
                entry["aa_control"].append(row["aa_control"])
        for name, value in speedups(device["rows"]).items():  # recomputed: the same rule for old runs
            gains.setdefault(name, []).append(value)
    summary = {
        "runs": len(runs),
        "rows": {k: {m: spread(v) for m, v in entry.items() if v} for k, entry in rows.items()},
        "speedup_fast_over_reference": {k: spread(v) for k, v in gains.items()},
        "load_average": [[r["machine"]["load_before"][0], r["machine"]["load_after"][0]] for r in runs],
        "processor": [r["machine"].get("processor") for r in runs],  # each run's (None: recorded before it was)
        "rates": [r["devices"][0]["rates"] for r in runs],
    }
    result = {"command": command, "over_runs": summary, "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| model | path | precision | layout | img/s median [range] | step ms median [range] | x floor median [range]"
          " | engine overhead [range] | A/A control [range] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, entry in summary["rows"].items():
        cells = [f"{entry[m]['median']:.1f} [{entry[m]['min']:.1f}, {entry[m]['max']:.1f}]"
                 for m in ("images_per_s", "step_ms", "x_floor")]
        for figure in (entry.get("overhead"), entry.get("aa_control")):
            cells.append(f"{figure['median']:+.1%} [{figure['min']:+.1%}, {figure['max']:+.1%}]" if figure else "n/a")
        print("| " + key + " | " + " | ".join(cells) + " |")
    for name, value in summary["speedup_fast_over_reference"].items():
        print(f"{name}: {value['median']:.2f}x [{value['min']:.2f}, {value['max']:.2f}]")
    print(f"wrote {out}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: batch 16, 3 repeats")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per row (median, spread)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--overhead-pairs", type=int, default=9,
                        help="alternated engine/minimal pairs for the density rows (at least --repeats)")
    parser.add_argument("--l2-rounds", type=int, default=31,
                        help="rounds of engine, minimal loop and a second minimal loop (the A/A control) for the "
                        "L2 rows, whose overhead has a goal (at least --repeats)")
    parser.add_argument(
        "--reference-once",
        default="",
        help="density models whose reference step is timed once (no warm-up, minimal loop or counting)",
    )
    parser.add_argument(
        "--skip-reference",
        default="",
        help="density models whose reference path is not timed (diag-bilstm's and flat-lstm's take minutes a step "
        "at batch 64: time them once at a small --batch instead)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (the CPU, and CUDA where present)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--combine", nargs="+", type=Path, metavar="RUN_JSON",
                        help="merge these runs' JSON into --out (medians and ranges over the runs); measure nothing")
    parser.add_argument("--command", default="", help="with --combine: the command the runs were made with")
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.out, args.command)
        return
    ensure_passive_openmp()
    if args.quick:
        args.repeats, args.batch, args.overhead_pairs, args.l2_rounds = min(args.repeats, 3), min(args.batch, 16), 3, 3
    args.repeats = max(3, args.repeats)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    result: dict[str, Any] = {
        "machine": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "kernels": backend_name(),
            "cpu_features": cpu_features(),
            "processor": describe_machine(),  # model name, AVX-512 / AVX512-BF16 / AMX, threads, load
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
            "load_before": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
        "batch": args.batch,
        "skip_reference": [n for n in args.skip_reference.split(",") if n],
        "reference_once": [n for n in args.reference_once.split(",") if n],
        "repeats": args.repeats,
        "devices": [],
    }
    print(machine_summary(result["machine"]["processor"]))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, kernels {backend_name()}, "
        f"CPU {', '.join(k for k, v in cpu_features().items() if v) or 'no AMX/AVX-512'}, "
        f"load average {result['machine']['load_before']}"
    )
    for device in devices:
        precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
        result["devices"].append(run_device(device, args, precisions))
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average {result['machine']['load_before']} -> {result['machine']['load_after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
