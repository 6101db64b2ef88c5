"""Fill holes in image files (what `inpaintzoo inpaint` does): every input is read and checked before the first
file is written, then one PNG per image, in the input's own form (alpha, greyscale, 16-bit kept).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inpaintzoo.classical import comparison_fills
from inpaintzoo.contracts import Decoding
from inpaintzoo.data.io import load_image_uint8, save_filled_like
from inpaintzoo.decoding import decoding_kwargs
from inpaintzoo.errors import DataError, InpaintzooError, UsageError
from inpaintzoo.files import refuse_existing
from inpaintzoo.holes import Box, image_hole
from inpaintzoo.photos import check_image_size, compare_image, inpaint_photo


@dataclass
class FillJob:
    """One image to fill: where it came from, its pixels `(H, W, 3)` uint8, its hole `(H, W)` bool, where it goes."""

    path: Path
    image: np.ndarray
    hole: np.ndarray
    target: Path

    @property
    def compare_target(self) -> Path:
        """Where `--compare` writes the side-by-side picture: `STEM-compare.png` beside the result."""
        return self.target.with_name(f"{self.target.stem}-compare.png")


def output_paths(images: Sequence[Path], out: Path, compare: bool, overwrite: bool) -> list[Path]:
    """`out/STEM.png` for each image; two inputs of one name, or an existing output (without `overwrite`), are
    refused before any model loads."""
    targets = [out / f"{p.stem}.png" for p in images]
    if len(set(targets)) != len(targets):
        raise UsageError("two input images share a file name; inpaint them into different --out folders")
    extra = [t.with_name(f"{t.stem}-compare.png") for t in targets] if compare else []
    refuse_existing(targets + extra, overwrite)
    return targets


def read_jobs(
    images: Sequence[Path],
    targets: Sequence[Path],
    model: Any,
    strategy: str = "crop",
    mask_path: Path | None = None,
    boxes: Sequence[Box] = (),
    seed: int = 0,
) -> list[FillJob]:
    """Read every image and build its hole; a bad file or a hole the model cannot fill stops here, named by its
    path, before anything is written."""
    jobs = []
    for path, target in zip(images, targets):
        pixels = load_image_uint8(path)
        h, w = pixels.shape[-2:]
        try:
            check_image_size(h, w)
            hole = image_hole((int(h), int(w)), model, mask_path, boxes, seed)
            reason = model.serves(hole, strategy)
            if reason is not None:
                raise DataError(reason)
        except InpaintzooError as exc:
            raise type(exc)(f"{path}: {exc}") from None
        jobs.append(FillJob(path, pixels.permute(1, 2, 0).numpy(), hole, target))
    return jobs


def fill_jobs(
    model: Any,
    jobs: Sequence[FillJob],
    strategy: str = "crop",
    precision: str = "fp32",
    decoding: Decoding | None = None,
    compare: bool = False,
) -> Iterator[FillJob]:
    """Fill and write each job (and, with `compare`, the picture beside Telea's and PatchMatch's fills), yielding
    each once its file is written."""
    for job in jobs:
        filled = inpaint_photo(
            model, job.image, job.hole, strategy=strategy, precision=precision, **decoding_kwargs(decoding)
        )
        job.target.parent.mkdir(parents=True, exist_ok=True)
        save_filled_like(job.path, filled, job.hole, job.target)
        if compare:
            anchors = comparison_fills(model.name, job.image, job.hole)
            labels = ("hole", f"{model.name} ({strategy})", *anchors)
            side = compare_image(job.image, job.hole, [filled, *anchors.values()], labels)
            Image.fromarray(np.ascontiguousarray(side)).save(job.compare_target)
        yield job
