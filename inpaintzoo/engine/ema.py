"""Exponential moving average of a model's weights, used for evaluation and export."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps `shadow`, a frozen copy of `model` whose parameters trail the live ones.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a short run is not
    judged by weights that still remember their initialisation. Buffers (batch-norm statistics) are
    copied, not averaged.
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
        for ema_b, b in zip(self.shadow.buffers(), model.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.shadow.state_dict(), "__ema_updates__": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        state = dict(state)
        self.updates = int(state.pop("__ema_updates__", torch.tensor(0)))
        self.shadow.load_state_dict(state)

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged weights alone, loadable into the model."""
        return self.shadow.state_dict()
