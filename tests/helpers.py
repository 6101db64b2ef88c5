"""Small helpers several test files share (imported as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest
import torch

from inpaintzoo.cli import main

#: CI provides every dependency a test needs (.ci/setup: the extension, chromium, the packages; the runner: CIFAR-10)
IN_CI = os.environ.get("CI") == "true"

#: the smallest context encoder the builtins make
TINY_CE = ["encoder=cnn", "encoder.width=8", "encoder.bottleneck=16", "decoder.width=8"]
#: ... on the embedded sample photos
TINY_MODEL = ["data=samples", *TINY_CE]
#: the smallest density model (a PixelCNN)
TINY_DENSITY = ["density=pixelcnn", "density.width=12", "density.depth=1"]
#: a tiny context-encoder run: one epoch of three steps
TINY_RUN = [*TINY_MODEL, "train.epochs=1", "train.limit=96", "train.batch_size=32", "train.val_fraction=0.25"]
#: a tiny density run on 16x16 crops of the sample photos with a 4x4 centre hole: one epoch of two steps
TINY_DENSITY_RUN = [
    "data=samples",
    "data.image_size=16",
    "mask.size=4",
    *TINY_DENSITY,
    "train.epochs=1",
    "train.limit=64",
    "train.batch_size=32",
    "train.val_fraction=0.25",
]
#: the smallest runs of the other kinds of training: adversarial (a WGAN) and density (a PixelCNN)
TINY_JOBS = {
    "wgan": [
        "encoder=strided",
        "encoder.width=8",
        "encoder.bottleneck=16",
        "decoder.width=8",
        "disc=dcgan",
        "disc.width=8",
        "loss=wgan",
        "loss.n_critic=2",
    ],
    "pixelcnn": [*TINY_DENSITY],
}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `inpaintzoo ARGS...` in this process: (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def missing(reason: str) -> NoReturn:
    """Something a test needs is absent: skip it, except under CI=true, where that is a failure saying what."""
    if IN_CI:
        pytest.fail(f"missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def needs(available: bool, reason: str) -> pytest.MarkDecorator:
    """A mark: the test runs where `available`; elsewhere tests/conftest.py calls `missing(reason)` at its setup."""
    return pytest.mark.needs(available=available, reason=reason)


def import_or_missing(name: str, reason: str) -> ModuleType:
    """`pytest.importorskip`, failing under CI=true."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(reason)


def assert_same(a: object, b: object, where: str) -> None:
    """Two checkpoint values equal bit for bit: tensors by `torch.equal`, containers item by item."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
