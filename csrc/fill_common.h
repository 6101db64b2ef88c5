// What the CPU and CUDA PixelCNN fill kernels share: constants, the decoding modes and the counter-based
// random numbers of the sample mode. The random draw of a sub-pixel depends only on (seed, image, pixel,
// channel), never on threads or scheduling, so a seed gives the same fill on every thread count and the
// CPU and CUDA kernels draw the same uniforms.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define INPAINTZOO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define INPAINTZOO_HOST_DEVICE inline
#endif

namespace inpaintzoo {

constexpr int kFillChannels = 3;    // R, G, B filled in this order inside a pixel
constexpr int kFillClasses = 256;   // 8-bit intensity levels per channel
constexpr int kFillWindow = 5;      // first layer: 5x5 window whose bottom-right tap is the pixel itself
constexpr int kFillTaps = kFillChannels * kFillWindow * kFillWindow;  // 75 first-layer inputs
constexpr int kFillCentreTap = kFillWindow * kFillWindow - 1;         // tap (4, 4) inside one channel

enum FillMode : int64_t { kFillGreedy = 0, kFillMean = 1, kFillSample = 2 };

// splitmix64 finaliser: a bijective 64-bit mix with good avalanche.
INPAINTZOO_HOST_DEVICE uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits for the draw of (image, pixel, channel) under `seed`.
INPAINTZOO_HOST_DEVICE float fill_uniform(uint64_t seed, int64_t image, int64_t pixel, int channel) {
  uint64_t key = mix64(seed);
  key = mix64(key ^ static_cast<uint64_t>(image));
  key = mix64(key ^ (static_cast<uint64_t>(pixel) * kFillChannels + static_cast<uint64_t>(channel)));
  return static_cast<float>(key >> 40) * (1.0f / 16777216.0f);
}

}  // namespace inpaintzoo
