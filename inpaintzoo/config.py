"""Run configuration: Hydra-style `key=value` overrides, checked against factory signatures.

A run config is a plain dict of groups, saved as `config.json` in every run directory::

    {"encoder": {"name": "cnn", "width": 64, ...}, "train": {"epochs": 10, ...}, ...}

Component groups (`encoder=resnet`, `encoder.width=64`) pick a registered component and set its
parameters; their types and defaults come from the factory's signature. Settings groups (`train.*`,
`model.*`) are dataclasses read the same way. There is no second schema to keep in sync.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Component, Parameter, Registry, nearest, signature_parameters


@dataclass
class TrainSettings:
    """How long and how to train (`train.*`)."""

    epochs: int = 10
    max_steps: int = 0  # stop after this many optimiser steps in total (0: no limit)
    max_minutes: float = 0.0  # stop after this much training time in this process (0: no limit)
    batch_size: int = 64  # per process
    lr: float = 5e-4
    disc_lr: float = 0.0  # discriminator learning rate (0: same as lr)
    lr_decay: float = 0.97  # exponential decay of the learning rate, per epoch
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


@dataclass
class ModelSettings:
    """How a context encoder is wired (`model.*`)."""

    overlap: int = 4  # px of context the predicted patch overlaps on each side (0: no overlap trick)
    overlap_weight: float = 20.0  # weight of the overlap's L2 against the hole's
    judge: Literal["image", "patch", "local"] = "image"  # what the discriminator sees (local: a window round the hole)
    mirror: bool = False  # inpaint the left-right mirror image too and average the two fills


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
SETTINGS_GROUPS: dict[str, type] = {"train": TrainSettings, "model": ModelSettings}
ALIASES = {"discriminator": "disc", "dataset": "data"}
#: groups that only a context encoder uses (dropped when `density=` is chosen)
CONTEXT_ENCODER_GROUPS = ("encoder", "decoder", "disc", "loss", "model")
NONE_WORDS = {"none", "null", "off", "~", ""}


def _type_name(annotation: Any) -> str:
    return Parameter("_", annotation).type_name


def coerce_value(value: Any, annotation: Any, key: str) -> Any:
    """Convert `value` (a CLI string or a Python value) to `annotation`, or raise a UsageError."""
    if annotation is inspect.Parameter.empty or annotation is Any:  # unannotated: keep as given
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in NONE_WORDS)):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce_value(value, arg, key)
            except UsageError:
                continue
        raise UsageError(f"{key}: expected {_type_name(annotation)}, got {value!r}")
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise UsageError(f"{key}: expected one of {', '.join(map(str, args))}, got {value!r}")
    if origin in (tuple, list) or annotation in (tuple, list):
        items = value
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            items = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(items, (list, tuple)):
            raise UsageError(f"{key}: expected a list like [1,2], got {value!r}")
        inner = args[0] if args else Any
        return (tuple if (origin or annotation) is tuple else list)(coerce_value(v, inner, key) for v in items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "yes", "on", "1"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "no", "off", "0"}:
            return False
        raise UsageError(f"{key}: expected bool (true/false), got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise UsageError(f"{key}: expected int, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise UsageError(f"{key}: expected int, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise UsageError(f"{key}: expected float, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{key}: expected float, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UsageError(f"{key}: expected str, got {value!r}")
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise UsageError(f"{key}: cannot convert {value!r} to {_type_name(annotation)}")


def coerce_parameters(
    parameters: Iterable[Parameter], values: Mapping[str, Any], where: str, chosen: str = ""
) -> dict[str, Any]:
    """Check names against `parameters` and convert each value to its declared type.

    `chosen` names the component whose parameters these are (`loss=l2`), for the error of a key it lacks.
    """
    by_name = {p.name: p for p in parameters}
    out = {}
    for name, value in values.items():
        param = by_name.get(name)
        if param is None:
            of = f" of {chosen}" if chosen else ""
            raise UsageError(f"unknown key {where}.{name}{of}{nearest(name, list(by_name))}")
        out[name] = coerce_value(value, param.annotation, f"{where}.{name}")
    missing = [p.name for p in by_name.values() if p.required and p.name not in out]
    if missing:
        raise UsageError(f"{where} needs {', '.join(f'{where}.{m}=...' for m in missing)}")
    return out


def coerce_arguments(component: Component, values: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce a component's user-facing arguments; contract arguments pass through unchanged."""
    user = {k: v for k, v in values.items() if component.parameter(k) is not None}
    contract = {k: v for k, v in values.items() if k not in user}
    from inpaintzoo.registry import CONTRACT_ARGS

    unknown = [k for k in contract if k not in CONTRACT_ARGS[component.kind]]
    if unknown:
        names = [p.name for p in component.parameters]
        raise UsageError(
            f"{component.kind} {component.name!r} has no parameter {unknown[0]!r}{nearest(unknown[0], names)}"
        )
    return {**contract, **coerce_parameters(component.parameters, user, component.name)}


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
        if group == "task":
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
        params = settings_parameters(settings_type)
        coerced = coerce_parameters(params, values[group], group)
        config[group] = dataclasses.asdict(settings_type(**coerced))
    if task == "density":
        ignored = [g for g in CONTEXT_ENCODER_GROUPS if g in COMPONENT_GROUPS and values.get(g)]
        if ignored:
            raise UsageError(f"{ignored[0]}.* does not apply to density models; drop it or drop density=")
    validate(config)
    return config


def validate(config: Mapping[str, Any]) -> None:
    """Range checks that types alone cannot express."""
    train = config["train"]
    for key in ("epochs", "batch_size"):
        if train[key] < 1:
            raise UsageError(f"train.{key} must be at least 1, got {train[key]}")
    for key in ("max_steps", "limit", "patience", "grid_every", "max_rollbacks", "bn_batches", "shift"):
        if train[key] < 0:
            raise UsageError(f"train.{key} must be 0 or more, got {train[key]}")
    if train["max_minutes"] < 0:
        raise UsageError(f"train.max_minutes must be 0 or more, got {train['max_minutes']}")
    if train["lr"] <= 0:
        raise UsageError(f"train.lr must be positive, got {train['lr']}")
    if not 0 <= train["ema"] < 1:
        raise UsageError(f"train.ema must be in [0, 1), got {train['ema']}")
    if not 0 <= train["val_fraction"] < 1:
        raise UsageError(f"train.val_fraction must be in [0, 1), got {train['val_fraction']}")
    if not 0 < train["lr_decay"] <= 1:
        raise UsageError(f"train.lr_decay must be in (0, 1], got {train['lr_decay']}")
    model = config.get("model")
    if model is not None:
        if model["overlap"] < 0:
            raise UsageError(f"model.overlap must be 0 or more, got {model['overlap']}")
        if model["overlap_weight"] < 0:
            raise UsageError(f"model.overlap_weight must be 0 or more, got {model['overlap_weight']}")


def component_args(section: Mapping[str, Any]) -> dict[str, Any]:
    """A config group's parameters without its `name`."""
    return {k: v for k, v in section.items() if k != "name"}


def save_config(config: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")


def load_config(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
