"""Holes like those photo models are judged on: LaMa-style irregular strokes and boxes, brush strokes, object boxes.

The five kinds, sized for a 512 px image and scaled to the mask's own size:

- `thin`: 4 to 50 short strokes up to 10 px wide (scratches, wires, text);
- `medium`: 4 to 5 strokes up to 50 px wide, plus up to 5 boxes of 10 to 50 px;
- `thick`: 1 to 5 strokes up to 100 px wide, plus 1 to 3 boxes of 30 to 150 px;
- `stroke`: one brush stroke of 2 to 4 segments, 12 to 30 px wide (the everyday "remove this" edit);
- `box`: one object box, a fifth to two fifths of the image's side.

An irregular stroke is LaMa's random walk: from a random point, segments of random length and angle
(turning back every other segment), drawn as thick lines. `mixed` draws a kind per image (what a photo
model trains on). Every mask covers at most `max_hole` of the image (a mask over it is drawn again).
Rasterised with OpenCV on the CPU from a seed drawn from the caller's generator, so masks repeat.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import torch

from inpaintzoo.data.masks import Fill, MaskGenerator
from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Collection

Kind = Literal["thin", "medium", "thick", "stroke", "box", "mixed"]
KINDS: tuple[str, ...] = ("thin", "medium", "thick", "stroke", "box")
components = Collection()
REFERENCE = 512  # the side the settings below are given for

# (min strokes, max strokes, max width, max length, max angle), (min boxes, max boxes, min side, max side, margin)
SETTINGS: dict[str, tuple[tuple[int, int, int, int, float], tuple[int, int, int, int, int]]] = {
    "thin": ((4, 50, 10, 40, 4.0), (0, 0, 0, 0, 0)),
    "medium": ((4, 5, 50, 100, 4.0), (0, 5, 10, 50, 0)),
    "thick": ((1, 5, 100, 200, 4.0), (1, 3, 30, 150, 10)),
}


def irregular(hole: np.ndarray, rng: np.random.Generator, scale: float, settings: tuple) -> None:
    """LaMa's random-walk strokes drawn into `hole` (uint8, in place)."""
    low, high, max_width, max_len, max_angle = settings
    h, w = hole.shape
    for _ in range(int(rng.integers(low, high + 1))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        for j in range(int(rng.integers(1, 11))):
            angle = 0.01 + rng.uniform(0, max_angle)
            if j % 2 == 0:
                angle = 2 * math.pi - angle
            length = (10 + rng.uniform(0, max(1, max_len - 10))) * scale
            width = max(1, int(round((5 + rng.uniform(0, max(1, max_width - 5))) * scale)))
            ny = int(np.clip(y + length * math.sin(angle), 0, h - 1))
            nx = int(np.clip(x + length * math.cos(angle), 0, w - 1))
            cv2.line(hole, (x, y), (nx, ny), 1, width)
            y, x = ny, nx


def boxes(hole: np.ndarray, rng: np.random.Generator, scale: float, settings: tuple) -> None:
    """Random axis-aligned boxes drawn into `hole` (in place)."""
    low, high, min_side, max_side, margin = settings
    h, w = hole.shape
    margin = int(margin * scale)
    for _ in range(int(rng.integers(low, high + 1))):
        bh = max(1, min(h - 2 * margin - 1, int(rng.uniform(min_side, max_side) * scale)))
        bw = max(1, min(w - 2 * margin - 1, int(rng.uniform(min_side, max_side) * scale)))
        top = int(rng.integers(margin, max(margin + 1, h - margin - bh)))
        left = int(rng.integers(margin, max(margin + 1, w - margin - bw)))
        hole[top : top + bh, left : left + bw] = 1


def brush_stroke(hole: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """One smooth brush stroke: 2 to 4 segments turning gently, 12 to 30 px wide at 512 px."""
    h, w = hole.shape
    width = max(1, int(round(rng.uniform(12, 30) * scale)))
    y, x = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(int(rng.integers(2, 5))):
        heading += rng.uniform(-0.8, 0.8)
        length = rng.uniform(40, 110) * scale
        ny, nx = (
            float(np.clip(y + length * math.sin(heading), 0, h - 1)),
            float(np.clip(x + length * math.cos(heading), 0, w - 1)),
        )
        cv2.line(hole, (int(x), int(y)), (int(nx), int(ny)), 1, width)
        y, x = ny, nx


def object_box(hole: np.ndarray, rng: np.random.Generator) -> None:
    """One box a fifth to two fifths of each side, anywhere inside the image."""
    h, w = hole.shape
    bh, bw = max(1, int(rng.uniform(0.2, 0.4) * h)), max(1, int(rng.uniform(0.2, 0.4) * w))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    hole[top : top + bh, left : left + bw] = 1


def draw(kind: str, height: int, width: int, rng: np.random.Generator, max_hole: float = 0.5) -> np.ndarray:
    """One `(height, width)` bool mask of `kind`, covering more than nothing and at most `max_hole` of the image."""
    scale = min(height, width) / REFERENCE
    hole = np.zeros((height, width), np.uint8)
    for _ in range(20):
        hole[:] = 0
        if kind == "stroke":
            brush_stroke(hole, rng, scale)
        elif kind == "box":
            object_box(hole, rng)
        else:
            strokes, rectangles = SETTINGS[kind]
            irregular(hole, rng, scale, strokes)
            boxes(hole, rng, scale, rectangles)
        covered = hole.mean()
        if 0 < covered <= max_hole:
            break
    else:  # twenty draws over the limit (tiny images): keep the last, cut to the limit row by row
        rows = max(1, int(height * max_hole))
        hole[rows:] = 0
    return hole.astype(bool)


@components(
    "mask",
    "lama",
    summary="Photo holes: LaMa's thin/medium/thick strokes and boxes, a brush stroke, an object box, or a mix",
)
class PhotoMask(MaskGenerator):
    """Masks of one `kind` (thin, medium, thick, stroke, box) or `mixed` (a kind drawn per image)."""

    def __init__(self, image_size: int, kind: Kind = "mixed", max_hole: float = 0.5, fill: Fill = "zeros") -> None:
        super().__init__(image_size, fill)
        if kind not in (*KINDS, "mixed"):
            raise UsageError(f"mask kind must be one of {', '.join((*KINDS, 'mixed'))}, got {kind!r}")
        if not 0 < max_hole < 1:
            raise UsageError(f"mask max_hole must be in (0, 1), got {max_hole}")
        self.kind, self.max_hole = kind, max_hole

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
        rng = np.random.default_rng(seed)
        size = self.image_size
        masks = np.empty((batch_size, 1, size, size), bool)
        for i in range(batch_size):
            kind = KINDS[int(rng.integers(len(KINDS)))] if self.kind == "mixed" else self.kind
            masks[i, 0] = draw(kind, size, size, rng, self.max_hole)
        return torch.from_numpy(masks).to(device)


inpaintzoo_register = components.hook()
