"""A run directory as a pretrained entry: `NAME.safetensors` (half precision where values fit) + `NAME.json`.

With `score`, the exported weights are evaluated as a user loads them and the metrics go into the card, so
what `inpaintzoo models` shows is what the shipped file does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from inpaintzoo.config import COMPONENT_GROUPS, SETTINGS_GROUPS, resolve_config
from inpaintzoo.errors import UsageError
from inpaintzoo.families import family_of
from inpaintzoo.files import atomic_path, refuse_existing
from inpaintzoo.hub.cache import sha256_file
from inpaintzoo.hub.card import CARD_FORMAT, PretrainedEntry, Weights, check_name
from inpaintzoo.hub.load import load_pretrained
from inpaintzoo.plugins import default_registry
from inpaintzoo.registry import Registry
from inpaintzoo.runs import Run, load_run

#: the largest magnitude float16 holds; a tensor beyond it stays float32
FP16_MAX = 65504.0


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float tensors as float16 where every value fits (others stay float32); integers untouched."""
    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point() and bool(value.abs().max() <= FP16_MAX if value.numel() else True):
            value = value.to(torch.float16)
        out[key] = value.clone().contiguous()  # safetensors refuses shared storage
    return out


def architecture_of(config: dict[str, Any]) -> str:
    """The component an entry's name starts with: the density model, or the context encoder's encoder."""
    return config[family_of(config).component_group]["name"]


def train_command(config: dict[str, Any], registry: Registry) -> str:
    """`inpaintzoo train ...` with every choice and every value that differs from its default."""
    parts = []
    for group, (kind, _) in COMPONENT_GROUPS.items():
        section = config.get(group) or {}
        name = section.get("name")
        if name is None:
            continue
        parts.append(f"{group}={name}")
        defaults = registry.get(kind, name).defaults() if (kind, name) in registry else {}
        parts += [f"{group}.{k}={_text(v)}" for k, v in section.items() if k != "name" and defaults.get(k) != v]
    base = resolve_config([], registry)
    skip = {("train", "out"), ("train", "name"), ("train", "device")}
    for group in SETTINGS_GROUPS:
        for k, v in (config.get(group) or {}).items():
            if (group, k) not in skip and base.get(group, {}).get(k) != v:
                parts.append(f"{group}.{k}={_text(v)}")
    return "inpaintzoo train " + " ".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def _images_seen(run_dir: Path, config: dict[str, Any]) -> int | None:
    """Optimiser steps times the batch size, from the run's last logged record (per process under torchrun)."""
    metrics = run_dir / "metrics.jsonl"
    step = None
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                step = json.loads(line).get("step", step)
            except ValueError:
                continue
    return None if step is None else int(step) * int(config["train"]["batch_size"])


def export(
    run_dir: str | Path,
    name: str,
    out: str | Path = ".",
    score: bool = False,
    half: bool = True,
    overwrite: bool = False,
    registry: Registry | None = None,
    command: str | None = None,
    progress: bool = False,
    limit: int = 0,
    checkpoint: str = "best",
) -> tuple[Path, Path]:
    """Write `out/NAME.safetensors` and `out/NAME.json` from a run directory; returns both paths.

    With `score`, the exported weights (as a user loads them) are evaluated on the run's test split with the
    run's own mask and `eval`'s seeded masks, and the metrics go into the card; with `half`, so are the
    float32 weights, and the card records the difference.
    """
    registry = registry or default_registry()
    check_name(name)
    run = load_run(run_dir, checkpoint=checkpoint, registry=registry, device="cpu")
    arch = architecture_of(run.config)
    if name.split(".", 1)[0] != arch:
        raise UsageError(
            f"the name must start with the run's architecture: {arch}.TAG (e.g. {arch}.mine), got {name!r}"
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    weights_file, card_file = out / f"{name}.safetensors", out / f"{name}.json"
    refuse_existing([weights_file, card_file], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    full = {k: v.detach().cpu().clone().contiguous() for k, v in run.model.state_dict().items()}
    state = half_state(full) if half else full
    metadata = {"inpaintzoo.name": name, "inpaintzoo.format": str(CARD_FORMAT)}
    with atomic_path(weights_file) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    box = run.geometry.box
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values() if v.is_floating_point()})
    card: dict[str, Any] = {
        "summary": _summary(run.config, box),
        "trained_on": {"dataset": run.config["data"]["name"], "image_size": run.image_size, "split": "train"},
        "mask": {**run.config["mask"], "box": list(box) if box is not None else None},
        "budget": {k: run.config["train"].get(k) for k in ("epochs", "max_steps", "max_minutes", "batch_size")},
        "images_seen": _images_seen(Path(run_dir), run.config),
        "parameters": sum(v.numel() for k, v in full.items() if v.is_floating_point()),
        "weights_dtype": "/".join(dtypes),
        "train_command": command or train_command(run.config, registry),
        "eval_command": f"inpaintzoo eval --model {name} --split test",
        "metrics": None,
    }
    entry = PretrainedEntry(
        name,
        run.config,
        Weights(sha256_file(weights_file), file=weights_file, size=weights_file.stat().st_size),
        card,
    )
    if score:
        metrics = _score(entry, registry, progress, limit)
        card["metrics"], card["metrics_split"] = metrics, "test"
        if half:
            fp32 = _score_run(run, progress, limit)
            card["metrics_fp32"] = fp32
            card["fp16_delta"] = {
                k: metrics[k] - fp32[k] for k in metrics if isinstance(metrics[k], float) and k in fp32
            }
    data = {
        "format": CARD_FORMAT,
        "name": name,
        "weights": {"file": weights_file.name, "sha256": entry.weights.sha256, "bytes": entry.weights.size},
        "config": portable(run.config, registry),
        "card": card,
    }
    with atomic_path(card_file) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return weights_file, card_file


def portable(config: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """The run config without what only held on the machine that trained it: where its data and runs were.

    A dataset whose `root` is optional (CIFAR-10) is found on a user's machine its own way (`$INPAINTZOO_DATA`,
    the cache, a download); a required root (a folder of your own images) is kept.
    """
    config = json.loads(json.dumps(config))
    data = config.get("data", {})
    if data.get("root") is not None and ("dataset", data.get("name")) in registry:
        if registry.get("dataset", data["name"]).defaults().get("root", "required") is None:
            data["root"] = None
    config.get("train", {}).update(out="runs", name="")
    return config


def _summary(config: dict[str, Any], box: tuple[int, int, int, int] | None) -> str:
    mask = config["mask"]["name"]
    what = family_of(config).describe(config)
    hole = f"the {box[2]}x{box[3]} box" if box is not None else f"any mask (trained on mask={mask})"
    size = config["data"].get("image_size", 32)
    return f"{what} for {size}x{size} {config['data']['name']} images; fills {hole}"


def _score(entry: PretrainedEntry, registry: Registry, progress: bool, limit: int) -> dict[str, Any]:
    return _score_run(load_pretrained(entry, device="auto", registry=registry, progress=False), progress, limit)


def _score_run(run: Run, progress: bool, limit: int) -> dict[str, Any]:
    metrics, _ = run.evaluate("test", limit=limit, progress=progress)
    return {k: (float(v) if isinstance(v, float) else v) for k, v in metrics.items()}
