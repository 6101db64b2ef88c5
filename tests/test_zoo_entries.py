"""The builtin pretrained entries, as a new user meets them: listed, verified, filling a photo of their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

import inpaintzoo
from inpaintzoo.cli import main
from inpaintzoo.data.masks import BrushMask
from inpaintzoo.hub import sha256_file

ZOO = Path(inpaintzoo.__file__).parent / "zoo" / "pretrained"
SAMPLES = Path(inpaintzoo.__file__).parent / "data" / "samples"
BUILTIN = {"unet.l2", "unet.gan", "unet.freeform"}  # context encoders
DENSITY = {"pixelcnn.cifar10", "gated-pixelcnn.cifar10", "row-lstm.cifar10", "diag-bilstm.cifar10", "flat-lstm.cifar10"}
SIZE_LIMIT = 16 * 2**20  # every builtin entry's weights together


def photo_256() -> np.ndarray:
    """A real photograph (the embedded astronaut), 256x256 RGB uint8."""
    return np.asarray(Image.open(SAMPLES / "astronaut.png").convert("RGB").resize((256, 256), Image.BICUBIC))


def brush_stroke(size: int = 256) -> np.ndarray:
    """Three random brush strokes 12 px wide, as a user paints them on a 256x256 photo (seeded)."""
    mask = BrushMask(size, strokes=3, width=12, max_len=size // 2)(1, torch.Generator().manual_seed(7))
    return mask[0, 0].numpy()


def squared_errors(out: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> tuple[float, float]:
    """Hole MSE of the fill, and of the mean colour of the context (the bar to clear)."""
    truth_hole = truth[hole].astype(float)
    fill = ((out[hole].astype(float) - truth_hole) ** 2).mean()
    mean = ((truth[~hole].astype(float).mean(0) - truth_hole) ** 2).mean()
    return fill, mean


def test_builtin_entries_are_listed_verified_and_small() -> None:
    entries = {e.name: e for e in inpaintzoo.list_pretrained()}
    assert BUILTIN | DENSITY <= set(entries)
    total = 0
    for name in BUILTIN | DENSITY:
        card = json.loads((ZOO / f"{name}.json").read_text())
        weights = ZOO / card["weights"]["file"]
        assert sha256_file(weights) == card["weights"]["sha256"] == entries[name].weights.sha256
        assert card["card"]["metrics"]["images"] == 1000
        assert card["card"]["train_command"].startswith("inpaintzoo train")
        assert card["card"]["images_seen"] > 0
        total += weights.stat().st_size
    assert total <= SIZE_LIMIT


def test_free_form_entry_fills_a_brush_stroke_on_a_photo_from_the_command_line(tmp_path: Path) -> None:
    image, hole = photo_256(), brush_stroke()
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "stroke.png")
    try:
        main(
            ["inpaint", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "stroke.png"),
             "--model", "unet.freeform", "--out", str(tmp_path / "out")]
        )  # fmt: skip
    except SystemExit as done:
        assert done.code in (0, None)
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png").convert("RGB"))
    assert out.shape == (256, 256, 3)
    assert np.array_equal(out[~hole], image[~hole])  # the context, bit for bit
    fill, mean = squared_errors(out, image, hole)
    assert fill < mean, f"hole MSE {fill:.0f} is not below the mean-colour fill's {mean:.0f}"


def test_free_form_entry_fills_a_photo_through_the_python_api() -> None:
    image, hole = photo_256(), brush_stroke()
    run = inpaintzoo.pretrained("unet.freeform", device="cpu")
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    filled = run.inpaint(x, torch.from_numpy(hole)[None, None])
    out = (filled[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert out.shape == (256, 256, 3) and np.array_equal(out[~hole], image[~hole])
    fill, mean = squared_errors(out, image, hole)
    assert fill < mean


def test_builtin_cards_reproduce_on_the_test_split(cifar_root: Path) -> None:
    """What each card says was measured is what `eval --model` measures (all 1,000 test images, own masks)."""
    for name in sorted(BUILTIN):
        card = json.loads((ZOO / f"{name}.json").read_text())["card"]
        metrics, _ = inpaintzoo.pretrained(name, device="cpu").evaluate("test")
        assert metrics["images"] == card["metrics"]["images"]
        assert metrics["hole_mse"] == pytest.approx(card["metrics"]["hole_mse"], abs=0.05), name


@pytest.mark.parametrize("name", sorted(DENSITY))
def test_density_entry_card_reproduces_in_its_mean_mode(cifar_root: Path, name: str) -> None:
    """A density entry's card keeps every decoding's test metrics, its headline the best one's; `mean` (cheap) is
    measured again."""
    card = json.loads((ZOO / f"{name}.json").read_text())["card"]
    by_mode = card["metrics_by_mode"]
    assert {"greedy", "mean", "sample", "best-of-k", "posterior-mean", "mean+mirror"} <= set(by_mode)
    best = min(by_mode, key=lambda label: by_mode[label]["hole_mse"])
    assert card["metrics"]["decoding"] == best
    assert card["metrics"]["mode"] == by_mode[best]["mode"] == best.removesuffix("+mirror")
    assert card["metrics"].get("mirror", False) == best.endswith("+mirror")
    metrics, _ = inpaintzoo.pretrained(name, device="cpu").evaluate("test", mode="mean")
    expected = card["metrics_by_mode"]["mean"]
    assert metrics["hole_mse"] == pytest.approx(expected["hole_mse"], abs=0.05), name
    assert metrics["bits_per_dim"] == pytest.approx(expected["bits_per_dim"], abs=1e-4), name


def test_a_density_entry_decodes_as_its_card_unless_told_otherwise(
    cifar_root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`eval --model` (the card's eval command) measures the card's headline mode, K, tau and mirror by default."""
    best = json.loads((ZOO / "pixelcnn.cifar10.json").read_text())["card"]["metrics"]
    code, _, err = run_cli(capsys, "eval", "--model", "pixelcnn.cifar10", "--limit", "4", "--out", str(tmp_path / "a"))
    assert code == 0, err
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["mode"] == best["mode"] and record.get("mirror", False) == best.get("mirror", False)
    assert all(record[key] == best[key] for key in ("k", "tau") if key in best)
    code, _, err = run_cli(
        capsys, "eval", "--model", "pixelcnn.cifar10", "--limit", "4", "--mode", "mean", "--out", str(tmp_path / "b")
    )
    assert code == 0, err
    told = json.loads((tmp_path / "b.json").read_text())
    assert told["mode"] == "mean" and "mirror" not in told  # a mode given: the card's other choices do not apply
