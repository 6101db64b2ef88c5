"""inpaintzoo: a plugin-based PyTorch model zoo for image inpainting."""

from inpaintzoo.plugins import hookimpl
from inpaintzoo.registry import KINDS, Collection, Component, Registry

__version__ = "0.1.0"
__all__ = ["KINDS", "Collection", "Component", "Registry", "__version__", "hookimpl"]
