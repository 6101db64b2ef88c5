"""Pretrained cards: a named, trained model described by a `NAME.json` card beside its `NAME.safetensors` file.

An entry is named `architecture.tag` (`unet.l2`), like timm's pretrained configs, and comes through the
registry as kind `pretrained`, so a plugin publishes entries exactly as inpaintzoo does: a folder of cards
registered in one call (`register_folder`, or `folder_hook` for a whole plugin module). A card says where the
weights are (`inpaintzoo.hub.cache`):

- `file`: beside the card (package data: works offline on a fresh machine);
- `url`: downloaded once into the user cache (`$INPAINTZOO_CACHE`, default `~/.cache/inpaintzoo/weights`);
- `hf_hub_id` + `filename`: a Hugging Face Hub file, through `huggingface_hub` when it is installed.

An entry is the registry's factory for its name: calling it loads the model (`inpaintzoo.hub.load`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.hub.load import load_pretrained
from inpaintzoo.registry import Registry, hookimpl

if TYPE_CHECKING:
    from inpaintzoo.runs import Run

CARD_FORMAT = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_.-]*$")


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
        """`package`, `url` or `hf-hub`: what `inpaintzoo models` says about getting the file."""
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
        """One line for `inpaintzoo list pretrained`: the card's summary and its headline test scores."""
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
    """`name` if it is `ARCHITECTURE.TAG` in lower case, else a one-line error with an example."""
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"pretrained name {name!r} must be ARCHITECTURE.TAG in lower case (letters, digits, - and _), e.g. unet.l2"
        )
    return name


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


# -- folders of cards: what a plugin registers ------------------------------------------------------------------


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

    @hookimpl
    def inpaintzoo_register(registry: Registry) -> None:
        register_folder(registry, folder)

    return inpaintzoo_register
