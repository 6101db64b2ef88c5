"""Mask generators, hole filling, the model's 4-channel input, and masks read from files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintzoo.data.masks import (
    BrushMask,
    CenterMask,
    RectangleMask,
    box_mask,
    fill_hole,
    load_mask,
    mask_box,
    model_input,
)
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.plugins import load_registry


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_center_mask_is_the_centred_square() -> None:
    make = CenterMask(32)
    mask = make(5)
    assert mask.shape == (5, 1, 32, 32) and mask.dtype == torch.bool
    assert make.box == (12, 12, 8, 8) and make.fill == "zeros"
    assert torch.equal(mask[2:3], box_mask(32, (12, 12, 8, 8)))
    assert int(mask.sum()) == 5 * 64
    odd = CenterMask(31, size=7, fill="mean")
    assert odd.box == (12, 12, 7, 7) and mask_box(odd(1)) == odd.box


@pytest.mark.parametrize("size", [0, 33])
def test_center_mask_rejects_sizes_that_do_not_fit(size: int) -> None:
    with pytest.raises(UsageError, match="mask.size"):
        CenterMask(32, size=size)


def test_fill_must_be_known() -> None:
    with pytest.raises(UsageError, match="zeros, noise, mean"):
        CenterMask(32, fill="blur")


def test_rectangles_respect_their_bounds_and_seed() -> None:
    make = RectangleMask(32, min_size=3, max_size=9)
    masks = make(200, seeded(1))
    assert make.box is None and masks.shape == (200, 1, 32, 32)
    boxes = [mask_box(m) for m in masks]
    assert all(b is not None and 3 <= b[2] <= 9 and 3 <= b[3] <= 9 for b in boxes)
    assert len(set(boxes)) > 150  # really random
    assert torch.equal(make(200, seeded(1)), masks) and not torch.equal(make(200, seeded(2)), masks)


def test_rectangles_reach_every_edge() -> None:
    masks = RectangleMask(32, min_size=4, max_size=4)(400, seeded(3))
    boxes = [mask_box(m) for m in masks]
    tops, lefts = {b[0] for b in boxes}, {b[1] for b in boxes}
    assert {0, 28} <= tops and {0, 28} <= lefts


def test_several_rectangles_cover_more() -> None:
    one = RectangleMask(32, count=1)(100, seeded(0)).float().mean()
    three = RectangleMask(32, count=3)(100, seeded(0)).float().mean()
    assert three > 1.5 * one


def test_brush_strokes_are_thin_random_and_never_empty() -> None:
    make = BrushMask(32, strokes=2, width=3, max_len=12)
    masks = make(64, seeded(5))
    assert make.box is None and masks.shape == (64, 1, 32, 32) and masks.dtype == torch.bool
    assert bool(masks.flatten(1).any(1).all())
    coverage = masks.float().mean()
    assert 0.005 < coverage < 0.2
    assert sum(mask_box(m) is None for m in masks) > 32  # mostly not rectangles
    assert torch.equal(make(64, seeded(5)), masks)


def test_brush_width_and_stroke_count_set_the_coverage() -> None:
    thin = BrushMask(32, width=1)(48, seeded(0)).float().mean()
    thick = BrushMask(32, width=5)(48, seeded(0)).float().mean()
    more = BrushMask(32, width=1, strokes=6)(48, seeded(0)).float().mean()
    assert thick > 2 * thin and more > 1.5 * thin


def test_brush_rejects_bad_parameters() -> None:
    with pytest.raises(UsageError, match="mask.width"):
        BrushMask(32, width=0)


def test_zero_fill_blanks_only_the_hole(tiny_images: torch.Tensor) -> None:
    mask = CenterMask(16, size=4)(4)
    filled = fill_hole(tiny_images, mask, "zeros")
    assert filled[mask.expand_as(filled)].abs().max() == 0
    assert torch.equal(filled[~mask.expand_as(filled)], tiny_images[~mask.expand_as(filled)])


def test_noise_fill_is_uniform_seeded_noise(tiny_images: torch.Tensor) -> None:
    mask = CenterMask(16, size=8)(4)
    hole = mask.expand_as(tiny_images)
    first = fill_hole(tiny_images, mask, "noise", seeded(0))
    assert torch.equal(first, fill_hole(tiny_images, mask, "noise", seeded(0)))
    values = first[hole]
    assert 0 <= values.min() and values.max() <= 1 and 0.4 < values.mean() < 0.6
    assert not torch.allclose(values, tiny_images[hole], atol=0.05)
    assert torch.equal(first[~hole], tiny_images[~hole])


def test_mean_fill_uses_each_images_context_colour() -> None:
    images = torch.zeros(2, 3, 2, 2)
    images[0, :, 0, 0] = torch.tensor([0.3, 0.6, 0.9])  # the hole's own value must not count
    images[0, :, 0, 1] = torch.tensor([0.2, 0.4, 0.6])
    images[0, :, 1, 0] = torch.tensor([0.4, 0.4, 0.0])
    images[0, :, 1, 1] = torch.tensor([0.0, 0.1, 0.3])
    images[1] = 0.5
    mask = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    mask[:, :, 0, 0] = True
    filled = fill_hole(images, mask, "mean")
    assert torch.allclose(filled[0, :, 0, 0], torch.tensor([0.2, 0.3, 0.3]))
    assert torch.allclose(filled[1, :, 0, 0], torch.full((3,), 0.5))


def test_model_input_appends_the_mask_channel(tiny_images: torch.Tensor) -> None:
    mask = RectangleMask(16, 2, 6)(4, seeded(0))
    x = model_input(tiny_images, mask, "zeros")
    assert x.shape == (4, 4, 16, 16)
    assert torch.equal(x[:, 3:], mask.float())
    assert torch.equal(x[:, :3], fill_hole(tiny_images, mask, "zeros"))


def test_box_mask_and_mask_box() -> None:
    with pytest.raises(UsageError, match="does not fit"):
        box_mask(8, (6, 0, 4, 2))
    ell = box_mask(8, (0, 0, 4, 2)) | box_mask(8, (2, 0, 2, 6))
    assert mask_box(ell) is None
    assert mask_box(torch.zeros(1, 1, 8, 8, dtype=torch.bool)) is None
    assert mask_box(box_mask(8, (1, 2, 3, 4))) == (1, 2, 3, 4)


def test_masks_of_non_square_images(tmp_path: Path) -> None:
    wide = box_mask((4, 6), (1, 3, 2, 3))
    assert wide.shape == (1, 1, 4, 6) and int(wide.sum()) == 6 and mask_box(wide) == (1, 3, 2, 3)
    with pytest.raises(UsageError, match="does not fit in a 6x4 image"):
        box_mask((4, 6), (0, 4, 1, 3))
    drawing = np.zeros((4, 6), dtype=np.uint8)
    drawing[1:3, 3:6] = 255
    assert torch.equal(load_mask(save_mask_png(tmp_path / "wide.png", drawing), torch.Size([4, 6])), wide)


def save_mask_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_load_mask_reads_white_as_hole(tmp_path: Path) -> None:
    drawing = np.zeros((16, 16), dtype=np.uint8)
    drawing[4:8, 5:11] = 255
    mask = load_mask(save_mask_png(tmp_path / "m.png", drawing), 16)
    assert mask.shape == (1, 1, 16, 16) and mask.dtype == torch.bool
    assert torch.equal(mask, box_mask(16, (4, 5, 4, 6)))


def test_load_mask_treats_transparency_as_context(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[2:4, 2:4] = (255, 255, 255, 255)
    mask = load_mask(save_mask_png(tmp_path / "m.png", rgba), 8)
    assert mask_box(mask) == (2, 2, 2, 2)


def test_load_mask_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has no hole"):
        load_mask(save_mask_png(tmp_path / "empty.png", np.zeros((8, 8), dtype=np.uint8)), 8)
    with pytest.raises(DataError, match="covers the whole image"):
        load_mask(save_mask_png(tmp_path / "full.png", np.full((8, 8), 255, dtype=np.uint8)), 8)
    with pytest.raises(DataError, match="is 8x4 pixels but the images are 8x8"):
        load_mask(save_mask_png(tmp_path / "small.png", np.full((4, 8), 255, dtype=np.uint8)), 8)


def test_builtin_masks_come_from_entry_points() -> None:
    registry = load_registry()
    assert {"brush", "center", "rectangles"} <= set(registry.names("mask"))
    assert registry.get("mask", "center").plugin == "inpaintzoo.masks"
    made = registry.build("mask", "center", image_size=32, size="10", fill="noise")
    assert made.box == (11, 11, 10, 10) and made.fill == "noise"
    with pytest.raises(UsageError, match="fill"):
        registry.build("mask", "brush", image_size=32, fill="gray")
