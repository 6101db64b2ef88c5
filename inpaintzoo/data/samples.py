"""The default dataset: crops of a few public-domain photographs shipped inside the package.

It needs no download, so the quickstart runs on a fresh offline machine, and it is real photographic
texture (skin, fur, porcelain, metal, tissue), not noise. One photograph is held out whole for
`split="test"`, so test crops never overlap a training crop. See `samples/SOURCE.md` for credits.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F

from inpaintzoo.data.io import ImageSet, check_split, load_image_uint8, resize_images
from inpaintzoo.errors import DataError, UsageError

PHOTO_DIR = Path(__file__).resolve().parent / "samples"
TRAIN_PHOTOS = ("astronaut", "coffee", "immunohistochemistry", "rocket")
TEST_PHOTOS = ("chelsea",)
CROP = 32  # crops are cut 32x32 from each scaled photograph, then resized to the image size asked for
STRIDE = 8
SCALES = (1.0, 0.75, 0.5)


def crops(
    photo: torch.Tensor, crop: int = CROP, stride: int = STRIDE, scales: tuple[float, ...] = SCALES
) -> torch.Tensor:
    """Every `crop x crop` window at `stride` of a uint8 `(3, H, W)` photo, at each scale: `(N, 3, crop, crop)`."""
    pieces = []
    h, w = photo.shape[-2:]
    for scale in scales:
        size = (round(h * scale), round(w * scale))
        if min(size) < crop:
            continue
        scaled = photo[None].float()
        if scale != 1.0:
            scaled = F.interpolate(scaled, size=size, mode="bilinear", antialias=True, align_corners=False)
        windows = scaled.unfold(2, crop, stride).unfold(3, crop, stride)  # (1, 3, nh, nw, crop, crop)
        pieces.append(windows.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, crop, crop))
    return torch.cat(pieces).clamp_(0, 255).round_().to(torch.uint8)


@cache
def _photo(name: str) -> torch.Tensor:
    path = PHOTO_DIR / f"{name}.png"
    if not path.is_file():
        raise DataError(f"the sample photograph {path} is missing; reinstall inpaintzoo")
    return load_image_uint8(path)


def sample_crops(split: str) -> torch.Tensor:
    """All 32x32 crops of one split's photographs, uint8 `(N, 3, 32, 32)`, in a fixed order.

    The order interleaves the photos evenly, each photo's crops in a fixed shuffle, so any slice (the
    held-out validation tail, a grid's eight) mixes photos, places and scales instead of showing
    neighbouring crops of one photo.
    """
    names = TRAIN_PHOTOS if check_split(split) == "train" else TEST_PHOTOS
    pieces = [crops(_photo(name)) for name in names]
    g = torch.Generator().manual_seed(sum(len(p) for p in pieces))
    # crop r of photo i (of n) sits at (r + i / len(names)) / n along the order: the photos take turns
    keys = torch.cat([(torch.arange(len(p)) + i / len(names)) / len(p) for i, p in enumerate(pieces)])
    shuffled = torch.cat([p[torch.randperm(len(p), generator=g)] for p in pieces])
    return shuffled[torch.argsort(keys, stable=True)]


def samples(split: str, image_size: int = 32) -> ImageSet:
    """Crops of five public-domain photos shipped with inpaintzoo; offline, the default dataset."""
    if image_size < 1:
        raise UsageError(f"image_size must be positive, got {image_size}")
    return ImageSet(resize_images(sample_crops(split), image_size), name=f"samples/{split}")
