"""What `inpaintzoo info` reports, as (key, value) rows: versions, the device, the processor and its units, the
kernel backend, the plugins (and those that failed or collide), so a bug report or benchmark says where it ran."""

from __future__ import annotations

import os
import platform

import numpy
import torch

import inpaintzoo
from inpaintzoo.engine import precision
from inpaintzoo.machine import FLAGS, describe_machine
from inpaintzoo.ops.backend import BACKEND_ENV, backend_info
from inpaintzoo.registry import Registry

#: the processor units bf16 training runs on, under the names `info` prints
BF16_UNITS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX-512-BF16"}


def info_rows(registry: Registry) -> list[tuple[str, str]]:
    """Every row of `inpaintzoo info`, in order (a key may repeat: one `failed plugin` row per plugin)."""
    machine = describe_machine()
    units = [label if machine[key] else f"no {label}" for key, label in FLAGS.items()]
    load = machine["load_average"]
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    versions = registry.plugin_versions
    plugins = sorted({c.plugin for c in registry.list()})
    rows = [
        ("inpaintzoo", inpaintzoo.__version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("numpy", numpy.__version__),
        ("device", f"cuda: {cuda}; cpu threads: {torch.get_num_threads()}"),
        ("processor", f"{machine['cpu']} ({machine['cores']} cores, {machine['arch']})"),
        ("cpu units", ", ".join(units) + f"; torch kernels {machine['torch_cpu_capability']}"),
        (
            "threads, load",
            f"torch {machine['torch_threads']} threads; load "
            + (" ".join(f"{x:.2f}" for x in load) + " (1, 5, 15 min)" if load is not None else "unknown"),
        ),
        ("cpu bf16", bf16_units()),
        ("kernel backend", f"{kernel_backend()}  [{BACKEND_ENV}={os.environ.get(BACKEND_ENV, 'auto')}]"),
        ("plugins", ", ".join(f"{p} {versions[p]}" if versions.get(p) else p for p in plugins)),
    ]
    rows += [("failed plugin", f"{name}: {why}") for name, why in registry.failures.items()]
    rows += [("collision", message) for message in registry.collisions]
    return rows


def bf16_units() -> str:
    """Which bf16 units the processor has (the tile unit is what makes `train.precision=bf16` fast on a CPU)."""
    features = precision.cpu_features()
    has = [label for key, label in BF16_UNITS.items() if features.get(key)]
    missing = [label for key, label in BF16_UNITS.items() if not features.get(key)]
    return (
        (f"has {', '.join(has)}" if has else "no AMX-BF16 or AVX-512-BF16")
        + (f"; no {', '.join(missing)}" if has and missing else "")
        + (" (train.precision=bf16 runs on the tile unit)" if features.get("amx_bf16") else "")
    )


def kernel_backend() -> str:
    """The kernels in use: the C++ extension (its CPU ISA, OpenMP, CUDA kernels) or the PyTorch fallback and why."""
    info = backend_info()
    if "error" in info:
        return f"unavailable: {info['error']}"
    if info["backend"] == "extension":
        detail = f"C++ extension, CPU kernels {info['cpu_isa']}, OpenMP {'on' if info['openmp'] else 'off'}, "
        return detail + ("CUDA kernels built" if info["cuda_kernels"] else "no CUDA kernels")
    return f"PyTorch fallback ({info['reason']})" if info.get("reason") else "PyTorch"
