"""Any image size and any mask, for models trained at one small size: the `crop`, `resize` and `original` strategies.

A model here is only a fill function at its own size plus what `Geometry` says about it, so this module
knows no model (imports flow runs.py -> photos.py):

- `crop` (the default): around each connected hole region, a square window with enough context (the hole
  at most half the window's side, the window never smaller than the model's size unless the image is) is
  resized to the model's size, filled, resized back, and only the hole's pixels are pasted. A fixed-box model
  (the centre 8x8 hole) gets a window scaled so that the region lands inside its box.
- `resize`: the whole image squashed to the model's size and back (fast, blurry on large images).
- `original`: the model runs on the image as it is (models that take any size: the density models).

Pixels outside the hole always come back bit-identical: fills are pasted with `torch.where` (floats) and,
for files, in uint8 space (`inpaint_photo`). Work is bounded before it starts: at most `MAX_PIXELS` per image,
`MAX_WINDOWS` model calls per image for `crop`, `MAX_ORIGINAL_PIXELS` for `original`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inpaintzoo.data.masks import fill_hole
from inpaintzoo.errors import DataError, UsageError

Box = tuple[int, int, int, int]  # top, left, height, width
FillFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B,3,S,S), (B,1,S,S) -> (B,3,S,S)

STRATEGIES: tuple[str, ...] = ("crop", "resize", "original")
#: the largest image taken at all (about 7000 x 7000): beyond it even the float copy is a memory risk
MAX_PIXELS = 50_000_000
#: `crop` fills at most this many windows per image (each one model call at the model's size)
MAX_WINDOWS = 64
#: `original` runs the model on the whole image; beyond this the activations would not fit in memory
MAX_ORIGINAL_PIXELS = 512 * 512
#: a native (fully convolutional) model takes a whole image up to this size in one call, and past it one
#: window with a margin around each hole (IOPaint's crop trigger): the activations stay within a few GB
NATIVE_PIXELS = 2048 * 2048
#: a window of a native model larger than this on a side is filled coarse: shrunk to it, filled, enlarged
NATIVE_SIDE = 2048
#: separate hole regions counted before `crop` gives up on a mask (a noise-like mask)
MAX_REGIONS = 20_000


@dataclass(frozen=True)
class Geometry:
    """What the strategies need to know of a model: its size, the one box it fills, whether it runs at any size."""

    size: int
    box: Box | None = None
    any_size: bool = False
    #: N > 0 for a fully convolutional model that runs at the photo's own resolution on any size divisible by N
    #: (inputs are padded to it); 0 for a model of one size (or a density model, resized for `crop`)
    multiple: int = 0

    @property
    def native(self) -> bool:
        return self.multiple > 0


@dataclass(frozen=True)
class Window:
    """A square of the image (it may reach past the border: those pixels are reflected), in image pixels."""

    top: int
    left: int
    side: int


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}: choose {', '.join(STRATEGIES)}")
    return strategy


def check_image_size(height: int, width: int) -> None:
    """Refuse images the strategies cannot take, with a line that says what to do."""
    if height < 2 and width < 2:
        raise DataError(f"the image is {width}x{height} pixels: too small to inpaint (a hole needs context around it)")
    if height * width > MAX_PIXELS:
        raise DataError(
            f"the image is {width}x{height} pixels ({height * width / 1e6:.0f} Mpx); inpaintzoo takes images up to "
            f"{MAX_PIXELS / 1e6:.0f} Mpx: downscale it or cut out the part with the hole"
        )


def regions(mask: torch.Tensor | np.ndarray) -> list[Box]:
    """Bounding boxes `(top, left, height, width)` of the 8-connected regions of an `(H, W)` bool mask.

    Runs of hole pixels in each row are joined to the runs they touch in the row above (union-find), so the
    cost grows with the number of runs, not pixels. In raster order of each region's first pixel.
    """
    hole = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    hole = hole.astype(bool)
    h, w = hole.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = hole
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)  # exclusive; row-major order keeps starts and ends aligned
    n = len(rows)
    if n > MAX_REGIONS * 8:
        raise DataError(f"the mask has {n} separate hole segments: paint the hole as a few solid strokes")
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_start = np.searchsorted(rows, np.arange(h + 1))
    for r in range(1, h):
        a, a_end = row_start[r - 1], row_start[r]  # runs of the row above
        b, b_end = row_start[r], row_start[r + 1]
        while a < a_end and b < b_end:
            if starts[a] <= ends[b] and starts[b] <= ends[a]:  # touching, diagonals included
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if ends[a] < ends[b]:
                a += 1
            else:
                b += 1
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    boxes: dict[int, list[int]] = {}
    for root, r, s, e in zip(roots.tolist(), rows.tolist(), starts.tolist(), ends.tolist()):
        box = boxes.get(root)
        if box is None:
            boxes[root] = [r, s, r, e]
        else:
            box[0], box[1], box[2], box[3] = min(box[0], r), min(box[1], s), max(box[2], r), max(box[3], e)
    if len(boxes) > MAX_REGIONS:
        raise DataError(f"the mask has {len(boxes)} separate holes: paint the hole as a few solid strokes")
    return [(t, l, b - t + 1, r - l) for t, l, b, r in boxes.values()]


def is_rectangle(mask: torch.Tensor, box: Box) -> bool:
    """Whether the `(H, W)` mask is hole everywhere inside `box`."""
    t, l, h, w = box
    return bool(mask[t : t + h, l : l + w].all())


def _group(boxes: list[Box], height: int, width: int, limit: int) -> list[Box]:
    """At most `limit` boxes: where there are more, the boxes whose centres share a grid cell are joined."""
    if len(boxes) <= limit:
        return boxes
    cells = int(math.isqrt(limit))
    joined: dict[tuple[int, int], Box] = {}
    for t, l, h, w in boxes:
        key = (min(cells - 1, (t + h // 2) * cells // height), min(cells - 1, (l + w // 2) * cells // width))
        if key in joined:
            t0, l0, h0, w0 = joined[key]
            b, r = max(t0 + h0, t + h), max(l0 + w0, l + w)
            t, l = min(t0, t), min(l0, l)
            h, w = b - t, r - l
        joined[key] = (t, l, h, w)
    return list(joined.values())


def crop_window(region: Box, height: int, width: int, geometry: Geometry) -> Window:
    """The square window `crop` fills for one hole region.

    Free-form models: twice the region's longer side (at least the model's size, at most the image's shorter
    side, never less than the region), moved inside the image where it fits. Fixed-box models: scaled so that
    the region lands in the box once the window is resized to the model's size, centred like the box.
    """
    t, l, h, w = region
    longest = max(h, w)
    size = geometry.size
    if geometry.box is not None:
        bt, bl, bh, bw = geometry.box
        side = max(1, math.ceil(longest * size / min(bh, bw)))
        for _ in range(8):  # rounding can push an edge row out of the box: grow the window a pixel at a time
            scale = side / size
            window = Window(round(t + h / 2 - (bt + bh / 2) * scale), round(l + w / 2 - (bl + bw / 2) * scale), side)
            if _lands_in(t - window.top, h, bt, bh, side, size) and _lands_in(l - window.left, w, bl, bw, side, size):
                return window
            side += 1
        return window
    side = max(min(max(size, 2 * longest), min(height, width)), longest)
    top, left = t + h // 2 - side // 2, l + w // 2 - side // 2
    if side <= height:
        top = min(max(top, 0), height - side)
    if side <= width:
        left = min(max(left, 0), width - side)
    return Window(top, left, side)


def _lands_in(start: int, length: int, box_start: int, box_length: int, side: int, size: int) -> bool:
    """Whether window pixels `[start, start + length)` map (as nearest-neighbour resizing does) into the box."""
    first, last = start * size // side, (start + length - 1) * size // side
    return start >= 0 and box_start <= first and last < box_start + box_length


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Indices past either end folded back into `[0, n)` (mirror without repeating the edge pixel)."""
    if n == 1:
        return torch.zeros_like(index)
    period = 2 * (n - 1)
    index = index.remainder(period)
    return torch.where(index >= n, period - index, index)


def _cut(x: torch.Tensor, window: Window) -> torch.Tensor:
    """The window of a `(C, H, W)` tensor, reflected where it leaves the image."""
    h, w = x.shape[-2:]
    if window.top >= 0 and window.left >= 0 and window.top + window.side <= h and window.left + window.side <= w:
        return x[..., window.top : window.top + window.side, window.left : window.left + window.side]
    rows = _reflect(torch.arange(window.top, window.top + window.side, device=x.device), h)
    cols = _reflect(torch.arange(window.left, window.left + window.side, device=x.device), w)
    r0, c0 = int(rows.min()), int(cols.min())  # gather from the small block the window touches, not the image
    block = x[..., r0 : int(rows.max()) + 1, c0 : int(cols.max()) + 1]
    return block.index_select(-2, rows - r0).index_select(-1, cols - c0)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Float `(B, C, h, w)` images to `size`, antialiased when shrinking."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A bool `(B, 1, h, w)` mask to `size`: a model pixel is hole if any image pixel it covers is."""
    if tuple(mask.shape[-2:]) == size:
        return mask
    return F.adaptive_max_pool2d(mask.float(), size) > 0


def box_mask_like(size: int, box: Box, device: torch.device) -> torch.Tensor:
    t, l, h, w = box
    mask = torch.zeros(1, 1, size, size, dtype=torch.bool, device=device)
    mask[..., t : t + h, l : l + w] = True
    return mask


def serves(geometry: Geometry, mask: torch.Tensor, strategy: str = "crop") -> str | None:
    """None if a model of this geometry can fill the `(H, W)` mask with `strategy`, else the reason (one line)."""
    check_strategy(strategy)
    h, w = mask.shape[-2:]
    if strategy == "original" and not geometry.any_size:
        return (
            f"this model runs at {geometry.size}x{geometry.size} only, so it cannot take the image at its own size "
            "(--strategy original): use --strategy crop or resize"
        )
    if strategy == "original" and h * w > (NATIVE_PIXELS if geometry.native else MAX_ORIGINAL_PIXELS):
        return (
            f"--strategy original runs the model on all {w}x{h} pixels; it takes at most "
            f"{NATIVE_PIXELS if geometry.native else MAX_ORIGINAL_PIXELS} pixels: use --strategy crop"
        )
    if geometry.box is None:
        return None
    bt, bl, bh, bw = geometry.box
    described = f"this model fills one {bh}x{bw} box (top={bt} left={bl} of {geometry.size}x{geometry.size})"
    mask2d = mask.reshape(h, w).bool()
    if strategy == "crop":
        for region in regions(mask2d):
            if not is_rectangle(mask2d, region):
                t, l, rh, rw = region
                return (
                    f"{described} and fills rectangular holes only; the hole at top={t} left={l} ({rw}x{rh}) "
                    "is free-form"
                )
        return None
    model_mask = _resize_mask(mask2d[None, None], (geometry.size, geometry.size))[0, 0]
    inside = box_mask_like(geometry.size, geometry.box, model_mask.device)[0, 0]
    if bool((model_mask & ~inside).any()):
        return f"{described}; this mask reaches outside it at the model's size (--strategy {strategy}): use crop"
    return None


def padded_fill(fill: FillFunction, images: torch.Tensor, unknown: torch.Tensor, multiple: int) -> torch.Tensor:
    """Run a native model on images of any size: pad the sides up to `multiple` (edge pixels repeated), crop back."""
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return fill(images, unknown)
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    big = F.pad(images, pad, mode="replicate")
    big_unknown = F.pad(unknown.float(), pad, mode="replicate") > 0
    return fill(big, big_unknown)[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]


def _fill_native_window(
    image: torch.Tensor, known: torch.Tensor, window: Window, fill: FillFunction, geometry: Geometry
) -> torch.Tensor:
    """A native model's fill of one window at the window's own resolution (coarse past `NATIVE_SIDE`)."""
    pixels = _cut(image, window)[None]
    unknown = ~_cut(known, window)[None]
    if window.side <= NATIVE_SIDE:
        return padded_fill(fill, pixels, unknown, geometry.multiple)[0]
    side = NATIVE_SIDE - NATIVE_SIDE % geometry.multiple
    coarse = padded_fill(fill, _resize(pixels, (side, side)), _resize_mask(unknown, (side, side)), geometry.multiple)
    return _resize(coarse, (window.side, window.side))[0]


def _fill_window(
    image: torch.Tensor, known: torch.Tensor, window: Window, fill: FillFunction, geometry: Geometry
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill one window of `image` (3, H, W) whose unknown pixels are `~known` (1, H, W).

    Returns the window's fill at the window's size and the part of the window the fill may be pasted in
    (everything for free-form models; what maps into the box for fixed-box models).
    """
    size = (geometry.size, geometry.size)
    pixels = _cut(image, window)[None]
    unknown = ~_cut(known, window)[None]
    small = _resize(pixels, size)
    small_unknown = _resize_mask(unknown, size)
    if geometry.box is None:
        return _resize(fill(small, small_unknown), (window.side, window.side))[0], torch.ones_like(unknown[0])
    box = box_mask_like(geometry.size, geometry.box, image.device)
    outside = small_unknown & ~box  # other holes (or their reflections) outside the box: not the model's to fill
    if bool(outside.any()):  # the mean colour of the window's known pixels there
        small = torch.where(outside, fill_hole(small, small_unknown, "mean"), small)
    filled = _resize(fill(small, box), (window.side, window.side))[0]
    reach = F.interpolate(box.float(), size=(window.side, window.side), mode="nearest")[0] > 0
    return filled, reach


def _paste(
    out: torch.Tensor,
    known: torch.Tensor,
    hole: torch.Tensor,
    window: Window,
    filled: torch.Tensor,
    reach: torch.Tensor,
) -> None:
    """Write the window's fill into the hole pixels of `out` it covers that are still unknown (in place)."""
    h, w = out.shape[-2:]
    t0, l0 = max(window.top, 0), max(window.left, 0)
    t1, l1 = min(window.top + window.side, h), min(window.left + window.side, w)
    if t0 >= t1 or l0 >= l1:
        return
    part = (slice(None), slice(t0, t1), slice(l0, l1))
    inner = (slice(None), slice(t0 - window.top, t1 - window.top), slice(l0 - window.left, l1 - window.left))
    todo = hole[part] & ~known[part] & reach[inner]
    out[part] = torch.where(todo, filled[inner].to(out.dtype), out[part])
    known[part] |= todo


def fill_image(
    image: torch.Tensor, mask: torch.Tensor, fill: FillFunction, geometry: Geometry, strategy: str = "crop"
) -> torch.Tensor:
    """One `(3, H, W)` float image with its `(1, H, W)` hole filled by `strategy`; context pixels unchanged."""
    check_strategy(strategy)
    h, w = image.shape[-2:]
    check_image_size(h, w)
    reason = serves(geometry, mask, strategy)
    if reason is not None:
        raise DataError(reason)
    hole = mask.bool()
    if geometry.native and (strategy == "original" or (strategy == "crop" and h * w <= NATIVE_PIXELS)):
        filled = padded_fill(fill, image[None], hole[None], geometry.multiple)[0]
        return torch.where(hole, filled.to(image.dtype), image)
    if strategy == "original":
        return torch.where(hole, fill(image[None], hole[None])[0].to(image.dtype), image)
    if strategy == "resize":
        size = (geometry.size, geometry.size)
        small = _resize(image[None], size)
        small_hole = _resize_mask(hole[None], size)
        if geometry.box is not None:
            small_hole = box_mask_like(geometry.size, geometry.box, image.device)
        filled = _resize(fill(small, small_hole), (h, w))[0]
        return torch.where(hole, filled.to(image.dtype), image)
    boxes = regions(hole[0])
    if geometry.box is not None and len(boxes) > MAX_WINDOWS:
        raise DataError(f"the mask has {len(boxes)} separate holes; a fixed-box model fills at most {MAX_WINDOWS}")
    boxes = _group(boxes, h, w, MAX_WINDOWS)
    out, known = image.clone(), ~hole
    for region in boxes:
        t, l, rh, rw = region
        if bool(known[:, t : t + rh, l : l + rw].all()):
            continue  # an earlier window already filled it
        window = crop_window(region, h, w, geometry)
        if geometry.native:
            filled = _fill_native_window(out, known, window, fill, geometry)
            reach = torch.ones(1, window.side, window.side, dtype=torch.bool, device=image.device)
        else:
            filled, reach = _fill_window(out, known, window, fill, geometry)
        _paste(out, known, hole, window, filled, reach)
    if not bool(known.all()):  # a hole pixel no window reached (should not happen): say so, never return it unfilled
        raise DataError("crop left part of the hole unfilled; use --strategy resize")
    return out


def fill_images(
    images: torch.Tensor, mask: torch.Tensor, fill: FillFunction, geometry: Geometry, strategy: str = "crop"
) -> torch.Tensor:
    """A batch: images at the model's size (served as they are) in one call, others one by one."""
    size = geometry.size
    if geometry.native and strategy != "resize" and images.shape[-2] * images.shape[-1] <= NATIVE_PIXELS:
        filled = padded_fill(fill, images, mask, geometry.multiple)
        return torch.where(mask, filled.to(images.dtype), images)
    if strategy != "original" and tuple(images.shape[-2:]) == (size, size):
        small_enough = geometry.box is None or all(
            serves(geometry, m, "resize") is None for m in mask
        )  # at the model's size, resize is the identity
        if small_enough:
            model_mask = mask if geometry.box is None else box_mask_like(size, geometry.box, mask.device)
            filled = fill(images, model_mask.expand(images.shape[0], -1, -1, -1))
            return torch.where(mask, filled.to(images.dtype), images)
    return torch.stack([fill_image(x, m, fill, geometry, strategy) for x, m in zip(images, mask)])


def inpaint_photo(run: Any, image: np.ndarray, mask: np.ndarray, strategy: str = "crop", **kwargs: Any) -> np.ndarray:
    """Fill the hole of an `(H, W, 3)` uint8 photo; `mask` `(H, W)` bool is True in the hole.

    `run` is anything with `inpaint(images, mask, strategy=..., **kwargs)` (a `Run`). The fill is pasted in
    uint8 space, so every pixel outside the hole is the input's byte for byte.
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"inpaint_photo wants an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise DataError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}"
        )
    hole = mask.astype(bool)
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div_(255)[None]
    m = torch.from_numpy(np.array(hole, copy=True))[None, None]
    filled = run.inpaint(x, m, strategy=strategy, **kwargs)[0]
    pixels = filled.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    out = image.copy()
    out[hole] = pixels[hole]
    return out


def compare_image(
    image: np.ndarray, mask: np.ndarray, filled: np.ndarray | Sequence[np.ndarray], labels: Sequence[str]
) -> np.ndarray:
    """A labelled side-by-side uint8 picture: the image with its hole marked (red tint and outline) | each fill.

    `filled` is one fill or several (learned and classical side by side); `labels` names the marked image and
    then each fill. Small images are enlarged (nearest neighbour, whole factors) so that each panel is at least
    160 px wide.
    """
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    scale = max(1, math.ceil(160 / w))
    hole = mask.astype(bool)
    marked = image.astype(np.float32)
    marked[hole] = 0.45 * marked[hole] + 0.55 * np.array([255, 0, 0], dtype=np.float32)
    ring = hole & ~_erode(hole)
    marked[ring] = (255, 0, 0)
    fills = [filled] if isinstance(filled, np.ndarray) else list(filled)
    if len(labels) != 1 + len(fills):
        raise ValueError(f"compare_image needs {1 + len(fills)} labels (the hole, then each fill), got {len(labels)}")
    panels = [marked.round().astype(np.uint8), *fills]
    panels = [np.repeat(np.repeat(p, scale, 0), scale, 1) for p in panels]
    header, pad = 16, 4
    n = len(panels)
    canvas = Image.new("RGB", (n * w * scale + (n + 1) * pad, h * scale + header + 2 * pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (panel, label) in enumerate(zip(panels, labels)):
        x = pad + i * (w * scale + pad)
        canvas.paste(Image.fromarray(panel), (x, header + pad))
        draw.text((x, 2), label, fill=(0, 0, 0))
    return np.asarray(canvas)


def _erode(mask: np.ndarray) -> np.ndarray:
    """A bool mask shrunk by one pixel (4-neighbourhood): the hole minus its outline."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    return inner
