"""Fixtures shared by the whole suite. Keep each one small, fast and deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import TINY_DENSITY_RUN, TINY_RUN, missing

# The suite runs as two pytest-xdist workers on a 2-core machine: one thread each avoids
# oversubscription, which slows the many tiny sequential ops of the density models tenfold.
torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(available, reason): helpers.needs: skip where absent, fail under CI")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        if not mark.kwargs["available"]:
            missing(mark.kwargs["reason"])


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """The real CIFAR-10 batches folder ($INPAINTZOO_DATA or ../shared/data/...); skips where absent
    (fails under CI=true)."""
    from inpaintzoo.data.cifar10 import find_cifar10_root

    root = find_cifar10_root()
    if root is None or not (root / "test_batch").is_file():
        missing("CIFAR-10 batches not found: set INPAINTZOO_DATA or put cifar-10-batches-py in ../shared/data")
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny context-encoder run (helpers.TINY_RUN), trained once per session (per xdist worker) and shared:
    tests only read it, copy it, or write their outputs outside it."""
    from inpaintzoo.engine.trainer import train

    return train([*TINY_RUN, f"train.out={tmp_path_factory.mktemp('runs')}", "train.name=shared"])


@pytest.fixture(scope="session")
def tiny_density_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny density run (helpers.TINY_DENSITY_RUN: a PixelCNN on 16x16 images, 4x4 hole), trained once per
    session and shared: tests that evaluate it write their outputs into it under names of their own."""
    from inpaintzoo.engine.trainer import train

    out = tmp_path_factory.mktemp("runs")
    return train([*TINY_DENSITY_RUN, "train.grid_every=0", f"train.out={out}", "train.name=density"])


@pytest.fixture
def tiny_images() -> torch.Tensor:
    """Four 16x16 RGB images in [0, 1], the same on every run: smooth gradients with a little seeded noise."""
    generator = torch.Generator().manual_seed(1234)
    ramp = torch.linspace(0, 1, 16)
    base = torch.stack(
        [
            ramp[None, :].expand(16, 16),  # red grows to the right
            ramp[:, None].expand(16, 16),  # green grows downwards
            (ramp[None, :] + ramp[:, None]).div(2),  # blue along the diagonal
        ]
    )
    shifts = torch.tensor([0.0, 0.1, -0.1, 0.2])[:, None, None, None]
    noise = torch.rand(4, 3, 16, 16, generator=generator) * 0.1
    return (base[None] * 0.8 + shifts + noise).clamp(0, 1)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """For modules of density models, which run thousands of tiny ops: on a shared CPU more threads only add
    contention. Used with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
