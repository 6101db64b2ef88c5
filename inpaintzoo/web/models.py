"""The models a server offers: pretrained entries by name and local run directories, loaded once.

Each is a `ServedModel` with the name the page shows, where it came from and, for density models, the
decoding modes it can fill with. Loading happens at start-up, so a wrong `--run` or `--model` is a
one-line error before the server listens rather than a failure on the first fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpaintzoo.contracts import Decoding
from inpaintzoo.decoding import for_mode
from inpaintzoo.families import family_of


@dataclass
class ServedModel:
    """One model of the page: `name` is its key in the API, `run` the loaded `inpaintzoo.runs.Run`."""

    name: str
    source: str  # "pretrained" or "run"
    run: Any
    summary: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    #: a pretrained density entry's own decoding (its card's headline mode, k, tau, mirror): the page's default
    decoding: dict[str, Any] = field(default_factory=dict)

    @property
    def decodes(self) -> bool:
        """Whether the model takes decoding options (a density model's modes); the page shows them where it does."""
        return bool(self.run.decodes)

    @property
    def is_density(self) -> bool:
        return self.decodes

    @property
    def modes(self) -> list[str]:
        """Decoding modes of a density model (empty for a context encoder, which has one answer)."""
        if not self.decodes:
            return []
        from inpaintzoo import runs

        first = self.decoding.get("mode")
        return ([first] if first in runs.DENSITY_MODES else []) + [m for m in runs.DENSITY_MODES if m != first]

    def decoding_for(self, mode: str, seed: int = 0) -> Decoding:
        """What a fill in `mode` decodes with: the library's rule (`decoding.for_mode`) over the card's decoding."""
        card = Decoding(**self.decoding) if self.decoding else None
        return for_mode(card, mode, seed=seed)

    def decode_options(self, mode: str) -> dict[str, Any]:
        """The card's `k`, `tau` and `mirror` where they apply to `mode` (its own mode), else none."""
        chosen = self.decoding_for(mode)
        if chosen == Decoding(mode=mode):
            return {}
        return {key: getattr(chosen, key) for key in ("k", "tau", "mirror") if key in self.decoding}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "density": self.decodes,
            "modes": self.modes,
            "image_size": int(self.run.image_size),
            "summary": self.summary,
            "metrics": self.metrics,
        }

    def cannot_serve(self, mask: Any, strategy: str = "crop") -> str | None:
        """Why this model cannot fill `mask` ((H, W) bool tensor) with `strategy`, or None where it can."""
        return self.run.serves(mask, strategy)


def _card_fields(entry: Any) -> tuple[str, dict[str, float]]:
    """A pretrained entry's one-line summary (with its test scores) and its numeric metrics, from its card."""
    metrics = getattr(entry, "metrics", {}) or {}
    return str(getattr(entry, "summary", "")), {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def load_models(
    names: Sequence[str] = (), run_dirs: Sequence[str | Path] = (), device: str = "auto"
) -> list[ServedModel]:
    """Load `names` (pretrained entries; every entry when neither names nor run dirs are given) and `run_dirs`."""
    import inpaintzoo
    from inpaintzoo.decoding import card_decoding
    from inpaintzoo.runs import load_run

    entries = {entry.name: entry for entry in inpaintzoo.list_pretrained()}
    if not names and not run_dirs:
        from inpaintzoo.hub import default_model

        names = offered_by_default(list(entries.values()), first=default_model())
    from inpaintzoo.classical import SUMMARIES as classical_summaries
    served: list[ServedModel] = []
    for name in names:
        run = inpaintzoo.pretrained(name, device=device)
        summary, metrics = _card_fields(entries.get(name))
        summary = summary or classical_summaries.get(name, "")
        card = card_decoding(entries.get(name)) if run.decodes else None  # the CLI's rule: the card's decoding
        decoding = {k: getattr(card, k) for k in ("mode", "k", "tau", "mirror")} if card is not None else {}
        served.append(ServedModel(name, "pretrained", run, summary, metrics, decoding))
    taken = {m.name for m in served}
    for path in run_dirs:
        run = load_run(path, device=device)
        name = base = Path(path).resolve().name
        suffix = 2
        while name in taken:
            name, suffix = f"{base}-{suffix}", suffix + 1
        taken.add(name)
        served.append(ServedModel(name, "run", run, _run_summary(run.config)))
    return served


def offered_by_default(entries: Sequence[Any], first: str | None = None) -> list[str]:
    """Every pretrained entry, photo models first (`first`, the one `inpaint` uses by default, ahead of them),
    with the classical fills after them to compare against."""
    from inpaintzoo.classical import patchmatch_available

    photo = [e.name for e in entries if e.config.get("data", {}).get("name") == "photos"]
    photo.sort(key=lambda name: name != first)  # stable: the rest keep their order
    classical = ["telea", "navier-stokes"] + (["patchmatch"] if patchmatch_available() else [])
    return photo + classical + [e.name for e in entries if e.name not in photo]


def _run_summary(config: dict[str, Any]) -> str:
    """A few words on what a run is: its density model, or its encoder, decoder and loss, and its mask."""

    def choice(group: str) -> str | None:
        value = config.get(group)
        if isinstance(value, dict):
            return value.get("name")
        return value if isinstance(value, str) else None

    parts: list[str | None] = [choice(group) for group in family_of(config).parts(config)]
    parts.append(f"mask {choice('mask')}" if choice("mask") else None)
    return ", ".join(p for p in parts if p)
