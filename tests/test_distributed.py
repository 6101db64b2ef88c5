"""torchrun with 2 CPU processes (gloo on loopback) trains the same weights as one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from inpaintzoo.engine.checkpoint import load_checkpoint
from inpaintzoo.engine.trainer import train

# no batch norm and no dropout: per-process batch statistics and dropout masks would differ by design
COMMON = [
    "data=samples",
    "encoder=cnn",
    "encoder.width=8",
    "encoder.bottleneck=16",
    "encoder.batch_norm=false",
    "encoder.dropout=0",
    "decoder.width=8",
    "decoder.batch_norm=false",
    "train.limit=160",
    "train.val_fraction=0.2",
    "train.grid_every=0",
    "train.epochs=2",
]


def torchrun_train(*overrides: str) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node=2 -m inpaintzoo train ...` on loopback, one thread per process."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "inpaintzoo"]
    return subprocess.run(
        [*command, "train", *overrides, "--no-progress"], env=env, capture_output=True, text=True, timeout=600
    )


def test_two_processes_equal_one_over_the_same_global_batches(tmp_path: Path) -> None:
    result = torchrun_train(*COMMON, "train.batch_size=8", f"train.out={tmp_path}", "train.name=ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    single = train([*COMMON, "train.batch_size=16", f"train.out={tmp_path}", "train.name=single"])
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    b = load_checkpoint(single / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 16  # 128 training images / global batch 16, twice
    for key, value in b["model"].items():
        torch.testing.assert_close(a["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    # only rank 0 wrote: one metrics line per epoch, not two
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in line for line in lines) == 2


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
    jobs = {
        "wgan": [
            "encoder=strided",
            "encoder.width=8",
            "encoder.bottleneck=16",
            "decoder.width=8",
            "disc=dcgan",
            "disc.width=8",
            "loss=wgan",
            "loss.n_critic=2",
        ],
        "pixelcnn": ["density=pixelcnn", "density.width=12", "density.depth=1"],
    }
    for name, overrides in jobs.items():
        result = torchrun_train(*small, *overrides, f"train.name={name}")
        assert result.returncode == 0, result.stderr[-3000:]
        assert load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")["step"] == 3
