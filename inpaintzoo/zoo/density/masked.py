"""Masked convolutions: how every density model stays causal in raster order, R -> G -> B inside a pixel.

Channels are split into colour groups R | G | B (group of channel `u` among `n` is `3u // n`, so any
`n >= 3` works and `n` divisible by 3 gives equal blocks). A tensor made of several concatenated blocks
(LSTM gates `[i, f, g, o]`, the two halves of a gated unit) is grouped block by block (`parts`).

A kernel tap before the centre in raster order sees every input channel; the centre tap lets output
group `g` see input group `c` only if `c < g` (mask A: a pixel's own colours never reach their own
prediction) or `c <= g` (mask B: later layers, whose group `g` already excludes colour `g` itself);
taps after the centre see nothing.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MaskType = Literal["A", "B"]


def channel_groups(n: int, parts: int = 1) -> torch.Tensor:
    """Colour group (0 R, 1 G, 2 B) of each of `parts * n` channels made of `parts` blocks of `n`."""
    if n < 3:
        raise ValueError(f"a colour-grouped layer needs at least 3 channels per block, got {n}")
    return (torch.arange(n) * 3 // n).repeat(parts)


def group_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, mask_type: MaskType) -> torch.Tensor:
    """`(out, in)` float mask: 1 where output channel may see input channel at the same pixel."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask type must be 'A' or 'B', got {mask_type!r}")
    if mask_type == "A":
        return (in_groups[None, :] < out_groups[:, None]).float()
    return (in_groups[None, :] <= out_groups[:, None]).float()


def causal_kernel_mask(
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, int],
    centre: tuple[int, int],
    mask_type: MaskType,
    in_parts: int = 1,
    out_parts: int = 1,
) -> torch.Tensor:
    """`(out, in, kh, kw)` mask: taps before `centre` (raster order) full, the centre grouped, after it zero."""
    kh, kw = kernel_size
    ci, cj = centre
    if not (0 <= ci < kh and 0 <= cj < kw):
        raise ValueError(f"centre {centre} lies outside a {kh}x{kw} kernel")
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    for i in range(kh):
        for j in range(kw):
            if (i, j) < (ci, cj):
                mask[:, :, i, j] = 1.0
    out_groups = channel_groups(out_channels // out_parts, out_parts)
    in_groups = channel_groups(in_channels // in_parts, in_parts)
    mask[:, :, ci, cj] = group_mask(out_groups, in_groups, mask_type)
    return mask


class MaskedConv2d(nn.Conv2d):
    """A convolution whose weight is multiplied by a fixed causal mask (see `causal_kernel_mask`).

    `centre` is the kernel tap aligned with the output pixel (default the kernel's middle); the caller
    pads the input so that this holds.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: MaskType,
        *,
        centre: tuple[int, int] | None = None,
        in_parts: int = 1,
        out_parts: int = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
    ) -> None:
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(in_channels, out_channels, size, padding=padding, bias=bias)
        centre = centre if centre is not None else (size[0] // 2, size[1] // 2)
        mask = causal_kernel_mask(in_channels, out_channels, size, centre, mask_type, in_parts, out_parts)
        self.register_buffer("mask", mask, persistent=False)
        self.mask_type = mask_type

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type}"
