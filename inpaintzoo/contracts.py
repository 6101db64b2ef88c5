"""What the core needs of each kind of model, written as `typing.Protocol`s, and the one `Decoding` value.

The core (runs, the CLI, the web app, the benchmarks) calls these, never a family by name:

- `FillsHoles`: anything loaded as a model (a context encoder's run, a density model's run, a classical fill):
  `inpaint(images, mask, strategy=..., **decoding)`, `serves(mask, strategy)`, `is_density`, `name`.
- `DensityModel`: what a density plugin provides: `nll(images)` to train on and `fill(images, mask, mode, ...)`.
- `SizePolicy`: a model of one size, or a fully convolutional one that takes any size divisible by N.
- `Decoding`: how a density model decodes (mode, k, tau, window, mirror, temperature, seed), built once from
  the command line, the page or a card and handed down.

Plugins keep working across versions: `call_supported` passes a plugin's method only the options its signature
takes; an option it lacks is dropped while it has its neutral value, and is a one-line error naming the plugin
and what it lacks when the request needs it (pytest's use of pluggy: an implementation gets what it asks for).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from inpaintzoo.errors import UsageError


@dataclass(frozen=True)
class Decoding:
    """How a density model turns its distribution into a fill; the neutral values are these defaults."""

    mode: str = "greedy"
    temperature: float = 1.0
    k: int = 4
    tau: float = 1.0
    window: int | None = None
    mirror: bool = False
    seed: int = 0

    def options(self) -> dict[str, Any]:
        """The keyword options of a density model's `fill` (the seed becomes a generator, not an option)."""
        options = asdict(self)
        options.pop("seed")
        return options


NEUTRAL = Decoding().options()


@runtime_checkable
class DensityModel(Protocol):
    """A density plugin's model: trained by `nll`, filling by `fill` (older plugins take fewer options)."""

    def nll(self, images: torch.Tensor) -> torch.Tensor: ...

    def fill(
        self, images: torch.Tensor, mask: torch.Tensor, mode: str = "greedy", **options: Any
    ) -> torch.Tensor: ...


@runtime_checkable
class SizePolicy(Protocol):
    """`size_multiple`: None for a model of one size, N for one that runs at any size divisible by N."""

    @property
    def size_multiple(self) -> int | None: ...


@runtime_checkable
class FillsHoles(Protocol):
    """Anything loaded as a model: a run, a pretrained entry, a classical fill."""

    name: str
    is_density: bool

    def serves(self, mask: Any, strategy: str = "crop") -> str | None: ...

    def inpaint(self, images: torch.Tensor, mask: torch.Tensor, strategy: str = "crop", **options: Any) -> Any: ...


def accepted(method: Callable[..., Any]) -> set[str] | None:
    """The keyword names `method` takes, or None when it takes any (`**options`)."""
    parameters = inspect.signature(method).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def call_supported(
    method: Callable[..., Any],
    *args: Any,
    owner: str,
    neutral: Mapping[str, Any] = NEUTRAL,
    **options: Any,
) -> Any:
    """`method(*args, **options)` with only the options its signature takes.

    An option it does not take is dropped where its value is the neutral one (`neutral`), so a plugin written
    before the option existed keeps working; where the request needs it, the call is refused with one line that
    names `owner` (the plugin and class) and the option.
    """
    takes = accepted(method)
    if takes is None:
        return method(*args, **options)
    missing = {k: v for k, v in options.items() if k not in takes}
    for name, value in missing.items():
        if name not in neutral or neutral[name] != value:
            raise UsageError(
                f"{owner} does not take {name}={value!r} (its fill() predates that option): drop it, "
                "or update the plugin"
            )
    return method(*args, **{k: v for k, v in options.items() if k in takes})
