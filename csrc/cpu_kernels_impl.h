// The CPU kernels, written once with at::vec::Vectorized and compiled once per instruction set.
//
// Included only by the vectorized_*.cpp files. The includer defines INPAINTZOO_ISA (the namespace of this
// variant) and INPAINTZOO_ISA_NAME, and for an x86 variant also CPU_CAPABILITY / CPU_CAPABILITY_AVX2 or
// CPU_CAPABILITY_AVX512 and the matching `#pragma GCC target`, so that Vectorized<float> is 8 or 16 lanes.
// Everything here lives in the variant's own namespace, mostly with internal linkage: the variants never clash.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#include "cpu_kernels.h"
#include "dropout_hash.h"
#include "fill_common.h"

#if !defined(INPAINTZOO_ISA) || !defined(INPAINTZOO_ISA_NAME)
#error "define INPAINTZOO_ISA and INPAINTZOO_ISA_NAME before including cpu_kernels_impl.h"
#endif

namespace inpaintzoo::INPAINTZOO_ISA {
namespace {

using at::vec::Vectorized;
using VecF = Vectorized<float>;

// Rows of an elementwise LSTM launch are split so that each thread gets at least this many elements:
// below it a fork/join costs more than it saves.
constexpr int64_t kLstmGrainElements = 8192;

// ---------------------------------------------------------------------------------------------------
// LSTM cell
// ---------------------------------------------------------------------------------------------------

// 1 / d. For float a hardware reciprocal estimate refined by one Newton step (within ~1 ulp for finite d > 0),
// several times cheaper than a vector division; callers keep d finite (d = inf would give NaN).
inline Vectorized<float> reciprocal_(const Vectorized<float>& d) {
#if defined(CPU_CAPABILITY_AVX512)
  const __m512 dv = d;
  const __m512 r = _mm512_rcp14_ps(dv);  // 14 bits
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(dv, r, _mm512_set1_ps(2.0f)));
#elif defined(CPU_CAPABILITY_AVX2)
  const __m256 dv = d;
  const __m256 r = _mm256_rcp_ps(dv);  // 12 bits
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(dv, r, _mm256_set1_ps(2.0f)));
#else
  return Vectorized<float>(1.0f) / d;
#endif
}

// e^x for float, as 2^n * (1 + r q(r)) with x = n ln2 + r, |r| <= ln2 / 2. The parts are kept apart so that
// e^x - 1 can be formed without cancellation (tanh needs it near 0). Callers clamp x to [-87, 88], where
// n + 127 is a valid exponent. n comes from the round-to-nearest of adding 1.5 * 2^23 (+ the exponent bias,
// so the float's low bits already hold n + 127); q is the degree-6 Taylor polynomial of (e^r - 1) / r, whose
// truncation error is below 1e-8 relative to e^r - 1. No lookup, no range masks, no int<->float conversion: with
// the tanh below it took the fused LSTM forward from 2.6 to 1.9 ns per element (AVX-512) against ATen's
// exp_u20, and Sleef's tanh had cost another 2x.
struct ExpParts {
  Vectorized<float> scale;  // 2^n
  Vectorized<float> rq;     // r q(r) = e^r - 1
};

inline ExpParts exp_parts(const Vectorized<float>& x) {
  using V = Vectorized<float>;
  const V shifter(12582912.0f + 127.0f);  // 1.5 * 2^23 + 127
  const V shifted = at::vec::fmadd(x, V(1.44269504088896341f), shifter);
  const V n = shifted - shifter;
  V r = at::vec::fmadd(n, V(-0.693145751953125f), x);  // ln 2, high part: n * it is exact
  r = at::vec::fmadd(n, V(-1.428606820309417e-06f), r);  // ln 2, low part
  V q(1.0f / 5040.0f);
  q = at::vec::fmadd(q, r, V(1.0f / 720.0f));
  q = at::vec::fmadd(q, r, V(1.0f / 120.0f));
  q = at::vec::fmadd(q, r, V(1.0f / 24.0f));
  q = at::vec::fmadd(q, r, V(1.0f / 6.0f));
  q = at::vec::fmadd(q, r, V(0.5f));
  q = at::vec::fmadd(q, r, V(1.0f));
  const Vectorized<int32_t> exponent = at::vec::cast<int32_t>(shifted) << Vectorized<int32_t>(23);
  return {at::vec::cast<float>(exponent), r * q};
}

// sigmoid(x) = 1 / (1 + e^-x), e^-x computed on -x clamped to [-87, 80]: 1 + e^80 stays finite for the
// reciprocal (sigmoid(x < -80) comes out as ~1.8e-35 rather than smaller), e^-87 already leaves 1 + e^-x = 1.
inline Vectorized<float> sigmoid(const Vectorized<float>& x) {
  using V = Vectorized<float>;
  const ExpParts e = exp_parts(at::vec::clamp(x.neg(), V(-87.0f), V(80.0f)));
  return reciprocal_(at::vec::fmadd(e.scale, e.rq, e.scale) + V(1.0f));
}

inline Vectorized<double> sigmoid(const Vectorized<double>& x) {
  const Vectorized<double> one(1.0);
  return one / (one + x.neg().exp());
}

// tanh(x) = sign(x) * -m / (2 + m) with m = e^(-2|x|) - 1 in (-1, 0]: no cancellation anywhere, so no special
// case near 0 (|x| is clamped at 43.5, where tanh is 1 in float). Within 2.5e-7 relative of tanh on [-12, 12].
inline Vectorized<float> tanh_(const Vectorized<float>& x) {
  using V = Vectorized<float>;
  const V sign_bit(-0.0f);
  const V magnitude = at::vec::clamp_max(x.abs(), V(43.5f));
  const ExpParts e = exp_parts(magnitude * V(-2.0f));
  const V m = at::vec::fmadd(e.scale, e.rq, e.scale - V(1.0f));
  const V negative = m * reciprocal_(m + V(2.0f));  // -tanh|x|
  return negative.abs() | (x & sign_bit);  // tanh(+-0) = +-0
}

inline Vectorized<double> tanh_(const Vectorized<double>& x) { return x.tanh(); }

template <typename T, bool kFull>
inline Vectorized<T> load(const T* ptr, int64_t count) {
  if constexpr (kFull) {
    return Vectorized<T>::loadu(ptr);
  } else {
    return Vectorized<T>::loadu(ptr, count);
  }
}

template <typename T, bool kFull>
inline void store(const Vectorized<T>& v, T* ptr, int64_t count) {
  if constexpr (kFull) {
    v.store(ptr);
  } else {
    v.store(ptr, static_cast<int>(count));
  }
}

// Lanes [k, k + count) of one row: c = f * c_prev + i * g, h = o * tanh(c). With kSave the activated gates
// [sigmoid i, sigmoid f, tanh g, sigmoid o] are also written to `act` (same layout as the gates) for the backward.
template <typename T, bool kFull, bool kSave>
inline void lstm_forward_lanes(const T* g, const T* c_prev, T* h, T* c, T* act, int64_t hidden, int64_t k,
                               int64_t count) {
  using V = Vectorized<T>;
  const V i = sigmoid(load<T, kFull>(g + k, count));
  const V f = sigmoid(load<T, kFull>(g + hidden + k, count));
  const V cand = tanh_(load<T, kFull>(g + 2 * hidden + k, count));
  const V o = sigmoid(load<T, kFull>(g + 3 * hidden + k, count));
  const V c_new = at::vec::fmadd(f, load<T, kFull>(c_prev + k, count), i * cand);
  store<T, kFull>(c_new, c + k, count);
  store<T, kFull>(o * tanh_(c_new), h + k, count);
  if constexpr (kSave) {
    store<T, kFull>(i, act + k, count);
    store<T, kFull>(f, act + hidden + k, count);
    store<T, kFull>(cand, act + 2 * hidden + k, count);
    store<T, kFull>(o, act + 3 * hidden + k, count);
  }
}

// `act` is nullptr for inference (only h and c written) and the activations buffer for training.
template <typename T>
void lstm_forward(const T* gates, const T* c_prev, T* h, T* c, T* act, int64_t rows, int64_t hidden) {
  if (hidden == 0) {
    return;
  }
  constexpr int64_t kLanes = Vectorized<T>::size();
  const int64_t grain = std::max<int64_t>(1, kLstmGrainElements / hidden);
  const auto run = [&](auto save) {
    constexpr bool kSave = decltype(save)::value;
    at::parallel_for(0, rows, grain, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        const T* g = gates + r * 4 * hidden;
        T* a = kSave ? act + r * 4 * hidden : nullptr;
        const int64_t offset = r * hidden;
        int64_t k = 0;
        for (; k + kLanes <= hidden; k += kLanes) {
          lstm_forward_lanes<T, true, kSave>(g, c_prev + offset, h + offset, c + offset, a, hidden, k, kLanes);
        }
        if (k < hidden) {
          lstm_forward_lanes<T, false, kSave>(g, c_prev + offset, h + offset, c + offset, a, hidden, k, hidden - k);
        }
      }
    });
  };
  if (act == nullptr) {
    run(std::false_type{});
  } else {
    run(std::true_type{});
  }
}

// Backward of lanes [k, k + count). kActivated: `g` holds the activations saved by the training forward (no
// exponential but tanh(c)); else the raw gates, whose activations are recomputed (the path of the raw-gates op).
template <typename T, bool kFull, bool kActivated>
inline void lstm_backward_lanes(const T* grad_h, const T* grad_c, const T* g, const T* c_prev, const T* c, T* grad_g,
                                T* grad_c_prev, int64_t hidden, int64_t k, int64_t count) {
  using V = Vectorized<T>;
  const V one(T(1));
  V i = load<T, kFull>(g + k, count);
  V f = load<T, kFull>(g + hidden + k, count);
  V cand = load<T, kFull>(g + 2 * hidden + k, count);
  V o = load<T, kFull>(g + 3 * hidden + k, count);
  if constexpr (!kActivated) {
    i = sigmoid(i);
    f = sigmoid(f);
    cand = tanh_(cand);
    o = sigmoid(o);
  }
  const V tanh_c = tanh_(load<T, kFull>(c + k, count));
  const V dh = load<T, kFull>(grad_h + k, count);
  // total gradient reaching c: directly, and through h = o * tanh(c)
  const V dc = at::vec::fmadd(dh * o, one - tanh_c * tanh_c, load<T, kFull>(grad_c + k, count));
  store<T, kFull>(dc * i * cand * (one - i), grad_g + k, count);
  store<T, kFull>(dc * load<T, kFull>(c_prev + k, count) * f * (one - f), grad_g + hidden + k, count);
  store<T, kFull>(dc * i * (one - cand * cand), grad_g + 2 * hidden + k, count);
  store<T, kFull>(dh * tanh_c * o * (one - o), grad_g + 3 * hidden + k, count);
  store<T, kFull>(dc * f, grad_c_prev + k, count);
}

// Autograd uses the activated variant (the forward saved the activations: 4H more written per row, 4 of the 5
// exponentials per element saved here); the raw-gates variant serves the `lstm_cell_backward` op.
template <typename T, bool kActivated>
void lstm_backward(const T* grad_h, const T* grad_c, const T* gates, const T* c_prev, const T* c, T* grad_gates,
                   T* grad_c_prev, int64_t rows, int64_t hidden) {
  if (hidden == 0) {
    return;
  }
  constexpr int64_t kLanes = Vectorized<T>::size();
  const int64_t grain = std::max<int64_t>(1, kLstmGrainElements / (2 * hidden));
  at::parallel_for(0, rows, grain, [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const int64_t offset = r * hidden;
      const T* g = gates + 4 * offset;
      T* dg = grad_gates + 4 * offset;
      int64_t k = 0;
      for (; k + kLanes <= hidden; k += kLanes) {
        lstm_backward_lanes<T, true, kActivated>(grad_h + offset, grad_c + offset, g, c_prev + offset, c + offset, dg,
                                                 grad_c_prev + offset, hidden, k, kLanes);
      }
      if (k < hidden) {
        lstm_backward_lanes<T, false, kActivated>(grad_h + offset, grad_c + offset, g, c_prev + offset, c + offset,
                                                  dg, grad_c_prev + offset, hidden, k, hidden - k);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// PixelCNN fill
// ---------------------------------------------------------------------------------------------------

constexpr int64_t kLanes = VecF::size();
// Register tile of the small GEMMs: kTileRows images x kTileVecs vectors of outputs. 16 accumulators
// fit the 32 AVX-512 registers; 8 fit the 16 AVX2 ones.
constexpr int kTileRows = 4;
constexpr int kTileVecs = kLanes >= 16 ? 4 : 2;
// Images one thread fills in lockstep: each step is then a (images x K) x (K x N) product, whose weights
// are read once for all of them.
constexpr int64_t kFillSubBatch = 64;

inline VecF leaky_relu(const VecF& v, const VecF& slope) { return VecF::blendv(v * slope, v, v > VecF(0.0f)); }

// C[0:R, 0:V*lanes] = act(bias + A[0:R, 0:K] @ B[0:K, 0:V*lanes]), kept in registers over the K loop.
template <int R, int V>
void gemm_tile(const float* a, int64_t lda, const float* b, int64_t ldb, const float* bias, float* c, int64_t ldc,
               int64_t depth, bool act, float slope) {
  VecF acc[R][V];
  for (int j = 0; j < V; ++j) {
    const VecF bj = VecF::loadu(bias + j * kLanes);
    for (int i = 0; i < R; ++i) {
      acc[i][j] = bj;
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    VecF bk[V];
    for (int j = 0; j < V; ++j) {
      bk[j] = VecF::loadu(b + k * ldb + j * kLanes);
    }
    for (int i = 0; i < R; ++i) {
      const VecF ai(a[i * lda + k]);
      for (int j = 0; j < V; ++j) {
        acc[i][j] = at::vec::fmadd(ai, bk[j], acc[i][j]);
      }
    }
  }
  const VecF vslope(slope);
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < V; ++j) {
      (act ? leaky_relu(acc[i][j], vslope) : acc[i][j]).store(c + i * ldc + j * kLanes);
    }
  }
}

template <int R>
void gemm_tile_cols(int vecs, const float* a, int64_t lda, const float* b, int64_t ldb, const float* bias, float* c,
                    int64_t ldc, int64_t depth, bool act, float slope) {
  switch (vecs) {
    case 1:
      return gemm_tile<R, 1>(a, lda, b, ldb, bias, c, ldc, depth, act, slope);
    case 2:
      return gemm_tile<R, 2>(a, lda, b, ldb, bias, c, ldc, depth, act, slope);
    case 3:
      return gemm_tile<R, 3>(a, lda, b, ldb, bias, c, ldc, depth, act, slope);
    default:
      return gemm_tile<R, 4>(a, lda, b, ldb, bias, c, ldc, depth, act, slope);
  }
}

// C (rows x cols) = act(bias + A (rows x depth) @ B (depth x cols)); cols is a multiple of the lane count and
// every leading dimension is in floats. The column blocks are outermost so that a block of B stays in L1
// while all the images stream past it.
void gemm_bias_act(const float* a, int64_t lda, const float* b, int64_t ldb, const float* bias, float* c, int64_t ldc,
                   int64_t rows, int64_t depth, int64_t cols, bool act, float slope) {
  const int64_t vecs = cols / kLanes;
  for (int64_t jv = 0; jv < vecs; jv += kTileVecs) {
    const int v = static_cast<int>(std::min<int64_t>(kTileVecs, vecs - jv));
    const int64_t col = jv * kLanes;
    for (int64_t i = 0; i < rows; i += kTileRows) {
      const float* ai = a + i * lda;
      float* ci = c + i * ldc + col;
      switch (std::min<int64_t>(kTileRows, rows - i)) {
        case 1:
          gemm_tile_cols<1>(v, ai, lda, b + col, ldb, bias + col, ci, ldc, depth, act, slope);
          break;
        case 2:
          gemm_tile_cols<2>(v, ai, lda, b + col, ldb, bias + col, ci, ldc, depth, act, slope);
          break;
        case 3:
          gemm_tile_cols<3>(v, ai, lda, b + col, ldb, bias + col, ci, ldc, depth, act, slope);
          break;
        default:
          gemm_tile_cols<4>(v, ai, lda, b + col, ldb, bias + col, ci, ldc, depth, act, slope);
          break;
      }
    }
  }
}

inline int64_t round_up_lanes(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

float horizontal_max(const VecF& v) {
  alignas(64) float lanes[kLanes];
  v.store(lanes);
  float best = lanes[0];
  for (int64_t l = 1; l < kLanes; ++l) {
    best = std::max(best, lanes[l]);
  }
  return best;
}

float horizontal_sum(const VecF& v) {
  alignas(64) float lanes[kLanes];
  v.store(lanes);
  float total = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) {
    total += lanes[l];
  }
  return total;
}

// First index of the largest logit (torch.argmax's tie rule).
int64_t argmax_first(const float* z) {
  VecF best = VecF::loadu(z);
  for (int64_t k = kLanes; k < kFillClasses; k += kLanes) {
    best = at::vec::maximum(best, VecF::loadu(z + k));
  }
  const float top = horizontal_max(best);
  for (int64_t k = 0; k < kFillClasses; ++k) {
    if (z[k] == top) {
      return k;
    }
  }
  return 0;  // only with NaN logits
}

// The value written for one sub-pixel from its 256 logits (the contract is in inpaintzoo/ops/pixelcnn_fill.py):
// greedy argmax; mean: softmax mean rounded half-to-even to the grid (temperature ignored); sample: inverse CDF
// of softmax(z / T) at `uniform`.
float decode(const float* z, int64_t mode, float temperature, float uniform, float* weights) {
  if (mode == kFillGreedy) {
    return static_cast<float>(argmax_first(z)) / 255.0f;
  }
  // softmax up to its normaliser, shifted by the max for range
  const VecF inv_t(mode == kFillSample ? 1.0f / temperature : 1.0f);
  VecF best = VecF::loadu(z) * inv_t;
  for (int64_t k = kLanes; k < kFillClasses; k += kLanes) {
    best = at::vec::maximum(best, VecF::loadu(z + k) * inv_t);
  }
  const VecF top(horizontal_max(best));
  for (int64_t k = 0; k < kFillClasses; k += kLanes) {
    (VecF::loadu(z + k) * inv_t - top).exp_u20().store(weights + k);
  }
  if (mode == kFillMean) {
    VecF total(0.0f), moment(0.0f);
    for (int64_t k = 0; k < kFillClasses; k += kLanes) {
      const VecF w = VecF::loadu(weights + k);
      total = total + w;
      moment = at::vec::fmadd(w, VecF::arange(static_cast<float>(k), 1.0f), moment);
    }
    const float level = std::nearbyint(horizontal_sum(moment) / horizontal_sum(total));
    return std::min(std::max(level, 0.0f), 255.0f) / 255.0f;
  }
  // sample: inverse CDF of the unnormalised weights at uniform * total, found block by block (vector-sized
  // blocks), so that the serial chain of additions is 16 + 16 long instead of 256
  constexpr int64_t kBlocks = kFillClasses / kLanes;
  float block_sums[kBlocks];
  float total = 0.0f;
  for (int64_t blk = 0; blk < kBlocks; ++blk) {
    block_sums[blk] = horizontal_sum(VecF::loadu(weights + blk * kLanes));
  }
  for (int64_t blk = 0; blk < kBlocks; ++blk) {
    total += block_sums[blk];
  }
  const float target = uniform * total;
  float running = 0.0f;
  for (int64_t blk = 0; blk < kBlocks; ++blk) {
    if (running + block_sums[blk] <= target) {
      running += block_sums[blk];
      continue;
    }
    for (int64_t k = blk * kLanes; k < (blk + 1) * kLanes; ++k) {
      running += weights[k];
      if (running > target) {
        return static_cast<float>(k) / 255.0f;
      }
    }
  }
  return 1.0f;  // rounding left the target at the total: class 255, as the PyTorch path does
}

struct FillWorkspace {
  std::vector<float> taps;     // (M, 75): the first layer's window of each image's current pixel
  std::vector<float> base;     // (M, ld): first-layer pre-activation with the channels written so far
  std::vector<float> hidden_a; // (M, ld): activations, ping
  std::vector<float> hidden_b; // (M, ld): activations, pong
  std::vector<float> logits;   // (M, 256)
  std::vector<float> weights;  // (256): softmax scratch
  std::vector<float> written;  // (M): the value just written for each image
  std::vector<int64_t> image;  // (M): row -> image index
  std::vector<int64_t> pixel;  // (M): row -> pixel index (y * width + x)

  void reserve(int64_t rows, int64_t ld) {
    taps.resize(rows * kFillTaps);
    base.resize(rows * ld);
    hidden_a.resize(rows * ld);
    hidden_b.resize(rows * ld);
    logits.resize(rows * kFillClasses);
    weights.resize(kFillClasses);
    written.resize(rows);
    image.resize(rows);
    pixel.resize(rows);
  }
};

// Fill images [first, last) in lockstep: step t fills the t-th hole pixel (raster order) of every image that
// has one, channel by channel. Channel c only needs the first (c + 1) / 3 of every hidden layer and its own 256
// logits, because the masks cut every path from later colour groups.
void fill_images(const FillArgs& args, int64_t first, int64_t last, FillWorkspace& ws) {
  const int64_t plane = args.height * args.width;
  const int64_t ld = args.ld;
  const int64_t group = args.units / kFillChannels;
  const int64_t count = last - first;

  std::vector<std::vector<int64_t>> holes(count);
  int64_t steps = 0;
  for (int64_t m = 0; m < count; ++m) {
    const bool* mask = args.mask + (first + m) * plane;
    for (int64_t p = 0; p < plane; ++p) {
      if (mask[p]) {
        holes[m].push_back(p);
      }
    }
    steps = std::max<int64_t>(steps, static_cast<int64_t>(holes[m].size()));
  }
  ws.reserve(count, ld);
  const VecF vslope(args.slope);

  for (int64_t t = 0; t < steps; ++t) {
    int64_t rows = 0;
    for (int64_t m = 0; m < count; ++m) {
      if (t < static_cast<int64_t>(holes[m].size())) {
        ws.image[rows] = first + m;
        ws.pixel[rows] = holes[m][t];
        ++rows;
      }
    }
    // the window of each pixel: 5x5 ending at the pixel, zero outside the image and at the (unknown) centre
    for (int64_t r = 0; r < rows; ++r) {
      const float* img = args.out + ws.image[r] * kFillChannels * plane;
      const int64_t y = ws.pixel[r] / args.width, x = ws.pixel[r] % args.width;
      float* taps = ws.taps.data() + r * kFillTaps;
      for (int64_t ch = 0; ch < kFillChannels; ++ch) {
        for (int64_t u = 0; u < kFillWindow; ++u) {
          for (int64_t v = 0; v < kFillWindow; ++v) {
            const int64_t yy = y - (kFillWindow - 1) + u, xx = x - (kFillWindow - 1) + v;
            const bool inside = yy >= 0 && xx >= 0 && !(yy == y && xx == x);
            *taps++ = inside ? img[ch * plane + yy * args.width + xx] : 0.0f;
          }
        }
      }
    }
    gemm_bias_act(ws.taps.data(), kFillTaps, args.w_in_t, ld, args.b_in, ws.base.data(), ld, rows, kFillTaps, ld, false,
                  0.0f);

    for (int64_t ch = 0; ch < kFillChannels; ++ch) {
      if (ch > 0) {
        // the centre tap of the channel just written joins the window
        const float* centre = args.w_in_t + ((ch - 1) * kFillWindow * kFillWindow + kFillCentreTap) * ld;
        for (int64_t r = 0; r < rows; ++r) {
          float* base = ws.base.data() + r * ld;
          const VecF value(ws.written[r]);
          for (int64_t n = 0; n < ld; n += kLanes) {
            at::vec::fmadd(value, VecF::loadu(centre + n), VecF::loadu(base + n)).store(base + n);
          }
        }
      }
      const int64_t needed = (ch + 1) * group;       // units of colour groups <= ch
      const int64_t padded = round_up_lanes(needed);  // <= ld
      for (int64_t r = 0; r < rows; ++r) {
        const float* base = ws.base.data() + r * ld;
        float* h = ws.hidden_a.data() + r * ld;
        for (int64_t n = 0; n < padded; n += kLanes) {
          leaky_relu(VecF::loadu(base + n), vslope).store(h + n);
        }
      }
      float* current = ws.hidden_a.data();
      float* next = ws.hidden_b.data();
      for (int64_t l = 0; l < args.depth; ++l) {
        gemm_bias_act(current, ld, args.w_hidden_t[l], ld, args.b_hidden[l], next, ld, rows, needed, padded, true,
                      args.slope);
        std::swap(current, next);
      }
      gemm_bias_act(current, ld, args.w_out_t + ch * args.units * kFillClasses, kFillClasses,
                    args.b_out + ch * kFillClasses, ws.logits.data(), kFillClasses, rows, needed, kFillClasses, false,
                    0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        const float uniform = args.mode == kFillSample
                                  ? fill_uniform(args.seed, ws.image[r], ws.pixel[r], static_cast<int>(ch))
                                  : 0.0f;
        const float value = decode(ws.logits.data() + r * kFillClasses, args.mode, args.temperature, uniform,
                                   ws.weights.data());
        args.out[(ws.image[r] * kFillChannels + ch) * plane + ws.pixel[r]] = value;
        ws.written[r] = value;
      }
    }
  }
}

void pixelcnn_fill(const FillArgs& args) {
  at::parallel_for(0, args.batch, 1, [&](int64_t first, int64_t last) {
    FillWorkspace ws;
    for (int64_t start = first; start < last; start += kFillSubBatch) {
      fill_images(args, start, std::min(last, start + kFillSubBatch), ws);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Dropout fused with leaky ReLU, and the 256-way softmax cross-entropy (the density models' fast paths)
// ---------------------------------------------------------------------------------------------------

// Elements per block of the dropout loops: the draws of a block are generated first (a loop the compiler
// vectorises), then used; blocks start at even elements, so a block's words are whole.
constexpr int64_t kDropoutBlock = 2048;

inline float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint16_t float_to_bf16(float f) {  // round to nearest even, NaN kept quiet (as c10::BFloat16)
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? 0x7fc0u : rounded);
}

// keep[k] = 1 or 0 for elements first .. first + count - 1 (first even): the words' low half, then high half.
inline void dropout_keep(uint64_t key, uint32_t dropped, int64_t first, int64_t count, float* keep) {
  const uint64_t w0 = static_cast<uint64_t>(first) >> 1;
  const int64_t nwords = (count + 1) / 2;
  for (int64_t k = 0; k < nwords; ++k) {
    const uint32_t word = dropout_word(key, w0 + static_cast<uint64_t>(k));
    keep[2 * k] = (word & 0xffffu) >= dropped ? 1.0f : 0.0f;
    keep[2 * k + 1] = (word >> 16) >= dropped ? 1.0f : 0.0f;
  }
}

// body(start, count, keep): keep is nullptr when nothing is dropped.
template <typename Body>
void dropout_blocks(int64_t n, uint64_t key, uint32_t dropped, const Body& body) {
  const int64_t blocks = (n + kDropoutBlock - 1) / kDropoutBlock;
  at::parallel_for(0, blocks, 16, [&](int64_t first, int64_t last) {
    alignas(64) float keep[kDropoutBlock];
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t start = blk * kDropoutBlock;
      const int64_t count = std::min(kDropoutBlock, n - start);
      if (dropped > 0) {
        dropout_keep(key, dropped, start, count, keep);
      }
      body(start, count, dropped > 0 ? keep : nullptr);
    }
  });
}

void leaky_dropout_f32(float* x, int64_t n, uint64_t key, uint32_t dropped, float slope) {
  dropout_blocks(n, key, dropped, [x, slope](int64_t start, int64_t count, const float* keep) {
    float* __restrict v = x + start;
    const VecF vslope(slope);
    int64_t k = 0;
    for (; k + kLanes <= count; k += kLanes) {
      VecF a = leaky_relu(VecF::loadu(v + k), vslope);
      if (keep != nullptr) {
        a = a * VecF::loadu(keep + k);
      }
      a.store(v + k);
    }
    for (; k < count; ++k) {
      const float a = v[k] > 0.0f ? v[k] : v[k] * slope;
      v[k] = keep != nullptr ? a * keep[k] : a;
    }
  });
}

void leaky_dropout_backward_f32(const float* grad, const float* y, float* out, int64_t n, uint64_t key,
                                uint32_t dropped, float slope) {
  dropout_blocks(n, key, dropped, [grad, y, out, slope](int64_t start, int64_t count, const float* keep) {
    const float* __restrict g = grad + start;
    const float* __restrict r = y + start;
    float* __restrict o = out + start;
    const VecF vslope(slope), zero(0.0f);
    int64_t k = 0;
    for (; k + kLanes <= count; k += kLanes) {
      const VecF gv = VecF::loadu(g + k);
      VecF d = VecF::blendv(gv * vslope, gv, VecF::loadu(r + k) > zero);
      if (keep != nullptr) {
        d = d * VecF::loadu(keep + k);
      }
      d.store(o + k);
    }
    for (; k < count; ++k) {
      const float d = r[k] > 0.0f ? g[k] : g[k] * slope;
      o[k] = keep != nullptr ? d * keep[k] : d;
    }
  });
}

// bf16 vectors: 2 * kLanes elements, widened to two float vectors and rounded back to nearest even.
using VecBF = Vectorized<c10::BFloat16>;
constexpr int64_t kBfLanes = VecBF::size();

inline void load_bf16(const uint16_t* p, VecF& lo, VecF& hi) {
  std::tie(lo, hi) = at::vec::convert_to_float<c10::BFloat16>(VecBF::loadu(p));
}

inline void store_bf16(uint16_t* p, const VecF& lo, const VecF& hi) {
  at::vec::convert_from_float<c10::BFloat16>(lo, hi).store(p);
}

void leaky_dropout_bf16(uint16_t* x, int64_t n, uint64_t key, uint32_t dropped, float slope) {
  dropout_blocks(n, key, dropped, [x, slope](int64_t start, int64_t count, const float* keep) {
    uint16_t* __restrict v = x + start;
    const VecF vslope(slope);
    int64_t k = 0;
    for (; k + kBfLanes <= count; k += kBfLanes) {
      VecF lo, hi;
      load_bf16(v + k, lo, hi);
      lo = leaky_relu(lo, vslope);
      hi = leaky_relu(hi, vslope);
      if (keep != nullptr) {
        lo = lo * VecF::loadu(keep + k);
        hi = hi * VecF::loadu(keep + k + kLanes);
      }
      store_bf16(v + k, lo, hi);
    }
    for (; k < count; ++k) {
      const float f = bf16_to_float(v[k]);
      const float a = f > 0.0f ? f : f * slope;
      v[k] = float_to_bf16(keep != nullptr ? a * keep[k] : a);
    }
  });
}

void leaky_dropout_backward_bf16(const uint16_t* grad, const uint16_t* y, uint16_t* out, int64_t n, uint64_t key,
                                 uint32_t dropped, float slope) {
  dropout_blocks(n, key, dropped, [grad, y, out, slope](int64_t start, int64_t count, const float* keep) {
    const uint16_t* __restrict g = grad + start;
    const uint16_t* __restrict r = y + start;
    uint16_t* __restrict o = out + start;
    const VecF vslope(slope), zero(0.0f);
    int64_t k = 0;
    for (; k + kBfLanes <= count; k += kBfLanes) {
      VecF g_lo, g_hi, r_lo, r_hi;
      load_bf16(g + k, g_lo, g_hi);
      load_bf16(r + k, r_lo, r_hi);
      VecF d_lo = VecF::blendv(g_lo * vslope, g_lo, r_lo > zero);
      VecF d_hi = VecF::blendv(g_hi * vslope, g_hi, r_hi > zero);
      if (keep != nullptr) {
        d_lo = d_lo * VecF::loadu(keep + k);
        d_hi = d_hi * VecF::loadu(keep + k + kLanes);
      }
      store_bf16(o + k, d_lo, d_hi);
    }
    for (; k < count; ++k) {
      const float gf = bf16_to_float(g[k]);
      const float d = bf16_to_float(r[k]) > 0.0f ? gf : gf * slope;
      o[k] = float_to_bf16(keep != nullptr ? d * keep[k] : d);
    }
  });
}

// One row: max, e = exp(z - max) in place and its sum, loss, then (grad) e / sum - onehot.
void softmax_xent_row(float* z, int64_t target, float* loss, int64_t levels, bool grad) {
  const float picked = z[target];
  const int64_t full = levels / kLanes * kLanes;
  VecF vmax(-std::numeric_limits<float>::infinity());
  for (int64_t k = 0; k < full; k += kLanes) {
    vmax = at::vec::maximum(vmax, VecF::loadu(z + k));
  }
  float top = horizontal_max(vmax);
  for (int64_t k = full; k < levels; ++k) {
    top = std::max(top, z[k]);
  }
  const VecF vtop(top);
  VecF vsum(0.0f);
  for (int64_t k = 0; k < full; k += kLanes) {
    const ExpParts e = exp_parts(at::vec::clamp_min(VecF::loadu(z + k) - vtop, VecF(-87.0f)));
    const VecF ev = at::vec::fmadd(e.scale, e.rq, e.scale);
    ev.store(z + k);
    vsum = vsum + ev;
  }
  float total = horizontal_sum(vsum);
  for (int64_t k = full; k < levels; ++k) {
    z[k] = std::exp(z[k] - top);
    total += z[k];
  }
  *loss = top + std::log(total) - picked;
  if (!grad) {
    return;
  }
  const float inv = 1.0f / total;
  const VecF vinv(inv);
  for (int64_t k = 0; k < full; k += kLanes) {
    (VecF::loadu(z + k) * vinv).store(z + k);
  }
  for (int64_t k = full; k < levels; ++k) {
    z[k] *= inv;
  }
  z[target] -= 1.0f;
}

void softmax_xent_f32(float* z, const int64_t* targets, float* losses, int64_t rows, int64_t levels, bool grad) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, levels)), [&](int64_t first,
                                                                                          int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      softmax_xent_row(z + r * levels, targets[r], losses + r, levels, grad);
    }
  });
}

// Each row widened into a float buffer, computed as above, its gradient rounded back into the bf16 row.
void softmax_xent_bf16(uint16_t* z, const int64_t* targets, float* losses, int64_t rows, int64_t levels, bool grad) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, levels)), [&](int64_t first,
                                                                                          int64_t last) {
    std::vector<float> buffer(static_cast<size_t>(levels));
    float* f = buffer.data();
    for (int64_t r = first; r < last; ++r) {
      uint16_t* row = z + r * levels;
      int64_t k = 0;
      for (; k + kBfLanes <= levels; k += kBfLanes) {
        VecF lo, hi;
        load_bf16(row + k, lo, hi);
        lo.store(f + k);
        hi.store(f + k + kLanes);
      }
      for (; k < levels; ++k) {
        f[k] = bf16_to_float(row[k]);
      }
      softmax_xent_row(f, targets[r], losses + r, levels, grad);
      if (!grad) {
        continue;
      }
      for (k = 0; k + kBfLanes <= levels; k += kBfLanes) {
        store_bf16(row + k, VecF::loadu(f + k), VecF::loadu(f + k + kLanes));
      }
      for (; k < levels; ++k) {
        row[k] = float_to_bf16(f[k]);
      }
    }
  });
}

}  // namespace

const CpuKernels* table() {
  static const CpuKernels kTable{INPAINTZOO_ISA_NAME,
                                 &lstm_forward<float>,
                                 &lstm_forward<double>,
                                 &lstm_backward<float, false>,
                                 &lstm_backward<double, false>,
                                 &lstm_backward<float, true>,
                                 &lstm_backward<double, true>,
                                 &pixelcnn_fill,
                                 &leaky_dropout_f32,
                                 &leaky_dropout_bf16,
                                 &leaky_dropout_backward_f32,
                                 &leaky_dropout_backward_bf16,
                                 &softmax_xent_f32,
                                 &softmax_xent_bf16};
  return &kTable;
}

}  // namespace inpaintzoo::INPAINTZOO_ISA
