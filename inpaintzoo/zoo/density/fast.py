"""The density models' fast training paths: pixel rows as GEMM operands, cheap dropout, a fused 256-way head.

Three costs dominated a density model's step when it ran as convolutions over NCHW maps (issue 11):

- the 1x1 masked layers ran as convolutions at a fraction of the GEMM rate: here they are `F.linear` over
  pixel rows `(B*H*W, C)` in channels-last order, the layout in which a 1x1 convolution *is* a GEMM;
- `bernoulli_` drew a float per activation: here a dropout mask costs one 16-bit draw per activation, taken
  as raw bits from `torch.Tensor.random_` (the default generator, or the one given), so runs stay
  reproducible and resumable from the generator state that checkpoints save;
- the logits `(B, 768, H, W)` were materialised, transposed and log-softmaxed (200 MB at batch 64): here the
  output layer and its cross-entropy run in chunks of rows (`linear_cross_entropy`), never holding more than a
  chunk's logits, with the gradient of each chunk computed while its logits are in cache.

Every fast path computes the same function as the model's reference path (the original module code, kept and
selected by `reference_path()` or `INPAINTZOO_DENSITY_PATH=reference`): the tests compare likelihoods,
gradients and fills. Under `torch.autocast` the GEMMs run in the autocast dtype (bf16 on AMX), the softmax in
fp32, and the weight gradients accumulate in fp32.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.backend import extension_op
from inpaintzoo.zoo.density.masked import MaskedConv2d

PATH_ENV = "INPAINTZOO_DENSITY_PATH"
PATH_CHOICES = ("fast", "reference")
#: rows of logits a chunk of the fused head holds at once (2048 x 768 fp32 = 6 MB)
CHUNK_ROWS = 2048
#: dropout masks are drawn at this resolution: p is applied as round(p * 2**16) / 2**16
MASK_BITS = 16

_state = threading.local()


@contextlib.contextmanager
def reference_path(enabled: bool = True) -> Iterator[None]:
    """Run the density models' original (reference) code inside the block: what the fast paths are tested against."""
    previous = getattr(_state, "reference", None)
    _state.reference = enabled
    try:
        yield
    finally:
        _state.reference = previous


def use_reference() -> bool:
    """True inside `reference_path()`, or when `INPAINTZOO_DENSITY_PATH=reference` (outside any such block)."""
    forced = getattr(_state, "reference", None)
    if forced is not None:
        return forced
    choice = os.environ.get(PATH_ENV, "fast").lower()
    if choice not in PATH_CHOICES:
        raise UsageError(f"{PATH_ENV}={choice!r} is not one of {', '.join(PATH_CHOICES)}")
    return choice == "reference"


def rows(x: torch.Tensor) -> torch.Tensor:
    """`(B, C, H, W)` -> pixel rows `(B*H*W, C)`; a view when `x` is channels-last."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def maps(x: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """Pixel rows `(B*H*W, C)` -> a channels-last `(B, C, H, W)` view (no copy)."""
    return x.view(batch, height, width, -1).permute(0, 3, 1, 2)


def dropout_keep_scale(p: float) -> tuple[int, float]:
    """The int16 threshold at which a 16-bit draw is kept, and the scale that keeps the expectation exact."""
    dropped = round(p * 2**MASK_BITS)
    return dropped - 2 ** (MASK_BITS - 1), 2**MASK_BITS / (2**MASK_BITS - dropped)


_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1


def _extension(name: str, x: torch.Tensor) -> Callable[..., Any] | None:
    """The compiled op `name` for a CPU tensor when the extension backend is active, else None."""
    return extension_op(name) if x.device.type == "cpu" else None


def _mix64(z: int) -> int:
    """splitmix64's finaliser on Python ints (csrc/fill_common.h: mix64): the key of a dropout seed."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """csrc/dropout_hash.h: mix32 on int64 tensors holding uint32 values."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def dropout_draws(seed: int, numel: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The 16-bit draws `(numel,)` int64 that `seed` gives elements `0..numel-1` (the C++ kernels' numbers)."""
    key = _mix64(seed & _MASK64)
    words = torch.arange((numel + 1) // 2, dtype=torch.int64, device=device)
    words = (_mix32(words ^ (key & _MASK32)) + (key >> 32)) & _MASK32
    words = _mix32(words)
    return torch.stack([words & 0xFFFF, words >> 16], dim=1).view(-1)[:numel]


def draw_seed(generator: torch.Generator | None = None) -> int:
    """One 64-bit seed from `generator` (default: torch's global one, which checkpoints save)."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.empty((), dtype=torch.int64, device=device).random_(-(2**63), None, generator=generator))


def _leaky_dropout_forward(x: torch.Tensor, seed: int, dropped: int, negative_slope: float) -> torch.Tensor | None:
    """In place on `x`; returns the keep mask where the PyTorch path made one (the kernel needs none)."""
    op = _extension("leaky_dropout_", x) if x.is_contiguous() else None
    if op is not None:
        op(x, seed, dropped, negative_slope)
        return None
    F.leaky_relu_(x, negative_slope)
    if not dropped:
        return None
    keep = (dropout_draws(seed, x.numel(), x.device) >= dropped).view(x.shape)
    x.mul_(keep)
    return keep


class _LeakyDropout(torch.autograd.Function):
    """`leaky_relu(x)` with elements whose draw is below `dropped` zeroed, in place on `x` (a layer's fresh
    output, which its own backward does not need). The backward reads the result and recomputes the mask from
    the seed (the compiled kernels store no mask at all)."""

    @staticmethod
    def forward(ctx, x, seed, dropped, negative_slope):  # type: ignore[override]
        ctx.config = (seed, dropped, negative_slope)
        keep = _leaky_dropout_forward(x, seed, dropped, negative_slope)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x, keep)
        return x

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        y, keep = ctx.saved_tensors
        seed, dropped, negative_slope = ctx.config
        op = _extension("leaky_dropout_backward", y) if y.is_contiguous() else None
        if op is not None:
            return op(grad, y, seed, dropped, negative_slope), None, None, None
        # sign(y) = sign(x) where kept, so this is leaky_relu's own backward; dropped elements get no gradient
        grad = torch.ops.aten.leaky_relu_backward(grad, y, negative_slope, True)
        return (grad if keep is None else grad * keep), None, None, None


def dropout_scale(p: float, training: bool) -> float:
    """The factor that keeps a layer's expectation under `leaky_dropout_`: fold it into the layer's weights,
    since `leaky_relu(s a) = s leaky_relu(a)` for `s > 0`."""
    return dropout_keep_scale(p)[1] if training and p > 0.0 else 1.0


def leaky_dropout_(
    x: torch.Tensor, negative_slope: float, p: float, training: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`dropout(leaky_relu(x)) / scale`, in place on `x`, the fresh output of a layer whose weights were already
    multiplied by `dropout_scale(p, training)`. No dropout in eval mode or at p = 0.

    Each call draws one 64-bit seed from `generator`; the mask is a hash of (seed, element), kept with
    probability `1 - round(p 2^16) / 2^16`.
    """
    dropped = round(p * 2**MASK_BITS) if training and p > 0.0 else 0
    seed = draw_seed(generator) if dropped else 0
    if torch.is_grad_enabled() and x.requires_grad:
        return _LeakyDropout.apply(x, seed, dropped, negative_slope)
    with torch.no_grad():
        _leaky_dropout_forward(x, seed, dropped, negative_slope)
    return x


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The GEMM dtype of this call: the autocast dtype when autocast is on for `x`'s device, else `x`'s."""
    kind = x.device.type
    if torch.is_autocast_enabled(kind) and x.dtype in (torch.float32, torch.bfloat16, torch.float16):
        return torch.get_autocast_dtype(kind)
    return x.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    """`cross_entropy((h @ W.T + b).view(N, G, L), targets)` per (row, group), chunk by chunk.

    When gradients are needed the forward also computes them (softmax minus one-hot, times the inputs) while a
    chunk's logits are in cache; the backward only scales them by the incoming gradient. That holds when the
    incoming gradient is the same for every (row, group), as under any mean or sum of the losses; otherwise
    the backward recomputes the chunks with the incoming weights (never wrong, only slower).
    """

    @staticmethod
    def forward(ctx, h, weight, bias, targets, levels, chunk, dtype, with_grad):  # type: ignore[override]
        n, cols, groups = h.shape[0], h.shape[1], weight.shape[0] // levels
        w, b = weight.to(dtype), bias.to(dtype)
        hc = h.to(dtype)
        if with_grad:  # a column of ones: each chunk's weight-gradient GEMM also sums its bias gradient
            hc = torch.cat([hc, hc.new_ones(n, 1)], dim=1)
        losses = torch.empty(n, groups, dtype=torch.float32, device=h.device)
        grad_h = torch.empty(n, cols, dtype=dtype, device=h.device) if with_grad else None
        grad_wb = torch.zeros(weight.shape[0], cols + 1, dtype=torch.float32, device=h.device) if with_grad else None
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            x = hc[start:stop]
            logits = _xent_dtype(torch.addmm(b, x[:, :cols], w.t()))
            losses[start:stop] = _chunk_xent(logits, targets[start:stop], levels, with_grad)
            if with_grad:
                g = logits.to(dtype)  # now softmax - onehot
                torch.mm(g, w, out=grad_h[start:stop])
                grad_wb += torch.mm(g.t(), x)  # [weight | bias] gradients; a bf16 partial is summed in fp32
        if with_grad:
            grad_w, grad_b = grad_wb[:, :cols], grad_wb[:, cols]
            ctx.save_for_backward(h, weight, bias, targets, grad_h, grad_w, grad_b)
        ctx.config = (levels, chunk, dtype)
        return losses

    @staticmethod
    def backward(ctx, grad_losses):  # type: ignore[override]
        h, weight, bias, targets, grad_h, grad_w, grad_b = ctx.saved_tensors
        levels, chunk, dtype = ctx.config
        first = grad_losses.reshape(-1)[:1]
        if bool((grad_losses == first).all()):
            s = first.float()
            return (grad_h.to(h.dtype) * s.to(grad_h.dtype), (grad_w * s).to(weight.dtype),
                    (grad_b * s).to(bias.dtype), None, None, None, None, None)
        with torch.autocast(h.device.type, enabled=False):  # a backward run under autocast: keep `dtype`
            return _weighted_backward(h, weight, bias, targets, grad_losses, levels, chunk, dtype)


def _xent_dtype(logits: torch.Tensor) -> torch.Tensor:
    """A chunk of logits as `_chunk_xent` takes them: bf16 stays bf16 where the extension's kernel reads it (the
    softmax is fp32 inside, as autocast would run it), anything else becomes fp32."""
    if logits.dtype == torch.bfloat16 and logits.is_contiguous() and _extension("softmax_xent_", logits) is not None:
        return logits
    return logits.float()


def _chunk_xent(logits: torch.Tensor, targets: torch.Tensor, levels: int, with_grad: bool) -> torch.Tensor:
    """Losses `(n, G)` of one chunk of logits `(n, G * levels)`: fp32, or bf16 where `_xent_dtype` kept it for the
    extension; with `with_grad` the logits are replaced, in place, by their gradient `softmax - onehot`."""
    n, groups = targets.shape
    op = _extension("softmax_xent_", logits)
    if op is not None and logits.is_contiguous():
        return op(logits.view(n * groups, levels), targets.reshape(-1), with_grad).view(n, groups)
    z = logits.view(n, groups, levels)
    target = targets.unsqueeze(-1)
    picked = z.gather(-1, target)
    top = z.amax(dim=-1, keepdim=True)
    e = z.sub_(top).exp_()  # in place: the chunk's logits are not needed again
    total = e.sum(dim=-1, keepdim=True)
    losses = (top + total.log() - picked).squeeze(-1)
    if with_grad:
        e.div_(total).scatter_add_(-1, target, torch.full_like(target, -1, dtype=e.dtype))
    return losses


def _weighted_backward(h, weight, bias, targets, grad_losses, levels, chunk, dtype):  # type: ignore[no-untyped-def]
    """The backward for an arbitrary incoming gradient `(N, G)`: recompute each chunk's softmax."""
    n, groups = h.shape[0], weight.shape[0] // levels
    w, b, hc = weight.to(dtype), bias.to(dtype), h.to(dtype)
    grad_h = torch.empty(h.shape, dtype=dtype, device=h.device)
    grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device)
    grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=h.device)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        x = hc[start:stop]
        g = torch.addmm(b, x, w.t()).float()
        _chunk_xent(g, targets[start:stop], levels, True)
        weights = grad_losses[start:stop].float().unsqueeze(-1)
        g = g.view(stop - start, groups, levels).mul_(weights).view(stop - start, -1)
        grad_b += g.sum(dim=0)
        g = g.to(dtype)
        torch.mm(g, w, out=grad_h[start:stop])
        grad_w += torch.mm(g.t(), x)  # a bf16 partial is summed in fp32
    return grad_h.to(h.dtype), grad_w.to(weight.dtype), grad_b.to(bias.dtype), None, None, None, None, None


def linear_cross_entropy(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    levels: int = 256,
    chunk: int = CHUNK_ROWS,
) -> torch.Tensor:
    """Per-(row, group) cross-entropy of the logits `h @ weight.T + bias`, viewed `(N, G, levels)`: `(N, G)` fp32.

    `h` `(N, C)`, `weight` `(G * levels, C)`, `bias` `(G * levels,)`, `targets` `(N, G)` long. Equal to
    `F.cross_entropy(F.linear(h, weight, bias).view(N, G, levels).transpose(1, 2), targets, reduction="none")`
    without ever holding more than `chunk` rows of logits.
    """
    if weight.shape[0] % levels or targets.shape != (h.shape[0], weight.shape[0] // levels):
        raise ValueError(f"linear_cross_entropy: weight {tuple(weight.shape)}, targets {tuple(targets.shape)} differ")
    dtype = _compute_dtype(h)
    with_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad or bias.requires_grad)
    with torch.autocast(h.device.type, enabled=False):
        return _LinearCrossEntropy.apply(h, weight, bias, targets.contiguous(), levels, chunk, dtype, with_grad)


def row_layer(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One layer of a density head on pixel rows `(N, C)`: a ReLU, or a 1x1 (masked) convolution as a GEMM."""
    if isinstance(layer, nn.ReLU):
        return F.relu(x)
    if isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1):
        weight = layer.masked_weight() if isinstance(layer, MaskedConv2d) else layer.weight
        return F.linear(x, weight[:, :, 0, 0], layer.bias)
    raise TypeError(f"no pixel-row form for a density head layer {type(layer).__name__}")


def head_logits(head: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A head of ReLUs and 1x1 convolutions over pixel rows `(N, C)`: logits `(N, out)`."""
    for layer in head:
        x = row_layer(layer, x)
    return x


def head_nll(head: nn.Sequential, x: torch.Tensor, targets: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """The head over pixel rows with its last 1x1 layer fused into the cross-entropy: `(N, G)` losses."""
    *body, last = list(head)
    for layer in body:
        x = row_layer(layer, x)
    if not (isinstance(last, nn.Conv2d) and last.kernel_size == (1, 1)):
        raise TypeError(f"a fused density head ends in a 1x1 convolution, not {type(last).__name__}")
    weight = last.masked_weight() if isinstance(last, MaskedConv2d) else last.weight
    return linear_cross_entropy(x, weight[:, :, 0, 0], last.bias, targets, levels)
