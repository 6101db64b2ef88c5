"""Turn a resolved run config into live objects through the registry.

This is the only place that knows how the kinds plug into each other: the encoder is told the image
size, the decoder the encoder's output shape and the patch size, the discriminator what it judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from inpaintzoo.config import component_args
from inpaintzoo.context_encoder import ContextEncoder, patch_box
from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Registry

IN_CHANNELS = 4  # RGB with the hole filled, plus the mask channel


def image_size(config: dict[str, Any]) -> int:
    return int(config["data"].get("image_size", 32))


def build_dataset(config: dict[str, Any], split: str, registry: Registry) -> Any:
    return registry.build("dataset", config["data"]["name"], split=split, **component_args(config["data"]))


def holdout(images: torch.Tensor, train: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, validation images) of a run: `train.limit`, then the `train.val_fraction` tail.

    With no validation fraction, the last 64 training images stand in (so early stopping still has a
    score). The trainer and `eval --split val` both cut here, so they see the same slice.
    """
    if train.get("limit"):
        images = images[: train["limit"]]
    n_val = int(len(images) * train["val_fraction"])
    if len(images) - n_val < 1:
        raise UsageError(f"the training split has only {len(images)} images: lower train.val_fraction")
    val = images[len(images) - n_val :] if n_val else images[-min(len(images), 64) :]
    return images[: len(images) - n_val], val


def build_mask(config: dict[str, Any], registry: Registry) -> Any:
    return registry.build(
        "mask", config["mask"]["name"], image_size=image_size(config), **component_args(config["mask"])
    )


@dataclass
class Models:
    """What a run trains: the inpainting model, and for adversarial losses the discriminator and objective."""

    model: nn.Module
    discriminator: nn.Module | None = None
    objective: Any = None


def build_models(config: dict[str, Any], registry: Registry, mask: Any) -> Models:
    size = image_size(config)
    if config["task"] == "density":
        return Models(
            registry.build("density", config["density"]["name"], image_size=size, **component_args(config["density"]))
        )
    settings = config["model"]
    box = getattr(mask, "box", None)
    if box is not None and settings["overlap"] * 2 + box[2] > size:
        raise UsageError(
            f"model.overlap={settings['overlap']} is larger than the context around the {box[2]}x{box[3]} hole "
            f"in a {size}x{size} image; lower model.overlap"
        )
    encoder = registry.build(
        "encoder",
        config["encoder"]["name"],
        in_channels=IN_CHANNELS,
        image_size=size,
        **component_args(config["encoder"]),
    )
    decoder = registry.build(
        "decoder",
        config["decoder"]["name"],
        in_channels=encoder.out_channels,
        in_size=encoder.out_size,
        patch_size=patch_box(size, box, settings["overlap"])[2],
        **component_args(config["decoder"]),
    )
    model = ContextEncoder(
        encoder,
        decoder,
        size,
        box,
        settings["overlap"],
        settings["overlap_weight"],
        getattr(mask, "fill", "zeros"),
        mirror=settings.get("mirror", False),  # runs written before the setting existed
        residual=settings.get("residual", False),
    )
    objective = registry.build("loss", config["loss"]["name"], **component_args(config["loss"]))
    discriminator = None
    if getattr(objective, "uses_discriminator", False):
        if config["disc"]["name"] is None:
            raise UsageError(f"loss={config['loss']['name']} needs a discriminator: add disc=NAME (e.g. disc=dcgan)")
        judged = model.judged_size(settings["judge"])
        discriminator = registry.build(
            "discriminator", config["disc"]["name"], image_size=judged, **component_args(config["disc"])
        )
    elif config["disc"]["name"] is not None:
        raise UsageError(
            f"disc={config['disc']['name']} is set but loss={config['loss']['name']} uses no "
            "discriminator: choose loss=gan, loss=wgan or loss=wgan-gp, or drop disc="
        )
    return Models(model, discriminator, objective)


def resolve_device(name: str, setting: str = "train.device") -> torch.device:
    """`auto`, `cpu`, `cuda` or `cuda:N` as a device that exists here; `setting` names the option in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    option = f"{setting} {name}" if setting.startswith("-") else f"{setting}={name}"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"{option} is not a device: use auto, cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"{option} cannot train or run a model here: use auto, cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        cpu = f"{setting} cpu" if setting.startswith("-") else f"{setting}=cpu"
        raise UsageError(f"{option} but no CUDA device is available: use {cpu}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"{option}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return device
