"""Pretrained entries: a named, trained model (weights + the config it was built from + its model card).

An entry is named `architecture.tag` (`unet.l2`), like timm's pretrained configs, and comes through the
registry as kind `pretrained`, so a plugin publishes entries exactly as inpaintzoo does: a folder of
`NAME.json` cards beside `NAME.safetensors` files, registered in one call (`register_folder`, or
`folder_hook` for a whole plugin module). A card says where the weights are:

- `file`: beside the card (package data: works offline on a fresh machine);
- `url`: downloaded once into the user cache (`$INPAINTZOO_CACHE`, default `~/.cache/inpaintzoo/weights`);
- `hf_hub_id` + `filename`: a Hugging Face Hub file, through `huggingface_hub` when it is installed.

Every file is checked against the card's sha256 before it is read. Weights are safetensors (no pickle: loading
runs no code from the file), stored in half precision unless the exporter says otherwise. `load_pretrained`
turns an entry into a `Run` without a run directory; `export` turns a run directory into an entry.

The module is callable, `inpaintzoo.pretrained("unet.l2")`, because the package's public `pretrained(NAME)`
and this module share one name.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import sys
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpaintzoo.classical import CLASSICAL, ClassicalModel
from inpaintzoo.errors import DataError, RunDirError, UsageError
from inpaintzoo.files import atomic_path, refuse_existing

if TYPE_CHECKING:
    import torch

    from inpaintzoo.registry import Registry
    from inpaintzoo.runs import Run

KIND = "pretrained"
CARD_FORMAT = 1
CACHE_ENV = "INPAINTZOO_CACHE"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_.-]*$")
#: the largest magnitude float16 holds; a tensor beyond it stays float32
FP16_MAX = 65504.0
DOWNLOAD_TIMEOUT_S = 30
CHUNK = 1 << 16


@dataclass(frozen=True)
class Weights:
    """Where an entry's safetensors file is, and the sha256 it must have."""

    sha256: str
    file: Path | None = None
    url: str | None = None
    hf_hub_id: str | None = None
    filename: str | None = None
    revision: str | None = None  # a Hub commit or tag, so the file cannot change under its checksum
    size: int | None = None

    @property
    def where(self) -> str:
        if self.file is not None:
            return "package"
        return "hf-hub" if self.hf_hub_id is not None else "url"


@dataclass(frozen=True, eq=False)
class PretrainedEntry:
    """A named trained model. Calling it (`registry.build("pretrained", NAME)`) loads it as a `Run`."""

    name: str
    config: dict[str, Any]
    weights: Weights
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """The one hole box the model fills (None: any mask), from its card."""
        box = self.card.get("mask", {}).get("box")
        return tuple(box) if box is not None else None  # type: ignore[return-value]

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.card.get("metrics") or {})

    @property
    def summary(self) -> str:
        text = self.card.get("summary") or f"{self.architecture} trained on {self.config['data']['name']}"
        metrics = self.metrics
        if "hole_mse" in metrics:
            text += f"; hole MSE {metrics['hole_mse']:.0f}, PSNR {metrics.get('psnr', float('nan')):.2f} dB"
            text += f" on {metrics.get('images', '?')} {self.card.get('metrics_split', 'test')} images"
            decoding = metrics.get("decoding", metrics.get("mode"))
            text += f" ({decoding})" if decoding else ""
        return text

    def __call__(self, device: str = "auto") -> Run:
        return load_pretrained(self, device=device)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"pretrained name {name!r} must be ARCHITECTURE.TAG in lower case (letters, digits, - and _), e.g. unet.l2"
        )
    return name


# -- cards and folders --------------------------------------------------------------------------------------------


def read_card(path: str | Path) -> PretrainedEntry:
    """An entry from its `NAME.json` card; a `file` is relative to the card's folder."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        weights = dict(data["weights"])
        name = check_name(data["name"])
        config = data["config"]
        sha = weights["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a pretrained card ({type(exc).__name__}: {exc})") from None
    if data.get("format") != CARD_FORMAT:
        raise DataError(f"{path} has card format {data.get('format')!r}; this inpaintzoo reads format {CARD_FORMAT}")
    file = weights.get("file")
    entry_weights = Weights(
        sha256=sha,
        file=(path.parent / file) if file else None,
        url=weights.get("url"),
        hf_hub_id=weights.get("hf_hub_id"),
        filename=weights.get("filename"),
        revision=weights.get("revision"),
        size=weights.get("bytes"),
    )
    if entry_weights.file is None and entry_weights.url is None and entry_weights.hf_hub_id is None:
        raise DataError(f"{path}: its weights have no file, url or hf_hub_id")
    return PretrainedEntry(name, config, entry_weights, data.get("card") or {})


def folder_entries(folder: str | Path) -> list[PretrainedEntry]:
    """Every `*.json` card in a folder, sorted by name."""
    folder = Path(folder)
    return [read_card(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def register_folder(registry: Registry, folder: str | Path) -> list[PretrainedEntry]:
    """Register every card of `folder` as a `pretrained` entry of the plugin now registering."""
    entries = folder_entries(folder)
    for entry in entries:
        registry.register_pretrained(entry)
    return entries


def folder_hook(folder: str | Path) -> Callable[[Registry], None]:
    """An `inpaintzoo_register` hook that registers the cards of `folder` (a plugin module's whole job)."""
    from inpaintzoo.plugins import hookimpl

    @hookimpl
    def inpaintzoo_register(registry: Registry) -> None:
        register_folder(registry, folder)

    return inpaintzoo_register


def list_pretrained(pattern: str = "*", registry: Registry | None = None) -> list[PretrainedEntry]:
    """Registered entries whose name matches a glob pattern, sorted by name."""
    registry = registry or _default_registry()
    return [c.factory for c in registry.list(KIND) if fnmatch.fnmatchcase(c.name, pattern)]


def default_model(registry: Registry | None = None) -> str:
    """The model `inpaint` uses when none is named: the photo entry (trained on `data=photos`) with the best
    mean hole PSNR on the photo benchmark its card records, or OpenCV's Telea fill where no photo entry is installed."""
    photo = [e for e in list_pretrained(registry=registry) if e.config.get("data", {}).get("name") == "photos"]
    if not photo:
        return "telea"
    return max(photo, key=lambda e: (float(e.card.get("photo_benchmark", {}).get("mean_psnr", 0.0)), e.name)).name


def get_entry(name: str, registry: Registry | None = None) -> PretrainedEntry:
    return (registry or _default_registry()).get(KIND, name).factory


def _default_registry() -> Registry:
    from inpaintzoo.plugins import default_registry

    return default_registry()


# -- weights: the cache, downloads, checksums -----------------------------------------------------------------------


def cache_dir() -> Path:
    """Where downloaded weights live: `$INPAINTZOO_CACHE`, else `~/.cache/inpaintzoo/weights`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "inpaintzoo" / "weights"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str, what: str) -> Path:
    actual = sha256_file(path)
    if actual != sha256:
        raise DataError(f"{what}: checksum mismatch for {path} (sha256 {actual[:16]}..., expected {sha256[:16]}...)")
    return path


def download(url: str, sha256: str, target: Path, progress: bool = True) -> Path:
    """Fetch `url` into `target`: streamed to a temporary file beside it, hashed, renamed only when it matches.

    Nothing half-written is left behind: an interrupted or mismatching download removes its temporary file.
    """
    from inpaintzoo.engine.progress import Progress

    with contextlib.ExitStack() as stack:  # the staged file is renamed over `target` only if the block ends normally
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = stack.enter_context(atomic_path(target, suffix=".part"))
        except OSError as exc:
            raise DataError(
                f"cannot write to the weights cache {target.parent} ({exc.strerror or exc}); set {CACHE_ENV} to a "
                "writable folder"
            ) from None
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                total = int(response.headers.get("Content-Length") or 0)
                with Progress(enabled=progress) as bar:
                    task = bar.task(f"download {target.name}", total=total or 1)
                    while chunk := response.read(CHUNK):
                        digest.update(chunk)
                        f.write(chunk)
                        bar.advance(task, by=len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DataError(
                f"cannot download {url} ({reason}); offline? put the file at {target} (sha256 {sha256[:16]}...)"
            ) from None
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: sha256 {digest.hexdigest()[:16]}..., expected {sha256[:16]}...; "
                "nothing was kept"
            )
    return target


def weights_path(entry: PretrainedEntry, progress: bool = True) -> Path:
    """The entry's verified safetensors file on this machine (downloading it once if it lives elsewhere)."""
    w = entry.weights
    what = f"pretrained {entry.name!r}"
    if w.file is not None:
        if not w.file.is_file():
            raise DataError(f"{what}: its weights {w.file} are missing; reinstall the package that ships it")
        return verify(w.file, w.sha256, what)
    if w.url is not None:
        base = Path(urllib.parse.urlparse(w.url).path).name or f"{entry.name}.safetensors"
        target = cache_dir() / f"{w.sha256[:16]}-{base}"  # the checksum in the name: a new file never collides
        if target.is_file():
            try:
                return verify(target, w.sha256, what)
            except DataError:
                target.unlink()  # a stale or corrupted copy: fetch it again
        return download(w.url, w.sha256, target, progress=progress)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UsageError(f"{what} lives on the Hugging Face Hub ({w.hf_hub_id}): pip install huggingface_hub") from None
    try:
        extra = {"revision": w.revision} if w.revision else {}
        path = Path(hf_hub_download(repo_id=w.hf_hub_id, filename=w.filename or f"{entry.name}.safetensors", **extra))
    except Exception as exc:  # the hub raises its own error types (offline, missing repo, ...)
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{what}: cannot fetch {w.hf_hub_id}/{w.filename} from the Hugging Face Hub ({why})") from None
    return verify(path, w.sha256, what)


# -- loading ----------------------------------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, floats widened to float32 (the precision every model computes in)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"cannot read weights {path}: {exc}") from None
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}


def load_pretrained(
    name: str | PretrainedEntry,
    device: str = "auto",
    registry: Registry | None = None,
    progress: bool = True,
) -> Run:
    """A registered entry (by name) as a `Run` without a run directory, on `device`."""
    from inpaintzoo.config import check_plugins
    from inpaintzoo.engine.build import build_mask, build_models, resolve_device
    from inpaintzoo.engine.checkpoint import load_module_state
    from inpaintzoo.runs import Run

    if isinstance(name, str) and name in CLASSICAL:
        return ClassicalModel(name)  # type: ignore[return-value]  # the same face as a Run where commands use it
    registry = registry or _default_registry()
    entry = name if isinstance(name, PretrainedEntry) else get_entry(name, registry)
    config = entry.config
    check_plugins(config, registry)  # "decoder 'x' comes from plugin 'y', which is not installed"
    mask = build_mask(config, registry)
    model = build_models(config, registry, mask).model
    state = load_state(weights_path(entry, progress=progress))
    try:
        load_module_state(model, state, "model")
    except RunDirError as exc:
        raise DataError(f"pretrained {entry.name!r}: {exc}") from None
    dev = resolve_device(device)
    return Run(None, config, model.to(dev).eval(), mask, dev, registry, pretrained_name=entry.name)


# -- export: a run directory -> NAME.safetensors + NAME.json --------------------------------------------------------


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float tensors as float16 where every value fits (others stay float32); integers untouched."""
    import torch

    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point() and bool(value.abs().max() <= FP16_MAX if value.numel() else True):
            value = value.to(torch.float16)
        out[key] = value.clone().contiguous()  # safetensors refuses shared storage
    return out


def architecture_of(config: dict[str, Any]) -> str:
    return config["density"]["name"] if config["task"] == "density" else config["encoder"]["name"]


def train_command(config: dict[str, Any], registry: Registry) -> str:
    """`inpaintzoo train ...` with every choice and every value that differs from its default."""
    from inpaintzoo.config import COMPONENT_GROUPS, SETTINGS_GROUPS, resolve_config

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
    from safetensors.torch import save_file

    from inpaintzoo.runs import load_run

    registry = registry or _default_registry()
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
    box = None if run.is_density else getattr(run.model, "box", None)
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
    arch = architecture_of(config)
    mask = config["mask"]["name"]
    if config["task"] == "density":
        what = f"{arch} density model"
    else:
        what = f"{arch} context encoder ({config['loss']['name']} loss)"
    hole = f"the {box[2]}x{box[3]} box" if box is not None else f"any mask (trained on mask={mask})"
    size = config["data"].get("image_size", 32)
    return f"{what} for {size}x{size} {config['data']['name']} images; fills {hole}"


def _score(entry: PretrainedEntry, registry: Registry, progress: bool, limit: int) -> dict[str, Any]:
    return _score_run(load_pretrained(entry, device="auto", registry=registry, progress=False), progress, limit)


def _score_run(run: Run, progress: bool, limit: int) -> dict[str, Any]:
    metrics, _ = run.evaluate("test", limit=limit, progress=progress)
    return {k: (float(v) if isinstance(v, float) else v) for k, v in metrics.items()}


class _CallableModule(types.ModuleType):
    """`inpaintzoo.pretrained(NAME)` loads an entry; the module's functions stay reachable as attributes."""

    def __call__(self, name: str, device: str = "auto") -> Run:
        return load_pretrained(name, device=device)


sys.modules[__name__].__class__ = _CallableModule
