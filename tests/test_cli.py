"""The command line, end to end: list, config, train, eval, inpaint, info, and its error lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintzoo.cli import main

TINY = [
    "data=samples",
    "encoder=cnn",
    "encoder.width=8",
    "encoder.bottleneck=16",
    "decoder.width=8",
    "train.epochs=1",
    "train.limit=96",
    "train.batch_size=32",
    "train.val_fraction=0.25",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and fragment in lines[0]
    assert "Traceback" not in err


def test_list_table_json_and_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0 and "center" in out and "samples" in out
    code, out, _ = run(capsys, "list", "mask", "--json")
    rows = json.loads(out)
    assert {r["name"] for r in rows} >= {"center", "rectangles", "brush"}
    center = next(r for r in rows if r["name"] == "center")
    assert {"name": "size", "type": "int", "default": 8, "required": False} in center["parameters"]
    code, out, _ = run(capsys, "list", "cent*", "--json")
    assert [r["name"] for r in json.loads(out)] == ["center"]


def test_config_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config", "mask=centre")
    assert_one_line_error(code, err, "did you mean 'center'")
    code, _, err = run(capsys, "config", "train.epochs=many")
    assert_one_line_error(code, err, "train.epochs: expected int, got 'many'")


def test_out_of_range_value_stops_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "train", *TINY, "mask.size=40", f"train.out={tmp_path}", "train.name=r")
    assert_one_line_error(code, err, "40")
    assert not (tmp_path / "r").exists()
    code, _, err = run(capsys, "train", *TINY, "model.overlap=13", f"train.out={tmp_path}", "train.name=o")
    assert_one_line_error(code, err, "model.overlap=13 is larger than the context")
    assert not (tmp_path / "o").exists()


def test_config_prints_resolved_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "mask.size=6", "train.epochs=2")
    config = json.loads(out)
    assert code == 0 and config["mask"]["size"] == 6 and config["train"]["epochs"] == 2


def test_train_eval_inpaint_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", *TINY, f"train.out={tmp_path}", "train.name=r", "--no-progress")
    assert code == 0, err
    run_dir = tmp_path / "r"
    for name in (
        "config.json",
        "metrics.jsonl",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "grid.png",
        "curves.png",
        "grids/epoch_001.png",
    ):
        assert (run_dir / name).is_file(), name
    epoch = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert epoch["kind"] == "epoch" and np.isfinite(epoch["val_l2"])

    # the same run directory again: refused, nothing touched
    before = (run_dir / "config.json").read_bytes()
    code, _, err = run(capsys, "train", *TINY, f"train.out={tmp_path}", "train.name=r", "--no-progress")
    assert_one_line_error(code, err, "already exists")
    assert (run_dir / "config.json").read_bytes() == before

    code, out, err = run(capsys, "eval", str(run_dir), "--limit", "40")
    assert code == 0, err
    metrics = json.loads((run_dir / "eval-test.json").read_text())
    assert metrics["images"] == 40 and 0 <= metrics["maem"] <= 1 and metrics["hole_mse"] > 0
    assert Image.open(run_dir / "eval-test.png").format == "PNG"
    code, _, err = run(capsys, "eval", str(run_dir), "--limit", "40")
    assert_one_line_error(code, err, "already exists")

    picture = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "photo.png")
    out_dir = tmp_path / "filled"
    code, _, err = run(
        capsys, "inpaint", str(run_dir), str(tmp_path / "photo.png"), "--box", "12,12,8,8", "--out", str(out_dir)
    )
    assert code == 0, err
    filled = np.asarray(Image.open(out_dir / "photo.png").convert("RGB"))
    outside = np.ones((32, 32), bool)
    outside[12:20, 12:20] = False
    assert np.array_equal(filled[outside], picture[outside])
    assert not np.array_equal(filled[~outside], picture[~outside])

    code, _, err = run(
        capsys,
        "inpaint",
        str(run_dir),
        str(tmp_path / "photo.png"),
        "--box",
        "0,0,8,8",
        "--out",
        str(tmp_path / "other"),
    )
    assert_one_line_error(code, err, "fills only the box")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    code, _, err = run(capsys, "inpaint", str(run_dir), str(tmp_path / "junk.png"), "--out", str(tmp_path / "o2"))
    assert_one_line_error(code, err, "junk.png")


def test_resume_continues_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*TINY, f"train.out={tmp_path}", "train.name=r", "--no-progress"]
    assert run(capsys, "train", *args)[0] == 0
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "r"), "train.epochs=2", "--no-progress")
    assert code == 0, err
    epochs = [
        json.loads(line)["epoch"]
        for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["kind"] == "epoch"
    ]
    assert epochs == [1, 2]
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "r"), "encoder.width=16")
    assert_one_line_error(code, err, "only train.* settings may change")


def test_eval_of_a_directory_that_is_not_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "eval", str(tmp_path))
    assert_one_line_error(code, err, "not a run directory")


def test_info_names_the_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0 and "kernel backend" in out and ("extension" in out or "torch" in out)
