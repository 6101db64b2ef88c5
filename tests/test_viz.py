"""PNG grids and curve plots: valid files of the expected size and content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import import_or_missing
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
    import_or_missing("matplotlib", "matplotlib is not installed")
    records = [{"step": s, "loss": 1 / (s + 1), "val_l2": 0.5 - s / 100} for s in range(0, 40, 4)]
    records.append({"step": 40, "epoch": 2})  # a record without the plotted keys is skipped
    path = save_curves(records, tmp_path / "curves.png", keys=["loss", "val_l2"])
    image = open_png(path)
    assert image.size == (600, 500)
    assert np.asarray(image.convert("L")).std() > 5  # something was drawn


def test_curves_need_a_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="key"):
        save_curves([{"loss": 1.0}], tmp_path / "c.png", keys=[])


def test_column_labels_add_a_header_band(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    from inpaintzoo.viz import column_header_height

    rows = [tiny_images, tiny_images]
    plain = open_png(save_grid(rows, tmp_path / "plain.png", scale=2))
    headed = open_png(save_grid(rows, tmp_path / "headed.png", scale=2, column_labels=["a", "bb", "ccc", "mse 812"]))
    band = column_header_height()
    assert headed.size == (plain.size[0], plain.size[1] + band) == grid_size(2, 4, 16, 16, 2, header=band)
    header = np.asarray(headed.convert("L"))[:band]
    assert (header < 128).any()  # text was drawn in the band
    assert np.array_equal(np.asarray(headed)[band:], np.asarray(plain))  # the images below are unchanged
    with pytest.raises(UsageError, match="column labels"):
        save_grid(rows, tmp_path / "bad.png", column_labels=["only one"])


def test_curves_have_titles_and_axis_labels() -> None:
    import_or_missing("matplotlib", "matplotlib is not installed")
    from inpaintzoo.viz import CURVE_TITLES, curves_figure

    records = [{"kind": "step", "step": s, "loss": 1 / (s + 1)} for s in range(0, 40, 4)]
    records.append({"kind": "epoch", "step": 40, "epoch": 1, "val_l2": 0.3})
    figure = curves_figure(records, ["loss", "val_l2"], title="my-run")
    assert figure._suptitle.get_text() == "my-run"
    for ax, key in zip(figure.axes, ["loss", "val_l2"]):
        assert ax.get_title() == CURVE_TITLES[key]
        assert ax.get_xlabel() == "optimiser step" and ax.get_ylabel() == key
    untitled = curves_figure(records, ["lr"])
    assert untitled._suptitle is None and untitled.axes[0].get_title() == "lr"


def test_training_grids_show_several_photos() -> None:
    """The quickstart's grid comes from the held-out tail of the sample crops: it must mix the photos."""
    from inpaintzoo.config import TrainSettings
    from inpaintzoo.data.samples import TRAIN_PHOTOS, _photo, crops, sample_crops
    from inpaintzoo.engine.build import holdout
    from inpaintzoo.engine.trainer import PREVIEW

    owner = {}
    for name in TRAIN_PHOTOS:
        for crop in crops(_photo(name)):
            owner[crop.numpy().tobytes()] = name
    _, val = holdout(sample_crops("train"), vars(TrainSettings()))
    shown = val[torch.linspace(0, len(val) - 1, PREVIEW).round().long()]
    assert len({owner[image.numpy().tobytes()] for image in shown}) >= 3
