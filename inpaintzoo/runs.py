"""Trained runs as Python objects: load a run directory, inpaint tensors, evaluate on a split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintzoo.config import load_config
from inpaintzoo.engine.build import build_dataset, build_mask, build_models, image_size, resolve_device
from inpaintzoo.engine.checkpoint import load_checkpoint, load_module_state
from inpaintzoo.engine.progress import Progress
from inpaintzoo.errors import DataError, RunDirError, UsageError
from inpaintzoo.metrics import MetricAccumulator
from inpaintzoo.registry import Registry

DENSITY_MODES = ("greedy", "sample", "mean", "best-of-k")


@dataclass
class Run:
    """A trained model with its config: the moving-average weights when the run kept them."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    mask: Any
    device: torch.device
    registry: Registry

    @property
    def is_density(self) -> bool:
        return self.config["task"] == "density"

    @property
    def image_size(self) -> int:
        return image_size(self.config)

    def check_inputs(self, images: torch.Tensor, mask: torch.Tensor) -> None:
        """Reject images and masks this model cannot take, with a line that says why."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise DataError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != images.shape[-2:]:
            raise DataError(
                f"mask must be (B, 1, H, W) matching the images {tuple(images.shape)}, got {tuple(mask.shape)}"
            )
        h, w = images.shape[-2:]
        holes = mask.flatten(1).sum(1)
        if bool((holes == 0).any()):
            raise DataError("the mask has no hole pixels: mark the hole in white (or give --box)")
        if bool((holes == h * w).any()):
            raise DataError("the mask covers the whole image: leave some context for the model to read")
        if self.is_density:
            return
        if (h, w) != (self.image_size, self.image_size):
            raise DataError(
                f"this context encoder takes {self.image_size}x{self.image_size} images, got {w}x{h}: "
                "resize the image, or train a model with data.image_size to match"
            )
        box = self.model.box
        if box is not None:
            t, l, bh, bw = box
            inside = torch.zeros_like(mask)
            inside[..., t : t + bh, l : l + bw] = True
            if bool((mask & ~inside).any()):
                raise DataError(
                    f"this model fills only the box top={t} left={l} size={bh}x{bw}; the mask reaches outside it"
                )

    @torch.no_grad()
    def inpaint(
        self,
        images: torch.Tensor,
        mask: torch.Tensor | None = None,
        mode: str = "greedy",
        temperature: float = 1.0,
        k: int = 4,
        seed: int = 0,
    ) -> torch.Tensor:
        """Fill the hole of `images` ((B,3,H,W) in [0,1]); `mask` (B,1,H,W) bool defaults to the run's own.

        `mode`, `temperature`, `k` and `seed` apply to density models, which fill pixel by pixel.
        """
        images = images.to(self.device, torch.float32)
        if mask is None:
            mask = self.mask(images.shape[0], generator=torch.Generator().manual_seed(seed))
        mask = mask.to(self.device, torch.bool)
        self.check_inputs(images, mask)
        if not self.is_density:
            return self.model.inpaint(images, mask)
        if mode not in DENSITY_MODES:
            raise UsageError(f"unknown mode {mode!r}: choose {', '.join(DENSITY_MODES)}")
        g = torch.Generator(device=self.device).manual_seed(seed)
        return self.model.fill(images, mask, mode=mode, temperature=temperature, generator=g, k=k)

    @torch.no_grad()
    def evaluate(
        self,
        split: str = "test",
        limit: int = 0,
        batch_size: int = 64,
        progress: bool = False,
        **inpaint_args: Any,
    ) -> tuple[dict[str, float], list[torch.Tensor]]:
        """Metrics on a split (see `inpaintzoo.metrics`) and the first batch's context/prediction/truth."""
        dataset = build_dataset(self.config, split, self.registry)
        images = dataset.images[:limit] if limit else dataset.images
        acc = MetricAccumulator()
        g = torch.Generator().manual_seed(12345)
        preview: list[torch.Tensor] = []
        nll = 0.0
        with Progress(enabled=progress) as bar:
            task = bar.task(f"eval {split}", total=len(images))
            for i in range(0, len(images), batch_size):
                x = images[i : i + batch_size].to(self.device).float().div_(255)
                mask = self.mask(x.shape[0], generator=g).to(self.device)
                pred = self.inpaint(x, mask, **inpaint_args)
                acc.update(pred, x, mask)
                if self.is_density:
                    nll += self.model.nll(x).sum().item()
                if not preview:
                    preview = [torch.where(mask, torch.ones_like(x), x).cpu(), pred.cpu(), x.cpu()]
                bar.advance(task, by=x.shape[0])
        metrics = acc.compute()
        if self.is_density:
            metrics["bits_per_dim"] = nll / (len(images) * images[0].numel() * math.log(2))
        metrics["images"] = len(images)
        return metrics, preview


def load_run(
    path: str | Path,
    checkpoint: str = "best",
    device: str = "auto",
    registry: Registry | None = None,
) -> Run:
    """Load a run directory written by `inpaintzoo train` (`checkpoint`: best or last)."""
    if registry is None:
        from inpaintzoo.plugins import default_registry

        registry = default_registry()
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory: give the run directory that `inpaintzoo train` printed")
    if not (path / "config.json").is_file():
        raise RunDirError(f"{path} is not a run directory (no config.json)")
    ckpt = path / "checkpoints" / f"{checkpoint}.pt"
    if not ckpt.is_file():
        ckpt = path / "checkpoints" / "last.pt"
    config = load_config(path / "config.json")
    dev = resolve_device(device)
    mask = build_mask(config, registry)
    model = build_models(config, registry, mask).model
    state = load_checkpoint(ckpt)
    load_module_state(model, state["ema_weights"] if state.get("ema_weights") is not None else state["model"], "model")
    return Run(path, config, model.to(dev).eval(), mask, dev, registry)
