"""The command line, end to end: list, config, train, eval, inpaint, info, and its error lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_RUN as TINY
from helpers import run_cli as run
from PIL import Image


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
        "--strategy",
        "resize",  # crop would move a window onto the corner box; the whole image resized cannot
        "--out",
        str(tmp_path / "other"),
    )
    assert_one_line_error(code, err, "reaches outside it")
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


XEON = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
    "flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile\n\n"
    "processor\t: 1\nmodel name\t: not the first\nflags\t\t: fpu\n"
)
EPYC = "processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx2 fma avx512f avx512bw avx512_bf16\n"


def info_rows(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`inpaintzoo info` on a console wide enough for one line a row: {key: value}."""
    from rich.console import Console

    from inpaintzoo.cli import common as cli

    monkeypatch.setattr(cli, "console", Console(width=250))
    code, out, _ = run(capsys, "info")
    assert code == 0
    cells = [line.split("│")[1:3] for line in out.splitlines() if line.count("│") == 3]
    return {key.strip(): value.strip() for key, value in cells}


@pytest.mark.parametrize(
    ("cpuinfo", "name", "units"),
    [
        (XEON, "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", "AVX2, AVX-512, AVX512-BF16, AMX-BF16"),
        (EPYC, "AMD EPYC 9B14", "AVX2, AVX-512, AVX512-BF16, no AMX-BF16"),
        ("", "", "no AVX2, no AVX-512, no AVX512-BF16, no AMX-BF16"),  # no model name: platform's words
    ],
    ids=["xeon-amx", "epyc", "unknown"],
)
def test_info_reports_the_processor_its_units_the_threads_and_the_load(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpuinfo: str, name: str,
    units: str,
) -> None:  # fmt: skip
    import os
    import platform

    import torch

    from inpaintzoo import machine

    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "cpuinfo")
    monkeypatch.setattr(os, "getloadavg", lambda: (1.25, 0.5, 3.0))
    rows = info_rows(capsys, monkeypatch)
    name = name or platform.processor() or platform.machine()
    assert rows["processor"] == f"{name} ({os.cpu_count()} cores, {platform.machine()})"
    assert rows["cpu units"] == f"{units}; torch kernels {torch.backends.cpu.get_cpu_capability()}"
    assert rows["threads, load"] == f"torch {torch.get_num_threads()} threads; load 1.25 0.50 3.00 (1, 5, 15 min)"


def test_info_reads_this_machine_and_names_the_backend(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintzoo.machine import FLAGS, describe_machine, read_cpuinfo
    from inpaintzoo.ops.backend import backend_info

    rows = info_rows(capsys, monkeypatch)
    model, flags = read_cpuinfo()
    here = describe_machine()
    if model:  # Linux: /proc/cpuinfo's own words
        assert here["cpu"] == model and rows["processor"].startswith(f"{model} (")
    assert {key: here[key] for key in FLAGS} == {key: key in flags for key in FLAGS}
    for key, label in FLAGS.items():
        assert (f"no {label}" in rows["cpu units"]) is not here[key]
    assert rows["kernel backend"].startswith("C++ extension" if backend_info()["backend"] == "extension" else "PyTorch")


def test_info_says_whether_the_cpu_has_amx_and_avx512_bf16(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintzoo.engine import precision

    for amx, avx in [(True, True), (False, False)]:
        monkeypatch.setattr(precision, "cpu_features", lambda a=amx, v=avx: {"amx_bf16": a, "avx512_bf16": v})
        code, out, _ = run(capsys, "info")
        assert code == 0 and "cpu bf16" in out
        if amx:
            assert "has AMX-BF16, AVX-512-BF16" in out
        else:
            assert "no AMX-BF16 or AVX-512-BF16" in out


def test_list_is_readable_at_80_columns_and_piped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in out
    # a block per component, each parameter on its own line with its type and default
    cnn = lines.index(next(line for line in lines if line.strip().startswith("cnn ")))
    assert "- width: int = 64" in [line.strip() for line in lines[cnn : cnn + 10]]
    assert "- fill: Literal['zeros', 'noise', 'mean', 'telea'] = 'zeros'" in [line.strip() for line in lines]


def test_list_takes_the_override_words_and_shows_literal_choices(capsys: pytest.CaptureFixture[str]) -> None:
    for word, kind in (("disc", "discriminator"), ("data", "dataset"), ("discriminators", "discriminator")):
        code, out, err = run(capsys, "list", word, "--json")
        assert code == 0, err
        rows = json.loads(out)
        assert rows and {r["kind"] for r in rows} == {kind}
    code, out, _ = run(capsys, "list", "mask", "center", "--json")
    fill = next(p for p in json.loads(out)[0]["parameters"] if p["name"] == "fill")
    assert fill["choices"] == ["zeros", "noise", "mean", "telea"] and "Literal" in fill["type"]
    # and the overrides take the kinds' own names
    code, out, _ = run(capsys, "config", "discriminator=dcgan", "loss=gan", "dataset=samples")
    config = json.loads(out)
    assert config["disc"]["name"] == "dcgan" and config["data"]["name"] == "samples"


def test_train_overwrite_replaces_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*TINY, "train.max_steps=1", f"train.out={tmp_path}", "train.name=r", "--no-progress"]
    assert run(capsys, "train", *args)[0] == 0
    (tmp_path / "r" / "stale.txt").write_text("from the first run")
    code, _, err = run(capsys, "train", *args, "--overwrite")
    assert code == 0, err
    assert not (tmp_path / "r" / "stale.txt").exists() and (tmp_path / "r" / "checkpoints" / "last.pt").is_file()
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "precious.txt").write_text("keep me")
    code, _, err = run(capsys, "train", *TINY, f"train.out={tmp_path}", "train.name=notarun", "--overwrite")
    assert_one_line_error(code, err, "not a run directory")
    assert (tmp_path / "notarun" / "precious.txt").is_file()


def test_eval_split_val_is_the_slice_the_run_validated_on(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "eval", str(tiny_run), "--split", "val", "--checkpoint", "last", "--out", str(tmp_path / "v")
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "v.json").read_text())
    epoch = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()][-1]
    assert metrics["split"] == "val" and metrics["images"] == 24  # 25% of train.limit=96
    assert metrics["hole_mse"] == pytest.approx(epoch["val_hole_mse"], rel=1e-4)


def test_eval_grid_labels_columns_with_hole_mse(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    from inpaintzoo.evaluation import hole_mse_labels
    from inpaintzoo.runs import load_run
    from inpaintzoo.viz import column_header_height

    code, _, err = run(capsys, "eval", str(tiny_run), "--limit", "8", "--out", str(tmp_path / "e"))
    assert code == 0, err
    _, preview = load_run(tiny_run).evaluate("test", limit=8)
    labels = hole_mse_labels(preview, 8)
    assert labels is not None and len(labels) == 8 and all(text.startswith("mse ") for text in labels)
    assert len(set(labels)) > 1  # each image's own score
    plain = Image.open(tmp_path / "e.png").size[1] - column_header_height()
    assert plain == 3 * 32 * 4 + 4 * 2  # three rows of 32 px at scale 4, and the band of column labels above


def test_density_options_on_a_context_encoder_are_an_error(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "eval", str(tiny_run), "--mode", "mean", "--out", str(tmp_path / "m"))
    assert_one_line_error(code, err, "--mode applies to density models")
    assert not (tmp_path / "m.json").exists()
    code, _, err = run(capsys, "eval", str(tiny_run), "--temperature", "0.5", "--out", str(tmp_path / "m"))
    assert_one_line_error(code, err, "--temperature applies to density models")


def test_a_run_whose_plugin_is_gone_says_which(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    config = json.loads((copy / "config.json").read_text())
    assert config["plugins"]["decoder"] == {
        "kind": "decoder",
        "name": "deconv",
        "plugin": "inpaintzoo.decoders",
        "version": "0.1.0",
    }
    config["decoder"]["name"] = "acme-shuffle"
    config["plugins"]["decoder"] = {"kind": "decoder", "name": "acme-shuffle", "plugin": "acme", "version": "1.0"}
    (copy / "config.json").write_text(json.dumps(config))
    for args in (["eval", str(copy)], ["train", "--resume", str(copy)]):
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, "decoder 'acme-shuffle' comes from plugin 'acme', which is not installed")


COLLIDING_PLUGIN = """
    from inpaintzoo import Collection

    components = Collection()

    @components("mask", "center", summary="a second center mask")
    def center(image_size: int, size: int = 8) -> None:
        return None

    inpaintzoo_register = components.hook()
"""


def test_a_collision_stops_train_but_not_list_and_info(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_registry import fake_distribution

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("INPAINTZOO_DISABLE_PLUGINS", raising=False)
    fake_distribution(site, "clash", "clash", "clash_plugin", COLLIDING_PLUGIN)
    code, out, err = run(capsys, "list", "mask", "--json")
    assert code == 0 and "center" in {r["name"] for r in json.loads(out)}
    assert "mask 'center' is registered twice" in err and "'clash'" in err and "'inpaintzoo.masks'" in err
    code, out, _ = run(capsys, "info")
    assert code == 0 and "collision" in out and "clash" in out
    code, _, err = run(capsys, "train", *TINY, f"train.out={tmp_path}", "train.name=x")
    assert_one_line_error(code, err, "registered twice")
    assert not (tmp_path / "x").exists()
    code, _, err = run(capsys, "--disable-plugin", "clash", "train", "--print-config", *TINY)
    assert code == 0, err


def test_machine_summary_is_the_line_benchmarks_print() -> None:
    from inpaintzoo.machine import machine_summary

    machine = {
        "cpu": "AMD EPYC", "cores": 2, "avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False,
        "torch_threads": 2, "torch_cpu_capability": "AVX512", "load_average": [1.0, 0.5, 0.25],
    }  # fmt: skip
    assert machine_summary(machine) == (
        "AMD EPYC, 2 cores: AVX2, AVX-512, AVX512-BF16, no AMX-BF16; torch 2 threads (AVX512); load 1.00 0.50 0.25"
    )
    assert machine_summary({**machine, "load_average": None}).endswith("load unknown")
