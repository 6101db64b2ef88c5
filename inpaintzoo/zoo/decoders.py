"""Context-encoder decoders: the encoder's code (B, C, n, n) to the predicted patch (B, 3, P, P) in [0, 1].

Both decoders share one geometry (`upsampling_plan`): a stem takes the code from n x n to a small
base size b (a transposed convolution with kernel b - n + 1: from a 1x1 code that is DCGAN's
projection to 4x4), then k doublings reach P = b * 2**k. They differ only in how they double:
`deconv` with stride-2 transposed convolutions, `upconv` by resizing and a 3x3 convolution (which
avoids the checkerboard artefacts of uneven transposed-convolution overlap). Channels halve with
each doubling, from at most 8 * width down to width; a 3x3 convolution and a sigmoid end it.

`conv` goes the other way, for encoders that keep the resolution (`dilated`): the code is at least as
large as the patch, so it crops the centre of the code and ends in 3x3 convolutions and a sigmoid.
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
            "use an encoder with a bottleneck (encoder.bottleneck > 0), a larger overlap, or decoder=conv"
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


class CropDecoder(nn.Module):
    """Centre-crop the code to the patch, then 3x3 convolutions and a sigmoid.

    The decoder is not told where the patch lies, so it takes the centre: right for a centred hole on an
    encoder whose code spans the image pixel for pixel (`dilated`). It crops `margin` extra cells on each
    side first, one per convolution, so the zero padding never reaches the kept patch: the result equals
    running the convolutions over the whole code and cropping afterwards, at a fraction of the cost.
    With `in_size == patch_size` it is a plain convolutional head: that is also the case for masks with no
    fixed box (random rectangles, strokes), where the patch is the whole image and nothing is cropped.
    """

    def __init__(self, in_channels: int, in_size: int, patch_size: int, width: int, layers: int, norm: str) -> None:
        super().__init__()
        if in_size < patch_size:
            raise UsageError(
                f"decoder 'conv' cannot grow a {in_size}x{in_size} code to a {patch_size}x{patch_size} patch; "
                "use decoder=deconv or decoder=upconv, or an encoder that keeps the resolution (encoder=dilated)"
            )
        if (in_size - patch_size) % 2:
            raise UsageError(
                f"decoder 'conv' cannot centre a {patch_size}x{patch_size} patch in a {in_size}x{in_size} code "
                "(their difference must be even); change model.overlap by one"
            )
        if width < 1 or layers < 0:
            raise UsageError(f"decoder 'conv': width must be at least 1 and layers 0 or more, got {width}, {layers}")
        offset = (in_size - patch_size) // 2
        self.margin = min(offset, layers + 1)  # one cell per 3x3 convolution, the output's included
        self.start = offset - self.margin
        self.size = patch_size + 2 * self.margin
        body: list[nn.Module] = []
        cin = in_channels
        for _ in range(layers):
            body.append(ConvNormAct(cin, width, 1, norm))
            cin = width
        body += [nn.Conv2d(cin, 3, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*body)
        self.patch_size = patch_size

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        if self.start == 0 and self.margin == 0:  # the patch is the whole code, at whatever size it comes
            return self.body(code)
        a, m = self.start, self.margin
        out = self.body(code[..., a : a + self.size, a : a + self.size])
        return out[..., m : m + self.patch_size, m : m + self.patch_size]


@components("decoder", "conv")
def conv(
    in_channels: int, in_size: int, patch_size: int, width: int = 32, layers: int = 2, batch_norm: bool = True
) -> CropDecoder:
    """Crop the code's centre to the patch, 3x3 convolutions, sigmoid: for full-size codes and centred holes."""
    return CropDecoder(in_channels, in_size, patch_size, width, layers, "batch" if batch_norm else "none")


inpaintzoo_register = components.hook()
