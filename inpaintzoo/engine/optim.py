"""The optimisers the engine and the objectives make: torch's, with its fused kernels where the device has them.

torch.optim.Adam's default (for-loop) step is a dozen small ops per parameter tensor; on a CPU that is a few
milliseconds a step for a 40-tensor generator, several percent of a context encoder's step. The fused kernel
(`fused=True`, CPU and CUDA) does the whole update in one pass over each tensor. The update is Adam's, equal to
the for-loop one to float rounding; a checkpoint keeps its optimiser's flags, so a resumed run steps as it began.

Multi-process runs (torchrun) keep the for-loop step: there, with gradients averaged by the engine's pre-step
hook, the fused step's weights drifted from the single-process run's by up to 1.6e-4 after 16 steps, where the
for-loop step stays within 3e-7 on the Intel machine (fused and for-loop agree to 1.4e-7 in one process). Adam
divides by the root of the second moment, so a last-bit difference in a near-zero gradient (another reduction
order) grows to a learning-rate-sized step; on an AMD EPYC the for-loop step drifted 1.6e-4 the same way.
tests/test_distributed.py bounds that amplification from the arithmetic instead of comparing weights to 1e-4.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: devices with a fused Adam kernel
FUSED_DEVICES = ("cpu", "cuda")


def adam(
    params: Iterable[nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    """Adam, fused when every parameter is a floating-point tensor on a device with the fused kernel and the run is
    a single process."""
    params = list(params)
    single = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    fused = single and all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)


def cooldown_factor(step: int, max_steps: int, cooldown_steps: int) -> float:
    """The learning-rate multiplier of optimiser step `step` (0-based) in a linear cooldown to 0 at `max_steps`.

    A short final phase at a falling rate settles the weights into the minimum the noisy steps circle around;
    it is a function of the step count only, so a resumed run cools down exactly as an uninterrupted one.
    """
    if cooldown_steps <= 0:
        return 1.0
    return max(0.0, min(1.0, (max_steps - step) / cooldown_steps))


@contextmanager
def scaled_lr(optimizers: Iterable[torch.optim.Optimizer], factor: float) -> Iterator[None]:
    """Every parameter group's rate times `factor` for the steps inside the block, then the scheduled rate again.

    The schedulers (and the rollback's halving) keep owning the rate; the factor never enters their state.
    """
    optimizers = list(optimizers)
    if factor == 1.0:
        yield
        return
    saved = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["lr"] * factor
    try:
        yield
    finally:
        for opt, rates in zip(optimizers, saved):
            for group, lr in zip(opt.param_groups, rates):
                group["lr"] = lr
