// The CPU LSTM cell on tensors the caller allocated: lstm_cell_cpu.cpp's ops and the Row LSTM recurrence
// (row_lstm.cpp, which writes each image row in place) share these. Every tensor must be contiguous, float32 or
// float64, with the shapes of the lstm_cell op: gates (..., 4H), the others (..., H).
#pragma once

#include <ATen/core/Tensor.h>

namespace inpaintzoo {

// h, c and, when `act` is not null, the activated gates [sigmoid i, sigmoid f, tanh g, sigmoid o].
void lstm_cell_forward_into(const at::Tensor& gates, const at::Tensor& c_prev, at::Tensor& h, at::Tensor& c,
                            at::Tensor* act);

// grad_gates and grad_c_prev; `activated`: `gates` holds the activations lstm_cell_train saved, else raw gates.
void lstm_cell_backward_into(const at::Tensor& grad_h, const at::Tensor& grad_c, const at::Tensor& gates,
                             const at::Tensor& c_prev, const at::Tensor& c, at::Tensor& grad_gates,
                             at::Tensor& grad_c_prev, bool activated);

}  // namespace inpaintzoo
