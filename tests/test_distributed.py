"""torchrun with 2 CPU processes (gloo on loopback) trains the same weights as one process, to the tolerance
the float32 arithmetic of each optimiser allows on any IEEE machine (the reduction order differs by processor)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from ddp_probe import probe
from helpers import TINY_JOBS, TINY_MODEL, assert_same

from inpaintzoo.engine.checkpoint import load_checkpoint
from inpaintzoo.engine.trainer import train

# no batch norm and no dropout: per-process batch statistics and dropout masks would differ by design
COMMON = [
    *TINY_MODEL,
    "encoder.batch_norm=false",
    "encoder.dropout=0",
    "decoder.batch_norm=false",
    "train.limit=160",
    "train.val_fraction=0.2",
    "train.grid_every=0",
]


EPS = torch.finfo(torch.float32).eps
PROBE = Path(__file__).with_name("ddp_probe.py")


def torchrun_train(*overrides: str, probe_with: tuple[str, Path] | None = None) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node=2 -m inpaintzoo train ...` on loopback, one thread per process; with `probe_with`
    (optimiser, gradients file), through tests/ddp_probe.py."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [str(PROBE), probe_with[0], str(probe_with[1])] if probe_with else ["-m", "inpaintzoo"]
    return subprocess.run(
        [*command, "train", *overrides, "--no-progress"], env=env, capture_output=True, text=True, timeout=600
    )


def both_runs(tmp_path: Path, optimiser: str, *overrides: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train with `optimiser` as 2 processes x batch 8 and as 1 process x batch 16 (the same global batches).

    Returns, for each run, {"model": its last weights, "grads": {name: the first step's gradient}, "step": ...}.
    """
    ddp_grads, one_grads = tmp_path / "ddp_grads.pt", tmp_path / "one_grads.pt"
    result = torchrun_train(
        *COMMON, *overrides, "train.batch_size=8", f"train.out={tmp_path}", "train.name=ddp",
        probe_with=(optimiser, ddp_grads),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with probe(optimiser, one_grads):
        single = train([*COMMON, *overrides, "train.batch_size=16", f"train.out={tmp_path}", "train.name=single"])
    runs = []
    for run_dir, grads_file in ((tmp_path / "ddp", ddp_grads), (single, one_grads)):
        ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        grads = torch.load(grads_file)
        names = list(ckpt["model"])  # no batch norm: the state dict is the parameters, in the optimiser's order
        assert [g.shape for g in grads] == [ckpt["model"][k].shape for k in names]
        runs.append({"model": ckpt["model"], "grads": dict(zip(names, grads)), "step": ckpt["step"]})
    return runs[0], runs[1]


def assert_same_first_gradients(ddp: dict[str, Any], one: dict[str, Any]) -> None:
    """The averaged gradient of two half batches is the gradient of the whole batch, to float32 summation.

    A gradient element sums batch x positions products (16 x 32 x 32 = 16384 for a convolution's weight); summed in
    another order (two halves, then their mean) a float32 sum moves by about sqrt(n) = 128 rounding units of the
    terms, which are no larger than the tensor's largest gradient. 256 eps of that (3e-5 relative) allows twice
    the random-walk estimate; a wrong average (a sum, one rank's half, a stale gradient) is off by O(1).
    """
    for name, grad in one["grads"].items():
        scale = grad.abs().max().item()
        torch.testing.assert_close(ddp["grads"][name], grad, rtol=0, atol=256 * EPS * scale, msg=name)


def test_two_processes_equal_one_over_the_same_global_batches(tmp_path: Path) -> None:
    """With SGD, whose step is linear in the gradient, 16 steps of the two runs agree to float32 rounding."""
    ddp, one = both_runs(tmp_path, "sgd", "train.epochs=2", "train.lr=0.01")
    assert ddp["step"] == one["step"] == 16  # 128 training images / global batch 16, twice
    assert_same_first_gradients(ddp, one)
    # Each step rounds w - lr*g to float32 (half a unit of w's last place); once the runs differ by a unit, their
    # roundings can part further, at most one unit per step: T eps |w| after T steps, 1.9e-6 of the largest weight.
    # The gradients' own differences (above) enter scaled by lr and stay far below that.
    for name, weight in one["model"].items():
        scale = weight.abs().max().item()
        torch.testing.assert_close(ddp["model"][name], weight, rtol=0, atol=one["step"] * EPS * scale, msg=name)
    # only rank 0 wrote: one metrics line per epoch, not two
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in line for line in lines) == 2


def test_adam_first_step_differs_only_where_its_division_amplifies_the_gradient(tmp_path: Path) -> None:
    """Adam (the engine's optimiser, fused in one process, for-loop under torchrun) over one step.

    Its first step is lr * g / (|g| + 1e-8) per element: a function of the gradient whose slope is lr * 1e-8 /
    (|g| + 1e-8)^2, up to lr * 1e8 where g is near 0. So a last-place difference in a near-zero gradient (summed
    in another order, on another processor) becomes a learning-rate-sized weight difference: after 16 steps up
    to 1.6e-4 on an AMD EPYC, none on an Intel Xeon. Over one step that amplification is exact: each weight may
    differ by the difference of Adam's map at the two recorded gradients, plus the rounding of the update (a few
    eps of |w| + lr, the step being at most lr).
    """
    lr, adam_eps = 5e-4, 1e-8
    ddp, one = both_runs(tmp_path, "adam", "train.max_steps=1", f"train.lr={lr}")
    assert ddp["step"] == one["step"] == 1
    assert_same_first_gradients(ddp, one)
    for name, weight in one["model"].items():
        g_ddp, g_one = ddp["grads"][name], one["grads"][name]
        amplified = lr * (g_ddp / (g_ddp.abs() + adam_eps) - g_one / (g_one.abs() + adam_eps)).abs()
        allowed = amplified + 4 * EPS * (weight.abs() + lr)
        excess = (ddp["model"][name] - weight).abs() - allowed
        assert excess.max().item() <= 0, f"{name}: weights differ by {excess.max().item():.3g} beyond Adam's map"


def test_adversarial_and_density_training_run_under_torchrun(tmp_path: Path) -> None:
    small = [
        "data=samples",
        "train.limit=64",
        "train.val_fraction=0.25",
        "train.grid_every=0",
        "train.batch_size=4",
        "train.max_steps=3",
        f"train.out={tmp_path}",
    ]
    for name, overrides in TINY_JOBS.items():
        result = torchrun_train(*small, *overrides, f"train.name={name}")
        assert result.returncode == 0, result.stderr[-3000:]
        assert load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")["step"] == 3


def test_a_torchrun_run_stopped_mid_epoch_resumes_exactly_under_torchrun(tmp_path: Path) -> None:
    """Two processes stopped at step 5 of 16 and resumed end with the uninterrupted two-process run's last.pt."""
    run = [*COMMON, "train.batch_size=8", "train.epochs=2", f"train.out={tmp_path}"]
    for overrides in ([*run, "train.name=whole"], [*run, "train.max_steps=5", "train.name=part"]):
        result = torchrun_train(*overrides)
        assert result.returncode == 0, result.stderr[-3000:]
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 5
    result = torchrun_train("--resume", str(tmp_path / "part"), "train.max_steps=0")
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.pt") for name in ("whole", "part"))
    assert a["step"] == 16 and a["ema_weights"] is not None
    assert_same({k: v for k, v in a.items() if k != "config"}, {k: v for k, v in b.items() if k != "config"}, "last")
