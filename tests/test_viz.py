"""PNG grids and curve plots: valid files of the expected size and content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintzoo.errors import UsageError
from inpaintzoo.viz import grid_size, save_curves, save_grid


def open_png(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.verify()  # a complete, well-formed file
    image = Image.open(path)
    assert image.format == "PNG"
    return image


def test_grid_has_the_expected_size_and_crisp_pixels(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    rows = [tiny_images[:3, :, :8, :8], tiny_images[1:4, :, :8, :8]]
    path = save_grid(rows, tmp_path / "out" / "grid.png", scale=4)
    image = open_png(path)
    # 3 columns of 32 px with 2 px gaps around them; 2 rows of 32 px likewise
    assert image.size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2) == grid_size(2, 3, 8, 8, 4)
    pixels = np.asarray(image.convert("RGB"))
    first = (tiny_images[0, :, 0, 0] * 255).round().to(torch.uint8).numpy()
    block = pixels[2:6, 2:6]  # the top-left source pixel, upscaled 4x by nearest neighbour
    assert (block == first).all()
    assert (pixels[0, :] == 255).all()  # white border


def test_labels_widen_the_grid_and_are_drawn(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    rows = [tiny_images[:2], tiny_images[2:]]
    plain = open_png(save_grid(rows, tmp_path / "plain.png", scale=2))
    labelled = open_png(save_grid(rows, tmp_path / "labelled.png", labels=["truth", "context encoder"], scale=2))
    assert labelled.size[1] == plain.size[1] and labelled.size[0] > plain.size[0] + 20
    label_strip = np.asarray(labelled.convert("L"))[:, : labelled.size[0] - plain.size[0]]
    assert label_strip.min() < 128  # dark text on the white strip


def test_short_rows_are_padded(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    image = open_png(save_grid([tiny_images, tiny_images[:1]], tmp_path / "g.png", scale=1))
    assert image.size == grid_size(2, 4, 16, 16, 1)


def test_grid_errors(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    with pytest.raises(UsageError, match="labels"):
        save_grid([tiny_images], tmp_path / "g.png", labels=["a", "b"])
    with pytest.raises(UsageError, match="one size"):
        save_grid([tiny_images, tiny_images[..., :8, :8]], tmp_path / "g.png")


def test_curves_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    records = [{"step": s, "loss": 1 / (s + 1), "val_l2": 0.5 - s / 100} for s in range(0, 40, 4)]
    records.append({"step": 40, "epoch": 2})  # a record without the plotted keys is skipped
    path = save_curves(records, tmp_path / "curves.png", keys=["loss", "val_l2"])
    image = open_png(path)
    assert image.size == (600, 500)
    assert np.asarray(image.convert("L")).std() > 5  # something was drawn


def test_curves_need_a_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="key"):
        save_curves([{"loss": 1.0}], tmp_path / "c.png", keys=[])
