"""Density models: causality in raster/R->G->B order, fast fill == naive fill, decoding rules, likelihood training."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops import lstm_cell as lstm_cell_module
from inpaintzoo.ops import pixelcnn_fill as pixelcnn_fill_module
from inpaintzoo.ops.backend import extension_op
from inpaintzoo.ops.lstm_cell import lstm_cell, lstm_cell_reference
from inpaintzoo.ops.pixelcnn_fill import decode_subpixel, pixelcnn_fill, pixelcnn_fill_torch
from inpaintzoo.plugins import load_registry
from inpaintzoo.zoo.density.base import Decoder, DensityModel, hole_pixels
from inpaintzoo.zoo.density.masked import causal_kernel_mask, channel_groups
from inpaintzoo.zoo.density.pixelcnn import PixelCNN

#: small but not degenerate versions of every model (8 hidden units per colour group)
SMALL = {
    "pixelcnn": {"width": 24, "depth": 2},
    "gated-pixelcnn": {"width": 24, "layers": 2, "kernel": 3, "first_kernel": 3},
    "row-lstm": {"hidden": 24, "layers": 2},
    "diag-bilstm": {"hidden": 24, "layers": 2},
    "flat-lstm": {"hidden": 24},
}
NAMES = list(SMALL)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def build(registry, name: str, size: int, seed: int = 0, zero_bias: bool = False) -> DensityModel:
    torch.manual_seed(seed)
    model = registry.build("density", name, image_size=size, **SMALL[name])
    if zero_bias:
        for pname, param in model.named_parameters():
            if pname.endswith("bias"):
                nn.init.zeros_(param)
    return model.eval()


def random_images(batch: int, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, size, size), generator=generator).float() / 255


def two_holes(size: int) -> torch.Tensor:
    """Two images with different rectangular holes (the fill must walk their union)."""
    mask = torch.zeros(2, 1, size, size, dtype=torch.bool)
    mask[0, 0, 2:4, 3:6] = True
    mask[1, 0, 3:5, 1:3] = True
    return mask


class Recorder(Decoder):
    """A decoder that keeps every logits batch it decodes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.logits: list[torch.Tensor] = []

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        self.logits.append(logits.clone())
        return super().__call__(logits)


def assert_same_logits(naive: Recorder, fast: Recorder) -> None:
    assert len(fast.logits) == len(naive.logits) > 0
    for a, b in zip(naive.logits, fast.logits):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


# --- registration and building blocks ---------------------------------------------------------------


def test_all_models_registered_with_documented_defaults(registry):
    assert set(registry.names("density")) >= set(NAMES)
    assert registry.get("density", "pixelcnn").defaults() == {
        "width": 120,
        "depth": 4,
        "dropout": 0.2,
        "negative_slope": 0.01,
    }
    assert registry.get("density", "row-lstm").defaults()["hidden"] == 64
    assert registry.get("density", "flat-lstm").defaults()["hidden"] == 64
    with pytest.raises(UsageError, match="multiple of 3"):
        registry.build("density", "pixelcnn", image_size=8, width=10)


def test_channel_groups_split_rgb_blocks():
    assert channel_groups(3).tolist() == [0, 1, 2]
    assert torch.bincount(channel_groups(64)).tolist() == [22, 21, 21]
    assert channel_groups(6, parts=2).tolist() == [0, 0, 1, 1, 2, 2] * 2
    mask = causal_kernel_mask(3, 6, (1, 3), (0, 1), "A")
    assert mask[:, :, 0, 0].eq(1).all() and mask[:, :, 0, 2].eq(0).all()
    # centre, mask A: R outputs see nothing, G outputs see R, B outputs see R and G
    assert mask[:, :, 0, 1].tolist() == [[0, 0, 0]] * 2 + [[1, 0, 0]] * 2 + [[1, 1, 0]] * 2


def test_pixelcnn_fill_weights_layout():
    model = PixelCNN(8, width=12, depth=3)
    w = model.fill_weights()
    assert w.w_in.shape == (12, 3, 5, 5) and w.b_in.shape == (12,)
    assert [t.shape for t in w.w_hidden] == [(12, 12)] * 3 and [t.shape for t in w.b_hidden] == [(12,)] * 3
    assert w.w_out.shape == (768, 12) and w.b_out.shape == (768,)
    centre = w.w_in[:, :, 4, 4]
    for u in range(12):
        group = u // 4
        assert centre[u, group:].eq(0).all() and centre[u, :group].ne(0).all()
    assert w.w_in[:, :, :4].ne(0).all() and w.w_in[:, :, 4, :4].ne(0).all()
    assert w.w_hidden[0][:4, 4:].eq(0).all() and w.w_hidden[0][8:, :].ne(0).all()
    assert w.w_out[:256, 4:].eq(0).all() and w.w_out[512:].ne(0).all()


def test_lstm_cell_matches_torch_lstm_cell_and_is_differentiable():
    torch.manual_seed(0)
    cell = nn.LSTMCell(5, 7)
    x, h, c = torch.randn(4, 5), torch.randn(4, 7), torch.randn(4, 7)
    gates = x @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh
    expected_h, expected_c = cell(x, (h, c))
    for fn in (lstm_cell_reference, lstm_cell):
        got_h, got_c = fn(gates, c)
        torch.testing.assert_close(got_h, expected_h)
        torch.testing.assert_close(got_c, expected_c)
    g = torch.randn(2, 3, 8, dtype=torch.double, requires_grad=True)
    c0 = torch.randn(2, 3, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: lstm_cell(a, b), (g, c0))


def test_lstm_cell_uses_the_extension_op_when_there_is_one(monkeypatch):
    calls = []

    def fake_op(gates, c_prev):
        calls.append(gates.shape)
        return lstm_cell_reference(gates, c_prev)

    monkeypatch.setattr(lstm_cell_module, "extension_op", lambda name: fake_op if name == "lstm_cell" else None)
    h, c = lstm_cell(torch.zeros(2, 8), torch.ones(2, 2))
    assert calls == [(2, 8)]
    torch.testing.assert_close(c, torch.full((2, 2), 0.5))  # sigmoid(0) * 1 + sigmoid(0) * tanh(0)


# --- causality ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_logits_depend_only_on_earlier_subpixels(registry, name):
    """Perturb each sub-pixel s in turn: no logit at positions <= s may move (raster order, then R, G, B),
    and the next sub-pixel of the same row must move (for at least one of three base images)."""
    size = 5
    # Zero biases: a randomly negative bias can switch off a whole colour group behind a ReLU, which
    # would hide the dependency on the previous sub-pixel that this test also asks for.
    model = build(registry, name, size, zero_bias=True)
    n = 3 * size * size
    row = 3 * size
    depends_next = torch.zeros(n - 1, dtype=torch.bool)
    for seed in range(3):
        base = random_images(1, size, seed)
        batch = base.repeat(n + 1, 1, 1, 1)
        for s in range(n):
            i, j, c = s // row, (s % row) // 3, s % 3
            batch[s + 1, c, i, j] = (torch.round(base[0, c, i, j] * 255) + 128) % 256 / 255
        with torch.no_grad():
            logits = model(batch)
        # change[s, t]: largest change of sub-pixel t's logits when sub-pixel s is perturbed
        change = (logits[1:] - logits[:1]).abs().amax(dim=2).permute(0, 2, 3, 1).reshape(n, n)
        earlier_or_same = torch.tril(torch.ones(n, n, dtype=torch.bool))
        assert change[earlier_or_same].max() < 1e-6, f"{name}: a logit depends on a later sub-pixel"
        depends_next |= change.diagonal(offset=1) > 0
    same_row = torch.tensor([s // row == (s + 1) // row for s in range(n - 1)])
    assert depends_next[same_row].all(), (
        f"{name}: sub-pixels ignore their predecessor at {torch.nonzero(~depends_next & same_row).flatten().tolist()}"
    )


# --- inpainting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_fast_fill_equals_naive_fill(registry, name):
    size = 8 if name == "gated-pixelcnn" else 6  # gated: large enough that the fill window is a real crop
    model = build(registry, name, size, seed=1)
    images = random_images(2, size, seed=5)
    mask = two_holes(size)
    holes = mask[:, 0]
    for mode in ("greedy", "mean"):
        naive, fast = Recorder(mode), Recorder(mode)
        with torch.no_grad():
            expected = model.fill_naive(images, holes, naive)
            if name == "pixelcnn":
                weights = model.fill_weights()
                got = pixelcnn_fill_torch(images, holes, weights, model.negative_slope, fast)
            else:
                got = model.fill_fast(images, holes, fast)
        assert len(naive.logits) == 3 * len(hole_pixels(holes))
        assert_same_logits(naive, fast)
        assert torch.equal(got, expected), f"{name} {mode}: fast and naive fills differ"
        assert torch.equal(model.fill(images, mask, mode=mode), expected)
        assert torch.equal(model.fill(images, mask, mode=mode, method="naive"), expected)


@pytest.mark.parametrize("name", NAMES)
def test_fill_changes_only_the_hole_and_samples_reproducibly(registry, name):
    size = 6
    model = build(registry, name, size)
    images = torch.rand(2, 3, size, size)  # off the 1/255 grid on purpose: kept pixels must stay bit-identical
    mask = two_holes(size)

    def sample(seed: int) -> torch.Tensor:
        return model.fill(images, mask, mode="sample", temperature=1.0, generator=torch.Generator().manual_seed(seed))

    first, again, other = sample(7), sample(7), sample(8)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    keep = ~mask.expand_as(images)
    for filled in (first, model.fill(images, mask), model.fill(images, mask, mode="best-of-k", k=2)):
        assert torch.equal(filled[keep], images[keep])
        hole_values = filled[~keep]
        assert hole_values.min() >= 0 and hole_values.max() <= 1
        torch.testing.assert_close(hole_values * 255, torch.round(hole_values * 255), atol=1e-4, rtol=0)
    # A generator fixes the fast and the naive fill alike: same draws in the same order (the compiled
    # pixelcnn op has its own seeded RNG instead).
    if not (name == "pixelcnn" and extension_op("pixelcnn_fill") is not None):
        naive = model.fill(images, mask, mode="sample", generator=torch.Generator().manual_seed(7), method="naive")
        assert torch.equal(naive, first)


def test_best_of_k_keeps_the_most_likely_candidate(registry):
    size = 6
    model = build(registry, "pixelcnn", size)
    images = random_images(3, size, seed=2)
    mask = torch.zeros(3, 1, size, size, dtype=torch.bool)
    mask[:, :, 1:4, 1:4] = True
    k = 4
    best = model.fill(images, mask, mode="best-of-k", k=k, temperature=1.5, generator=torch.Generator().manual_seed(3))
    # The same stream, drawn as one batch of k copies: candidate n of image b is row n * B + b.
    candidates = model.fill(
        images.repeat(k, 1, 1, 1),
        mask.repeat(k, 1, 1, 1),
        mode="sample",
        temperature=1.5,
        generator=torch.Generator().manual_seed(3),
    ).view(k, 3, *images.shape[1:])
    with torch.no_grad():
        scores = torch.stack([model.nll(c) for c in candidates])  # (k, B)
        best_scores = model.nll(best)
    assert len({tuple(c.flatten().tolist()) for c in candidates[:, 0]}) > 1, "candidates should differ"
    for b in range(3):
        assert torch.equal(best[b], candidates[scores[:, b].argmin(), b])
        assert best_scores[b] <= scores[:, b].min() + 1e-4


def test_fill_restores_training_mode_and_ignores_dropout():
    model = PixelCNN(6, width=12, depth=1, dropout=0.5).train()
    images = random_images(1, 6, seed=0)
    mask = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    mask[..., 2:4, 2:4] = True
    first = model.fill(images, mask)
    assert model.training
    assert torch.equal(first, model.fill(images, mask))


def test_fill_rejects_bad_arguments():
    model = PixelCNN(6, width=12, depth=1)
    images = torch.zeros(1, 3, 6, 6)
    mask = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    with pytest.raises(UsageError, match="fill mode"):
        model.fill(images, mask, mode="beam")
    with pytest.raises(UsageError, match="mask"):
        model.fill(images, torch.zeros(1, 1, 5, 5, dtype=torch.bool))
    with pytest.raises(UsageError, match="temperature"):
        model.fill(images, mask, mode="sample", temperature=0.0)
    with pytest.raises(UsageError, match="k >= 1"):
        model.fill(images, mask, mode="best-of-k", k=0)
    with pytest.raises(UsageError, match="RGB"):
        model.nll(torch.zeros(1, 1, 6, 6))
    assert torch.equal(model.fill(images, mask), images)  # no hole: nothing to do


def test_pixelcnn_fill_passes_the_op_contract_to_the_extension(monkeypatch):
    """With an extension op present, `pixelcnn_fill` hands it the documented arguments and returns its result."""
    model = PixelCNN(6, width=12, depth=2)
    images = random_images(2, 6, seed=1)
    mask = two_holes(6)[:, 0]
    seen = {}

    def fake_op(images, mask, w_in, b_in, w_hidden, b_hidden, w_out, b_out, mode, temperature, slope, seed):
        seen.update(mode=mode, temperature=temperature, seed=seed, hidden=len(w_hidden), dtype=mask.dtype)
        assert w_in.shape == (12, 3, 5, 5) and w_out.shape == (768, 12) and isinstance(seed, int)
        weights = pixelcnn_fill_module.PixelCNNWeights(w_in, b_in, list(w_hidden), list(b_hidden), w_out, b_out)
        names = {v: k for k, v in pixelcnn_fill_module.MODES.items()}
        return pixelcnn_fill_torch(
            images, mask, weights, slope, lambda logits: decode_subpixel(logits, names[mode], temperature)
        )

    expected = pixelcnn_fill_torch(images, mask, model.fill_weights(), 0.01, lambda z: decode_subpixel(z, "mean"))
    monkeypatch.setattr(pixelcnn_fill_module, "extension_op", lambda name: fake_op if name == "pixelcnn_fill" else None)
    assert torch.equal(pixelcnn_fill(images, mask, model.fill_weights(), mode="mean"), expected)
    assert seen == {"mode": 1, "temperature": 1.0, "seed": 0, "hidden": 2, "dtype": torch.bool}
    pixelcnn_fill(images, mask, model.fill_weights(), mode="sample", generator=torch.Generator().manual_seed(0))
    first_seed = seen["seed"]
    pixelcnn_fill(images, mask, model.fill_weights(), mode="sample", generator=torch.Generator().manual_seed(0))
    assert seen["mode"] == 2 and seen["seed"] == first_seed


# --- decoding rules ------------------------------------------------------------------------------------


def test_decoding_rules():
    logits = torch.full((2, 256), -1e9)
    logits[:, 10] = math.log(0.25)
    logits[:, 20] = math.log(0.75)
    assert decode_subpixel(logits, "greedy").mul(255).round().tolist() == [20, 20]
    # mean 17.5 rounds half to even: 18
    assert decode_subpixel(logits, "mean").mul(255).round().tolist() == [18, 18]
    generator = torch.Generator().manual_seed(0)
    draws = decode_subpixel(logits[:1].expand(4000, 256), "sample", 1.0, generator).mul(255).round()
    assert set(draws.unique().tolist()) == {10.0, 20.0}
    assert abs(draws.eq(20).float().mean().item() - 0.75) < 0.03
    cold = decode_subpixel(logits[:1].expand(4000, 256), "sample", 0.2, generator).mul(255).round()
    assert cold.eq(20).float().mean() > 0.99  # (0.75/0.25)^5 = 243:1
    with pytest.raises(UsageError):
        decode_subpixel(logits, "median")


# --- likelihood ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_nll_is_finite_and_training_reduces_it(registry, name):
    size = 6
    torch.manual_seed(0)
    model = registry.build("density", name, image_size=size, **SMALL[name])
    images = random_images(4, size, seed=0)
    images = (images * 0.25 + 0.4).mul(255).round().div(255)  # a narrow band of levels: learnable quickly
    model.eval()  # no dropout: nll and bits/dim must describe the same model
    nll = model.nll(images)
    assert nll.shape == (4,) and torch.isfinite(nll).all()
    bpd = model.bits_per_dim(images)
    torch.testing.assert_close(bpd, nll / (3 * size * size * math.log(2)))
    assert 6 < bpd.mean() < 10  # an untrained model is near uniform (8 bits/dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(8):
        loss = model.bits_per_dim(images).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        after = model.bits_per_dim(images).mean()
    assert after < bpd.mean() - 0.5, f"{name}: {bpd.mean():.3f} -> {after:.3f} bits/dim"


def _cifar(root: Path, name: str, count: int) -> torch.Tensor:
    with open(root / name, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    data = np.asarray(batch[b"data"][:count], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return torch.from_numpy(data).float() / 255


@pytest.mark.slow
def test_pixelcnn_learns_cifar10(cifar_root):
    """The study's PixelCNN, trained briefly by likelihood on 16x16 crops of real CIFAR-10 (it is fully
    convolutional with a 5x5 field, so crops teach it the same thing), beats the uniform 8 bits/dim
    on whole held-out test images."""
    train, test = _cifar(cifar_root, "data_batch_1", 10000), _cifar(cifar_root, "test_batch", 200)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = PixelCNN(32)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        index = torch.randint(0, len(train), (16,), generator=generator)
        top, left = torch.randint(0, 17, (2,), generator=generator).tolist()
        loss = model.bits_per_dim(train[index, :, top : top + 16, left : left + 16]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        bits = torch.cat([model.bits_per_dim(chunk) for chunk in test.split(100)]).mean().item()
    print(f"pixelcnn, 400 steps on CIFAR-10 crops: {bits:.3f} test bits/dim")
    assert bits < 6.0, f"test bits/dim {bits:.3f}"
