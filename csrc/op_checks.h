// Argument checks shared by the CPU and CUDA kernels: one clear message per mistake a caller can make.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <vector>

#include "fill_common.h"

namespace inpaintzoo {

struct LstmShape {
  int64_t rows;    // product of the leading dimensions
  int64_t hidden;  // H
};

inline void check_same_device(const at::Tensor& reference, const at::Tensor& other, const char* op, const char* name) {
  TORCH_CHECK(other.device() == reference.device(), op, ": ", name, " is on ", other.device(), " but the first input is on ",
              reference.device(), "; move every input to one device");
}

inline LstmShape check_lstm_cell_args(const at::Tensor& gates, const at::Tensor& c_prev, const char* op) {
  TORCH_CHECK(gates.dim() >= 1, op, ": gates must have shape (..., 4H), got a 0-dim tensor");
  TORCH_CHECK(gates.size(-1) % 4 == 0, op, ": the last dimension of gates stacks [i, f, g, o] and must be divisible by 4, got ",
              gates.size(-1));
  const int64_t hidden = gates.size(-1) / 4;
  std::vector<int64_t> expected = gates.sizes().vec();
  expected.back() = hidden;
  TORCH_CHECK(c_prev.sizes() == at::IntArrayRef(expected), op, ": c_prev must have shape ", at::IntArrayRef(expected),
              " (the leading dimensions of gates ", gates.sizes(), ", then H = gates.size(-1) / 4), got ", c_prev.sizes());
  TORCH_CHECK(gates.scalar_type() == at::kFloat || gates.scalar_type() == at::kDouble, op,
              ": supports float32 and float64 gates, got ", gates.scalar_type());
  TORCH_CHECK(c_prev.scalar_type() == gates.scalar_type(), op, ": c_prev has dtype ", c_prev.scalar_type(), " but gates ",
              gates.scalar_type(), "; use one dtype");
  check_same_device(gates, c_prev, op, "c_prev");
  const int64_t rows = gates.size(-1) == 0 ? 0 : gates.numel() / gates.size(-1);
  return {rows, hidden};
}

inline void check_like(const at::Tensor& reference, const at::Tensor& other, const char* op, const char* name,
                       const char* reference_name) {
  TORCH_CHECK(other.sizes() == reference.sizes(), op, ": ", name, " must have the shape of ", reference_name, " ",
              reference.sizes(), ", got ", other.sizes());
  TORCH_CHECK(other.scalar_type() == reference.scalar_type(), op, ": ", name, " has dtype ", other.scalar_type(), " but ",
              reference_name, " ", reference.scalar_type(), "; use one dtype");
  check_same_device(reference, other, op, name);
}

inline LstmShape check_lstm_cell_backward_args(const at::Tensor& grad_h, const at::Tensor& grad_c, const at::Tensor& gates,
                                               const at::Tensor& c_prev, const at::Tensor& c, const char* op) {
  const LstmShape shape = check_lstm_cell_args(gates, c_prev, op);
  check_like(c_prev, c, op, "c", "c_prev");
  check_like(c_prev, grad_h, op, "grad_h", "c_prev");
  check_like(c_prev, grad_c, op, "grad_c", "c_prev");
  return shape;
}

struct FillShape {
  int64_t batch, height, width;  // images (B, 3, H, W)
  int64_t units;                 // width of every layer, divisible by 3
  int64_t depth;                 // number of hidden layers
};

inline void check_float_param(const at::Tensor& images, const at::Tensor& t, at::IntArrayRef shape, const char* op,
                              const char* name) {
  TORCH_CHECK(t.sizes() == shape, op, ": ", name, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == at::kFloat, op, ": ", name, " must be float32, got ", t.scalar_type());
  check_same_device(images, t, op, name);
}

inline FillShape check_pixelcnn_fill_args(const at::Tensor& images, const at::Tensor& mask, const at::Tensor& w_in,
                                          const at::Tensor& b_in, at::TensorList w_hidden, at::TensorList b_hidden,
                                          const at::Tensor& w_out, const at::Tensor& b_out, int64_t mode,
                                          double temperature, double negative_slope, const char* op) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == kFillChannels, op, ": images must have shape (B, 3, H, W), got ",
              images.sizes());
  TORCH_CHECK(images.scalar_type() == at::kFloat, op, ": images must be float32 in [0, 1], got ", images.scalar_type());
  const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
  TORCH_CHECK(mask.dim() == 3 && mask.size(0) == batch && mask.size(1) == height && mask.size(2) == width, op,
              ": mask must have shape (B, H, W) = (", batch, ", ", height, ", ", width, "), got ", mask.sizes());
  TORCH_CHECK(mask.scalar_type() == at::kBool, op, ": mask must be bool (True in the hole), got ", mask.scalar_type());
  check_same_device(images, mask, op, "mask");
  TORCH_CHECK(w_in.dim() == 4, op, ": w_in must have shape (W, 3, 5, 5), got ", w_in.sizes());
  const int64_t units = w_in.size(0);
  TORCH_CHECK(units > 0 && units % kFillChannels == 0, op,
              ": the network width W = w_in.size(0) must be a positive multiple of 3 (one block per colour), got ", units);
  check_float_param(images, w_in, {units, kFillChannels, kFillWindow, kFillWindow}, op, "w_in");
  check_float_param(images, b_in, {units}, op, "b_in");
  TORCH_CHECK(w_hidden.size() == b_hidden.size(), op, ": got ", w_hidden.size(), " hidden weights but ", b_hidden.size(),
              " hidden biases; pass one of each per layer");
  for (size_t l = 0; l < w_hidden.size(); ++l) {
    check_float_param(images, w_hidden[l], {units, units}, op, "w_hidden[l]");
    check_float_param(images, b_hidden[l], {units}, op, "b_hidden[l]");
  }
  check_float_param(images, w_out, {kFillChannels * kFillClasses, units}, op, "w_out");
  check_float_param(images, b_out, {kFillChannels * kFillClasses}, op, "b_out");
  TORCH_CHECK(mode == kFillGreedy || mode == kFillMean || mode == kFillSample, op,
              ": mode must be 0 (greedy), 1 (mean) or 2 (sample), got ", mode);
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0, op, ": temperature must be a positive number, got ",
              temperature);
  TORCH_CHECK(std::isfinite(negative_slope), op, ": negative_slope must be finite, got ", negative_slope);
  return {batch, height, width, units, static_cast<int64_t>(w_hidden.size())};
}

}  // namespace inpaintzoo
