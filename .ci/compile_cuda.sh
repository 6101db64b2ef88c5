#!/usr/bin/env bash
# Compile-only check of the CUDA kernels (csrc/*.cu) for sm_80 and sm_90, with torch's headers.
# Needs no GPU; skips with a message where nvcc is absent. Usage: .ci/compile_cuda.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC="${NVCC:-$(command -v nvcc || true)}"
if [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
    NVCC=/usr/local/cuda/bin/nvcc
fi
if [ -z "$NVCC" ]; then
    echo "compile_cuda: nvcc not found (set NVCC=...); skipping the CUDA compile check"
    exit 0
fi
PYTHON="${1:-${PYTHON:-python}}"
mapfile -t INCLUDES < <("$PYTHON" -c "
from torch.utils.cpp_extension import include_paths
import sysconfig
for path in include_paths() + [sysconfig.get_paths()['include']]:
    print('-I' + path)
")
ABI=$("$PYTHON" -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
# the C++ standard torch's own extension builder uses with these headers
STD=$("$PYTHON" -c "
import torch.utils.cpp_extension as ext
print('c++20' if \"'-std=c++20'\" in open(ext.__file__).read() else 'c++17')
")
EXTRA=()
TORCH_INCLUDE="${INCLUDES[0]#-I}"
if [ ! -f "$TORCH_INCLUDE/c10/cuda/impl/cuda_cmake_macros.h" ]; then
    # a CPU-only torch lacks this generated header; c10 has a switch for building without it
    echo "compile_cuda: CPU-only torch headers; compiling with -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE"
    EXTRA+=(-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE)
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

status=0
for source in csrc/*.cu; do
    object="$OUT/$(basename "$source" .cu).o"
    if "$NVCC" -c "$source" -o "$object" -std="$STD" -O3 -DWITH_CUDA -DTORCH_EXTENSION_NAME=_C \
        -D_GLIBCXX_USE_CXX11_ABI="$ABI" \
        -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ \
        -D__CUDA_NO_HALF2_OPERATORS__ --expt-relaxed-constexpr -Xcompiler -fPIC \
        -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
        "${EXTRA[@]}" "${INCLUDES[@]}"; then
        echo "compile_cuda: ok   $source ($("$NVCC" --version | tail -1 | sed 's/^Build //'))"
    else
        echo "compile_cuda: FAIL $source"
        status=1
    fi
done
exit $status
