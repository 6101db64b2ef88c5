"""The classical fills every learned model is measured against: mean colour, OpenCV's Telea and Navier-Stokes,
and PatchMatch (Barnes et al. 2009, the `pypatchmatch` package, an optional extra).

Each takes a uint8 `(H, W, 3)` photo and a bool `(H, W)` hole and returns the filled uint8 photo, every
pixel outside the hole byte-identical. They need no training and run at any size, which is why they are
the anchors of the photo benchmark and entries of the zoo beside the learned models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from inpaintzoo.errors import DataError, UsageError

ClassicalFill = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: OpenCV's inpainting radius (px): the neighbourhood each filled pixel is averaged from
RADIUS = 3
PATCHMATCH_MISSING = "PatchMatch needs the optional package pypatchmatch: pip install pypatchmatch"


def _check(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image, hole = np.ascontiguousarray(image), np.asarray(mask).astype(bool)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"a classical fill wants an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    if hole.shape != image.shape[:2]:
        raise DataError(
            f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}"
        )
    return image, hole


def _paste(image: np.ndarray, hole: np.ndarray, filled: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[hole] = filled[hole]
    return out


def mean_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hole painted in the mean colour of the context."""
    image, hole = _check(image, mask)
    colour = image[~hole].mean(0) if (~hole).any() else np.full(3, 127.5)
    return _paste(image, hole, np.broadcast_to(np.round(colour).astype(np.uint8), image.shape))


def _opencv(flag_name: str) -> ClassicalFill:
    def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import cv2

        image, hole = _check(image, mask)
        filled = cv2.inpaint(image, hole.astype(np.uint8) * 255, RADIUS, getattr(cv2, flag_name))
        return _paste(image, hole, filled)

    return fill


telea = _opencv("INPAINT_TELEA")
telea.__doc__ = "OpenCV's fast marching fill (Telea 2004): each hole pixel a weighted mean of known neighbours."
navier_stokes = _opencv("INPAINT_NS")
navier_stokes.__doc__ = "OpenCV's Navier-Stokes fill (Bertalmio et al. 2001): isophotes continued into the hole."


def patchmatch_available() -> bool:
    try:
        from patchmatch import patch_match  # noqa: F401
    except Exception:  # the package also fails to import where its compiled library cannot load
        return False
    return True


def patchmatch(image: np.ndarray, mask: np.ndarray, patch_size: int = 3) -> np.ndarray:
    """PatchMatch (Barnes et al. 2009): the hole copied patch by patch from the nearest-looking context."""
    image, hole = _check(image, mask)
    if not patchmatch_available():
        raise UsageError(PATCHMATCH_MISSING)
    from patchmatch import patch_match

    filled = patch_match.inpaint(image, hole.astype(np.uint8) * 255, patch_size=patch_size)
    return _paste(image, hole, np.asarray(filled, dtype=np.uint8))


#: name -> fill, in the order tables show them
CLASSICAL: dict[str, ClassicalFill] = {
    "mean": mean_colour,
    "telea": telea,
    "navier-stokes": navier_stokes,
    "patchmatch": patchmatch,
}
#: the photo benchmark's scores of the classical fills (benchmarks/bench_photos.py --write-cards)
SCORES_FILE = Path(__file__).resolve().parent / "zoo" / "classical.json"
SUMMARIES: dict[str, str] = {
    "mean": "the mean colour of the context (a floor, not an anchor)",
    "telea": "OpenCV Telea (classical): each hole pixel a weighted mean of its known neighbours",
    "navier-stokes": "OpenCV Navier-Stokes (classical): the image's isophotes continued into the hole",
    "patchmatch": "PatchMatch (classical, 2009): the hole copied patch by patch from similar context",
}


def scores() -> dict[str, dict]:
    """The photo benchmark's scores of each classical fill, as shipped (empty where never measured)."""
    import json

    try:
        return json.loads(SCORES_FILE.read_text())
    except (OSError, ValueError):
        return {}


#: the classical fills a learned photo model has to beat (mean colour is a floor, not an anchor)
ANCHORS: tuple[str, ...] = ("telea", "navier-stokes", "patchmatch")


def comparison_fills(model: str, image: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The fills shown beside `model`'s (`--compare`, `demo`): Telea's and, where installed, PatchMatch's."""
    names = ["telea"] + (["patchmatch"] if patchmatch_available() else [])
    return {name: CLASSICAL[name](image, mask) for name in names if name != model}


class ClassicalModel:
    """A classical fill with the face of a loaded model (what `inpaint`, `serve` and the benchmarks call):
    any image size, any hole, nothing to train, always on the CPU. `inpaintzoo.pretrained("telea")` returns one."""

    is_density = False
    decodes = False  # a classical fill takes no decoding options
    image_size = 0  # no size of its own: every hole is given by a mask
    config: dict = {"task": "classical"}

    def __init__(self, name: str) -> None:
        if name not in CLASSICAL:
            raise UsageError(f"unknown classical fill {name!r}: choose {', '.join(CLASSICAL)}")
        if name == "patchmatch" and not patchmatch_available():
            raise UsageError(PATCHMATCH_MISSING)
        self.name = name
        self.fill = CLASSICAL[name]
        import torch

        self.device = torch.device("cpu")

    def __repr__(self) -> str:
        return f"ClassicalModel({self.name!r})"

    def serves(self, mask: object, strategy: str = "crop") -> None:
        """Every hole of every size: nothing to refuse (the strategy does not apply)."""
        return None

    def mask(self, batch_size: int, generator: object = None) -> object:
        raise DataError(f"{self.name} has no hole of its own: mark the hole with --mask or --box")

    def inpaint(self, images: object, mask: object, strategy: str = "crop", **ignored: object) -> object:
        """Fill `(B, 3, H, W)` float images in [0, 1] where the `(B or 1, 1, H, W)` mask is True."""
        import torch

        images = torch.as_tensor(images)
        masks = torch.as_tensor(mask).bool().expand(images.shape[0], 1, *images.shape[-2:])
        out = []
        for image, hole in zip(images, masks):
            pixels = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            filled = self.fill(pixels, hole[0].cpu().numpy())
            out.append(torch.from_numpy(filled).permute(2, 0, 1).float().div(255))
        result = torch.stack(out).to(images.device)
        return torch.where(masks, result, images.float())
