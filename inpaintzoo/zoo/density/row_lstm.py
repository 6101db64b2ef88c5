"""PixelRNN's Row LSTM: an LSTM that advances one image row at a time, all columns of a row in parallel.

Gates of row `i` at column `j` = a masked 1x3 input-to-state convolution over columns `j-1, j` of the
layer's input in row `i` (mask A on the image, B on hidden maps; column `j+1` is masked out) plus a 1x3
state-to-state convolution over the previous row's hidden state, columns `j-1..j+1`. The cell state
flows down each column, so the receptive field above is a widening triangle. Layers after the first are
residual; a 1x1 masked head gives the logits. Training runs layer by layer (`ops.row_lstm` carries one
layer's recurrence down the image); for inpainting, the rows above the hole run in parallel
as in training, and the hole's rows advance column by column, carrying the previous row's state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.errors import UsageError
from inpaintzoo.ops.lstm_cell import lstm_cell
from inpaintzoo.ops.pixelcnn_fill import LEVELS
from inpaintzoo.ops.row_lstm import row_lstm
from inpaintzoo.zoo.density.base import Decoder, DensityModel, check_images, hole_pixels, subpixel_targets
from inpaintzoo.zoo.density.fast import head_nll, use_reference
from inpaintzoo.zoo.density.masked import MaskedConv2d

RowState = tuple[torch.Tensor, torch.Tensor]  # h and c of one layer over one row, each (B, W, hidden)
LayerWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # input-to-state (4H, C, 3) + bias, state (4H, H, 3)


def density_head(width: int) -> nn.Sequential:
    """ReLU, 1x1 mask B, ReLU, 1x1 mask B to 3 x 256 logits: the PixelRNN output stack."""
    return nn.Sequential(
        nn.ReLU(), MaskedConv2d(width, width, 1, "B"), nn.ReLU(), MaskedConv2d(width, 3 * LEVELS, 1, "B")
    )


class RowLSTM(DensityModel):
    """PixelRNN Row LSTM: row-by-row LSTM, masked 1x3 input and state convolutions, triangular field."""

    def __init__(self, image_size: int, hidden: int = 64, layers: int = 3) -> None:
        super().__init__(image_size)
        if hidden < 3:
            raise UsageError(f"row-lstm hidden must be >= 3 (R|G|B groups), got {hidden}")
        if layers < 1:
            raise UsageError(f"row-lstm needs at least one layer, got {layers}")
        self.hidden = hidden
        self.input_to_state = nn.ModuleList(
            MaskedConv2d(3 if n == 0 else hidden, 4 * hidden, (1, 3), "A" if n == 0 else "B", out_parts=4)
            for n in range(layers)
        )
        self.state_to_state = nn.ModuleList(nn.Conv1d(hidden, 4 * hidden, 3, bias=False) for _ in range(layers))
        self.head = density_head(hidden)

    def _weights(self) -> list[LayerWeights]:
        return [
            (conv.masked_weight()[:, :, 0, :], conv.bias, state.weight)
            for conv, state in zip(self.input_to_state, self.state_to_state)
        ]

    def _step(self, weights: LayerWeights, inputs: torch.Tensor, above: RowState, start: int, stop: int) -> RowState:
        """h, c of one layer at columns `start:stop` of a row, from that row's inputs `(B, C, W)` and the row above."""
        w_in, b_in, w_state = weights
        h_above, c_above = above
        gates = F.conv1d(F.pad(inputs, (1, 1))[:, :, start : stop + 2], w_in, b_in)
        gates = gates + F.conv1d(F.pad(h_above.transpose(1, 2), (1, 1))[:, :, start : stop + 2], w_state)
        return lstm_cell(gates.transpose(1, 2), c_above[:, start:stop])

    def _row(
        self, weights: list[LayerWeights], pixels: torch.Tensor, states: list[RowState]
    ) -> tuple[torch.Tensor, list[RowState]]:
        """Advance every layer by one whole row: features `(B, hidden, W)` and the new row states."""
        inputs, new_states = pixels, []
        for n, layer in enumerate(weights):
            h, c = self._step(layer, inputs, states[n], 0, pixels.shape[-1])
            new_states.append((h, c))
            inputs = h.transpose(1, 2) + (inputs if n > 0 else 0)
        return inputs, new_states

    def _initial_states(self, like: torch.Tensor) -> list[RowState]:
        zeros = like.new_zeros(like.shape[0], like.shape[-1], self.hidden)
        return [(zeros, zeros) for _ in self.input_to_state]

    def rows_first_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits `(H, B, W, 3, 256)`, computed layer by layer in the layout the recurrence runs in.

        Rows first, channels last: every row is one contiguous matrix for `ops.row_lstm` (one compiled call a
        layer when the extension is built), and the masked 1x3 input convolution and the 1x1 head are plain
        matrix products over the last dimension, with no transposed copies between them.
        """
        x = self.rows_first_features(images)
        for layer in self.head:
            if isinstance(layer, MaskedConv2d):  # a 1x1 convolution is a product over channels
                x = F.linear(x, layer.masked_weight()[:, :, 0, 0], layer.bias)
            else:
                x = layer(x)
        return x.unflatten(-1, (3, LEVELS))

    def rows_first_features(self, images: torch.Tensor) -> torch.Tensor:
        """The last layer's features `(H, B, W, hidden)`, before the head."""
        check_images(images)
        x = images.permute(2, 0, 3, 1)  # (H, B, W, 3)
        for n, (conv, state) in enumerate(zip(self.input_to_state, self.state_to_state)):
            # the tap right of the pixel is masked to zero: columns j-1 and j, as one product over both
            taps = conv.masked_weight()[:, :, 0, :2]
            left = F.pad(x[:, :, :-1], (0, 0, 1, 0))  # column j holds column j-1; zeros at column 0
            gates = F.linear(torch.cat([left, x], dim=-1), torch.cat([taps[..., 0], taps[..., 1]], dim=1), conv.bias)
            h, _ = row_lstm(gates, state.weight)
            x = h + x if n > 0 else h
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.rows_first_logits(images).permute(1, 3, 4, 0, 2)  # (B, 3, 256, H, W), a view

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """As every density model's, with the head's output layer fused into its cross-entropy (no logits kept).

        The reference path: the full logits, the 256 levels contiguous, one flat cross-entropy.
        """
        targets = subpixel_targets(images).permute(2, 0, 3, 1)  # (H, B, W, 3), like the features
        if use_reference():
            logits = self.rows_first_logits(images)
            losses = F.cross_entropy(logits.reshape(-1, LEVELS), targets.reshape(-1), reduction="none")
        else:
            features = self.rows_first_features(images)
            losses = head_nll(self.head, features.reshape(-1, self.hidden), targets.reshape(-1, 3), LEVELS)
        return losses.view(targets.shape).sum(dim=(0, 2, 3))

    def fill_fast(self, images: torch.Tensor, holes: torch.Tensor, decode: Decoder) -> torch.Tensor:
        filled = images.clone().masked_fill(holes[:, None], 0.0)
        pixels = hole_pixels(holes)
        if not pixels:
            return filled
        weights, states = self._weights(), self._initial_states(images)
        first, last = pixels[0][0], pixels[-1][0]
        for i in range(first):
            _, states = self._row(weights, filled[:, :, i], states)
        in_hole = holes.any(dim=0).tolist()
        for i in range(first, last + 1):
            states = self._fill_row(weights, filled, holes, i, in_hole[i], states, decode)
        return filled

    def _fill_row(
        self,
        weights: list[LayerWeights],
        filled: torch.Tensor,
        holes: torch.Tensor,
        i: int,
        in_hole: list[bool],
        above: list[RowState],
        decode: Decoder,
    ) -> list[RowState]:
        """Advance row `i` column by column, decoding the hole's sub-pixels in place; returns its states."""
        width = filled.shape[-1]
        row = filled[:, :, i]  # a view: decoded values show up in it
        features = [row.new_zeros(row.shape[0], self.hidden, width) for _ in weights]
        h_row = [torch.zeros_like(h) for h, _ in above]
        c_row = [torch.zeros_like(c) for _, c in above]
        for j in range(width):
            for c in range(3 if in_hole[j] else 1):
                inputs = row
                for n, layer in enumerate(weights):
                    h, cell = self._step(layer, inputs, above[n], j, j + 1)
                    h_row[n][:, j], c_row[n][:, j] = h[:, 0], cell[:, 0]
                    features[n][:, :, j] = h[:, 0] + (inputs[:, :, j] if n > 0 else 0)
                    inputs = features[n]
                if in_hole[j]:
                    logits = self.head(inputs[:, :, j, None, None]).view(-1, 3, LEVELS)[:, c]
                    here = holes[:, i, j]
                    row[:, c, j] = torch.where(here, decode(logits).to(row.dtype), row[:, c, j])
        return list(zip(h_row, c_row))
