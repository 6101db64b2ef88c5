"""Exponential moving average of a model's weights, used for evaluation and export."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class EMA:
    """Keeps `shadow`, a frozen copy of `model` whose parameters trail the live ones.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a short run is not
    judged by weights that still remember their initialisation. Buffers (batch-norm statistics) are
    copied, not averaged: they describe the live weights, so before the averaged model is evaluated or
    exported its statistics are measured again for its own weights (`recalibrate_batch_norm`).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        weight = 1.0 - self.current_decay()
        self.updates += 1
        # one fused call per list rather than a kernel launch per tensor
        torch._foreach_lerp_(list(self.shadow.parameters()), [p.detach() for p in model.parameters()], weight)
        buffers = list(self.shadow.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(model.buffers()))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.shadow.state_dict(), "__ema_updates__": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        state = dict(state)
        self.updates = int(state.pop("__ema_updates__", torch.tensor(0)))
        self.shadow.load_state_dict(state)

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged weights alone, loadable into the model."""
        return self.shadow.state_dict()


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, forward: Callable[[nn.Module], object], batches: int) -> bool:
    """Measure every batch-norm layer's running statistics again, for `model`'s own weights ("precise BN").

    `forward(model)` runs one batch of training data through it; the statistics are the plain average over
    `batches` such calls. Only the batch-norm layers switch to training mode (dropout stays off), and no
    global random state is used, so calibrating never changes what training does next. Returns False (and
    does nothing) when the model has no batch norm.
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers or batches < 1:
        return False
    was_training = model.training
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calls
        m.train()
    for _ in range(batches):
        forward(model)
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    model.train(was_training)
    return True
