"""Real photographs as training data: square crops at random scales of each photo, from a fixed split.

Photo models learn from many windows of a few hundred photographs: a crop of side `c` (between
`image_size` and the photo's shorter side, log-uniform, so close-ups and whole scenes are equally likely)
resized to `image_size`, at a random place, mirrored half the time. The crops are drawn once, from a
seed, when the dataset is built: the engine batches by indexing one uint8 tensor, and `crops_per_photo`
windows of each photo give it the variety of fresh draws at a fixed memory cost.

The split is by a stable hash of the file name (`folder.split_of`): `test` is the held-out part, used
for validation and benchmarks and never tuned on. The photos come from `data.root`, `$INPAINTZOO_DATA/photos`,
or a `shared/data/photos` folder above the working directory or the package.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inpaintzoo.data.folder import image_files, split_of
from inpaintzoo.data.io import ImageSet, check_split, load_image_uint8
from inpaintzoo.errors import DataError, UsageError

FOLDER = "photos"
DATA_ENV = "INPAINTZOO_DATA"
#: the held-out share of the photos (by a hash of each name): validation and benchmarks only
HELD_OUT = 0.15


def candidate_roots(root: str | Path | None = None) -> list[Path]:
    """Every place searched for the photos, in order."""
    places: list[Path] = []
    if root:
        return [Path(root).expanduser()]
    if os.environ.get(DATA_ENV):
        places.append(Path(os.environ[DATA_ENV]).expanduser() / FOLDER)
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        places.extend(folder.parent / "shared" / "data" / FOLDER for folder in [start, *start.parents])
    return places


def find_photos_root(root: str | Path | None = None) -> Path:
    """The first folder of photos among `candidate_roots`, or a DataError that says where it looked."""
    places = candidate_roots(root)
    for place in places:
        if place.is_dir() and image_files(place):
            return place
    where = str(places[0]) if root else f"${DATA_ENV}/{FOLDER} or shared/data/{FOLDER} above this folder"
    raise DataError(f"no photos found in {where}: pass data.root=/path/to/photos (a folder of .jpg/.png files)")


def split_photos(root: Path, split: str, held_out: float = HELD_OUT) -> list[Path]:
    """The photo files of `split` (`test` is the held-out part), in a stable order."""
    check_split(split)
    return [p for p in image_files(root) if split_of(p.relative_to(root).as_posix(), held_out) == split]


def random_crops(
    photo: torch.Tensor, size: int, count: int, rng: np.random.Generator, max_scale: float = 1.0
) -> torch.Tensor:
    """`count` square crops of a uint8 `(3, H, W)` photo, each `size` px, at log-uniform random scales.

    A crop's side in photo pixels lies in `[size, shorter side * max_scale]` (a photo smaller than `size`
    is first enlarged so its shorter side is `size`). Half of the crops are mirrored left to right.
    """
    _, h, w = photo.shape
    if min(h, w) < size:
        factor = size / min(h, w)
        h, w = max(size, round(h * factor)), max(size, round(w * factor))
        photo = F.interpolate(photo[None].float(), size=(h, w), mode="bilinear", align_corners=False)[0]
        photo = photo.clamp(0, 255).round().to(torch.uint8)
    largest = max(size, int(min(h, w) * max_scale))
    out = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for i in range(count):
        side = int(round(math.exp(rng.uniform(math.log(size), math.log(largest))))) if largest > size else size
        side = min(side, h, w)
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo[:, top : top + side, left : left + side]
        if side != size:
            crop = F.interpolate(crop[None].float(), size=(size, size), mode="bilinear", antialias=True)[0]
            crop = crop.clamp(0, 255).round().to(torch.uint8)
        out[i] = crop.flip(-1) if rng.random() < 0.5 else crop
    return out


def photos(
    split: str,
    image_size: int = 128,
    root: str = "",
    crops_per_photo: int = 32,
    max_scale: float = 1.0,
    seed: int = 0,
) -> ImageSet:
    """Crops of real photographs at random scales (data.root=PATH, else the shared `photos` folder)."""
    check_split(split)
    if image_size < 8:
        raise UsageError(f"data.image_size must be at least 8 for photo crops, got {image_size}")
    if crops_per_photo < 1:
        raise UsageError(f"data.crops_per_photo must be at least 1, got {crops_per_photo}")
    if not 0 < max_scale <= 1:
        raise UsageError(f"data.max_scale must be in (0, 1], got {max_scale}")
    base = find_photos_root(root or None)
    files = split_photos(base, split)
    if not files:
        raise DataError(f"no photos of split {split!r} in {base}: add photos or choose the other split")
    # one stream per photo, keyed by its name: adding a photo does not change the crops of the others
    crops = []
    for path in files:
        key = int.from_bytes(path.name.encode("utf-8")[-16:].rjust(16, b"\0"), "big") % 2**63
        rng = np.random.default_rng([seed, key])
        crops.append(random_crops(load_image_uint8(path), image_size, crops_per_photo, rng, max_scale))
    return ImageSet(torch.cat(crops), name=f"photos/{split}", source=base)
