"""Builtin density models: a 256-way softmax per sub-pixel, trained by likelihood, inpainting pixel by pixel."""

from __future__ import annotations

from inpaintzoo.registry import Collection
from inpaintzoo.zoo.density.base import DensityModel
from inpaintzoo.zoo.density.diag_bilstm import DiagonalBiLSTM
from inpaintzoo.zoo.density.flat_lstm import FlatLSTM
from inpaintzoo.zoo.density.gated_pixelcnn import GatedPixelCNN
from inpaintzoo.zoo.density.pixelcnn import PixelCNN
from inpaintzoo.zoo.density.row_lstm import RowLSTM

__all__ = ["DensityModel", "DiagonalBiLSTM", "FlatLSTM", "GatedPixelCNN", "PixelCNN", "RowLSTM", "components"]

components = Collection()
components("density", "pixelcnn")(PixelCNN)
components("density", "gated-pixelcnn")(GatedPixelCNN)
components("density", "row-lstm")(RowLSTM)
components("density", "diag-bilstm")(DiagonalBiLSTM)
components("density", "flat-lstm")(FlatLSTM)

inpaintzoo_register = components.hook()
