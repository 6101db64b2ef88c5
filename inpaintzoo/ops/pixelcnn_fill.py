"""Windowed inpainting with the study's PixelCNN: fill a hole sub-pixel by sub-pixel at the cost of one pixel's net.

The model (`inpaintzoo.zoo.density.pixelcnn`) sees, for pixel `(i, j)`, only the 5x5 window of rows
`i-4..i`, columns `j-4..j`; every layer after the first is 1x1. So the logits of one sub-pixel are a tiny
MLP over 75 input values, and filling never needs the whole image's forward pass.

Contract of `pixelcnn_fill` (the C++/CUDA op `torch.ops.inpaintzoo.pixelcnn_fill` implements the same)::

    pixelcnn_fill(Tensor images, Tensor mask, Tensor w_in, Tensor b_in, Tensor[] w_hidden, Tensor[] b_hidden,
                  Tensor w_out, Tensor b_out, int mode, float temperature, float negative_slope, int seed) -> Tensor

Inputs (float32, contiguous, all on the images' device):

- `images` `(B, 3, H, W)` in `[0, 1]`; `mask` `(B, H, W)` bool, True = hole. The values of hole pixels
  are ignored (read as 0 until filled; never multiply a NaN in the hole by a zero weight).
- `w_in` `(C, 3, 5, 5)`, `b_in` `(C,)`; `w_hidden[l]` `(C, C)`, `b_hidden[l]` `(C,)` for `l < depth`
  (depth may be 0); `w_out` `(768, C)`, `b_out` `(768,)`. The causal masks are already applied
  (`PixelCNN.fill_weights()`): the op multiplies by no mask.

Output: a new `(B, 3, H, W)` float32 tensor; pixels where `mask` is False are copied bit for bit.

Order: the positions `(i, j)` where ANY batch element has a hole, in raster order (row by row, left to
right); at each, channels `c = 0, 1, 2` (R, G, B) in turn. Every sub-pixel is computed for the whole
batch from the current state of the images (earlier fills are visible), and written only where
`mask[b, i, j]`.

Logits of sub-pixel `(b, c, i, j)`, with `X` the current image and `X[., y, x] = 0` outside the image::

    a0[u] = b_in[u] + sum_{ch, di, dj in 0..4} w_in[u, ch, di, dj] * X[b, ch, i - 4 + di, j - 4 + dj]
    h0 = leaky(a0);  h_{l+1} = leaky(w_hidden[l] @ h_l + b_hidden[l])
    logits[k] = b_out[256 c + k] + w_out[256 c + k, :] @ h_depth          (k = 0..255)

where `leaky(x) = x if x >= 0 else negative_slope * x` (no dropout at inference). Thanks to the masks the
logits of channel `c` never depend on the current pixel's channels `>= c`, so the not-yet-filled values do
not matter (but must not be NaN: 0 * NaN is NaN).

Decoding (`mode`), value written = `k / 255`:

- 0 greedy: `k = argmax logits` (the first index on ties); `temperature` is ignored.
- 1 mean: `p = softmax(logits)`, `k = round(sum_k p_k k)` (round half to even, i.e. `nearbyint`): the mean of the
  predicted distribution (minimises expected L2) put back on the 1/255 grid; `temperature` is ignored.
- 2 sample: `p = softmax(logits / temperature)`, `u ~ U[0, 1)`, `k = min{k : cdf_k > u}` with `cdf_k = p_0 + ...
  + p_k` (255 if rounding leaves none). The PyTorch path draws `u` with `torch.rand(B, generator=...)`, one
  per batch element per sub-pixel, in the order above; the op draws from its own counter-based RNG keyed by
  `(seed, b, i, j, c)`, so it is reproducible for a seed but not bit-identical to the PyTorch stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.backend import extension_op

#: decoding rule name -> the integer the C++ op takes
MODES: dict[str, int] = {"greedy": 0, "mean": 1, "sample": 2}
LEVELS = 256
WINDOW = 5
Decode = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PixelCNNWeights:
    """The masked weights of a `pixelcnn`, as plain tensors in the layout the op takes (see the docstring)."""

    w_in: torch.Tensor
    b_in: torch.Tensor
    w_hidden: list[torch.Tensor]
    b_hidden: list[torch.Tensor]
    w_out: torch.Tensor
    b_out: torch.Tensor

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> PixelCNNWeights:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to(device=device, dtype=dtype).contiguous()

        return PixelCNNWeights(
            move(self.w_in),
            move(self.b_in),
            [move(w) for w in self.w_hidden],
            [move(b) for b in self.b_hidden],
            move(self.w_out),
            move(self.b_out),
        )


def mode_code(mode: str | int) -> int:
    """The integer code of a decoding rule given by name or code."""
    if isinstance(mode, str) and mode in MODES:
        return MODES[mode]
    if isinstance(mode, int) and mode in MODES.values():
        return mode
    raise UsageError(f"unknown decoding mode {mode!r}; choose from {', '.join(MODES)}")


def decode_subpixel(
    logits: torch.Tensor,
    mode: str | int = "greedy",
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Values in `[0, 1]` (multiples of 1/255) chosen from `(N, 256)` logits by the rule above."""
    code = mode_code(mode)
    logits = logits.float()
    if code == MODES["greedy"]:
        level = logits.argmax(dim=-1).float()
    elif code == MODES["mean"]:
        probs = torch.softmax(logits, dim=-1)
        level = torch.round(probs @ torch.arange(LEVELS, dtype=probs.dtype, device=probs.device))
    else:
        if temperature <= 0:
            raise UsageError(f"temperature must be positive, got {temperature}")
        cdf = torch.softmax(logits / temperature, dim=-1).cumsum(dim=-1)
        device = generator.device if generator is not None else logits.device
        u = torch.rand(logits.shape[0], generator=generator, device=device).to(logits.device)
        level = torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).clamp(max=LEVELS - 1).float()
    return level / (LEVELS - 1)


def _hole_map(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if mask.dim() == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if images.dim() != 4 or images.shape[1] != 3:
        raise UsageError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    b, _, h, w = images.shape
    if tuple(mask.shape) != (b, h, w):
        raise UsageError(f"mask must be (B, H, W) = {(b, h, w)} to match the images, got {tuple(mask.shape)}")
    return mask.to(device=images.device, dtype=torch.bool)


def pixelcnn_fill_torch(
    images: torch.Tensor,
    mask: torch.Tensor,
    weights: PixelCNNWeights,
    negative_slope: float,
    decode: Decode,
) -> torch.Tensor:
    """The PyTorch windowed fill; `decode` maps `(B, 256)` logits to `(B,)` values (tests pass a recorder)."""
    holes = _hole_map(images, mask)
    weights = weights.to(images.device)
    pad = WINDOW - 1
    work = F.pad(images.float().masked_fill(holes[:, None], 0.0), (pad, 0, pad, 0))
    batch, width = images.shape[0], weights.w_in.shape[0]
    # The centre tap changes as the pixel's own channels are filled; the other 24 taps do not.
    w_centre = weights.w_in[:, :, pad, pad].t()  # (3, C)
    w_context = weights.w_in.clone()
    w_context[:, :, pad, pad] = 0.0
    w_context = w_context.reshape(width, -1).t()  # (75, C)
    hidden = [(w.t(), b) for w, b in zip(weights.w_hidden, weights.b_hidden)]
    out = [(w.t(), b) for w, b in zip(weights.w_out.split(LEVELS), weights.b_out.split(LEVELS))]  # per colour
    for i, j in torch.nonzero(holes.any(dim=0)).tolist():
        here = holes[:, i, j]
        context = torch.addmm(weights.b_in, work[:, :, i : i + WINDOW, j : j + WINDOW].reshape(batch, -1), w_context)
        for c in range(3):
            h = F.leaky_relu(context + work[:, :, i + pad, j + pad] @ w_centre, negative_slope)
            for w, b in hidden:
                h = F.leaky_relu(torch.addmm(b, h, w), negative_slope)
            values = decode(torch.addmm(out[c][1], h, out[c][0]))
            work[:, c, i + pad, j + pad] = torch.where(here, values.to(work.dtype), work[:, c, i + pad, j + pad])
    filled = work[:, :, pad:, pad:].to(images.dtype)
    return torch.where(holes[:, None], filled, images)


def pixelcnn_fill(
    images: torch.Tensor,
    mask: torch.Tensor,
    weights: PixelCNNWeights,
    mode: str | int = "greedy",
    temperature: float = 1.0,
    negative_slope: float = 0.01,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill the holes of `mask` (B, H, W) in raster order: the C++ op when built, else `pixelcnn_fill_torch`."""
    code = mode_code(mode)
    if code == MODES["sample"] and temperature <= 0:
        raise UsageError(f"temperature must be positive, got {temperature}")
    holes = _hole_map(images, mask)
    op = extension_op("pixelcnn_fill")
    if op is None:

        def decode(logits: torch.Tensor) -> torch.Tensor:
            return decode_subpixel(logits, code, temperature, generator)

        return pixelcnn_fill_torch(images, holes, weights, negative_slope, decode)
    seed = 0
    if code == MODES["sample"]:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device if generator else "cpu"))
    w = weights.to(images.device)
    filled = op(
        images.float().contiguous(),
        holes.contiguous(),
        w.w_in,
        w.b_in,
        w.w_hidden,
        w.b_hidden,
        w.w_out,
        w.b_out,
        code,
        float(temperature),
        float(negative_slope),
        seed,
    )
    return torch.where(holes[:, None], filled.to(images.dtype), images)  # kept pixels stay bit-identical
