"""Registered entries as models: look an entry up by name, read its weights, build it as a `Run`.

An entry reaches the loader through the registry (kind `pretrained`), so the loader reads only its fields
(`name`, `config`, `weights`); the card module, whose entries load themselves when called, sits above this one.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from inpaintzoo.classical import CLASSICAL, ClassicalModel
from inpaintzoo.config import check_plugins
from inpaintzoo.engine.build import build_mask, resolve_device
from inpaintzoo.engine.checkpoint import load_module_state
from inpaintzoo.errors import DataError, RunDirError
from inpaintzoo.families import build_models
from inpaintzoo.hub.cache import weights_path
from inpaintzoo.plugins import default_registry
from inpaintzoo.registry import Registry
from inpaintzoo.runs import Run

if TYPE_CHECKING:
    from inpaintzoo.hub.card import PretrainedEntry

#: the registry kind of pretrained entries
KIND = "pretrained"


def list_pretrained(pattern: str = "*", registry: Registry | None = None) -> list[PretrainedEntry]:
    """Registered entries whose name matches a glob pattern, sorted by name."""
    registry = registry or default_registry()
    return [c.factory for c in registry.list(KIND) if fnmatch.fnmatchcase(c.name, pattern)]


def get_entry(name: str, registry: Registry | None = None) -> PretrainedEntry:
    """The registered entry `name` (an unknown name is a one-line error naming the nearest ones)."""
    return (registry or default_registry()).get(KIND, name).factory


#: median sharpness (fill's gradient energy over the truth's in the hole) from which a fill shows the photo's
#: texture rather than a smear: a default photo entry must reach it on every mask kind of the photo benchmark
TEXTURED = 0.6


def default_model(registry: Registry | None = None) -> str:
    """The model `inpaint` uses when none is named: among the photo entries (trained on `data=photos`), those whose
    fills are textured (median sharpness >= `TEXTURED` on every mask kind of the photo benchmark their card
    records), else all of them, the one with the best mean hole PSNR; OpenCV's Telea fill where no photo entry is
    installed."""
    photo = [e for e in list_pretrained(registry=registry) if e.config.get("data", {}).get("name") == "photos"]
    if not photo:
        return "telea"

    def textured(entry: PretrainedEntry) -> bool:
        kinds = entry.card.get("photo_benchmark", {}).get("kinds", {})
        return bool(kinds) and all(row.get("sharpness", 0.0) >= TEXTURED for row in kinds.values())

    candidates = [e for e in photo if textured(e)] or photo
    return max(candidates, key=lambda e: (float(e.card.get("photo_benchmark", {}).get("mean_psnr", 0.0)), e.name)).name


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, floats widened to float32 (the precision every model computes in)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"cannot read weights {path}: {exc}") from None
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}


def load_pretrained(
    name: str | PretrainedEntry,
    device: str = "auto",
    registry: Registry | None = None,
    progress: bool = True,
) -> Run:
    """A registered entry (by name) as a `Run` without a run directory, on `device`; a classical fill's name
    (`telea`) gives a `ClassicalModel`, which commands use as they use a `Run`."""
    if isinstance(name, str) and name in CLASSICAL:
        return ClassicalModel(name)  # type: ignore[return-value]  # the same face as a Run where commands use it
    registry = registry or default_registry()
    entry = get_entry(name, registry) if isinstance(name, str) else name
    config = entry.config
    check_plugins(config, registry)  # "decoder 'x' comes from plugin 'y', which is not installed"
    mask = build_mask(config, registry)
    model = build_models(config, registry, mask).model
    state = load_state(weights_path(entry, progress=progress))
    try:
        load_module_state(model, state, "model")
    except RunDirError as exc:
        raise DataError(f"pretrained {entry.name!r}: {exc}") from None
    dev = resolve_device(device)
    return Run(None, config, model.to(dev).eval(), mask, dev, registry, pretrained_name=entry.name)
