"""`inpaintzoo train` with the L2 objective's optimiser swapped and the first step's gradients recorded.

tests/test_distributed.py runs this file under torchrun (`ddp_probe.py OPTIMISER GRADS train ...`) and calls
`probe` in its own process for the one-process run, so both runs make their optimiser the same way. The engine
has no optimiser setting: the swap replaces the `adam` factory the L2 objective calls.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintzoo.zoo import losses


def sgd(params: Iterable[nn.Parameter], lr: float, **_: Any) -> torch.optim.Optimizer:
    """Plain SGD: a step linear in the gradient, so rounding differences in the gradient stay rounding-sized."""
    return torch.optim.SGD(list(params), lr=lr)


OPTIMISERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"sgd": sgd, "adam": losses.adam}


def save_first_gradients(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """After the first step, write the gradients it used (on a torchrun job: averaged over the processes)."""
    done = False

    def hook(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        nonlocal done
        if done:
            return
        done = True
        if int(os.environ.get("RANK", "0")) == 0:
            grads = [p.grad.detach().clone() for group in opt.param_groups for p in group["params"]]
            torch.save(grads, path)

    optimizer.register_step_post_hook(hook)


@contextmanager
def probe(optimiser: str, grads: Path) -> Iterator[None]:
    """Within the block, the L2 objective's optimiser is `optimiser` and its first step's gradients go to `grads`."""
    make = OPTIMISERS[optimiser]

    def factory(params: Iterable[nn.Parameter], lr: float, **kwargs: Any) -> torch.optim.Optimizer:
        optimizer = make(params, lr=lr, **kwargs)
        save_first_gradients(optimizer, grads)
        return optimizer

    saved = losses.adam
    losses.adam = factory  # type: ignore[assignment]
    try:
        yield
    finally:
        losses.adam = saved


if __name__ == "__main__":
    from inpaintzoo.cli import main

    with probe(sys.argv[1], Path(sys.argv[2])):
        main(sys.argv[3:])
