"""Any folder of pictures as a dataset: each file made square, resized, and put in train or test.

A file's split is decided by a hash of its path relative to the folder, so it never moves between
splits when files are added or removed, and no split list has to be stored.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Literal

import torch

from inpaintzoo.data.io import ImageSet, check_split, load_image_uint8
from inpaintzoo.errors import DataError, UsageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class SkippedImagesWarning(UserWarning):
    """Some files in an image folder could not be read and were left out."""


def split_of(relative_name: str, test_fraction: float) -> str:
    """`test` for about `test_fraction` of names, chosen by a stable hash of the name; else `train`."""
    digest = hashlib.sha1(relative_name.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "test" if position < test_fraction else "train"


def image_files(root: Path) -> list[Path]:
    """Image files under `root` (recursively, by suffix), in a stable order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder(
    split: str,
    image_size: int = 32,
    root: str = "",
    resize: Literal["crop", "resize"] = "crop",
    test_fraction: float = 0.1,
) -> ImageSet:
    """Your own images from a folder (png/jpg/...), centre-cropped and resized; set data.root=PATH."""
    check_split(split)
    if not root:
        raise UsageError("the folder dataset needs data.root=PATH (a folder of images)")
    if not 0 <= test_fraction <= 1:
        raise UsageError(f"data.test_fraction must be in [0, 1], got {test_fraction}")
    if image_size < 1:
        raise UsageError(f"image_size must be positive, got {image_size}")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"data.root={root} is not a folder")
    chosen = [p for p in image_files(base) if split_of(p.relative_to(base).as_posix(), test_fraction) == split]
    images, skipped = [], []
    for path in chosen:
        try:
            images.append(load_image_uint8(path, image_size, resize))
        except DataError as exc:
            skipped.append(str(exc))
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image file(s) in {base}, e.g. {skipped[0]}",
            SkippedImagesWarning,
            stacklevel=2,
        )
    if not images:
        raise DataError(
            f"no readable images for split {split!r} in {base} "
            f"({len(chosen)} candidate file(s), {len(skipped)} unreadable); "
            f"add images ({', '.join(sorted(IMAGE_SUFFIXES))}) or change data.test_fraction"
        )
    return ImageSet(torch.stack(images), name=f"folder:{base.name}/{split}")
