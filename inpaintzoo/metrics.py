"""Inpainting metrics, each with its formula and pixel scale, and an accumulator over batches.

Every function takes predictions and ground truth as float images in `[0, 1]`, `(B, 3, H, W)`, and
the mask as bool `(B, 1, H, W)`, True in the hole. Predictions are expected to be whole images
(the context pasted back), though only `ssim` looks outside the hole. Sums are taken in float64, so
the accumulator's result equals the one computed on the whole set at once up to float64 rounding.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from inpaintzoo.errors import UsageError

METRIC_NAMES = ("hole_mse", "psnr", "l2", "ssim", "maem")
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
MAEM_TOLERANCE = 5  # levels of 0-255


def _check(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    if pred.shape != truth.shape or pred.dim() != 4 or pred.shape[1] != 3:
        raise UsageError(
            f"metrics want pred and truth of one (B, 3, H, W) shape, got {tuple(pred.shape)} and {tuple(truth.shape)}"
        )
    if mask is not None and (mask.dtype != torch.bool or mask.shape != (pred.shape[0], 1, *pred.shape[2:])):
        raise UsageError(f"metrics want a bool (B, 1, H, W) mask, got {mask.dtype} {tuple(mask.shape)}")


def _hole_squared_errors(
    pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the hole's summed squared error over pixels and channels (scale [0, 1]) and its pixel count."""
    se = (pred.double() - truth.double()).pow(2).sum(1, keepdim=True)  # (B, 1, H, W): summed over channels
    hole = mask.double()
    return (se * hole).sum((1, 2, 3)), hole.sum((1, 2, 3))


def study_l2(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """The study's L2: per image, sum over the hole's n x n x 3 squared errors divided by n^2, averaged over images.

    `l2 = mean_b [ sum_{hole pixels p, channels c} (pred - truth)^2 / |hole_b| ]` on the `[0, 1]` pixel
    scale; `|hole_b|` counts pixels, not channels. Images without a hole pixel are left out of the mean.
    """
    _check(pred, truth, mask)
    se, count = _hole_squared_errors(pred, truth, mask)
    has_hole = count > 0
    return float((se[has_hole] / count[has_hole]).mean()) if bool(has_hole.any()) else float("nan")


def hole_mse(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean squared error over every hole sub-pixel of the batch, on the 0-255 scale.

    `mse = 255^2 * sum_{b, hole pixels, c} (pred - truth)^2 / (3 * total hole pixels)`: one aggregate
    over the batch (large holes weigh more), not a mean of per-image values.
    """
    _check(pred, truth, mask)
    se, count = _hole_squared_errors(pred, truth, mask)
    return _mse_from_sums(float(se.sum()), float(count.sum()))


def _mse_from_sums(se: float, pixels: float) -> float:
    return 255.0**2 * se / (3 * pixels) if pixels > 0 else float("nan")


def psnr_from_mse(mse: float) -> float:
    """`10 log10(255^2 / mse)`; infinite for a perfect prediction."""
    if math.isnan(mse):
        return float("nan")
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def psnr(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR of the hole in dB: `10 log10(255^2 / hole_mse)`.

    Computed from the aggregate `hole_mse` of all images (not the mean of per-image PSNRs, which
    would reward a few perfect images with unbounded values).
    """
    return psnr_from_mse(hole_mse(pred, truth, mask))


def ssim_window_size(height: int, width: int) -> int:
    """11, or for images smaller than that the largest odd size that fits (so tiny test images still work)."""
    size = min(SSIM_WINDOW, height, width)
    return size if size % 2 else size - 1


def _gaussian_window(size: int, device: torch.device) -> torch.Tensor:
    taps = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    window = torch.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def ssim_per_image(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """SSIM of each whole image, `(B,)` float64; see `ssim` for the definition."""
    _check(pred, truth)
    x, y = pred.double() * 255, truth.double() * 255
    window = _gaussian_window(ssim_window_size(*x.shape[-2:]), x.device)
    channels = x.shape[1]
    rows, cols = window.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), window.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)

    def local_mean(t: torch.Tensor) -> torch.Tensor:  # 'valid' Gaussian filtering: no padding at the border
        return F.conv2d(F.conv2d(t, rows, groups=channels), cols, groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean((1, 2, 3))


def ssim(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Structural similarity of whole images (Wang et al. 2004), averaged over channels, positions and images.

    On the 0-255 scale, per channel: Gaussian window of 11 taps with sigma 1.5 (normalised to sum 1),
    local means `mu`, variances and covariance from that window (population form),
    `SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))` with
    `C1 = (0.01 * 255)^2`, `C2 = (0.03 * 255)^2`, evaluated only where the window fits inside the
    image (a 32x32 image gives a 22x22 map). The map is averaged over positions and the three
    channels per image, then over images. Images smaller than 11 pixels use the largest odd window
    that fits (same sigma). `mask` is accepted for a uniform signature and ignored.
    """
    return float(ssim_per_image(pred, truth).mean())


def _maem_hits(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> tuple[int, int]:
    close = ((pred * 255).round() - (truth * 255).round()).abs() <= MAEM_TOLERANCE  # (B, 3, H, W)
    hits = close.all(1, keepdim=True) & mask
    return int(hits.sum()), int(mask.sum())


def maem(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of hole pixels whose three channels are all within +-5 levels of the truth, on the 0-255 scale.

    Predictions and truth are scaled by 255 and rounded to integers first (as if saved as 8-bit
    images); a pixel counts when `|round(255 pred) - round(255 truth)| <= 5` in R, G and B. Aggregate
    over all hole pixels of the batch.
    """
    _check(pred, truth, mask)
    hits, pixels = _maem_hits(pred, truth, mask)
    return hits / pixels if pixels else float("nan")


def hole_gradient_energy(images: torch.Tensor, mask: torch.Tensor) -> float:
    """Sum of squared differences between horizontally and vertically adjacent pixels that both lie in the hole."""
    x = images.double()
    across = (x[..., :, 1:] - x[..., :, :-1]).pow(2) * (mask[..., :, 1:] & mask[..., :, :-1])
    down = (x[..., 1:, :] - x[..., :-1, :]).pow(2) * (mask[..., 1:, :] & mask[..., :-1, :])
    return float(across.sum() + down.sum())


def sharpness(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """How much detail the fill has against the truth's: gradient energy in the hole, prediction over truth.

    `sum |grad pred|^2 / sum |grad truth|^2`, with finite differences between neighbouring pixels that are
    both in the hole, over all channels and images. 1 is as textured as real photos; a blurry fill (what an L2
    loss learns where the content is uncertain) scores well below 1, and noise above it. A diagnostic beside
    the error metrics, not a quality score: a sharper fill usually has a higher MSE.
    """
    _check(pred, truth, mask)
    reference = hole_gradient_energy(truth, mask)
    return hole_gradient_energy(pred, mask) / reference if reference else float("nan")


class MetricAccumulator:
    """Sums over batches that give `{"hole_mse", "psnr", "l2", "ssim", "maem"}` as for the whole set at once.

    `update(pred, truth, mask)` per batch, `compute()` at the end. Each metric keeps the sums its
    definition needs: l2 and ssim average per-image values over images; hole_mse, psnr and maem
    aggregate over hole pixels.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.images = 0
        self.l2_sum = 0.0
        self.l2_images = 0
        self.se_sum = 0.0
        self.hole_pixels = 0.0
        self.ssim_sum = 0.0
        self.maem_hits = 0
        self.maem_pixels = 0

    @torch.no_grad()
    def update(self, pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> None:
        _check(pred, truth, mask)
        se, count = _hole_squared_errors(pred, truth, mask)
        has_hole = count > 0
        self.images += pred.shape[0]
        self.l2_sum += float((se[has_hole] / count[has_hole]).sum())
        self.l2_images += int(has_hole.sum())
        self.se_sum += float(se.sum())
        self.hole_pixels += float(count.sum())
        self.ssim_sum += float(ssim_per_image(pred, truth).sum())
        hits, pixels = _maem_hits(pred, truth, mask)
        self.maem_hits += hits
        self.maem_pixels += pixels

    def compute(self) -> dict[str, float]:
        nan = float("nan")
        mse = _mse_from_sums(self.se_sum, self.hole_pixels)
        return {
            "hole_mse": mse,
            "psnr": psnr_from_mse(mse),
            "l2": self.l2_sum / self.l2_images if self.l2_images else nan,
            "ssim": self.ssim_sum / self.images if self.images else nan,
            "maem": self.maem_hits / self.maem_pixels if self.maem_pixels else nan,
        }


def evaluate(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """All metrics of one batch (or a whole set held in memory) as a dict."""
    acc = MetricAccumulator()
    acc.update(pred, truth, mask)
    return acc.compute()


def bits_per_dim(nll: torch.Tensor | float, images: torch.Tensor) -> Any:
    """A negative log-likelihood in nats, summed over one image's sub-pixels, as bits per sub-pixel."""
    return nll / (images[0].numel() * math.log(2))
