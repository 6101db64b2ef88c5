"""Gated PixelCNN (van den Oord et al. 2016): vertical and horizontal stacks, so no blind spot.

The vertical stack at row `i` sees rows `<= i` over a widening band of columns; it reaches the
horizontal stack only shifted down one row, so the horizontal stack at `(i, j)` gets everything above
plus, through its own 1-row convolutions masked A/B by colour group, the pixels to the left and the
earlier colours of `(i, j)`. Each layer gates `tanh(a) * sigmoid(b)`; horizontal layers are residual.

Training runs a channels-last fast path (`GatedLayer.fast`): the padded convolutions as convolutions with
built-in padding (no padded copies), the 1x1 layers and the head as GEMMs over pixel rows, the output layer
fused with its cross-entropy; `reference_path()` runs the original code, which the tests compare it with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.pixelcnn_fill import LEVELS
from inpaintzoo.zoo.density.base import Decoder, DensityModel, check_images, hole_pixels, subpixel_targets
from inpaintzoo.zoo.density.fast import head_logits, head_nll, rows, use_reference
from inpaintzoo.zoo.density.masked import MaskedConv2d, MaskType


def gate(pre: torch.Tensor) -> torch.Tensor:
    """`tanh(first half) * sigmoid(second half)` along channels (both halves share colour groups)."""
    a, b = pre.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move a map one row down (zeros enter on top): row `i` then holds what row `i - 1` saw."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    """One vertical + horizontal gated layer with kernel `k` (odd)."""

    def __init__(self, in_channels: int, width: int, kernel: int, mask_type: MaskType, residual: bool) -> None:
        super().__init__()
        self.reach = kernel // 2
        self.residual = residual
        # Vertical: rows i-reach..i, columns j-reach..j+reach (the caller pads top/left/right).
        self.vertical = nn.Conv2d(in_channels, 2 * width, (self.reach + 1, kernel))
        # Horizontal: columns j-reach..j of row i, the centre tap masked by colour group.
        self.horizontal_conv = MaskedConv2d(
            in_channels, 2 * width, (1, self.reach + 1), mask_type, centre=(0, self.reach), out_parts=2
        )
        self.vertical_to_horizontal = nn.Conv2d(2 * width, 2 * width, 1)
        self.out = MaskedConv2d(width, width, 1, "B")

    def vertical_pre(self, v: torch.Tensor) -> torch.Tensor:
        """Pre-gate vertical features: row `i` sees rows `i-reach..i` of `v`."""
        r = self.reach
        return self.vertical(F.pad(v, (r, r, r, 0)))

    def link(self, v_pre: torch.Tensor) -> torch.Tensor:
        """What the vertical stack adds to the horizontal one: row `i` gets row `i - 1`."""
        return self.vertical_to_horizontal(shift_down(v_pre))

    def horizontal(self, h: torch.Tensor, link: torch.Tensor) -> torch.Tensor:
        h_pre = self.horizontal_conv(F.pad(h, (self.reach, 0, 0, 0))) + link
        h_out = self.out(gate(h_pre))
        return h + h_out if self.residual else h_out

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_pre = self.vertical_pre(v)
        return gate(v_pre), self.horizontal(h, self.link(v_pre))

    def fast(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` on channels-last maps: the same arithmetic, no padded copies, 1x1 layers as GEMMs.

        A convolution padded by `r` on both sides and cut back to the image gives the one-sided padding of
        `vertical_pre` and `horizontal` (the rows or columns past the image are computed and dropped).
        """
        r, (height, width) = self.reach, v.shape[-2:]
        v_pre = F.conv2d(v, self.vertical.weight, self.vertical.bias, padding=(r, r))[:, :, :height]
        shifted = v_pre.new_zeros(v_pre.shape[0], height, width, v_pre.shape[1])  # NHWC, row i = row i - 1
        shifted[:, 1:] = v_pre.permute(0, 2, 3, 1)[:, :-1]
        link = F.linear(shifted, self.vertical_to_horizontal.weight[:, :, 0, 0], self.vertical_to_horizontal.bias)
        conv = self.horizontal_conv
        h_pre = F.conv2d(h, conv.masked_weight(), conv.bias, padding=(0, r))[..., :width] + link.permute(0, 3, 1, 2)
        gated = gate(h_pre).permute(0, 2, 3, 1)
        h_out = F.linear(gated, self.out.masked_weight()[:, :, 0, 0], self.out.bias).permute(0, 3, 1, 2)
        return gate(v_pre), (h + h_out if self.residual else h_out)


class GatedPixelCNN(DensityModel):
    """Gated PixelCNN with vertical and horizontal stacks (no blind spot): a strong density baseline."""

    def __init__(
        self, image_size: int, width: int = 64, layers: int = 6, kernel: int = 3, first_kernel: int = 7
    ) -> None:
        super().__init__(image_size)
        if width < 3:
            raise UsageError(f"gated-pixelcnn width must be >= 3 (R|G|B groups), got {width}")
        if layers < 1:
            raise UsageError(f"gated-pixelcnn needs at least one layer, got {layers}")
        if kernel < 1 or kernel % 2 == 0 or first_kernel < 1 or first_kernel % 2 == 0:
            raise UsageError(f"gated-pixelcnn kernels must be odd, got kernel={kernel}, first_kernel={first_kernel}")
        self.layers = nn.ModuleList(
            [GatedLayer(3, width, first_kernel, "A", residual=False)]
            + [GatedLayer(width, width, kernel, "B", residual=True) for _ in range(layers - 1)]
        )
        self.head = nn.Sequential(
            nn.ReLU(), MaskedConv2d(width, width, 1, "B"), nn.ReLU(), MaskedConv2d(width, 3 * LEVELS, 1, "B")
        )
        # How far the logits at (i, j) look (left, right, up): each layer adds its reach once (a path
        # crosses each layer once, in one stack or the other), the vertical stack's shift one row.
        side = first_kernel // 2 + (layers - 1) * (kernel // 2)
        self.reach_side, self.reach_up = side, side + 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if use_reference():
            return self.reference_forward(images)
        batch, _, height, width = images.shape
        logits = head_logits(self.head, self.features(images))
        return logits.view(batch, height, width, 3, LEVELS).permute(0, 3, 4, 1, 2)  # (B, 3, 256, H, W), a view

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """As every density model's, with the head's output layer fused into its cross-entropy (no logits kept)."""
        if use_reference():
            return super().nll(images)
        losses = head_nll(self.head, self.features(images), rows(subpixel_targets(images)), LEVELS)
        return losses.view(images.shape[0], -1).sum(dim=1)

    def subpixel_nll(self, images: torch.Tensor) -> torch.Tensor:
        """Each sub-pixel's nll `(B, 3, H, W)` through the fused head (what posterior-mean weighs samples with)."""
        if use_reference():
            return super().subpixel_nll(images)
        batch, _, height, width = images.shape
        losses = head_nll(self.head, self.features(images), rows(subpixel_targets(images)), LEVELS)
        return losses.view(batch, height, width, 3).permute(0, 3, 1, 2)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The horizontal stack's output as pixel rows `(B*H*W, width)`, batch-major then raster order."""
        check_images(images)
        v = h = images.contiguous(memory_format=torch.channels_last)
        for layer in self.layers:
            v, h = layer.fast(v, h)
        return rows(h)

    def reference_forward(self, images: torch.Tensor) -> torch.Tensor:
        """The original code: padded NCHW convolutions, the head as 1x1 convolutions."""
        check_images(images)
        batch, _, height, width = images.shape
        v = h = images
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h).view(batch, 3, LEVELS, height, width)

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        """Per hole row, the vertical stack once (it sees only rows above); per sub-pixel, only the
        horizontal stack over the row segment its logits depend on."""
        filled = images.clone().masked_fill(holes[:, None], 0.0)
        pixels = hole_pixels(holes)
        for i in sorted({i for i, _ in pixels}):
            links = self._links(filled[:, :, max(0, i - self.reach_up) : i + 1])
            for j in [j for row, j in pixels if row == i]:
                left = max(0, j - self.reach_side)
                here = holes[:, i, j]
                for c in range(3):
                    h = filled[:, :, i : i + 1, left : j + 1]
                    for layer, link in zip(self.layers, links):
                        h = layer.horizontal(h, link[..., left : j + 1])
                    logits = self.head(h[..., -1:]).view(-1, 3, LEVELS)[:, c]
                    filled[:, c, i, j] = torch.where(here, decode(logits).to(filled.dtype), filled[:, c, i, j])
        return filled

    def _links(self, crop: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's vertical-to-horizontal input for the crop's last row, `(B, 2 width, 1, W)`."""
        links, v = [], crop
        for layer in self.layers:
            v_pre = layer.vertical_pre(v)
            links.append(layer.link(v_pre)[:, :, -1:])
            v = gate(v_pre)
        return links
