// The CPU kernels for any CPU: Vectorized<T> falls back to plain arrays the compiler vectorises as it can.
#define INPAINTZOO_ISA generic
#define INPAINTZOO_ISA_NAME "generic"
#include "cpu_kernels_impl.h"

const inpaintzoo::CpuKernels* inpaintzoo::cpu_kernels_generic() { return generic::table(); }
