"""Builds the optional C++/CUDA extension `inpaintzoo._C`; all metadata lives in pyproject.toml.

The CPU kernels are compiled with every install that can (a C++ compiler and torch present); the
CUDA sources are added when torch was built with CUDA and `nvcc` is found. Where nothing can be
compiled the package still installs and runs on its pure-PyTorch implementation.
Set INPAINTZOO_NO_EXTENSION=1 to skip the build.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

from setuptools import setup


def extensions():
    if os.environ.get("INPAINTZOO_NO_EXTENSION") == "1":
        return [], {}
    sources = sorted(glob.glob("csrc/*.cpp"))
    if not sources:
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        return [], {}
    cxx = ["-O3"]  # no -std: torch's BuildExtension adds the standard its headers need (C++20 since 2.10)
    link = []
    # at::parallel_for is an OpenMP pragma in torch's headers: without -fopenmp the kernels run on one thread.
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    if sys.platform.startswith("linux"):
        # find torch's libraries (libc10, libtorch, its libgomp) even when inpaintzoo._C is imported before torch:
        # beside an installed torch, and where this build found it (editable installs)
        torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
        link += ["-Wl,-rpath,$ORIGIN/../torch/lib", f"-Wl,-rpath,{torch_lib}"]
    cuda_sources = sorted(glob.glob("csrc/*.cu"))
    use_cuda = bool(cuda_sources) and torch.version.cuda is not None and shutil.which("nvcc") is not None
    if os.environ.get("INPAINTZOO_NO_CUDA") == "1":
        use_cuda = False
    if use_cuda:
        ext = CUDAExtension(
            "inpaintzoo._C",
            sources + cuda_sources,
            extra_compile_args={"cxx": cxx + ["-DWITH_CUDA"], "nvcc": ["-O3", "-DWITH_CUDA"]},
            extra_link_args=link,
        )
    else:
        ext = CppExtension("inpaintzoo._C", sources, extra_compile_args={"cxx": cxx}, extra_link_args=link)
    return [ext], {"build_ext": BuildExtension.with_options(use_ninja=shutil.which("ninja") is not None)}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
