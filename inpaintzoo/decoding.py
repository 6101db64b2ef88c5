"""Which `Decoding` a model fills with, decided once for the CLI and the web page.

Two rules, both here so that every front end applies them the same way:

- a pretrained density entry decodes as its card's headline metrics were measured (their mode, K, tau and
  mirror), so what a user gets by default is what the zoo's table says; options the user gives win;
- a model that takes no decoding (a context encoder, a classical fill) refuses decoding options instead of
  dropping them silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from inpaintzoo.contracts import Decoding
from inpaintzoo.errors import UsageError
from inpaintzoo.hub.load import get_entry

#: the options only a model that decodes reads, in the order a refusal names them (the seed is not one of them:
#: it also draws a model's own hole)
DECODING_OPTIONS = ("mode", "k", "temperature", "tau", "window", "mirror")


def card_decoding(entry: Any) -> Decoding | None:
    """The decoding an entry's headline metrics were measured with, or None where its card records no mode.

    `entry` is anything with the card's `metrics` (a `PretrainedEntry`); None (no entry) gives None."""
    metrics = dict(getattr(entry, "metrics", None) or {})
    if "mode" not in metrics:
        return None
    neutral = Decoding()
    return Decoding(
        mode=str(metrics["mode"]),
        k=int(metrics["k"]) if "k" in metrics else neutral.k,
        tau=float(metrics["tau"]) if "tau" in metrics else neutral.tau,
        mirror=bool(metrics.get("mirror", False)),
    )


def for_mode(card: Decoding | None, mode: str | None, **given: Any) -> Decoding:
    """The card's decoding where `mode` is the card's own mode (or none is named), else the defaults with `mode`;
    the options in `given` win either way. The card's K, tau and mirror were chosen for its mode only."""
    base = card if card is not None and mode in (None, card.mode) else Decoding()
    return replace(base, **({"mode": mode} if mode else {}), **given)


def refuse_decoding_options(model: Any, given: Mapping[str, Any], what: str) -> None:
    """No silent drops: a decoding option given for a model that takes none is a one-line error."""
    if model.decodes:
        return
    named = [name for name in DECODING_OPTIONS if name in given]
    if named:
        raise UsageError(
            f"--{named[0]} applies to density models, which fill pixel by pixel; {what} is a context encoder "
            "(it predicts the whole patch at once): drop it"
        )


def decoding_for(model: Any, given: Mapping[str, Any], what: str | None = None) -> Decoding | None:
    """The `Decoding` `model` fills with, from the options the user `given` (only those they set), or None for a
    model that takes none (refusing any decoding option given for it; `what` names it, default its name).

    A pretrained entry (`model.pretrained_name`) decodes as its card says unless the user names another mode
    (`for_mode`); the options they give (K, tau, mirror, the temperature, ...) win over the card's either way.
    """
    refuse_decoding_options(model, given, what or model.name)
    if not model.decodes:
        return None
    name = getattr(model, "pretrained_name", None)
    card = card_decoding(get_entry(name, model.registry)) if name is not None else None
    options = {key: value for key, value in given.items() if key != "mode"}
    return for_mode(card, given.get("mode"), **options)


def decoding_kwargs(decoding: Decoding | None) -> dict[str, Any]:
    """`decoding` as `Run.inpaint`'s keyword options (none for a model that takes no decoding)."""
    return {} if decoding is None else {**decoding.options(), "seed": decoding.seed}


def apply_texture(model: Any, level: float | None, what: str | None = None) -> None:
    """Set the share of the context's grain a photo model tops its fill up to (`model.texture`; None: the
    model's own). Models without the texture step (density models, fixed-box models, classical fills) refuse
    it in one line instead of ignoring it."""
    if level is None:
        return
    name = what or getattr(model, "name", "this model")
    network = getattr(model, "model", None)
    if not hasattr(network, "texture") or not model.geometry.native:
        raise UsageError(f"--texture applies to photo models that run at any size; {name} has no texture step")
    if not 0 <= level <= 1:
        raise UsageError(f"--texture is a share of the context's grain: give 0 (none) to 1, not {level:g}")
    network.texture = level

