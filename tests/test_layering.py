"""Imports flow one way: the registry at the bottom (tests/test_registry.py), the pretrained hub's modules each
above the ones it imports, the CLI at the top (no library module imports it).

Imports are read from the source (nothing is imported): top-level ones, those under `if TYPE_CHECKING:` (types
only) and those inside a function, which in the modules listed below would be an import dodging a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inpaintzoo"

#: the hub's modules, lowest first: each imports only the hub modules before it (TYPE_CHECKING imports aside)
HUB_ORDER = ("cache", "load", "card", "export")
#: library modules whose imports are all at the top (an optional third-party package may be imported late)
TOP_ONLY = (*(f"hub/{m}" for m in HUB_ORDER), "hub/__init__", "catalog", "decoding", "holes", "fill_files",
            "evaluation", "about")  # fmt: skip
#: what a CLI command module may import from the CLI package besides the library
CLI_SHARED = {"inpaintzoo.cli.common", "inpaintzoo.cli.options"}


def module_file(name: str) -> Path | None:
    """The source of module `inpaintzoo.x.y`, or None where `name` is not a module of the package."""
    parts = name.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return PACKAGE / "__init__.py" if not parts else None


def names(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The inpaintzoo modules an import statement reads (`from inpaintzoo import holes` reads inpaintzoo.holes)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.split(".")[0] == "inpaintzoo"}
    if not node.module or node.module.split(".")[0] != "inpaintzoo":
        return set()
    found = set()
    for alias in node.names:
        sub = f"{node.module}.{alias.name}"
        found.add(sub if module_file(sub) is not None else node.module)
    return found


def imports(path: Path) -> dict[str, set[str]]:
    """{"top": ..., "typing": ..., "function": ...}: the inpaintzoo modules a source file imports, by where."""
    tree = ast.parse(path.read_text())
    found: dict[str, set[str]] = {"top": set(), "typing": set(), "function": set()}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found["top"] |= names(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found["typing"] |= {n for s in node.body if isinstance(s, (ast.Import, ast.ImportFrom)) for n in names(s)}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found["function"] |= names(node)
    return found


def test_the_hub_modules_import_one_way_at_the_top() -> None:
    for i, name in enumerate(HUB_ORDER):
        found = imports(PACKAGE / "hub" / f"{name}.py")
        hub = {m for m in found["top"] if m.startswith("inpaintzoo.hub")}
        assert hub <= {f"inpaintzoo.hub.{below}" for below in HUB_ORDER[:i]}, (name, hub)
        assert not {m for m in found["typing"] if m.startswith("inpaintzoo.hub.export")}, name


def test_library_modules_import_at_the_top() -> None:
    for name in TOP_ONLY:
        assert imports(PACKAGE / f"{name}.py")["function"] == set(), name


def test_no_library_module_imports_the_cli_or_the_old_pretrained_module() -> None:
    for path in PACKAGE.rglob("*.py"):
        if PACKAGE / "cli" in path.parents or path.name == "__main__.py":  # the entry points run the CLI
            continue
        everything = set().union(*imports(path).values())
        assert not {m for m in everything if m.startswith("inpaintzoo.cli")}, path
        assert "inpaintzoo.pretrained" not in everything, path  # a function of the package now, not a module


def test_cli_commands_share_only_common_and_options() -> None:
    for path in (PACKAGE / "cli").glob("*.py"):
        if path.stem in ("__init__", "__main__", "common", "options"):
            continue
        everything = set().union(*imports(path).values())
        cli = {m for m in everything if m.startswith("inpaintzoo.cli")}
        allowed = CLI_SHARED | ({"inpaintzoo.cli.sweep"} if path.stem == "train" else set())
        assert cli <= allowed, (path.name, cli - allowed)
