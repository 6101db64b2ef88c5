"""Context-encoder encoders: the masked image (RGB with the hole filled, plus the mask) to a code.

Each encoder is a trunk from `blocks` (shrinking the image 8x) followed by the bottleneck: dropout,
then one convolution that squeezes the whole feature map into `bottleneck` features (B, bottleneck, 1, 1)
(a fully connected layer written as a convolution). `strided` instead reaches its bottleneck with a
stride-4 convolution, so no layer is fully connected and larger images keep a spatial code.
`bottleneck=0` skips the bottleneck and hands the trunk's feature map to the decoder.

`dilated` and `unet` are the exceptions: they return a full-resolution code so the decoder can continue the
edges and colours at the hole's border; pair them with decoder `conv`. `dilated` keeps the resolution with
dilated convolutions (Iizuka et al. 2017's completion network, scaled down); `unet` goes down to 1/8 for the
whole image's context and comes back up, concatenating each level's features on the way (Ronneberger et al. 2015).

Dropout sits only in front of the bottleneck (where the parameters are), not after every convolution:
batch norm already regularises the convolutions, and dropout there would fight it.
"""

from __future__ import annotations

import torch
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Collection
from inpaintzoo.zoo.blocks import (
    ConvNormAct,
    DilatedConvNormAct,
    Trunk,
    inception_trunk,
    norm_layer,
    plain_trunk,
    require_divisible,
    resnet_trunk,
    strided_trunk,
    vgg_trunk,
)

components = Collection()


class Encoder(nn.Module):
    """A trunk and its bottleneck; `out_channels` and `out_size` describe the code for the decoder."""

    def __init__(
        self,
        name: str,
        trunk: Trunk,
        image_size: int,
        bottleneck: int,
        dropout: float,
        batch_norm: bool,
        head_stride: int | None = None,
    ) -> None:
        super().__init__()
        if bottleneck < 0:
            raise UsageError(f"encoder {name!r}: bottleneck must be 0 (none) or positive, got {bottleneck}")
        if not 0 <= dropout < 1:
            raise UsageError(f"encoder {name!r}: dropout must be in [0, 1), got {dropout}")
        size = image_size // trunk.reduction
        self.trunk = trunk
        if bottleneck == 0:
            self.head: nn.Module = nn.Identity()
            self.out_channels, self.out_size = trunk.out_channels, size
        else:
            kernel = head_stride or size  # the whole map: a fully connected layer
            if size % kernel:
                raise UsageError(
                    f"encoder {name!r} needs an image size divisible by {trunk.reduction * kernel}, got {image_size}"
                )
            norm = "batch" if batch_norm else "none"
            self.head = nn.Sequential(
                nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
                nn.Conv2d(trunk.out_channels, bottleneck, kernel, stride=kernel, bias=not batch_norm),
                norm_layer(norm, bottleneck),
                nn.ReLU(inplace=True),
            )
            self.out_channels, self.out_size = bottleneck, size // kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def _norm(batch_norm: bool) -> str:
    return "batch" if batch_norm else "none"


@components("encoder", "cnn")
def cnn(
    in_channels: int,
    image_size: int,
    width: int = 64,
    bottleneck: int = 512,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> Encoder:
    """Plain CNN, [conv3-conv3-maxpool]x3 and a fully connected bottleneck: the study's baseline."""
    require_divisible(image_size, 8, "encoder 'cnn'")
    trunk = plain_trunk(in_channels, width, _norm(batch_norm))
    return Encoder("cnn", trunk, image_size, bottleneck, dropout, batch_norm)


@components("encoder", "strided")
def strided(
    in_channels: int,
    image_size: int,
    width: int = 64,
    bottleneck: int = 512,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> Encoder:
    """All-convolutional: stride-2 convolutions instead of pools, a stride-4 convolution to the bottleneck."""
    require_divisible(image_size, 32 if bottleneck else 8, "encoder 'strided'")
    trunk = strided_trunk(in_channels, width, _norm(batch_norm))
    return Encoder("strided", trunk, image_size, bottleneck, dropout, batch_norm, head_stride=4)


@components("encoder", "vgg")
def vgg(
    in_channels: int,
    image_size: int,
    width: int = 32,
    bottleneck: int = 512,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> Encoder:
    """VGG for 32x32: ten 3x3 convolutions in stages of (2, 2, 3, 3), three pools, then the bottleneck."""
    require_divisible(image_size, 8, "encoder 'vgg'")
    trunk = vgg_trunk(in_channels, width, _norm(batch_norm))
    return Encoder("vgg", trunk, image_size, bottleneck, dropout, batch_norm)


@components("encoder", "resnet")
def resnet(
    in_channels: int,
    image_size: int,
    width: int = 32,
    blocks: int = 2,
    bottleneck: int = 512,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> Encoder:
    """ResNet for 32x32: a 3x3 stem, 4 stages of `blocks` residual blocks (ResNet-18's layout), the bottleneck."""
    require_divisible(image_size, 8, "encoder 'resnet'")
    trunk = resnet_trunk(in_channels, width, blocks, _norm(batch_norm))
    return Encoder("resnet", trunk, image_size, bottleneck, dropout, batch_norm)


@components("encoder", "inception")
def inception(
    in_channels: int,
    image_size: int,
    width: int = 32,
    blocks: int = 1,
    bottleneck: int = 512,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> Encoder:
    """Small GoogLeNet for 32x32: a 3x3 stem and 3 stages of inception blocks with pools, then the bottleneck."""
    require_divisible(image_size, 8, "encoder 'inception'")
    trunk = inception_trunk(in_channels, width, blocks, _norm(batch_norm))
    return Encoder("inception", trunk, image_size, bottleneck, dropout, batch_norm)


class DilatedEncoder(nn.Module):
    """Full-resolution features: stem, an optional stride-2 step, dilated 3x3 convolutions, back up to full size.

    The dilated stack widens the field over the hole without pooling detail away; when the middle runs at half
    resolution, a resize-convolution returns to full size and the stem's features are concatenated back in (a
    skip), so the code the decoder crops still carries the border's exact pixels. `out_size == image_size`.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        width: int,
        rates: tuple[int, ...],
        downsample: bool,
        skip: bool,
        batch_norm: bool,
    ) -> None:
        super().__init__()
        if width < 1:
            raise UsageError(f"encoder 'dilated': width must be at least 1, got {width}")
        if not rates or any(r < 1 for r in rates):
            raise UsageError(f"encoder 'dilated': rates must be one or more positive integers, got {rates}")
        if downsample:
            require_divisible(image_size, 2, "encoder 'dilated' with downsample=true")
        norm = _norm(batch_norm)
        middle = 2 * width if downsample else width
        self.stem = ConvNormAct(in_channels, width, 1, norm)
        layers: list[nn.Module] = [ConvNormAct(width, middle, 2 if downsample else 1, norm)]
        layers += [DilatedConvNormAct(middle, middle, rate, norm) for rate in rates]
        layers.append(ConvNormAct(middle, middle, 1, norm))
        if downsample:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), ConvNormAct(middle, width, 1, norm)]
        self.middle = nn.Sequential(*layers)
        self.skip = skip
        self.merge = ConvNormAct(2 * width if skip else width, width, 1, norm)
        self.out_channels, self.out_size = width, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        features = self.middle(stem)
        if self.skip:
            features = torch.cat([features, stem], dim=1)
        return self.merge(features)


@components("encoder", "dilated")
def dilated(
    in_channels: int,
    image_size: int,
    width: int = 16,
    rates: tuple[int, ...] = (2, 4, 8),
    downsample: bool = True,
    skip: bool = True,
    batch_norm: bool = True,
) -> DilatedEncoder:
    """Dilated convolutions at (half) resolution, a full-size code: keeps the border's detail (use decoder conv)."""
    return DilatedEncoder(in_channels, image_size, width, tuple(rates), downsample, skip, batch_norm)


class UNetEncoder(nn.Module):
    """Down to 1/2**levels of the image and back up, each level's features concatenated on the way up.

    The deep levels see the whole image (what object, what background); the skips hand the border's exact
    pixels to the full-resolution code, which a crop decoder reads around the hole. Widths double per level
    down; every level has `depth` 3x3 convolutions. `out_size == image_size`.
    """

    def __init__(
        self, in_channels: int, image_size: int, width: int, levels: int, depth: int, batch_norm: bool
    ) -> None:
        super().__init__()
        if width < 1 or levels < 1 or depth < 1:
            raise UsageError(
                f"encoder 'unet': width, levels and depth must be at least 1, got {width}, {levels}, {depth}"
            )
        require_divisible(image_size, 2**levels, f"encoder 'unet' with levels={levels}")
        norm = _norm(batch_norm)

        def stack(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(
                ConvNormAct(cin, cout, stride, norm), *(ConvNormAct(cout, cout, 1, norm) for _ in range(depth - 1))
            )

        widths = [width * 2**n for n in range(levels + 1)]
        self.stem = stack(in_channels, width)
        self.down = nn.ModuleList(stack(widths[n], widths[n + 1], 2) for n in range(levels))
        self.up = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(widths[n + 1] + widths[n], widths[n], 1, norm, kernel=1), stack(widths[n], widths[n])
            )
            for n in range(levels)
        )
        self.out_channels, self.out_size = width, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        features = skips.pop()
        for up in reversed(self.up):
            features = nn.functional.interpolate(features, scale_factor=2.0, mode="nearest")
            features = up(torch.cat([features, skips.pop()], dim=1))
        return features


@components("encoder", "unet")
def unet(
    in_channels: int, image_size: int, width: int = 16, levels: int = 3, depth: int = 2, batch_norm: bool = True
) -> UNetEncoder:
    """U-Net: down to 1/8 and back up with skips, a full-size code with the whole image's context (use decoder conv)."""
    return UNetEncoder(in_channels, image_size, width, levels, depth, batch_norm)


inpaintzoo_register = components.hook()
