"""The density models' fast training paths compute what their reference (original) code computes.

Likelihoods, gradients and fills of the fast paths (GEMMs over pixel rows, the fused 256-way head, the
counter-based dropout) against `reference_path()`, in fp32 and under bf16 autocast; the dropout masks against
their definition, reproducible from torch's generator; the compiled kernels against the PyTorch fallback.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import needs

from inpaintzoo.ops.backend import backend_name
from inpaintzoo.zoo.density import DiagonalBiLSTM, FlatLSTM, GatedPixelCNN, PixelCNN, RowLSTM
from inpaintzoo.zoo.density.fast import (
    MASK_BITS,
    dropout_draws,
    dropout_keep_scale,
    leaky_dropout_,
    linear_cross_entropy,
    reference_path,
    use_reference,
)

MODELS = {
    "pixelcnn": lambda: PixelCNN(8, width=12, depth=2),
    "gated-pixelcnn": lambda: GatedPixelCNN(8, width=6, layers=2),
    "row-lstm": lambda: RowLSTM(8, hidden=6, layers=2),
    "diag-bilstm": lambda: DiagonalBiLSTM(8, hidden=6, layers=2),
    "flat-lstm": lambda: FlatLSTM(8, hidden=6),
}
needs_extension = needs(backend_name() == "extension", "the compiled extension is not built")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = MODELS[name]()
    with torch.no_grad():  # larger than the initialisation, so that every path carries real signal
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return net.eval()


def images(batch: int = 3, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def nll_and_grads(net: torch.nn.Module, x: torch.Tensor, reference: bool, weights: torch.Tensor | None = None):
    net.zero_grad(set_to_none=True)
    with reference_path(reference):
        nll = net.nll(x)
        (nll.sum() if weights is None else (nll * weights).sum()).backward()
    return nll.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


def assert_grads_close(fast: dict, ref: dict, rtol: float, atol: float) -> None:
    assert fast.keys() == ref.keys()
    for name in ref:
        scale = ref[name].abs().max().item() + 1e-12
        torch.testing.assert_close(fast[name] / scale, ref[name] / scale, rtol=rtol, atol=atol, msg=name)


def test_the_reference_switch_nests_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("INPAINTZOO_DENSITY_PATH", raising=False)
    assert not use_reference()
    with reference_path():
        assert use_reference()
        with reference_path(False):
            assert not use_reference()
        assert use_reference()
    monkeypatch.setenv("INPAINTZOO_DENSITY_PATH", "reference")
    assert use_reference()


@pytest.mark.parametrize("name", MODELS)
def test_fast_nll_and_gradients_equal_the_reference(name):
    net, x = model(name), images()
    ref, ref_grads = nll_and_grads(net, x, reference=True)
    fast, fast_grads = nll_and_grads(net, x, reference=False)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-4)
    assert_grads_close(fast_grads, ref_grads, rtol=1e-4, atol=1e-5)
    # a per-image weighting of the losses takes the head's other backward (gradients recomputed per chunk)
    weights = torch.tensor([1.0, -2.0, 0.5])
    _, ref_grads = nll_and_grads(net, x, reference=True, weights=weights)
    _, fast_grads = nll_and_grads(net, x, reference=False, weights=weights)
    assert_grads_close(fast_grads, ref_grads, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn"])
def test_fused_subpixel_nll_equals_the_reference(name):
    net, x = model(name), images()
    with torch.no_grad():
        with reference_path():
            ref = net.subpixel_nll(x)
        fast = net.subpixel_nll(x)
    assert fast.shape == ref.shape == (3, 3, 8, 8)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_fast_logits_equal_the_reference(name):
    net, x = model(name), images()
    with torch.no_grad():
        with reference_path():
            ref = net(x)
        fast = net(x)
    assert fast.shape == ref.shape == (3, 3, 256, 8, 8)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_bf16_autocast_runs_the_fast_path_close_to_the_reference(name):
    net, x = model(name), images(batch=16)
    with torch.autocast("cpu", torch.bfloat16):
        ref, ref_grads = nll_and_grads(net, x, reference=True)
        fast, fast_grads = nll_and_grads(net, x, reference=False)
    exact, exact_grads = nll_and_grads(net, x, reference=True)
    assert torch.isfinite(fast).all() and fast.dtype == torch.float32
    torch.testing.assert_close(fast, ref, rtol=2e-2, atol=0.5)
    torch.testing.assert_close(fast, exact, rtol=5e-2, atol=2.0)
    # Each parameter's gradient is as close to fp32's as the reference path's bf16 gradient is (relative norm):
    # the paths round different GEMMs to bf16, so a ReLU near its kink may flip in one and not the other.
    for param, want in exact_grads.items():
        fast_error = ((fast_grads[param] - want).norm() / want.norm()).item()
        ref_error = ((ref_grads[param] - want).norm() / want.norm()).item()
        assert fast_error <= 1.5 * ref_error + 0.01, (param, fast_error, ref_error)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("mode", ["greedy", "mean"])
def test_fills_agree_between_the_paths(name, mode):
    net, x = model(name), images(batch=2)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 3:6, 2:5] = True
    fast = net.fill(x, mask, mode=mode, method="naive")
    with reference_path():
        ref = net.fill(x, mask, mode=mode, method="naive")
    assert torch.equal(fast, ref)
    assert torch.equal(net.fill(x, mask, mode=mode), ref)


def test_linear_cross_entropy_equals_cross_entropy_of_the_logits_in_every_chunking():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(37, 5, generator=g, requires_grad=True)
    w = (torch.randn(3 * 7, 5, generator=g) * 2).requires_grad_()
    b = torch.randn(3 * 7, generator=g).requires_grad_()
    targets = torch.randint(0, 7, (37, 3), generator=g)
    weights = torch.rand(37, 3, generator=g)
    expected = F.cross_entropy(F.linear(h, w, b).view(37, 3, 7).transpose(1, 2), targets, reduction="none")
    for how in ("sum", "weighted"):
        loss_fn = (lambda t: t.sum()) if how == "sum" else (lambda t: (t * weights).sum())
        want = torch.autograd.grad(loss_fn(expected), (h, w, b), retain_graph=True)
        for chunk in (1, 4, 37, 100):
            got = linear_cross_entropy(h, w, b, targets, levels=7, chunk=chunk)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            for a, e in zip(torch.autograd.grad(loss_fn(got), (h, w, b)), want):
                torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(h, w, b, targets, levels=7, chunk=8), expected)


def test_dropout_keeps_the_stated_share_and_scales_to_the_same_expectation():
    threshold, scale = dropout_keep_scale(0.2)
    dropped = round(0.2 * 2**MASK_BITS)
    assert threshold == dropped - 2 ** (MASK_BITS - 1) and scale == pytest.approx(1 / (1 - dropped / 2**MASK_BITS))
    draws = dropout_draws(seed=12345, numel=200_000)
    assert draws.min() >= 0 and draws.max() < 2**16
    kept = (draws >= dropped).double().mean().item()
    assert abs(kept - 0.8) < 0.005  # 200k Bernoulli(0.8): the standard deviation is 0.0009
    assert not torch.equal(draws, dropout_draws(seed=12346, numel=200_000))


def test_dropout_masks_come_from_torchs_generator_and_resume_with_it():
    net = model("pixelcnn").train()
    x = images()
    torch.manual_seed(7)
    state = torch.get_rng_state()
    first = net.nll(x)
    second = net.nll(x)
    torch.set_rng_state(state)
    again = net.nll(x)
    assert torch.equal(first, again) and not torch.equal(first, second)
    net.eval()
    assert not torch.equal(net.nll(x), first)  # eval mode: no dropout


def test_leaky_dropout_and_its_gradient_follow_the_mask():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 9, generator=g)
    torch.manual_seed(11)
    a = x.clone().requires_grad_()
    y = leaky_dropout_(a.clone(), 0.1, 0.3, training=True)
    torch.manual_seed(11)
    seed = int(torch.empty((), dtype=torch.int64).random_(-(2**63), None))
    keep = (dropout_draws(seed, x.numel()) >= round(0.3 * 2**MASK_BITS)).view(x.shape)
    torch.testing.assert_close(y, F.leaky_relu(x, 0.1) * keep)
    (grad,) = torch.autograd.grad((y * x).sum(), a)
    torch.testing.assert_close(grad, x * torch.where(x > 0, 1.0, 0.1) * keep)
    z = x.clone()
    assert torch.equal(leaky_dropout_(z, 0.1, 0.3, training=False), F.leaky_relu(x, 0.1))


def fused_head_by_backend(monkeypatch, bf16: bool) -> dict[str, tuple[torch.Tensor, ...]]:
    """`linear_cross_entropy`'s losses and gradients (h, weight, bias) with the extension and with PyTorch."""
    h = torch.randn(50, 8, generator=torch.Generator().manual_seed(6), requires_grad=True)
    w = torch.randn(3 * 256, 8, generator=torch.Generator().manual_seed(7), requires_grad=True)
    b = torch.zeros(3 * 256, requires_grad=True)
    targets = torch.randint(0, 256, (50, 3), generator=torch.Generator().manual_seed(8))
    results = {}
    for backend in ("extension", "torch"):
        monkeypatch.setenv("INPAINTZOO_BACKEND", backend)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = linear_cross_entropy(h, w, b, targets, chunk=16)
        results[backend] = (loss, *torch.autograd.grad(loss.sum(), (h, w, b)))
    return results


@needs_extension
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_dropout_and_cross_entropy_equal_the_pytorch_fallback(monkeypatch, dtype):
    x = torch.randn(4099, generator=torch.Generator().manual_seed(2)).to(dtype)  # odd: a half word at the end
    grad = torch.randn(4099, generator=torch.Generator().manual_seed(3)).to(dtype)

    def run(backend: str):
        monkeypatch.setenv("INPAINTZOO_BACKEND", backend)
        torch.manual_seed(4)
        a = x.clone().requires_grad_()
        y = leaky_dropout_(a.clone(), 0.2, 0.25, training=True)
        (g,) = torch.autograd.grad(y, a, grad)
        return y.detach(), g

    y_ext, g_ext = run("extension")
    y_torch, g_torch = run("torch")
    assert torch.equal(y_ext, y_torch) and torch.equal(g_ext, g_torch)

    results = fused_head_by_backend(monkeypatch, bf16=False)
    for e, t in zip(results["extension"], results["torch"]):
        torch.testing.assert_close(e, t, rtol=1e-5, atol=1e-5)


@needs_extension
def test_compiled_cross_entropy_reads_bf16_logits_as_their_fp32_widening():
    """The bf16 kernel computes in fp32: the losses of the widened logits, the gradient rounded back to bf16."""
    op = torch.ops.inpaintzoo.softmax_xent_
    logits = (torch.randn(37, 256, generator=torch.Generator().manual_seed(9)) * 4).to(torch.bfloat16)
    targets = torch.randint(0, 256, (37,), generator=torch.Generator().manual_seed(10))
    wide = logits.float()
    expected = op(wide, targets, True)
    narrow = logits.clone()
    losses = op(narrow, targets, True)
    assert losses.dtype == torch.float32 and torch.equal(losses, expected)
    assert narrow.dtype == torch.bfloat16 and torch.equal(narrow, wide.to(torch.bfloat16))
    torch.testing.assert_close(losses, F.cross_entropy(logits.float(), targets, reduction="none"))


@needs_extension
def test_bf16_fused_head_with_the_extension_is_close_to_the_pytorch_fallback(monkeypatch):
    results = fused_head_by_backend(monkeypatch, bf16=True)
    for e, t in zip(results["extension"], results["torch"]):
        assert e.dtype == t.dtype and torch.isfinite(e).all()
        torch.testing.assert_close(e, t, rtol=2e-2, atol=2e-2)
