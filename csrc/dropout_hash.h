// The counter-based dropout draws of inpaintzoo::leaky_dropout_: element i of a launch gets a 16-bit number
// that depends only on (key, i), so the backward recomputes the mask instead of storing it, and the result
// is the same on any thread count. inpaintzoo/zoo/density/fast.py computes the same numbers in PyTorch.
#pragma once

#include <cstdint>

namespace inpaintzoo {

// "lowbias32" (C. Wellons): a bijective 32-bit mix with good avalanche, cheap in vector registers.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// 32 random bits for word w (elements 2w: low half, 2w + 1: high half) under the 64-bit key.
inline uint32_t dropout_word(uint64_t key, uint64_t w) {
  return mix32(mix32(static_cast<uint32_t>(w) ^ static_cast<uint32_t>(key)) + static_cast<uint32_t>(key >> 32));
}

}  // namespace inpaintzoo
