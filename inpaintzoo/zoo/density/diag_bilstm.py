"""PixelRNN's Diagonal BiLSTM: LSTMs that sweep the image along diagonals, in two directions.

Skewing row `i` right by `i` turns each anti-diagonal into a column, so a 2x1 column convolution over the
previous skewed column gives the state at `(i, j)` from `(i-1, j)` and `(i, j-1)`; the cell state comes
from `(i, j-1)`. The left-to-right direction thus sees the quadrant above-left of `(i, j)`. Its
input-to-state convolution is 1x2: the left neighbour in full, the pixel itself masked A/B by colour group
(a 1x1 mask would lose the left neighbour's last colour, which no unit of that pixel may carry). The
right-to-left direction (same on the mirrored map) sees above-right and the rest of its own row, so its
map is shifted down one row before the two are added: the sum is causal and, from the second layer on,
covers the whole context. Layers after the first are residual.

For inpainting, rows above the hole are computed in one pass; each hole row then advances left to
right pixel by pixel (left-to-right direction), and once it is complete its right-to-left states are
swept, carrying both directions' previous-row states down.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.lstm_cell import lstm_cell
from inpaintzoo.ops.pixelcnn_fill import LEVELS
from inpaintzoo.zoo.density.base import Decoder, DensityModel, check_images, hole_pixels, subpixel_targets
from inpaintzoo.zoo.density.fast import head_nll, rows, use_reference
from inpaintzoo.zoo.density.masked import MaskedConv2d
from inpaintzoo.zoo.density.row_lstm import density_head


def skew(x: torch.Tensor) -> torch.Tensor:
    """`(B, C, H, W)` -> `(B, C, H, W + H - 1)` with row `i` starting at column `i` (zeros elsewhere)."""
    height, width = x.shape[-2:]
    out = x.new_zeros(*x.shape[:-1], width + height - 1)
    for i in range(height):
        out[..., i, i : i + width] = x[..., i, :]
    return out


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of `skew`."""
    return torch.stack([x[..., i, i : i + width] for i in range(x.shape[-2])], dim=-2)


def diagonal_lstm(gates_in: torch.Tensor, w_state: torch.Tensor) -> torch.Tensor:
    """Hidden map `(B, H_hidden, H, W)` of a left-to-right diagonal LSTM over input gates `(B, 4 H_hidden, H, W)`.

    `w_state` `(4 H_hidden, H_hidden, 2)`: tap 0 reads the state above, tap 1 the state to the left.
    Skewed positions left of the image get zero gates from zero states, so they stay exactly zero.
    """
    batch, _, height, width = gates_in.shape
    hidden = w_state.shape[1]
    skewed = skew(gates_in)
    h = gates_in.new_zeros(batch, hidden, height)
    c = gates_in.new_zeros(batch, height, hidden)
    columns = []
    for k in range(skewed.shape[-1]):
        gates = skewed[..., k] + F.conv1d(F.pad(h, (1, 0)), w_state)
        h_last, c = lstm_cell(gates.transpose(1, 2), c)
        h = h_last.transpose(1, 2)
        columns.append(h)
    return unskew(torch.stack(columns, dim=-1), width)


def skew_rows(x: torch.Tensor) -> torch.Tensor:
    """`skew` for channels-last maps: `(B, H, W, C)` -> `(B, H, W + H - 1, C)`, row `i` moved `i` columns right.

    Rows padded to `W + H` columns, read back `W + H - 1` at a time: one copy, and one slice in the backward."""
    batch, height, width, channels = x.shape
    flat = F.pad(x, (0, 0, 0, height)).reshape(batch, height * (width + height), channels)
    return flat[:, : height * (width + height - 1)].reshape(batch, height, width + height - 1, channels)


def unskew_rows(x: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of `skew_rows`: rows read back one column longer, so row `i` starts at column 0 again."""
    batch, height, skewed, channels = x.shape
    flat = F.pad(x.reshape(batch, height * skewed, channels), (0, 0, 0, height))
    return flat.view(batch, height, skewed + 1, channels)[:, :, :width]


def diagonal_lstm_rows(gates_in: torch.Tensor, w_state: torch.Tensor) -> torch.Tensor:
    """`diagonal_lstm` on channels-last input gates `(B, H, W, 4 hidden)`: the hidden map `(B, H, W, hidden)`.

    The training path's form: a column's gates are a strided `(B * H, 4 hidden)` matrix of the skewed map, taken
    with one `unbind` (its backward stacks the columns' gradients once, where indexing a column per step made a
    gradient the size of the whole map per column), and the 2-tap state convolution is one GEMM a column.
    """
    batch, height, width, _ = gates_in.shape
    hidden = w_state.shape[1]
    weight = torch.cat([w_state[:, :, 0], w_state[:, :, 1]], dim=1)  # [state above | state here] -> gates
    h = gates_in.new_zeros(batch, height, hidden, dtype=torch.float32)
    c = torch.zeros_like(h)
    columns = []
    for gates_k in skew_rows(gates_in).unbind(2):
        state = torch.cat([F.pad(h, (0, 0, 1, 0))[:, :-1], h], dim=-1).reshape(-1, 2 * hidden)
        gates = torch.addmm(gates_k.reshape(-1, 4 * hidden), state, weight.t())
        h, c = lstm_cell(gates.view(batch, height, 4 * hidden), c)
        columns.append(h)
    return unskew_rows(torch.stack(columns, dim=2), width)


class DiagonalBiLSTM(DensityModel):
    """PixelRNN Diagonal BiLSTM: skewed 2x1 column LSTMs, the right-to-left one shifted down a row."""

    def __init__(self, image_size: int, hidden: int = 64, layers: int = 2) -> None:
        super().__init__(image_size)
        if hidden < 3:
            raise UsageError(f"diag-bilstm hidden must be >= 3 (R|G|B groups), got {hidden}")
        if layers < 1:
            raise UsageError(f"diag-bilstm needs at least one layer, got {layers}")
        self.hidden = hidden
        channels = [3] + [hidden] * (layers - 1)
        self.lr_input = nn.ModuleList(
            MaskedConv2d(c, 4 * hidden, (1, 2), "A" if n == 0 else "B", centre=(0, 1), out_parts=4)
            for n, c in enumerate(channels)
        )
        # The right-to-left map is shifted a row down, so it may see every colour of its own row.
        self.rl_input = nn.ModuleList(nn.Conv2d(c, 4 * hidden, 1) for c in channels)
        self.lr_state = nn.ParameterList(nn.Parameter(self._state_init()) for _ in channels)
        self.rl_state = nn.ParameterList(nn.Parameter(self._state_init()) for _ in channels)
        self.head = density_head(hidden)

    def _state_init(self) -> torch.Tensor:
        bound = (2 * self.hidden) ** -0.5
        return torch.empty(4 * self.hidden, self.hidden, 2).uniform_(-bound, bound)

    def _layers(self, images: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Final features `(B, hidden, H, W)` and each layer's (left-to-right, unshifted right-to-left) maps."""
        inputs, maps = images, []
        for n in range(len(self.lr_input)):
            lr = diagonal_lstm(self.lr_input[n](F.pad(inputs, (1, 0))), self.lr_state[n])
            rl = diagonal_lstm(self.rl_input[n](inputs).flip(-1), self.rl_state[n]).flip(-1)
            maps.append((lr, rl))
            inputs = lr + F.pad(rl, (0, 0, 1, 0))[:, :, :-1] + (inputs if n > 0 else 0)
        return inputs, maps

    def _layers_rows(self, images: torch.Tensor) -> torch.Tensor:
        """`_layers`' final features as a channels-last map `(B, H, W, hidden)`: the 1x2 and 1x1 input
        convolutions as GEMMs over pixel rows, the recurrences as `diagonal_lstm_rows`."""
        inputs = images.permute(0, 2, 3, 1)
        for n in range(len(self.lr_input)):
            weight = self.lr_input[n].masked_weight()  # (4 hidden, C, 1, 2): taps [left, here]
            left = F.pad(inputs, (0, 0, 1, 0))[:, :, :-1]
            gates = F.linear(inputs, weight[:, :, 0, 1], self.lr_input[n].bias) + F.linear(left, weight[:, :, 0, 0])
            lr = diagonal_lstm_rows(gates, self.lr_state[n])
            conv = self.rl_input[n]
            gates = F.linear(inputs, conv.weight[:, :, 0, 0], conv.bias).flip(2)
            rl = diagonal_lstm_rows(gates, self.rl_state[n]).flip(2)
            inputs = lr + F.pad(rl, (0, 0, 0, 0, 1, 0))[:, :-1] + (inputs if n > 0 else 0)
        return inputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        batch, _, height, width = images.shape
        features, _ = self._layers(images)
        return self.head(features).view(batch, 3, LEVELS, height, width)

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """As every density model's, with the head over pixel rows and its output layer fused into the loss."""
        if use_reference():
            return super().nll(images)
        check_images(images)
        features = self._layers_rows(images)
        losses = head_nll(self.head, features.reshape(-1, self.hidden), rows(subpixel_targets(images)), LEVELS)
        return losses.view(images.shape[0], -1).sum(dim=1)

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        filled = images.clone().masked_fill(holes[:, None], 0.0)
        pixels = hole_pixels(holes)
        if not pixels:
            return filled
        first, last = pixels[0][0], pixels[-1][0]
        batch, _, _, width = images.shape
        zeros = images.new_zeros(batch, width, self.hidden)
        # Per layer: hidden states of the row above, (B, W, hidden), for each direction.
        lr_above, rl_above = [zeros] * len(self.lr_input), [zeros] * len(self.lr_input)
        if first > 0:
            _, maps = self._layers(filled[:, :, :first])
            lr_above = [lr[:, :, -1].transpose(1, 2) for lr, _ in maps]
            rl_above = [rl[:, :, -1].transpose(1, 2) for _, rl in maps]
        in_hole = holes.any(dim=0).tolist()
        for i in range(first, last + 1):
            lr_above, features = self._fill_row_left_to_right(filled, holes, i, in_hole[i], lr_above, rl_above, decode)
            rl_above = self._row_right_to_left(filled[:, :, i], features, rl_above)
        return filled

    def _fill_row_left_to_right(
        self,
        filled: torch.Tensor,
        holes: torch.Tensor,
        i: int,
        in_hole: list[bool],
        lr_above: list[torch.Tensor],
        rl_above: list[torch.Tensor],
        decode: Decoder,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Advance row `i` pixel by pixel, decoding hole sub-pixels; returns its left-to-right states and
        every layer's combined output `(B, hidden, W)` (the inputs of the next layer)."""
        row = filled[:, :, i]  # a view: decoded values show up in it
        batch, width = row.shape[0], row.shape[-1]
        layers = range(len(self.lr_input))
        w_here = [self.lr_input[n].masked_weight()[:, :, 0, 1].t() for n in layers]
        w_left_in = [self.lr_input[n].masked_weight()[:, :, 0, 0].t() for n in layers]
        b_in = [self.lr_input[n].bias for n in layers]
        w_up = [self.lr_state[n][:, :, 0] for n in layers]
        w_left = [self.lr_state[n][:, :, 1] for n in layers]
        from_above = [lr_above[n] @ w_up[n].t() for n in layers]  # (B, W, 4 hidden)
        h_row = [row.new_zeros(batch, width, self.hidden) for _ in layers]
        c_row = [row.new_zeros(batch, width, self.hidden) for _ in layers]
        features = [row.new_zeros(batch, self.hidden, width) for _ in layers]
        no_state = row.new_zeros(batch, self.hidden)
        for j in range(width):
            for c in range(3 if in_hole[j] else 1):
                inputs = row[:, :, j]
                for n in layers:
                    gates = torch.addmm(b_in[n], inputs, w_here[n]) + from_above[n][:, j]
                    c_left = no_state
                    if j > 0:
                        left_inputs = row[:, :, j - 1] if n == 0 else features[n - 1][:, :, j - 1]
                        gates = gates + left_inputs @ w_left_in[n] + h_row[n][:, j - 1] @ w_left[n].t()
                        c_left = c_row[n][:, j - 1]
                    h, cell = lstm_cell(gates, c_left)
                    h_row[n][:, j], c_row[n][:, j] = h, cell
                    combined = h + rl_above[n][:, j] + (inputs if n > 0 else 0)
                    features[n][:, :, j] = combined
                    inputs = combined
                if in_hole[j]:
                    logits = self.head(inputs[:, :, None, None]).view(-1, 3, LEVELS)[:, c]
                    here = holes[:, i, j]
                    row[:, c, j] = torch.where(here, decode(logits).to(row.dtype), row[:, c, j])
        return h_row, features

    def _row_right_to_left(
        self, pixels: torch.Tensor, features: list[torch.Tensor], rl_above: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Right-to-left hidden states `(B, W, hidden)` of a completed row, for every layer."""
        batch, width = pixels.shape[0], pixels.shape[-1]
        states = []
        for n in range(len(self.rl_input)):
            inputs = pixels if n == 0 else features[n - 1]  # (B, C, W)
            conv = self.rl_input[n]
            gates_in = torch.einsum("oc,bcw->bwo", conv.weight[:, :, 0, 0], inputs) + conv.bias
            gates_in = gates_in + rl_above[n] @ self.rl_state[n][:, :, 0].t()
            w_right = self.rl_state[n][:, :, 1].t()
            h_row = pixels.new_zeros(batch, width, self.hidden)
            h = c = pixels.new_zeros(batch, self.hidden)
            for j in reversed(range(width)):
                h, c = lstm_cell(gates_in[:, j] + h @ w_right, c)
                h_row[:, j] = h
            states.append(h_row)
        return states
