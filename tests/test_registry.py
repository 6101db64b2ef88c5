"""The registry and plugin discovery: entry points, collisions, broken and disabled plugins."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal

import pytest

from inpaintzoo import Collection, hookimpl
from inpaintzoo.errors import UsageError
from inpaintzoo.plugins import PluginWarning, load_registry
from inpaintzoo.registry import DuplicateComponentError, Registry, UnknownComponentError


def fake_distribution(site: Path, dist: str, entry_name: str, module: str, source: str) -> None:
    """Lay out an installed distribution (dist-info + module) that importlib.metadata discovers."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[inpaintzoo]\n{entry_name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    from torch import nn
    from inpaintzoo import Collection

    components = Collection()

    @components("encoder", "third-party-net", summary="an encoder from outside")
    class ThirdParty(nn.Module):
        def __init__(self, in_channels: int, image_size: int, width: int = 8) -> None:
            super().__init__()
            self.out_channels, self.out_size = width, image_size
            self.conv = nn.Conv2d(in_channels, width, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    inpaintzoo_register = components.hook()
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("INPAINTZOO_DISABLE_PLUGINS", raising=False)
    return site


def test_builtins_come_through_entry_points() -> None:
    registry = load_registry()
    plugins = {c.plugin for c in registry.list()}
    assert plugins and all(p.startswith("inpaintzoo.") for p in plugins)
    assert ("mask", "center") in registry and ("dataset", "samples") in registry


def test_third_party_plugin_is_discovered_listed_and_built(site: Path) -> None:
    fake_distribution(site, "thirdparty", "thirdparty", "thirdparty_plugin", GOOD_PLUGIN)
    registry = load_registry()
    component = registry.get("encoder", "third-party-net")
    assert component.plugin == "thirdparty"
    assert component.summary == "an encoder from outside"
    assert [p.name for p in component.parameters] == ["width"]  # contract arguments are not parameters
    encoder = registry.build("encoder", "third-party-net", in_channels=4, image_size=16, width="5")
    assert encoder.out_channels == 5


def test_collision_names_both_plugins(site: Path) -> None:
    fake_distribution(site, "one", "plugin-one", "plugin_one", GOOD_PLUGIN)
    fake_distribution(site, "two", "plugin-two", "plugin_two", GOOD_PLUGIN)
    with pytest.raises(DuplicateComponentError) as info:
        load_registry()
    assert "plugin-one" in str(info.value) and "plugin-two" in str(info.value)


def test_import_failure_is_a_warning_and_others_still_work(site: Path) -> None:
    fake_distribution(site, "broken", "broken-plugin", "broken_plugin", "import does_not_exist_anywhere\n")
    fake_distribution(site, "good", "good-plugin", "good_plugin", GOOD_PLUGIN)
    with pytest.warns(PluginWarning, match="broken-plugin.*ModuleNotFoundError"):
        registry = load_registry()
    assert "broken-plugin" in registry.failures
    assert ("encoder", "third-party-net") in registry


def test_hook_that_raises_is_a_warning(site: Path) -> None:
    fake_distribution(
        site,
        "raiser",
        "raiser",
        "raiser_plugin",
        """
        from inpaintzoo import hookimpl

        @hookimpl
        def inpaintzoo_register(registry):
            raise RuntimeError("boom")
    """,
    )
    with pytest.warns(PluginWarning, match="raiser.*RuntimeError: boom"):
        registry = load_registry()
    assert ("mask", "center") in registry


def test_disabled_plugins(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "good", "good-plugin", "good_plugin", GOOD_PLUGIN)
    assert ("encoder", "third-party-net") not in load_registry(disabled=["good-plugin"])
    monkeypatch.setenv("INPAINTZOO_DISABLE_PLUGINS", "good-plugin, inpaintzoo.masks")
    registry = load_registry()
    assert ("encoder", "third-party-net") not in registry
    assert registry.names("mask") == ["lama"]  # what the other builtin plugin, inpaintzoo.photo_masks, registers


def test_extra_plugin_objects_and_decorator_form() -> None:
    class Plugin:
        @hookimpl
        def inpaintzoo_register(self, registry: Registry) -> None:
            @registry.register("loss", "my-loss")
            def my_loss(alpha: float = 0.5, mode: Literal["a", "b"] = "a") -> tuple[float, str]:
                """A test loss."""
                return alpha, mode

    registry = load_registry(extra_plugins=[Plugin()])
    component = registry.get("loss", "my-loss")
    assert component.plugin == "Plugin" and component.summary == "A test loss."
    assert registry.build("loss", "my-loss", alpha="0.25", mode="b") == (0.25, "b")
    with pytest.raises(UsageError, match="my-loss.mode: expected one of a, b"):
        registry.build("loss", "my-loss", mode="c")


def test_unknown_names_suggest_the_nearest() -> None:
    registry = Registry()
    registry.register("encoder", "resnet", lambda in_channels, image_size: None)
    with pytest.raises(UnknownComponentError, match="did you mean 'resnet'"):
        registry.get("encoder", "resnt")
    with pytest.raises(UnknownComponentError, match="did you mean 'encoder'"):
        registry.list("encodr")


def test_list_filters_by_kind_and_glob() -> None:
    registry = Registry()
    components = Collection()
    for name in ("res-a", "res-b", "vgg"):
        components("encoder", name)(lambda in_channels, image_size: None)
    components("discriminator", "res-d")(lambda image_size: None)
    components.register_into(registry)
    assert [c.name for c in registry.list("encoder", "res*")] == ["res-a", "res-b"]
    # all kinds, in kind order (encoders before discriminators), names sorted within a kind
    assert [(c.kind, c.name) for c in registry.list(pattern="res-?")] == [
        ("encoder", "res-a"),
        ("encoder", "res-b"),
        ("discriminator", "res-d"),
    ]


def test_registering_twice_directly_is_an_error() -> None:
    registry = Registry()
    registry.register("mask", "m", lambda image_size: None)
    with pytest.raises(DuplicateComponentError, match="registered twice"):
        registry.register("mask", "m", lambda image_size: None)


def test_imports_flow_one_way_with_the_registry_at_the_bottom() -> None:
    """registry imports only errors; plugins only registry and errors; neither imports config (no cycle)."""
    import ast

    package = Path(__file__).resolve().parents[1] / "inpaintzoo"

    def inpaintzoo_imports(module: str) -> set[str]:
        tree = ast.parse((package / f"{module}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inpaintzoo"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("inpaintzoo")}
        return found

    assert inpaintzoo_imports("registry") == {"inpaintzoo.errors"}
    assert inpaintzoo_imports("plugins") <= {"inpaintzoo.errors", "inpaintzoo.registry"}
    assert "inpaintzoo.config" not in inpaintzoo_imports("plugins") | inpaintzoo_imports("registry")


def test_registry_builds_and_coerces_without_the_config_module() -> None:
    """The registry alone (a fresh interpreter, no plugins, no config) coerces and builds."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['inpaintzoo'] = type(sys)('inpaintzoo'); sys.modules['inpaintzoo'].__path__ = "
        f"[{str(Path(__file__).resolve().parents[1] / 'inpaintzoo')!r}]\n"
        "from inpaintzoo.registry import Registry\n"
        "r = Registry(); r.register('loss', 'x', lambda alpha=0.5: alpha)\n"
        "assert r.build('loss', 'x', alpha='0.25') == 0.25\n"
        "print(sorted(m for m in sys.modules if m.startswith('inpaintzoo')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['inpaintzoo', 'inpaintzoo.errors', 'inpaintzoo.registry']"


def test_literal_parameters_show_their_values() -> None:
    registry = Registry()

    def factory(act: Literal["elu", "relu"] = "elu", norm: Literal["batch", "none"] | None = None, n: int = 1) -> None:
        return None

    registry.register("loss", "lit", factory)
    act, norm, n = registry.get("loss", "lit").parameters
    assert act.type_name == "Literal['elu', 'relu']" and act.choices == ("elu", "relu")
    assert act.describe() == "act: Literal['elu', 'relu'] = 'elu'"
    assert norm.choices == ("batch", "none") and "Literal['batch', 'none']" in norm.type_name
    assert n.type_name == "int" and n.choices is None


def test_collision_can_be_collected_instead_of_raised(site: Path) -> None:
    fake_distribution(site, "one", "plugin-one", "plugin_one", GOOD_PLUGIN)
    fake_distribution(site, "two", "plugin-two", "plugin_two", GOOD_PLUGIN)
    registry = load_registry(strict=False)
    assert registry.get("encoder", "third-party-net").plugin in ("plugin-one", "plugin-two")  # one is kept
    assert len(registry.collisions) == 1
    assert "plugin-one" in registry.collisions[0] and "plugin-two" in registry.collisions[0]
    with pytest.raises(DuplicateComponentError, match="plugin-two"):
        registry.check_collisions()


def test_components_record_their_plugin_version(site: Path) -> None:
    fake_distribution(site, "thirdparty", "thirdparty", "thirdparty_plugin", GOOD_PLUGIN)
    registry = load_registry()
    assert registry.get("encoder", "third-party-net").version == "0.1"
    assert registry.plugin_versions["thirdparty"] == "0.1"


def test_disabling_an_unknown_plugin_warns_with_the_nearest(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "acme", "acme", "acme_plugin", GOOD_PLUGIN)
    monkeypatch.setenv("INPAINTZOO_DISABLE_PLUGINS", "acmee")
    with pytest.warns(PluginWarning, match="'acmee', which no installed plugin has; did you mean 'acme'"):
        registry = load_registry()
    assert ("encoder", "third-party-net") in registry  # nothing was disabled
