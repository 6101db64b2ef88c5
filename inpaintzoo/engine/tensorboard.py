"""TensorBoard event files beside metrics.jsonl: every logged scalar and each epoch's grid.

Off unless `train.tensorboard=true`: an explicit setting says what a run writes, whether or not the
`tensorboard` package happens to be installed. The events go to the run directory itself, so
`tensorboard --logdir runs` shows every run under `runs/` by its directory name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from inpaintzoo.errors import UsageError

#: record fields that place a record (its x axis and kind) rather than measure anything
POSITION_KEYS = ("kind", "epoch", "step")


def check_available() -> None:
    """Raise a UsageError naming the package when `train.tensorboard=true` cannot be honoured."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise UsageError("train.tensorboard=true needs the tensorboard package: pip install tensorboard") from None


class TensorBoardLog:
    """Mirror of a run's log records as TensorBoard scalars (`KIND/KEY` at the record's step) and images."""

    def __init__(self, run_dir: Path) -> None:
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir))

    def record(self, record: Mapping[str, Any]) -> None:
        """Every numeric field of a metrics.jsonl record: tag `step/loss`, `epoch/val_l2`, ..."""
        kind = record.get("kind", "record")
        step = int(record.get("step", 0))
        for key, value in record.items():
            if key in POSITION_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self.writer.add_scalar(f"{kind}/{key}", float(value), global_step=step)

    def image(self, tag: str, png: Path, step: int) -> None:
        """A PNG the run wrote (an epoch's grid), as an image event."""
        from PIL import Image

        with Image.open(png) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        self.writer.add_image(tag, pixels, global_step=step, dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
