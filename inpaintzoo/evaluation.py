"""Evaluate a model into files (what `inpaintzoo eval` does): the metrics as JSON and a PNG grid of the first
batch, each column labelled with that image's hole MSE, named after the split and the decoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inpaintzoo.contracts import Decoding
from inpaintzoo.errors import UsageError
from inpaintzoo.files import refuse_existing
from inpaintzoo.metrics import hole_mse
from inpaintzoo.viz import save_grid

#: images (columns) in the grid
GRID_COLUMNS = 8


def check_evaluable(model: Any) -> None:
    """Only a trained model has a test split of its own to be scored on; a classical fill is refused in one line."""
    if not hasattr(model, "evaluate"):
        raise UsageError(
            f"{model.name} is a classical fill: eval scores a trained model on its own test split "
            "(benchmarks/bench_photos.py scores the classical fills on photos)"
        )


def use_data_root(model: Any, data_root: Path | None) -> None:
    """Read the dataset from `data_root` instead of the folder the run recorded (its `data.root`)."""
    if data_root is None:
        return
    if "root" not in model.config["data"]:
        raise UsageError(f"--data-root: data={model.config['data']['name']} reads no folder (it has no data.root)")
    model.config["data"]["root"] = str(data_root)


def eval_options(decoding: Decoding | None) -> dict[str, Any]:
    """The decoding options `evaluate` is given and the record keeps: mode, K and temperature; tau and the
    window for posterior-mean; mirror where it is on (none for a model that takes no decoding)."""
    if decoding is None:
        return {}
    options: dict[str, Any] = {"mode": decoding.mode, "k": decoding.k, "temperature": decoding.temperature}
    if decoding.mode == "posterior-mean":
        options.update(tau=decoding.tau, window=decoding.window)
    if decoding.mirror:
        options.update(mirror=True)
    return options


def eval_stem(model: Any, split: str, decoding: Decoding | None, run_dir: Path | None) -> Path:
    """Where the outputs go without `--out`: `RUN_DIR/eval-SPLIT[-MODE][-mirror]`, or for a pretrained entry the
    current folder, `eval-SPLIT[-MODE]-unet-l2` (no dot for `with_suffix` to eat)."""
    name = f"eval-{split}"
    if decoding is not None:
        name += f"-{decoding.mode}{'-mirror' if decoding.mirror else ''}"
    return run_dir / name if run_dir is not None else Path(f"{name}-{model.name.replace('.', '-')}")


def evaluate_to_files(
    model: Any,
    stem: Path,
    split: str = "test",
    limit: int = 0,
    decoding: Decoding | None = None,
    overwrite: bool = False,
    what: str | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], Path, Path]:
    """Evaluate `model` on `split` and write `STEM.json` (the record: `what` was evaluated, how, its metrics) and
    `STEM.png` (context, prediction, truth); returns (metrics, json path, png path). Existing outputs are refused
    before anything is computed."""
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    refuse_existing([json_path, png_path], overwrite)
    options = eval_options(decoding)
    metrics, preview = model.evaluate(split=split, limit=limit, progress=progress, **options)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    record = {"run": what or model.name, "split": split, **options, **metrics}
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    save_grid(
        [p[:GRID_COLUMNS] for p in preview],
        png_path,
        labels=["context", "prediction", "truth"],
        column_labels=hole_mse_labels(preview, GRID_COLUMNS),
    )
    return metrics, json_path, png_path


def hole_mse_labels(preview: Any, columns: int) -> list[str] | None:
    """`mse 812` above each column of an eval grid: that image's hole MSE (0-255 scale)."""
    mask = getattr(preview, "mask", None)
    if mask is None:
        return None
    _, pred, truth = preview
    n = min(columns, len(pred))
    return [f"mse {hole_mse(pred[i : i + 1], truth[i : i + 1], mask[i : i + 1]):.0f}" for i in range(n)]
