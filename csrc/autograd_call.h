// How the ops with a C++ autograd Function (lstm_cell, row_lstm) enter it: only when a gradient is needed.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/autograd.h>

#include <tuple>

namespace inpaintzoo {

// Function::apply(a, b) when grad mode is on and an input needs a gradient (its two outputs); else
// `forward(a, b)` below the Autograd key, which builds no graph node.
template <typename Function, typename Forward>
std::tuple<at::Tensor, at::Tensor> call_with_autograd(const at::Tensor& a, const at::Tensor& b,
                                                      const Forward& forward) {
  if (!(at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()))) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return forward(a, b);
  }
  const torch::autograd::variable_list out = Function::apply(a, b);
  return {out[0], out[1]};
}

}  // namespace inpaintzoo
