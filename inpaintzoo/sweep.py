"""`inpaintzoo train -m`: Hydra's comma lists expanded into one run per combination, and a summary.

`train -m encoder=strided,resnet train.lr=1e-3,3e-4` runs the four combinations (the last key varies
fastest, as in Hydra's basic sweeper), each in its own run directory under one sweep directory
(`train.out/train.name`, or `train.out/sweep-<timestamp>`), one after another in this process or
`jobs` at a time as subprocesses. A combination that fails (a bad value, a diverging run, a crash)
is recorded with its error and the sweep goes on. `sweep.json` in the sweep directory holds each
run's overrides, status, error and final validation metrics.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inpaintzoo.config import parse_overrides, resolve_config
from inpaintzoo.errors import InpaintzooError, RunDirError, UsageError
from inpaintzoo.registry import Registry

SUMMARY_FILE = "sweep.json"
#: the validation metrics the summary table shows first, when a run logged them
TABLE_METRICS = ("val_hole_mse", "val_psnr", "val_l2", "val_bits_per_dim")
_PAIRS = {"[": "]", "(": ")", "{": "}"}


def split_choices(value: str) -> list[str]:
    """Split a value on top-level commas: `a,b` -> [a, b]; `[1,2],[3]` -> [[1,2], [3]]; quotes protect."""
    parts, depth, quote, current = [], [], "", ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _PAIRS:
            depth.append(_PAIRS[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        elif ch == "," and not depth:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def expand(overrides: Sequence[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(fixed overrides, [(key, choices)] of the swept ones), in the order given."""
    fixed, swept = [], []
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"override {item!r} is not KEY=VALUE (e.g. encoder=resnet or train.lr=1e-3,3e-4)")
        key, value = item.split("=", 1)
        choices = split_choices(value)
        if len(choices) == 1:
            fixed.append(item)
            continue
        if key.strip() in ("train.out", "train.name"):
            raise UsageError(f"{key} cannot be swept: it names the sweep directory, and each run is named for you")
        if len(set(choices)) != len(choices):
            raise UsageError(f"{key}={value} lists a value twice")
        swept.append((key.strip(), choices))
    return fixed, swept


def combinations(overrides: Sequence[str]) -> list[list[str]]:
    """Every combination of the swept values, each as the overrides that pick it."""
    _, swept = expand(overrides)
    return [
        [f"{k}={v}" for k, v in zip((k for k, _ in swept), values)]
        for values in itertools.product(*(choices for _, choices in swept))
    ]


def sweep_configs(overrides: Sequence[str], registry: Registry) -> list[dict[str, Any]]:
    """The resolved config of every combination (`train -m --print-config`), nothing trained."""
    fixed, _ = expand(overrides)
    return [resolve_config([*fixed, *combo], registry) for combo in combinations(overrides)]


def slug(combination: Sequence[str]) -> str:
    """A directory-name-safe label of a combination: `encoder=resnet train.lr=1e-3` -> `encoder=resnet_lr=1e-3`."""
    words = []
    for item in combination:
        key, value = item.split("=", 1)
        words.append(f"{key.rsplit('.', 1)[-1]}={value}")
    text = re.sub(r"[^A-Za-z0-9=._+-]+", "-", "_".join(words))  # no commas: a path may be swept over
    return text[:80] or "run"


@dataclass
class SweepRun:
    """One combination: what it set, where it ran, how it ended and its final validation metrics."""

    index: int
    overrides: list[str]
    run_dir: str
    status: str = "pending"  # ok, failed, stopped (a signal), not-run (the sweep was stopped before it)
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Sweep:
    """A planned or finished sweep."""

    sweep_dir: Path
    fixed: list[str]
    swept: list[str]
    runs: list[SweepRun]

    @property
    def failed(self) -> list[SweepRun]:
        return [r for r in self.runs if r.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_dir": str(self.sweep_dir),
            "fixed": self.fixed,
            "swept": self.swept,
            "runs": [asdict(r) for r in self.runs],
        }

    def save(self) -> Path:
        path = self.sweep_dir / SUMMARY_FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def table_metrics(self) -> list[str]:
        """The metric columns of the summary table: the preferred ones that some run logged."""
        present = {k for r in self.runs for k in r.metrics}
        return [k for k in TABLE_METRICS if k in present]


def final_metrics(run_dir: Path) -> dict[str, float]:
    """The last epoch record's validation metrics (and its epoch and step) from metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    last: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "epoch":
            last = record
    return {k: v for k, v in last.items() if k.startswith("val_") or k in ("epoch", "step")}


def plan(overrides: Sequence[str], overwrite: bool = False) -> Sweep:
    """The sweep directory and one SweepRun per combination (nothing is created yet)."""
    fixed, swept = expand(overrides)
    settings = {key: raw for group, key, raw in parse_overrides(fixed) if group == "train" and key in ("out", "name")}
    sweep_dir = Path(settings.get("out") or "runs") / (settings.get("name") or time.strftime("sweep-%Y%m%d-%H%M%S"))
    if sweep_dir.exists() and any(sweep_dir.iterdir()) and not overwrite:
        raise RunDirError(f"sweep directory {sweep_dir} already exists: choose another train.name, or pass --overwrite")
    fixed = [o for o in fixed if o.split("=", 1)[0].strip() not in ("train.out", "train.name")]
    runs = [
        SweepRun(i, combo, str(sweep_dir / f"{i:03d}-{slug(combo)}")) for i, combo in enumerate(combinations(overrides))
    ]
    return Sweep(sweep_dir, fixed, [k for k, _ in swept], runs)


def run_overrides(sweep: Sweep, run: SweepRun) -> list[str]:
    """The overrides that train one combination into its own directory."""
    path = Path(run.run_dir)
    return [*sweep.fixed, *run.overrides, f"train.out={path.parent}", f"train.name={path.name}"]


def _in_process(sweep: Sweep, run: SweepRun, registry: Registry, overwrite: bool, progress: bool) -> None:
    from inpaintzoo.engine.trainer import Trainer

    trainer = Trainer(resolve_config(run_overrides(sweep, run), registry), registry, progress=progress)
    trainer.overwrite = overwrite
    trainer.fit()
    if trainer.stop_signal is not None:
        run.status, run.error = "stopped", f"stopped by signal {trainer.stop_signal} at step {trainer.step}"


def _subprocess(sweep: Sweep, run: SweepRun, overwrite: bool, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "inpaintzoo", "train", *run_overrides(sweep, run), "--no-progress"]
    if overwrite:
        command.append("--overwrite")
    log = sweep.sweep_dir / f"{Path(run.run_dir).name}.log"
    with open(log, "w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if code != 0:
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        last = (errors or lines or [f"exit status {code}"])[-1]
        raise InpaintzooError(f"{last.removeprefix('error:').strip()} (exit status {code}; log: {log})")


def run_sweep(
    overrides: Sequence[str],
    registry: Registry,
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = False,
    disabled: Sequence[str] = (),
    on_event: Callable[[SweepRun], None] | None = None,
) -> Sweep:
    """Train every combination; returns the sweep with each run's status and metrics (also in sweep.json).

    `jobs=1` trains in this process, one run after another; `jobs>1` runs that many `inpaintzoo train`
    subprocesses at a time (each with `cpu_count // jobs` threads unless OMP_NUM_THREADS is set).
    `on_event` is called when a run starts (status `running`) and when it ends.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    sweep = plan(overrides, overwrite=overwrite)
    sweep.sweep_dir.mkdir(parents=True, exist_ok=True)
    notify = on_event or (lambda run: None)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    if disabled:
        env["INPAINTZOO_DISABLE_PLUGINS"] = ",".join([*disabled, env.get("INPAINTZOO_DISABLE_PLUGINS", "")])
    stopped = False

    def one(run: SweepRun) -> None:
        if stopped:
            run.status = "not-run"
            return
        run.status = "running"
        notify(run)
        try:
            if jobs == 1:
                _in_process(sweep, run, registry, overwrite, progress)
            else:
                _subprocess(sweep, run, overwrite, env)
            if run.status == "running":
                run.status = "ok"
        except InpaintzooError as exc:
            run.status, run.error = "failed", str(exc)
        except Exception as exc:  # a crash in one combination must not end the sweep
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        run.metrics = final_metrics(Path(run.run_dir))
        notify(run)

    if jobs == 1:
        for run in sweep.runs:
            one(run)
            stopped = stopped or run.status == "stopped"
            sweep.save()
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, sweep.runs))
    sweep.save()
    return sweep
