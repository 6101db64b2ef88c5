"""The plugin's components, registered through the `inpaintzoo` entry point in pyproject.toml."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from inpaintzoo import Collection, Registry, hookimpl
from inpaintzoo.errors import UsageError
from inpaintzoo.hub import register_folder

components = Collection()


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@components("encoder", "hourglass")
class Hourglass(nn.Module):
    """Strided 3x3 convolutions down to a small feature map (no bottleneck vector)."""

    def __init__(self, in_channels: int, image_size: int, width: int = 32, downsamples: int = 2) -> None:
        super().__init__()
        if image_size % (2**downsamples):
            raise UsageError(f"hourglass: image_size {image_size} is not divisible by 2**downsamples={2**downsamples}")
        layers, c = [conv_block(in_channels, width)], width
        for _ in range(downsamples):
            layers.append(conv_block(c, c * 2, stride=2))
            c *= 2
        self.body = nn.Sequential(*layers)
        self.out_channels = c
        self.out_size = image_size // 2**downsamples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@components("decoder", "pixelshuffle")
class PixelShuffleDecoder(nn.Module):
    """Sub-pixel convolution upsampling (PixelShuffle) by powers of two, then resampled to the patch size."""

    def __init__(self, in_channels: int, in_size: int, patch_size: int, width: int = 64) -> None:
        super().__init__()
        steps = max(0, math.ceil(math.log2(max(patch_size / in_size, 1))))
        layers: list[nn.Module] = [conv_block(in_channels, width)]
        for _ in range(steps):
            layers += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, 3, 3, 1, 1)]
        self.body = nn.Sequential(*layers)
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if y.shape[-1] != self.patch_size:
            y = nn.functional.interpolate(y, size=self.patch_size, mode="bilinear", align_corners=False)
        return torch.sigmoid(y)


@components("discriminator", "patchgan")
class PatchGAN(nn.Module):
    """PatchGAN: a score for each overlapping receptive field, averaged to one raw score per image."""

    def __init__(self, image_size: int, width: int = 32, layers: int = 2) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for _ in range(layers - 1):
            blocks += [nn.Conv2d(c, c * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        if image_size < 2**layers:
            raise UsageError(f"patchgan: image_size {image_size} is too small for {layers} layers")
        blocks.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2 - 1).mean(dim=(1, 2, 3))


#: the plugin's pretrained entries: NAME.json cards beside NAME.safetensors weights (package data)
PRETRAINED = Path(__file__).parent / "pretrained"


@hookimpl
def inpaintzoo_register(registry: Registry) -> None:
    """Register the components, then the pretrained entries (which build their models from those components)."""
    components.register_into(registry)
    register_folder(registry, PRETRAINED)
