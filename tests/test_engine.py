"""Checkpoints, moving averages and exact resume of the training engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_MODEL, assert_same
from torch import nn

from inpaintzoo.data.augment import FlipShift, arrange_batch, random_hflip, random_shift
from inpaintzoo.engine.checkpoint import load_checkpoint, load_module_state, save_checkpoint
from inpaintzoo.engine.ema import EMA, recalibrate_batch_norm
from inpaintzoo.engine.optim import adam, cooldown_factor, scaled_lr
from inpaintzoo.engine.trainer import train
from inpaintzoo.errors import RunDirError, UsageError

TINY = [
    *TINY_MODEL,
    "train.limit=96",
    "train.batch_size=16",
    "train.val_fraction=0.25",
    "train.grid_every=0",
]


def test_checkpoint_roundtrip_is_atomic_and_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.arange(3.0), "epoch": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    state = load_checkpoint(path)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.arange(3.0))

    class Evil:
        def __reduce__(self):  # would run code if unpickled without weights_only
            return (print, ("pwned",))

    torch.save({"format_version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(RunDirError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(RunDirError, match="format version 99"):
        load_checkpoint(tmp_path / "future.pt")


def test_architecture_mismatch_is_named() -> None:
    with pytest.raises(RunDirError, match=r"'weight' is \(3, 2\) in the file, \(2, 2\) here"):
        load_module_state(nn.Linear(2, 2), {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, "model")
    with pytest.raises(RunDirError, match="missing 'bias'"):
        load_module_state(nn.Linear(2, 2), {"weight": torch.zeros(2, 2)}, "model")


def test_ema_trails_the_model() -> None:
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # warm-up decay min(0.9, 1/10) = 0.1
    assert ema.shadow.weight.item() == pytest.approx(0.9)
    ema.updates = 100  # past the warm-up: the decay is 0.9
    ema.update(model)
    assert ema.shadow.weight.item() == pytest.approx(0.9 + 0.1 * 0.1)
    assert not ema.shadow.weight.requires_grad
    restored = EMA(model, decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 101 and restored.shadow.weight.item() == pytest.approx(0.91)


def test_recalibrated_batch_norm_measures_the_models_own_statistics() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model[2].running_mean.fill_(7.0)  # statistics of "other weights", as the EMA copies them
    batches = [torch.randn(8, 3) * (n + 1) for n in range(3)]
    calls = iter(batches)
    rng = torch.get_rng_state()
    assert recalibrate_batch_norm(model, lambda m: m(next(calls)), 3)
    assert torch.equal(torch.get_rng_state(), rng)  # dropout stayed off: no global random draw
    with torch.no_grad():
        outs = [model[0](b) for b in batches]
    expected_mean = torch.stack([o.mean(0) for o in outs]).mean(0)
    expected_var = torch.stack([o.var(0) for o in outs]).mean(0)  # unbiased, as batch norm keeps it
    assert torch.allclose(model[2].running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(model[2].running_var, expected_var, atol=1e-5)
    assert model[2].momentum == 0.1 and model.training  # the mode it had before
    assert not recalibrate_batch_norm(nn.Linear(2, 2), lambda m: None, 3)  # nothing to measure


def test_exported_average_carries_its_own_batch_norm_statistics(tmp_path: Path) -> None:
    run = train([*TINY, "train.epochs=1", f"train.out={tmp_path}", "train.name=bn"])
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    key = next(k for k in state["ema_weights"] if k.endswith("running_mean"))
    assert not torch.equal(state["ema_weights"][key], state["model"][key])  # measured, not copied
    copied = train([*TINY, "train.epochs=1", "train.bn_batches=0", f"train.out={tmp_path}", "train.name=copy"])
    state = load_checkpoint(copied / "checkpoints" / "last.pt")
    assert torch.equal(state["ema_weights"][key], state["model"][key])


def test_random_shift_moves_each_image_by_its_own_offset() -> None:
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    g = torch.Generator().manual_seed(0)
    shifted = random_shift(images, 2, g)
    dy, dx = torch.randint(0, 5, (2, 2), generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    for b in range(2):
        assert torch.equal(shifted[b], padded[b, :, dy[b] : dy[b] + 6, dx[b] : dx[b] + 6])
    assert torch.equal(random_shift(images, 0, g), images)


def random_flip_shift(images: torch.Tensor, flip: bool, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """The engine's moves (`FlipShift` maps, one gather) on a float batch."""
    moves = FlipShift(images.shape[-2], images.shape[-1], flip, pixels)
    return arrange_batch(images, moves.draw(len(images), generator))


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("pixels", [0, 1, 3])
def test_flip_and_shift_in_one_gather_equal_the_two_steps(flip: bool, pixels: int) -> None:
    images = torch.rand(16, 3, 9, 7)
    fused = random_flip_shift(images, flip, pixels, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    expected = random_hflip(images, g) if flip else images
    expected = random_shift(expected, pixels, g) if pixels else expected
    assert torch.equal(fused, expected)
    if flip and pixels:  # some images of the batch are mirrored, some not
        plain = random_shift(images, pixels, torch.Generator().manual_seed(4))
        assert not torch.equal(fused, plain)


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_batch_gathered_from_uint8_with_its_moves_equals_the_float_path(channels_last: bool) -> None:
    stored = torch.randint(0, 256, (40, 3, 9, 7), dtype=torch.uint8)
    rows = torch.tensor([5, 0, 39, 5, 17, 2])
    moves = FlipShift(9, 7, flip=True, pixels=2)
    fetched = arrange_batch(stored[rows], moves.draw(len(rows), torch.Generator().manual_seed(8)), channels_last)
    expected = random_flip_shift(stored[rows].float(), True, 2, torch.Generator().manual_seed(8))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert fetched.dtype == torch.uint8 and fetched.is_contiguous(memory_format=layout)
    assert torch.equal(fetched.float(), expected)
    assert torch.equal(arrange_batch(stored[rows], None), stored[rows])
    assert FlipShift(9, 7, flip=False, pixels=0).draw(6, torch.Generator()) is None


def test_the_engines_fetch_augments_as_the_float_path_did(tmp_path: Path) -> None:
    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.trainer import Trainer

    config = resolve_config([*TINY, "train.hflip=true", "train.shift=2", "train.channels_last=true",
                             f"train.out={tmp_path}"])
    trainer = Trainer(config, progress=False)
    rows = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    batch = trainer.fetch(rows)
    g = torch.Generator().manual_seed(2)  # the augmentation stream of a seed-0 run: seed * 7919 + 2
    expected = random_flip_shift(trainer.train_images[rows].float() / 255, True, 2, g)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch, expected.contiguous(memory_format=torch.channels_last))


def test_engine_adam_is_fused_and_steps_as_the_for_loop_adam() -> None:
    torch.manual_seed(0)
    live = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    twin = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    twin.load_state_dict(live.state_dict())
    fused = adam(live.parameters(), lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3)
    loop = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3, foreach=False)
    assert fused.defaults["fused"] is True
    x = torch.rand(4, 3, 12, 12)
    for _ in range(5):
        for model, opt in ((live, fused), (twin, loop)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(live.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    int_param = nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)
    assert adam([int_param], lr=1e-3).defaults["fused"] is None  # no fused kernel for it: torch's default


def test_augmented_training_runs_and_bad_shift_is_refused(tmp_path: Path) -> None:
    run = train([*TINY, "train.epochs=1", "train.hflip=true", "train.shift=3", f"train.out={tmp_path}"])
    assert (run / "checkpoints" / "last.pt").is_file()
    with pytest.raises(UsageError, match="train.shift=16 reflects more than half"):
        train([*TINY, "train.epochs=1", "train.shift=16", f"train.out={tmp_path}"])


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = train([*TINY, "train.epochs=2", f"train.out={tmp_path}", "train.name=whole"])
    part = train([*TINY, "train.epochs=2", "train.max_steps=7", f"train.out={tmp_path}", "train.name=part"])
    state = load_checkpoint(part / "checkpoints" / "last.pt")
    assert state["step"] == 7 and state["epoch"] == 1 and state["position"] == 3  # 4 steps an epoch
    train(["train.max_steps=0"], resume=part)
    # the whole last checkpoint, bit for bit: raw and averaged weights, optimiser, random states, best, stale, ...
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (whole, part))
    assert a["ema_weights"] is not None
    assert_same({k: v for k, v in a.items() if k != "config"}, {k: v for k, v in b.items() if k != "config"}, "last")


def test_resume_needs_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a run directory"):
        train([], resume=tmp_path)


def test_cooldown_factor_falls_linearly_to_zero_at_the_last_step() -> None:
    assert [cooldown_factor(s, 8, 4) for s in range(9)] == [1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0]
    assert cooldown_factor(5, 8, 0) == 1.0  # off


def test_scaled_lr_restores_the_scheduled_rate_even_when_the_step_fails() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.2)
    with scaled_lr([opt], 0.25):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert opt.param_groups[0]["lr"] == 0.2
    with pytest.raises(RuntimeError), scaled_lr([opt], 0.5):
        raise RuntimeError("a diverged step")
    assert opt.param_groups[0]["lr"] == 0.2


def test_training_cools_down_over_its_last_steps(tmp_path: Path) -> None:
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    rates: list[float] = []
    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: rates.append(opt.param_groups[0]["lr"]))
    try:
        run = train([*TINY, "train.epochs=2", "train.max_steps=8", "train.cooldown_steps=4", "train.lr=1e-3",
                     "train.lr_decay=1", f"train.out={tmp_path}"])
    finally:
        handle.remove()
    assert rates == pytest.approx([1e-3] * 5 + [0.75e-3, 0.5e-3, 0.25e-3])
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["optimizers"]["generator"]["param_groups"][0]["lr"] == pytest.approx(1e-3)  # scheduled, unscaled
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # the log shows the rate the next step would take: 1e-3 after step 4, 0 at the end
    assert [r["lr"] for r in records if r["kind"] == "epoch"] == pytest.approx([1e-3, 0.0])


def test_a_cooldown_interrupted_by_the_clock_resumes_exactly(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import types

    import inpaintzoo.engine.trainer as trainer_module

    cooled = [*TINY, "train.epochs=2", "train.max_steps=8", "train.cooldown_steps=6", f"train.out={tmp_path}"]
    whole = train([*cooled, "train.name=whole"])
    ticks = iter(range(10**6))  # a clock that moves a second per reading: the budget runs out mid-run
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)), strftime=time.strftime)
    monkeypatch.setattr(trainer_module, "time", clock)
    part = train([*cooled, "train.max_minutes=0.2", "train.name=part"])
    stopped = load_checkpoint(part / "checkpoints" / "last.pt")["step"]
    assert 2 < stopped < 8  # inside the cooldown
    train(["train.max_minutes=0"], resume=part)
    a, b = final_weights(whole), final_weights(part)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.cooldown_steps=4"], "needs train.max_steps"),
        (["train.cooldown_steps=9", "train.max_steps=8"], "more than train.max_steps=8"),
    ],
)
def test_a_cooldown_without_its_end_is_refused(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        train([*TINY, *overrides, f"train.out={tmp_path}"])
    assert not any(tmp_path.iterdir())  # refused before any run directory
