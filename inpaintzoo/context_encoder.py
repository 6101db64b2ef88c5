"""A context encoder: any registered encoder joined to any decoder, with the overlap trick.

The decoder predicts a patch that covers the hole plus `overlap` pixels of context on each side.
Training weighs the overlap's squared error `overlap_weight` times the hole's; inpainting pastes only
the hole's pixels back. With a mask that has no fixed box (random rectangles, brush strokes) the
patch is the whole image and the overlap is the band of `overlap` pixels around the hole.
With `mirror`, inpainting also fills the left-right mirror image and averages the two fills: a
photo's mirror is as likely as the photo, so the two are two estimates of one answer, and their mean
has a lower squared error than either (at twice the inference cost; training is unchanged).
With `texture` (a model of any size, for photos), inpainting tops the fill's fine detail up to that share of
the context's, copied from where the context looks like the fill (`inpaintzoo.texture`): a network's fill
has the structure but little grain. Training is unchanged; validation measures the textured fill.

What a discriminator judges (`judged`): the whole image with the prediction pasted in, the patch
alone, or a `local` window around the hole (the hole grown by half its size on each side, pasted
prediction and its nearest context): a local critic spends its capacity where the fill is, at a
quarter of a whole-image critic's cost for the centre 8x8 hole of a 32x32 image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.data.masks import model_input
from inpaintzoo.errors import UsageError
from inpaintzoo.texture import add_texture

Box = tuple[int, int, int, int]  # top, left, height, width


def patch_box(image_size: int, box: Box | None, overlap: int) -> Box:
    """The region the decoder predicts: the hole's box grown by `overlap`, clipped to the image."""
    if box is None:
        return (0, 0, image_size, image_size)
    top, left, h, w = box
    t, l = max(0, top - overlap), max(0, left - overlap)
    b, r = min(image_size, top + h + overlap), min(image_size, left + w + overlap)
    return (t, l, b - t, r - l)


def local_box(image_size: int, box: Box | None) -> Box:
    """The window a `local` critic judges: the hole's box grown by half its size on each side, clipped."""
    if box is None:
        return (0, 0, image_size, image_size)
    return patch_box(image_size, box, max(box[2], box[3]) // 2)


class ContextEncoder(nn.Module):
    """Encoder + decoder + the patch geometry; `forward(images, mask)` returns the predicted patch."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        image_size: int,
        box: Box | None,
        overlap: int = 4,
        overlap_weight: float = 20.0,
        fill: str = "zeros",
        mirror: bool = False,
        residual: bool = False,
        texture: float = 0.0,
    ) -> None:
        super().__init__()
        self.residual = residual
        if not 0 <= texture <= 1:
            raise UsageError(f"model.texture={texture:g} is a share of the context's detail: give 0 (none) to 1")
        if texture and box is not None:
            raise UsageError(
                "model.texture needs a hole given by a mask and context to copy from; this model fills one fixed "
                f"box {box}: set model.texture=0"
            )
        self.texture = texture
        if mirror and box is not None and 2 * box[1] + box[3] != image_size:
            raise UsageError(
                f"model.mirror=true averages a fill with its mirror image, so the hole must be centred left to "
                f"right; the box {box} of a {image_size}px image is not: set model.mirror=false"
            )
        self.mirror = mirror
        self.encoder = encoder
        self.decoder = decoder
        self.image_size = image_size
        self.box = box
        self.overlap = overlap
        self.overlap_weight = overlap_weight
        self.fill = fill
        self.patch = patch_box(image_size, box, overlap)
        self.local = local_box(image_size, box)
        if self.patch[2] != self.patch[3]:
            raise ValueError(f"the predicted patch must be square, got {self.patch[2]}x{self.patch[3]}")

    @property
    def size_multiple(self) -> int | None:
        """None for a model of one image size; N for a fully convolutional one that takes any size divisible by N."""
        if self.box is None and getattr(self.encoder, "any_size", False):
            return int(getattr(self.encoder, "size_multiple", 1))
        return None

    @property
    def patch_size(self) -> int:
        return self.patch[2]

    def crop(self, images: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """The patch region (or another `box`) of full-size images (or masks).

        With no fixed hole the patch is the whole image, whatever its size (any-size encoders).
        """
        if box is None and self.box is None:
            return images
        t, l, h, w = self.patch if box is None else box
        return images[..., t : t + h, l : l + w]

    def forward(
        self, images: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Predict the patch (B, 3, P, P) in [0, 1] from images whose hole is hidden from the model.

        With `residual` the decoder's output (a sigmoid, 0.5 at rest) is a correction of the filled input
        (`fill=telea`: the classical fill), `2 * out - 1` added to it: the model starts from that fill.
        """
        x = model_input(images, mask, self.fill, generator)
        out = self.decoder(self.encoder(x))
        if not self.residual:
            return out
        return (self.crop(x[:, :3]) + 2 * out.to(x.dtype) - 1).clamp(0, 1)

    def paste(self, images: torch.Tensor, mask: torch.Tensor, patch: torch.Tensor) -> torch.Tensor:
        """Full images: the context as given, the hole's pixels from the prediction."""
        if self.box is None:
            return torch.where(mask.expand_as(images), patch.to(images.dtype), images)
        t, l, h, w = self.patch
        full = images.clone()
        region = full[..., t : t + h, l : l + w]
        hole = self.crop(mask).expand_as(region)
        full[..., t : t + h, l : l + w] = torch.where(hole, patch.to(full.dtype), region)
        return full

    def weights(self, mask: torch.Tensor) -> torch.Tensor:
        """Per-pixel loss weights over the patch: 1 in the hole, `overlap_weight` in the overlap band."""
        hole = mask.float()
        if self.overlap > 0:
            k = 2 * self.overlap + 1
            band = (F.max_pool2d(hole, k, stride=1, padding=self.overlap) > 0).float() - hole
        else:
            band = torch.zeros_like(hole)
        return self.crop(hole + self.overlap_weight * band)

    def reconstruction_loss(self, patch: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Weighted L2 of the patch: the hole's squared error plus the overlap's, normalised per hole pixel."""
        w = self.weights(mask)
        se = (patch - self.crop(images)).pow(2).sum(1, keepdim=True)
        return (w * se).sum() / mask.float().sum().clamp_min(1)

    def judged_size(self, judge: str) -> int:
        """The side of the square a discriminator judging `judge` sees (what it is built for)."""
        if judge == "patch":
            return self.patch_size
        if judge == "local":
            return max(self.local[2], self.local[3])
        return self.image_size

    def judged(self, images: torch.Tensor, mask: torch.Tensor, patch: torch.Tensor | None, judge: str) -> torch.Tensor:
        """What the discriminator sees: the whole image (prediction pasted), the patch alone, or the local window.

        With `patch=None` it returns the real counterpart (the true image, patch or window).
        """
        if judge == "patch":
            return self.crop(images) if patch is None else patch
        full = images if patch is None else self.paste(images, mask, patch)
        return self.crop(full, self.local) if judge == "local" else full

    @torch.no_grad()
    def inpaint(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the hole of each image; pixels outside the mask are returned unchanged."""
        patch = self(images, mask)
        if self.mirror:  # the patch region is symmetric, so the mirror's patch mirrored back lines up with it
            patch = 0.5 * (patch + self(images.flip(-1), mask.flip(-1)).flip(-1))
        filled = self.paste(images, mask, patch)
        if not self.texture:
            return filled
        return torch.where(mask.bool(), add_texture(images, filled, mask, self.texture).clamp(0, 1), filled)
