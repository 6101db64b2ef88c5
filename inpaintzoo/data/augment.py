"""Augmentation of training batches: the study's small hue, saturation and contrast changes and random blur,
and two geometric ones beyond it, left-right mirroring and small shifts (`train.hflip`, `train.shift`).

Everything is done for the whole batch at once on the batch's device: hue and saturation are one
3x3 colour matrix per image (a rotation and scaling of the chroma plane in YIQ space), contrast is a
blend towards each image's mean luma, and the blur is a separable Gaussian applied as one grouped
convolution with a kernel per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inpaintzoo.errors import UsageError

#: RGB -> YIQ (NTSC): luma Y and the two chroma axes I, Q
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)
BLUR_RADIUS = 2  # 5-tap kernels: enough for sigma <= 1


class Augment:
    """Random colour jitter and blur for float batches `(B, 3, H, W)` in `[0, 1]`; the result stays in `[0, 1]`.

    Per image: hue rotated by up to `hue` of a full turn, saturation and contrast scaled by a factor
    in `[1 - x, 1 + x]`, and with probability `blur_prob` a Gaussian blur with sigma uniform in
    `[0.1, max_sigma]`. Setting a strength to 0 turns that change off.
    """

    def __init__(
        self,
        hue: float = 0.05,
        saturation: float = 0.2,
        contrast: float = 0.2,
        blur_prob: float = 0.3,
        max_sigma: float = 1.0,
    ) -> None:
        if not 0 <= hue <= 0.5:
            raise UsageError(f"augment hue must be in [0, 0.5] (a fraction of a turn), got {hue}")
        for name, value in (("saturation", saturation), ("contrast", contrast), ("blur_prob", blur_prob)):
            if not 0 <= value <= 1:
                raise UsageError(f"augment {name} must be in [0, 1], got {value}")
        if not 0.1 <= max_sigma <= 2 * BLUR_RADIUS:
            raise UsageError(f"augment max_sigma must be in [0.1, {2 * BLUR_RADIUS}], got {max_sigma}")
        self.hue, self.saturation, self.contrast = hue, saturation, contrast
        self.blur_prob, self.max_sigma = blur_prob, max_sigma

    def __repr__(self) -> str:
        return (
            f"Augment(hue={self.hue}, saturation={self.saturation}, contrast={self.contrast}, "
            f"blur_prob={self.blur_prob}, max_sigma={self.max_sigma})"
        )

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise UsageError(f"Augment wants a (B, 3, H, W) batch, got shape {tuple(images.shape)}")
        batch = images.shape[0]
        # every random number is drawn up front, on the generator's device, in a fixed order
        draw_device = generator.device if generator is not None else images.device
        u = torch.rand(batch, 5, generator=generator, device=draw_device, dtype=torch.float64).to(images.device)
        out = images
        if self.hue > 0 or self.saturation > 0:
            out = self._colour(
                out, angle=(2 * u[:, 0] - 1) * self.hue * 2 * math.pi, scale=1 + (2 * u[:, 1] - 1) * self.saturation
            )
        if self.contrast > 0:
            factor = (1 + (2 * u[:, 2] - 1) * self.contrast).to(out.dtype)[:, None, None, None]
            luma = torch.einsum("c,bchw->bhw", RGB_TO_YIQ[0].to(out), out).mean((1, 2))[:, None, None, None]
            out = (luma + factor * (out - luma)).clamp(0, 1)
        if self.blur_prob > 0:
            chosen = u[:, 3] < self.blur_prob
            if bool(chosen.any()):
                sigma = 0.1 + u[:, 4] * (self.max_sigma - 0.1)
                out = torch.where(chosen[:, None, None, None], gaussian_blur(out, sigma), out)
        return out

    @staticmethod
    def _colour(images: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Rotate the chroma plane by `angle` and scale it by `scale`, per image, as one 3x3 matrix each."""
        cos, sin = angle.cos() * scale, angle.sin() * scale
        chroma = torch.zeros(angle.shape[0], 3, 3, dtype=torch.float64, device=angle.device)
        chroma[:, 0, 0] = 1
        chroma[:, 1, 1], chroma[:, 1, 2], chroma[:, 2, 1], chroma[:, 2, 2] = cos, -sin, sin, cos
        matrix = YIQ_TO_RGB.to(angle.device) @ chroma @ RGB_TO_YIQ.to(angle.device)
        return torch.einsum("bij,bjhw->bihw", matrix.to(images.dtype), images).clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of `(B, C, H, W)` with its own Gaussian `sigma[b]` (5 taps, edges replicated)."""
    batch, channels, h, w = images.shape
    taps = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, device=images.device, dtype=torch.float64)
    kernel = torch.exp(-(taps**2) / (2 * sigma.to(images.device, torch.float64)[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(images.dtype).repeat_interleave(channels, 0)  # (B*C, 5)
    flat = images.reshape(1, batch * channels, h, w)
    flat = F.conv2d(
        F.pad(flat, (BLUR_RADIUS, BLUR_RADIUS, 0, 0), mode="replicate"),
        kernel[:, None, None, :],
        groups=batch * channels,
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, BLUR_RADIUS, BLUR_RADIUS), mode="replicate"),
        kernel[:, None, :, None],
        groups=batch * channels,
    )
    return flat.reshape(batch, channels, h, w)


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random half of the batch mirrored left to right: a mirrored photo is as likely as the original."""
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_shift(images: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random offset of up to `pixels` in x and y, the border filled by reflection."""
    batch, channels, height, width = images.shape
    padded = F.pad(images, (pixels, pixels, pixels, pixels), mode="reflect")
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, batch), generator=generator).to(images.device)
    stride = width + 2 * pixels  # one gather over the flattened padded planes: a pixel's index is y * stride + x
    window = torch.arange(height, device=images.device)[:, None] * stride + torch.arange(width, device=images.device)
    index = (window.view(1, -1) + (dy * stride + dx)[:, None])[:, None, :].expand(batch, channels, -1)
    return padded.reshape(batch, channels, -1).gather(2, index).view(batch, channels, height, width)


class FlipShift:
    """`random_hflip` then `random_shift` (either may be off) as a pixel map per image: the same draws in the same
    order, and a `(batch, height * width)` index of the source pixel each output pixel reads.

    A batch can draw only `2 * (2 * pixels + 1) ** 2` different moves, so each move's map is made once here; a
    batch costs its draws and one lookup. The shift's border is the image mirrored back into itself
    (`reflect_index`), read from the mirrored column for a flipped image: one gather then does both moves, without
    a flipped or a padded intermediate batch.
    """

    def __init__(self, height: int, width: int, flip: bool, pixels: int) -> None:
        self.flip, self.pixels = flip, pixels
        self.side = side = 2 * pixels + 1  # the shifts along one axis
        flipped = torch.tensor([False, True]).view(2, 1, 1, 1)
        dy, dx = torch.arange(side).view(1, side, 1, 1), torch.arange(side).view(1, 1, side, 1)
        x, y = torch.arange(width).view(1, 1, 1, width), torch.arange(height).view(1, 1, 1, height)
        # column x of a flipped image shifted by dx is column (width - 1) - (x + dx - pixels) of the original
        column = reflect_index(torch.where(flipped, width - 1 + pixels - dx - x, dx + x - pixels), width)
        row = reflect_index((dy - pixels + y).expand(2, side, side, height), height)
        #: (flip * side + dy) * side + dx -> the move's pixel map
        self.table = (row[..., :, None] * width + column[..., None, :]).reshape(2 * side * side, height * width)

    @property
    def active(self) -> bool:
        return self.flip or self.pixels > 0

    def draw(self, batch: int, generator: torch.Generator) -> torch.Tensor | None:
        """The pixel maps of `batch` images (None when both moves are off), drawn on the CPU from `generator`."""
        if not self.active:
            return None
        flipped = torch.rand(batch, generator=generator) < 0.5 if self.flip else torch.zeros(batch, dtype=torch.bool)
        if self.pixels:
            dy, dx = torch.randint(0, self.side, (2, batch), generator=generator)
        else:
            dy = dx = torch.zeros(batch, dtype=torch.long)
        return self.table.index_select(0, (flipped.long() * self.side + dy) * self.side + dx)


def move_pixels(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each image's pixels rearranged by its row of `index` (a `FlipShift` map): one gather."""
    batch, channels, height, width = images.shape
    flat = images.reshape(batch, channels, height * width)
    return flat.gather(2, index[:, None, :].expand(batch, channels, -1)).view(batch, channels, height, width)


def arrange_batch(batch: torch.Tensor, index: torch.Tensor | None, channels_last: bool = False) -> torch.Tensor:
    """A batch moved by `index` (a `FlipShift` map, or None) and put in the model's memory layout, in its own
    dtype: done on the stored uint8 images, the gather and the layout change move a quarter of the bytes they
    would as float."""
    if index is not None:
        batch = move_pixels(batch, index.to(batch.device))
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def reflect_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices up to `size - 1` past either end of `[0, size)` folded back as reflect padding does (no edge repeat)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)
