// CPU kernel of inpaintzoo::pixelcnn_fill: checks, packs the weights for the vectorised GEMMs, then fills
// (cpu_kernels_impl.h; images in parallel over threads).
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <vector>

#include "cpu_kernels.h"
#include "op_checks.h"

namespace inpaintzoo {
namespace {

// Packed rows are padded to a multiple of 16 floats: whole AVX-512 (or two AVX2) vectors, zeros past W.
constexpr int64_t kPackAlign = 16;

// (rows, cols) -> (cols, ld) transposed, zero-padded to ld columns.
at::Tensor pack_transposed(const at::Tensor& matrix, int64_t ld) {
  at::Tensor packed = at::zeros({matrix.size(1), ld}, matrix.options());
  packed.narrow(1, 0, matrix.size(0)).copy_(matrix.t());
  return packed;
}

at::Tensor pack_bias(const at::Tensor& bias, int64_t ld) {
  at::Tensor packed = at::zeros({ld}, bias.options());
  packed.narrow(0, 0, bias.size(0)).copy_(bias);
  return packed;
}

at::Tensor pixelcnn_fill_cpu(const at::Tensor& images, const at::Tensor& mask, const at::Tensor& w_in,
                             const at::Tensor& b_in, at::TensorList w_hidden, at::TensorList b_hidden,
                             const at::Tensor& w_out, const at::Tensor& b_out, int64_t mode, double temperature,
                             double negative_slope, int64_t seed) {
  const FillShape shape = check_pixelcnn_fill_args(images, mask, w_in, b_in, w_hidden, b_hidden, w_out, b_out, mode,
                                                   temperature, negative_slope, "inpaintzoo::pixelcnn_fill");
  at::Tensor out = images.clone(at::MemoryFormat::Contiguous);
  if (out.numel() == 0) {
    return out;
  }
  const at::Tensor mask_c = mask.contiguous();
  const int64_t units = shape.units;
  const int64_t ld = (units + kPackAlign - 1) / kPackAlign * kPackAlign;

  const at::Tensor w_in_t = pack_transposed(w_in.reshape({units, kFillTaps}), ld);
  const at::Tensor b_in_p = pack_bias(b_in, ld);
  std::vector<at::Tensor> keep_alive;
  std::vector<const float*> hidden_w, hidden_b;
  for (int64_t l = 0; l < shape.depth; ++l) {
    keep_alive.push_back(pack_transposed(w_hidden[l], ld));
    keep_alive.push_back(pack_bias(b_hidden[l], ld));
    hidden_w.push_back(keep_alive[keep_alive.size() - 2].const_data_ptr<float>());
    hidden_b.push_back(keep_alive.back().const_data_ptr<float>());
  }
  // (768, W) -> (3, W, 256): per channel, the 256 logits of one input unit are contiguous
  const at::Tensor w_out_t = w_out.reshape({kFillChannels, kFillClasses, units}).transpose(1, 2).contiguous();
  const at::Tensor b_out_c = b_out.contiguous();

  FillArgs args{};
  args.out = out.mutable_data_ptr<float>();
  args.mask = mask_c.const_data_ptr<bool>();
  args.batch = shape.batch;
  args.height = shape.height;
  args.width = shape.width;
  args.units = units;
  args.depth = shape.depth;
  args.ld = ld;
  args.w_in_t = w_in_t.const_data_ptr<float>();
  args.b_in = b_in_p.const_data_ptr<float>();
  args.w_hidden_t = hidden_w.data();
  args.b_hidden = hidden_b.data();
  args.w_out_t = w_out_t.const_data_ptr<float>();
  args.b_out = b_out_c.const_data_ptr<float>();
  args.mode = mode;
  args.temperature = static_cast<float>(temperature);
  args.slope = static_cast<float>(negative_slope);
  args.seed = static_cast<uint64_t>(seed);
  cpu_kernels().pixelcnn_fill(args);
  return out;
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CPU, m) { m.impl("pixelcnn_fill", &inpaintzoo::pixelcnn_fill_cpu); }
