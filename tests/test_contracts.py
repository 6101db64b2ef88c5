"""The contract between the core and plugins: Protocols the builtins satisfy, and old plugins kept working."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from inpaintzoo import hookimpl
from inpaintzoo.classical import ClassicalModel
from inpaintzoo.contracts import Decoding, DensityModel, FillsHoles, SizePolicy, accepted, call_supported
from inpaintzoo.errors import UsageError
from inpaintzoo.plugins import load_registry


class OldDensity(nn.Module):
    """A density model written to the plugin guide before posterior-mean, tau, window and mirror existed."""

    def __init__(self, image_size: int, width: int = 4) -> None:
        super().__init__()
        self.level = nn.Parameter(torch.zeros(3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.level.view(1, 3, 1, 1).expand_as(images)

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.level.view(1, 3, 1, 1)).pow(2).flatten(1).sum(1)

    def fill(self, images, mask, mode="greedy", temperature=1.0, generator=None, k=1):  # noqa: ANN001, ANN201
        if mode not in ("greedy", "sample", "mean"):
            raise ValueError(f"old plugin: no mode {mode}")
        guess = self.level.detach().clamp(0, 1).view(1, 3, 1, 1).expand_as(images)
        return torch.where(mask.expand_as(images), guess, images)


class OldPlugin:
    @hookimpl
    def inpaintzoo_register(self, registry) -> None:  # noqa: ANN001
        registry.register("density", "old-density", OldDensity, summary="an old plugin")


@pytest.fixture(scope="module")
def old_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from inpaintzoo.engine.trainer import train

    registry = load_registry(extra_plugins=[OldPlugin()])
    out = tmp_path_factory.mktemp("runs")
    overrides = ["density=old-density", "mask=center", "data=samples", "train.max_steps=2", "train.batch_size=8",
                 "train.bn_batches=0", "train.grid_every=0", f"train.out={out}", "train.name=old"]
    return train(overrides, registry=registry), registry


def test_an_old_plugin_fills_with_the_options_it_knows(old_run) -> None:
    from inpaintzoo.runs import load_run

    run_dir, registry = old_run
    run = load_run(run_dir, device="cpu", registry=registry)
    metrics, _ = run.evaluate("test", limit=8, mode="mean")  # what crashed with "unexpected keyword 'tau'"
    assert metrics["images"] == 8
    images, mask = torch.rand(2, 3, 32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[..., 12:20, 12:20] = True
    out = run.inpaint(images, mask, mode="greedy")
    assert torch.equal(out[~mask.expand_as(out)], images[~mask.expand_as(images)])


def test_an_old_plugin_asked_for_what_it_lacks_says_so_in_one_line(old_run) -> None:
    from inpaintzoo.runs import load_run

    run_dir, registry = old_run
    run = load_run(run_dir, device="cpu", registry=registry)
    images, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[..., 12:20, 12:20] = True
    with pytest.raises(UsageError, match=r"'old-density' \(from OldPlugin\) does not take tau=0.5") as caught:
        run.inpaint(images, mask, mode="mean", tau=0.5)
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="does not take mirror=True"):
        run.inpaint(images, mask, mode="mean", mirror=True)


def test_the_page_serves_an_old_plugin(old_run) -> None:
    from inpaintzoo.runs import load_run
    from inpaintzoo.web.models import ServedModel

    run_dir, registry = old_run
    served = ServedModel("old", "run", load_run(run_dir, device="cpu", registry=registry))
    assert served.is_density and "mean" in served.modes
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[12:20, 12:20] = True
    assert served.cannot_serve(mask) is None


def test_call_supported_passes_only_what_a_method_takes() -> None:
    seen = {}

    def old(images, mask, mode="greedy", k=1):  # noqa: ANN001, ANN202
        seen.update(mode=mode, k=k)
        return images

    def new(images, mask, **options):  # noqa: ANN001, ANN202
        seen.update(options)
        return images

    assert accepted(old) == {"images", "mask", "mode", "k"} and accepted(new) is None
    call_supported(old, 1, 2, owner="x", **Decoding(mode="mean", k=3).options())
    assert seen == {"mode": "mean", "k": 3}
    call_supported(new, 1, 2, owner="x", **Decoding(tau=0.3).options())
    assert seen["tau"] == 0.3 and seen["window"] is None
    with pytest.raises(UsageError, match="x does not take window=5"):
        call_supported(old, 1, 2, owner="x", **Decoding(window=5).options())


def test_builtins_satisfy_the_protocols() -> None:
    import inpaintzoo

    registry = inpaintzoo.default_registry()
    density = registry.build("density", "pixelcnn", image_size=8, width=9, depth=1)
    assert isinstance(density, DensityModel)
    unet = inpaintzoo.pretrained("unet.freeform", device="cpu")
    assert isinstance(unet, FillsHoles) and isinstance(unet.model, SizePolicy)
    assert unet.model.size_multiple is None  # a 32x32 model: one size
    assert isinstance(ClassicalModel("telea"), FillsHoles)


def test_the_plugin_guide_shows_the_protocols_the_code_defines() -> None:
    """docs/plugins.md quotes `Objective` and `DensityModel` from contracts.py: an edit to either shows up there."""
    import inspect
    from pathlib import Path

    from inpaintzoo import contracts

    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    for protocol in (contracts.Objective, contracts.DensityModel):
        assert inspect.getsource(protocol).strip() in guide, f"docs/plugins.md no longer shows {protocol.__name__}"


def test_every_family_and_objective_meets_its_protocol() -> None:
    from inpaintzoo import contracts
    from inpaintzoo.families import FAMILIES, Likelihood
    from inpaintzoo.zoo.losses import GAN, L2, WGAN, WGANGP

    assert set(FAMILIES) == {"context-encoder", "density"}
    assert all(isinstance(family, contracts.ModelFamily) for family in FAMILIES.values())
    for objective in (L2(), GAN(), WGAN(), WGANGP(), Likelihood()):
        assert isinstance(objective, contracts.Objective), type(objective).__name__


def test_no_module_outside_the_family_adapters_branches_on_the_family() -> None:
    """The families are told apart in `inpaintzoo/families.py` only: nothing else reads the config's task to decide."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "inpaintzoo"
    pattern = re.compile(r"""\.is_density\b|\[["']task["']\]\s*==|get\(["']task["']\)\s*==""")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if path.name != "families.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_a_card_s_decoding_applies_to_its_own_mode_and_given_options_win() -> None:
    """One rule for the CLI and the page (`decoding.for_mode`): a card's K, tau and mirror suit its mode only."""
    from inpaintzoo.contracts import Decoding
    from inpaintzoo.decoding import for_mode

    card = Decoding(mode="posterior-mean", k=16, tau=0.1, mirror=True)
    assert for_mode(card, None) == card and for_mode(card, "posterior-mean") == card
    assert for_mode(card, "mean") == Decoding(mode="mean")
    given = for_mode(card, "posterior-mean", k=4, seed=3)
    assert given == Decoding("posterior-mean", k=4, tau=0.1, mirror=True, seed=3)
    assert for_mode(None, "sample", temperature=0.5) == Decoding(mode="sample", temperature=0.5)
