// CPU kernels of the density models' fast training paths (inpaintzoo/zoo/density/fast.py):
// inpaintzoo::leaky_dropout_, leaky_dropout_backward (counter-based masks, never stored) and softmax_xent_
// (the 256-way cross-entropy of one chunk of fp32 or bf16 logits, with its gradient written over the logits).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "cpu_kernels.h"
#include "fill_common.h"

namespace inpaintzoo {
namespace {

uint64_t dropout_key(int64_t seed) { return mix64(static_cast<uint64_t>(seed)); }

void check_dropout_args(const at::Tensor& x, int64_t dropped, const char* op) {
  TORCH_CHECK(x.device().is_cpu(), op, ": CPU tensors only");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, op, ": float32 or bfloat16, got ",
              x.scalar_type());
  TORCH_CHECK(x.is_contiguous(), op, ": x must be contiguous");
  TORCH_CHECK(0 <= dropped && dropped < 65536, op, ": dropped must be in [0, 65536), got ", dropped);
}

at::Tensor& leaky_dropout_cpu(at::Tensor& x, int64_t seed, int64_t dropped, double slope) {
  check_dropout_args(x, dropped, "inpaintzoo::leaky_dropout_");
  const CpuKernels& k = cpu_kernels();
  const auto d = static_cast<uint32_t>(dropped);
  if (x.scalar_type() == at::kFloat) {
    k.leaky_dropout_f32(x.mutable_data_ptr<float>(), x.numel(), dropout_key(seed), d, static_cast<float>(slope));
  } else {
    k.leaky_dropout_bf16(reinterpret_cast<uint16_t*>(x.mutable_data_ptr<at::BFloat16>()), x.numel(),
                         dropout_key(seed), d, static_cast<float>(slope));
  }
  return x;
}

at::Tensor leaky_dropout_backward_cpu(const at::Tensor& grad_in, const at::Tensor& y, int64_t seed, int64_t dropped,
                                      double slope) {
  check_dropout_args(y, dropped, "inpaintzoo::leaky_dropout_backward");
  TORCH_CHECK(grad_in.sizes() == y.sizes(), "inpaintzoo::leaky_dropout_backward: grad and y differ in shape");
  const at::Tensor grad = grad_in.to(y.scalar_type()).contiguous();
  at::Tensor out = at::empty_like(y);
  const CpuKernels& k = cpu_kernels();
  const auto d = static_cast<uint32_t>(dropped);
  if (y.scalar_type() == at::kFloat) {
    k.leaky_dropout_backward_f32(grad.const_data_ptr<float>(), y.const_data_ptr<float>(), out.mutable_data_ptr<float>(),
                                 y.numel(), dropout_key(seed), d, static_cast<float>(slope));
  } else {
    k.leaky_dropout_backward_bf16(reinterpret_cast<const uint16_t*>(grad.const_data_ptr<at::BFloat16>()),
                                  reinterpret_cast<const uint16_t*>(y.const_data_ptr<at::BFloat16>()),
                                  reinterpret_cast<uint16_t*>(out.mutable_data_ptr<at::BFloat16>()), y.numel(),
                                  dropout_key(seed), d, static_cast<float>(slope));
  }
  return out;
}

at::Tensor softmax_xent_cpu(at::Tensor& logits, const at::Tensor& targets_in, bool grad) {
  const char* op = "inpaintzoo::softmax_xent_";
  TORCH_CHECK(logits.device().is_cpu() && targets_in.device().is_cpu(), op, ": CPU tensors only");
  TORCH_CHECK(logits.dim() == 2 && logits.is_contiguous() &&
                  (logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kBFloat16),
              op, ": logits must be a contiguous float32 or bfloat16 (rows, levels) matrix");
  TORCH_CHECK(targets_in.dim() == 1 && targets_in.size(0) == logits.size(0) && targets_in.scalar_type() == at::kLong,
              op, ": targets must be int64 (rows,)");
  const at::Tensor targets = targets_in.contiguous();
  const int64_t rows = logits.size(0), levels = logits.size(1);
  TORCH_CHECK(levels > 0, op, ": no levels");
  if (rows > 0) {
    const int64_t lo = targets.min().item<int64_t>(), hi = targets.max().item<int64_t>();
    TORCH_CHECK(0 <= lo && hi < levels, op, ": targets must lie in [0, ", levels, ")");
  }
  at::Tensor losses = at::empty({rows}, logits.options().dtype(at::kFloat));
  if (logits.scalar_type() == at::kFloat) {
    cpu_kernels().softmax_xent_f32(logits.mutable_data_ptr<float>(), targets.const_data_ptr<int64_t>(),
                                   losses.mutable_data_ptr<float>(), rows, levels, grad);
  } else {
    cpu_kernels().softmax_xent_bf16(reinterpret_cast<uint16_t*>(logits.mutable_data_ptr<at::BFloat16>()),
                                    targets.const_data_ptr<int64_t>(), losses.mutable_data_ptr<float>(), rows,
                                    levels, grad);
  }
  return losses;
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CPU, m) {
  m.impl("leaky_dropout_", &inpaintzoo::leaky_dropout_cpu);
  m.impl("leaky_dropout_backward", &inpaintzoo::leaky_dropout_backward_cpu);
  m.impl("softmax_xent_", &inpaintzoo::softmax_xent_cpu);
}
