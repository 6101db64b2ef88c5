// CPU kernels of inpaintzoo::lstm_cell, lstm_cell_train, lstm_cell_backward and lstm_cell_backward_activated:
// checks, allocation, then one fused vectorised pass (cpu_kernels_impl.h).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <tuple>

#include "cpu_kernels.h"
#include "lstm_cell_cpu.h"
#include "op_checks.h"

namespace inpaintzoo {
namespace {

std::tuple<at::Tensor, at::Tensor> lstm_cell_cpu(const at::Tensor& gates_in, const at::Tensor& c_prev_in) {
  const LstmShape shape = check_lstm_cell_args(gates_in, c_prev_in, "inpaintzoo::lstm_cell");
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor c_prev = c_prev_in.contiguous();
  at::Tensor h = at::empty(c_prev.sizes(), c_prev.options());
  at::Tensor c = at::empty(c_prev.sizes(), c_prev.options());
  lstm_cell_forward_into(gates, c_prev, h, c, nullptr);
  return {h, c};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lstm_cell_train_cpu(const at::Tensor& gates_in,
                                                                   const at::Tensor& c_prev_in) {
  const LstmShape shape = check_lstm_cell_args(gates_in, c_prev_in, "inpaintzoo::lstm_cell_train");
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor c_prev = c_prev_in.contiguous();
  at::Tensor h = at::empty(c_prev.sizes(), c_prev.options());
  at::Tensor c = at::empty(c_prev.sizes(), c_prev.options());
  at::Tensor act = at::empty(gates.sizes(), gates.options());
  lstm_cell_forward_into(gates, c_prev, h, c, &act);
  return {h, c, act};
}

// `activated`: `gates` are the activations of lstm_cell_train, else the raw pre-activations.
std::tuple<at::Tensor, at::Tensor> run_backward(const at::Tensor& grad_h_in, const at::Tensor& grad_c_in,
                                                const at::Tensor& gates_in, const at::Tensor& c_prev_in,
                                                const at::Tensor& c_in, bool activated, const char* op) {
  const LstmShape shape = check_lstm_cell_backward_args(grad_h_in, grad_c_in, gates_in, c_prev_in, c_in, op);
  const at::Tensor grad_h = grad_h_in.contiguous();
  const at::Tensor grad_c = grad_c_in.contiguous();
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor c_prev = c_prev_in.contiguous();
  const at::Tensor c = c_in.contiguous();
  at::Tensor grad_gates = at::empty(gates.sizes(), gates.options());
  at::Tensor grad_c_prev = at::empty(c_prev.sizes(), c_prev.options());
  lstm_cell_backward_into(grad_h, grad_c, gates, c_prev, c, grad_gates, grad_c_prev, activated);
  return {grad_gates, grad_c_prev};
}

std::tuple<at::Tensor, at::Tensor> lstm_cell_backward_cpu(const at::Tensor& grad_h, const at::Tensor& grad_c,
                                                          const at::Tensor& gates, const at::Tensor& c_prev,
                                                          const at::Tensor& c) {
  return run_backward(grad_h, grad_c, gates, c_prev, c, false, "inpaintzoo::lstm_cell_backward");
}

std::tuple<at::Tensor, at::Tensor> lstm_cell_backward_activated_cpu(const at::Tensor& grad_h, const at::Tensor& grad_c,
                                                                    const at::Tensor& activations,
                                                                    const at::Tensor& c_prev, const at::Tensor& c) {
  return run_backward(grad_h, grad_c, activations, c_prev, c, true, "inpaintzoo::lstm_cell_backward_activated");
}

}  // namespace

void lstm_cell_forward_into(const at::Tensor& gates, const at::Tensor& c_prev, at::Tensor& h, at::Tensor& c,
                            at::Tensor* act) {
  const int64_t hidden = c_prev.size(-1);
  const int64_t rows = hidden == 0 ? 0 : c_prev.numel() / hidden;
  const CpuKernels& kernels = cpu_kernels();
  if (gates.scalar_type() == at::kFloat) {
    kernels.lstm_forward_f32(gates.const_data_ptr<float>(), c_prev.const_data_ptr<float>(), h.mutable_data_ptr<float>(),
                             c.mutable_data_ptr<float>(), act ? act->mutable_data_ptr<float>() : nullptr, rows, hidden);
  } else {
    kernels.lstm_forward_f64(gates.const_data_ptr<double>(), c_prev.const_data_ptr<double>(),
                             h.mutable_data_ptr<double>(), c.mutable_data_ptr<double>(),
                             act ? act->mutable_data_ptr<double>() : nullptr, rows, hidden);
  }
}

void lstm_cell_backward_into(const at::Tensor& grad_h, const at::Tensor& grad_c, const at::Tensor& gates,
                             const at::Tensor& c_prev, const at::Tensor& c, at::Tensor& grad_gates,
                             at::Tensor& grad_c_prev, bool activated) {
  const int64_t hidden = c_prev.size(-1);
  const int64_t rows = hidden == 0 ? 0 : c_prev.numel() / hidden;
  const CpuKernels& kernels = cpu_kernels();
  if (gates.scalar_type() == at::kFloat) {
    const auto kernel = activated ? kernels.lstm_backward_act_f32 : kernels.lstm_backward_f32;
    kernel(grad_h.const_data_ptr<float>(), grad_c.const_data_ptr<float>(), gates.const_data_ptr<float>(),
           c_prev.const_data_ptr<float>(), c.const_data_ptr<float>(), grad_gates.mutable_data_ptr<float>(),
           grad_c_prev.mutable_data_ptr<float>(), rows, hidden);
  } else {
    const auto kernel = activated ? kernels.lstm_backward_act_f64 : kernels.lstm_backward_f64;
    kernel(grad_h.const_data_ptr<double>(), grad_c.const_data_ptr<double>(), gates.const_data_ptr<double>(),
           c_prev.const_data_ptr<double>(), c.const_data_ptr<double>(), grad_gates.mutable_data_ptr<double>(),
           grad_c_prev.mutable_data_ptr<double>(), rows, hidden);
  }
}

}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CPU, m) {
  m.impl("lstm_cell", &inpaintzoo::lstm_cell_cpu);
  m.impl("lstm_cell_train", &inpaintzoo::lstm_cell_train_cpu);
  m.impl("lstm_cell_backward", &inpaintzoo::lstm_cell_backward_cpu);
  m.impl("lstm_cell_backward_activated", &inpaintzoo::lstm_cell_backward_activated_cpu);
}
