"""What several benchmark scripts share: where results go, the shared-CPU guards, OpenCV's fills and the scoring.

A script run as `python benchmarks/NAME.py` has this folder on `sys.path`, so the scripts import it (and each
other) by name: `from bench_common import score`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from inpaintzoo.metrics import MetricAccumulator, sharpness

RESULTS = Path(__file__).resolve().parent / "results"


def ensure_passive_openmp() -> None:
    """Re-execute with OMP_WAIT_POLICY=passive (OpenMP reads it when it loads, so it cannot be set later)."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "passive"
        os.execv(sys.executable, [sys.executable, *sys.argv])


def load_average() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")


def cv2_fill(images: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "navier-stokes": cv2.INPAINT_NS}[method]
    out = []
    for img, m in zip(images, mask):
        u8 = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        hole = m[0].numpy().astype(np.uint8) * 255
        out.append(torch.from_numpy(cv2.inpaint(u8, hole, 3, flag)).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def score(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """The five metrics, and the fill's detail against the truth's (`sharpness`: 1 as textured, < 1 blurrier)."""
    acc = MetricAccumulator()
    for i in range(0, len(truth), 250):
        acc.update(pred[i : i + 250], truth[i : i + 250], mask[i : i + 250])
    return {**acc.compute(), "sharpness": sharpness(pred, truth, mask)}
