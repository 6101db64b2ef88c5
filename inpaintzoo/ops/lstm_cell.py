"""The LSTM cell nonlinearity shared by every recurrent density model (Row LSTM, Diagonal BiLSTM, flat LSTM).

The models compute their gate pre-activations themselves (convolutions, embeddings, matmuls); only the
elementwise update below runs here, so that one compiled kernel speeds up all of them.

Semantics (the C++ op `torch.ops.inpaintzoo.lstm_cell(gates, c_prev) -> (h, c)` implements the same):

- `gates`: float `(..., 4H)`, the pre-activations in the order `[i, f, g, o]` along the LAST dimension
  (`i = gates[..., 0:H]`, `f = gates[..., H:2H]`, `g = gates[..., 2H:3H]`, `o = gates[..., 3H:4H]`);
- `c_prev`: float `(..., H)`, the previous cell state, same leading dimensions;
- `c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g)`, `h = sigmoid(o) * tanh(c)`; both `(..., H)`;
- differentiable with respect to `gates` and `c_prev`.
"""

from __future__ import annotations

import torch

from inpaintzoo.ops.backend import extension_op


def lstm_cell_reference(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pure-PyTorch cell: returns `(h, c)` (see the module docstring)."""
    if gates.shape[-1] != 4 * c_prev.shape[-1]:
        raise ValueError(f"gates end in {gates.shape[-1]} channels but c_prev in {c_prev.shape[-1]}: need 4x")
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


REDUCED = (torch.bfloat16, torch.float16)


def upcast(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors in float32 when any is bf16/fp16 (and the others float32 or reduced), else unchanged."""
    if any(t.dtype in REDUCED for t in tensors):
        return tuple(t.float() for t in tensors)
    return tensors


def lstm_cell(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(h, c)` from gate pre-activations `[i, f, g, o]`: the compiled op when built, else the reference.

    The op takes any strides (it makes what it needs contiguous itself) and its autograd is C++, so this adds
    nothing per call but the backend look-up. Reduced-precision inputs (gates from a bf16 GEMM under autocast)
    run the cell in float32: the cell state is an accumulator, and the kernels are float32/float64."""
    gates, c_prev = upcast(gates, c_prev)
    op = extension_op("lstm_cell")
    if op is None:
        return lstm_cell_reference(gates, c_prev)
    h, c = getattr(op, "default", op)(gates, c_prev)  # the overload itself skips the packet's Python dispatch
    return h, c
