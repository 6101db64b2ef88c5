"""What every autoregressive density model shares: likelihood, and inpainting sub-pixel by sub-pixel.

A model predicts a 256-way distribution for each sub-pixel, in raster order and R -> G -> B inside a pixel.
`fill` walks the hole in that order, conditioning each sub-pixel on everything already known or filled,
and never touches a pixel outside the hole. Subclasses only say how to compute the logits they need
cheaply (`fill_fast`); `fill_naive` (one full forward per sub-pixel) is the reference they are tested
and benchmarked against. The decoding rule itself is defined once, in `inpaintzoo.ops.pixelcnn_fill`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.pixelcnn_fill import LEVELS, MODES, decode_subpixel

FillMode = Literal["greedy", "sample", "mean", "best-of-k"]
FillMethod = Literal["fast", "naive"]
FILL_MODES: tuple[str, ...] = (*MODES, "best-of-k")
FillFunction = Callable[[torch.Tensor, torch.Tensor, "Decoder"], torch.Tensor]
#: images scored at once when best-of-k ranks its candidates (bounds the logits' memory)
SCORE_CHUNK = 64


@dataclass
class Decoder:
    """One decoding rule (greedy, mean or sample) with its temperature and random stream."""

    mode: str = "greedy"
    temperature: float = 1.0
    generator: torch.Generator | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """`(N, 256)` logits -> `(N,)` values in [0, 1] on the 1/255 grid."""
        return decode_subpixel(logits, self.mode, self.temperature, self.generator)


def check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise UsageError(f"a density model takes RGB images (B, 3, H, W), got shape {tuple(images.shape)}")


def hole_map(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask as `(B, H, W)` bool on the images' device; accepts `(B, 1, H, W)` or `(B, H, W)`."""
    check_images(images)
    if mask.dim() == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    b, _, h, w = images.shape
    if tuple(mask.shape) != (b, h, w):
        raise UsageError(f"mask must be (B, 1, H, W) = {(b, 1, h, w)} to match the images, got {tuple(mask.shape)}")
    return mask.to(device=images.device, dtype=torch.bool)


def subpixel_targets(images: torch.Tensor) -> torch.Tensor:
    """The class of each sub-pixel: `round(x * 255)`, as long `(B, 3, H, W)`."""
    return torch.round(images * (LEVELS - 1)).clamp(0, LEVELS - 1).long()


def hole_pixels(holes: torch.Tensor) -> list[tuple[int, int]]:
    """Pixels where any image of the batch has a hole, in raster order: the order every fill visits."""
    return [(i, j) for i, j in torch.nonzero(holes.any(dim=0)).tolist()]


class DensityModel(nn.Module):
    """Base of the autoregressive models: subclasses implement `forward` and, ideally, `fill_fast`."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        if image_size < 1:
            raise UsageError(f"image_size must be positive, got {image_size}")
        self.image_size = image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """`(B, 3, H, W)` images in [0, 1] -> logits `(B, 3, 256, H, W)`."""
        raise NotImplementedError

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats of each image, summed over its 3HW sub-pixels: `(B,)`."""
        logits = self(images)
        losses = F.cross_entropy(logits.transpose(1, 2), subpixel_targets(images), reduction="none")
        return losses.flatten(1).sum(dim=1)

    def bits_per_dim(self, images: torch.Tensor) -> torch.Tensor:
        """`nll / (3HW ln 2)` of each image: 8 for the uniform model."""
        return self.nll(images) / (images[0].numel() * math.log(2))

    def fill(
        self,
        images: torch.Tensor,
        mask: torch.Tensor,
        mode: FillMode = "greedy",
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        k: int = 1,
        method: FillMethod = "fast",
    ) -> torch.Tensor:
        """Fill the hole (`mask` True) sub-pixel by sub-pixel in raster order; other pixels are kept.

        `greedy` takes the most likely level, `mean` the mean of the predicted distribution, `sample`
        draws at `temperature` from `generator`; `best-of-k` draws `k` samples per image and keeps the
        one whose whole image is most likely, so the context below and right of the hole counts too.
        `method="naive"` runs the full network for every sub-pixel (the reference for tests).
        """
        holes = hole_map(images, mask)
        if mode not in FILL_MODES:
            raise UsageError(f"unknown fill mode {mode!r}; choose from {', '.join(FILL_MODES)}")
        if method not in ("fast", "naive"):
            raise UsageError(f"unknown fill method {method!r}; choose 'fast' or 'naive'")
        if k < 1:
            raise UsageError(f"best-of-k needs k >= 1, got {k}")
        if mode in ("sample", "best-of-k") and temperature <= 0:
            raise UsageError(f"temperature must be positive, got {temperature}")
        run = self.fill_fast if method == "fast" else self.fill_naive
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                if mode != "best-of-k":
                    return run(images, holes, Decoder(mode, temperature, generator))
                return self._best_of_k(run, images, holes, Decoder("sample", temperature, generator), k)
        finally:
            self.train(was_training)

    def _best_of_k(
        self, run: FillFunction, images: torch.Tensor, holes: torch.Tensor, decode: Decoder, k: int
    ) -> torch.Tensor:
        """Candidate `n` of image `b` is row `n * B + b` of one batched sampling run; keep the lowest nll."""
        batch = images.shape[0]
        candidates = run(images.repeat(k, 1, 1, 1), holes.repeat(k, 1, 1), decode)
        scores = torch.cat([self.nll(chunk) for chunk in candidates.split(SCORE_CHUNK)]).view(k, batch)
        best = scores.argmin(dim=0)
        return candidates.view(k, batch, *images.shape[1:])[best, torch.arange(batch, device=images.device)]

    def fill_naive(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        """Reference fill: a full forward pass for every sub-pixel. `holes` is `(B, H, W)` bool."""
        filled = images.clone().masked_fill(holes[:, None], 0.0)
        for i, j in hole_pixels(holes):
            here = holes[:, i, j]
            for c in range(3):
                values = decode(self(filled)[:, c, :, i, j])
                filled[:, c, i, j] = torch.where(here, values.to(filled.dtype), filled[:, c, i, j])
        return filled

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        """Fill computing only what each sub-pixel needs; subclasses override (default: the naive fill)."""
        return self.fill_naive(images, holes, decode)
