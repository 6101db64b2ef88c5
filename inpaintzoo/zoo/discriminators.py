"""Discriminators (critics) for adversarial context-encoder training: images (B, 3, S, S) to raw scores (B,).

Each one is a trunk from `blocks` with LeakyReLU(0.2), then a 1x1 convolution down to one channel
averaged over space: a score per location, pooled, so any image size from 8 up works (the whole
32x32 image, or a 16x16 patch when the discriminator judges the patch alone) and nothing needs to be
divisible. No sigmoid: the objective decides (BCE with logits for GAN, raw scores for WGAN).

`norm` picks the normalisation of every layer: WGAN-GP's gradient penalty is per example, which
batch norm breaks, so its critic needs `norm=layer` or `norm=none`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Collection
from inpaintzoo.zoo.blocks import Norm, Trunk, inception_trunk, norm_layer, resnet_trunk, strided_trunk, vgg_trunk

components = Collection()

#: every trunk shrinks by 8 (pools floor), so smaller inputs would vanish
MIN_SIZE = 8


class Discriminator(nn.Module):
    """A trunk, a 1x1 convolution to one score per location, and the spatial mean."""

    def __init__(self, trunk: Trunk) -> None:
        super().__init__()
        self.trunk = trunk
        self.score = nn.Conv2d(trunk.out_channels, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.trunk(images)).mean(dim=(1, 2, 3))


def _check(name: str, image_size: int, norm: str) -> None:
    if image_size < MIN_SIZE:
        raise UsageError(f"discriminator {name!r} needs images of at least {MIN_SIZE}x{MIN_SIZE}, got {image_size}")
    norm_layer(norm, 1)  # rejects an unknown norm with a UsageError


@components("discriminator", "dcgan")
def dcgan(image_size: int, width: int = 64, norm: Norm = "batch") -> Discriminator:
    """DCGAN: six 3x3 convolutions, every other one stride 2, LeakyReLU, no pooling, no norm on the input layer."""
    _check("dcgan", image_size, norm)
    return Discriminator(strided_trunk(3, width, norm, "leaky", first_norm="none"))


@components("discriminator", "vgg")
def vgg(image_size: int, width: int = 32, norm: Norm = "batch") -> Discriminator:
    """VGG for 32x32: ten 3x3 convolutions in stages of (2, 2, 3, 3) with three pools."""
    _check("vgg", image_size, norm)
    return Discriminator(vgg_trunk(3, width, norm, "leaky"))


@components("discriminator", "resnet")
def resnet(image_size: int, width: int = 32, blocks: int = 1, norm: Norm = "batch") -> Discriminator:
    """ResNet for 32x32: a 3x3 stem and 4 stages of `blocks` residual blocks (one each: a ResNet-10)."""
    _check("resnet", image_size, norm)
    return Discriminator(resnet_trunk(3, width, blocks, norm, "leaky"))


@components("discriminator", "inception")
def inception(image_size: int, width: int = 32, blocks: int = 1, norm: Norm = "batch") -> Discriminator:
    """Small GoogLeNet for 32x32: a 3x3 stem and 3 stages of inception blocks with pools."""
    _check("inception", image_size, norm)
    return Discriminator(inception_trunk(3, width, blocks, norm, "leaky"))


class PatchCritic(nn.Module):
    """A PatchGAN critic: strided convolutions to a grid of scores, one per overlapping patch, kept apart.

    Returns `(B, L)` scores (L patches), not their mean: the objective judges each patch, so a sharp,
    plausible texture is asked of every part of the fill rather than of the image on average.
    """

    def __init__(self, width: int, layers: int, norm: str) -> None:
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for _ in range(layers - 1):
            cout = min(2 * c, 8 * width)
            body += [nn.Conv2d(c, cout, 4, 2, 1, bias=norm == "none"), norm_layer(norm, cout), nn.LeakyReLU(0.2, True)]
            c = cout
        body.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.body = nn.Sequential(*body)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).flatten(1)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's activations, then the score map `(B, 1, h, w)` last: what feature matching compares."""
        out: list[torch.Tensor] = []
        x = images
        for layer in self.body:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return [*out, x]

    def patch_holes(self, mask: torch.Tensor) -> torch.Tensor:
        """`(B, L)`: 1 where a score's patch sees any hole pixel of `mask` `(B, 1, H, W)`, following the strides."""
        x = mask.float()
        for layer in self.body:
            if isinstance(layer, nn.Conv2d):
                x = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding)
        return x.flatten(1)


@components("discriminator", "patch")
def patch(image_size: int, width: int = 32, layers: int = 3, norm: Norm = "batch") -> PatchCritic:
    """PatchGAN: `layers` stride-2 4x4 convolutions and a score per patch (B, L); for photo models."""
    if layers < 1 or image_size < 2**layers:
        raise UsageError(f"discriminator 'patch' with layers={layers} needs images of at least {2**layers} px")
    norm_layer(norm, 1)
    return PatchCritic(width, layers, norm)


inpaintzoo_register = components.hook()
