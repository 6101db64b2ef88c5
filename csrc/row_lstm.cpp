// inpaintzoo::row_lstm: the whole recurrence of one Row LSTM layer in one call, with its backward.
//
// Row i's gates are the input-to-state pre-activations of that row (computed for every row at once by the
// caller, one convolution) plus a 1x3 convolution of row i-1's hidden state; the cell state flows down each
// column. Done op by op from Python, each of the image's rows costs a padded copy, a transposed copy, a
// convolution, an add and the cell, forward and backward, each through autograd. Here a row is one GEMM on the
// row's [left, centre, right] neighbour matrix plus the fused cell, and the backward accumulates the weight
// gradient of all rows in a single GEMM at the end.
//
// The kernel is written with ATen ops and the lstm_cell ops (through the dispatcher), so one source serves
// every device that has lstm_cell kernels: it is registered for CompositeExplicitAutograd, and its autograd
// once for the Autograd key, as lstm_cell's is. On the CPU the fused cell kernels write straight into the
// rows of h, c and the gate gradients instead of returning new tensors to copy from.
//
// Layout (rows first, so that every row is one contiguous matrix): input_gates (R, N, W, 4H) in the order
// [i, f, g, o]; w_state (4H, H, 3), a Conv1d weight over columns w-1, w, w+1; h and c (R, N, W, H).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cstring>
#include <optional>
#include <tuple>

#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "autograd_call.h"
#include "lstm_cell_cpu.h"

namespace inpaintzoo {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Pair = std::tuple<at::Tensor, at::Tensor>;
using Triple = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

int64_t check_row_lstm_args(const at::Tensor& input_gates, const at::Tensor& w_state, const char* op) {
  TORCH_CHECK(input_gates.dim() == 4, op, ": input_gates must be (rows, batch, width, 4H), got ", input_gates.sizes());
  TORCH_CHECK(w_state.dim() == 3 && w_state.size(2) == 3, op,
              ": w_state must be a 1x3 Conv1d weight (4H, H, 3), got ", w_state.sizes());
  const int64_t hidden = w_state.size(1);
  TORCH_CHECK(hidden > 0 && w_state.size(0) == 4 * hidden, op, ": w_state must be (4H, H, 3), got ", w_state.sizes());
  TORCH_CHECK(input_gates.size(3) == 4 * hidden, op, ": input_gates end in ", input_gates.size(3),
              " channels but w_state has H = ", hidden, "; they must end in 4H = ", 4 * hidden);
  TORCH_CHECK(input_gates.scalar_type() == at::kFloat || input_gates.scalar_type() == at::kDouble, op,
              ": supports float32 and float64, got ", input_gates.scalar_type());
  TORCH_CHECK(w_state.scalar_type() == input_gates.scalar_type(), op, ": w_state has dtype ", w_state.scalar_type(),
              " but input_gates ", input_gates.scalar_type(), "; use one dtype");
  TORCH_CHECK(w_state.device() == input_gates.device(), op, ": w_state is on ", w_state.device(),
              " but input_gates on ", input_gates.device(), "; move both to one device");
  return hidden;
}

// On the CPU the two reshuffles below are plain loops (memcpy and one fused sum per element) over the images in
// parallel: as strided ATen copies and adds they cost several times more than their bytes at these sizes.
template <typename T>
void neighbours_cpu(const T* __restrict__ h, T* __restrict__ u, int64_t lines, int64_t width, int64_t hidden) {
  const size_t bytes = static_cast<size_t>(hidden) * sizeof(T);
  at::parallel_for(0, lines, 1, [&](int64_t first, int64_t last) {
    for (int64_t n = first; n < last; ++n) {
      const T* src = h + n * width * hidden;
      T* dst = u + n * width * 3 * hidden;
      for (int64_t w = 0; w < width; ++w, dst += 3 * hidden) {
        if (w > 0) {
          std::memcpy(dst, src + (w - 1) * hidden, bytes);
        } else {
          std::memset(dst, 0, bytes);
        }
        std::memcpy(dst + hidden, src + w * hidden, bytes);
        if (w + 1 < width) {
          std::memcpy(dst + 2 * hidden, src + (w + 1) * hidden, bytes);
        } else {
          std::memset(dst + 2 * hidden, 0, bytes);
        }
      }
    }
  });
}

template <typename T>
void fold_neighbours_cpu(const T* __restrict__ u, const T* __restrict__ base, T* __restrict__ out, int64_t lines,
                         int64_t width, int64_t hidden) {
  at::parallel_for(0, lines, 1, [&](int64_t first, int64_t last) {
    for (int64_t n = first; n < last; ++n) {
      const T* un = u + n * width * 3 * hidden;
      for (int64_t w = 0; w < width; ++w) {
        const int64_t at = (n * width + w) * hidden;
        const T* centre = un + w * 3 * hidden + hidden;
        const T* from_right = w + 1 < width ? un + (w + 1) * 3 * hidden : nullptr;  // its left part
        const T* from_left = w > 0 ? un + (w - 1) * 3 * hidden + 2 * hidden : nullptr;  // its right part
        for (int64_t k = 0; k < hidden; ++k) {
          out[at + k] = base[at + k] + centre[k];
        }
        if (from_right != nullptr) {
          for (int64_t k = 0; k < hidden; ++k) {
            out[at + k] += from_right[k];
          }
        }
        if (from_left != nullptr) {
          for (int64_t k = 0; k < hidden; ++k) {
            out[at + k] += from_left[k];
          }
        }
      }
    }
  });
}

// (..., W, H) -> (..., W, 3H): each column beside its left and right neighbours [h[w-1], h[w], h[w+1]], zeros
// past the edges. Times state_matrix(w_state) it is the padded 1x3 convolution.
at::Tensor neighbours(const at::Tensor& h) {
  const int64_t width = h.size(-2), hidden = h.size(-1);
  std::vector<int64_t> sizes = h.sizes().vec();
  sizes.back() = 3 * hidden;
  at::Tensor u = at::empty(sizes, h.options());
  if (h.is_cpu() && h.is_contiguous() && width > 0 && h.numel() > 0) {
    const int64_t lines = h.numel() / (width * hidden);
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "inpaintzoo::row_lstm neighbours", [&] {
      neighbours_cpu<scalar_t>(h.const_data_ptr<scalar_t>(), u.mutable_data_ptr<scalar_t>(), lines, width, hidden);
    });
    return u;
  }
  at::Tensor left = u.narrow(-1, 0, hidden), right = u.narrow(-1, 2 * hidden, hidden);
  u.narrow(-1, hidden, hidden).copy_(h);
  left.narrow(-2, 0, 1).zero_();
  left.narrow(-2, 1, width - 1).copy_(h.narrow(-2, 0, width - 1));
  right.narrow(-2, width - 1, 1).zero_();
  right.narrow(-2, 0, width - 1).copy_(h.narrow(-2, 1, width - 1));
  return u;
}

// base + the adjoint of neighbours: (..., W, 3H) -> (..., W, H), each part added back to the column it came from.
at::Tensor fold_neighbours(const at::Tensor& u, int64_t hidden, const at::Tensor& base) {
  const int64_t width = u.size(-2);
  if (u.is_cpu() && u.is_contiguous() && base.is_contiguous() && width > 0 && u.numel() > 0) {
    at::Tensor out = at::empty(base.sizes(), base.options());
    const int64_t lines = base.numel() / (width * hidden);
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "inpaintzoo::row_lstm fold", [&] {
      fold_neighbours_cpu<scalar_t>(u.const_data_ptr<scalar_t>(), base.const_data_ptr<scalar_t>(),
                                    out.mutable_data_ptr<scalar_t>(), lines, width, hidden);
    });
    return out;
  }
  at::Tensor h = at::add(base, u.narrow(-1, hidden, hidden));
  h.narrow(-2, 0, width - 1).add_(u.narrow(-1, 0, hidden).narrow(-2, 1, width - 1));
  h.narrow(-2, 1, width - 1).add_(u.narrow(-1, 2 * hidden, hidden).narrow(-2, 0, width - 1));
  return h;
}

// w_state (4H, H, 3) as the (3H, 4H) matrix that multiplies neighbours(h): row k*H + j holds w_state[:, j, k].
at::Tensor state_matrix(const at::Tensor& w_state) {
  const int64_t hidden = w_state.size(1);
  return w_state.permute({2, 1, 0}).reshape({3 * hidden, 4 * hidden});
}

const c10::TypedOperatorHandle<Pair(const at::Tensor&, const at::Tensor&)>& cell_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("inpaintzoo::lstm_cell", "")
                             .typed<Pair(const at::Tensor&, const at::Tensor&)>();
  return op;
}

using CellBackward = Pair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&);
const c10::TypedOperatorHandle<CellBackward>& cell_backward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("inpaintzoo::lstm_cell_backward", "").typed<CellBackward>();
  return op;
}

// h_out, c_out (contiguous rows of the outputs) = the cell of `gates` (contiguous) and `c_prev`.
void cell_into(const at::Tensor& gates, const at::Tensor& c_prev, at::Tensor h_out, at::Tensor c_out) {
  if (gates.is_cpu()) {
    lstm_cell_forward_into(gates, c_prev, h_out, c_out, nullptr);
    return;
  }
  auto [h, c] = cell_op().call(gates, c_prev);
  h_out.copy_(h);
  c_out.copy_(c);
}

// grad_gates_out (a contiguous row of the result) and the returned gradient of c_prev, from the raw gates.
at::Tensor cell_backward_into(const at::Tensor& dh, const at::Tensor& dc, const at::Tensor& gates,
                              const at::Tensor& c_prev, const at::Tensor& c, at::Tensor grad_gates_out) {
  if (gates.is_cpu()) {
    at::Tensor dc_prev = at::empty_like(c_prev);
    lstm_cell_backward_into(dh, dc, gates, c_prev, c, grad_gates_out, dc_prev, false);
    return dc_prev;
  }
  auto [dg, dc_prev] = cell_backward_op().call(dh, dc, gates, c_prev, c);
  grad_gates_out.copy_(dg);
  return dc_prev;
}

// h, c and the full gate pre-activations of every row (what the backward needs).
// The recurrence computes in its inputs' dtype (float32/float64): under torch.autocast (which a training step's
// backward may also run in) its state GEMMs must not be cast to bf16 behind its back.
using NoAutocast = c10::impl::ExcludeDispatchKeyGuard;

Triple row_lstm_train(const at::Tensor& input_gates, const at::Tensor& w_state) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  const int64_t hidden = check_row_lstm_args(input_gates, w_state, "inpaintzoo::row_lstm");
  const int64_t rows = input_gates.size(0), batch = input_gates.size(1), width = input_gates.size(2);
  const at::Tensor input = input_gates.contiguous();
  at::Tensor gates = at::empty(input.sizes(), input.options());  // row i: its input part plus its state part
  at::Tensor h = at::empty({rows, batch, width, hidden}, input.options());
  at::Tensor c = at::empty({rows, batch, width, hidden}, input.options());
  if (rows == 0 || batch == 0 || width == 0) {
    return {h, c, gates};
  }
  const at::Tensor matrix = state_matrix(w_state);
  const at::Tensor c_start = at::zeros({batch, width, hidden}, input.options());
  for (int64_t i = 0; i < rows; ++i) {
    at::Tensor g = gates.select(0, i);
    if (i == 0) {  // the state above row 0 is zero
      g.copy_(input.select(0, 0));
    } else {
      at::Tensor g_matrix = g.view({batch * width, 4 * hidden});
      at::addmm_out(g_matrix, input.select(0, i).view({batch * width, 4 * hidden}),
                    neighbours(h.select(0, i - 1)).view({batch * width, 3 * hidden}), matrix);
    }
    cell_into(g, i > 0 ? c.select(0, i - 1) : c_start, h.select(0, i), c.select(0, i));
  }
  return {h, c, gates};
}

Pair row_lstm_forward(const at::Tensor& input_gates, const at::Tensor& w_state) {
  auto [h, c, gates] = row_lstm_train(input_gates, w_state);
  return {h, c};
}

// Gradients of input_gates and w_state from those of h and c (none for c: the usual case, c unused).
Pair row_lstm_backward(const at::Tensor& grad_h_in, const std::optional<at::Tensor>& grad_c_in,
                       const at::Tensor& gates_in, const at::Tensor& h_in, const at::Tensor& c_in,
                       const at::Tensor& w_state) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  const int64_t hidden = check_row_lstm_args(gates_in, w_state, "inpaintzoo::row_lstm_backward");
  const at::Tensor gates = gates_in.contiguous(), h = h_in.contiguous(), c = c_in.contiguous();
  const bool has_grad_c = grad_c_in.has_value() && grad_c_in->defined();
  TORCH_CHECK(grad_h_in.sizes() == h.sizes() && h.sizes() == c.sizes() && (!has_grad_c || grad_c_in->sizes() == c.sizes()),
              "inpaintzoo::row_lstm_backward: grad_h, grad_c, h and c must all be ", h.sizes());
  const int64_t rows = gates.size(0), batch = gates.size(1), width = gates.size(2);
  const at::Tensor grad_h = grad_h_in.contiguous();
  const at::Tensor grad_c = has_grad_c ? grad_c_in->contiguous() : at::Tensor();
  at::Tensor grad_gates = at::empty(gates.sizes(), gates.options());
  if (rows == 0 || batch == 0 || width == 0) {
    return {grad_gates.zero_(), at::zeros_like(w_state)};
  }
  const at::Tensor matrix_t = state_matrix(w_state).t().contiguous();  // (4H, 3H)
  const at::Tensor zeros = at::zeros({batch, width, hidden}, gates.options());
  at::Tensor dh = grad_h.select(0, rows - 1);
  at::Tensor dc = has_grad_c ? grad_c.select(0, rows - 1) : zeros;
  for (int64_t i = rows - 1; i >= 0; --i) {
    at::Tensor dg = grad_gates.select(0, i);
    const at::Tensor dc_prev =
        cell_backward_into(dh, dc, gates.select(0, i), i > 0 ? c.select(0, i - 1) : zeros, c.select(0, i), dg);
    if (i > 0) {  // what row i sends back to row i-1: through the state convolution, and down the cell
      const at::Tensor du = at::mm(dg.view({batch * width, 4 * hidden}), matrix_t).view({batch, width, 3 * hidden});
      dh = fold_neighbours(du, hidden, grad_h.select(0, i - 1));
      dc = has_grad_c ? dc_prev.add_(grad_c.select(0, i - 1)) : dc_prev;
    }
  }
  at::Tensor grad_w = at::zeros_like(w_state);
  if (rows > 1) {  // every row's weight gradient in one GEMM: neighbours of rows 0..R-2 against gates of 1..R-1
    const at::Tensor u = neighbours(h.narrow(0, 0, rows - 1)).view({-1, 3 * hidden});
    const at::Tensor grad_matrix = at::mm(u.t(), grad_gates.narrow(0, 1, rows - 1).view({-1, 4 * hidden}));
    grad_w = grad_matrix.view({3, hidden, 4 * hidden}).permute({2, 1, 0}).contiguous();
  }
  return {grad_gates, grad_w};
}

const c10::TypedOperatorHandle<Triple(const at::Tensor&, const at::Tensor&)>& train_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("inpaintzoo::row_lstm_train", "")
                             .typed<Triple(const at::Tensor&, const at::Tensor&)>();
  return op;
}

const c10::TypedOperatorHandle<Pair(const at::Tensor&, const at::Tensor&)>& forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("inpaintzoo::row_lstm", "")
                             .typed<Pair(const at::Tensor&, const at::Tensor&)>();
  return op;
}

using BackwardSignature = Pair(const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&,
                               const at::Tensor&, const at::Tensor&, const at::Tensor&);
const c10::TypedOperatorHandle<BackwardSignature>& backward_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("inpaintzoo::row_lstm_backward", "").typed<BackwardSignature>();
  return op;
}

class RowLstmFunction : public torch::autograd::Function<RowLstmFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input_gates, const at::Tensor& w_state) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [h, c, gates] = train_op().call(input_gates, w_state);
    ctx->save_for_backward({gates, h, c, w_state});
    ctx->set_materialize_grads(false);  // c is rarely used: no (R, N, W, H) tensor of zeros for its gradient
    return {h, c};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    if (!grads[0].defined() && !grads[1].defined()) {
      return {at::Tensor(), at::Tensor()};
    }
    const at::Tensor grad_h = grads[0].defined() ? grads[0] : at::zeros_like(saved[1]);
    const std::optional<at::Tensor> grad_c = grads[1].defined() ? std::optional<at::Tensor>(grads[1]) : std::nullopt;
    auto [grad_gates, grad_w] = backward_op().call(grad_h, grad_c, saved[0], saved[1], saved[2], saved[3]);
    return {grad_gates, grad_w};
  }
};

Pair row_lstm_autograd(const at::Tensor& input_gates, const at::Tensor& w_state) {
  return call_with_autograd<RowLstmFunction>(
      input_gates, w_state, [](const at::Tensor& x, const at::Tensor& w) { return forward_op().call(x, w); });
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CompositeExplicitAutograd, m) {
  m.impl("row_lstm", &inpaintzoo::row_lstm_forward);
  m.impl("row_lstm_train", &inpaintzoo::row_lstm_train);
  m.impl("row_lstm_backward", &inpaintzoo::row_lstm_backward);
}

TORCH_LIBRARY_IMPL(inpaintzoo, Autograd, m) { m.impl("row_lstm", &inpaintzoo::row_lstm_autograd); }
