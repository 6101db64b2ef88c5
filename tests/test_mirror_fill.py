"""`mirror`: a density fill averaged with the fill of the left-right mirror image, in Python and from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import run_cli

from inpaintzoo.errors import UsageError
from inpaintzoo.runs import load_run
from inpaintzoo.zoo.density.gated_pixelcnn import GatedPixelCNN
from inpaintzoo.zoo.density.pixelcnn import PixelCNN

pytestmark = pytest.mark.usefixtures("one_thread")


def off_centre_hole(batch: int, size: int = 8) -> torch.Tensor:
    """A hole that is not symmetric left to right: the mirror image's hole is another place."""
    mask = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    mask[..., 2:5, 1:3] = True
    return mask


@pytest.mark.parametrize("mode", ["greedy", "mean"])
def test_mirror_is_the_average_of_the_fill_and_the_mirror_images_fill(mode: str) -> None:
    torch.manual_seed(0)
    model = PixelCNN(image_size=8, width=12, depth=1)
    with torch.no_grad():  # strong weights: an initial model's near-uniform softmax has the same mean anywhere
        for p in model.parameters():
            p.normal_(0, 0.5)
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    mask = off_centre_hole(3)
    plain = model.fill(images, mask, mode=mode)
    flipped = model.fill(images.flip(-1), mask.flip(-1), mode=mode).flip(-1)
    both = model.fill(images, mask, mode=mode, mirror=True)
    torch.testing.assert_close(both, (plain + flipped) / 2, rtol=0, atol=1e-6)
    keep = ~mask.expand_as(images)
    assert torch.equal(both[keep], images[keep])  # the context is the input's, exactly
    assert not torch.equal(plain, flipped)  # the two orders read different context: two estimates


def test_mirror_posterior_mean_reports_the_two_fills_mean_ess() -> None:
    torch.manual_seed(0)
    model = GatedPixelCNN(image_size=8, width=12, layers=2, kernel=3, first_kernel=3)
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    mask = off_centre_hole(2)
    both = model.fill(images, mask, mode="posterior-mean", k=4, generator=torch.Generator().manual_seed(3), mirror=True)
    ess_both = model.last_ess
    assert ess_both is not None and ess_both.shape == (2,)
    assert bool(((ess_both >= 1) & (ess_both <= 4)).all())
    g = torch.Generator().manual_seed(3)  # the same draws in the same order: first the image, then its mirror
    plain = model.fill(images, mask, mode="posterior-mean", k=4, generator=g)
    ess_plain = model.last_ess
    flipped = model.fill(images.flip(-1), mask.flip(-1), mode="posterior-mean", k=4, generator=g).flip(-1)
    assert ess_plain is not None and model.last_ess is not None
    torch.testing.assert_close(both, (plain + flipped) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(ess_both, (ess_plain + model.last_ess) / 2)


@pytest.mark.parametrize("mode", ["sample", "best-of-k"])
def test_mirror_refuses_modes_whose_fills_cannot_be_averaged(mode: str) -> None:
    model = PixelCNN(image_size=8, width=12, depth=1)
    with pytest.raises(UsageError, match="mirror averages two fills"):
        model.fill(torch.rand(1, 3, 8, 8), off_centre_hole(1), mode=mode, mirror=True)


def test_run_inpaint_and_eval_take_mirror(tiny_density_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run(tiny_density_run)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = run.mask(2)
    plain, both = run.inpaint(images, mask, mode="mean"), run.inpaint(images, mask, mode="mean", mirror=True)
    keep = ~mask.expand_as(images)
    assert torch.equal(both[keep], images[keep]) and not torch.equal(both, plain)

    code, _, err = run_cli(capsys, "eval", str(tiny_density_run), "--limit", "8", "--mode", "mean", "--mirror")
    assert code == 0, err
    report = json.loads((tiny_density_run / "eval-test-mean-mirror.json").read_text())
    assert report["mode"] == "mean" and report["mirror"] is True and report["images"] == 8

    code, _, err = run_cli(capsys, "eval", str(tiny_density_run), "--limit", "4", "--mode", "sample", "--mirror",
                           "--out", str(tiny_density_run / "never"))
    assert code == 2 and "mirror averages two fills" in err and "Traceback" not in err
    assert not (tiny_density_run / "never.json").exists()
