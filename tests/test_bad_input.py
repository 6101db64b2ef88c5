"""Whatever a user feeds the inpaint path, the answer is a valid PNG or one clean line: never a traceback.

Property-based (hypothesis): random byte strings as image files, random image and mask shapes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintzoo.cli import main
from inpaintzoo.engine.trainer import train

TINY = [
    "data=samples",
    "encoder=cnn",
    "encoder.width=8",
    "encoder.bottleneck=16",
    "decoder.width=8",
    "train.max_steps=1",
    "train.limit=40",
    "train.batch_size=8",
    "train.val_fraction=0.2",
    "train.grid_every=0",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train([*TINY, f"train.out={tmp_path_factory.mktemp('runs')}", "train.name=r"])


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
    run_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
    keep_png_header: bool,
) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / "in.png"
    path.write_bytes((b"\x89PNG\r\n\x1a\n" if keep_png_header else b"") + data)
    code, err = cli(capsys, "inpaint", str(run_dir), str(path), "--out", str(folder / "out"))
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
    run_dir: Path,
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
    args = ["inpaint", str(run_dir), str(folder / "img.png"), "--out", str(folder / "out")]
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
        assert result.shape == (32, 32, 3)  # only sizes the model supports get through


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
