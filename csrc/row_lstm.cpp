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
// once for the Autograd key, as lstm_cell's is.
//
// Layout (rows first, so that every row is one contiguous matrix): input_gates (R, N, W, 4H) in the order
// [i, f, g, o]; w_state (4H, H, 3), a Conv1d weight over columns w-1, w, w+1; h and c (R, N, W, H).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

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

// (..., W, H) -> (..., W, 3H): each column beside its left and right neighbours [h[w-1], h[w], h[w+1]], zeros
// past the edges. Times state_matrix(w_state) it is the padded 1x3 convolution.
at::Tensor neighbours(const at::Tensor& h) {
  const int64_t width = h.size(-2), hidden = h.size(-1);
  std::vector<int64_t> sizes = h.sizes().vec();
  sizes.back() = 3 * hidden;
  at::Tensor u = at::empty(sizes, h.options());
  at::Tensor left = u.narrow(-1, 0, hidden), right = u.narrow(-1, 2 * hidden, hidden);
  u.narrow(-1, hidden, hidden).copy_(h);
  left.narrow(-2, 0, 1).zero_();
  left.narrow(-2, 1, width - 1).copy_(h.narrow(-2, 0, width - 1));
  right.narrow(-2, width - 1, 1).zero_();
  right.narrow(-2, 0, width - 1).copy_(h.narrow(-2, 1, width - 1));
  return u;
}

// The adjoint of neighbours: (..., W, 3H) -> (..., W, H), each part added back to the column it came from.
at::Tensor fold_neighbours(const at::Tensor& u, int64_t hidden) {
  const int64_t width = u.size(-2);
  at::Tensor h = u.narrow(-1, hidden, hidden).clone(at::MemoryFormat::Contiguous);
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

// h, c and the full gate pre-activations of every row (what the backward needs).
Triple row_lstm_train(const at::Tensor& input_gates, const at::Tensor& w_state) {
  const int64_t hidden = check_row_lstm_args(input_gates, w_state, "inpaintzoo::row_lstm");
  const int64_t rows = input_gates.size(0), batch = input_gates.size(1), width = input_gates.size(2);
  at::Tensor gates = input_gates.clone(at::MemoryFormat::Contiguous);  // row i gains its state part in place
  at::Tensor h = at::empty({rows, batch, width, hidden}, gates.options());
  at::Tensor c = at::empty({rows, batch, width, hidden}, gates.options());
  if (rows == 0 || batch == 0 || width == 0) {
    return {h, c, gates};
  }
  const at::Tensor matrix = state_matrix(w_state);
  const at::Tensor c_start = at::zeros({batch, width, hidden}, gates.options());
  for (int64_t i = 0; i < rows; ++i) {
    at::Tensor g = gates.select(0, i);
    if (i > 0) {  // row 0's state above is zero
      g.view({batch * width, 4 * hidden}).addmm_(neighbours(h.select(0, i - 1)).view({batch * width, 3 * hidden}),
                                                 matrix);
    }
    auto [h_row, c_row] = cell_op().call(g, i > 0 ? c.select(0, i - 1) : c_start);
    h.select(0, i).copy_(h_row);
    c.select(0, i).copy_(c_row);
  }
  return {h, c, gates};
}

Pair row_lstm_forward(const at::Tensor& input_gates, const at::Tensor& w_state) {
  auto [h, c, gates] = row_lstm_train(input_gates, w_state);
  return {h, c};
}

// Gradients of input_gates and w_state from those of h and c.
Pair row_lstm_backward(const at::Tensor& grad_h_in, const at::Tensor& grad_c_in, const at::Tensor& gates,
                       const at::Tensor& h, const at::Tensor& c, const at::Tensor& w_state) {
  const int64_t hidden = check_row_lstm_args(gates, w_state, "inpaintzoo::row_lstm_backward");
  TORCH_CHECK(grad_h_in.sizes() == h.sizes() && grad_c_in.sizes() == c.sizes() && h.sizes() == c.sizes(),
              "inpaintzoo::row_lstm_backward: grad_h, grad_c, h and c must all be ", h.sizes());
  const int64_t rows = gates.size(0), batch = gates.size(1), width = gates.size(2);
  const at::Tensor grad_h = grad_h_in.contiguous(), grad_c = grad_c_in.contiguous();
  at::Tensor grad_gates = at::empty_like(gates, at::MemoryFormat::Contiguous);
  if (rows == 0 || batch == 0 || width == 0) {
    return {grad_gates.zero_(), at::zeros_like(w_state)};
  }
  const at::Tensor matrix_t = state_matrix(w_state).t();
  const at::Tensor c_start = at::zeros({batch, width, hidden}, gates.options());
  at::Tensor dh_below, dc_below;  // what row i+1 sends back to row i
  for (int64_t i = rows - 1; i >= 0; --i) {
    const at::Tensor dh = dh_below.defined() ? grad_h.select(0, i) + dh_below : grad_h.select(0, i);
    const at::Tensor dc = dc_below.defined() ? grad_c.select(0, i) + dc_below : grad_c.select(0, i);
    auto [dg, dc_prev] = cell_backward_op().call(dh, dc, gates.select(0, i), i > 0 ? c.select(0, i - 1) : c_start,
                                                 c.select(0, i));
    grad_gates.select(0, i).copy_(dg);
    if (i > 0) {
      const at::Tensor du = at::mm(dg.reshape({batch * width, 4 * hidden}), matrix_t);
      dh_below = fold_neighbours(du.view({batch, width, 3 * hidden}), hidden);
      dc_below = dc_prev;
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

using BackwardSignature = Pair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                               const at::Tensor&, const at::Tensor&);
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
    return {h, c};
  }

  // Undefined output gradients arrive as zeros (the context materialises them).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    auto [grad_gates, grad_w] = backward_op().call(grads[0], grads[1], saved[0], saved[1], saved[2], saved[3]);
    return {grad_gates, grad_w};
  }
};

Pair row_lstm_autograd(const at::Tensor& input_gates, const at::Tensor& w_state) {
  if (!(at::GradMode::is_enabled() && (input_gates.requires_grad() || w_state.requires_grad()))) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return forward_op().call(input_gates, w_state);
  }
  const variable_list out = RowLstmFunction::apply(input_gates, w_state);
  return {out[0], out[1]};
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CompositeExplicitAutograd, m) {
  m.impl("row_lstm", &inpaintzoo::row_lstm_forward);
  m.impl("row_lstm_train", &inpaintzoo::row_lstm_train);
  m.impl("row_lstm_backward", &inpaintzoo::row_lstm_backward);
}

TORCH_LIBRARY_IMPL(inpaintzoo, Autograd, m) { m.impl("row_lstm", &inpaintzoo::row_lstm_autograd); }
