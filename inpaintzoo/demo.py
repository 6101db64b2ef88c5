"""`inpaintzoo demo`: a hole in a photo shipped with the package, filled by the zoo's default model beside the
classical fills, as one labelled PNG. Nothing of the user's own is needed, so a fresh install shows what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inpaintzoo.data.io import load_image_uint8
from inpaintzoo.data.photo_masks import draw
from inpaintzoo.data.samples import PHOTO_DIR
from inpaintzoo.errors import UsageError
from inpaintzoo.photos import compare_image, inpaint_photo

#: the sample photos (public domain, see data/samples/SOURCE.md); none of them is trained or tuned on
SAMPLES: tuple[str, ...] = tuple(sorted(p.stem for p in PHOTO_DIR.glob("*.png")))
DEMO_SEED = 7


def sample_photo(name: str) -> np.ndarray:
    """A shipped sample photo as uint8 `(H, W, 3)`."""
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}: choose {', '.join(SAMPLES)}")
    return load_image_uint8(PHOTO_DIR / f"{name}.png").permute(1, 2, 0).numpy().copy()


def demo_hole(image: np.ndarray, kind: str = "stroke") -> np.ndarray:
    """The demo's hole: one seeded mask of `kind` (a brush stroke by default), the same on every run."""
    return draw(kind, image.shape[0], image.shape[1], np.random.default_rng(DEMO_SEED))


def demo_picture(model: Any, sample: str = "astronaut", kind: str = "stroke") -> tuple[np.ndarray, np.ndarray]:
    """(the side-by-side picture, the model's fill): the sample with its hole | `model`'s fill | classical fills."""
    from inpaintzoo.classical import comparison_fills

    image = sample_photo(sample)
    hole = demo_hole(image, kind)
    filled = inpaint_photo(model, image, hole)
    anchors = comparison_fills(model.name, image, hole)
    fills = [filled, *anchors.values()]
    return compare_image(image, hole, fills, ("hole", model.name, *anchors)), filled


def write_demo(model: Any, out: Path, sample: str = "astronaut", kind: str = "stroke") -> Path:
    from PIL import Image

    picture, _ = demo_picture(model, sample, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(picture)).save(out)
    return out
