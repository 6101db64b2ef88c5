"""Mixed precision and memory layout: one place that knows how a step runs in fp32, bf16 or fp16.

`train.precision=bf16` runs the forward (and so the backward) under `torch.autocast`: on a CPU with AMX-BF16
(Sapphire Rapids and later) the convolutions and matrix products run on the tile unit, several times the fp32
rate. Master weights, optimiser state, EMA and checkpoints stay fp32, so resume is exact within a precision.
`fp16` is for CUDA only and scales the loss (`torch.amp.GradScaler`) so small gradients do not flush to zero.
`channels_last` stores activations NHWC, the layout oneDNN and cuDNN convolutions prefer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch

from inpaintzoo.errors import UsageError

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device, key: str = "train.precision") -> str:
    """The precision if this device can run it, else a UsageError that says what to use instead."""
    if precision not in PRECISIONS:
        raise UsageError(f"{key}={precision!r} is not a precision: use fp32, bf16 or fp16")
    if precision == "fp16" and device.type != "cuda":
        raise UsageError(f"{key}=fp16 needs a CUDA device; on a CPU use bf16 (fast on AMX) or fp32")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device | str, precision: str) -> Iterator[None]:
    """Run the block in `precision` (fp32: unchanged); matmuls and convolutions go to bf16/fp16."""
    device = torch.device(device)
    if precision == "fp32":
        yield
        return
    check_precision(precision, device)
    with torch.autocast(device.type, dtype=DTYPES[precision]):
        yield


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 on CUDA (bf16 has fp32's range and needs none)."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def scaled(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> torch.Tensor:
    """The loss to differentiate: multiplied by the fp16 loss scale, or unchanged without a scaler."""
    return loss if scaler is None else scaler.scale(loss)


def step_optimizer(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """An optimiser step; with a scaler, gradients are unscaled, non-finite fp16 steps skipped, the scale adapted."""
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


def to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """The module's 4-d parameters in NHWC; inputs follow the weights' layout in oneDNN/cuDNN convolutions."""
    return module.to(memory_format=torch.channels_last)


@lru_cache(maxsize=1)
def cpu_features() -> dict[str, bool]:
    """Which fast bf16 paths this CPU has: AMX-BF16 tiles, AVX-512-BF16 dot products (Linux flags)."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags, "avx512f": "avx512f" in flags}
