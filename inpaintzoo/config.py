"""Run configuration: Hydra-style `key=value` overrides, checked against factory signatures.

A run config is a plain dict of groups, saved as `config.json` in every run directory::

    {"encoder": {"name": "cnn", "width": 64, ...}, "train": {"epochs": 10, ...}, ...}

Component groups (`encoder=resnet`, `encoder.width=64`) pick a registered component and set its
parameters; their types and defaults come from the factory's signature. Settings groups (`train.*`,
`model.*`) are dataclasses read the same way. There is no second schema to keep in sync.

The dict is what is saved and passed between modules; code that runs a config reads its settings typed:
`TrainSettings.from_json(config["train"])` checks the keys and coerces the values as `resolve_config` does
(one UsageError line for an unknown key or a bad value) and fills in the defaults of keys that an older run
directory or pretrained card lacks; `to_json()` is the dict again.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from inpaintzoo.errors import RunDirError, UsageError
from inpaintzoo.registry import (  # noqa: F401  (coercion lives with the registry; re-exported for callers)
    NONE_WORDS,
    Parameter,
    Registry,
    coerce_arguments,
    coerce_parameters,
    coerce_value,
    nearest,
    signature_parameters,
)

_Settings = TypeVar("_Settings", bound="Settings")


class Settings:
    """A settings group as a typed value (a dataclass); on disk and in the run config, a JSON object of its fields."""

    #: the config group these settings are read from (`train`, `model`): the prefix of their keys in errors
    GROUP: ClassVar[str]

    @classmethod
    def from_json(cls: type[_Settings], data: Mapping[str, Any] | None = None) -> _Settings:
        """The settings a config group holds: keys missing from `data` (an older config) take their defaults.

        Values are coerced to the declared types (CLI strings as well as JSON values); an unknown key or a
        value of the wrong type is one UsageError line, the same one `resolve_config` gives.
        """
        return cls(**coerce_parameters(settings_parameters(cls), dict(data or {}), cls.GROUP))

    def to_json(self) -> dict[str, Any]:
        """The settings as the config group's dict (every field, in declaration order): what config.json holds."""
        return dataclasses.asdict(self)


@dataclass
class TrainSettings(Settings):
    """How long and how to train (`train.*`)."""

    GROUP: ClassVar[str] = "train"

    epochs: int = 10
    max_steps: int = 0  # stop after this many optimiser steps in total (0: no limit)
    max_minutes: float = 0.0  # stop after this much training time in this process (0: no limit)
    batch_size: int = 64  # per process
    lr: float = 5e-4
    disc_lr: float = 0.0  # discriminator learning rate (0: same as lr)
    lr_decay: float = 0.97  # exponential decay of the learning rate, per epoch
    cooldown_steps: int = 0  # the last N steps before train.max_steps take the lr linearly down to 0 (0: off)
    ema: float = 0.999  # decay of the generator's moving average (0: off)
    bn_batches: int = 16  # training batches that measure the average's batch-norm statistics (0: copy live)
    val_fraction: float = 0.05  # held-out slice of the training split for early stopping
    patience: int = 0  # stop after this many epochs without a better validation score (0: off)
    limit: int = 0  # use at most this many training images (0: all)
    augment: bool = False  # the study's colour jitter and blur
    hflip: bool = False  # mirror a random half of each batch left to right
    shift: int = 0  # move each training image by up to this many pixels in x and y (reflected border)
    seed: int = 0
    max_rollbacks: int = 3  # times a diverging run goes back to its last good checkpoint (halving lr)
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    out: str = "runs"  # parent folder of run directories
    name: str = ""  # run directory name (empty: derived from the components and a timestamp)
    grid_every: int = 1  # write a PNG grid every N epochs (0: only at the end)
    tensorboard: bool = False  # also write scalars and grids as TensorBoard events in the run directory
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # bf16: autocast (AMX on CPU); fp16: CUDA, loss-scaled
    channels_last: bool = False  # NHWC activations and weights (faster convolutions on oneDNN and cuDNN)
    init_from: str = ""  # a run directory whose weights (its moving average) the model starts from: fine-tuning


@dataclass
class ModelSettings(Settings):
    """How a context encoder is wired (`model.*`)."""

    GROUP: ClassVar[str] = "model"

    overlap: int = 4  # px of context the predicted patch overlaps on each side (0: no overlap trick)
    overlap_weight: float = 20.0  # weight of the overlap's L2 against the hole's
    judge: Literal["image", "patch", "local"] = "image"  # what the discriminator sees (local: a window round the hole)
    mirror: bool = False  # inpaint the left-right mirror image too and average the two fills
    residual: bool = False  # predict a correction of the hole-filled input (with mask.fill=telea) instead of pixels
    texture: float = 0.0  # inpainting tops the fill's detail up to this share of the context's (0: none; photo models)


#: config group -> (registry kind, default component name; None: off unless chosen)
COMPONENT_GROUPS: dict[str, tuple[str, str | None]] = {
    "data": ("dataset", "samples"),
    "mask": ("mask", "center"),
    "encoder": ("encoder", "cnn"),
    "decoder": ("decoder", "deconv"),
    "disc": ("discriminator", None),
    "loss": ("loss", "l2"),
    "density": ("density", None),
}
SETTINGS_GROUPS: dict[str, type[Settings]] = {"train": TrainSettings, "model": ModelSettings}
ALIASES = {"discriminator": "disc", "dataset": "data"}
#: groups that only a context encoder uses (dropped when `density=` is chosen)
CONTEXT_ENCODER_GROUPS = ("encoder", "decoder", "disc", "loss", "model")


def settings_parameters(settings_type: type) -> tuple[Parameter, ...]:
    return signature_parameters(settings_type)


def parse_overrides(overrides: Iterable[str]) -> list[tuple[str, str | None, str]]:
    """Split `group=value` / `group.key=value` into (group, key or None, raw value)."""
    parsed = []
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"override {item!r} is not KEY=VALUE (e.g. encoder=resnet or train.epochs=5)")
        key, value = item.split("=", 1)
        key = key.strip().lstrip("+")
        group, _, sub = key.partition(".")
        group = ALIASES.get(group, group)
        known = list(COMPONENT_GROUPS) + list(SETTINGS_GROUPS)
        if group not in known:
            raise UsageError(f"unknown key {key!r}{nearest(group, known + list(ALIASES))}")
        if not sub and group in SETTINGS_GROUPS:
            raise UsageError(f"{group} is a settings group: set its keys, e.g. {group}.<key>=VALUE")
        if "." in sub:
            raise UsageError(f"key {key!r} is nested too deeply: use GROUP.KEY=VALUE")
        parsed.append((group, sub or None, value.strip()))
    return parsed


def resolve_config(
    overrides: Iterable[str] = (),
    registry: Registry | None = None,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The complete, validated run config: defaults, then `base`, then `overrides` (CLI strings)."""
    if registry is None:
        from inpaintzoo.plugins import default_registry

        registry = default_registry()
    names: dict[str, str | None] = {g: d for g, (_, d) in COMPONENT_GROUPS.items()}
    values: dict[str, dict[str, Any]] = {g: {} for g in [*COMPONENT_GROUPS, *SETTINGS_GROUPS]}
    for group, section in (base or {}).items():
        if group in ("task", PROVENANCE_KEY):
            continue
        section = dict(section or {})
        if group in COMPONENT_GROUPS:
            names[group] = section.pop("name", names[group])
        values.setdefault(group, {}).update(section)
    parsed = parse_overrides(overrides)
    # choices first, then keys (as Hydra does): `loss.alpha=0.5 loss=gan` sets gan's alpha, whatever the order
    for group, key, raw in parsed:
        if key is None:
            chosen = None if raw.lower() in NONE_WORDS else raw
            if chosen != names[group]:
                values[group] = {}  # parameters of the base config's choice do not carry over
            names[group] = chosen
    for group, key, raw in parsed:
        if key is not None:
            values[group][key] = raw

    task = "density" if names["density"] else "context-encoder"
    config: dict[str, Any] = {"task": task}
    for group, (kind, _) in COMPONENT_GROUPS.items():
        if task == "density" and group in CONTEXT_ENCODER_GROUPS:
            continue
        name = names[group]
        if name is None and COMPONENT_GROUPS[group][1] is not None:  # a group every context encoder needs
            choices = ", ".join(c.name for c in registry.list(kind))
            raise UsageError(f"{group}= needs a name: choose one of {choices} (inpaintzoo list {kind})")
        if name is None:
            if values[group]:
                raise UsageError(f"{group}.{next(iter(values[group]))} is set but no {group} is chosen ({group}=NAME)")
            if group != "density":
                config[group] = {"name": None}
            continue
        component = registry.get(kind, name)
        chosen = f"{group}={name}"
        params = {**component.defaults(), **coerce_parameters(component.parameters, values[group], group, chosen)}
        config[group] = {"name": name, **params}
    for group, settings_type in SETTINGS_GROUPS.items():
        if task == "density" and group in CONTEXT_ENCODER_GROUPS:
            if values[group]:
                raise UsageError(f"{group}.* settings apply to context encoders, not to density={names['density']}")
            continue
        config[group] = settings_type.from_json(values[group]).to_json()
    if task == "density":
        ignored = [g for g in CONTEXT_ENCODER_GROUPS if g in COMPONENT_GROUPS and values.get(g)]
        if ignored:
            raise UsageError(f"{ignored[0]}.* does not apply to density models; drop it or drop density=")
    check_applicable(parsed, names)  # after the types: a misspelt value is named as such first
    validate(config)
    return config


def check_applicable(parsed: list[tuple[str, str | None, str]], names: Mapping[str, str | None]) -> None:
    """No silent drops: an override that the chosen model would ignore is an error saying why.

    Only what the user typed counts (a resumed run's saved config holds every key, used or not).
    """
    density = names["density"]
    for group, key, raw in parsed:
        if density and group in CONTEXT_ENCODER_GROUPS and group in COMPONENT_GROUPS and key is None:
            if raw.lower() not in NONE_WORDS:
                raise UsageError(
                    f"{group}={raw} does not apply to density={density}: a density model fills the hole pixel by "
                    f"pixel, without an encoder, decoder, discriminator or loss; drop {group}= or density="
                )
        if density or names["disc"] is not None:
            continue
        if (group, key) in (("model", "judge"), ("train", "disc_lr")):
            raise UsageError(
                f"{group}.{key}={raw} applies to a discriminator, and none is chosen: add disc=NAME with "
                f"loss=gan, wgan or wgan-gp, or drop {group}.{key}"
            )


#: config.json key of the plugin and version each component came from (written by the trainer)
PROVENANCE_KEY = "plugins"


def provenance(config: Mapping[str, Any], registry: Registry) -> dict[str, dict[str, str]]:
    """Group -> {kind, name, plugin, version} for every component the config chose."""
    out = {}
    for group, (kind, _) in COMPONENT_GROUPS.items():
        name = (config.get(group) or {}).get("name")
        if name is not None and (kind, name) in registry:
            component = registry.get(kind, name)
            out[group] = {"kind": kind, "name": name, "plugin": component.plugin, "version": component.version}
    return out


def check_plugins(config: Mapping[str, Any], registry: Registry) -> None:
    """Name the missing plugin when a saved run's component is no longer registered."""
    for record in (config.get(PROVENANCE_KEY) or {}).values():
        kind, name, plugin = record.get("kind"), record.get("name"), record.get("plugin", "?")
        if kind is None or name is None or (kind, name) in registry:
            continue
        if plugin in registry.failures:
            why = f"which failed to load: {registry.failures[plugin]}"
        elif plugin in registry.plugin_versions:
            why = f"which no longer provides it (version {registry.plugin_versions[plugin] or '?'} is installed)"
        else:
            version = f" {record['version']}" if record.get("version") else ""
            why = f"which is not installed (the run was trained with {plugin}{version}; install or enable it)"
        raise UsageError(f"{kind} {name!r} comes from plugin {plugin!r}, {why}")


#: (lowest, highest, lowest allowed itself) of each numeric setting; None: no bound on that side
SETTING_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "train.epochs": (1, None, True),
    "train.max_steps": (0, None, True),
    "train.max_minutes": (0, None, True),
    "train.batch_size": (1, None, True),
    "train.lr": (0, None, False),
    "train.disc_lr": (0, None, True),
    "train.lr_decay": (0, 1, False),
    "train.cooldown_steps": (0, None, True),
    "train.ema": (0, 1, True),  # below 1: a decay of 1 never moves the average
    "train.bn_batches": (0, None, True),
    "train.val_fraction": (0, 1, True),
    "train.patience": (0, None, True),
    "train.limit": (0, None, True),
    "train.shift": (0, None, True),
    "train.seed": (0, 2**32 - 1, True),  # the generators are seeded with seed * 1_000_003 + epoch in 64 bits
    "train.max_rollbacks": (0, None, True),
    "train.grid_every": (0, None, True),
    "model.overlap": (0, None, True),
    "model.overlap_weight": (0, None, True),
}
#: settings whose upper bound is itself allowed (lr_decay=1: no decay, seed=2**32-1)
INCLUSIVE_TOP = {"train.lr_decay", "train.seed"}
#: the largest integer any setting or parameter may hold: tensors index and seed with 64-bit integers
INT_LIMIT = 2**63 - 1


def _numbers(config: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    """Every number in the config (component parameters and settings, list items included) with its key."""
    for group, section in config.items():
        if not isinstance(section, Mapping):
            continue
        for key, value in section.items():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    yield f"{group}.{key}", item


def _describe_range(low: float | None, high: float | None, low_ok: bool, high_ok: bool) -> str:
    if high is None and low == 0:
        return "0 or more" if low_ok else "positive"
    if high is None:
        return f"at least {low}" if low_ok else f"above {low}"
    return f"in {'[' if low_ok else '('}{low}, {high}{']' if high_ok else ')'}"


def validate(config: Mapping[str, Any]) -> None:
    """Range checks that types alone cannot express, for every number the config holds.

    Every number must be finite (NaN slips through `<` comparisons and poisons training) and fit in 64
    bits; each setting must lie in its range in `SETTING_RANGES`. A component's own parameters are
    range-checked by its factory, which `check_buildable` runs before any directory is made.
    """
    for key, value in _numbers(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{key} must be a finite number, got {value}")
        if abs(value) > INT_LIMIT:
            raise UsageError(f"{key}={value:.3g} is too large: the most any setting may hold is {INT_LIMIT:.3g}")
    for key, (low, high, low_ok) in SETTING_RANGES.items():
        group, _, name = key.partition(".")
        section = config.get(group)
        if not isinstance(section, Mapping) or name not in section:
            continue
        value = section[name]
        high_ok = key in INCLUSIVE_TOP
        too_low = low is not None and (value < low or (value == low and not low_ok))
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if too_low or too_high:
            raise UsageError(f"{key} must be {_describe_range(low, high, low_ok, high_ok)}, got {value}")
    train = config.get("train")
    if isinstance(train, Mapping) and train.get("cooldown_steps"):
        cooldown, last = train["cooldown_steps"], train.get("max_steps", 0)
        if not last:
            raise UsageError(
                f"train.cooldown_steps={cooldown} needs train.max_steps: the cooldown ends the run at that step"
            )
        if cooldown > last:
            raise UsageError(f"train.cooldown_steps={cooldown} is more than train.max_steps={last}: lower it")


def component_args(section: Mapping[str, Any]) -> dict[str, Any]:
    """A config group's parameters without its `name`."""
    return {k: v for k, v in section.items() if k != "name"}


def save_config(config: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")


def load_config(path: Path) -> dict[str, Any]:
    """A run's saved config; a file that is not a JSON object is a RunDirError naming it."""
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunDirError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}): it is not a config `train` wrote"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(config, dict) or not all(isinstance(v, (dict, str)) for v in config.values()):
        raise RunDirError(f"{path} holds a JSON {type(config).__name__}, not a run config (an object of groups)")
    if not isinstance(config.get("task"), str) or not isinstance(config.get("train"), dict):
        raise RunDirError(f"{path} has no 'task' and 'train' entries: it is not a config `train` wrote")
    return config


def run_config(overrides: Iterable[str], registry: Registry, resume: Path | None = None) -> dict[str, Any]:
    """The config `train` runs: the overrides resolved, on top of the run's own config where it resumes one."""
    base = None
    if resume is not None:
        if not (resume / "config.json").is_file():
            raise UsageError(f"{resume} is not a run directory (no config.json): give a directory `train` wrote")
        base = load_config(resume / "config.json")
        check_plugins(base, registry)
    return resolve_config(list(overrides), registry, base=base)
