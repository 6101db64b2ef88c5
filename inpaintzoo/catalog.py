"""What is installed, as `inpaintzoo list` and `inpaintzoo models` show it: rows and text.

`list`: every registered component with its parameters; `models`: one row per pretrained entry and per classical
fill, with its scores. The rows are plain JSON (`--json`); the text is readable at 80 columns and through a pipe
(nothing truncated, long lines wrapped with an indent).
"""

from __future__ import annotations

import fnmatch
import textwrap
from typing import Any

from inpaintzoo.classical import CLASSICAL, SUMMARIES, patchmatch_available, scores
from inpaintzoo.config import COMPONENT_GROUPS
from inpaintzoo.hub.load import default_model
from inpaintzoo.registry import KINDS, Component, Parameter, Registry

# -- components: `inpaintzoo list` ---------------------------------------------------------------------------


def kind_of(word: str) -> str | None:
    """The registry kind a word names: a kind, its config group (`disc`, `data`) or either's plural."""
    by_group = {group: kind for group, (kind, _) in COMPONENT_GROUPS.items()}
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate in KINDS:
            return candidate
        if candidate in by_group:
            return by_group[candidate]
    return None


def find_components(registry: Registry, word: str | None = None, pattern: str = "*") -> list[Component]:
    """Components of the kind `word` names matching `pattern`; a lone word that names no kind is the pattern
    (`inpaintzoo list 'res*'`)."""
    kind = word
    if word is not None:
        if kind_of(word) is not None:
            kind = kind_of(word)
        elif pattern == "*" and (any(ch in word for ch in "*?[") or registry.list(pattern=word)):
            kind, pattern = None, word
    return registry.list(kind, pattern)


def parameter_json(p: Parameter) -> dict[str, Any]:
    """A parameter as a JSON row: name, type, default (None where required), whether required, its choices."""
    row = {"name": p.name, "type": p.type_name, "default": None if p.required else p.default, "required": p.required}
    if p.choices is not None:
        row["choices"] = list(p.choices)
    return row


def component_rows(components: list[Component]) -> list[dict[str, Any]]:
    """`inpaintzoo list --json`: one row per component with where it comes from and its parameters."""
    return [
        {
            "kind": c.kind,
            "name": c.name,
            "plugin": c.plugin,
            "version": c.version,
            "summary": c.summary,
            "parameters": [parameter_json(p) for p in c.parameters],
        }
        for c in components
    ]


def render_components(components: list[Component], width: int) -> str:
    """The components as plain text: a block per component, its summary and each parameter on own lines."""
    group_of = {kind: group for group, (kind, _) in COMPONENT_GROUPS.items()}
    width = max(width, 40)
    lines = [f"{len(components)} components"]
    kind = None
    for c in components:
        if c.kind != kind:
            kind = c.kind
            group = group_of.get(kind)
            choose = f"  (pick with {group}=NAME, set with {group}.KEY=VALUE)" if group else ""
            lines += ["", f"{kind}{choose}"]
        version = f" {c.version}" if c.version else ""
        lines.append(f"  {c.name}  [{c.plugin}{version}]")
        if c.summary:
            lines += textwrap.wrap(c.summary, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for p in c.parameters:
            lines += textwrap.wrap(
                p.describe(), width, initial_indent=" " * 6 + "- ", subsequent_indent=" " * 10, break_long_words=False
            )
    return "\n".join(lines)


# -- models: `inpaintzoo models` --------------------------------------------------------------------------------

#: the test metrics a row shows: (key, label, format)
METRIC_COLUMNS = (("hole_mse", "hole MSE", ".0f"), ("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".3f"))


def pretrained_rows(registry: Registry, pattern: str = "*") -> list[dict[str, Any]]:
    """One JSON-able row per pretrained entry: name, plugin, what it fills, where its weights are, its metrics;
    then one per classical fill (no weights, any image, any hole); only names matching the glob `pattern`."""
    default = default_model(registry)
    rows = []
    for component in registry.list("pretrained"):
        entry = component.factory
        rows.append(
            {
                "name": entry.name,
                "plugin": component.plugin,
                "summary": entry.card.get("summary", ""),
                "mask": entry.config["mask"]["name"],
                "box": list(entry.box) if entry.box is not None else None,
                "image_size": entry.config["data"].get("image_size", 32),
                "weights": entry.weights.where,
                "bytes": entry.weights.size,
                "metrics": entry.metrics,
                "photo_benchmark": entry.card.get("photo_benchmark"),
                "eval_command": entry.card.get("eval_command"),
                "default": entry.name == default,
            }
        )
    measured = scores()
    for name in CLASSICAL:
        missing = name == "patchmatch" and not patchmatch_available()
        rows.append(
            {
                "name": name,
                "plugin": "inpaintzoo (classical)" + (", needs pypatchmatch" if missing else ""),
                "summary": SUMMARIES[name],
                "mask": "no training",
                "box": None,
                "image_size": None,
                "weights": "none",
                "bytes": None,
                "metrics": {},
                "photo_benchmark": measured.get(name),
                "eval_command": None,
                "default": name == default,
            }
        )
    return [r for r in rows if fnmatch.fnmatchcase(r["name"], pattern)]


def photo_scores(photo: dict[str, Any]) -> str:
    """The photo benchmark in a few words: mean hole PSNR and the range of median sharpness over the mask kinds."""
    sharp = [row["sharpness"] for row in photo["kinds"].values() if "sharpness" in row]
    detail = f", median sharpness {min(sharp):.2f}-{max(sharp):.2f}" if sharp else ""
    return f"photos: {photo['mean_psnr']:.2f} dB (mean hole PSNR{detail}, {len(photo['kinds'])} mask kinds)"


def render_models(rows: list[dict[str, Any]], width: int) -> str:
    """The rows as plain text: a block per model, nothing truncated, long lines wrapped with an indent."""
    width = max(width, 40)
    lines = [f"{len(rows)} models"]
    for r in rows:
        fills = f"{r['box'][2]}x{r['box'][3]} box" if r["box"] else f"any mask ({r['mask']})"
        metrics = r["metrics"]
        measured = ", ".join(f"{label} {format(metrics[k], f)}" for k, label, f in METRIC_COLUMNS if k in metrics)
        photo = r.get("photo_benchmark")
        facts = [
            f"fills {fills}",
            f"test: {measured}" if measured else "",
            photo_scores(photo) if photo else "",
            f"weights: {r['weights']}{file_size(r['bytes'])}",
            "what `inpaint` uses without --model" if r.get("default") else "",
        ]
        lines += ["", f"  {r['name']}  [{r['plugin']}]"]
        for text in (r["summary"], "; ".join(f for f in facts if f)):
            lines += textwrap.wrap(text, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def file_size(size: int | None) -> str:
    """`, 1.2 MB` or `, 477 KB` after the weights' location; nothing when the size is unknown."""
    if not size:
        return ""
    return f", {size / 1e6:.1f} MB" if size >= 1e6 else f", {size / 1e3:.0f} KB"
