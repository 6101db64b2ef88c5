"""Each metric against values worked out by hand on tiny tensors, and the accumulator against one pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inpaintzoo.data.masks import CenterMask
from inpaintzoo.errors import UsageError
from inpaintzoo.metrics import (
    METRIC_NAMES,
    MetricAccumulator,
    evaluate,
    hole_mse,
    maem,
    psnr,
    sharpness,
    ssim,
    study_l2,
)


def levels(values: torch.Tensor) -> torch.Tensor:
    """0-255 levels to [0, 1] floats, as stored images are."""
    return values.float() / 255


def hand_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 2x2 images of level 100. Image 0's hole: one pixel off by (+5, -5, 0). Image 1's hole: two
    pixels, one off by (+6, 0, 0), one exact. Outside the holes the prediction is badly wrong."""
    truth = torch.full((2, 3, 2, 2), 100.0)
    pred = torch.full((2, 3, 2, 2), 250.0)  # context: wrong everywhere, must not count
    mask = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 0] = True
    pred[0, :, 0, 0] = torch.tensor([105.0, 95.0, 100.0])
    mask[1, 0, 1, :] = True
    pred[1, :, 1, 0] = torch.tensor([106.0, 100.0, 100.0])
    pred[1, :, 1, 1] = 100.0
    return levels(pred), levels(truth), mask


def test_study_l2_by_hand() -> None:
    pred, truth, mask = hand_case()
    image0 = (25 + 25) / 255**2 / 1  # summed over 3 channels, divided by 1 hole pixel
    image1 = 36 / 255**2 / 2  # divided by 2 hole pixels
    assert study_l2(pred, truth, mask) == pytest.approx((image0 + image1) / 2, rel=1e-6)


def test_hole_mse_and_psnr_by_hand() -> None:
    pred, truth, mask = hand_case()
    mse = (25 + 25 + 36) / (3 * 3)  # 3 hole pixels x 3 channels, on the 0-255 scale
    assert hole_mse(pred, truth, mask) == pytest.approx(mse, rel=1e-5)
    assert psnr(pred, truth, mask) == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-6)


def test_maem_by_hand() -> None:
    pred, truth, mask = hand_case()
    assert maem(pred, truth, mask) == pytest.approx(2 / 3)  # (+5,-5,0) and exact count; +6 does not


def test_maem_rounds_predictions_first() -> None:
    truth = levels(torch.full((1, 3, 1, 2), 100.0))
    pred = levels(torch.tensor([105.4, 105.6]).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    mask = torch.ones(1, 1, 1, 2, dtype=torch.bool)
    assert maem(pred, truth, mask) == pytest.approx(0.5)  # 105.4 -> 105 (in), 105.6 -> 106 (out)


def test_perfect_prediction() -> None:
    _, truth, mask = hand_case()
    assert hole_mse(truth, truth, mask) == 0 and psnr(truth, truth, mask) == math.inf
    assert maem(truth, truth, mask) == 1 and study_l2(truth, truth, mask) == 0


def test_l2_leaves_out_images_without_a_hole() -> None:
    pred, truth, mask = hand_case()
    mask[1] = False
    assert study_l2(pred, truth, mask) == pytest.approx(50 / 255**2, rel=1e-6)


def test_ssim_of_identical_images_is_one(tiny_images: torch.Tensor) -> None:
    assert ssim(tiny_images, tiny_images) == pytest.approx(1.0, abs=1e-9)
    assert ssim(tiny_images, tiny_images.flip(-1)) < 0.9


def test_ssim_of_flat_images_by_hand() -> None:
    a, b = 100.0, 140.0
    x, y = levels(torch.full((1, 3, 16, 16), a)), levels(torch.full((1, 3, 16, 16), b))
    c1 = (0.01 * 255) ** 2
    # variances and covariance vanish, so the contrast-structure term is C2 / C2 = 1
    assert ssim(x, y) == pytest.approx((2 * a * b + c1) / (a**2 + b**2 + c1), rel=1e-6)  # float32 inputs


def numpy_ssim_one_window(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of (3, n, n) images of 0-255 levels whose size equals the window: one position only."""
    n = x.shape[-1]
    taps = np.exp(-((np.arange(n) - (n - 1) / 2) ** 2) / (2 * 1.5**2))
    w = np.outer(taps, taps) / np.outer(taps, taps).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for xc, yc in zip(x, y):
        mx, my = (w * xc).sum(), (w * yc).sum()
        vx, vy = (w * (xc - mx) ** 2).sum(), (w * (yc - my) ** 2).sum()
        cov = (w * (xc - mx) * (yc - my)).sum()
        values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("size", [11, 7])
def test_ssim_matches_the_formula_on_one_window(size: int) -> None:
    """An 11x11 image has exactly one window position (smaller images get the largest odd window)."""
    rng = np.random.default_rng(size)
    x = rng.integers(0, 256, (1, 3, size, size)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).round()
    got = ssim(torch.from_numpy(x / 255), torch.from_numpy(y / 255))
    assert got == pytest.approx(numpy_ssim_one_window(x[0], y[0]), rel=1e-9)


def test_ssim_averages_window_positions() -> None:
    """A 12x11 image has two window positions: SSIM is the mean of the two one-window values."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (1, 3, 12, 11)).astype(np.float64)
    y = rng.integers(0, 256, (1, 3, 12, 11)).astype(np.float64)
    expected = (numpy_ssim_one_window(x[0, :, :11], y[0, :, :11]) + numpy_ssim_one_window(x[0, :, 1:], y[0, :, 1:])) / 2
    assert ssim(torch.from_numpy(x / 255), torch.from_numpy(y / 255)) == pytest.approx(expected, rel=1e-9)


def test_metrics_check_shapes() -> None:
    with pytest.raises(UsageError, match="bool"):
        hole_mse(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))


def test_accumulator_over_batches_equals_one_pass() -> None:
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(10, 3, 16, 16, generator=generator)
    pred = (truth + 0.1 * torch.randn(10, 3, 16, 16, generator=generator)).clamp(0, 1)
    mask = CenterMask(16, size=6)(10)
    mask[3] = False  # an image without a hole in the middle of a batch
    mask[4, :, :2, :2] = True  # and one with a bigger hole
    whole = evaluate(pred, truth, mask)
    acc = MetricAccumulator()
    for part in (slice(0, 3), slice(3, 4), slice(4, 10)):
        acc.update(pred[part], truth[part], mask[part])
    parts = acc.compute()
    assert set(parts) == set(METRIC_NAMES) == {"hole_mse", "psnr", "l2", "ssim", "maem"}
    for key in METRIC_NAMES:
        assert parts[key] == pytest.approx(whole[key], rel=1e-12), key
    assert whole["hole_mse"] == pytest.approx(hole_mse(pred, truth, mask), rel=1e-12)
    assert whole["psnr"] == pytest.approx(psnr(pred, truth, mask), rel=1e-12)
    assert whole["l2"] == pytest.approx(study_l2(pred, truth, mask), rel=1e-12)
    assert whole["ssim"] == pytest.approx(ssim(pred, truth), rel=1e-12)
    assert whole["maem"] == pytest.approx(maem(pred, truth, mask), rel=1e-12)
    assert 0 < whole["maem"] < 1 and 0 < whole["ssim"] < 1


def test_empty_accumulator_reports_nan() -> None:
    assert all(math.isnan(v) for v in MetricAccumulator().compute().values())


def test_sharpness_by_hand() -> None:
    truth = torch.zeros(1, 3, 4, 4)
    truth[..., 1, 1] = 1.0  # one bright pixel in a 2x2 hole at rows 1-2, cols 1-2
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 1:3, 1:3] = True
    # the truth: 2 in-hole neighbour pairs touch the bright pixel, in 3 channels -> energy 6
    flat = torch.full_like(truth, 0.25)  # the hole's mean: no detail at all
    assert sharpness(flat, truth, mask) == 0.0
    assert sharpness(truth, truth, mask) == pytest.approx(1.0)
    doubled = truth * 2  # twice the contrast: four times the energy
    assert sharpness(doubled, truth, mask) == pytest.approx(4.0)
    outside = truth.clone()
    outside[..., 0, 0] = 1.0  # detail outside the hole does not count
    assert sharpness(outside, truth, mask) == pytest.approx(1.0)
    assert math.isnan(sharpness(flat, flat, mask))  # a flat truth has nothing to compare with
