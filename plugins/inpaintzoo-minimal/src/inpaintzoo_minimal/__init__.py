"""A complete, minimal inpaintzoo plugin: one component of each model kind (docs/plugins.md shows it whole)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo import Collection
from inpaintzoo.errors import UsageError

components = Collection()


@components("encoder", "mini")
class MiniEncoder(nn.Module):
    """Two 3x3 convolutions, the first with stride 2: a code half the image's size."""

    def __init__(self, in_channels: int, image_size: int, width: int = 32) -> None:
        super().__init__()
        self.out_channels = width  # the two attributes every decoder is told
        self.out_size = (image_size + 1) // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@components("decoder", "mini")
class MiniDecoder(nn.Module):
    """Resize the code to the patch, then a 3x3 convolution and a sigmoid: takes a code of any size."""

    def __init__(
        self, in_channels: int, in_size: int, patch_size: int, mode: Literal["nearest", "bilinear"] = "bilinear"
    ) -> None:
        super().__init__()
        self.patch_size, self.mode = patch_size, mode
        self.out = nn.Conv2d(in_channels, 3, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(F.interpolate(code, size=self.patch_size, mode=self.mode)))


@components("discriminator", "mini")
class MiniCritic(nn.Module):
    """A stride-2 convolution, global average pooling and a linear score: (B,) raw scores."""

    def __init__(self, image_size: int, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 4, stride=2, padding=1)
        self.score = nn.Linear(width, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(F.leaky_relu(self.conv(images), 0.2).mean((2, 3))).squeeze(1)


@components("loss", "mini-lsgan")
class LeastSquaresGAN:
    """Least-squares GAN: a critic step, then a generator step on alpha * L2 + (1 - alpha) * adversarial."""

    uses_discriminator = True

    def __init__(self, alpha: float = 0.9) -> None:
        self.alpha = alpha

    def configure(self, model, discriminator, lr: float, disc_lr: float) -> dict[str, torch.optim.Optimizer]:
        self.optimizers = {
            "generator": torch.optim.Adam(model.parameters(), lr=lr),
            "discriminator": torch.optim.Adam(discriminator.parameters(), lr=disc_lr),
        }
        return self.optimizers  # the engine checkpoints and decays them; step uses them through self

    def step(self, model, discriminator, images, mask, judge: str, step: int) -> dict[str, float]:
        patch = model(images, mask)
        real = discriminator(model.judged(images, mask, None, judge))
        fake = discriminator(model.judged(images, mask, patch.detach(), judge))
        d_loss = 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()

        reconstruction = model.reconstruction_loss(patch, images, mask)
        adversarial = (discriminator(model.judged(images, mask, patch, judge)) - 1).pow(2).mean()
        g_loss = self.alpha * reconstruction + (1 - self.alpha) * adversarial
        self.optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()  # also leaves gradients on the critic: its next step zeroes them first
        self.optimizers["generator"].step()
        return {"loss": reconstruction.item(), "d_loss": d_loss.item(), "g_adv": adversarial.item()}


@components("density", "mini-histogram")
class Histogram(nn.Module):
    """Each sub-pixel independent: a learned 256-way histogram per position and colour (no context at all)."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(3, 256, image_size, image_size))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(images.shape[0], -1, -1, -1, -1)  # (B, 3, 256, H, W)

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        levels = images.mul(255).round().long()  # (B, 3, H, W)
        return F.cross_entropy(self(images).transpose(1, 2), levels, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def fill(self, images, mask, mode="greedy", temperature=1.0, generator=None, k=1, **options) -> torch.Tensor:
        probs = torch.softmax(self(images) / (temperature if mode == "sample" else 1.0), dim=2)
        if mode == "greedy":
            levels = probs.argmax(2).float()
        elif mode == "mean":
            levels = (probs * torch.arange(256.0, device=probs.device)[:, None, None]).sum(2)
        elif mode == "sample":
            flat = probs.permute(0, 1, 3, 4, 2).reshape(-1, 256)
            levels = torch.multinomial(flat, 1, generator=generator).view(*images.shape).float()
        else:
            raise UsageError(f"mini-histogram fills greedy, mean or sample, not {mode!r}")
        return torch.where(mask, levels / 255, images)


inpaintzoo_register = components.hook()
