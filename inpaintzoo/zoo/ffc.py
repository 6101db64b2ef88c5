"""Fast Fourier convolution encoders: photo models that run at any size and see the whole image at every layer.

LaMa's idea (Suvorov et al. 2022), written here: a residual block's channels are split into a local part
(3x3 convolutions) and a global part whose convolution happens in the frequency domain (a 1x1
convolution of the real FFT), so one layer's receptive field is the whole image and a large hole is
filled from context far away. The encoder downsamples `2 ** downsamples` times, runs `blocks` such
residual blocks, and upsamples back to a full-resolution code for the `conv` decoder; it takes any
image whose sides are divisible by `size_multiple` (the photo strategies pad to it).

The FFT runs in float32 whatever the autocast dtype (bf16 FFTs are not available on every device, and
the spectrum's dynamic range wants the mantissa).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Collection

components = Collection()


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, padding_mode="reflect", bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FourierUnit(nn.Module):
    """A 1x1 convolution on the real FFT of a feature map (real and imaginary parts as channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        with torch.autocast(x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W//2+1) complex
            z = torch.cat((spectrum.real, spectrum.imag), 1)
            z = F.relu(self.norm(self.conv(z.to(self.conv.weight.dtype))).float())
            spectrum = torch.complex(z[:, :c], z[:, c:])
            return torch.fft.irfft2(spectrum, s=(h, w), norm="ortho").to(x.dtype)


class SpectralTransform(nn.Module):
    """Squeeze to half the channels, add the Fourier unit's global view, expand back."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(1, channels // 2)
        self.squeeze = conv_bn_relu(channels, half, 1)
        self.fourier = FourierUnit(half)
        self.expand = nn.Conv2d(half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return self.expand(x + self.fourier(x))


class FFC(nn.Module):
    """One fast Fourier convolution: local->local and global->local 3x3, local->global 3x3, global->global spectral."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        self.global_channels = int(round(channels * ratio))
        self.local_channels = channels - self.global_channels
        cl, cg = self.local_channels, self.global_channels

        def conv(cin: int, cout: int) -> nn.Module:
            return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect", bias=False)

        self.to_local = conv(channels, cl)  # local->local and global->local in one convolution
        self.local_to_global = conv(cl, cg)
        self.spectral = SpectralTransform(cg)
        self.norm_local, self.norm_global = nn.BatchNorm2d(cl), nn.BatchNorm2d(cg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local, glob = x[:, : self.local_channels], x[:, self.local_channels :]
        out_local = self.norm_local(self.to_local(x))
        out_global = self.norm_global(self.local_to_global(local) + self.spectral(glob))
        return F.relu(torch.cat((out_local, out_global), 1))


class FFCResBlock(nn.Module):
    """Two fast Fourier convolutions and a skip connection."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        self.first, self.second = FFC(channels, ratio), FFC(channels, ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x))


class FFCEncoder(nn.Module):
    """Down `downsamples` times, `blocks` FFC residual blocks, up again: a full-resolution code of `width` channels.

    The image's own pixels and mask reach the code through a skip from the first layer, so fine context at
    the hole's border is not lost in the downsampled trunk.
    """

    any_size = True

    def __init__(self, in_channels: int, width: int, downsamples: int, blocks: int, ratio: float) -> None:
        super().__init__()
        self.size_multiple = 2**downsamples
        self.stem = conv_bn_relu(in_channels, width, 3)
        down: list[nn.Module] = []
        c = width
        for _ in range(downsamples):
            down.append(conv_bn_relu(c, min(2 * c, 8 * width), 3, stride=2))
            c = min(2 * c, 8 * width)
        self.down = nn.Sequential(*down)
        self.blocks = nn.Sequential(*(FFCResBlock(c, ratio) for _ in range(blocks)))
        up: list[nn.Module] = []
        for i in range(downsamples):
            cout = width if i == downsamples - 1 else max(width, c // 2)
            up += [nn.Upsample(scale_factor=2, mode="nearest"), conv_bn_relu(c, cout, 3)]
            c = cout
        self.up = nn.Sequential(*up)
        self.merge = conv_bn_relu(2 * width, width, 1)
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise UsageError(
                f"encoder 'ffc' takes images whose sides are divisible by {self.size_multiple}, got {w}x{h}: "
                "pad the image (the photo strategies do)"
            )
        skip = self.stem(x)
        code = self.up(self.blocks(self.down(skip)))
        return self.merge(torch.cat((code, skip), 1))


@components("encoder", "ffc", summary="Fast Fourier convolution residual blocks (LaMa's idea): any size, global view")
def ffc(
    in_channels: int,
    image_size: int,
    width: int = 32,
    downsamples: int = 2,
    blocks: int = 6,
    ratio: float = 0.75,
) -> FFCEncoder:
    """Fast Fourier convolution residual blocks at 1/2**downsamples resolution; a full-size code for decoder=conv."""
    if width < 2 or blocks < 0 or downsamples < 0:
        raise UsageError(
            f"encoder 'ffc': width >= 2, blocks >= 0, downsamples >= 0, got {width}, {blocks}, {downsamples}"
        )
    if not 0 < ratio < 1:
        raise UsageError(f"encoder 'ffc': ratio (the global share of channels) must be in (0, 1), got {ratio}")
    if image_size % 2**downsamples:
        raise UsageError(
            f"encoder 'ffc' with downsamples={downsamples} needs data.image_size divisible by {2**downsamples}"
        )
    encoder = FFCEncoder(in_channels, width, downsamples, blocks, ratio)
    encoder.out_size = image_size
    return encoder


inpaintzoo_register = components.hook()
