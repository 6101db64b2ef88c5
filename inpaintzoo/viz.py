"""Pictures of results: PNG grids of images (one row per method) and PNG plots of training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from inpaintzoo.errors import UsageError

GRID_PAD = 2  # px between images and around the grid
GRID_BACKGROUND = (255, 255, 255)
LABEL_COLOUR = (0, 0, 0)
CURVE_WIDTH_IN, CURVE_HEIGHT_IN, CURVE_DPI = 6.0, 2.5, 100


def _as_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """`(N, 3, H, W)` float in [0, 1] (or uint8) to `(N, H, W, 3)` uint8."""
    images = images.detach().cpu()
    if images.dtype != torch.uint8:
        images = images.float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return images.permute(0, 2, 3, 1).numpy()


def grid_size(
    rows: int, columns: int, height: int, width: int, scale: int, label_width: int = 0, header: int = 0
) -> tuple[int, int]:
    """The (width, height) in pixels of a grid `save_grid` draws, for images of `height x width`.

    `label_width` is the band of row labels on the left, `header` the band of column labels on top.
    """
    return (
        label_width + columns * width * scale + (columns + 1) * GRID_PAD,
        header + rows * height * scale + (rows + 1) * GRID_PAD,
    )


def column_header_height() -> int:
    """Height of the band `save_grid` draws column labels in: one line of Pillow's default font."""
    font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Mg09", font=font)
    return bottom - top + 2 * GRID_PAD


def save_grid(
    rows: Sequence[torch.Tensor],
    path: str | Path,
    labels: Sequence[str] | None = None,
    scale: int = 4,
    column_labels: Sequence[str] | None = None,
) -> Path:
    """Write a PNG of image rows `(N, 3, H, W)` (one row per method), upscaled `scale` times without blur.

    Nearest-neighbour upscaling keeps each pixel a crisp square, so 32x32 results stay readable.
    Rows may hold different numbers of images (short rows are left blank on the right); `labels`,
    one per row, are written to the left of each row in Pillow's default font; `column_labels`, one per
    column (an image's score, say), are written above the columns, centred.
    """
    if not rows:
        raise UsageError("save_grid needs at least one row of images")
    if labels is not None and len(labels) != len(rows):
        raise UsageError(f"save_grid got {len(labels)} labels for {len(rows)} rows")
    if scale < 1:
        raise UsageError(f"save_grid scale must be at least 1, got {scale}")
    arrays = []
    for i, row in enumerate(rows):
        if row.dim() == 3:
            row = row[None]
        if row.dim() != 4 or row.shape[1] != 3:
            raise UsageError(f"save_grid row {i} must be (N, 3, H, W) images, got shape {tuple(row.shape)}")
        arrays.append(_as_uint8_hwc(row))
    height, width = arrays[0].shape[1:3]
    if any(a.shape[1:3] != (height, width) for a in arrays):
        raise UsageError("save_grid rows must all hold images of one size")
    columns = max(len(a) for a in arrays)
    if column_labels is not None and len(column_labels) != columns:
        raise UsageError(f"save_grid got {len(column_labels)} column labels for {columns} columns")
    header = column_header_height() if column_labels else 0
    font = ImageFont.load_default()
    label_width = 0
    if labels:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_width = max(int(probe.textlength(str(text), font=font)) for text in labels) + 2 * GRID_PAD
    size = grid_size(len(rows), columns, height, width, scale, label_width, header)
    canvas = Image.new("RGB", size, GRID_BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    cell_h, cell_w = height * scale, width * scale
    for c, text in enumerate(column_labels or ()):
        centre = label_width + GRID_PAD + c * (cell_w + GRID_PAD) + cell_w // 2
        draw.text((centre, GRID_PAD + header // 2), str(text), fill=LABEL_COLOUR, font=font, anchor="mm")
    for r, array in enumerate(arrays):
        top = header + GRID_PAD + r * (cell_h + GRID_PAD)
        if labels:
            draw.text((GRID_PAD, top + cell_h // 2), str(labels[r]), fill=LABEL_COLOUR, font=font, anchor="lm")
        for c, image in enumerate(array):
            big = image.repeat(scale, axis=0).repeat(scale, axis=1)
            canvas.paste(Image.fromarray(big), (label_width + GRID_PAD + c * (cell_w + GRID_PAD), top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


def _x_axis(records: Sequence[Mapping[str, Any]]) -> str | None:
    for name in ("step", "epoch"):
        if any(name in r for r in records):
            return name
    return None


#: what a panel of a metrics.jsonl key shows, for its title (keys not listed are titled by name)
CURVE_TITLES = {
    "loss": "training loss (reconstruction L2)",
    "val_l2": "validation L2 (the study's, lower is better)",
    "bits_per_dim": "training negative log-likelihood",
    "val_bits_per_dim": "validation negative log-likelihood",
    "d_loss": "discriminator loss",
}
#: the unit of a key, for the y axis label
CURVE_UNITS = {"bits_per_dim": "bits / dim", "val_bits_per_dim": "bits / dim"}


def curves_figure(records: Sequence[Mapping[str, Any]], keys: Sequence[str], title: str | None = None) -> Any:
    """The matplotlib Figure `save_curves` writes: a titled panel per key, each axis labelled."""
    if not keys:
        raise UsageError("save_curves needs at least one key to plot")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plotting curves needs matplotlib: pip install matplotlib") from None
    x_name = _x_axis(records)
    figure = Figure(figsize=(CURVE_WIDTH_IN, CURVE_HEIGHT_IN * len(keys) + (0.4 if title else 0)), dpi=CURVE_DPI)
    FigureCanvasAgg(figure)  # attaches a raster canvas; no global backend is switched
    axes = figure.subplots(len(keys), 1, squeeze=False)[:, 0]
    x_label = {"step": "optimiser step", "epoch": "epoch"}.get(x_name or "", "record")
    for ax, key in zip(axes, keys):
        points = [
            (r.get(x_name, i) if x_name else i, r[key])
            for i, r in enumerate(records)
            if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
        ]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="." if len(points) < 50 else None, linewidth=1.2)
        else:
            ax.text(0.5, 0.5, f"no values of {key}", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(CURVE_TITLES.get(key, key), fontsize=10)
        ax.set_ylabel(CURVE_UNITS.get(key, key))
        ax.set_xlabel(x_label)
        ax.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def save_curves(
    records: Sequence[Mapping[str, Any]], path: str | Path, keys: Sequence[str], title: str | None = None
) -> Path:
    """Plot training curves to a PNG: one panel per key, against `step` (or `epoch`, or record order).

    `records` are the run's log lines (dicts); a record without a key is skipped in that key's panel.
    Each panel has a title and labelled axes; `title` (the run's name) heads the figure. The image is
    `600 x 250 * len(keys)` pixels (40 more with a title).
    """
    figure = curves_figure(records, keys, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=CURVE_DPI)
    return path
