"""Whatever a user feeds the inpaint path, the answer is a valid PNG or one clean line: never a traceback.

Property-based (hypothesis): random byte strings as image files, random image and mask shapes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_MODEL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintzoo.cli import main

TINY = [
    *TINY_MODEL,
    "train.max_steps=1",
    "train.limit=40",
    "train.batch_size=8",
    "train.val_fraction=0.2",
    "train.grid_every=0",
]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def assert_clean(code: int, err: str) -> None:
    """Success, or exit 2 with exactly one `error:` line and no traceback."""
    assert "Traceback" not in err
    if code != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode and image.mode != mode else image).save(buffer, format="PNG")
    return buffer.getvalue()


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(data=st.binary(max_size=400), keep_png_header=st.booleans())
def test_random_bytes_as_image(
    tiny_run: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
    keep_png_header: bool,
) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / "in.png"
    path.write_bytes((b"\x89PNG\r\n\x1a\n" if keep_png_header else b"") + data)
    code, err = cli(capsys, "inpaint", str(tiny_run), str(path), "--out", str(folder / "out"))
    assert_clean(code, err)
    assert code == 2  # random bytes are not an image
    assert not (folder / "out" / "in.png").exists()


@SETTINGS
@given(
    height=st.one_of(st.just(32), st.integers(1, 48)),
    width=st.one_of(st.just(32), st.integers(1, 48)),
    channels=st.sampled_from([1, 2, 3, 4]),
    sixteen_bit=st.booleans(),
    box=st.one_of(
        st.just((12, 12, 8, 8)),
        st.just((14, 13, 4, 6)),
        st.tuples(st.integers(-2, 40), st.integers(-2, 40), st.integers(0, 40), st.integers(0, 40)),
    ),
    use_mask_file=st.booleans(),
    mask_h=st.one_of(st.just(32), st.integers(1, 40)),
    mask_w=st.one_of(st.just(32), st.integers(1, 40)),
)
def test_random_shapes_give_valid_output_or_clean_errors(
    tiny_run: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    height: int,
    width: int,
    channels: int,
    sixteen_bit: bool,
    box: tuple[int, int, int, int],
    use_mask_file: bool,
    mask_h: int,
    mask_w: int,
) -> None:
    folder = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(height * 100 + width)
    if sixteen_bit:
        raw = png_bytes(rng.integers(0, 65535, (height, width), dtype=np.uint16))  # saved as a 16-bit PNG
    else:
        shape = (height, width) if channels == 1 else (height, width, channels)
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        raw = png_bytes(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode)
    (folder / "img.png").write_bytes(raw)
    args = ["inpaint", str(tiny_run), str(folder / "img.png"), "--out", str(folder / "out")]
    if use_mask_file:
        hole = np.zeros((mask_h, mask_w), np.uint8)
        hole[box[0] % mask_h :][: max(box[2], 0), box[1] % mask_w :][:, : max(box[3], 0)] = 255
        (folder / "mask.png").write_bytes(png_bytes(hole, mode="L"))
        args += ["--mask", str(folder / "mask.png")]
    else:
        args += ["--box", ",".join(map(str, box))]
    code, err = cli(capsys, *args)
    assert_clean(code, err)
    if code == 0:
        result = np.asarray(Image.open(folder / "out" / "img.png").convert("RGB"))
        assert result.shape == (height, width, 3)  # any size comes back at its own size (photos.py strategies)


def test_data_root_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = cli(capsys, "train", "data=cifar10", f"data.root={tmp_path / 'nowhere'}", f"train.out={tmp_path}")
    assert_clean(code, err)
    assert code == 2 and "nowhere" in err


def test_corrupt_cifar_batches(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (root / name).write_bytes(b"\x80\x04garbage")
    code, err = cli(capsys, "train", "data=cifar10", f"data.root={root}", f"train.out={tmp_path / 'runs'}")
    assert_clean(code, err)
    assert code == 2 and "data_batch" in err
    assert not (tmp_path / "runs").exists()


# -- every bad input a clean line (issue 15) ------------------------------------------------------------------
#
# Each case: exit status 2, exactly one `error:` line on stderr, no traceback, and no file created or changed.


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `roots`: path -> (size, mtime in ns). Equal snapshots: nothing was written."""
    seen = {}
    for root in roots:
        if root.exists():
            for path in [root, *root.rglob("*")]:
                stat = path.stat()
                seen[str(path)] = (stat.st_size if path.is_file() else -1, stat.st_mtime_ns)
    return seen


def assert_refused(
    capsys: pytest.CaptureFixture[str], *args: str, watch: tuple[Path, ...] = (), says: str = ""
) -> str:
    """Run the CLI: exit 2, one `error:` line (containing `says`), no traceback, nothing under `watch` touched."""
    before = snapshot(*watch)
    code, err = cli(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert says.lower() in lines[0].lower(), err
    assert snapshot(*watch) == before
    return lines[0]


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("train.lr=nan", "train.lr must be a finite number"),
        ("train.lr=-inf", "train.lr must be a finite number"),
        ("model.overlap_weight=nan", "model.overlap_weight"),
        ("encoder=", "encoder= needs a name"),
        ("decoder=none", "decoder= needs a name"),
        ("train.seed=99999999999999999999999", "train.seed"),
        ("train.seed=-1", "train.seed"),
        ("train.device=meta", "train.device=meta"),
        ("train.device=cuda:99", "train.device=cuda:99"),
        ("train.device=banana", "train.device=banana"),
        ("mask.size=64", "mask.size"),
        ("model.overlap=20", "model.overlap=20"),
        ("encoder.width=99999999999", "too large"),
        ("encoder.width=9999999", "GiB"),
    ],
)
@pytest.mark.parametrize("command", ["train", "config"])
def test_bad_settings_are_one_line_before_any_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, override: str, says: str
) -> None:
    """`config` validates exactly as `train` does, and neither creates train.out."""
    if override.startswith("train.device=cuda") and __import__("torch").cuda.is_available():
        pytest.skip("a machine with CUDA may have that device")
    out = tmp_path / "runs"
    assert_refused(capsys, command, *TINY, override, f"train.out={out}", watch=(tmp_path,), says=says)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "file-parent", "unwritable"])
def test_train_out_that_cannot_be_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str) -> None:
    regular = tmp_path / "notes.txt"
    regular.write_text("not a folder\n")
    out = {"file": regular, "file-parent": regular / "runs", "unwritable": tmp_path / "locked" / "runs"}[kind]
    if kind == "unwritable":
        (tmp_path / "locked").mkdir(mode=0o500)
        if os.access(tmp_path / "locked", os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
    for command in ("config", "train"):
        assert_refused(capsys, command, *TINY, f"train.out={out}", watch=(tmp_path,), says="train.out")


def test_train_name_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "r").write_text("a file where the run directory would go\n")
    assert_refused(capsys, "train", *TINY, f"train.out={tmp_path}", "train.name=r", watch=(tmp_path,), says="r")


#: numeric settings -> whether 0 is refused (the others accept 0: it means "off" or is a valid seed)
ZERO_REFUSED = {"train.epochs": True, "train.batch_size": True, "train.lr": True, "train.lr_decay": True}
NUMERIC_SETTINGS = [
    *(f"train.{k}" for k in ("epochs", "max_steps", "max_minutes", "batch_size", "lr", "disc_lr", "lr_decay")),
    *(f"train.{k}" for k in ("ema", "bn_batches", "val_fraction", "patience", "limit", "shift", "seed")),
    *(f"train.{k}" for k in ("max_rollbacks", "grid_every")),
    "model.overlap",
    "model.overlap_weight",
]


@pytest.mark.parametrize("key", NUMERIC_SETTINGS)
def test_every_numeric_setting_refuses_nan_inf_negative_and_huge(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str
) -> None:
    context = ["disc=dcgan", "loss=gan", f"train.out={tmp_path / 'runs'}"]  # disc_lr applies with a discriminator
    for value in ("nan", "inf", "-inf", "-1", "1e30", "1" + "0" * 30):  # an int setting refuses 'nan' as not an int
        assert_refused(capsys, "config", *context, f"{key}={value}", says=key)
    code, err = cli(capsys, "config", *context, f"{key}=0")
    if ZERO_REFUSED.get(key):
        assert code == 2 and len(err.strip().splitlines()) == 1 and key in err, err
    else:
        assert code == 0, err
    assert not (tmp_path / "runs").exists()


def component_numbers():  # noqa: ANN201
    """(group, component, parameter, is_int) for every int or float parameter of every registered component."""
    from inpaintzoo.config import COMPONENT_GROUPS
    from inpaintzoo.plugins import default_registry

    registry = default_registry()
    for group, (kind, _) in COMPONENT_GROUPS.items():
        for component in registry.list(kind):
            for p in component.parameters:
                if p.annotation in (int, float):
                    yield group, component.name, p.name, p.annotation is int


def test_every_numeric_component_parameter_is_checked_or_refused_cleanly(tmp_path: Path) -> None:
    """NaN, inf and huge are refused; zero and negative values are refused by the factory or build fine."""
    from inpaintzoo.engine.preflight import check_config
    from inpaintzoo.errors import InpaintzooError, UsageError
    from inpaintzoo.plugins import default_registry

    registry = default_registry()
    checked = 0
    for group, name, param, is_int in component_numbers():
        chosen = [f"{group}={name}"]
        if group == "disc":
            chosen.append("loss=gan")
        if group == "density":
            chosen = [f"density={name}"]
        if group == "data" and name in ("cifar10", "folder"):
            continue  # their numbers are checked when the data is read (test_data.py); no data here
        def check(value: str, chosen: list[str] = chosen, key: str = f"{group}.{param}") -> None:
            check_config(resolve(registry, [*chosen, f"{key}={value}", f"train.out={tmp_path}"]), registry)

        for value in ("nan", "inf", "1e30") if not is_int else ("1" + "0" * 30,):
            with pytest.raises(UsageError) as caught:
                check(value)
            assert "\n" not in str(caught.value)
        for value in ("0", "-1"):
            try:
                check(value)
            except InpaintzooError as exc:
                assert "\n" not in str(exc) and str(exc)
        checked += 1
    assert checked > 20  # the sweep reached the builtins' parameters
    assert list(tmp_path.iterdir()) == []


def resolve(registry, overrides: list[str]):  # noqa: ANN001, ANN201
    from inpaintzoo.config import resolve_config

    return resolve_config(overrides, registry)


def test_batch_larger_than_the_split_is_clamped_with_one_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = cli(capsys, "train", *TINY, "train.batch_size=1000000000000", f"train.out={tmp_path}", "train.name=r")
    assert code == 0, err
    warnings_ = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings_) == 1 and "train.batch_size=1000000000000" in warnings_[0] and "Traceback" not in err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["train"]["batch_size"] == 32  # 40 images, a fifth held out for validation


def test_batch_that_cannot_fit_in_memory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from inpaintzoo.engine.preflight import activation_bytes_per_image, available_memory, build_checked
    from inpaintzoo.plugins import default_registry

    registry = default_registry()
    overrides = ["data=samples", "data.image_size=256", "mask.size=64", f"train.out={tmp_path}"]
    config = resolve(registry, overrides)
    per_image = activation_bytes_per_image(build_checked(config, registry), config, registry)
    free = available_memory(__import__("torch").device("cpu"))
    if per_image is None or free is None or per_image * 2000 < 2 * free:
        pytest.skip("this machine could hold such a batch")
    assert_refused(capsys, "train", *overrides, "train.batch_size=2000", watch=(tmp_path,), says="GiB")


def test_folder_of_one_tiny_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """One 1x1 picture: batch norm cannot train on it, and says so in one line."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "dot.png").write_bytes(png_bytes(np.full((1, 1, 3), 200, np.uint8)))
    out = tmp_path / "runs"
    args = ("data=folder", f"data.root={images}", "data.test_fraction=0", "train.val_fraction=0", f"train.out={out}")
    assert_refused(capsys, "train", *args, "train.max_steps=1", watch=(images,), says="batch norm")
    assert not out.exists()


def test_skipped_image_warning_is_one_line_without_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        (images / f"{i}.png").write_bytes(png_bytes(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, err = cli(
        capsys,
        "train",
        "data=folder",
        f"data.root={images}",
        "data.test_fraction=0",
        *TINY[1:],
        "train.batch_size=2",
        f"train.out={tmp_path / 'runs'}",
        "--no-progress",
    )
    assert code == 0, err
    warned = [line for line in err.splitlines() if "unreadable" in line]
    assert len(warned) == 1 and warned[0].startswith("warning:") and "warnings.warn" not in err, err


def test_long_errors_are_not_wrapped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 6) / "notes.txt"
    deep.parent.mkdir()
    deep.write_text("x")
    line = assert_refused(capsys, "config", f"train.out={deep}/runs", says="cannot be a folder")
    assert len(line) > 120 and str(deep) in line  # one line, however long


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("trian",), "Did you mean 'train'"),
        (("eval", "x", "--limit", "abc"), "--limit"),
        (("eval", "x", "--checkpoint", "worst"), "--checkpoint"),
        (("list", "--bogus"), "--bogus"),
    ],
)
def test_click_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], says: str) -> None:
    line = assert_refused(capsys, *args, says=says)
    assert "Usage:" not in line


def test_hostile_cifar_batch_runs_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A pickle whose payload would create a file: refused before the payload runs."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    victim = tmp_path / "pwned"
    payload = pickle.dumps(Payload(str(victim)))
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (root / name).write_bytes(payload)
    out = tmp_path / "runs"
    assert_refused(capsys, "train", "data=cifar10", f"data.root={root}", f"train.out={out}", says="data_batch_1")
    assert not victim.exists() and not out.exists()


class Payload:
    """Unpickled with plain `pickle.load`, this creates `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95", pickle.dumps({"data": [1, 2, 3]}), pickle.dumps([1])])
def test_empty_truncated_and_wrong_cifar_batches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (root / name).write_bytes(content)
    assert_refused(capsys, "train", "data=cifar10", f"data.root={root}", f"train.out={tmp_path / 'runs'}", says="batch")
    assert not (tmp_path / "runs").exists()


def test_real_cifar_batch_still_reads(cifar_root: Path) -> None:
    from inpaintzoo.data.cifar10 import read_batch

    batch = read_batch(cifar_root / "test_batch")
    assert batch.dtype == np.uint8 and batch.shape[1:] == (3, 32, 32) and len(batch) > 0


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '"a string"', '{"train": 5}', "{}"])
def test_eval_on_a_broken_config_json(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path, content: str
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "config.json").write_text(content)
    assert_refused(capsys, "eval", str(broken), "--limit", "4", watch=(broken,), says="config.json")


def test_eval_device_error_names_the_option(capsys: pytest.CaptureFixture[str], tiny_run: Path) -> None:
    if __import__("torch").cuda.is_available():
        pytest.skip("CUDA is available here")
    line = assert_refused(capsys, "eval", str(tiny_run), "--device", "cuda", watch=(tiny_run,), says="--device")
    assert "train.device" not in line


def test_hostile_and_damaged_checkpoints_are_short_lines(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    import torch

    victim = tmp_path / "pwned"
    for name, write in [
        ("hostile", lambda f: torch.save({"x": Payload(str(victim))}, f)),
        ("truncated", lambda f: f.write((tiny_run / "checkpoints" / "last.pt").read_bytes()[:200])),
        ("empty", lambda f: None),
        ("text", lambda f: f.write(b"hello")),
    ]:
        copy = tmp_path / name
        shutil.copytree(tiny_run, copy)
        for ckpt in ("best.pt", "last.pt"):
            with open(copy / "checkpoints" / ckpt, "wb") as f:
                write(f)
        line = assert_refused(capsys, "eval", str(copy), "--limit", "4", watch=(copy,), says="checkpoint")
        assert len(line) < 250 and "weights_only" not in line and "PyTorch" not in line, line
    assert not victim.exists()


def test_eval_best_without_best_pt_says_it_falls_back(
    capsys: pytest.CaptureFixture[str], tiny_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "nobest"
    shutil.copytree(tiny_run, copy)
    (copy / "checkpoints" / "best.pt").unlink(missing_ok=True)
    code, err = cli(capsys, "eval", str(copy), "--limit", "4")
    assert code == 0, err
    assert any(line.startswith("warning:") and "last.pt" in line for line in err.splitlines()), err
    (copy / "checkpoints" / "last.pt").unlink()
    assert_refused(capsys, "eval", str(copy), "--checkpoint", "last", "--out", str(tmp_path / "e"), says="last.pt")


KEYS = [
    "encoder",
    "decoder",
    "disc",
    "loss",
    "density",
    "data",
    "mask",
    "dataset",
    "discriminator",
    "encoder.width",
    "encoder.depth",
    "decoder.width",
    "loss.alpha",
    "mask.size",
    "data.image_size",
    "data.root",
    *NUMERIC_SETTINGS,
    "train.device",
    "train.name",
    "train.hflip",
    "model.judge",
    "model.mirror",
    "train",
    "model",
    "train.epochs.x",
    "+train.seed",
]
VALUES = st.one_of(
    st.sampled_from(["", "nan", "inf", "-inf", "-1", "0", "1", "2.5", "1e30", "9" * 30, "none", "true", "[1,2]"]),
    st.sampled_from(["cnn", "resnet", "unet", "gan", "wgan", "pixelcnn", "samples", "random", "dcgan", "meta", "cuda"]),
    st.text(max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
OVERRIDE = st.one_of(
    st.builds(lambda key, value: f"{key}={value}", st.sampled_from(KEYS), VALUES),
    st.text(max_size=24),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(overrides=st.lists(OVERRIDE, max_size=5))
def test_random_override_strings_raise_only_one_line_usage_errors(
    tmp_path_factory: pytest.TempPathFactory, overrides: list[str]
) -> None:
    """The config grammar, property-based: whatever the overrides, a config or one UsageError line."""
    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.preflight import check_config
    from inpaintzoo.errors import UsageError
    from inpaintzoo.plugins import default_registry

    registry = default_registry()
    out = tmp_path_factory.mktemp("grammar") / "runs"
    overrides = [*overrides, f"train.out={out}"]
    try:
        config = resolve_config(overrides, registry)
        check_config(config, registry)
    except UsageError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
    assert not out.exists()


# -- inpaint: every input checked before the first write; lines that say what is really wrong ---------------------


def test_inpaint_checks_every_image_before_writing_any(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(np.full((40, 40, 3), 120, np.uint8)))
    (tmp_path / "b.png").write_bytes(b"not a png")
    before = snapshot(tmp_path)
    code, err = cli(capsys, "inpaint", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--box", "4,4,8,8",
                    "--model", "unet.freeform", "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean(code, err)
    assert code == 2 and "b.png" in err
    assert snapshot(tmp_path) == before  # a.png's result was not written either


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_inpaint_out_that_cannot_be_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(np.full((32, 32, 3), 90, np.uint8)))
    (tmp_path / "file").write_text("keep me")
    out = tmp_path / "file" if where == "file" else tmp_path / "file" / "sub"
    before = snapshot(tmp_path)
    code, err = cli(capsys, "inpaint", str(tmp_path / "a.png"), "--box", "4,4,8,8", "--model", "unet.freeform",
                    "--out", str(out))  # fmt: skip
    assert_clean(code, err)
    assert code == 2 and "file" in err
    assert snapshot(tmp_path) == before and (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("size, says", [((1, 1), "1x1"), ((8000, 8000), "up to 50 Mpx")])
def test_inpaint_tiny_and_huge_images_say_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, size: tuple[int, int], says: str
) -> None:
    from PIL import Image

    Image.new("RGB", size, (100, 50, 20)).save(tmp_path / "p.png")
    code, err = cli(capsys, "inpaint", str(tmp_path / "p.png"), "--box", "0,0,1,1", "--model", "unet.freeform",
                    "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean(code, err)
    assert code == 2 and says in err and "(B, 1, H, W)" not in err
    assert not (tmp_path / "out").exists()
