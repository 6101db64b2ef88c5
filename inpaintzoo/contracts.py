"""What the core needs of each kind of model, written as `typing.Protocol`s, and the one `Decoding` value.

The core (runs, the CLI, the web app, the benchmarks) calls these, never a family by name:

- `FillsHoles`: anything loaded as a model (a context encoder's run, a density model's run, a classical fill):
  `inpaint(images, mask, strategy=..., **decoding)`, `serves(mask, strategy)`, `decodes`, `name`.
- `DensityModel`: what a density plugin provides: `nll(images)` to train on and `fill(images, mask, mode, ...)`.
- `Objective`: what trains a model (a `loss` plugin, or a density model's likelihood): `configure`, `step`.
- `MaskSampler`: a `mask` plugin: `mask(batch, generator)` bool holes; `box` when every hole is one rectangle.
- `ModelFamily`: how one family (context encoders, density models) is built, trained, validated and filled;
  `inpaintzoo.families` holds the two adapters, and nothing else asks which family it holds.
- `SizePolicy`: a model of one size, or a fully convolutional one that takes any size divisible by N.
- `Decoding`: how a density model decodes (mode, k, tau, window, mirror, temperature, seed), built once from
  the command line, the page or a card and handed down.

Plugins keep working across versions: `call_supported` passes a plugin's method only the options its signature
takes; an option it lacks is dropped while it has its neutral value, and is a one-line error naming the plugin
and what it lacks when the request needs it (pytest's use of pluggy: an implementation gets what it asks for).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
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
class Objective(Protocol):
    """What trains a model: makes its optimisers, then performs one update per batch.

    `scaler` is set by the engine for fp16 on CUDA (losses scaled before backward, steps unscaled)."""

    uses_discriminator: bool
    scaler: torch.amp.GradScaler | None

    def configure(
        self, model: torch.nn.Module, discriminator: torch.nn.Module | None, lr: float, disc_lr: float
    ) -> dict[str, torch.optim.Optimizer]: ...

    def step(
        self,
        model: torch.nn.Module,
        discriminator: torch.nn.Module | None,
        images: torch.Tensor,
        mask: torch.Tensor,
        judge: str,
        step: int,
    ) -> dict[str, float]: ...


@runtime_checkable
class MaskSampler(Protocol):
    """A `mask` plugin: `(B, 1, S, S)` bool holes; `box` is the one rectangle every hole is, or None."""

    box: tuple[int, int, int, int] | None

    def __call__(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class ModelFamily(Protocol):
    """One family of models, adapted to the core once (`inpaintzoo.families`), chosen by the config's `task`."""

    task: str
    component_group: str  # the registry kind of the family's model: encoder or density
    decodes: bool  # whether its fills take a `Decoding`
    recalibrates_ema: bool  # whether the moving average's batch-norm statistics are measured afresh
    curve_keys: tuple[str, str]  # the training and validation curves worth plotting

    def build_models(self, config: dict[str, Any], registry: Any, mask: Any) -> Any: ...

    def run_name_parts(self, config: dict[str, Any]) -> list[str]: ...

    def describe(self, config: dict[str, Any]) -> str: ...  # "pixelcnn density model", "unet context encoder (l2 loss)"

    def parts(self, config: dict[str, Any]) -> list[str]: ...  # the config groups that make the model

    def geometry(self, model: torch.nn.Module, size: int) -> Any: ...

    def refuses(self, hole_pixels: int, strategy: str) -> str | None: ...

    def filler(
        self, model: torch.nn.Module, decoding: Decoding, device: torch.device, owner: str
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]: ...

    def preview_fill(self, model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...

    def dry_run(self, model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor) -> None: ...

    def validate(
        self, model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    ) -> dict[str, float]: ...  # (images, holes) batch by batch, as the trainer draws them

    def evaluation(self) -> Any: ...


@runtime_checkable
class FillsHoles(Protocol):
    """Anything loaded as a model: a run, a pretrained entry, a classical fill."""

    name: str
    decodes: bool  # whether `inpaint` takes decoding options (mode, k, tau, window, mirror, temperature, seed)

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
