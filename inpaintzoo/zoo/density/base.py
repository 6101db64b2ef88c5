"""What every autoregressive density model shares: likelihood, and inpainting sub-pixel by sub-pixel.

A model predicts a 256-way distribution for each sub-pixel, in raster order and R -> G -> B inside a pixel.
`fill` walks the hole in that order, conditioning each sub-pixel on everything already known or filled,
and never touches a pixel outside the hole. Subclasses only say how to compute the logits they need
cheaply (`fill_fast`); `fill_naive` (one full forward per sub-pixel) is the reference they are tested
and benchmarked against. The decoding rule itself is defined once, in `inpaintzoo.ops.pixelcnn_fill`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.pixelcnn_fill import LEVELS, MODES, decode_subpixel

FillMode = Literal["greedy", "sample", "mean", "best-of-k", "posterior-mean"]
FillMethod = Literal["fast", "naive"]
FILL_MODES: tuple[str, ...] = (*MODES, "best-of-k", "posterior-mean")
#: the modes whose fills are estimates of the hole's value, which `mirror` may average
MIRROR_MODES: tuple[str, ...] = ("greedy", "mean", "posterior-mean")
FillFunction = Callable[[torch.Tensor, torch.Tensor, "Decoder"], torch.Tensor]
#: images scored at once when best-of-k or posterior-mean weighs its candidates (bounds the logits' memory)
SCORE_CHUNK = 64


@dataclass
class PosteriorMean:
    """What `DensityModel.posterior_mean` found: the fill, and how much the importance weights can be trusted.

    `ess` is the effective sample size `1 / sum_n w_n^2` of each image's normalised weights, in `[1, k]`:
    near 1 means one sample took all the weight (the estimate is a single sample, not a mean).
    """

    fill: torch.Tensor  # (B, 3, H, W): the weighted mean in the hole, the input elsewhere
    ess: torch.Tensor  # (B,) float64
    log_weights: torch.Tensor  # (k, B) float64, tempered and normalised: logsumexp over k is 0
    samples: torch.Tensor  # (k, B, 3, H, W): the proposals the mean is made of


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


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """`log softmax(logits / temperature)` at each sub-pixel's target level: `(B, 3, 256, H, W)` -> `(B, 3, H, W)`.

    The softmax runs over a last, unit-stride level axis: several times faster on CPU than `cross_entropy`
    over the level axis in place.
    """
    z = logits.permute(0, 1, 3, 4, 2)
    if z.stride(-1) != 1:
        z = z.contiguous()
    if temperature != 1.0:
        z = z / temperature
    return z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, dim=-1)


def after_hole(holes: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """`(B, H, W)` bool: the context pixels whose likelihood can depend on the hole's fill.

    Those after the hole's first pixel in raster order, outside the hole, and (with `window`) no more than
    `window` rows below the hole's last row. Earlier pixels are the same for every fill, so they would only
    add a constant to every log weight.
    """
    b, h, w = holes.shape
    order = torch.arange(h * w, device=holes.device).view(1, h, w)
    flat = holes.flatten(1)
    first = torch.where(flat, order.flatten(1), h * w).amin(dim=1)
    counted = (order > first.view(b, 1, 1)) & ~holes
    if window is not None:
        rows = torch.arange(h, device=holes.device).view(1, h, 1)
        last_row = torch.where(flat, order.flatten(1) // w, -1).amax(dim=1)
        counted &= rows <= (last_row + window).view(b, 1, 1)
    return counted


class DensityModel(nn.Module):
    """Base of the autoregressive models: subclasses implement `forward` and, ideally, `fill_fast`."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        if image_size < 1:
            raise UsageError(f"image_size must be positive, got {image_size}")
        self.image_size = image_size
        #: effective sample size of each image after a `posterior-mean` fill, `(B,)`; None after other modes
        self.last_ess: torch.Tensor | None = None

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
        tau: float = 1.0,
        window: int | None = None,
        mirror: bool = False,
    ) -> torch.Tensor:
        """Fill the hole (`mask` True) sub-pixel by sub-pixel in raster order; other pixels are kept.

        `greedy` takes the most likely level, `mean` the mean of the predicted distribution, `sample`
        draws at `temperature` from `generator`; `best-of-k` draws `k` samples per image and keeps the
        one whose whole image is most likely, so the context below and right of the hole counts too.
        `posterior-mean` averages `k` samples weighted by that context's likelihood (see `posterior_mean`,
        which also takes `tau` and `window`); its effective sample sizes are left in `self.last_ess`.
        `method="naive"` runs the full network for every sub-pixel (the reference for tests).

        `mirror` (for the estimating modes: greedy, mean, posterior-mean) also fills the left-right mirror image
        and averages the two fills. A mirrored photo is as likely as the photo, but the raster order reads it
        from the other side, so the two fills are two estimates of one answer whose errors partly cancel (on
        CIFAR-10's centre hole the average has a hole MSE 13-34% below the plain fill; twice the cost).
        """
        if mirror:
            if mode in FILL_MODES and mode not in MIRROR_MODES:
                raise UsageError(
                    f"mirror averages two fills, which estimates the hole's value in modes {', '.join(MIRROR_MODES)}; "
                    f"a {mode} fill averaged with another is neither a sample nor the most likely one: drop mirror"
                )
            args = {"mode": mode, "temperature": temperature, "generator": generator, "k": k, "method": method,
                    "tau": tau, "window": window}
            plain = self.fill(images, mask, **args)
            ess = self.last_ess
            flipped = self.fill(images.flip(-1), mask.flip(-1), **args).flip(-1)
            if ess is not None and self.last_ess is not None:  # posterior-mean: the two fills' mean ESS
                self.last_ess = (ess + self.last_ess) / 2
            return (plain + flipped) / 2  # outside the hole both are the image, and (x + x) / 2 is x exactly
        self.last_ess = None
        if mode == "posterior-mean":
            result = self.posterior_mean(images, mask, k, temperature, tau, window, generator, method)
            self.last_ess = result.ess
            return result.fill
        holes = self._check_fill(images, mask, mode, temperature, k, method)
        run = self.fill_fast if method == "fast" else self.fill_naive
        with self._inference():
            if mode != "best-of-k":
                return run(images, holes, Decoder(mode, temperature, generator))
            return self._best_of_k(run, images, holes, Decoder("sample", temperature, generator), k)

    def posterior_mean(
        self,
        images: torch.Tensor,
        mask: torch.Tensor,
        k: int = 16,
        temperature: float = 1.0,
        tau: float = 1.0,
        window: int | None = None,
        generator: torch.Generator | None = None,
        method: FillMethod = "fast",
    ) -> PosteriorMean:
        """Estimate E[hole | all the context] by self-normalised importance sampling: the fill that minimises L2.

        The proposal is the model's own raster-order sampler at `temperature`, which sees only the context
        above and left of each sub-pixel; the weight of a sample is then the likelihood of the context after
        the hole given it (times `p / q` of the hole itself when `temperature != 1`). All `B * k` samples are
        drawn as one batch and weighed by one forward pass of the completed images.
        When a few hundred later sub-pixels make the weights differ by tens of nats, one sample takes them
        all (`ess` near 1); two knobs trade that variance for bias: `tau` raises the weights to a power
        (1: exact, 0: the plain average of the samples) and `window` counts only the hole's rows and
        `window` rows below it (None: every later sub-pixel), where the fill's influence is strongest.
        (Measured on a briefly trained pixelcnn, CIFAR-10's centre hole: log weights spread by ~16 nats,
        ESS ~1.6 of 16 or 64 at tau = 1; tau = 0.1 gave the lowest hole MSE, below the `mean` mode's.)
        The mean is not rounded to the 1/255 grid (the unrounded one has the lower expected L2).
        """
        holes = self._check_fill(images, mask, "posterior-mean", temperature, k, method)
        if not (tau >= 0 and math.isfinite(tau)):
            raise UsageError(f"posterior-mean needs a finite tau >= 0, got {tau}")
        if window is not None and window < 0:
            raise UsageError(f"posterior-mean window must be >= 0 rows (or None for all), got {window}")
        run = self.fill_fast if method == "fast" else self.fill_naive
        batch = images.shape[0]
        with self._inference():
            samples = run(images.repeat(k, 1, 1, 1), holes.repeat(k, 1, 1), Decoder("sample", temperature, generator))
            counted = after_hole(holes, window).repeat(k, 1, 1)
            log_w = torch.cat(
                [
                    self._log_weights(chunk, hole, count, temperature)
                    for chunk, hole, count in zip(
                        samples.split(SCORE_CHUNK), holes.repeat(k, 1, 1).split(SCORE_CHUNK), counted.split(SCORE_CHUNK)
                    )
                ]
            ).view(k, batch)
        log_w = torch.log_softmax(log_w * tau, dim=0)
        weights = log_w.exp()
        samples = samples.view(k, batch, *images.shape[1:])
        mean = torch.einsum("kb,kbchw->bchw", weights, samples.double()).to(images.dtype)
        fill = torch.where(holes[:, None], mean, images)
        return PosteriorMean(fill, 1.0 / weights.square().sum(dim=0), log_w, samples)

    def subpixel_nll(self, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats of each sub-pixel given all before it, `(B, 3, H, W)`.

        What posterior-mean weighs its samples with; a model with a cheaper route than full logits may override.
        """
        return -target_log_probs(self(images), subpixel_targets(images))

    def _log_weights(
        self, images: torch.Tensor, holes: torch.Tensor, counted: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """log p(counted context | fill) (+ log p/q of the fill at a temperature) of each image, float64 `(N,)`."""
        if temperature == 1.0:
            return (-self.subpixel_nll(images).double() * counted[:, None]).flatten(1).sum(dim=1)
        logits, targets = self(images), subpixel_targets(images)
        log_p = target_log_probs(logits, targets).double()
        log_q = target_log_probs(logits, targets, temperature).double()
        # the proposal drew the hole from q: its weight p(image) / q(hole) keeps p / q of the hole itself
        return (log_p * counted[:, None] + (log_p - log_q) * holes[:, None]).flatten(1).sum(dim=1)

    def _check_fill(
        self, images: torch.Tensor, mask: torch.Tensor, mode: str, temperature: float, k: int, method: str
    ) -> torch.Tensor:
        """The hole map, after refusing arguments no fill can take."""
        holes = hole_map(images, mask)
        if mode not in FILL_MODES:
            raise UsageError(f"unknown fill mode {mode!r}; choose from {', '.join(FILL_MODES)}")
        if method not in ("fast", "naive"):
            raise UsageError(f"unknown fill method {method!r}; choose 'fast' or 'naive'")
        if k < 1:
            raise UsageError(f"{'posterior-mean' if mode == 'posterior-mean' else 'best-of-k'} needs k >= 1, got {k}")
        if mode in ("sample", "best-of-k", "posterior-mean") and temperature <= 0:
            raise UsageError(f"temperature must be positive, got {temperature}")
        return holes

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode (no dropout) and no autograd for the duration; the training flag is restored after."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
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
