"""The component registry: kind -> name -> Component.

A component is a factory (class or function) plus what a user needs to pick it: a one-line summary,
the plugin that registered it, and its parameters. Parameters are read from the factory's signature,
so the signature is the only schema: `inpaintzoo list` shows it and `train` validates overrides
against it.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from inpaintzoo.errors import UsageError

KINDS: tuple[str, ...] = ("encoder", "decoder", "discriminator", "density", "loss", "dataset", "mask")

#: Constructor arguments the engine supplies itself (the contract of each kind); users never set them.
CONTRACT_ARGS: dict[str, tuple[str, ...]] = {
    "encoder": ("in_channels", "image_size"),
    "decoder": ("in_channels", "in_size", "patch_size"),
    "discriminator": ("image_size",),
    "density": ("image_size",),
    "loss": (),
    "dataset": ("split",),  # image_size is a user parameter of datasets (data.image_size=64)
    "mask": ("image_size",),
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
        ann = self.annotation
        if ann is _MISSING or ann is Any:
            return "any"
        return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")

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


class UnknownComponentError(UsageError, KeyError):
    """Raised when a kind or name is not registered; the message names the nearest valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(UsageError):
    """Two plugins registered the same kind and name."""


class Registry:
    """Holds every component, keyed by kind and name.

    Plugins add to it in their `inpaintzoo_register(registry)` hook; while a plugin's hook runs,
    `current_plugin` names it so that each component records where it came from.
    """

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self.current_plugin: str = "<direct>"
        #: plugin name -> error text, for plugins that failed to load (see `inpaintzoo.plugins`)
        self.failures: dict[str, str] = {}

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
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered twice: by plugin {existing.plugin!r} and by plugin "
                f"{self.current_plugin!r}; uninstall or disable one of them (INPAINTZOO_DISABLE_PLUGINS)"
            )
        self._components[kind][name] = Component(
            kind=kind,
            name=name,
            factory=factory,
            summary=summary if summary is not None else first_line(factory.__doc__),
            plugin=self.current_plugin,
            parameters=signature_parameters(factory, skip=CONTRACT_ARGS[kind]),
        )
        return factory

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
        from inpaintzoo.config import coerce_arguments

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
        from inpaintzoo.plugins import hookimpl

        @hookimpl
        def inpaintzoo_register(registry: Registry) -> None:
            self.register_into(registry)

        return inpaintzoo_register
