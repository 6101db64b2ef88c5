"""The component registry: kind -> name -> Component, and the coercion of values to a signature's types.

A component is a factory (class or function) plus what a user needs to pick it: a one-line summary,
the plugin that registered it (and that plugin's version), and its parameters. Parameters are read
from the factory's signature, so the signature is the only schema: `inpaintzoo list` shows it and
`train` validates overrides against it.

This module is the bottom of the package: it imports nothing of inpaintzoo but `errors`, so that
`plugins` (discovery) and `config` (run configs) build on it and never the other way round.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

import pluggy

from inpaintzoo.errors import UsageError

PROJECT = "inpaintzoo"
#: marks a plugin's `inpaintzoo_register(registry)` implementation (re-exported as `inpaintzoo.hookimpl`)
hookimpl = pluggy.HookimplMarker(PROJECT)

KINDS: tuple[str, ...] = ("encoder", "decoder", "discriminator", "density", "loss", "dataset", "mask", "pretrained")

#: Constructor arguments the engine supplies itself (the contract of each kind); users never set them.
CONTRACT_ARGS: dict[str, tuple[str, ...]] = {
    "encoder": ("in_channels", "image_size"),
    "decoder": ("in_channels", "in_size", "patch_size"),
    "discriminator": ("image_size",),
    "density": ("image_size",),
    "loss": (),
    "dataset": ("split",),  # image_size is a user parameter of datasets (data.image_size=64)
    "mask": ("image_size",),
    "pretrained": (),  # an entry (inpaintzoo.hub.card.PretrainedEntry): calling it loads the trained model
}

_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Parameter:
    """One user-settable argument of a factory."""

    name: str
    annotation: Any
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def type_name(self) -> str:
        """`int`, `int | None`, `tuple[int, ...]`, `Literal['elu', 'relu']`: the hint as Python writes it."""
        ann = self.annotation
        if ann is _MISSING or ann is Any:
            return "any"
        if isinstance(ann, type) and not typing.get_args(ann):
            return ann.__name__
        return str(ann).replace("typing.", "")

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values of a `Literal[...]` parameter (also inside `Literal[...] | None`), else None."""
        ann = self.annotation
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            literals = [a for a in typing.get_args(ann) if typing.get_origin(a) is Literal]
            if len(literals) == 1:
                ann = literals[0]
        return typing.get_args(ann) if typing.get_origin(ann) is Literal else None

    def describe(self) -> str:
        if self.required:
            return f"{self.name}: {self.type_name} (required)"
        return f"{self.name}: {self.type_name} = {self.default!r}"


@dataclass(frozen=True)
class Component:
    """A registered factory and what `inpaintzoo list` says about it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    summary: str
    plugin: str
    parameters: tuple[Parameter, ...] = field(default=())
    version: str = ""  # the plugin distribution's version ("" when unknown)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters if not p.required}


def signature_parameters(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> tuple[Parameter, ...]:
    """Read a factory's keyword parameters and their type hints (for classes: `__init__`)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    params = []
    for p in inspect.signature(factory).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, p.annotation)
        if annotation is _MISSING and isinstance(p.default, (bool, int, float, str)):
            annotation = type(p.default)  # unannotated: the default's type is the best hint
        params.append(Parameter(p.name, annotation, p.default))
    return tuple(params)


def first_line(text: str | None) -> str:
    return (inspect.cleandoc(text).splitlines() or [""])[0] if text else ""


def nearest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A 'did you mean' suffix for error messages (empty when nothing is close)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"; choose from {', '.join(sorted(choices))}" if choices else ""


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
    unknown = [k for k in contract if k not in CONTRACT_ARGS.get(component.kind, ())]
    if unknown:
        names = [p.name for p in component.parameters]
        raise UsageError(
            f"{component.kind} {component.name!r} has no parameter {unknown[0]!r}{nearest(unknown[0], names)}"
        )
    return {**contract, **coerce_parameters(component.parameters, user, component.name)}


class UnknownComponentError(UsageError, KeyError):
    """Raised when a kind or name is not registered; the message names the nearest valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(UsageError):
    """Two plugins registered the same kind and name."""


class Registry:
    """Holds every component, keyed by kind and name.

    Plugins add to it in their `inpaintzoo_register(registry)` hook; while a plugin's hook runs,
    `current_plugin` (and `current_version`) name it so that each component records where it came from.
    While `collect_collisions` is set (plugin discovery sets it), a second registration of a kind and
    name keeps the first and is recorded in `collisions` instead of raising: `inpaintzoo list` and
    `info` can then show what collides, and `check_collisions()` stops whatever needs a coherent set.
    """

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self.current_plugin: str = "<direct>"
        self.current_version: str = ""
        #: plugin name -> error text, for plugins that failed to load (see `inpaintzoo.plugins`)
        self.failures: dict[str, str] = {}
        #: plugin name -> distribution version, for every plugin loaded
        self.plugin_versions: dict[str, str] = {}
        #: one message per kind and name registered by two plugins (see `collect_collisions`)
        self.collisions: list[str] = []
        self.collect_collisions = False

    def register(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any] | None = None,
        *,
        summary: str | None = None,
    ) -> Any:
        """Register `factory` as `kind`/`name`; without a factory, return a decorator."""
        if factory is None:

            def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
                self.register(kind, name, f, summary=summary)
                return f

            return decorator
        self._check_kind(kind)
        existing = self._components[kind].get(name)
        if existing is not None:
            message = (
                f"{kind} {name!r} is registered twice: by plugin {existing.plugin!r} and by plugin "
                f"{self.current_plugin!r}; uninstall or disable one of them (INPAINTZOO_DISABLE_PLUGINS)"
            )
            if not self.collect_collisions:
                raise DuplicateComponentError(message)
            self.collisions.append(message)
            return factory
        self._components[kind][name] = Component(
            kind=kind,
            name=name,
            factory=factory,
            summary=summary if summary is not None else first_line(factory.__doc__),
            plugin=self.current_plugin,
            parameters=signature_parameters(factory, skip=CONTRACT_ARGS.get(kind, ())),
            version=self.current_version,
        )
        return factory

    def register_pretrained(self, entry: Any) -> Any:
        """Register a pretrained entry (anything with `name`, `summary` and a call that loads it) by its name."""
        return self.register("pretrained", entry.name, entry, summary=entry.summary)

    def check_collisions(self) -> None:
        """Raise DuplicateComponentError if two plugins registered the same kind and name."""
        if self.collisions:
            more = f" (and {len(self.collisions) - 1} more collisions)" if len(self.collisions) > 1 else ""
            raise DuplicateComponentError(self.collisions[0] + more)

    def _check_kind(self, kind: str) -> None:
        if kind not in self._components:
            raise UnknownComponentError(f"unknown component kind {kind!r}{nearest(kind, KINDS)}")

    def get(self, kind: str, name: str) -> Component:
        self._check_kind(kind)
        try:
            return self._components[kind][name]
        except KeyError:
            names = list(self._components[kind])
            raise UnknownComponentError(f"unknown {kind} {name!r}{nearest(name, names)}") from None

    def names(self, kind: str) -> list[str]:
        self._check_kind(kind)
        return sorted(self._components[kind])

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Component]:
        """Components of one kind (or all), whose name matches a glob pattern, sorted."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            self._check_kind(k)
        return [
            c for k in kinds for _, c in sorted(self._components[k].items()) if fnmatch.fnmatchcase(c.name, pattern)
        ]

    def build(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Call the factory of `kind`/`name` with keyword arguments."""
        component = self.get(kind, name)
        return component.factory(**coerce_arguments(component, kwargs))

    def __iter__(self) -> Iterator[Component]:
        return iter(self.list())

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._components.get(kind, {})


class Collection:
    """Components declared at import time by a module, registered when its plugin hook runs.

    The decorator form used by inpaintzoo's builtins and by third-party plugins alike::

        components = Collection()

        @components("encoder", "tiny", summary="...")
        class Tiny(nn.Module): ...

        inpaintzoo_register = components.hook()
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, Callable[..., Any], str | None]] = []

    def __call__(self, kind: str, name: str, *, summary: str | None = None) -> Callable[[Any], Any]:
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            self._entries.append((kind, name, factory, summary))
            return factory

        return decorator

    def register_into(self, registry: Registry) -> None:
        for kind, name, factory, summary in self._entries:
            registry.register(kind, name, factory, summary=summary)

    def hook(self) -> Callable[[Registry], None]:
        """A pluggy `inpaintzoo_register` implementation that registers this collection."""

        @hookimpl
        def inpaintzoo_register(registry: Registry) -> None:
            self.register_into(registry)

        return inpaintzoo_register
