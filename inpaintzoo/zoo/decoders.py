"""Context-encoder decoders: the encoder's code (B, C, n, n) to the predicted patch (B, 3, P, P) in [0, 1].

Both decoders share one geometry (`upsampling_plan`): a stem takes the code from n x n to a small
base size b (a transposed convolution with kernel b - n + 1: from a 1x1 code that is DCGAN's
projection to 4x4), then k doublings reach P = b * 2**k. They differ only in how they double:
`deconv` with stride-2 transposed convolutions, `upconv` by resizing and a 3x3 convolution (which
avoids the checkerboard artefacts of uneven transposed-convolution overlap). Channels halve with
each doubling, from at most 8 * width down to width; a 3x3 convolution and a sigmoid end it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Collection
from inpaintzoo.zoo.blocks import ConvNormAct, norm_layer

components = Collection()

#: the smallest base size the stem projects a 1x1 code to before doubling starts
MIN_BASE = 4


def upsampling_plan(in_size: int, patch_size: int) -> tuple[int, int]:
    """(base, doublings): the size the stem reaches, and how many doublings then give `patch_size`.

    Doubles as often as possible while the base stays at least `max(in_size, MIN_BASE)` (or the
    patch size itself when the patch is smaller than that).
    """
    if in_size < 1 or patch_size < 1:
        raise UsageError(f"decoder sizes must be positive, got in_size={in_size}, patch_size={patch_size}")
    if in_size > patch_size:
        raise UsageError(
            f"a decoder cannot shrink a {in_size}x{in_size} code to a {patch_size}x{patch_size} patch; "
            "use an encoder with a bottleneck (encoder.bottleneck > 0) or a larger overlap"
        )
    floor = min(max(in_size, MIN_BASE), patch_size)
    doublings = 0
    while patch_size % 2 ** (doublings + 1) == 0 and patch_size // 2 ** (doublings + 1) >= floor:
        doublings += 1
    return patch_size // 2**doublings, doublings


def channels(width: int, level: int) -> int:
    """Channels `level` doublings before the output: width * 2**level, capped at 8 * width."""
    return width * 2 ** min(level, 3)


class Decoder(nn.Module):
    """Stem, doublings, output convolution and sigmoid; `up(cin, cout)` supplies one doubling."""

    def __init__(
        self,
        name: str,
        in_channels: int,
        in_size: int,
        patch_size: int,
        width: int,
        batch_norm: bool,
        up: Callable[[int, int, str], nn.Module],
    ) -> None:
        super().__init__()
        if width < 1:
            raise UsageError(f"decoder {name!r}: width must be at least 1, got {width}")
        base, doublings = upsampling_plan(in_size, patch_size)
        norm = "batch" if batch_norm else "none"
        cout = channels(width, doublings)
        if base == in_size:
            stem: nn.Module = ConvNormAct(in_channels, cout, 1, norm)
        else:
            stem = nn.Sequential(
                nn.ConvTranspose2d(in_channels, cout, base - in_size + 1, bias=not batch_norm),
                norm_layer(norm, cout),
                nn.ReLU(inplace=True),
            )
        layers = [stem]
        for level in range(doublings, 0, -1):
            layers.append(up(channels(width, level), channels(width, level - 1), norm))
        layers += [nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.patch_size = patch_size

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.body(code)


def transposed_doubling(in_channels: int, out_channels: int, norm: str) -> nn.Module:
    """A 4x4 stride-2 transposed convolution (every output pixel gets an even share of inputs)."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=norm != "batch"),
        norm_layer(norm, out_channels),
        nn.ReLU(inplace=True),
    )


@components("decoder", "deconv")
def deconv(in_channels: int, in_size: int, patch_size: int, width: int = 64, batch_norm: bool = True) -> Decoder:
    """Transposed convolutions from the code up to the patch (DCGAN's generator)."""
    return Decoder("deconv", in_channels, in_size, patch_size, width, batch_norm, transposed_doubling)


@components("decoder", "upconv")
def upconv(
    in_channels: int,
    in_size: int,
    patch_size: int,
    width: int = 64,
    batch_norm: bool = True,
    mode: Literal["nearest", "bilinear"] = "nearest",
) -> Decoder:
    """Resize x2 then a 3x3 convolution at each step: no checkerboard artefacts."""
    if mode not in ("nearest", "bilinear"):
        raise UsageError(f"decoder 'upconv': mode must be nearest or bilinear, got {mode!r}")

    def resize_doubling(cin: int, cout: int, norm: str) -> nn.Module:
        align = False if mode == "bilinear" else None
        resize = nn.Upsample(scale_factor=2, mode=mode, align_corners=align)
        return nn.Sequential(resize, ConvNormAct(cin, cout, 1, norm))

    return Decoder("upconv", in_channels, in_size, patch_size, width, batch_norm, resize_doubling)


inpaintzoo_register = components.hook()
