// The CPU kernels for AVX2 + FMA (x86-64 since 2013), used only where the CPU reports them (cpu_dispatch.cpp).
//
// The target pragma, not a command-line flag, enables the instructions, so that this one file is compiled
// for AVX2 while the rest of the extension stays baseline x86-64. The file name sorts after the baseline
// sources on purpose: the linker keeps the first copy of an inline function, and that one is baseline.
#include "cpu_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// Unused BFloat16 helpers in the vec headers pass vectors through lambdas' static thunks; GCC notes an ABI
// detail there that does not concern this code.
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
// sleef.h declares its vector functions only under the compiler's ISA macros, which the pragma does not set:
// set them for that one header (it has an include guard), then drop them again.
#include <immintrin.h>
#define __AVX__ 1
#define __AVX2__ 1
#include <sleef.h>
#undef __AVX__
#undef __AVX2__
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#define INPAINTZOO_ISA avx2
#define INPAINTZOO_ISA_NAME "avx2"
#include "cpu_kernels_impl.h"

const inpaintzoo::CpuKernels* inpaintzoo::cpu_kernels_avx2() { return avx2::table(); }
#else
const inpaintzoo::CpuKernels* inpaintzoo::cpu_kernels_avx2() { return nullptr; }
#endif
