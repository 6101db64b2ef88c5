"""Images between files, uint8 storage and the float tensors every model sees.

Datasets keep their pictures as one uint8 tensor `(N, 3, S, S)` (a quarter of the memory of floats,
and the engine batches by indexing it); models see floats in `[0, 1]`. `load_image` and `save_image`
are the CLI's door to single files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from inpaintzoo.errors import DataError, UsageError

SPLITS = ("train", "test")
Resize = Literal["crop", "resize"]


def check_split(split: str) -> str:
    """Return `split` if it is `train` or `test`, else raise a UsageError."""
    if split not in SPLITS:
        raise UsageError(f"split must be 'train' or 'test', got {split!r}")
    return split


class ImageSet(Dataset):
    """Images held in memory as uint8 `(N, 3, S, S)`; items are float `(3, S, S)` in `[0, 1]`.

    `images` is public so that the engine can take a batch with one index operation instead of
    collating N items.
    """

    def __init__(self, images: torch.Tensor, name: str = "", source: Path | None = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"ImageSet wants uint8 (N, 3, S, S) images, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.name = name
        self.source = source  # the folder the files were read from (recorded in a run's config), if any

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index].float().div_(255)

    def __repr__(self) -> str:
        return f"ImageSet({self.name or 'images'}: {len(self)} x {tuple(self.images.shape[1:])})"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in `[0, 1]` to uint8 `[0, 255]`, rounding to the nearest level."""
    return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 `(N, 3, H, W)` images to `size x size` with antialiased bilinear interpolation.

    Antialiasing matters when shrinking (plain bilinear would alias fine texture); chunks bound the
    float copy's memory for 50,000 images.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        resized = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = resized.clamp_(0, 255).round_().to(torch.uint8)
    return out


def _to_rgb8(image: Image.Image, path: Path, background: int = 255) -> np.ndarray:
    """Any Pillow mode to an `(H, W, 3)` uint8 array; 16-bit samples are rescaled, not clipped.

    Transparent pixels are composited over a `background` gray level (white for photographs).
    """
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image, dtype=np.float64)
        if values.max(initial=0) > 65535 or values.min(initial=0) < 0:
            raise DataError(f"{path}: 32-bit integer samples are not supported; save the image as 8- or 16-bit")
        if mode.startswith("I;16") or values.max(initial=0) > 255:  # a 16-bit image: 65535 maps to 255
            values = values * (255 / 65535)
        gray = np.rint(values).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        raise DataError(f"{path}: floating-point images are not supported; save the image as an 8- or 16-bit PNG")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (background,) * 3 + (255,)), rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def save_filled_like(source: str | Path, filled: np.ndarray, hole: np.ndarray, target: str | Path) -> None:
    """Write a fill of `source` as a PNG in the source's own form, every pixel outside the hole its byte for byte.

    `filled` is the `(H, W, 3)` uint8 fill of the displayed (EXIF-rotated) image and `hole` its `(H, W)` mask. An
    image with an alpha channel keeps it (the fill goes into the colour channels); a greyscale one stays
    greyscale, and a 16-bit one stays 16-bit (the fill's 8-bit levels scaled to 16 bits); others are RGB.
    """
    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image)
        mode = image.mode
        hole = np.asarray(hole, dtype=bool)
        if mode.startswith("I;16") or mode == "I":
            values = np.asarray(image).astype(np.int32)
            sixteen = mode.startswith("I;16") or values.max(initial=0) > 255
            grey = filled.astype(np.float64).mean(2)
            values[hole] = np.rint(grey[hole] * (65535 / 255 if sixteen else 1)).astype(np.int32)
            out = Image.fromarray(values.astype(np.uint16 if sixteen else np.uint8))
        elif mode in ("L", "LA"):
            pixels = np.asarray(image).copy()
            grey = np.rint(filled.astype(np.float64).mean(2)).astype(np.uint8)
            if mode == "LA":
                pixels[..., 0][hole] = grey[hole]
            else:
                pixels[hole] = grey[hole]
            out = Image.fromarray(pixels)
        elif mode in ("RGBA", "PA") or (mode == "P" and "transparency" in image.info):
            pixels = np.asarray(image.convert("RGBA")).copy()
            pixels[..., :3][hole] = filled[hole]
            out = Image.fromarray(pixels)
        else:
            pixels = np.asarray(image.convert("RGB")).copy()
            pixels[hole] = filled[hole]
            out = Image.fromarray(pixels)
    out.save(target)


def square(image: torch.Tensor, how: Resize = "crop") -> torch.Tensor:
    """Make `(..., H, W)` square: centre-crop to the shorter side (`crop`) or leave it to the resize (`resize`)."""
    if how == "resize":
        return image
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top : top + side, left : left + side]


def load_image_uint8(
    path: str | Path, image_size: int | None = None, resize: Resize = "crop", background: int = 255
) -> torch.Tensor:
    """Like `load_image`, but returns the uint8 `(3, H, W)` tensor (what datasets store).

    `background` is the gray level transparent pixels are composited over (masks use black).
    """
    path = Path(path)
    if resize not in ("crop", "resize"):
        raise UsageError(f"resize must be 'crop' or 'resize', got {resize!r}")
    if not path.is_file():
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later
            image = ImageOps.exif_transpose(image)
            pixels = _to_rgb8(image, path, background)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, TIFF, WebP, ...)") from None
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow reports truncated and corrupt data this way
        raise DataError(f"{path}: cannot decode the image, the file is truncated or corrupt ({exc})") from None
    tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()
    if image_size is not None:
        if image_size < 1:
            raise UsageError(f"image_size must be positive, got {image_size}")
        tensor = resize_images(square(tensor, resize)[None], image_size)[0]
    return tensor


def load_image(path: str | Path, image_size: int | None = None, resize: Resize = "crop") -> torch.Tensor:
    """Read an image file as a float `(3, H, W)` tensor in `[0, 1]`.

    Whatever the file holds becomes 8-bit RGB: grayscale is repeated over three channels, an alpha
    channel (RGBA, LA, transparent palettes) is composited over white, 16-bit samples are brought to
    the 8-bit scale (gray: 65535 becomes 255, rounded; RGB: Pillow keeps the high byte), and the
    EXIF orientation is applied. With `image_size`, the image is
    made square (`resize="crop"`: centre crop to the shorter side; `"resize"`: squash) and resized
    with antialiasing to `image_size x image_size`.

    Raises DataError for a missing, truncated or non-image file, or samples it cannot represent.
    """
    return load_image_uint8(path, image_size, resize).float().div_(255)


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write a float `(3, H, W)` (or `(1, 3, H, W)`) image in `[0, 1]`, or a uint8 one, as a PNG-like file.

    The format follows the suffix (PNG is lossless; use it for results). Parent folders are created.
    """
    path = Path(path)
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise UsageError(f"save_image wants a (3, H, W) image, got shape {tuple(image.shape)}")
    pixels = image.detach().cpu()
    if pixels.dtype != torch.uint8:
        pixels = to_uint8(pixels.float())
    array = pixels.permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)
    return path
