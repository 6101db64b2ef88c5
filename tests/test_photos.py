"""Any image size and any mask through the crop / resize / original strategies, with stand-in fill functions.

photos.py knows no model, so these tests need none: a fill function that records what it was given and paints a
constant colour shows where each window went, what the model saw and what was pasted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintzoo.errors import DataError
from inpaintzoo.photos import (
    MAX_PIXELS,
    MAX_WINDOWS,
    Geometry,
    compare_image,
    crop_window,
    fill_image,
    inpaint_photo,
    regions,
    serves,
)

FREE = Geometry(32)
CENTRE = Geometry(32, box=(12, 12, 8, 8))
FILL_VALUE = 0.25


class Recorder:
    """A fill function at the model's size: remembers each call and fills the whole input with one colour."""

    def __init__(self, size: int | None = 32) -> None:
        self.size = size
        self.calls: list[tuple[tuple[int, ...], torch.Tensor]] = []

    def __call__(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.size is not None:
            assert images.shape[-2:] == (self.size, self.size)
        assert mask.dtype == torch.bool and mask.shape[-2:] == images.shape[-2:]
        self.calls.append((tuple(images.shape), mask.clone()))
        return torch.full_like(images, FILL_VALUE)


def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random-size image and a mask of one to three rectangles and a stroke-like diagonal."""
    g = torch.Generator().manual_seed(seed)
    h, w = (int(v) for v in torch.randint(6, 300, (2,), generator=g))
    image = torch.rand(3, h, w, generator=g)
    mask = torch.zeros(1, h, w, dtype=torch.bool)
    for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
        bh, bw = int(torch.randint(1, max(2, h // 3), (1,), generator=g)), int(torch.randint(1, max(2, w // 3), (1,)))
        t, l = int(torch.randint(0, h - bh + 1, (1,), generator=g)), int(torch.randint(0, w - bw + 1, (1,)))
        mask[:, t : t + bh, l : l + bw] = True
    d = torch.arange(min(h, w) // 2)
    mask[:, d, d] = True
    return image, mask


@pytest.mark.parametrize("strategy", ["crop", "resize"])
@pytest.mark.parametrize("seed", range(6))
def test_context_is_bit_identical_and_hole_filled(seed: int, strategy: str) -> None:
    image, mask = random_case(seed)
    fill = Recorder()
    out = fill_image(image, mask, fill, FREE, strategy)
    hole = mask.expand_as(image)
    assert out.shape == image.shape
    assert torch.equal(out[~hole], image[~hole])  # bit-identical, not merely close
    assert torch.allclose(out[hole], torch.full_like(out[hole], FILL_VALUE), atol=1e-5)
    assert fill.calls and all(shape == (1, 3, 32, 32) for shape, _ in fill.calls)
    if strategy == "resize":
        assert len(fill.calls) == 1


def test_original_runs_at_the_image_size() -> None:
    image, mask = random_case(3)
    fill = Recorder(size=None)
    out = fill_image(image, mask, fill, Geometry(32, any_size=True), "original")
    assert [shape for shape, _ in fill.calls] == [(1, 3, *image.shape[-2:])]
    assert torch.equal(fill.calls[0][1][0], mask)
    assert torch.equal(out[~mask.expand_as(image)], image[~mask.expand_as(image)])


def test_several_holes_get_a_window_each() -> None:
    image = torch.rand(3, 200, 300)
    mask = torch.zeros(1, 200, 300, dtype=torch.bool)
    mask[:, 10:20, 10:16] = True
    mask[:, 150:166, 250:262] = True
    fill = Recorder()
    out = fill_image(image, mask, fill, FREE, "crop")
    assert len(fill.calls) == 2
    # each window is at the model's size (the holes are small), so the model sees each hole at full resolution
    assert sorted(int(m.sum()) for _, m in fill.calls) == [60, 192]
    assert torch.equal(out[~mask.expand_as(image)], image[~mask.expand_as(image)])


def test_free_form_window_geometry() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        h, w = (int(v) for v in torch.randint(8, 400, (2,), generator=g))
        rh, rw = int(torch.randint(1, h + 1, (1,), generator=g)), int(torch.randint(1, w + 1, (1,), generator=g))
        t, l = (
            int(torch.randint(0, h - rh + 1, (1,), generator=g)),
            int(torch.randint(0, w - rw + 1, (1,), generator=g)),
        )
        win = crop_window((t, l, rh, rw), h, w, FREE)
        longest = max(rh, rw)
        assert win.side >= longest  # covers the hole
        assert win.top <= t and win.left <= l and win.top + win.side >= t + rh and win.left + win.side >= l + rw
        if win.side <= h:
            assert 0 <= win.top <= h - win.side  # inside the image where it fits
        if win.side <= w:
            assert 0 <= win.left <= w - win.side
        # context: the hole at most half the side, unless the image is too small for that
        assert win.side >= min(2 * longest, min(h, w)) or win.side == longest
        assert win.side >= min(32, min(h, w))


def test_fixed_box_windows_put_the_hole_in_the_box() -> None:
    g = torch.Generator().manual_seed(1)
    box = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    box[..., 12:20, 12:20] = True
    for _ in range(200):
        rh, rw = int(torch.randint(1, 60, (1,), generator=g)), int(torch.randint(1, 60, (1,), generator=g))
        t, l = int(torch.randint(0, 200, (1,), generator=g)), int(torch.randint(0, 200, (1,), generator=g))
        win = crop_window((t, l, rh, rw), 260, 260, CENTRE)
        region = torch.zeros(1, 1, win.side, win.side, dtype=torch.bool)
        region[..., t - win.top : t - win.top + rh, l - win.left : l - win.left + rw] = True
        assert region.sum() == rh * rw  # the window covers the region
        model_side = F.interpolate(region.float(), size=(32, 32), mode="nearest")  # how pasting maps it back
        back = F.interpolate(box.float(), size=(win.side, win.side), mode="nearest") > 0
        assert bool((region <= back).all()), (rh, rw, win)  # every hole pixel is predicted by the box
        assert model_side.shape[-1] == 32


def test_fixed_box_model_fills_rectangles_anywhere_and_refuses_strokes() -> None:
    image = torch.rand(3, 120, 90)
    mask = torch.zeros(1, 120, 90, dtype=torch.bool)
    mask[:, 0:5, 0:9] = True  # at the corner: the window is reflected past the border
    mask[:, 60:90, 40:52] = True
    fill = Recorder()
    out = fill_image(image, mask, fill, CENTRE, "crop")
    assert len(fill.calls) == 2
    for _, model_mask in fill.calls:  # the model always sees the hole it was trained on: its box
        assert model_mask.sum() == 64 and bool(model_mask[..., 12:20, 12:20].all())
    assert torch.equal(out[~mask.expand_as(image)], image[~mask.expand_as(image)])
    assert torch.allclose(out[mask.expand_as(image)], torch.tensor(FILL_VALUE), atol=1e-5)

    stroke = torch.zeros(1, 120, 90, dtype=torch.bool)
    d = torch.arange(30)
    stroke[:, 40 + d, 20 + d] = True
    reason = serves(CENTRE, stroke[0], "crop")
    assert reason is not None and "free-form" in reason and "8x8 box" in reason
    with pytest.raises(DataError, match="rectangular holes only"):
        fill_image(image, stroke, Recorder(), CENTRE, "crop")


def test_refusals_say_why() -> None:
    mask = torch.zeros(40, 40, dtype=torch.bool)
    mask[2:6, 2:6] = True
    assert "runs at 32x32 only" in serves(FREE, mask, "original")
    assert "reaches outside" in serves(CENTRE, mask, "resize")
    big = torch.zeros(1, 600, 600, dtype=torch.bool)
    big[:, :5, :5] = True
    assert "at most" in serves(Geometry(32, any_size=True), big[0], "original")
    with pytest.raises(DataError, match="too small"):
        fill_image(torch.rand(3, 1, 1), torch.ones(1, 1, 1, dtype=torch.bool), Recorder(), FREE)
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(DataError, match="Mpx"):  # refused before any memory is spent on it
        fill_image(
            torch.empty(3, 1, 1).expand(3, side, side),
            torch.zeros(1, 1, 1, dtype=torch.bool).expand(1, side, side),
            Recorder(),
            FREE,
        )
    dots = torch.zeros(1, 64, 64, dtype=torch.bool)
    dots[:, ::4, ::4] = True  # 256 separate one-pixel holes
    with pytest.raises(DataError, match="separate holes"):
        fill_image(torch.rand(3, 64, 64), dots, Recorder(), CENTRE, "crop")
    fill = Recorder()  # a free-form model groups them: the work stays bounded
    fill_image(torch.rand(3, 64, 64), dots, fill, FREE, "crop")
    assert 0 < len(fill.calls) <= MAX_WINDOWS


def _regions_by_flood(mask: np.ndarray) -> set[tuple[int, int, int, int]]:
    h, w = mask.shape
    seen = np.zeros_like(mask)
    boxes = set()
    for i in range(h):
        for j in range(w):
            if mask[i, j] and not seen[i, j]:
                stack, pix = [(i, j)], []
                seen[i, j] = True
                while stack:
                    y, x = stack.pop()
                    pix.append((y, x))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = y + dy, x + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                                seen[ny, nx] = True
                                stack.append((ny, nx))
                ys, xs = zip(*pix)
                boxes.add((min(ys), min(xs), max(ys) - min(ys) + 1, max(xs) - min(xs) + 1))
    return boxes


@pytest.mark.parametrize("density", [0.1, 0.3, 0.5])
def test_regions_match_a_flood_fill(density: float) -> None:
    rng = np.random.default_rng(int(density * 10))
    for _ in range(10):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < density
        assert set(regions(mask)) == _regions_by_flood(mask)


class FakeRun:
    """What inpaint_photo needs of a Run: `inpaint(images, mask, strategy=...)`."""

    def inpaint(self, images: torch.Tensor, mask: torch.Tensor, strategy: str = "crop") -> torch.Tensor:
        return torch.stack([fill_image(x, m, Recorder(), FREE, strategy) for x, m in zip(images, mask)])


def test_inpaint_photo_pastes_in_uint8_space() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (77, 131, 3), dtype=np.uint8)
    mask = np.zeros((77, 131), dtype=bool)
    mask[20:40, 30:70] = True
    out = inpaint_photo(FakeRun(), image, mask)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])
    assert np.all(out[mask] == round(FILL_VALUE * 255))
    with pytest.raises(DataError, match="the mask is"):
        inpaint_photo(FakeRun(), image, mask[:-1])


def test_compare_image_is_two_labelled_panels() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=bool)
    mask[12:20, 12:20] = True
    filled = np.full((32, 32, 3), 200, dtype=np.uint8)
    side = compare_image(image, mask, filled, ("hole", "fill"))
    assert side.shape[1] >= 2 * 160 and side.shape[0] > 160  # small images are enlarged
    assert (side[..., 0] == 255).any() and (side == 200).any()  # the marked hole (red) and the fill are there
