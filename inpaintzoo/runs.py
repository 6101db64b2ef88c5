"""Trained runs as Python objects: load a run directory, inpaint tensors, evaluate on a split."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintzoo.config import check_plugins, load_config, resolve_config
from inpaintzoo.contracts import Decoding, ModelFamily
from inpaintzoo.engine.build import build_dataset, build_mask, holdout, image_size, resolve_device
from inpaintzoo.engine.checkpoint import load_checkpoint, load_module_state
from inpaintzoo.engine.precision import autocast
from inpaintzoo.engine.progress import Progress
from inpaintzoo.errors import DataError, RunDirError, UsageError
from inpaintzoo.families import build_models, family_of
from inpaintzoo.metrics import MetricAccumulator, hole_gradient_energy
from inpaintzoo.photos import Geometry, check_image_size, check_strategy, fill_images, serves
from inpaintzoo.registry import Registry

DENSITY_MODES = ("greedy", "sample", "mean", "best-of-k", "posterior-mean")

#: `evaluate`'s name for the held-out validation slice of the training split
VAL_SPLIT = "val"


class Preview(list):
    """[context, prediction, truth] of the first evaluated batch, with the batch's holes as `mask`."""

    mask: torch.Tensor | None = None


@dataclass
class Run:
    """A trained model with its config: the moving-average weights when the run kept them."""

    path: Path | None  # None for a pretrained entry (a run without a directory)
    config: dict[str, Any]
    model: nn.Module
    mask: Any
    device: torch.device
    registry: Registry
    pretrained_name: str | None = None

    @property
    def name(self) -> str:
        """The pretrained entry's name, or the run directory's."""
        if self.pretrained_name is not None:
            return self.pretrained_name
        return self.path.name if self.path is not None else "run"

    @property
    def family(self) -> ModelFamily:
        """How this run's family is built, trained and filled (`inpaintzoo.families`)."""
        return family_of(self.config)

    @property
    def owner(self) -> str:
        """The model's component and the plugin it comes from, for messages about what it lacks."""
        group = self.family.component_group
        name = self.config.get(group, {}).get("name")
        try:
            plugin = self.registry.get(group, name).plugin
        except Exception:  # a run whose component is gone still loads; say what is known
            plugin = "unknown plugin"
        return f"{group} model {name!r} (from {plugin})"

    @property
    def is_density(self) -> bool:
        """Whether this is a density model (for display; behaviour goes through `family`)."""
        return self.family.task == "density"

    @property
    def decodes(self) -> bool:
        """Whether the model takes a `Decoding` (mode, k, tau, window, mirror, temperature, seed) when it fills."""
        return self.family.decodes

    @property
    def image_size(self) -> int:
        return image_size(self.config)

    @property
    def geometry(self) -> Geometry:
        """What `photos` needs: the model's size, the one box it fills (if any), whether it runs at any size."""
        return self.family.geometry(self.model, self.image_size)

    def serves(self, mask: torch.Tensor, strategy: str = "crop") -> str | None:
        """None if this model can fill `mask` ((H, W), (1, H, W) or (B, 1, H, W) bool) with `strategy`, else why.

        The reason names the pretrained entries that can fill it, when a fixed-box model is given another hole.
        """
        mask = torch.as_tensor(mask).bool()
        masks = mask.reshape(-1, *mask.shape[-2:])
        for m in masks:
            reason = serves(self.geometry, m.cpu(), strategy) or self.family.refuses(int(m.sum()), strategy)
            if reason is not None:
                if self.geometry.box is not None:
                    reason += f"; {alternatives(self.registry)}"
                return reason
        return None

    def check_inputs(self, images: torch.Tensor, mask: torch.Tensor) -> None:
        """Reject images and masks no model can take, with a line that says why (`serves` says what this one can)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise DataError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        check_image_size(*images.shape[-2:])
        if (
            mask.ndim != 4
            or mask.shape[1] != 1
            or mask.shape[-2:] != images.shape[-2:]
            or mask.shape[0] not in (1, images.shape[0])
        ):
            raise DataError(
                f"mask must be (B, 1, H, W) matching the images {tuple(images.shape)}, got {tuple(mask.shape)}"
            )
        h, w = images.shape[-2:]
        holes = mask.flatten(1).sum(1)
        if bool((holes == 0).any()):
            raise DataError("the mask has no hole pixels: mark the hole in white (or give --box)")
        if bool((holes == h * w).any()):
            raise DataError("the mask covers the whole image: leave some context for the model to read")

    @torch.no_grad()
    def inpaint(
        self,
        images: torch.Tensor,
        mask: torch.Tensor | None = None,
        strategy: str = "crop",
        mode: str = "greedy",
        temperature: float = 1.0,
        k: int = 4,
        seed: int = 0,
        tau: float = 1.0,
        window: int | None = None,
        precision: str = "fp32",
        mirror: bool = False,
    ) -> torch.Tensor:
        """Fill the hole of `images` ((B,3,H,W) in [0,1], any size); `mask` (B,1,H,W) bool defaults to the run's own.

        Images of another size than the model's go through `strategy` (`inpaintzoo.photos`: crop, resize,
        original); pixels outside the mask come back unchanged. `mode`, `temperature`, `k` and `seed` apply to
        density models, which fill pixel by pixel; `tau` and `window` to their `posterior-mean` mode (see
        `DensityModel.posterior_mean`); `mirror` averages a density fill with the fill of the mirror image (see
        `DensityModel.fill`). `precision` (fp32, bf16) is the autocast the model runs under.
        """
        check_strategy(strategy)
        if self.decodes and mode not in DENSITY_MODES:
            raise UsageError(f"unknown mode {mode!r}: choose {', '.join(DENSITY_MODES)}")
        images = images.to(self.device, torch.float32)
        if mask is None:
            if tuple(images.shape[-2:]) != (self.image_size, self.image_size):
                h, w = images.shape[-2:]
                raise DataError(
                    f"the image is {w}x{h}: mark the hole with a mask (--mask or --box); this model's own mask "
                    f"is for {self.image_size}x{self.image_size} images"
                )
            mask = self.mask(images.shape[0], generator=torch.Generator().manual_seed(seed))
        mask = mask.to(self.device, torch.bool)
        self.check_inputs(images, mask)
        mask = mask.expand(images.shape[0], -1, -1, -1)  # one mask for the whole batch, or one each
        reason = self.serves(mask[:1] if mask.stride(0) == 0 else mask, strategy)
        if reason is not None:
            raise DataError(reason)
        model_fill = self.family.filler(
            self.model, Decoding(mode, temperature, k, tau, window, mirror, seed), self.device, self.owner
        )

        def fill(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            with autocast(self.device, precision):
                return model_fill(x, m).float()

        return fill_images(images, mask, fill, self.geometry, strategy)

    def split_images(self, split: str) -> torch.Tensor:
        """uint8 images of a dataset split, or of `val`: the training split's held-out tail (as trained)."""
        if split == VAL_SPLIT:
            train_images = build_dataset(self.config, "train", self.registry).images
            return holdout(train_images, self.config["train"])[1]
        return build_dataset(self.config, split, self.registry).images

    @torch.no_grad()
    def evaluate(
        self,
        split: str = "test",
        limit: int = 0,
        batch_size: int = 64,
        progress: bool = False,
        **inpaint_args: Any,
    ) -> tuple[dict[str, float], list[torch.Tensor]]:
        """Metrics on a split (see `inpaintzoo.metrics`) and the first batch's context/prediction/truth.

        `split` is a split of the run's dataset (`train`, `test`) or `val`: the held-out slice of the
        training split the run validated on. The preview's `mask` attribute holds the first batch's holes.
        """
        all_images = self.split_images(split)
        images = all_images[:limit] if limit else all_images
        acc = MetricAccumulator()
        g = torch.Generator().manual_seed(12345)
        preview: list[torch.Tensor] = []
        extra = self.family.evaluation()  # what this family adds (a density model: bits/dim, ESS)
        energy = [0.0, 0.0]  # gradient energy in the hole: fills, truth (their ratio is `sharpness`)
        with Progress(enabled=progress) as bar:
            task = bar.task(f"eval {split}", total=len(images))
            for i in range(0, len(images), batch_size):
                x = images[i : i + batch_size].to(self.device).float().div_(255)
                mask = self.mask(x.shape[0], generator=g).to(self.device)
                pred = self.inpaint(x, mask, **inpaint_args)
                acc.update(pred, x, mask)
                energy[0] += hole_gradient_energy(pred, mask)
                energy[1] += hole_gradient_energy(x, mask)
                extra.update(self.model, x)
                if not preview:
                    preview = Preview([torch.where(mask, torch.ones_like(x), x).cpu(), pred.cpu(), x.cpu()])
                    preview.mask = mask.cpu()
                bar.advance(task, by=x.shape[0])
        metrics = acc.compute()
        metrics["sharpness"] = energy[0] / energy[1] if energy[1] else math.nan
        metrics.update(extra.compute(images))
        metrics["images"] = len(images)
        return metrics, preview


def alternatives(registry: Registry) -> str:
    """Which pretrained entries can fill any hole (those not trained on one fixed box), as advice."""
    names = [c.name for c in registry.list("pretrained") if getattr(c.factory, "box", ()) is None]
    if names:
        return f"use a model trained on free-form masks: --model {' or --model '.join(names)}"
    return "no pretrained entry for free-form masks is installed: train one with mask=freeform (or brush) and export it"


class CheckpointFallbackWarning(UserWarning):
    """`best.pt` was asked for but the run has only `last.pt`, which is used instead."""


def checkpoint_path(run_dir: Path, checkpoint: str) -> Path:
    """The checkpoint file to load: `best` or `last`; a missing best.pt falls back to last.pt with a warning."""
    if checkpoint not in ("best", "last"):
        raise UsageError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    folder = run_dir / "checkpoints"
    wanted = folder / f"{checkpoint}.pt"
    if wanted.is_file():
        return wanted
    if checkpoint == "best" and (folder / "last.pt").is_file():
        warnings.warn(
            f"{run_dir} has no checkpoints/best.pt (no validation finished): using checkpoints/last.pt",
            CheckpointFallbackWarning,
            stacklevel=3,
        )
        return folder / "last.pt"
    raise RunDirError(f"{run_dir} has no checkpoints/{checkpoint}.pt: the run stopped before writing one")


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
    ckpt = checkpoint_path(path, checkpoint)
    config = load_config(path / "config.json")
    check_plugins(config, registry)  # "decoder 'x' comes from plugin 'y', which is not installed"
    try:  # a hand-edited or foreign config.json is named here, not met as a KeyError deep in a factory
        checked = resolve_config([], registry, base=config)
    except UsageError as exc:
        raise RunDirError(f"{path / 'config.json'} is not a config this inpaintzoo can build: {exc}") from None
    config = {**checked, **{k: v for k, v in config.items() if k not in checked}}
    dev = resolve_device(device)
    mask = build_mask(config, registry)
    model = build_models(config, registry, mask).model
    state = load_checkpoint(ckpt)
    load_module_state(model, state["ema_weights"] if state.get("ema_weights") is not None else state["model"], "model")
    return Run(path, config, model.to(dev).eval(), mask, dev, registry)
