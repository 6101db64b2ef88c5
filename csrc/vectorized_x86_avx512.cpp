// The CPU kernels for AVX-512 (F, BW, VL, DQ), used only where the CPU reports them (cpu_dispatch.cpp).
//
// Compiled for AVX-512 through the target pragma; see vectorized_x86_avx2.cpp for why.
#include "cpu_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// Unused BFloat16 helpers in the vec headers pass vectors through lambdas' static thunks; GCC notes an ABI
// detail there that does not concern this code.
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
// sleef.h declares its vector functions only under the compiler's ISA macros, which the pragma does not set:
// set them for that one header (it has an include guard), then drop them again.
#include <immintrin.h>
#define __AVX__ 1
#define __AVX2__ 1
#define __AVX512F__ 1
#include <sleef.h>
#undef __AVX__
#undef __AVX2__
#undef __AVX512F__
#define CPU_CAPABILITY AVX512
#define CPU_CAPABILITY_AVX512
#define INPAINTZOO_ISA avx512
#define INPAINTZOO_ISA_NAME "avx512"
#include "cpu_kernels_impl.h"

const inpaintzoo::CpuKernels* inpaintzoo::cpu_kernels_avx512() { return avx512::table(); }
#else
const inpaintzoo::CpuKernels* inpaintzoo::cpu_kernels_avx512() { return nullptr; }
#endif
