"""`train -m`: comma lists expand into one run per combination, failures are reported, a summary is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_MODEL
from helpers import run_cli as run

from inpaintzoo.errors import RunDirError, UsageError
from inpaintzoo.sweep import combinations, expand, plan, split_choices

TINY = [
    *TINY_MODEL,
    "train.epochs=1",
    "train.limit=48",
    "train.batch_size=16",
    "train.val_fraction=0.25",
    "train.ema=0",
]




@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("strided,resnet", ["strided", "resnet"]),
        ("1e-3", ["1e-3"]),
        ("[1,2],[3]", ["[1,2]", "[3]"]),
        ("(2,4),(8,16)", ["(2,4)", "(8,16)"]),
        ("'a,b',c", ["'a,b'", "c"]),
    ],
)
def test_split_choices_keeps_brackets_and_quotes(value: str, parts: list[str]) -> None:
    assert split_choices(value) == parts


def test_combinations_in_hydra_order() -> None:
    overrides = ["encoder=strided,resnet", "train.epochs=2", "train.lr=1e-3,3e-4"]
    fixed, swept = expand(overrides)
    assert fixed == ["train.epochs=2"]
    assert swept == [("encoder", ["strided", "resnet"]), ("train.lr", ["1e-3", "3e-4"])]
    assert combinations(overrides) == [
        ["encoder=strided", "train.lr=1e-3"],
        ["encoder=strided", "train.lr=3e-4"],
        ["encoder=resnet", "train.lr=1e-3"],
        ["encoder=resnet", "train.lr=3e-4"],
    ]


def test_plan_names_runs_under_the_sweep_directory(tmp_path: Path) -> None:
    sweep = plan([f"train.out={tmp_path}", "train.name=s", "mask=center,rectangles"])
    assert sweep.sweep_dir == tmp_path / "s"
    assert [Path(r.run_dir).parent for r in sweep.runs] == [tmp_path / "s"] * 2
    assert len({r.run_dir for r in sweep.runs}) == 2 and all("," not in r.run_dir for r in sweep.runs)
    with pytest.raises(UsageError, match="cannot be swept"):
        plan(["train.name=a,b"])
    with pytest.raises(UsageError, match="twice"):
        plan(["mask=center,center"])
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text("{}")
    with pytest.raises(RunDirError, match="already exists"):
        plan([f"train.out={tmp_path}", "train.name=s", "mask=center,rectangles"])


def test_sweep_runs_every_combination_and_reports_a_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "train",
        "-m",
        *TINY,
        "mask=center,rectangles",
        "train.lr=1e-3,-1",  # the second value is out of range: those runs fail, the others still train
        f"train.out={tmp_path}",
        "train.name=s",
        "--no-progress",
    )
    assert code == 1, err
    summary = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert summary["swept"] == ["mask", "train.lr"]
    runs = summary["runs"]
    assert [r["overrides"] for r in runs] == [
        ["mask=center", "train.lr=1e-3"],
        ["mask=center", "train.lr=-1"],
        ["mask=rectangles", "train.lr=1e-3"],
        ["mask=rectangles", "train.lr=-1"],
    ]
    assert [r["status"] for r in runs] == ["ok", "failed", "ok", "failed"]
    assert all("train.lr" in r["error"] for r in runs if r["status"] == "failed")
    for r in runs:
        if r["status"] == "ok":
            config = json.loads((Path(r["run_dir"]) / "config.json").read_text())
            assert config["mask"]["name"] == r["overrides"][0].split("=")[1] and config["train"]["lr"] == 1e-3
            last = [json.loads(x) for x in (Path(r["run_dir"]) / "metrics.jsonl").read_text().splitlines()][-1]
            assert r["metrics"]["val_hole_mse"] == last["val_hole_mse"]
    assert runs[0]["metrics"]["val_hole_mse"] != runs[2]["metrics"]["val_hole_mse"]  # different masks, other runs
    assert "hole_mse" in out and "failed" in out  # the summary table
    assert "2 of 4 runs did not finish" in err


def test_sweep_with_jobs_runs_subprocesses(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        capsys, "train", "--multirun", "--jobs", "2", *TINY, "train.seed=0,1", f"train.out={tmp_path}", "train.name=j"
    )
    assert code == 0, err
    runs = json.loads((tmp_path / "j" / "sweep.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[0]["metrics"]["val_hole_mse"] != runs[1]["metrics"]["val_hole_mse"]  # two seeds, two results
    for r in runs:
        assert (Path(r["run_dir"]) / "checkpoints" / "last.pt").is_file()
        assert (tmp_path / "j" / f"{Path(r['run_dir']).name}.log").is_file()


def test_sweep_options_that_do_not_combine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "--jobs", "2", *TINY)
    assert code == 2 and "--multirun" in err
    code, _, err = run(capsys, "train", "-m", "--resume", str(tmp_path), *TINY)
    assert code == 2 and "--resume" in err
    code, out, _ = run(capsys, "train", "-m", "--print-config", *TINY, "mask=center,rectangles")
    assert code == 0 and [c["mask"]["name"] for c in json.loads(out)] == ["center", "rectangles"]
