"""The study's PixelCNN: a causal 5x5 window above and left of each pixel, then 1x1 layers, 256-way softmax.

Its architecture is fixed because a C++/CUDA kernel (`pixelcnn_fill`) evaluates it pixel by pixel:

- input `x` = images in [0, 1] (no rescaling), padded with 4 zero rows on top and 4 zero columns left;
- `w_in` `(width, 3, 5, 5)` with mask A at tap (4, 4) (the pixel itself: colour group `g` sees input
  channel `c` only if `c < g`; the other 24 taps see everything), then leaky ReLU and dropout;
- `depth` times a `(width, width)` 1x1 layer with mask B by colour group, leaky ReLU, dropout;
- a `(768, width)` 1x1 output with mask B (channel `c * 256 + k` belongs to colour `c`), viewed as
  logits `(B, 3, 256, H, W)`.

Training runs the fast path of `inpaintzoo.zoo.density.fast`: the 5x5 layer as a channels-last convolution,
the 1x1 layers as GEMMs over pixel rows, 16-bit dropout masks, and the 768-way output fused with its
cross-entropy; `reference_path()` runs the original convolutional code, which the tests compare it with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.pixelcnn_fill import LEVELS, WINDOW, PixelCNNWeights, pixelcnn_fill
from inpaintzoo.zoo.density.base import Decoder, DensityModel, check_images, subpixel_targets
from inpaintzoo.zoo.density.fast import dropout_scale, leaky_dropout_, linear_cross_entropy, rows, use_reference
from inpaintzoo.zoo.density.masked import MaskedConv2d


class PixelCNN(DensityModel):
    """The study's PixelCNN: 5x5 causal window, 1x1 hidden layers, R->G->B inside a pixel."""

    def __init__(
        self,
        image_size: int,
        width: int = 120,
        depth: int = 4,
        dropout: float = 0.2,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__(image_size)
        if width < 3 or width % 3:
            raise UsageError(f"pixelcnn width must be a positive multiple of 3 (R|G|B groups), got {width}")
        if depth < 0:
            raise UsageError(f"pixelcnn depth must be >= 0, got {depth}")
        if not 0.0 <= dropout < 1.0:
            raise UsageError(f"pixelcnn dropout must be in [0, 1), got {dropout}")
        self.width, self.depth, self.negative_slope = width, depth, negative_slope
        last = WINDOW - 1
        self.conv_in = MaskedConv2d(3, width, WINDOW, "A", centre=(last, last))
        self.hidden = nn.ModuleList(MaskedConv2d(width, width, 1, "B") for _ in range(depth))
        self.conv_out = MaskedConv2d(width, 3 * LEVELS, 1, "B")
        self.dropout = nn.Dropout(dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if use_reference():
            return self.reference_forward(images)
        batch, _, height, width = images.shape
        logits = F.linear(self.features(images), self.conv_out.masked_weight()[:, :, 0, 0], self.conv_out.bias)
        return logits.view(batch, height, width, 3, LEVELS).permute(0, 3, 4, 1, 2)  # (B, 3, 256, H, W), a view

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """As every density model's, with the output layer fused into its cross-entropy (no logits kept)."""
        if use_reference():
            return super().nll(images)
        targets = rows(subpixel_targets(images))  # (B*H*W, 3), in the features' row order
        w_out = self.conv_out.masked_weight()[:, :, 0, 0]
        losses = linear_cross_entropy(self.features(images), w_out, self.conv_out.bias, targets, LEVELS)
        return losses.view(images.shape[0], -1).sum(dim=1)

    def subpixel_nll(self, images: torch.Tensor) -> torch.Tensor:
        """Per sub-pixel `(B, 3, H, W)` through `nll`'s fused output layer: what posterior-mean weighs with."""
        if use_reference():
            return super().subpixel_nll(images)
        batch, _, height, width = images.shape
        targets = rows(subpixel_targets(images))
        w_out = self.conv_out.masked_weight()[:, :, 0, 0]
        losses = linear_cross_entropy(self.features(images), w_out, self.conv_out.bias, targets, LEVELS)
        return losses.view(batch, height, width, 3).permute(0, 3, 1, 2)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last hidden layer as pixel rows `(B*H*W, width)`, batch-major then raster order."""
        check_images(images)
        last, p, slope = WINDOW - 1, self.dropout.p, self.negative_slope
        scale = dropout_scale(p, self.training)  # folded into each layer's weights, see leaky_dropout_
        x = F.pad(images, (last, 0, last, 0)).contiguous(memory_format=torch.channels_last)
        h = rows(F.conv2d(x, self.conv_in.masked_weight() * scale, self.conv_in.bias * scale))
        h = leaky_dropout_(h, slope, p, self.training)
        for layer in self.hidden:
            h = F.linear(h, layer.masked_weight()[:, :, 0, 0] * scale, layer.bias * scale)
            h = leaky_dropout_(h, slope, p, self.training)
        return h

    def reference_forward(self, images: torch.Tensor) -> torch.Tensor:
        """The original code: masked convolutions over NCHW maps, `nn.Dropout`."""
        check_images(images)
        batch, _, height, width = images.shape
        last = WINDOW - 1
        h = self.dropout(F.leaky_relu(self.conv_in(F.pad(images, (last, 0, last, 0))), self.negative_slope))
        for layer in self.hidden:
            h = self.dropout(F.leaky_relu(layer(h), self.negative_slope))
        return self.conv_out(h).view(batch, 3, LEVELS, height, width)

    def fill_weights(self) -> PixelCNNWeights:
        """The masked weights as plain tensors, in the layout `pixelcnn_fill` (and its C++ op) takes."""
        with torch.no_grad():
            return PixelCNNWeights(
                w_in=self.conv_in.masked_weight().detach().clone(),
                b_in=self.conv_in.bias.detach().clone(),
                w_hidden=[layer.masked_weight()[:, :, 0, 0].detach().clone() for layer in self.hidden],
                b_hidden=[layer.bias.detach().clone() for layer in self.hidden],
                w_out=self.conv_out.masked_weight()[:, :, 0, 0].detach().clone(),
                b_out=self.conv_out.bias.detach().clone(),
            )

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        return pixelcnn_fill(
            images,
            holes,
            self.fill_weights(),
            mode=decode.mode,
            temperature=decode.temperature,
            negative_slope=self.negative_slope,
            generator=decode.generator,
        )
