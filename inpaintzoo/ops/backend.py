"""Which kernel backend runs the hot loops: the compiled extension `inpaintzoo._C` or plain PyTorch.

`INPAINTZOO_BACKEND=torch` forces the PyTorch implementation, `INPAINTZOO_BACKEND=extension` makes a
missing extension an error instead of a silent fallback; unset (`auto`) uses the extension if it loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

BACKEND_ENV = "INPAINTZOO_BACKEND"


@cache
def load_extension() -> tuple[Any | None, str]:
    """Import the compiled extension; returns (module or None, why not)."""
    try:
        from inpaintzoo import _C  # noqa: F401  (registers torch.ops.inpaintzoo.*)
    except ImportError as exc:
        return None, f"extension not built ({exc})"
    return _C, ""


def backend_name() -> str:
    """`extension` or `torch`: what `inpaintzoo info` reports."""
    choice = os.environ.get(BACKEND_ENV, "auto").lower()
    if choice == "torch":
        return "torch"
    module, why = load_extension()
    if module is None and choice == "extension":
        raise RuntimeError(f"{BACKEND_ENV}=extension but {why}")
    return "extension" if module is not None else "torch"


def extension_op(name: str) -> Callable[..., Any] | None:
    """`torch.ops.inpaintzoo.<name>` when the extension backend is active, else None."""
    if backend_name() != "extension":
        return None
    import torch

    return getattr(torch.ops.inpaintzoo, name, None)
