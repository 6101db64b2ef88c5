"""Fake (meta) kernels of the compiled `torch.ops.inpaintzoo.*` ops.

Fake kernels give the output shapes without computing, so torch.compile / torch.export trace through the
ops. The autograd of `lstm_cell` and `row_lstm` is registered once, in C++ (csrc/lstm_cell_autograd.cpp,
csrc/row_lstm.cpp): a Python registration cost more per call than the kernel itself at small sizes.
`inpaintzoo.ops.backend` imports this module right after the extension loads (the C++ library also names it
with `set_python_module`, so torch imports it on its own when it needs a fake kernel).
"""

from __future__ import annotations

from typing import Any

import torch


def _lstm_cell_shape(gates: torch.Tensor, c_prev: torch.Tensor) -> None:
    torch._check(gates.dim() >= 1, lambda: "inpaintzoo::lstm_cell: gates must have shape (..., 4H)")
    torch._check(
        gates.shape[-1] % 4 == 0,
        lambda: f"inpaintzoo::lstm_cell: the last dimension of gates must be divisible by 4, got {gates.shape[-1]}",
    )
    torch._check(
        c_prev.dim() == gates.dim(), lambda: f"inpaintzoo::lstm_cell: c_prev must have {gates.dim()} dimensions"
    )
    for d in range(gates.dim() - 1):
        torch._check(c_prev.shape[d] == gates.shape[d], lambda: "inpaintzoo::lstm_cell: c_prev and gates differ")
    torch._check(c_prev.shape[-1] * 4 == gates.shape[-1], lambda: "inpaintzoo::lstm_cell: c_prev must end in H")
    torch._check(gates.dtype in (torch.float32, torch.float64), lambda: "inpaintzoo::lstm_cell: float32/float64 only")
    torch._check(c_prev.dtype == gates.dtype, lambda: "inpaintzoo::lstm_cell: c_prev and gates differ in dtype")


@torch.library.register_fake("inpaintzoo::lstm_cell")
def _lstm_cell_fake(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _lstm_cell_shape(gates, c_prev)
    shape = (*gates.shape[:-1], gates.shape[-1] // 4)
    return gates.new_empty(shape), gates.new_empty(shape)


@torch.library.register_fake("inpaintzoo::lstm_cell_train")
def _lstm_cell_train_fake(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, c = _lstm_cell_fake(gates, c_prev)
    return h, c, gates.new_empty(gates.shape)


@torch.library.register_fake("inpaintzoo::lstm_cell_backward")
def _lstm_cell_backward_fake(
    grad_h: torch.Tensor, grad_c: torch.Tensor, gates: torch.Tensor, c_prev: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    _lstm_cell_shape(gates, c_prev)
    return gates.new_empty(gates.shape), c_prev.new_empty(c_prev.shape)


@torch.library.register_fake("inpaintzoo::lstm_cell_backward_activated")
def _lstm_cell_backward_activated_fake(
    grad_h: torch.Tensor, grad_c: torch.Tensor, activations: torch.Tensor, c_prev: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return _lstm_cell_backward_fake(grad_h, grad_c, activations, c_prev, c)


def _row_lstm_shape(input_gates: torch.Tensor, w_state: torch.Tensor) -> tuple[int, ...]:
    torch._check(input_gates.dim() == 4, lambda: "inpaintzoo::row_lstm: input_gates must be (R, N, W, 4H)")
    torch._check(w_state.dim() == 3 and w_state.shape[2] == 3, lambda: "inpaintzoo::row_lstm: w_state (4H, H, 3)")
    hidden = w_state.shape[1]
    torch._check(w_state.shape[0] == 4 * hidden, lambda: "inpaintzoo::row_lstm: w_state must be (4H, H, 3)")
    torch._check(input_gates.shape[3] == 4 * hidden, lambda: "inpaintzoo::row_lstm: input_gates must end in 4H")
    torch._check(input_gates.dtype in (torch.float32, torch.float64), lambda: "inpaintzoo::row_lstm: float32/64 only")
    torch._check(w_state.dtype == input_gates.dtype, lambda: "inpaintzoo::row_lstm: w_state and input_gates differ")
    return (*input_gates.shape[:3], hidden)


@torch.library.register_fake("inpaintzoo::row_lstm")
def _row_lstm_fake(input_gates: torch.Tensor, w_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = _row_lstm_shape(input_gates, w_state)
    return input_gates.new_empty(shape), input_gates.new_empty(shape)


@torch.library.register_fake("inpaintzoo::row_lstm_train")
def _row_lstm_train_fake(
    input_gates: torch.Tensor, w_state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, c = _row_lstm_fake(input_gates, w_state)
    return h, c, input_gates.new_empty(input_gates.shape)


@torch.library.register_fake("inpaintzoo::row_lstm_backward")
def _row_lstm_backward_fake(
    grad_h: torch.Tensor,
    grad_c: torch.Tensor | None,
    gates: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    w: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    _row_lstm_shape(gates, w)
    return gates.new_empty(gates.shape), w.new_empty(w.shape)


@torch.library.register_fake("inpaintzoo::pixelcnn_fill")
def _pixelcnn_fill_fake(images: torch.Tensor, mask: torch.Tensor, *args: Any) -> torch.Tensor:
    torch._check(images.dim() == 4 and images.shape[1] == 3, lambda: "inpaintzoo::pixelcnn_fill: images (B, 3, H, W)")
    torch._check(images.dtype == torch.float32, lambda: "inpaintzoo::pixelcnn_fill: images must be float32")
    torch._check(mask.dtype == torch.bool, lambda: "inpaintzoo::pixelcnn_fill: mask must be bool")
    return images.new_empty(images.shape)


@torch.library.register_fake("inpaintzoo::leaky_dropout_")
def _leaky_dropout_fake(x: torch.Tensor, seed: int, dropped: int, negative_slope: float) -> torch.Tensor:
    return x


@torch.library.register_fake("inpaintzoo::leaky_dropout_backward")
def _leaky_dropout_backward_fake(
    grad: torch.Tensor, y: torch.Tensor, seed: int, dropped: int, negative_slope: float
) -> torch.Tensor:
    return y.new_empty(y.shape)


@torch.library.register_fake("inpaintzoo::softmax_xent_")
def _softmax_xent_fake(logits: torch.Tensor, targets: torch.Tensor, grad: bool) -> torch.Tensor:
    torch._check(logits.dim() == 2, lambda: "inpaintzoo::softmax_xent_: logits (rows, levels)")
    return logits.new_empty(logits.shape[:1], dtype=torch.float32)
