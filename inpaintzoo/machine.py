"""What machine a measurement ran on: the processor, its vector and matrix units, the threads and the load.

Speed figures differ by processor (an AMD EPYC with AVX-512 and AVX512-BF16 but no AMX, an Intel Xeon with
AMX): `inpaintzoo info` prints this and every benchmark JSON records it beside its numbers.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

#: where the processor is described (Linux); tests point it at a file of their own
CPUINFO = Path("/proc/cpuinfo")
#: /proc/cpuinfo flags reported, under the names the docs use
FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16"}


def read_cpuinfo(path: Path | None = None) -> tuple[str, set[str]]:
    """(model name, flags) of the first processor in `path` (CPUINFO); ("", set()) where there is none (not Linux)."""
    path = CPUINFO if path is None else path
    model, flags = "", set()
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
            if model and flags:
                break
    return model, flags


def describe_machine(cpuinfo: Path | None = None) -> dict[str, Any]:
    """The processor (model name, whether it has each of FLAGS), its cores, torch's threads and ISA, and the load.

    `load_average` is the 1, 5 and 15-minute load (None where the OS has none): a figure measured at a load
    above the number of cores shared the processor with something else.
    """
    import torch

    model, flags = read_cpuinfo(cpuinfo)
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # no load average here (AttributeError: Windows has no os.getloadavg)
        load = None
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        **{key: key in flags for key in FLAGS},
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average": load,
    }


def machine_summary(machine: dict[str, Any]) -> str:
    """One line: 'AMD EPYC, 2 cores: AVX-512, AVX512-BF16, no AMX-BF16; torch 2 threads (AVX512); load 1.0 ...'."""
    has = [label for key, label in FLAGS.items() if machine.get(key)]
    lacks = [label for key, label in FLAGS.items() if not machine.get(key)]
    units = ", ".join(has + [f"no {label}" for label in lacks])
    load = machine["load_average"]
    load_text = " ".join(f"{x:.2f}" for x in load) if load is not None else "unknown"
    return (
        f"{machine['cpu']}, {machine['cores']} cores: {units}; torch {machine['torch_threads']} threads "
        f"({machine['torch_cpu_capability']}); load {load_text}"
    )
