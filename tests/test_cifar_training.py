"""Short training budgets on the real CIFAR-10 copy beat trivial baselines by a clear margin."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inpaintzoo.data.masks import fill_hole
from inpaintzoo.engine.trainer import train
from inpaintzoo.metrics import hole_mse
from inpaintzoo.runs import load_run


@pytest.mark.slow
def test_strided_l2_beats_mean_colour_fill(cifar_root: Path, tmp_path: Path) -> None:
    run_dir = train(
        [
            "data=cifar10",
            f"data.root={cifar_root}",
            "encoder=strided",
            "encoder.width=16",
            "encoder.bottleneck=0",
            "decoder.width=32",
            "loss=l2",
            "model.overlap_weight=1",
            "train.lr=1e-3",
            "train.limit=20000",
            "train.max_steps=300",
            "train.val_fraction=0.02",
            "train.grid_every=0",
            f"train.out={tmp_path}",
            "train.name=l2",
        ]
    )
    run = load_run(run_dir, checkpoint="last", device="cpu")
    metrics, _ = run.evaluate("test")
    truth = run.registry.build("dataset", "cifar10", split="test", root=str(cifar_root)).images.float() / 255
    mask = run.mask(len(truth))
    mean_fill = hole_mse(fill_hole(truth, mask, "mean"), truth, mask)
    print(f"hole MSE {metrics['hole_mse']:.0f} vs mean-colour fill {mean_fill:.0f}")
    assert metrics["images"] == 1000
    assert metrics["hole_mse"] < 0.5 * mean_fill, (metrics["hole_mse"], mean_fill)
    assert torch.isfinite(torch.tensor(metrics["ssim"]))
