"""The study's Flattened Row LSTM: one LSTM over the 3HW sub-pixels read as a single sequence.

Step `t` reads the previous sub-pixel's level (a start token at `t = 0`) and predicts sub-pixel `t`
(raster order, R -> G -> B inside a pixel), so the model is causal by construction. The input is the
256-way one-hot of that level; multiplying a one-hot by the input-to-state matrix is a row lookup, so
it is an `nn.Embedding` of size `257 x 4 hidden` rather than a dense matmul. Inpainting carries
the state along the sequence once, instead of re-running it for every sub-pixel.

Training (`nll`) runs the sequence step-major: the input gates `(3HW, B, 4 hidden)` taken apart with one
`unbind` (indexing a step per iteration made a gradient the size of the whole sequence per step: minutes a
batch), one `addmm` a step for the state, and the 256-way head fused into its cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.lstm_cell import lstm_cell
from inpaintzoo.ops.pixelcnn_fill import LEVELS
from inpaintzoo.zoo.density.base import Decoder, DensityModel, check_images, hole_pixels, subpixel_targets
from inpaintzoo.zoo.density.fast import linear_cross_entropy, use_reference

START = LEVELS  # the token before the first sub-pixel


class FlatLSTM(DensityModel):
    """The study's Flattened Row LSTM: one LSTM over the 3HW sub-pixel sequence, embedded previous level."""

    def __init__(self, image_size: int, hidden: int = 64) -> None:
        super().__init__(image_size)
        if hidden < 1:
            raise UsageError(f"flat-lstm hidden must be positive, got {hidden}")
        self.hidden = hidden
        self.input_to_state = nn.Embedding(LEVELS + 1, 4 * hidden)
        nn.init.uniform_(self.input_to_state.weight, -(LEVELS**-0.5), LEVELS**-0.5)  # as a Linear(256, 4h)
        self.state_to_state = nn.Linear(hidden, 4 * hidden)
        self.head = nn.Linear(hidden, LEVELS)

    def _step(self, token: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        return lstm_cell(self.input_to_state(token) + self.state_to_state(h), c)

    def _initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(like.shape[0], self.hidden)
        return zeros, zeros

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        batch, _, height, width = images.shape
        levels = subpixel_targets(images).permute(0, 2, 3, 1).reshape(batch, -1)  # (B, 3HW) in sequence order
        tokens = torch.cat([levels.new_full((batch, 1), START), levels[:, :-1]], dim=1)
        gates_in = self.input_to_state(tokens)  # every step's input gates in one lookup
        h, c = self._initial_state(images)
        outputs = []
        for t in range(tokens.shape[1]):
            h, c = lstm_cell(gates_in[:, t] + self.state_to_state(h), c)
            outputs.append(h)
        logits = self.head(torch.stack(outputs, dim=1))  # (B, 3HW, 256)
        return logits.view(batch, height, width, 3, LEVELS).permute(0, 3, 4, 1, 2)

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """As every density model's; the reference path is `forward` and a cross-entropy over its logits."""
        if use_reference():
            return super().nll(images)
        check_images(images)
        batch = images.shape[0]
        levels = subpixel_targets(images).permute(2, 3, 1, 0).reshape(-1, batch)  # (3HW, B), sequence order
        tokens = torch.cat([levels.new_full((1, batch), START), levels[:-1]])
        gates_in = self.input_to_state(tokens) + self.state_to_state.bias  # (3HW, B, 4 hidden)
        weight = self.state_to_state.weight
        h, c = self._initial_state(images)
        outputs = []
        for gates_t in gates_in.unbind(0):
            h, c = lstm_cell(torch.addmm(gates_t, h, weight.t()), c)
            outputs.append(h)
        features = torch.stack(outputs).view(-1, self.hidden)  # (3HW * B, hidden)
        losses = linear_cross_entropy(features, self.head.weight, self.head.bias, levels.reshape(-1, 1), LEVELS)
        return losses.view(-1, batch).sum(dim=0)

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        filled = images.clone().masked_fill(holes[:, None], 0.0)
        pixels = hole_pixels(holes)
        if not pixels:
            return filled
        batch, _, _, width = images.shape
        in_hole = set(pixels)
        last = pixels[-1][0] * width + pixels[-1][1]
        state = self._initial_state(images)
        token = torch.full((batch,), START, dtype=torch.long, device=images.device)
        for p in range(last + 1):
            i, j = divmod(p, width)
            here = holes[:, i, j]
            for c in range(3):
                state = self._step(token, state)
                if (i, j) in in_hole:
                    values = decode(self.head(state[0]))
                    filled[:, c, i, j] = torch.where(here, values.to(filled.dtype), filled[:, c, i, j])
                token = subpixel_targets(filled[:, c, i, j])
        return filled
