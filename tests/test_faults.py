"""Runs that die, are interrupted or diverge lose nothing, and resume exactly."""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import TINY_JOBS, TINY_MODEL, assert_same

from inpaintzoo.engine.checkpoint import load_checkpoint
from inpaintzoo.engine.trainer import DivergedError, train
from inpaintzoo.errors import UsageError
from inpaintzoo.plugins import load_registry
from inpaintzoo.registry import Collection

TINY = [
    *TINY_MODEL,
    "train.limit=600",
    "train.batch_size=16",
    "train.val_fraction=0.1",
    "train.grid_every=0",
]


#: `inpaintzoo train` with the test objectives of this file registered and a step record every N steps
TRAIN_HERE = (
    "import sys; sys.path.insert(0, {tests!r}); import inpaintzoo.engine.trainer as trainer; "
    "from test_faults import nan_registry; trainer.LOG_EVERY = {log_every}; "
    "trainer.train(sys.argv[1:], registry=nan_registry())"
)


def start_training(tmp_path: Path, name: str, *extra: str, log_every: int = 25) -> subprocess.Popen[str]:
    if log_every == 25:  # the engine's own: the command itself
        command = [sys.executable, "-m", "inpaintzoo", "train", "--no-progress"]
    else:
        script = TRAIN_HERE.format(tests=str(Path(__file__).parent), log_every=log_every)
        command = [sys.executable, "-c", script]
    return subprocess.Popen(
        [*command, *TINY, *extra, f"train.out={tmp_path}", f"train.name={name}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())},  # bitwise
    )


def wait_until(done: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    wait_until(path.exists, proc, timeout)


#: what differs between any two runs: the wall-clock rate
VOLATILE = {"img_per_s"}


class RecordsLoggedTwice(AssertionError):
    """metrics.jsonl holds a record twice."""


def assert_resumed_equals_uninterrupted(resumed: Path, whole: Path) -> None:
    """Everything a run keeps, bit for bit: last.pt and best.pt whole (raw and averaged weights, critic, optimisers,
    random states, step, best score, epochs without improvement, rollbacks; not the config, which names the run),
    and metrics.jsonl record for record, none twice."""
    for name in ("last.pt", "best.pt"):
        a, b = (load_checkpoint(run / "checkpoints" / name) for run in (resumed, whole))
        assert a["ema_weights"] is not None or a["ema"] is None, name  # the averaged weights are there to compare
        assert_same({k: v for k, v in a.items() if k != "config"}, {k: v for k, v in b.items() if k != "config"}, name)
    lines = (resumed / "metrics.jsonl").read_text().splitlines()
    keys = [(r["kind"], r["step"]) for r in map(json.loads, lines)]
    if len(keys) != len(set(keys)):
        raise RecordsLoggedTwice(f"records logged twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    without_rates = [{k: v for k, v in r.items() if k not in VOLATILE} for r in map(json.loads, lines)]
    assert without_rates == [{k: v for k, v in r.items() if k not in VOLATILE} for r in records(whole)]


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed in epoch 2 after a step record past the epoch-1 checkpoint; the run had rolled back once before."""
    monkeypatch.setattr("inpaintzoo.engine.trainer.LOG_EVERY", 5)
    options = ["loss=nan-once", "loss.exact=true", "train.epochs=3", "train.patience=5"]
    proc = start_training(tmp_path, "killed", *options, log_every=5)
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    wait_for(last, proc)  # the end of epoch 1
    checkpointed = load_checkpoint(last)["step"]
    wait_until(lambda: any(r["step"] > checkpointed for r in records(tmp_path / "killed")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(last)
    assert state["epoch"] == 1 and state["rollbacks"] == 1 and state["ema_weights"] is not None
    assert max(r["step"] for r in records(tmp_path / "killed")) > state["step"]  # logged past what resume restores
    assert not list((tmp_path / "killed" / "checkpoints").glob("*.tmp"))
    registry = nan_registry()
    train([], resume=tmp_path / "killed", registry=registry)
    whole = train([*TINY, *options, f"train.out={tmp_path}", "train.name=whole"], registry=registry)
    assert load_checkpoint(whole / "checkpoints" / "last.pt")["rollbacks"] == 1
    assert_resumed_equals_uninterrupted(tmp_path / "killed", whole)


class Killed(BaseException):
    """Stands in for SIGKILL in this process: training ends at once, nothing more is written."""


def kill_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], at_step: int) -> Path:
    """Train `overrides` until the step record of `at_step` is written, die there, resume; returns the run."""
    from inpaintzoo.engine.trainer import Trainer

    log = Trainer.log

    def log_then_die(self: Trainer, record: dict) -> None:
        log(self, record)
        if record["kind"] == "step" and record["step"] == at_step:
            raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(Trainer, "log", log_then_die)
        with pytest.raises(Killed):
            train([*overrides, f"train.out={tmp_path}", "train.name=killed"])
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["step"] < at_step
    return train([], resume=tmp_path / "killed")


SMALL = ["data=samples", "train.limit=64", "train.val_fraction=0.25", "train.grid_every=0", "train.batch_size=4"]
JOBS = {  # 12 steps an epoch; killed at step 16, in epoch 2
    **TINY_JOBS,
    "gan": [*TINY_MODEL[1:], "disc=dcgan", "loss=gan"],
}


@pytest.mark.parametrize("job", list(JOBS))
def test_adversarial_and_density_runs_resume_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str) -> None:
    monkeypatch.setattr("inpaintzoo.engine.trainer.LOG_EVERY", 2)
    overrides = [*SMALL, *JOBS[job], "train.epochs=2"]
    resumed = kill_and_resume(tmp_path, monkeypatch, overrides, at_step=16)
    whole = train([*overrides, f"train.out={tmp_path}", "train.name=whole"])
    state = load_checkpoint(whole / "checkpoints" / "last.pt")
    assert state["step"] == 24 and (state["discriminator"] is not None) == (job != "pixelcnn")
    assert_resumed_equals_uninterrupted(resumed, whole)


def test_sigterm_finishes_the_step_and_writes_a_checkpoint(tmp_path: Path) -> None:
    proc = start_training(tmp_path, "term", "train.epochs=50")
    wait_for(tmp_path / "term" / "checkpoints" / "last.pt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    state = load_checkpoint(tmp_path / "term" / "checkpoints" / "last.pt")
    assert state["epoch"] < 50 and state["step"] > 0
    stop = [r for r in records(tmp_path / "term") if r["kind"] == "stop"]  # validated where it stopped
    assert len(stop) == 1 and stop[0]["step"] == state["step"] and "SIGTERM" in stop[0]["reason"]
    assert (tmp_path / "term" / "checkpoints" / "best.pt").is_file()


class NanOnce:
    """An L2 objective whose loss turns NaN once, at a chosen step, to provoke a rollback."""

    uses_discriminator = False

    def __init__(self, at_step: int = 3, times: int = 1, exact: bool = False) -> None:
        self.at_step, self.times, self.fired = at_step, times, 0
        self.exact = exact  # only at `at_step` itself: a run resumed past it does not diverge again

    def configure(self, model, discriminator, lr, disc_lr):  # noqa: ANN001, ANN201
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        return {"generator": self.opt}

    def step(self, model, discriminator, images, mask, judge, step):  # noqa: ANN001, ANN201
        loss = model.reconstruction_loss(model(images, mask), images, mask)
        if (step == self.at_step if self.exact else step >= self.at_step) and self.fired < self.times:
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


# -- runs that stop early or fail at the start (issue 15) ----------------------------------------------------


class FailsAtOnce:
    """An objective whose first step fails, as a broken plugin or an impossible input would."""

    uses_discriminator = False

    def configure(self, model, discriminator, lr, disc_lr):  # noqa: ANN001, ANN201
        return {"generator": torch.optim.Adam(model.parameters(), lr=lr)}

    def step(self, model, discriminator, images, mask, judge, step):  # noqa: ANN001, ANN201
        raise UsageError("this objective cannot train on these images")


def test_a_run_that_fails_before_its_first_step_leaves_no_directory(tmp_path: Path) -> None:
    components = Collection()
    components("loss", "fails")(FailsAtOnce)
    plugin = type("FailPlugin", (), {"inpaintzoo_register": staticmethod(components.hook())})
    registry = load_registry(extra_plugins=[plugin])
    out = tmp_path / "new" / "runs"  # neither folder exists yet: both were made by the run, both go
    with pytest.raises(UsageError, match="cannot train"):
        train([*TINY, "loss=fails", f"train.out={out}", "train.name=r"], registry=registry)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a train.out that existed stays, only the run directory goes
    with pytest.raises(UsageError):
        train([*TINY, "loss=fails", f"train.out={tmp_path / 'kept'}", "train.name=r"], registry=registry)
    assert list((tmp_path / "kept").iterdir()) == []


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inpaintzoo", *args],
        capture_output=True,
        text=True,
        env=env or {**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=cwd,
        timeout=300,
    )


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_done_line_is_true(err: str, run_dir: Path) -> None:
    done = [line for line in err.splitlines() if line.startswith("done:")]
    assert len(done) == 1, err
    named = done[0].split("(", 1)[1].rstrip(")").split(", ")
    assert named and all((run_dir / name.rstrip("/")).exists() for name in named), done[0]


def test_a_step_budget_stop_mid_epoch_validates_and_writes_best(tmp_path: Path) -> None:
    """37 steps an epoch: train.max_steps=3 stops inside epoch 1, which then still has a score and a best.pt."""
    result = run_cli("train", *TINY, "train.max_steps=3", f"train.out={tmp_path}", "train.name=r", "--no-progress")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "r"
    assert any(line.startswith("stopped") and "train.max_steps=3" in line for line in result.stderr.splitlines())
    stop = [r for r in records(run_dir) if r["kind"] == "stop"]
    assert len(stop) == 1 and stop[0]["step"] == 3 and math.isfinite(stop[0]["val_l2"])
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["step"] == 3 and best["best"] == pytest.approx(stop[0]["val_l2"])
    assert_done_line_is_true(result.stderr, run_dir)
    evaluated = run_cli("eval", str(run_dir), "--limit", "8")  # best.pt exists: no fallback, no warning
    assert evaluated.returncode == 0 and "warning" not in evaluated.stderr, evaluated.stderr


def test_a_time_budget_stop_mid_epoch_validates_and_writes_best(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """train.max_minutes on a clock that moves a second per reading: the stop falls inside epoch 1."""
    import types

    import inpaintzoo.engine.trainer as trainer_module

    ticks = iter(range(10**6))
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)), strftime=time.strftime)
    monkeypatch.setattr(trainer_module, "time", clock)
    run_dir = train([*TINY, "train.max_minutes=0.2", f"train.out={tmp_path}", "train.name=r"])
    stop = [r for r in records(run_dir) if r["kind"] == "stop"]
    assert len(stop) == 1 and "train.max_minutes" in stop[0]["reason"] and 0 < stop[0]["step"] < 37
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt")["step"] == stop[0]["step"]
    assert (run_dir / "curves.png").is_file()


def test_the_done_line_names_only_what_exists(tmp_path: Path) -> None:
    """A budget used up at once: whatever the run managed to write, the done line lists exactly that."""
    result = run_cli("train", *TINY, "train.max_minutes=1e-9", f"train.out={tmp_path}", "train.name=r", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert_done_line_is_true(result.stderr, tmp_path / "r")
    assert any(line.startswith("stopped") and "train.max_minutes" in line for line in result.stderr.splitlines())


def test_checkpoints_follow_the_umask(tmp_path: Path) -> None:
    from inpaintzoo.engine.checkpoint import save_checkpoint

    old = os.umask(0o022)
    try:
        save_checkpoint({"x": torch.zeros(1)}, tmp_path / "shared.pt")
        os.umask(0o077)
        save_checkpoint({"x": torch.zeros(1)}, tmp_path / "private.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.pt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.pt").stat().st_mode & 0o777 == 0o600


def fake_cifar(root: Path, test_images: int) -> Path:
    """A CIFAR-10 folder in the python format with a few images per batch (the test batch's size marks it)."""
    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(test_images)
    for name, n in [*((f"data_batch_{i}", 12) for i in range(1, 6)), ("test_batch", test_images)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [0] * n, "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def test_the_run_records_where_its_data_is(tmp_path: Path) -> None:
    """Trained with $INPAINTZOO_DATA, evaluated in a shell without it, from another folder; --data-root overrides."""
    data = fake_cifar(tmp_path / "data", test_images=7)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INPAINTZOO_DATA": str(tmp_path / "data")}
    args = [*TINY, "data=cifar10", "train.max_steps=1", "train.batch_size=8", f"train.out={tmp_path}", "train.name=r"]
    result = run_cli("train", *args, "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "r"
    assert json.loads((run_dir / "config.json").read_text())["data"]["root"] == str(data.resolve())

    fresh = {k: v for k, v in os.environ.items() if k != "INPAINTZOO_DATA"} | {"OMP_NUM_THREADS": "1"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    evaluated = run_cli("eval", str(run_dir), "--out", str(elsewhere / "e"), env=fresh, cwd=elsewhere)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((elsewhere / "e.json").read_text())["images"] == 7  # the recorded folder, not another copy

    other = fake_cifar(tmp_path / "other", test_images=5)
    overridden = run_cli("eval", str(run_dir), "--data-root", str(other), "--out", str(elsewhere / "o"), env=fresh)
    assert overridden.returncode == 0, overridden.stderr
    assert json.loads((elsewhere / "o.json").read_text())["images"] == 5
