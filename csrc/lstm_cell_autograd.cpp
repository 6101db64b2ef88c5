// Autograd of inpaintzoo::lstm_cell, registered in C++ for the Autograd dispatch key.
//
// A C++ registration costs a few microseconds per call where torch.library.register_autograd's Python path cost
// tens: at flat-lstm's size (64 x 64) that overhead was most of the op's time. When a gradient is needed and the
// gates are small enough to stay in cache, the CPU forward is `lstm_cell_train`, which also returns the activated
// gates, so that the backward (`lstm_cell_backward_activated`) computes one exponential per element instead of
// five: there the cell is compute-bound. Larger gates make it memory-bound, and writing then reading 4H more per
// row cost more than the exponentials (2048 x 128 floats: 1.5 ms against 1.3 ms forward+backward), so they, and
// other devices, keep the raw-gates pair `lstm_cell` / `lstm_cell_backward`. Without a gradient the plain op
// runs, writing only h and c.
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

#include "autograd_call.h"

namespace inpaintzoo {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Pair = std::tuple<at::Tensor, at::Tensor>;

using Triple = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using ForwardSignature = Pair(const at::Tensor&, const at::Tensor&);
using TrainSignature = Triple(const at::Tensor&, const at::Tensor&);

const c10::TypedOperatorHandle<ForwardSignature>& forward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("inpaintzoo::lstm_cell", "").typed<ForwardSignature>();
  return op;
}

const c10::TypedOperatorHandle<TrainSignature>& train_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("inpaintzoo::lstm_cell_train", "").typed<TrainSignature>();
  return op;
}

using BackwardSignature = Pair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                               const at::Tensor&);

const c10::TypedOperatorHandle<BackwardSignature>& backward_op(bool activated) {
  static const auto raw =
      c10::Dispatcher::singleton().findSchemaOrThrow("inpaintzoo::lstm_cell_backward", "").typed<BackwardSignature>();
  static const auto from_activations = c10::Dispatcher::singleton()
                                           .findSchemaOrThrow("inpaintzoo::lstm_cell_backward_activated", "")
                                           .typed<BackwardSignature>();
  return activated ? from_activations : raw;
}

// Largest gates (bytes) for which the forward saves the activations: about a core's L2 cache.
constexpr int64_t kSaveActivationsMaxBytes = int64_t{1} << 20;

// Under torch.compile with dynamic shapes the size is symbolic: the comparison then becomes a guard.
bool save_activations(const at::Tensor& gates) {
  if (!gates.device().is_cpu()) {
    return false;
  }
  const c10::SymInt bytes = gates.sym_numel() * static_cast<int64_t>(gates.element_size());
  return bytes.sym_le(kSaveActivationsMaxBytes).guard_bool(__FILE__, __LINE__);
}

class LstmCellFunction : public torch::autograd::Function<LstmCellFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& gates, const at::Tensor& c_prev) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    const bool activated = save_activations(gates);
    ctx->saved_data["activated"] = activated;
    if (activated) {
      auto [h, c, act] = train_op().call(gates, c_prev);
      ctx->save_for_backward({act, c_prev, c});
      return {h, c};
    }
    auto [h, c] = forward_op().call(gates, c_prev);
    ctx->save_for_backward({gates, c_prev, c});
    return {h, c};
  }

  // Undefined output gradients arrive as zeros (the context materialises them).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const bool activated = ctx->saved_data["activated"].toBool();
    auto [grad_gates, grad_c_prev] = backward_op(activated).call(grads[0], grads[1], saved[0], saved[1], saved[2]);
    return {grad_gates, grad_c_prev};
  }
};

Pair lstm_cell_autograd(const at::Tensor& gates, const at::Tensor& c_prev) {
  return call_with_autograd<LstmCellFunction>(
      gates, c_prev, [](const at::Tensor& g, const at::Tensor& c) { return forward_op().call(g, c); });
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, Autograd, m) { m.impl("lstm_cell", &inpaintzoo::lstm_cell_autograd); }
