"""Plugin discovery: pluggy over the `inpaintzoo` entry-point group.

inpaintzoo's own components are registered by exactly this path (its pyproject declares entry points
for `inpaintzoo.zoo.*` and `inpaintzoo.data.*`), so builtins and third-party plugins are equals.
A plugin that fails to import or raises in its hook is reported as a warning and skipped; a name
listed in `$INPAINTZOO_DISABLE_PLUGINS` (comma separated) or passed as `disabled` is not loaded (a
name no plugin has is a warning with the nearest one). Two plugins registering one kind and name is
an error, unless `strict=False`: then the registry records the collision for `list` and `info` to show.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

from inpaintzoo.errors import InpaintzooError
from inpaintzoo.registry import PROJECT, Registry, hookimpl, nearest  # noqa: F401  (hookimpl: re-exported)

ENTRY_POINT_GROUP = "inpaintzoo"
DISABLE_ENV = "INPAINTZOO_DISABLE_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT)


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


def _version(ep: object) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "version", "") or "")


def load_registry(
    disabled: Iterable[str] = (), extra_plugins: Iterable[object] = (), strict: bool = True
) -> Registry:
    """Build a registry from every installed plugin (entry points), minus the disabled ones.

    `extra_plugins` are plugin objects (modules or instances with an `inpaintzoo_register` hookimpl)
    registered after the entry points, for tests and scripts. With `strict` (the default) two plugins
    registering one kind and name raise DuplicateComponentError; without it the first registration is
    kept and the collision recorded in `registry.collisions` (`registry.check_collisions()` raises later).
    """
    blocked = set(disabled) | disabled_from_env()
    registry = Registry()
    pm = plugin_manager()
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "builtin", ep.name))
    versions = {ep.name: _version(ep) for ep in eps}
    extras = {(getattr(p, "__name__", None) or type(p).__name__): p for p in extra_plugins}
    known = [*versions, *extras]
    for name in sorted(blocked - set(known)):
        warnings.warn(
            f"{DISABLE_ENV} / --disable-plugin names {name!r}, which no installed plugin has{nearest(name, known)}",
            PluginWarning,
            stacklevel=2,
        )
    for ep in eps:
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            _report(registry, ep.name, f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
    for name, plugin in extras.items():
        if name not in blocked:
            pm.register(plugin, name=name)
    registry.collect_collisions = True
    for impl in reversed(pm.hook.inpaintzoo_register.get_hookimpls()):  # pluggy calls LIFO; we go FIFO
        registry.current_plugin = impl.plugin_name
        registry.current_version = versions.get(impl.plugin_name, "")
        registry.plugin_versions[impl.plugin_name] = registry.current_version
        try:
            impl.function(registry=registry)
        except InpaintzooError:
            raise  # a plugin's own mistake in registering (an unknown kind, say) is the user's to see
        except Exception as exc:
            _report(registry, impl.plugin_name, f"raised in inpaintzoo_register: {type(exc).__name__}: {exc}")
    registry.current_plugin, registry.current_version = "<direct>", ""
    registry.collect_collisions = False
    if strict:
        registry.check_collisions()
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
