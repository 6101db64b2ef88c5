"""Turn a resolved run config into live objects through the registry.

The datasets, masks and devices every family shares; how each family's models are built from their parts (the
encoder told the image size, the decoder the encoder's output shape, the critic what it judges) is in
`inpaintzoo.families`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from inpaintzoo.config import TrainSettings, component_args
from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Registry


def image_size(config: dict[str, Any]) -> int:
    return int(config["data"].get("image_size", 32))


def build_dataset(config: dict[str, Any], split: str, registry: Registry) -> Any:
    return registry.build("dataset", config["data"]["name"], split=split, **component_args(config["data"]))


def holdout(images: torch.Tensor, train: TrainSettings | Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, validation images) of a run: `train.limit`, then the `train.val_fraction` tail.

    `train` is the run's settings, or its config's `train` group. With no validation fraction, the last 64
    training images stand in (so early stopping still has a score). The trainer and `eval --split val` both
    cut here, so they see the same slice.
    """
    if not isinstance(train, TrainSettings):
        train = TrainSettings.from_json(train)
    if train.limit:
        images = images[: train.limit]
    n_val = int(len(images) * train.val_fraction)
    if len(images) - n_val < 1:
        raise UsageError(f"the training split has only {len(images)} images: lower train.val_fraction")
    val = images[len(images) - n_val :] if n_val else images[-min(len(images), 64) :]
    return images[: len(images) - n_val], val


def build_mask(config: dict[str, Any], registry: Registry) -> Any:
    return registry.build(
        "mask", config["mask"]["name"], image_size=image_size(config), **component_args(config["mask"])
    )


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
