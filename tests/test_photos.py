"""Any image size and any mask through the crop / resize / original strategies, with stand-in fill functions.

photos.py knows no model, so these tests need none: a fill function records what it was given and paints each
pixel with its own position in the fill's input (x in red, y in green, a constant in blue). A pasted pixel's value
then says which pixel of which window it came from, so a shifted, flipped, transposed or wrongly resized paste
fails where a single colour would pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintzoo import photos
from inpaintzoo.errors import DataError
from inpaintzoo.photos import (
    MAX_PIXELS,
    MAX_WINDOWS,
    Geometry,
    Window,
    compare_image,
    crop_window,
    fill_image,
    inpaint_photo,
    regions,
    serves,
)

FREE = Geometry(32)
CENTRE = Geometry(32, box=(12, 12, 8, 8))
MARK = 0.25  # the blue of every fill: a dropped or swapped channel shows


def position_fill(images: torch.Tensor) -> torch.Tensor:
    """Each pixel of a `(B, 3, h, w)` input painted with its position there: ((x + 0.5) / w, (y + 0.5) / h, MARK)."""
    b, _, h, w = images.shape
    x = ((torch.arange(w) + 0.5) / w).expand(h, w)
    y = ((torch.arange(h) + 0.5) / h)[:, None].expand(h, w)
    return torch.stack([x, y, torch.full((h, w), MARK)]).expand(b, -1, -1, -1).to(images.dtype)


def resized_positions(size: int, height: int, width: int) -> torch.Tensor:
    """What a `height` x `width` area receives from a fill at `size` x `size`: its positions, resized as a photo is
    (bilinear, antialiased when shrinking)."""
    field = position_fill(torch.zeros(1, 3, size, size))
    if (height, width) == (size, size):
        return field[0]
    return F.interpolate(field, size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]


def box_reach(window: Window, geometry: Geometry) -> torch.Tensor:
    """The window pixels a fixed-box model may fill: those whose nearest model pixel, floor(i * size / side), is in
    its box (every pixel for a free-form model)."""
    if geometry.box is None:
        return torch.ones(window.side, window.side, dtype=torch.bool)
    t, l, h, w = geometry.box
    model = torch.arange(window.side) * geometry.size // window.side
    rows, cols = (model >= t) & (model < t + h), (model >= l) & (model < l + w)
    return rows[:, None] & cols[None, :]


def assert_crop_pastes(out: torch.Tensor, mask: torch.Tensor, windows: list[Window], geometry: Geometry) -> None:
    """Every hole pixel (y, x) holds pixel (y - top, x - left) of the first window that reaches it, resized from
    the model's size to the window's side; nothing else was used."""
    ys, xs = mask[0].nonzero(as_tuple=True)
    expected = torch.full((3, len(ys)), float("nan"))
    owner = torch.full((len(ys),), -1)
    for k, window in enumerate(windows):
        i, j = ys - window.top, xs - window.left
        inside = (i >= 0) & (i < window.side) & (j >= 0) & (j < window.side) & (owner < 0)
        inside[inside.clone()] &= box_reach(window, geometry)[i[inside], j[inside]]
        owner[inside] = k
        expected[:, inside] = resized_positions(geometry.size, window.side, window.side)[:, i[inside], j[inside]]
    assert bool((owner >= 0).all()), "a hole pixel no window reached"
    torch.testing.assert_close(out[:, ys, xs], expected, rtol=0, atol=1e-5)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[Window]:
    """The windows `crop` cuts, in order, as it chooses them."""
    chosen: list[Window] = []
    choose = photos.crop_window

    def spy(region: tuple[int, int, int, int], height: int, width: int, geometry: Geometry) -> Window:
        chosen.append(choose(region, height, width, geometry))
        return chosen[-1]

    monkeypatch.setattr(photos, "crop_window", spy)
    return chosen


class Recorder:
    """A fill function at the model's size: remembers each call and paints each pixel with its position."""

    def __init__(self, size: int | None = 32) -> None:
        self.size = size
        self.calls: list[tuple[tuple[int, ...], torch.Tensor]] = []

    def __call__(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.size is not None:
            assert images.shape[-2:] == (self.size, self.size)
        assert mask.dtype == torch.bool and mask.shape[-2:] == images.shape[-2:]
        self.calls.append((tuple(images.shape), mask.clone()))
        return position_fill(images)


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
def test_context_is_bit_identical_and_each_hole_pixel_comes_from_its_place(
    seed: int, strategy: str, windows: list[Window]
) -> None:
    image, mask = random_case(seed)
    fill = Recorder()
    out = fill_image(image, mask, fill, FREE, strategy)
    hole = mask.expand_as(image)
    assert out.shape == image.shape
    assert torch.equal(out[~hole], image[~hole])  # bit-identical, not merely close
    assert fill.calls and all(shape == (1, 3, 32, 32) for shape, _ in fill.calls)
    if strategy == "resize":  # the whole image at the model's size and back
        assert len(fill.calls) == 1 and not windows
        h, w = image.shape[-2:]
        torch.testing.assert_close(out[hole], resized_positions(32, h, w)[hole], rtol=0, atol=1e-5)
    else:
        assert len(windows) == len(fill.calls)
        assert_crop_pastes(out, mask, windows, FREE)


def test_a_pasted_window_is_the_fill_enlarged_in_place() -> None:
    """Worked out without torch: enlarging a linear ramp bilinearly keeps it linear (clamped half a model pixel from
    the edge), so window pixel i of a side-S window gets (i + 0.5) / S, which is image pixel top + i."""
    image, mask = torch.rand(3, 240, 200), torch.zeros(1, 240, 200, dtype=torch.bool)
    mask[:, 100:130, 60:100] = True  # 30 x 40: an 80-pixel window (twice the longer side), centred on the hole
    out = fill_image(image, mask, Recorder(), FREE, "crop")
    top, left, side = 115 - 40, 80 - 40, 80
    y, x = torch.meshgrid(torch.arange(100, 130), torch.arange(60, 100), indexing="ij")
    torch.testing.assert_close(out[0, 100:130, 60:100], (x - left + 0.5) / side, rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1, 100:130, 60:100], (y - top + 0.5) / side, rtol=0, atol=1e-6)
    assert bool((out[2, 100:130, 60:100] == MARK).all())


def test_original_runs_at_the_image_size() -> None:
    image, mask = random_case(3)
    fill = Recorder(size=None)
    out = fill_image(image, mask, fill, Geometry(32, any_size=True), "original")
    assert [shape for shape, _ in fill.calls] == [(1, 3, *image.shape[-2:])]
    assert torch.equal(fill.calls[0][1][0], mask)
    hole = mask.expand_as(image)
    assert torch.equal(out[~hole], image[~hole])
    assert torch.equal(out[hole], position_fill(image[None])[0][hole])  # pixel for pixel, no resizing


def test_original_on_a_native_model_pads_to_its_multiple_and_crops_back() -> None:
    image, mask = torch.rand(3, 77, 131), torch.zeros(1, 77, 131, dtype=torch.bool)
    mask[:, 0:9, 120:131] = True  # at the corner, where the padding is
    mask[:, 40:50, 10:30] = True
    fill = Recorder(size=None)
    out = fill_image(image, mask, fill, Geometry(32, any_size=True, multiple=8), "original")
    assert [shape for shape, _ in fill.calls] == [(1, 3, 80, 136)]  # 77 + 3, 131 + 5: split 1 + 2 and 2 + 3
    y, x = torch.meshgrid(torch.arange(77), torch.arange(131), indexing="ij")
    expected = torch.stack([(x + 2 + 0.5) / 136, (y + 1 + 0.5) / 80, torch.full((77, 131), MARK)])
    hole = mask.expand_as(image)
    torch.testing.assert_close(out[hole], expected[hole], rtol=0, atol=1e-6)
    assert torch.equal(out[~hole], image[~hole])


def test_several_holes_get_a_window_each(windows: list[Window]) -> None:
    image = torch.rand(3, 200, 300)
    mask = torch.zeros(1, 200, 300, dtype=torch.bool)
    mask[:, 10:20, 10:16] = True
    mask[:, 150:166, 250:262] = True
    fill = Recorder()
    out = fill_image(image, mask, fill, FREE, "crop")
    assert len(fill.calls) == 2
    # each window is at the model's size (the holes are small), so the model sees each hole at full resolution,
    # where the window puts it: the 32-pixel windows centred on the holes, moved inside the image
    assert windows == [Window(0, 0, 32), Window(142, 240, 32)]
    for (_, model_mask), window in zip(fill.calls, windows):
        assert torch.equal(model_mask[0], mask[:, window.top : window.top + 32, window.left : window.left + 32])
    assert torch.equal(out[~mask.expand_as(image)], image[~mask.expand_as(image)])
    assert_crop_pastes(out, mask, windows, FREE)


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


def test_fixed_box_model_fills_rectangles_anywhere_and_refuses_strokes(windows: list[Window]) -> None:
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
    assert_crop_pastes(out, mask, windows, CENTRE)  # only what maps into the box, from where it maps

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
    # the window: 2 x 40 = 80 pixels cut to the photo's height, 77, at (0, 12), the hole at its rows 20-39 and
    # columns 18-57; its positions, rounded to bytes, in (H, W, 3) order
    field = resized_positions(32, 77, 77)[:, 20:40, 18:58].permute(1, 2, 0)
    assert np.array_equal(out[20:40, 30:70], field.mul(255).round().to(torch.uint8).numpy())
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
