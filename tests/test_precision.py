"""Mixed precision and channels-last training: same model, same steps, a loss close to fp32's, exact resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import TINY_DENSITY

import inpaintzoo.engine.trainer as trainer_module
from inpaintzoo.engine.checkpoint import load_checkpoint
from inpaintzoo.engine.precision import autocast, check_precision, cpu_features
from inpaintzoo.engine.trainer import train
from inpaintzoo.errors import UsageError

SMALL = [
    "data=samples",
    "encoder=unet",
    "encoder.width=8",
    "encoder.depth=1",
    "decoder=conv",
    "model.overlap=0",
    "train.limit=96",
    "train.batch_size=16",
    "train.val_fraction=0.25",
    "train.grid_every=0",
    "train.ema=0",
]
DENSITY = ["data=samples", *TINY_DENSITY, *SMALL[6:]]


def step_losses(run: Path, key: str) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if r["kind"] == "step"]


def final_state(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "last.pt")["model"]


@pytest.mark.parametrize("overrides, key", [(SMALL, "loss"), (DENSITY, "bits_per_dim")])
def test_bf16_trains_like_fp32_within_tolerance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], key: str
) -> None:
    monkeypatch.setattr(trainer_module, "LOG_EVERY", 1)  # every step's loss in metrics.jsonl
    runs = {
        p: train([*overrides, "train.max_steps=10", f"train.precision={p}", f"train.out={tmp_path}", f"train.name={p}"])
        for p in ("fp32", "bf16")
    }
    fp32, bf16 = (step_losses(runs[p], key) for p in ("fp32", "bf16"))
    assert len(fp32) == len(bf16) == 10
    assert all(math.isfinite(v) for v in fp32 + bf16)
    # same weights, same batches and masks: bf16 keeps 8 mantissa bits, so each step's loss stays within 3%
    for step, (a, b) in enumerate(zip(fp32, bf16)):
        assert b == pytest.approx(a, rel=0.03), f"step {step + 1}: fp32 {a:.5f}, bf16 {b:.5f}"
    assert fp32[-1] < fp32[0] and bf16[-1] < bf16[0]  # both learn: the comparison is not of two idle runs
    weights = final_state(runs["bf16"])
    assert all(t.dtype == torch.float32 for t in weights.values() if t.is_floating_point())  # master weights fp32


def test_resume_under_bf16_is_bitwise_exact(tmp_path: Path) -> None:
    opts = [*SMALL, "train.precision=bf16", "train.channels_last=true", "train.epochs=2", f"train.out={tmp_path}"]
    whole = train([*opts, "train.name=whole"])
    part = train([*opts, "train.max_steps=7", "train.name=part"])
    train(["train.max_steps=0"], resume=part)
    a, b = final_state(whole), final_state(part)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_channels_last_computes_what_the_default_layout_does() -> None:
    import copy

    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.build import build_mask
    from inpaintzoo.engine.precision import to_channels_last
    from inpaintzoo.families import build_models
    from inpaintzoo.plugins import default_registry

    registry = default_registry()
    config = resolve_config(SMALL, registry)
    torch.manual_seed(0)
    mask_gen = build_mask(config, registry)
    model = build_models(config, registry, mask_gen).model.train()
    nhwc = to_channels_last(copy.deepcopy(model))
    images = torch.rand(4, 3, 32, 32)
    mask = mask_gen(4)
    outs, grads = [], []
    for m, x in ((model, images), (nhwc, images.contiguous(memory_format=torch.channels_last))):
        out = m(x, mask)
        out.square().mean().backward()
        outs.append(out)
        grads.append({n: p.grad for n, p in m.named_parameters()})
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-3, atol=1e-5, msg=name)


def test_fp16_on_a_cpu_is_refused_with_what_to_use() -> None:
    with pytest.raises(UsageError, match="fp16 needs a CUDA device; on a CPU use bf16"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(UsageError, match="not a precision"):
        check_precision("fp8", torch.device("cpu"))


def test_autocast_runs_matmuls_in_bf16_and_fp32_is_untouched() -> None:
    x = torch.randn(4, 8)
    with autocast("cpu", "bf16"):
        assert (x @ x.T).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (x @ x.T).dtype == torch.float32


def test_cpu_features_reports_booleans() -> None:
    features = cpu_features()
    assert set(features) >= {"amx_bf16", "avx512_bf16"} and all(isinstance(v, bool) for v in features.values())
