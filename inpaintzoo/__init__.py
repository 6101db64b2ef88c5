"""inpaintzoo: a plugin-based PyTorch model zoo for image inpainting.

The Python face, for notebooks and scripts::

    import inpaintzoo
    inpaintzoo.list_components("encoder", "res*")
    encoder = inpaintzoo.build("encoder", "resnet", in_channels=4, image_size=32, width=32)
    run_dir = inpaintzoo.train(["data=samples", "train.epochs=1"])
    run = inpaintzoo.load_run(run_dir)
    filled = run.inpaint(images, mask)
    zoo = inpaintzoo.pretrained("unet.freeform")   # a pretrained entry: a Run without a run directory

The functions import the engine when called, so `import inpaintzoo` (and `inpaintzoo --help`) stays free of torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inpaintzoo.plugins import default_registry, hookimpl, load_registry
from inpaintzoo.registry import KINDS, Collection, Component, Registry

if TYPE_CHECKING:
    from inpaintzoo.runs import Run

__version__ = "0.1.0"


def list_components(kind: str | None = None, pattern: str = "*") -> list[Component]:
    """Registered components of one kind (or all), whose name matches a glob pattern."""
    return default_registry().list(kind, pattern)


def build(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Build a component by kind and name; keyword arguments are its contract arguments and parameters."""
    return default_registry().build(kind, name, **kwargs)


def train(overrides: list[str] | None = None, progress: bool = False, resume: str | None = None) -> Any:
    """Train from `key=value` overrides (as on the command line); returns the run directory."""
    from inpaintzoo.engine.trainer import train as _train

    return _train(list(overrides or []), progress=progress, resume=resume)


def load_run(path: str, checkpoint: str = "best", device: str = "auto") -> Run:
    """Load a trained run directory; `run.inpaint(images, mask)` fills holes, `run.evaluate()` scores it."""
    from inpaintzoo.runs import load_run as _load_run

    return _load_run(path, checkpoint=checkpoint, device=device)


def pretrained(name: str, device: str = "auto") -> Run:
    """A pretrained entry (`unet.l2`) or classical fill (`telea`) by name, loaded as a `Run` without a run directory.

    The entries are `inpaintzoo.hub`'s; see `inpaintzoo models` for what is installed."""
    from inpaintzoo.hub.load import load_pretrained

    return load_pretrained(name, device=device)


def list_pretrained(pattern: str = "*") -> list[Any]:
    """Pretrained entries (name, config, weights, card with metrics) whose name matches a glob pattern."""
    from inpaintzoo.hub.load import list_pretrained as _list_pretrained

    return _list_pretrained(pattern)


def inpaint(run_dir: str, images: Any, mask: Any = None, **kwargs: Any) -> Any:
    """Fill the holes of `images` (B,3,H,W in [0,1]) with the model of a run directory."""
    return load_run(run_dir).inpaint(images, mask, **kwargs)


__all__ = [
    "KINDS",
    "Collection",
    "Component",
    "Registry",
    "__version__",
    "build",
    "default_registry",
    "hookimpl",
    "inpaint",
    "list_components",
    "list_pretrained",
    "load_registry",
    "load_run",
    "pretrained",
    "train",
]
