"""The hole a user marks on an image, built and checked one way for the CLI (`--box`, `--mask`) and the web page.

A box is `TOP,LEFT,HEIGHT,WIDTH` in pixels; several boxes make one hole. Whatever marks it, a hole must leave
some of the image as context and must not be empty: both are refused here with one line that says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inpaintzoo.data.masks import load_mask
from inpaintzoo.errors import DataError, UsageError

Box = tuple[int, int, int, int]


def parse_box(text: str, name: str = "--box") -> Box:
    """`TOP,LEFT,HEIGHT,WIDTH` as four integers; anything else is a one-line error naming the option `name`."""
    try:
        top, left, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{name} takes TOP,LEFT,HEIGHT,WIDTH in pixels (e.g. 12,12,8,8), got {text!r}") from None
    return top, left, h, w


def parse_boxes(texts: Sequence[str], name: str = "--box") -> list[Box]:
    """Every `--box`, parsed and checked before any image is read (a box of no size fits no image)."""
    boxes = []
    for text in texts:
        top, left, h, w = parse_box(text, name)
        if min(top, left) < 0 or min(h, w) < 1:
            raise UsageError(f"{name} {text}: top and left must be >= 0, height and width >= 1")
        boxes.append((top, left, h, w))
    return boxes


def box_hole(boxes: Sequence[Box], shape: tuple[int, int], name: str = "--box") -> np.ndarray:
    """The `(H, W)` bool hole the boxes cover together; a box that leaves the image is refused."""
    height, width = shape
    hole = np.zeros(shape, dtype=bool)
    for top, left, h, w in boxes:
        if min(top, left) < 0 or min(h, w) < 1 or top + h > height or left + w > width:
            raise DataError(f"{name} {top},{left},{h},{w} does not fit in the {width}x{height} image")
        hole[top : top + h, left : left + w] = True
    return hole


def check_hole(mask: np.ndarray) -> np.ndarray:
    """`mask` if it has a hole that leaves context to read; otherwise a one-line error."""
    if not mask.any():
        raise DataError("the mask is empty: paint over the part of the image to fill")
    if mask.all():
        raise DataError("the mask covers the whole image: leave some of the image as context")
    return mask


def image_hole(
    shape: tuple[int, int],
    model: Any,
    mask_path: Path | None = None,
    boxes: Sequence[Box] = (),
    seed: int = 0,
) -> np.ndarray:
    """The checked `(H, W)` bool hole of an image of `shape`: from a mask file, from boxes, or, for an image of the
    model's own size, the model's own (seeded) hole."""
    height, width = shape
    if mask_path is not None:
        hole = load_mask(mask_path, shape)[0, 0].numpy()
    elif boxes:
        hole = box_hole(boxes, shape)
    elif shape == (model.image_size, model.image_size):
        hole = model.mask(1, generator=torch.Generator().manual_seed(seed))[0, 0].cpu().numpy()
    else:
        raise DataError(
            f"the image is {width}x{height}; mark the hole with --mask or --box (this model's own hole is for "
            f"{model.image_size}x{model.image_size} images)"
        )
    return check_hole(hole)
