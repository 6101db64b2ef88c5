"""What `train` checks before it creates a directory or starts work; `inpaintzoo config` runs the same checks.

A config that types and ranges allow can still be impossible: a factory refuses its parameters, the
model or its batch would not fit in memory, `train.out` lies under a regular file, a batch-norm model
gets batches of one. Each is one line here, before anything is written, rather than a traceback (or
the machine swapping) minutes later.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintzoo.config import TrainSettings, validate
from inpaintzoo.engine.build import build_mask, image_size
from inpaintzoo.errors import InpaintzooError, UsageError
from inpaintzoo.families import Models, build_models, family_of
from inpaintzoo.registry import Registry

GIB = 1024**3
#: bytes of training state per weight byte: the weights, their gradients and Adam's two moments
STATE_PER_WEIGHT = 4
#: training bytes per byte of leaf-module outputs: the sum counts in-place and view outputs as new
#: memory, which roughly pays for the gradients (measured: 794 MB estimated, 722 MB peak for cnn at batch 256)
TRAINING_PER_ACTIVATION = 1


class ClampedSettingWarning(UserWarning):
    """A setting larger than the data allows was lowered to what the data allows."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_out_dir(out: str, setting: str = "train.out") -> None:
    """`out` is a folder (or can become one) that this user may write into."""
    path = Path(out).expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"{setting}={out} cannot be a folder: {probe} is a file")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{setting}={out} is not writable: {probe} does not let you create files")


def build_checked(config: dict[str, Any], registry: Registry) -> Models | None:
    """The config's models built on the `meta` device (no memory used), or None where a factory cannot.

    A factory that fails with anything but an inpaintzoo error is built once more for real, which tells
    a limitation of the meta device (None: no estimate) from parameters the factory refuses (a UsageError).
    """
    try:
        with torch.device("meta"):
            return build_models(config, registry, build_mask(config, registry))
    except InpaintzooError:
        raise
    except Exception:  # noqa: BLE001 - retried for real just below
        pass
    try:
        build_models(config, registry, build_mask(config, registry))
    except InpaintzooError:
        raise
    except Exception as exc:  # noqa: BLE001 - a factory's own complaint, rendered as one line
        if isinstance(exc, MemoryError) or "allocate" in str(exc) or "overflow" in str(exc):
            raise UsageError(
                f"the model of this config is too large for this machine ({type(exc).__name__}: a tensor of "
                "more bytes than it has): lower its width or depth (inpaintzoo config shows them)"
            ) from None
        raise UsageError(f"the model of this config cannot be built: {type(exc).__name__}: {first_line(exc)}") from None
    return None


def weight_bytes(module: nn.Module | None) -> int:
    if module is None:
        return 0
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def activation_bytes_per_image(models: Models, config: dict[str, Any], registry: Registry) -> int | None:
    """Bytes of every leaf module's output for one image, measured by a forward pass on `meta` tensors."""
    size = image_size(config)
    total = 0

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        for tensor in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    model = models.model
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    images = torch.zeros(2, 3, size, size, device="meta")  # two: batch norm refuses one
    try:
        model.train()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # the run's random streams stay untouched
            mask = build_mask(config, registry)(2, generator=torch.Generator().manual_seed(0)).to("meta")
            family_of(config).dry_run(model, images, mask)
    except Exception:  # noqa: BLE001 - a model the meta device cannot run: no estimate
        return None
    finally:
        for handle in handles:
            handle.remove()
    return total // 2 + images[0].numel() * 4


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this run on `device`: MemAvailable on the CPU, free memory on a GPU."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001
            return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    models: Models | None,
    config: dict[str, Any],
    registry: Registry,
    device: torch.device,
    batch_size: int | None,
) -> None:
    """Refuse a run whose weights and optimiser state, or its batches, cannot fit in `device`'s free memory.

    A lower bound (what every training step must hold), so a run it lets through may still be tight;
    one it refuses cannot run. Without `batch_size` only the weights are checked.
    """
    if models is None:
        return
    free = available_memory(device)
    if free is None:
        return
    copies = STATE_PER_WEIGHT + (1 if TrainSettings.from_json(config["train"]).ema > 0 else 0)
    state = copies * weight_bytes(models.model) + STATE_PER_WEIGHT * weight_bytes(models.discriminator)
    if state > free:
        raise UsageError(
            f"the model's weights and optimiser state need {state / GIB:.1f} GiB but {device} has "
            f"{free / GIB:.1f} GiB free: lower its width or depth (inpaintzoo config shows them)"
        )
    if batch_size is None:
        return
    per_image = activation_bytes_per_image(models, config, registry)
    if per_image is None:
        return
    batches = TRAINING_PER_ACTIVATION * per_image * batch_size
    if state + batches > free:
        fits = int((free - state) // (TRAINING_PER_ACTIVATION * per_image))
        advice = f"use train.batch_size={fits} or less" if fits >= 2 else "lower data.image_size or the model's width"
        raise UsageError(
            f"train.batch_size={batch_size} needs about {(state + batches) / GIB:.1f} GiB but {device} has "
            f"{free / GIB:.1f} GiB free: {advice}"
        )


def effective_batch_size(
    settings: TrainSettings,
    n_train: int,
    world: int,
    models: Models,
    fits: Callable[[int], None] = lambda batch: None,
) -> int:
    """`train.batch_size`, lowered (with a warning) to what `n_train` images shared by `world` processes allow.

    Refused outright where the result cannot train: no image per process, a batch-norm model with
    batches of one (its statistics need two images), or a batch `fits` refuses (before any warning, so
    a refusal stays one line).
    """
    wanted = settings.batch_size
    most = n_train // world
    if most < 1:
        raise UsageError(f"the training split has {n_train} image(s), fewer than the {world} processes")
    batch = min(wanted, most)
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    modules = [m for m in (models.model, models.discriminator) if m is not None]
    if batch < 2 and any(isinstance(layer, norms) for m in modules for layer in m.modules()):
        why = f"the training split has {n_train} image(s)" if wanted > most else f"train.batch_size={wanted}"
        raise UsageError(f"{why}: this model uses batch norm, which needs at least 2 images per batch")
    fits(batch)
    if batch < wanted:
        warnings.warn(
            f"train.batch_size={wanted} is more than the {n_train} training images allow"
            f"{f' across {world} processes' if world > 1 else ''}: training with train.batch_size={batch}",
            ClampedSettingWarning,
            stacklevel=2,
        )
    return batch


def check_config(
    config: dict[str, Any],
    registry: Registry,
    device: torch.device | None = None,
    new_run: bool = True,
) -> Models | None:
    """Every check `train` makes before it reads data: device, output folder, buildable models, their memory.

    Returns the models built on `meta` (None where the meta device cannot build them), for
    `check_memory` once the batch size is known.
    """
    from inpaintzoo.engine.build import resolve_device

    train = TrainSettings.from_json(config["train"])
    if device is None:
        device = resolve_device(train.device)
    if new_run:
        check_out_dir(train.out)
        name = train.name
        if name and (Path(train.out).expanduser() / name).is_file():
            raise UsageError(f"train.name={name}: {Path(train.out) / name} is a file, not a run folder")
    validate(config)  # resolve_config did; a config dict made by hand may not have been
    models = build_checked(config, registry)
    check_memory(models, config, registry, device, None)
    return models
