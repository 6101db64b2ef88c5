"""Building blocks shared by the context-encoder zoo: normalised convolutions and the four trunks.

Encoders and discriminators differ only in their ends (a bottleneck vs. a score), so both build their
feature extractors here: `plain_trunk`, `strided_trunk`, `vgg_trunk`, `resnet_trunk` and
`inception_trunk` each return a `Trunk` that says how many channels come out and by how much it shrinks
the input. Every spatial filter is 3x3 (`DilatedConvNormAct` spreads its taps apart to widen the field without
shrinking the map); every layer can carry batch norm, layer norm or none.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from inpaintzoo.errors import UsageError

Norm = Literal["batch", "layer", "none"]
Activation = Literal["relu", "leaky"]

NORMS: tuple[str, ...] = ("batch", "layer", "none")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """Batch norm, layer norm over (C, H, W) (GroupNorm with one group: no batch statistics), or nothing."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "none":
        return nn.Identity()
    raise UsageError(f"unknown norm {norm!r}; choose from {', '.join(NORMS)}")


def activation(kind: str) -> nn.Module:
    """ReLU for generators, LeakyReLU(0.2) for discriminators (as in DCGAN)."""
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky":
        return nn.LeakyReLU(0.2, inplace=True)
    raise UsageError(f"unknown activation {kind!r}; choose from relu, leaky")


def conv(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, norm: str = "batch") -> nn.Conv2d:
    """A 'same'-padded convolution; its bias is dropped when batch norm would cancel it."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=norm != "batch")


class ConvNormAct(nn.Sequential):
    """Convolution, normalisation, activation: the unit every plain stack is made of."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm: str = "batch",
        act: str = "relu",
        kernel: int = 3,
    ) -> None:
        super().__init__(
            conv(in_channels, out_channels, kernel, stride, norm), norm_layer(norm, out_channels), activation(act)
        )


class DilatedConvNormAct(nn.Sequential):
    """A 3x3 convolution with holes (`rate` pixels apart), normalisation, activation: a wide field at full detail.

    Padding equals the rate, so the size is kept; a stack of rates 2, 4, 8 sees 29 pixels across with three layers.
    """

    def __init__(self, in_channels: int, out_channels: int, rate: int, norm: str = "batch", act: str = "relu") -> None:
        if rate < 1:
            raise UsageError(f"a dilation rate must be at least 1, got {rate}")
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=norm != "batch"),
            norm_layer(norm, out_channels),
            activation(act),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (a strided 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, norm: str = "batch", act: str = "relu"):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(in_channels, out_channels, stride, norm, act),
            conv(out_channels, out_channels, 3, 1, norm),
            norm_layer(norm, out_channels),
        )
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                conv(in_channels, out_channels, 1, stride, norm), norm_layer(norm, out_channels)
            )
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated: 1x1, 1x1-3x3, 1x1-3x3-3x3 (a factorised 5x5), pool-1x1.

    `out_channels` is split evenly across the branches (the first takes any remainder).
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch", act: str = "relu"):
        super().__init__()
        if out_channels < 4:
            raise UsageError(f"an inception block needs at least 4 output channels, got {out_channels}")
        share = out_channels // 4
        first = out_channels - 3 * share

        def unit(cin: int, cout: int, kernel: int) -> nn.Module:
            return ConvNormAct(cin, cout, 1, norm, act, kernel=kernel)

        self.branches = nn.ModuleList(
            [
                unit(in_channels, first, 1),
                nn.Sequential(unit(in_channels, share, 1), unit(share, share, 3)),
                nn.Sequential(unit(in_channels, share, 1), unit(share, share, 3), unit(share, share, 3)),
                nn.Sequential(nn.MaxPool2d(3, 1, 1), unit(in_channels, share, 1)),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class Trunk(nn.Sequential):
    """A feature extractor that maps (B, C, S, S) to (B, out_channels, S / reduction, S / reduction)."""

    def __init__(self, layers: list[nn.Module], out_channels: int, reduction: int) -> None:
        super().__init__(*layers)
        self.out_channels = out_channels
        self.reduction = reduction


def _check_width(width: int) -> None:
    if width < 1:
        raise UsageError(f"width must be at least 1, got {width}")


def plain_trunk(in_channels: int, width: int, norm: str = "batch", act: str = "relu") -> Trunk:
    """[conv3-conv3-maxpool2] x 3, filters width, 2*width, 4*width: the study's baseline CNN."""
    _check_width(width)
    layers: list[nn.Module] = []
    cin = in_channels
    for stage in range(3):
        cout = width * 2**stage
        layers += [ConvNormAct(cin, cout, 1, norm, act), ConvNormAct(cout, cout, 1, norm, act), nn.MaxPool2d(2)]
        cin = cout
    return Trunk(layers, cin, 8)


def strided_trunk(
    in_channels: int, width: int, norm: str = "batch", act: str = "relu", first_norm: str | None = None
) -> Trunk:
    """[conv3-conv3/2] x 3: six convolutions, every other one stride 2, no pooling.

    `first_norm` overrides the first layer's normalisation (DCGAN leaves the input layer unnormalised).
    """
    _check_width(width)
    layers: list[nn.Module] = []
    cin = in_channels
    for stage in range(3):
        cout = width * 2**stage
        layers += [
            ConvNormAct(cin, cout, 1, first_norm if (stage == 0 and first_norm is not None) else norm, act),
            ConvNormAct(cout, cout, 2, norm, act),
        ]
        cin = cout
    return Trunk(layers, cin, 8)


#: VGG's plan adapted to 32x32: convolutions per stage; every stage but the last ends with a 2x2 max pool.
VGG_STAGES: tuple[int, ...] = (2, 2, 3, 3)


def vgg_trunk(in_channels: int, width: int, norm: str = "batch", act: str = "relu") -> Trunk:
    """VGG-style stacks of 3x3 convolutions, (2, 2, 3, 3) per stage at width, 2w, 4w, 8w, three pools."""
    _check_width(width)
    layers: list[nn.Module] = []
    cin = in_channels
    for stage, count in enumerate(VGG_STAGES):
        cout = width * 2**stage
        for _ in range(count):
            layers.append(ConvNormAct(cin, cout, 1, norm, act))
            cin = cout
        if stage < len(VGG_STAGES) - 1:
            layers.append(nn.MaxPool2d(2))
    return Trunk(layers, cin, 2 ** (len(VGG_STAGES) - 1))


def resnet_trunk(in_channels: int, width: int, blocks: int = 2, norm: str = "batch", act: str = "relu") -> Trunk:
    """A CIFAR-style ResNet: a 3x3 stem, then 4 stages of `blocks` residual blocks; stages 2-4 halve the size."""
    _check_width(width)
    if blocks < 1:
        raise UsageError(f"blocks must be at least 1, got {blocks}")
    layers: list[nn.Module] = [ConvNormAct(in_channels, width, 1, norm, act)]
    cin = width
    for stage in range(4):
        cout = width * 2**stage
        for index in range(blocks):
            stride = 2 if (stage > 0 and index == 0) else 1
            layers.append(ResidualBlock(cin, cout, stride, norm, act))
            cin = cout
    return Trunk(layers, cin, 8)


def inception_trunk(in_channels: int, width: int, blocks: int = 1, norm: str = "batch", act: str = "relu") -> Trunk:
    """A small GoogLeNet: a 3x3 stem, then 3 stages of `blocks` inception blocks (2w, 4w, 8w) each ending in a pool."""
    _check_width(width)
    if blocks < 1:
        raise UsageError(f"blocks must be at least 1, got {blocks}")
    layers: list[nn.Module] = [ConvNormAct(in_channels, width, 1, norm, act)]
    cin = width
    for stage in range(3):
        cout = width * 2 ** (stage + 1)
        for _ in range(blocks):
            layers.append(InceptionBlock(cin, cout, norm, act))
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return Trunk(layers, cin, 8)


def require_divisible(image_size: int, factor: int, what: str) -> None:
    """Raise a UsageError unless `image_size` is a positive multiple of `factor`."""
    if image_size < factor or image_size % factor:
        raise UsageError(f"{what} needs an image size divisible by {factor}, got {image_size}")


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of a module (for reports and `inpaintzoo list`)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
