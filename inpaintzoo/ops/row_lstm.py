"""The recurrence of one Row LSTM layer over a whole image: every row's state convolution and cell.

The input-to-state part of the gates does not depend on the recurrence, so the model computes it for all
rows with one convolution and hands it over in rows-first layout; what is left runs row after row.

Semantics (the C++ op `torch.ops.inpaintzoo.row_lstm(input_gates, w_state) -> (h, c)` implements the same):

- `input_gates`: float `(R, N, W, 4H)`, row `i`'s input-to-state pre-activations `[i, f, g, o]`;
- `w_state`: `(4H, H, 3)`, a `Conv1d` weight over the row above's hidden state at columns `w-1, w, w+1`
  (zero padded);
- row `i`: `gates = input_gates[i] + conv1d(h[i-1])` (nothing added for row 0), then the LSTM cell with
  `c[i-1]` (zeros for row 0) as the previous cell state: each column's cell state flows straight down;
- returns `h` and `c`, `(R, N, W, H)` each; differentiable with respect to `input_gates` and `w_state`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inpaintzoo.ops.backend import extension_op
from inpaintzoo.ops.lstm_cell import lstm_cell_reference, upcast


def row_lstm_reference(input_gates: torch.Tensor, w_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pure-PyTorch recurrence: a Python loop over rows of `conv1d` and the reference cell."""
    rows, batch, width, gates_width = input_gates.shape
    if w_state.dim() != 3 or gates_width != 4 * w_state.shape[1] or w_state.shape[0] != gates_width:
        raise ValueError(f"w_state {tuple(w_state.shape)} does not fit input_gates {tuple(input_gates.shape)}")
    c = input_gates.new_zeros(batch, width, w_state.shape[1])
    h: torch.Tensor | None = None
    hs, cs = [], []
    for gates in input_gates.unbind(0):  # unbind, not indexing: its backward stacks the rows' gradients once
        if h is not None:
            gates = gates + F.conv1d(h.transpose(1, 2), w_state, padding=1).transpose(1, 2)
        h, c = lstm_cell_reference(gates, c)
        hs.append(h)
        cs.append(c)
    if not hs:
        empty = input_gates.new_zeros(0, batch, width, w_state.shape[1])
        return empty, empty.clone()
    return torch.stack(hs), torch.stack(cs)


def row_lstm(input_gates: torch.Tensor, w_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(h, c)` of every row (see the module docstring): the compiled op when built, else the reference.

    Reduced-precision gates (a bf16 GEMM under autocast) run the recurrence in float32, as `lstm_cell` does."""
    input_gates, w_state = upcast(input_gates, w_state)
    op = extension_op("row_lstm")
    if op is None:
        return row_lstm_reference(input_gates, w_state)
    if torch.is_autocast_enabled(input_gates.device.type):
        return _RowLSTMNoAutocast.apply(input_gates, w_state)
    h, c = op.default(input_gates, w_state)
    return h, c


class _RowLSTMNoAutocast(torch.autograd.Function):
    """The compiled recurrence with autocast off in its forward and backward: under `torch.autocast` (where a
    training step may also run its backward) the state GEMMs inside the op would otherwise be cast to bf16."""

    @staticmethod
    def forward(ctx, input_gates, w_state):  # type: ignore[override]
        with torch.autocast(input_gates.device.type, enabled=False):
            h, c, gates = torch.ops.inpaintzoo.row_lstm_train(input_gates, w_state)
        ctx.save_for_backward(gates, h, c, w_state)
        ctx.set_materialize_grads(False)
        return h, c

    @staticmethod
    def backward(ctx, grad_h, grad_c):  # type: ignore[override]
        gates, h, c, w_state = ctx.saved_tensors
        if grad_h is None and grad_c is None:
            return None, None
        grad_h = torch.zeros_like(h) if grad_h is None else grad_h.float()
        grad_c = None if grad_c is None else grad_c.float()
        with torch.autocast(h.device.type, enabled=False):
            return torch.ops.inpaintzoo.row_lstm_backward(grad_h, grad_c, gates, h, c, w_state)
