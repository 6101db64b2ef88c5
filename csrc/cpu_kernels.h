// The CPU kernels behind a table of function pointers, one table per instruction set.
//
// The kernels are written once (cpu_kernels_impl.h) with at::vec::Vectorized and compiled three times:
// generic (any CPU), AVX2+FMA and AVX-512 (see the vectorized_*.cpp files). `cpu_kernels()` picks the best
// table the CPU runs and PyTorch itself would use (it honours ATEN_CPU_CAPABILITY), so one build runs
// everywhere and still uses the wide registers where they exist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inpaintzoo {

// One PixelCNN fill over raw, packed buffers (prepared by pixelcnn_fill_cpu.cpp).
struct FillArgs {
  float* out;         // (B, 3, H, W) contiguous: a copy of the images, filled in place
  const bool* mask;   // (B, H, W) contiguous, true in the hole
  int64_t batch, height, width;
  int64_t units;      // W, divisible by 3
  int64_t depth;      // hidden layers
  int64_t ld;         // padded row length of the packed matrices: W rounded up to 16
  const float* w_in_t;               // (75, ld): first layer, transposed, zero-padded columns
  const float* b_in;                 // (ld)
  const float* const* w_hidden_t;    // depth x (W, ld): hidden layers, transposed
  const float* const* b_hidden;      // depth x (ld)
  const float* w_out_t;              // (3, W, 256): output layer, per channel, transposed
  const float* b_out;                // (768)
  int64_t mode;
  float temperature;
  float slope;
  uint64_t seed;
};

struct CpuKernels {
  const char* isa;  // "generic", "avx2" or "avx512"
  // act: nullptr, or (rows, 4H) to receive the activated gates [sigmoid i, sigmoid f, tanh g, sigmoid o]
  void (*lstm_forward_f32)(const float* gates, const float* c_prev, float* h, float* c, float* act, int64_t rows,
                           int64_t hidden);
  void (*lstm_forward_f64)(const double* gates, const double* c_prev, double* h, double* c, double* act,
                           int64_t rows, int64_t hidden);
  // from the raw gates
  void (*lstm_backward_f32)(const float* grad_h, const float* grad_c, const float* gates, const float* c_prev,
                            const float* c, float* grad_gates, float* grad_c_prev, int64_t rows, int64_t hidden);
  void (*lstm_backward_f64)(const double* grad_h, const double* grad_c, const double* gates, const double* c_prev,
                            const double* c, double* grad_gates, double* grad_c_prev, int64_t rows, int64_t hidden);
  // from the activations the forward saved in `act`
  void (*lstm_backward_act_f32)(const float* grad_h, const float* grad_c, const float* act, const float* c_prev,
                                const float* c, float* grad_gates, float* grad_c_prev, int64_t rows, int64_t hidden);
  void (*lstm_backward_act_f64)(const double* grad_h, const double* grad_c, const double* act, const double* c_prev,
                                const double* c, double* grad_gates, double* grad_c_prev, int64_t rows,
                                int64_t hidden);
  void (*pixelcnn_fill)(const FillArgs& args);
  // leaky_relu in place, elements whose dropout draw (dropout_hash.h) is below `dropped` set to 0
  void (*leaky_dropout_f32)(float* x, int64_t n, uint64_t key, uint32_t dropped, float slope);
  void (*leaky_dropout_bf16)(uint16_t* x, int64_t n, uint64_t key, uint32_t dropped, float slope);
  // its backward from the result y: grad * (y > 0 ? 1 : slope), 0 where dropped
  void (*leaky_dropout_backward_f32)(const float* grad, const float* y, float* out, int64_t n, uint64_t key,
                                     uint32_t dropped, float slope);
  void (*leaky_dropout_backward_bf16)(const uint16_t* grad, const uint16_t* y, uint16_t* out, int64_t n,
                                      uint64_t key, uint32_t dropped, float slope);
  // per row of `levels` logits z (in place): losses[r] = logsumexp(z) - z[target]; with grad, z becomes
  // softmax(z) - onehot(target)
  void (*softmax_xent_f32)(float* z, const int64_t* targets, float* losses, int64_t rows, int64_t levels,
                           bool grad);
  // the same on bf16 logits: the arithmetic in fp32, the gradient rounded back to bf16 in place
  void (*softmax_xent_bf16)(uint16_t* z, const int64_t* targets, float* losses, int64_t rows, int64_t levels,
                            bool grad);
};

// Each returns its table, or nullptr where that instruction set was not compiled in (non-x86 builds).
const CpuKernels* cpu_kernels_generic();
const CpuKernels* cpu_kernels_avx2();
const CpuKernels* cpu_kernels_avx512();

// The table in use.
const CpuKernels& cpu_kernels();
// Instruction sets compiled in and supported by this CPU, widest first.
std::vector<std::string> available_cpu_isas();
// Switch the table in use (tests compare the variants); returns the previous one's name.
std::string set_cpu_isa(const std::string& isa);

}  // namespace inpaintzoo
