"""The zoo's two families of models, each adapted to the core's contract in this one place.

A context encoder predicts the hole at once and trains through an `Objective` (L2, GAN, ...); a density model
gives every sub-pixel a distribution, trains on its likelihood and fills pixel by pixel with a `Decoding`.
`family_of(config)` picks the adapter by the config's `task`, and the trainer, `Run`, the preflight and the
pretrained entries call the adapter (`ModelFamily` in `contracts.py`) instead of asking which family they hold.
A new family is one more class here and one more `task`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inpaintzoo.config import ModelSettings, component_args
from inpaintzoo.context_encoder import ContextEncoder, patch_box
from inpaintzoo.contracts import Decoding, ModelFamily, call_supported
from inpaintzoo.engine.build import image_size
from inpaintzoo.errors import UsageError
from inpaintzoo.metrics import MetricAccumulator, bits_per_dim
from inpaintzoo.photos import Geometry
from inpaintzoo.registry import Registry
from inpaintzoo.zoo.losses import Likelihood

IN_CHANNELS = 4  # RGB with the hole filled, plus the mask channel

#: `original` on a density model: at most this many hole pixels, each a sequential step (row-lstm: ~20 s on 2 cores)
MAX_DENSITY_HOLE = 64 * 64

Fill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Models:
    """What a run trains: the inpainting model, its objective, and for adversarial losses the discriminator."""

    model: nn.Module
    discriminator: nn.Module | None = None
    objective: Any = None


@dataclass
class DensityEvaluation:
    """What `evaluate` adds for a density model: the test likelihood, and posterior-mean's effective sample sizes."""

    nll: float = 0.0
    ess: list[torch.Tensor] = field(default_factory=list)

    def update(self, model: nn.Module, images: torch.Tensor) -> None:
        if getattr(model, "last_ess", None) is not None:
            self.ess.append(model.last_ess.cpu())
        self.nll += model.nll(images).sum().item()

    def compute(self, images: torch.Tensor) -> dict[str, float]:
        metrics = {"bits_per_dim": bits_per_dim(self.nll / len(images), images)}
        if self.ess:
            metrics["ess"] = torch.cat(self.ess).mean().item()
            metrics["ess_median"] = torch.cat(self.ess).median().item()
        return metrics


class NoEvaluation:
    """A context encoder adds nothing to the shared metrics."""

    def update(self, model: nn.Module, images: torch.Tensor) -> None:
        pass

    def compute(self, images: torch.Tensor) -> dict[str, float]:
        return {}


class ContextEncoderFamily:
    """Encoder + decoder predicting the hole at once, trained by any registered loss (L2, GAN, WGAN, ...)."""

    task = "context-encoder"
    component_group = "encoder"
    decodes = False
    #: the moving average's batch-norm statistics belong to other weights: measure them afresh before evaluating
    recalibrates_ema = True
    curve_keys = ("loss", "val_l2")

    def build_models(self, config: dict[str, Any], registry: Registry, mask: Any) -> Models:
        size = image_size(config)
        settings = ModelSettings.from_json(config["model"])  # defaults for keys older runs lack
        box = getattr(mask, "box", None)
        if box is not None and settings.overlap * 2 + box[2] > size:
            raise UsageError(
                f"model.overlap={settings.overlap} is larger than the context around the {box[2]}x{box[3]} "
                f"hole in a {size}x{size} image; lower model.overlap"
            )
        encoder = registry.build(
            "encoder", config["encoder"]["name"], in_channels=IN_CHANNELS, image_size=size,
            **component_args(config["encoder"]),
        )
        decoder = registry.build(
            "decoder",
            config["decoder"]["name"],
            in_channels=encoder.out_channels,
            in_size=encoder.out_size,
            patch_size=patch_box(size, box, settings.overlap)[2],
            **component_args(config["decoder"]),
        )
        model = ContextEncoder(
            encoder,
            decoder,
            size,
            box,
            settings.overlap,
            settings.overlap_weight,
            getattr(mask, "fill", "zeros"),
            mirror=settings.mirror,
            residual=settings.residual,
            texture=settings.texture,
        )
        objective = registry.build("loss", config["loss"]["name"], **component_args(config["loss"]))
        discriminator = None
        if getattr(objective, "uses_discriminator", False):
            if config["disc"]["name"] is None:
                raise UsageError(
                    f"loss={config['loss']['name']} needs a discriminator: add disc=NAME (e.g. disc=dcgan)"
                )
            judged = model.judged_size(settings.judge)
            discriminator = registry.build(
                "discriminator", config["disc"]["name"], image_size=judged, **component_args(config["disc"])
            )
        elif config["disc"]["name"] is not None:
            raise UsageError(
                f"disc={config['disc']['name']} is set but loss={config['loss']['name']} uses no "
                "discriminator: choose loss=gan, loss=wgan or loss=wgan-gp, or drop disc="
            )
        return Models(model, discriminator, objective)

    def run_name_parts(self, config: dict[str, Any]) -> list[str]:
        parts = [config["encoder"]["name"], config["loss"]["name"]]
        if config["disc"]["name"]:
            parts.insert(1, config["disc"]["name"])
        return parts

    def describe(self, config: dict[str, Any]) -> str:
        texture = config.get("model", {}).get("texture", 0.0)
        extra = f", texture {texture:g}" if texture else ""
        return f"{config['encoder']['name']} context encoder ({config['loss']['name']} loss{extra})"

    def parts(self, config: dict[str, Any]) -> list[str]:
        return ["encoder", "decoder", "loss"]

    def geometry(self, model: nn.Module, size: int) -> Geometry:
        multiple = getattr(model, "size_multiple", None)
        return Geometry(size, getattr(model, "box", None), any_size=multiple is not None, multiple=multiple or 0)

    def refuses(self, hole_pixels: int, strategy: str) -> str | None:
        return None

    def filler(self, model: nn.Module, decoding: Decoding, device: torch.device, owner: str) -> Fill:
        return model.inpaint

    def preview_fill(self, model: nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model.inpaint(images, mask)

    def dry_run(self, model: nn.Module, images: torch.Tensor, mask: torch.Tensor) -> None:
        model(images, mask)

    def validate(self, model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
        acc = MetricAccumulator()
        for x, mask in batches:
            acc.update(model.inpaint(x, mask), x, mask)
        metrics = {f"val_{k}": v for k, v in acc.compute().items()}
        return {**metrics, "score": metrics["val_l2"]}

    def evaluation(self) -> NoEvaluation:
        return NoEvaluation()


class DensityFamily:
    """An autoregressive density model: trained on its likelihood, filling the hole pixel by pixel as decoded."""

    task = "density"
    component_group = "density"
    decodes = True
    recalibrates_ema = False
    curve_keys = ("bits_per_dim", "val_bits_per_dim")

    def build_models(self, config: dict[str, Any], registry: Registry, mask: Any) -> Models:
        model = registry.build(
            "density", config["density"]["name"], image_size=image_size(config), **component_args(config["density"])
        )
        return Models(model, None, Likelihood())

    def run_name_parts(self, config: dict[str, Any]) -> list[str]:
        return [config["density"]["name"]]

    def describe(self, config: dict[str, Any]) -> str:
        return f"{config['density']['name']} density model"

    def parts(self, config: dict[str, Any]) -> list[str]:
        return ["density"]

    def geometry(self, model: nn.Module, size: int) -> Geometry:
        return Geometry(size, None, any_size=True)

    def refuses(self, hole_pixels: int, strategy: str) -> str | None:
        if strategy == "original" and hole_pixels > MAX_DENSITY_HOLE:
            return (
                f"a density model fills pixel by pixel, and {hole_pixels} hole pixels at the image's own size "
                f"is more than {MAX_DENSITY_HOLE} sequential steps: use --strategy crop"
            )
        return None

    def filler(self, model: nn.Module, decoding: Decoding, device: torch.device, owner: str) -> Fill:
        """The model's `fill` with this decoding, one random stream for every window it fills; only the options
        its `fill` takes are passed (a plugin written before an option existed keeps working)."""
        generator = torch.Generator(device=device).manual_seed(decoding.seed)

        def fill(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return call_supported(model.fill, images, mask, owner=owner, generator=generator, **decoding.options())

        return fill

    def preview_fill(self, model: nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model.fill(images, mask, mode="greedy")

    def dry_run(self, model: nn.Module, images: torch.Tensor, mask: torch.Tensor) -> None:
        model.nll(images)

    def validate(self, model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
        total, count = 0.0, 0
        for x, _ in batches:
            total += model.nll(x).sum().item()
            count += len(x)
        bpd = bits_per_dim(total / count, x)
        return {"val_bits_per_dim": bpd, "score": bpd}

    def evaluation(self) -> DensityEvaluation:
        return DensityEvaluation()


FAMILIES: dict[str, ModelFamily] = {family.task: family for family in (ContextEncoderFamily(), DensityFamily())}


def family_of(config: dict[str, Any]) -> ModelFamily:
    """The adapter of the family a run config belongs to (its `task`)."""
    try:
        return FAMILIES[config["task"]]
    except KeyError:
        raise UsageError(f"unknown task {config.get('task')!r}: expected one of {', '.join(FAMILIES)}") from None


def build_models(config: dict[str, Any], registry: Registry, mask: Any) -> Models:
    """The model (and objective, discriminator) a run config describes, built by its family."""
    return family_of(config).build_models(config, registry, mask)
