"""Which kernel backend runs the hot loops: the compiled extension `inpaintzoo._C` or plain PyTorch.

`INPAINTZOO_BACKEND=torch` forces the PyTorch implementation, `INPAINTZOO_BACKEND=extension` makes a
missing extension an error instead of a silent fallback; unset (`auto`) uses the extension if it loads.
`INPAINTZOO_JIT=1` compiles the extension from `csrc/` on first use (torch.utils.cpp_extension.load)
where the built module is missing, e.g. in a source checkout that was never `pip install`ed; it is off by
default so that importing stays fast.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from inpaintzoo.errors import UsageError

BACKEND_ENV = "INPAINTZOO_BACKEND"
JIT_ENV = "INPAINTZOO_JIT"
BACKEND_CHOICES = ("auto", "torch", "extension")
SOURCE_DIR = Path(__file__).resolve().parents[2] / "csrc"


def _compile_flags() -> tuple[list[str], list[str]]:
    """C++ and link flags matching setup.py (OpenMP so that at::parallel_for really runs threads)."""
    import torch

    cflags, ldflags = ["-O3"], []  # torch adds the C++ standard its headers need
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        cflags.append("-fopenmp")
        ldflags.append("-fopenmp")
    return cflags, ldflags


def _jit_build() -> tuple[ModuleType | None, str]:
    """Compile csrc/ into a cached module with torch.utils.cpp_extension.load (minutes the first time)."""
    sources = sorted(str(p) for p in SOURCE_DIR.glob("*.cpp"))
    if not sources:
        return None, f"no C++ sources at {SOURCE_DIR} to JIT-build from"
    import torch
    from torch.utils import cpp_extension

    cflags, ldflags = _compile_flags()
    cuda_sources = sorted(str(p) for p in SOURCE_DIR.glob("*.cu"))
    with_cuda = bool(cuda_sources) and torch.version.cuda is not None and shutil.which("nvcc") is not None
    if with_cuda:
        sources += cuda_sources
        cflags.append("-DWITH_CUDA")
    try:
        module = cpp_extension.load(
            name="inpaintzoo_C",
            sources=sources,
            extra_cflags=cflags,
            extra_cuda_cflags=["-O3", "-DWITH_CUDA"],
            extra_ldflags=ldflags,
            with_cuda=with_cuda,
        )
    except Exception as exc:  # a compiler error is a reason to fall back, not to crash the import
        return None, f"JIT build of {SOURCE_DIR} failed ({type(exc).__name__}: {exc})"
    return module, ""


@cache
def load_extension() -> tuple[Any | None, str]:
    """Import the compiled extension and register its fake/autograd kernels; returns (module or None, why not)."""
    import torch  # noqa: F401  (loads libtorch before the extension that links it)

    try:
        from inpaintzoo import _C as module  # registers torch.ops.inpaintzoo.*
    except ImportError as exc:
        if os.environ.get(JIT_ENV) != "1":
            return None, f"extension not built ({exc}); run `pip install -e .` or set {JIT_ENV}=1"
        module, why = _jit_build()
        if module is None:
            return None, why
    try:
        import inpaintzoo.ops._meta  # noqa: F401  (fake kernels, autograd of lstm_cell)
    except Exception as exc:  # e.g. a stale build whose op schemas no longer match
        return None, f"extension unusable ({type(exc).__name__}: {exc}); rebuild with `pip install -e .`"
    return module, ""


def _requested() -> str:
    choice = os.environ.get(BACKEND_ENV, "auto").lower()
    if choice not in BACKEND_CHOICES:
        raise UsageError(f"{BACKEND_ENV}={choice!r} is not one of {', '.join(BACKEND_CHOICES)}")
    return choice


def backend_name() -> str:
    """`extension` or `torch`: what `inpaintzoo info` reports."""
    choice = _requested()
    if choice == "torch":
        return "torch"
    module, why = load_extension()
    if module is None and choice == "extension":
        raise UsageError(f"{BACKEND_ENV}=extension but {why}")
    return "extension" if module is not None else "torch"


def extension_op(name: str) -> Callable[..., Any] | None:
    """`torch.ops.inpaintzoo.<name>` when the extension backend is active, else None."""
    if backend_name() != "extension":
        return None
    import torch

    return getattr(torch.ops.inpaintzoo, name, None)


def backend_info() -> dict[str, Any]:
    """What `inpaintzoo info` shows about the kernels: never raises, reports problems as text."""
    info: dict[str, Any] = {"requested": os.environ.get(BACKEND_ENV, "auto").lower()}
    try:
        info["backend"] = backend_name()
    except UsageError as exc:
        info["backend"] = "unavailable"
        info["error"] = str(exc)
    if info["requested"] == "torch":
        return info
    module, why = load_extension()
    info["extension"] = module is not None
    if module is None:
        info["reason"] = why
        return info
    info["path"] = getattr(module, "__file__", None)
    info["cpu_isa"] = module.cpu_isa()
    info["cpu_isas"] = list(module.cpu_isas())
    info["openmp"] = bool(module.openmp)
    info["cuda_kernels"] = bool(module.cuda_compiled)
    return info
