"""Plugin discovery: pluggy over the `inpaintzoo` entry-point group.

inpaintzoo's own components are registered by exactly this path (its pyproject declares entry points
for `inpaintzoo.zoo.*` and `inpaintzoo.data.*`), so builtins and third-party plugins are equals.
A plugin that fails to import or raises in its hook is reported as a warning and skipped; a name
listed in `$INPAINTZOO_DISABLE_PLUGINS` (comma separated) or passed as `disabled` is not loaded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

from inpaintzoo.errors import InpaintzooError
from inpaintzoo.registry import Registry

PROJECT = "inpaintzoo"
ENTRY_POINT_GROUP = "inpaintzoo"
DISABLE_ENV = "INPAINTZOO_DISABLE_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class PluginWarning(UserWarning):
    """A plugin could not be loaded; everything else still works."""


class HookSpecs:
    @hookspec
    def inpaintzoo_register(self, registry: Registry) -> None:
        """Add components to `registry` with `registry.register(kind, name, factory)`."""


def disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    return pm


def load_registry(disabled: Iterable[str] = (), extra_plugins: Iterable[object] = ()) -> Registry:
    """Build a registry from every installed plugin (entry points), minus the disabled ones.

    `extra_plugins` are plugin objects (modules or instances with an `inpaintzoo_register` hookimpl)
    registered after the entry points, for tests and scripts.
    """
    blocked = set(disabled) | disabled_from_env()
    registry = Registry()
    pm = plugin_manager()
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "builtin", ep.name))
    for ep in eps:
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            _report(registry, ep.name, f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if name not in blocked:
            pm.register(plugin, name=name)
    for impl in reversed(pm.hook.inpaintzoo_register.get_hookimpls()):  # pluggy calls LIFO; we go FIFO
        registry.current_plugin = impl.plugin_name
        try:
            impl.function(registry=registry)
        except InpaintzooError:
            raise  # a collision between two plugins is the user's to resolve, loudly
        except Exception as exc:
            _report(registry, impl.plugin_name, f"raised in inpaintzoo_register: {type(exc).__name__}: {exc}")
    registry.current_plugin = "<direct>"
    return registry


def _report(registry: Registry, plugin: str, message: str) -> None:
    registry.failures[plugin] = message
    warnings.warn(f"inpaintzoo plugin {plugin!r} {message} (skipped)", PluginWarning, stacklevel=3)


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_registry()
    return _DEFAULT


def reset_default_registry() -> None:
    """Forget the process-wide registry (after installing or disabling plugins)."""
    global _DEFAULT
    _DEFAULT = None
