"""Runs that die, are interrupted or diverge lose nothing, and resume exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inpaintzoo.engine.checkpoint import load_checkpoint
from inpaintzoo.engine.trainer import DivergedError, train
from inpaintzoo.plugins import load_registry
from inpaintzoo.registry import Collection

TINY = [
    "data=samples",
    "encoder=cnn",
    "encoder.width=8",
    "encoder.bottleneck=16",
    "decoder.width=8",
    "train.limit=600",
    "train.batch_size=16",
    "train.val_fraction=0.1",
    "train.grid_every=0",
]


def start_training(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inpaintzoo",
            "train",
            *TINY,
            *extra,
            f"train.out={tmp_path}",
            f"train.name={name}",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())},  # bitwise
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    proc = start_training(tmp_path, "killed", "train.epochs=3")
    wait_for(tmp_path / "killed" / "checkpoints" / "last.pt", proc)  # the end of epoch 1
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["epoch"] < 3
    assert not list((tmp_path / "killed" / "checkpoints").glob("*.tmp"))
    train([], resume=tmp_path / "killed")
    whole = train([*TINY, "train.epochs=3", f"train.out={tmp_path}", "train.name=whole"])
    assert_same_weights(weights(whole), weights(tmp_path / "killed"))


def test_sigterm_finishes_the_step_and_writes_a_checkpoint(tmp_path: Path) -> None:
    proc = start_training(tmp_path, "term", "train.epochs=50")
    wait_for(tmp_path / "term" / "checkpoints" / "last.pt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    state = load_checkpoint(tmp_path / "term" / "checkpoints" / "last.pt")
    assert state["epoch"] < 50 and state["step"] > 0


class NanOnce:
    """An L2 objective whose loss turns NaN once, at a chosen step, to provoke a rollback."""

    uses_discriminator = False

    def __init__(self, at_step: int = 3, times: int = 1) -> None:
        self.at_step, self.times, self.fired = at_step, times, 0

    def configure(self, model, discriminator, lr, disc_lr):  # noqa: ANN001, ANN201
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        return {"generator": self.opt}

    def step(self, model, discriminator, images, mask, judge, step):  # noqa: ANN001, ANN201
        loss = model.reconstruction_loss(model(images, mask), images, mask)
        if step >= self.at_step and self.fired < self.times:
            self.fired += 1
            loss = loss * float("nan")
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}


def nan_registry():  # noqa: ANN201
    components = Collection()
    components("loss", "nan-once")(NanOnce)
    plugin = type("NanPlugin", (), {"inpaintzoo_register": staticmethod(components.hook())})
    return load_registry(extra_plugins=[plugin])


def test_divergence_rolls_back_with_a_lower_learning_rate(tmp_path: Path) -> None:
    run_dir = train(
        [*TINY, "loss=nan-once", "train.epochs=2", "train.limit=200", f"train.out={tmp_path}", "train.name=nan"],
        registry=nan_registry(),
    )
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rollbacks = [r for r in records if r["kind"] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["to_step"] == 0 and rollbacks[0]["lr"] == pytest.approx(2.5e-4)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["epoch"] == 2 and state["rollbacks"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_divergence_that_persists_stops_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DivergedError, match="after 2 rollbacks.*lower train.lr"):
        train(
            [
                *TINY,
                "loss=nan-once",
                "loss.times=100",
                "train.max_rollbacks=2",
                "train.limit=200",
                f"train.out={tmp_path}",
                "train.name=nan",
            ],
            registry=nan_registry(),
        )
    assert not (tmp_path / "nan" / "checkpoints" / "last.pt").exists()  # no NaN checkpoint was ever written
