// CUDA kernel of inpaintzoo::pixelcnn_fill: the whole hole of every image in ONE launch.
//
// One block per image walks its hole pixels in raster order and, per pixel, channels R, G, B. The block's
// warps share each layer's matrix-vector product (a warp per output row, lanes along the row, so weight reads
// are coalesced; the weights stay in L2, read by every block); activations live in shared memory; the 256
// logits are decoded with block-wide reductions. Channel c evaluates only the colour groups <= c, like the
// CPU kernel. Decoding and the counter-based random numbers follow the CPU kernel (fill_common.h).
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <climits>
#include <cmath>
#include <vector>

#include "fill_common.h"
#include "op_checks.h"

namespace inpaintzoo {
namespace {

constexpr int kFillThreads = 512;  // >= 256 (one thread per logit when decoding), 16 warps for the products
constexpr int kWarp = 32;
constexpr int kRowsPerWarp = 4;    // rows a warp keeps in flight at once
constexpr int kMaxDepth = 64;      // hidden layers passed by pointer in the kernel's parameters
constexpr size_t kMaxSharedBytes = 48 * 1024;

struct FillParams {
  float* out;          // (B, 3, H, W), a copy of the images, filled in place
  const bool* mask;    // (B, H, W)
  int height, width, units, depth;
  const float* w_in;   // (W, 75) row-major = (W, 3, 5, 5)
  const float* b_in;
  const float* w_hidden[kMaxDepth];  // (W, W)
  const float* b_hidden[kMaxDepth];
  const float* w_out;  // (768, W)
  const float* b_out;
  int mode;
  float inv_temperature;
  float slope;
  unsigned long long seed;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

__device__ __forceinline__ int warp_min(int v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
    v = min(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Block-wide reductions; every thread gets the result. `scratch` holds one value per warp.
__device__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = warp_sum(lane < warps ? scratch[lane] : 0.0f);
  __syncthreads();  // scratch is reused by the next reduction
  return v;
}

__device__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = warp_max(lane < warps ? scratch[lane] : -INFINITY);
  __syncthreads();
  return v;
}

__device__ int block_min(int v, int* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_min(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = warp_min(lane < warps ? scratch[lane] : INT_MAX);
  __syncthreads();
  return v;
}

// Inclusive prefix sum over the block in thread order.
__device__ float block_inclusive_scan(float v, float* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
#pragma unroll
  for (int offset = 1; offset < kWarp; offset <<= 1) {
    const float up = __shfl_up_sync(0xffffffffu, v, offset);
    if (lane >= offset) v += up;
  }
  if (lane == kWarp - 1) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float total = lane < warps ? scratch[lane] : 0.0f;
#pragma unroll
    for (int offset = 1; offset < kWarp; offset <<= 1) {
      const float up = __shfl_up_sync(0xffffffffu, total, offset);
      if (lane >= offset) total += up;
    }
    if (lane < warps) scratch[lane] = total;  // inclusive totals of warps 0..lane
  }
  __syncthreads();
  if (warp > 0) v += scratch[warp - 1];
  __syncthreads();
  return v;
}

// y[r] = act(bias[r] + w[r, :count] . x[:count]) for r < rows: a warp per group of kRowsPerWarp rows, lanes
// stride along the row (coalesced), then a shuffle reduction.
__device__ void dense_rows(const float* __restrict__ w, int ldw, const float* __restrict__ bias, const float* x,
                           int count, int rows, float* y, bool act, float slope) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  for (int first = warp * kRowsPerWarp; first < rows; first += warps * kRowsPerWarp) {
    float acc[kRowsPerWarp];
#pragma unroll
    for (int q = 0; q < kRowsPerWarp; ++q) acc[q] = 0.0f;
    for (int k = lane; k < count; k += kWarp) {
      const float xk = x[k];
#pragma unroll
      for (int q = 0; q < kRowsPerWarp; ++q) {
        if (first + q < rows) acc[q] = fmaf(__ldg(w + static_cast<int64_t>(first + q) * ldw + k), xk, acc[q]);
      }
    }
#pragma unroll
    for (int q = 0; q < kRowsPerWarp; ++q) {
      const float total = warp_sum(acc[q]);
      if (lane == 0 && first + q < rows) {
        const float a = total + __ldg(bias + first + q);
        y[first + q] = act ? (a > 0.0f ? a : a * slope) : a;
      }
    }
  }
}

// The value of one sub-pixel from logits[0..255] in shared memory; every thread returns it.
__device__ float decode_block(const float* logits, const FillParams& p, float uniform, float* fscratch, int* iscratch) {
  const int t = threadIdx.x;
  const bool owner = t < kFillClasses;
  if (p.mode == kFillGreedy) {
    // first index of the maximum: the max, then the smallest index holding it
    const float z = owner ? logits[t] : -INFINITY;
    const float top = block_max(z, fscratch);
    const int index = block_min(owner && z == top ? t : INT_MAX, iscratch);
    return static_cast<float>(index == INT_MAX ? 0 : index) / 255.0f;
  }
  const float scale = p.mode == kFillSample ? p.inv_temperature : 1.0f;
  const float z = owner ? logits[t] * scale : -INFINITY;
  const float top = block_max(z, fscratch);
  const float weight = owner ? expf(z - top) : 0.0f;
  if (p.mode == kFillMean) {
    const float total = block_sum(weight, fscratch);
    const float moment = block_sum(weight * static_cast<float>(t), fscratch);
    const float level = fminf(fmaxf(nearbyintf(moment / total), 0.0f), 255.0f);
    return level / 255.0f;
  }
  const float cdf = block_inclusive_scan(weight, fscratch);
  if (t == kFillClasses - 1) fscratch[kWarp] = cdf;  // the total, past the per-warp slots
  __syncthreads();
  const float target = uniform * fscratch[kWarp];
  __syncthreads();
  const int index = block_min(owner && cdf > target ? t : INT_MAX, iscratch);
  return static_cast<float>(index == INT_MAX ? kFillClasses - 1 : index) / 255.0f;
}

__global__ void __launch_bounds__(kFillThreads) pixelcnn_fill_kernel(const FillParams p) {
  extern __shared__ float shared[];
  float* taps = shared;                    // 75 (+1 pad)
  float* act_a = taps + kFillTaps + 1;     // units
  float* act_b = act_a + p.units;          // units
  float* logits = act_b + p.units;         // 256
  __shared__ float fscratch[kWarp + 1];
  __shared__ int iscratch[kWarp];

  const int64_t image = blockIdx.x;
  const int64_t plane = static_cast<int64_t>(p.height) * p.width;
  float* img = p.out + image * kFillChannels * plane;
  const bool* mask = p.mask + image * plane;
  const int group = p.units / kFillChannels;
  const int t = threadIdx.x;

  for (int64_t pixel = 0; pixel < plane; ++pixel) {
    if (!mask[pixel]) continue;  // the same for the whole block
    const int y = static_cast<int>(pixel / p.width), x = static_cast<int>(pixel % p.width);
    if (t < kFillTaps) {
      // 5x5 window ending at the pixel; zero outside the image and at the centre (not known yet)
      const int ch = t / (kFillWindow * kFillWindow), tap = t % (kFillWindow * kFillWindow);
      const int yy = y - (kFillWindow - 1) + tap / kFillWindow, xx = x - (kFillWindow - 1) + tap % kFillWindow;
      const bool inside = yy >= 0 && xx >= 0 && tap != kFillCentreTap;
      taps[t] = inside ? img[ch * plane + static_cast<int64_t>(yy) * p.width + xx] : 0.0f;
    }
    __syncthreads();
    for (int ch = 0; ch < kFillChannels; ++ch) {
      const int needed = (ch + 1) * group;  // units of colour groups <= ch
      dense_rows(p.w_in, kFillTaps, p.b_in, taps, kFillTaps, needed, act_a, true, p.slope);
      __syncthreads();
      float* current = act_a;
      float* next = act_b;
      for (int l = 0; l < p.depth; ++l) {
        dense_rows(p.w_hidden[l], p.units, p.b_hidden[l], current, needed, needed, next, true, p.slope);
        __syncthreads();
        float* swap = current;
        current = next;
        next = swap;
      }
      dense_rows(p.w_out + static_cast<int64_t>(ch) * kFillClasses * p.units, p.units, p.b_out + ch * kFillClasses,
                 current, needed, kFillClasses, logits, false, 0.0f);
      __syncthreads();
      const float uniform = p.mode == kFillSample ? fill_uniform(p.seed, image, pixel, ch) : 0.0f;
      const float value = decode_block(logits, p, uniform, fscratch, iscratch);
      if (t == 0) {
        img[ch * plane + pixel] = value;
        taps[ch * kFillWindow * kFillWindow + kFillCentreTap] = value;  // the next channels see it
      }
      __syncthreads();
    }
  }
}

at::Tensor pixelcnn_fill_cuda(const at::Tensor& images, const at::Tensor& mask, const at::Tensor& w_in,
                              const at::Tensor& b_in, at::TensorList w_hidden, at::TensorList b_hidden,
                              const at::Tensor& w_out, const at::Tensor& b_out, int64_t mode, double temperature,
                              double negative_slope, int64_t seed) {
  const char* op = "inpaintzoo::pixelcnn_fill";
  const FillShape shape = check_pixelcnn_fill_args(images, mask, w_in, b_in, w_hidden, b_hidden, w_out, b_out, mode,
                                                   temperature, negative_slope, op);
  TORCH_CHECK(shape.depth <= kMaxDepth, op, ": the CUDA kernel takes at most ", kMaxDepth, " hidden layers, got ",
              shape.depth);
  TORCH_CHECK(shape.height * shape.width < INT_MAX, op, ": images of ", shape.height, "x", shape.width,
              " are too large for the CUDA kernel");
  const size_t shared_bytes = (kFillTaps + 1 + 2 * shape.units + kFillClasses) * sizeof(float);
  TORCH_CHECK(shared_bytes <= kMaxSharedBytes, op, ": width ", shape.units,
              " needs more shared memory than the CUDA kernel uses; use a narrower network or the CPU");
  const c10::cuda::CUDAGuard guard(images.device());
  at::Tensor out = images.clone(at::MemoryFormat::Contiguous);
  if (out.numel() == 0) {
    return out;
  }
  const at::Tensor mask_c = mask.contiguous();
  const at::Tensor w_in_c = w_in.contiguous();
  const at::Tensor b_in_c = b_in.contiguous();
  const at::Tensor w_out_c = w_out.contiguous();
  const at::Tensor b_out_c = b_out.contiguous();
  std::vector<at::Tensor> keep_alive;

  FillParams params{};
  params.out = out.mutable_data_ptr<float>();
  params.mask = mask_c.const_data_ptr<bool>();
  params.height = static_cast<int>(shape.height);
  params.width = static_cast<int>(shape.width);
  params.units = static_cast<int>(shape.units);
  params.depth = static_cast<int>(shape.depth);
  params.w_in = w_in_c.const_data_ptr<float>();
  params.b_in = b_in_c.const_data_ptr<float>();
  for (int64_t l = 0; l < shape.depth; ++l) {
    keep_alive.push_back(w_hidden[l].contiguous());
    keep_alive.push_back(b_hidden[l].contiguous());
    params.w_hidden[l] = keep_alive[keep_alive.size() - 2].const_data_ptr<float>();
    params.b_hidden[l] = keep_alive.back().const_data_ptr<float>();
  }
  params.w_out = w_out_c.const_data_ptr<float>();
  params.b_out = b_out_c.const_data_ptr<float>();
  params.mode = static_cast<int>(mode);
  params.inv_temperature = static_cast<float>(1.0 / temperature);
  params.slope = static_cast<float>(negative_slope);
  params.seed = static_cast<unsigned long long>(seed);

  pixelcnn_fill_kernel<<<static_cast<unsigned int>(shape.batch), kFillThreads, shared_bytes,
                         c10::cuda::getCurrentCUDAStream()>>>(params);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace inpaintzoo

TORCH_LIBRARY_IMPL(inpaintzoo, CUDA, m) { m.impl("pixelcnn_fill", &inpaintzoo::pixelcnn_fill_cuda); }
