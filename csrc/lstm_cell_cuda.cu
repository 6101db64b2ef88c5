// CUDA kernels of inpaintzoo::lstm_cell and inpaintzoo::lstm_cell_backward: one fused elementwise pass, one
// thread per (row, unit), grid-stride. The math is the CPU kernels' (cpu_kernels_impl.h), in the input dtype.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "op_checks.h"

namespace inpaintzoo {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;  // the grid-stride loop covers the rest

__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }

template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
  return T(1) / (T(1) + exp_(-x));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    lstm_forward_kernel(const T* __restrict__ gates, const T* __restrict__ c_prev, T* __restrict__ h,
                        T* __restrict__ c, int64_t total, int64_t hidden) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int64_t row = idx / hidden;
    const T* g = gates + row * 4 * hidden + (idx - row * hidden);
    const T i = sigmoid(g[0]);
    const T f = sigmoid(g[hidden]);
    const T cand = tanh_(g[2 * hidden]);
    const T o = sigmoid(g[3 * hidden]);
    const T c_new = f * c_prev[idx] + i * cand;
    c[idx] = c_new;
    h[idx] = o * tanh_(c_new);
  }
}

// Recomputes the activations from the raw gates, like the CPU backward (see lstm_backward there for why).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    lstm_backward_kernel(const T* __restrict__ grad_h, const T* __restrict__ grad_c, const T* __restrict__ gates,
                         const T* __restrict__ c_prev, const T* __restrict__ c, T* __restrict__ grad_gates,
                         T* __restrict__ grad_c_prev, int64_t total, int64_t hidden) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int64_t row = idx / hidden;
    const int64_t offset = row * 4 * hidden + (idx - row * hidden);
    const T* g = gates + offset;
    T* dg = grad_gates + offset;
    const T i = sigmoid(g[0]);
    const T f = sigmoid(g[hidden]);
    const T cand = tanh_(g[2 * hidden]);
    const T o = sigmoid(g[3 * hidden]);
    const T tanh_c = tanh_(c[idx]);
    const T dh = grad_h[idx];
    const T dc = grad_c[idx] + dh * o * (T(1) - tanh_c * tanh_c);
    dg[0] = dc * cand * i * (T(1) - i);
    dg[hidden] = dc * c_prev[idx] * f * (T(1) - f);
    dg[2 * hidden] = dc * i * (T(1) - cand * cand);
    dg[3 * hidden] = dh * tanh_c * o * (T(1) - o);
    grad_c_prev[idx] = dc * f;
  }
}

int blocks_for(int64_t total) {
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>((total + kThreads - 1) / kThreads, 1), kMaxBlocks));
}

std::tuple<at::Tensor, at::Tensor> lstm_cell_cuda(const at::Tensor& gates_in, const at::Tensor& c_prev_in) {
  const LstmShape shape = check_lstm_cell_args(gates_in, c_prev_in, "inpaintzoo::lstm_cell");
  const c10::cuda::CUDAGuard guard(gates_in.device());
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor c_prev = c_prev_in.contiguous();
  at::Tensor h = at::empty(c_prev.sizes(), c_prev.options());
  at::Tensor c = at::empty(c_prev.sizes(), c_prev.options());
  const int64_t total = shape.rows * shape.hidden;
  if (total == 0) {
    return {h, c};
  }
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "inpaintzoo_lstm_cell_cuda", [&] {
    lstm_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        gates.const_data_ptr<scalar_t>(), c_prev.const_data_ptr<scalar_t>(), h.mutable_data_ptr<scalar_t>(),
        c.mutable_data_ptr<scalar_t>(), total, shape.hidden);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {h, c};
}

std::tuple<at::Tensor, at::Tensor> lstm_cell_backward_cuda(const at::Tensor& grad_h_in, const at::Tensor& grad_c_in,
                                                           const at::Tensor& gates_in, const at::Tensor& c_prev_in,
                                                           const at::Tensor& c_in) {
  const LstmShape shape =
      check_lstm_cell_backward_args(grad_h_in, grad_c_in, gates_in, c_prev_in, c_in, "inpaintzoo::lstm_cell_backward");
  const c10::cuda::CUDAGuard guard(gates_in.device());
  const at::Tensor grad_h = grad_h_in.contiguous();
  const at::Tensor grad_c = grad_c_in.contiguous();
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor c_prev = c_prev_in.contiguous();
  const at::Tensor c = c_in.contiguous();
  at::Tensor grad_gates = at::empty(gates.sizes(), gates.options());
  at::Tensor grad_c_prev = at::empty(c_prev.sizes(), c_prev.options());
  const int64_t total = shape.rows * shape.hidden;
  if (total == 0) {
    return {grad_gates, grad_c_prev};
  }
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "inpaintzoo_lstm_cell_backward_cuda", [&] {
    lstm_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        grad_h.const_data_ptr<scalar_t>(), grad_c.const_data_ptr<scalar_t>(), gates.const_data_ptr<scalar_t>(),
        c_prev.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(), grad_gates.mutable_data_ptr<scalar_t>(),
        grad_c_prev.mutable_data_ptr<scalar_t>(), total, shape.hidden);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_gates, grad_c_prev};
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CUDA, m) {
  m.impl("lstm_cell", &inpaintzoo::lstm_cell_cuda);
  m.impl("lstm_cell_backward", &inpaintzoo::lstm_cell_backward_cuda);
}
