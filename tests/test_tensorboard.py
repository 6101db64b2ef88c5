"""train.tensorboard=true: every metrics.jsonl scalar and each epoch's grid, read back with TensorBoard's reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_MODEL, import_or_missing

from inpaintzoo.config import resolve_config
from inpaintzoo.engine.trainer import Trainer, train

TINY = [
    *TINY_MODEL,
    "train.epochs=2",
    "train.limit=64",
    "train.batch_size=16",
    "train.val_fraction=0.25",
]


def test_scalars_and_grids_reach_event_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event_accumulator = import_or_missing(
        "tensorboard.backend.event_processing.event_accumulator", "tensorboard is not installed"
    )
    monkeypatch.setattr("inpaintzoo.engine.trainer.LOG_EVERY", 1)  # a step record every step
    run_dir = train([*TINY, "train.tensorboard=true", f"train.out={tmp_path}", "train.name=tb"])
    assert list(run_dir.glob("events.out.tfevents.*")), "no event file in the run directory"
    events = event_accumulator.EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    expected = {}
    for record in records:
        for key, value in record.items():
            if key not in ("kind", "epoch", "step") and isinstance(value, (int, float)):
                expected.setdefault(f"{record['kind']}/{key}", []).append((record["step"], value))
    assert {"step/loss", "epoch/val_hole_mse", "epoch/lr"} <= set(expected)
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6), tag
    grids = events.Images("grid")
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [g.step for g in grids] == [r["step"] for r in epochs]
    assert grids[0].width > 0 and grids[0].height > 0


def test_off_by_default(tmp_path: Path) -> None:
    run_dir = train([*TINY, "train.epochs=1", f"train.out={tmp_path}", "train.name=plain"])
    assert not list(run_dir.glob("events.out.tfevents.*"))


def test_missing_package_is_named_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from inpaintzoo.errors import UsageError

    real_import = builtins.__import__

    def no_tensorboard(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    config = resolve_config([*TINY, "train.tensorboard=true", f"train.out={tmp_path}", "train.name=none"])
    with pytest.raises(UsageError, match="pip install tensorboard"):
        Trainer(config, progress=False)
    assert not (tmp_path / "none").exists()
