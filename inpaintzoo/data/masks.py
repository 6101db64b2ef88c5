"""Where the holes are, and what a model sees in them; the builtin masks' plugin module.

A mask generator makes bool masks `(B, 1, S, S)`, True in the hole. `box` is the hole's rectangle
`(top, left, height, width)` when every mask is that one rectangle (the context encoder then
predicts just that patch), else None. `fill` says what replaces the hole's pixels in the model's
input: `zeros`, uniform `noise`, or the `mean` colour of the image's context. The model also gets the
mask itself as a fourth channel (`model_input`), so it is never blind to where the hole is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from inpaintzoo.classical import telea
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.registry import Collection

Fill = Literal["zeros", "noise", "mean", "telea"]
FILLS: tuple[str, ...] = ("zeros", "noise", "mean", "telea")
Box = tuple[int, int, int, int]  # top, left, height, width

components = Collection()


def _check_fill(fill: str) -> str:
    if fill not in FILLS:
        raise UsageError(f"mask.fill must be one of {', '.join(FILLS)}, got {fill!r}")
    return fill


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"mask.{name} must be at least 1, got {value}")


def _device(generator: torch.Generator | None) -> torch.device:
    """Random numbers are drawn where the generator lives (a CUDA generator draws on the GPU)."""
    return generator.device if generator is not None else torch.device("cpu")


def _height_width(image_size: int | Sequence[int]) -> tuple[int, int]:
    """`S` means `S x S`; a pair is `(height, width)` (density models fill non-square images)."""
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = (int(v) for v in image_size)
    return height, width


def box_mask(image_size: int | Sequence[int], box: Box) -> torch.Tensor:
    """A `(1, 1, H, W)` bool mask that is True inside `box`; `image_size` is `S` or `(H, W)`."""
    height, width = _height_width(image_size)
    top, left, h, w = box
    if h < 1 or w < 1 or top < 0 or left < 0 or top + h > height or left + w > width:
        raise UsageError(f"box {box} (top, left, height, width) does not fit in a {width}x{height} image")
    mask = torch.zeros(1, 1, height, width, dtype=torch.bool)
    mask[..., top : top + h, left : left + w] = True
    return mask


def mask_box(mask: torch.Tensor) -> Box | None:
    """The `(top, left, height, width)` of a `(..., S, S)` mask that is exactly one filled rectangle, else None."""
    hole = mask.reshape(-1, *mask.shape[-2:]).any(0)
    rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
    if rows.numel() == 0:
        return None
    top, left = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    if not bool(hole[top : top + h, left : left + w].all()) or int(hole.sum()) != h * w:
        return None
    return (top, left, h, w)


class MaskGenerator:
    """Common face of mask generators: `image_size`, `fill`, `box`, and `__call__`."""

    box: Box | None = None

    def __init__(self, image_size: int, fill: str) -> None:
        if image_size < 1:
            raise UsageError(f"image_size must be at least 1, got {image_size}")
        self.image_size = image_size
        self.fill = _check_fill(fill)

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_size={self.image_size}, fill={self.fill!r}, box={self.box})"


@components("mask", "center", summary="The centred square hole of the study (8x8 in 32x32 by default)")
class CenterMask(MaskGenerator):
    """The centred square hole of the study (8x8 in a 32x32 image by default)."""

    def __init__(self, image_size: int, size: int = 8, fill: Fill = "zeros") -> None:
        super().__init__(image_size, fill)
        if not 1 <= size <= image_size:
            raise UsageError(f"mask.size must be between 1 and the image size {image_size}, got {size}")
        self.size = size
        top = (image_size - size) // 2
        self.box = (top, top, size, size)
        self._mask = box_mask(image_size, self.box)

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._mask.to(_device(generator)).expand(batch_size, -1, -1, -1).clone()


@components("mask", "rectangles", summary="Random axis-aligned rectangles: count per image, sides min_size to max_size")
class RectangleMask(MaskGenerator):
    """`count` random axis-aligned rectangles per image, each side between min_size and max_size."""

    def __init__(
        self, image_size: int, min_size: int = 4, max_size: int = 16, count: int = 1, fill: Fill = "zeros"
    ) -> None:
        super().__init__(image_size, fill)
        _check_positive("min_size", min_size)
        _check_positive("count", count)
        if not min_size <= max_size <= image_size:
            raise UsageError(
                f"mask needs min_size <= max_size <= image size {image_size}, got min_size={min_size}, "
                f"max_size={max_size}"
            )
        self.min_size, self.max_size, self.count = min_size, max_size, count

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device, size = _device(generator), self.image_size
        shape = (batch_size, self.count, 1)
        h = torch.randint(self.min_size, self.max_size + 1, shape, generator=generator, device=device)
        w = torch.randint(self.min_size, self.max_size + 1, shape, generator=generator, device=device)
        top = (torch.rand(shape, generator=generator, device=device) * (size - h + 1)).long()
        left = (torch.rand(shape, generator=generator, device=device) * (size - w + 1)).long()
        pos = torch.arange(size, device=device)
        in_rows = (pos >= top) & (pos < top + h)  # (B, count, S)
        in_cols = (pos >= left) & (pos < left + w)
        return (in_rows[..., :, None] & in_cols[..., None, :]).any(1, keepdim=True)


@components("mask", "brush", summary="Free-form brush strokes: random 3-segment polylines, width px wide")
class BrushMask(MaskGenerator):
    """Free-form brush strokes: each a 3-segment polyline at most max_len px long, width px wide."""

    segments = 3

    def __init__(
        self, image_size: int, strokes: int = 3, width: int = 3, max_len: int = 12, fill: Fill = "zeros"
    ) -> None:
        super().__init__(image_size, fill)
        _check_positive("strokes", strokes)
        _check_positive("width", width)
        _check_positive("max_len", max_len)
        self.strokes, self.width, self.max_len = strokes, width, max_len

    def distances(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Squared distance of every pixel to each random stroke's centre line, `(B, strokes, S*S)`."""
        device, size = _device(generator), self.image_size
        shape = (batch_size, self.strokes, self.segments)
        # a random walk: random start pixel and heading, each segment turning by up to +-90 degrees
        start = torch.randint(0, size, (batch_size, self.strokes, 1, 2), generator=generator, device=device).float()
        heading = torch.rand(batch_size, self.strokes, 1, generator=generator, device=device) * (2 * math.pi)
        turns = (torch.rand(shape, generator=generator, device=device) - 0.5) * math.pi
        angles = heading + turns.cumsum(-1)
        lengths = (0.5 + 0.5 * torch.rand(shape, generator=generator, device=device)) * (self.max_len / self.segments)
        steps = torch.stack((angles.sin(), angles.cos()), -1) * lengths[..., None]  # (B, n, seg, 2) as (dy, dx)
        vertices = torch.cat((start, start + steps.cumsum(2)), 2).clamp(0, size - 1)
        a, d = vertices[:, :, :-1], vertices[:, :, 1:] - vertices[:, :, :-1]  # segment start and direction
        ay, ax, dy, dx = (t[..., None] for t in (a[..., 0], a[..., 1], d[..., 0], d[..., 1]))  # (B, n, seg, 1)
        coords = torch.arange(size, device=device, dtype=torch.float32)
        py, px = coords.repeat_interleave(size), coords.repeat(size)  # every pixel centre, row-major (S*S,)
        out = torch.empty(batch_size, self.strokes, size * size, device=device)
        for s in range(self.strokes):  # a loop over strokes (not pixels) bounds the memory of the distance field
            oy, ox = py - ay[:, s], px - ax[:, s]  # (B, seg, S*S): pixel relative to the segment start
            sy, sx = dy[:, s], dx[:, s]
            t = ((oy * sy + ox * sx) / (sy * sy + sx * sx).clamp_min(1e-12)).clamp_(
                0, 1
            )  # nearest point on the segment
            out[:, s] = ((oy - t * sy).square_() + (ox - t * sx).square_()).amin(1)
        return out

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        size = self.image_size
        hole = (self.distances(batch_size, generator) <= (self.width / 2) ** 2).any(1)
        return hole.reshape(batch_size, 1, size, size)


@components(
    "mask",
    "freeform",
    summary="Brush strokes and random rectangles of many sizes mixed: what a model that serves any mask trains on",
)
class FreeformMask(MaskGenerator):
    """Per image: brush strokes (1 to max_strokes, each 1 to max_width px wide), or 1-2 rectangles with sides
    min_size to max_size, or both. A model trained on this mix fills holes of any shape, not one box."""

    def __init__(
        self,
        image_size: int,
        max_strokes: int = 4,
        max_width: int = 5,
        min_size: int = 2,
        max_size: int = 0,
        fill: Fill = "zeros",
    ) -> None:
        super().__init__(image_size, fill)
        for name, value in (("max_strokes", max_strokes), ("max_width", max_width), ("min_size", min_size)):
            _check_positive(name, value)
        max_size = max_size or max(min_size, image_size // 2)
        if not min_size <= max_size <= image_size:
            raise UsageError(
                f"mask needs min_size <= max_size <= image size {image_size}, got min_size={min_size}, "
                f"max_size={max_size}"
            )
        self.max_strokes, self.max_width, self.min_size, self.max_size = max_strokes, max_width, min_size, max_size
        self._strokes = BrushMask(image_size, max_strokes, max_width, max_len=max(3, image_size // 2))
        self._rectangle = RectangleMask(image_size, min_size, max_size, 1)

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device, b, size = _device(generator), batch_size, self.image_size
        kind = torch.randint(0, 3, (b,), generator=generator, device=device)  # 0 brush, 1 rectangles, 2 both
        strokes = torch.randint(1, self.max_strokes + 1, (b, 1), generator=generator, device=device)
        width = torch.randint(1, self.max_width + 1, (b, self.max_strokes, 1), generator=generator, device=device)
        rects = torch.randint(1, 3, (b,), generator=generator, device=device)
        drawn = self._strokes.distances(b, generator) <= (width / 2) ** 2  # (B, max_strokes, S*S), own widths
        used = (torch.arange(self.max_strokes, device=device) < strokes) & (kind != 1)[:, None]  # (B, max_strokes)
        hole = (drawn & used[..., None]).any(1).reshape(b, 1, size, size)
        for r in range(2):
            hole |= self._rectangle(b, generator) & ((kind != 0) & (r < rects)).view(b, 1, 1, 1)
        return hole


def telea_fill(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Images with the hole filled by OpenCV's Telea inpainting (`classical.telea`, on the CPU, at 8 bits): a
    classical first guess that a model with `model.residual=true` corrects, so even a briefly trained model starts
    from a sound fill."""
    pixels = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    holes = mask.expand(images.shape[0], 1, *images.shape[-2:])[:, 0].cpu().numpy()
    with ThreadPoolExecutor(max_workers=min(len(pixels), os.cpu_count() or 1)) as pool:  # OpenCV frees the GIL
        out = list(pool.map(lambda p, h: telea(p, h) if h.any() else p, pixels, holes))
    filled = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(images.device, images.dtype).div_(255)
    return torch.where(mask.expand_as(images), filled, images)


def fill_hole(
    images: torch.Tensor, mask: torch.Tensor, fill: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images with the hole's pixels replaced: `zeros` (black), `noise` (uniform in [0, 1]),
    `mean` (each image's mean context colour, per channel; 0 where an image has no context) or `telea`."""
    hole = mask.expand_as(images)
    _check_fill(fill)
    if fill == "zeros":
        return images.masked_fill(hole, 0.0)
    if fill == "noise":
        device = generator.device if generator is not None else images.device
        noise = torch.rand(images.shape, generator=generator, device=device, dtype=images.dtype)
        return torch.where(hole, noise.to(images.device), images)
    if fill == "telea":
        return telea_fill(images, mask)
    context = (~mask).to(images.dtype)
    mean = (images * context).sum((2, 3), keepdim=True) / context.sum((2, 3), keepdim=True).clamp_min(1)
    return torch.where(hole, mean.expand_as(images), images)


def model_input(
    images: torch.Tensor, mask: torch.Tensor, fill: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """What a non-blind model sees, `(B, 4, S, S)`: the hole-filled image and the mask as a float channel."""
    return torch.cat((fill_hole(images, mask, fill, generator), mask.to(images.dtype)), 1)


def load_mask(path: str | Path, image_size: int | Sequence[int]) -> torch.Tensor:
    """A mask drawn as an image file (white = hole, black = keep), as `(1, 1, H, W)` bool.

    Pixels brighter than mid-gray are the hole; transparent pixels count as black. The file must be
    exactly the images' size (`image_size`: `S` or `(H, W)`) and must leave some of the image as context.
    """
    from inpaintzoo.data.io import load_image_uint8

    height, width = _height_width(image_size)
    pixels = load_image_uint8(path, background=0)
    if tuple(pixels.shape[-2:]) != (height, width):
        h, w = pixels.shape[-2:]
        raise DataError(f"mask {path} is {w}x{h} pixels but the images are {width}x{height}; resize the mask")
    hole = pixels.float().mean(0) > 127.5
    if not hole.any():
        raise DataError(f"mask {path} has no hole: paint the region to fill white (255) on black")
    if hole.all():
        raise DataError(f"mask {path} covers the whole image: leave some context black")
    return hole[None, None]


inpaintzoo_register = components.hook()
