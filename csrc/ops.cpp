// The operator schemas of the `inpaintzoo` namespace and the Python module `inpaintzoo._C`.
//
// Importing the module registers the ops (torch.ops.inpaintzoo.*); the CPU kernels live in *_cpu.cpp, the
// CUDA ones in *_cuda.cu, the autograd of lstm_cell in lstm_cell_autograd.cpp, the device-generic Row LSTM
// recurrence in row_lstm.cpp, the fake (meta) kernels in
// inpaintzoo/ops/_meta.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/library.h>

#include "cpu_kernels.h"

TORCH_LIBRARY(inpaintzoo, m) {
  m.set_python_module("inpaintzoo.ops._meta");
  m.def("lstm_cell(Tensor gates, Tensor c_prev) -> (Tensor h, Tensor c)");
  // the training forward: also the activated gates [sigmoid i, sigmoid f, tanh g, sigmoid o], for the backward
  m.def("lstm_cell_train(Tensor gates, Tensor c_prev) -> (Tensor h, Tensor c, Tensor activations)");
  m.def(
      "lstm_cell_backward(Tensor grad_h, Tensor grad_c, Tensor gates, Tensor c_prev, Tensor c) "
      "-> (Tensor grad_gates, Tensor grad_c_prev)");
  m.def(
      "lstm_cell_backward_activated(Tensor grad_h, Tensor grad_c, Tensor activations, Tensor c_prev, Tensor c) "
      "-> (Tensor grad_gates, Tensor grad_c_prev)");
  // one Row LSTM layer's whole recurrence (csrc/row_lstm.cpp): input_gates (R, N, W, 4H), w_state (4H, H, 3)
  m.def("row_lstm(Tensor input_gates, Tensor w_state) -> (Tensor h, Tensor c)");
  m.def("row_lstm_train(Tensor input_gates, Tensor w_state) -> (Tensor h, Tensor c, Tensor gates)");
  m.def(
      "row_lstm_backward(Tensor grad_h, Tensor? grad_c, Tensor gates, Tensor h, Tensor c, Tensor w_state) "
      "-> (Tensor grad_input_gates, Tensor grad_w_state)");
  m.def(
      "pixelcnn_fill(Tensor images, Tensor mask, Tensor w_in, Tensor b_in, Tensor[] w_hidden, Tensor[] b_hidden, "
      "Tensor w_out, Tensor b_out, int mode, float temperature, float negative_slope, int seed) -> Tensor");
  // the density models' fast paths (csrc/fast_paths_cpu.cpp): leaky ReLU + counter-based dropout in place,
  // its backward (the mask recomputed from the seed), and a chunk's 256-way cross-entropy with its gradient
  m.def("leaky_dropout_(Tensor(a!) x, int seed, int dropped, float negative_slope) -> Tensor(a!)");
  m.def("leaky_dropout_backward(Tensor grad, Tensor y, int seed, int dropped, float negative_slope) -> Tensor");
  m.def("softmax_xent_(Tensor(a!) logits, Tensor targets, bool grad) -> Tensor");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "inpaintzoo's compiled kernels; the ops themselves are torch.ops.inpaintzoo.*";
  m.def(
      "cpu_isa", [] { return std::string(inpaintzoo::cpu_kernels().isa); },
      "Instruction set of the CPU kernels in use: generic, avx2 or avx512.");
  m.def("cpu_isas", &inpaintzoo::available_cpu_isas, "Instruction sets compiled in and supported here, widest first.");
  m.def("set_cpu_isa", &inpaintzoo::set_cpu_isa, pybind11::arg("isa"),
        "Use the CPU kernels for `isa` (one of cpu_isas()); returns the previous one.");
#ifdef WITH_CUDA
  m.attr("cuda_compiled") = true;
#else
  m.attr("cuda_compiled") = false;
#endif
#ifdef _OPENMP
  m.attr("openmp") = true;  // at::parallel_for in the kernels really runs on several threads
#else
  m.attr("openmp") = false;
#endif
}
