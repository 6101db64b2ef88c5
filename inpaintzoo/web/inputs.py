"""What a request may carry: an image and a mask as uploaded bytes, checked against the server's limits.

Every check raises a `WebInputError` with the HTTP status to answer and a sentence for the page, so that
a bad upload costs one 4xx and never the server.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inpaintzoo import holes
from inpaintzoo.data.io import _to_rgb8
from inpaintzoo.errors import DataError, UsageError


class WebInputError(DataError):
    """An input the server refuses: `status` is the HTTP code (400, 404, 413, 415, 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may ask for: the longest image side in pixels and the upload size in bytes."""

    max_side: int = 2048
    max_upload_bytes: int = 16 * 1024 * 1024

    def describe(self) -> str:
        return f"images up to {self.max_side} px on the longer side, uploads up to {self.max_upload_bytes // 2**20} MB"


def _open(data: bytes, what: str, limits: Limits) -> Image.Image:
    """Open without decoding, refuse what is too large from the header alone, then decode."""
    if not data:
        raise WebInputError(f"the {what} upload is empty: choose an image file", 400)
    if len(data) > limits.max_upload_bytes:
        raise WebInputError(
            f"the {what} upload is {len(data) / 2**20:.1f} MB, over the limit of "
            f"{limits.max_upload_bytes / 2**20:.0f} MB",
            413,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise WebInputError(
            f"the {what} upload is not an image Pillow can read (PNG, JPEG, BMP, TIFF, WebP, ...)", 415
        ) from None
    width, height = image.size
    if max(width, height) > limits.max_side:
        raise WebInputError(
            f"the {what} is {width}x{height}: over the limit of {limits.max_side} px on the longer side "
            "(serve --max-side sets it); resize it first",
            413,
        )
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise WebInputError(f"the {what} upload is truncated or corrupt ({exc})", 415) from None


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """Uploaded bytes to an `(H, W, 3)` uint8 array (alpha over white, grayscale repeated, 16-bit scaled)."""
    image = _open(data, "image", limits)
    try:
        return _to_rgb8(image, Path("image")).copy()  # writable: torch.from_numpy wants it
    except DataError as exc:
        raise WebInputError(str(exc).replace("image: ", "the image upload: ", 1), 415) from None


def decode_mask(data: bytes, shape: tuple[int, int], limits: Limits) -> np.ndarray:
    """A mask PNG (white = hole, transparent = keep) to an `(H, W)` bool array of the image's `shape`."""
    image = _open(data, "mask", limits)
    pixels = _to_rgb8(image, Path("mask"), background=0)
    height, width = shape
    if pixels.shape[:2] != (height, width):
        h, w = pixels.shape[:2]
        raise WebInputError(f"the mask is {w}x{h} but the image is {width}x{height}: paint the mask on the image")
    return check_hole(pixels.astype(np.float32).mean(axis=2) > 127.5)


def box_to_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """`TOP,LEFT,HEIGHT,WIDTH` (pixels) to an `(H, W)` bool mask, refused where it leaves the image."""
    try:
        box = holes.parse_box(text, "box")
    except UsageError as exc:
        raise WebInputError(str(exc), 400) from None
    try:
        hole = holes.box_hole([box], shape, "box")
    except DataError as exc:
        raise WebInputError(str(exc)) from None
    return check_hole(hole)


def check_hole(mask: np.ndarray) -> np.ndarray:
    """Refuse a mask with no hole, or one that leaves no context to read (as the CLI does: `inpaintzoo.holes`)."""
    try:
        return holes.check_hole(mask)
    except DataError as exc:
        raise WebInputError(str(exc)) from None


def encode_png(pixels: np.ndarray) -> bytes:
    """An `(H, W, 3)` uint8 array or `(H, W)` bool mask as PNG bytes."""
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
