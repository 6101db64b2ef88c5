"""The example third-party plugin in plugins/ installs with pip and works through the entry point only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "inpaintzoo-hourglass"

TRAIN_ONE_STEP = """
import json, sys, torch
import inpaintzoo
from inpaintzoo.engine.trainer import train
run = train(["data=samples", "encoder=hourglass", "decoder=pixelshuffle", "disc=patchgan", "loss=gan",
             "train.max_steps=1", "train.limit=40", "train.batch_size=8", "train.val_fraction=0.2",
             "train.out=" + sys.argv[1], "train.name=plugin"])
state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
print(json.dumps({"step": state["step"], "disc": sorted(state["discriminator"])[:1]}))
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the plugin (no network, no dependencies) into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def run_with(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)


def test_plugin_components_are_listed(plugin_site: Path) -> None:
    result = run_with(plugin_site, "-m", "inpaintzoo", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    for key in [("encoder", "hourglass"), ("decoder", "pixelshuffle"), ("discriminator", "patchgan")]:
        assert rows[key]["plugin"] == "hourglass"
    assert {"name": "downsamples", "type": "int", "default": 2, "required": False} in rows[("encoder", "hourglass")][
        "parameters"
    ]


def test_plugin_trains_a_step(plugin_site: Path, tmp_path: Path) -> None:
    result = run_with(plugin_site, "-c", TRAIN_ONE_STEP, str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["step"] == 1 and out["disc"]


def test_plugin_can_be_disabled(plugin_site: Path) -> None:
    result = run_with(plugin_site, "-m", "inpaintzoo", "--disable-plugin", "hourglass", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert not any(r["plugin"] == "hourglass" for r in json.loads(result.stdout))


def test_plugin_pretrained_entry_is_listed_and_used(plugin_site: Path, tmp_path: Path) -> None:
    """The plugin ships `hourglass.samples` as package data; it is listed with its metrics and fills a photo."""
    import numpy as np
    from PIL import Image

    result = run_with(plugin_site, "-m", "inpaintzoo", "models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    entry = rows["hourglass.samples"]
    assert entry["plugin"] == "hourglass" and entry["weights"] == "package"
    assert entry["metrics"]["hole_mse"] > 0 and entry["box"] is None
    image = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    args = ["inpaint", str(tmp_path / "photo.png"), "--box", "10,12,8,6", "--model", "hourglass.samples"]
    result = run_with(plugin_site, "-m", "inpaintzoo", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    hole = np.zeros((40, 50), dtype=bool)
    hole[10:18, 12:18] = True
    assert out.shape == image.shape and np.array_equal(out[~hole], image[~hole])
    assert not np.array_equal(out[hole], image[hole])


# -- the plugin guide's complete example (plugins/inpaintzoo-minimal, shown whole in docs/plugins.md) ----------

MINIMAL = Path(__file__).resolve().parents[1] / "plugins" / "inpaintzoo-minimal"
MINIMAL_FILES = [MINIMAL / "pyproject.toml", MINIMAL / "src" / "inpaintzoo_minimal" / "__init__.py"]
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"

MINIMAL_SCRIPT = """
import json, sys, torch
from inpaintzoo.engine.trainer import train
from inpaintzoo.runs import load_run
common = ["data=samples", "train.max_steps=2", "train.limit=40", "train.batch_size=8", "train.val_fraction=0.2",
          "train.out=" + sys.argv[1]]
gan = train([*common, "encoder=mini", "decoder=mini", "disc=mini", "loss=mini-lsgan", "train.name=gan"])
density = train([*common, "density=mini-histogram", "train.name=density"])
state = torch.load(gan / "checkpoints" / "last.pt", weights_only=True)
run = load_run(density)
images = torch.rand(2, 3, 32, 32)
mask = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
mask[..., 12:20, 12:20] = True
filled = run.inpaint(images, mask, mode="mean")
print(json.dumps({"step": state["step"], "optimizers": sorted(state["optimizers"]),
                  "kept": bool(torch.equal(filled[~mask.expand_as(filled)], images[~mask.expand_as(images)])),
                  "plugins": json.loads((gan / "config.json").read_text())["plugins"]["encoder"]}))
"""


@pytest.fixture(scope="module")
def minimal_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    site = tmp_path_factory.mktemp("minimal-site")
    source = tmp_path_factory.mktemp("minimal-src") / "inpaintzoo-minimal"
    shutil.copytree(MINIMAL, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    subprocess.run(  # built from a copy: the build leaves nothing in the repository's tree
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--target", str(site), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def test_the_guide_shows_the_example_files_whole() -> None:
    guide = GUIDE.read_text()
    for path in MINIMAL_FILES:
        assert path.read_text().strip() in guide, f"docs/plugins.md no longer shows {path.name} as it is"


def test_minimal_plugin_lists_trains_and_fills(minimal_site: Path, tmp_path: Path) -> None:
    listed = run_with(minimal_site, "-m", "inpaintzoo", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    for key in [
        ("encoder", "mini"),
        ("decoder", "mini"),
        ("discriminator", "mini"),
        ("loss", "mini-lsgan"),
        ("density", "mini-histogram"),
    ]:
        assert rows[key]["plugin"] == "minimal" and rows[key]["version"] == "0.1.0", key
    result = run_with(minimal_site, "-c", MINIMAL_SCRIPT, str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["step"] == 2 and out["optimizers"] == ["discriminator", "generator"] and out["kept"]
    assert out["plugins"] == {"kind": "encoder", "name": "mini", "plugin": "minimal", "version": "0.1.0"}


def test_minimal_encoder_pairs_with_every_builtin_decoder() -> None:
    """The guide's size rule: a code the size of the patch suits conv (>= patch), deconv and upconv (<= patch)."""
    import importlib.util

    import torch

    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.build import build_mask
    from inpaintzoo.errors import UsageError
    from inpaintzoo.families import build_models
    from inpaintzoo.plugins import load_registry

    path = MINIMAL / "src" / "inpaintzoo_minimal" / "__init__.py"
    spec = importlib.util.spec_from_file_location("minimal_in_process", path)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    registry = load_registry(extra_plugins=[plugin])
    images, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    mask[..., 12:20, 12:20] = True
    for decoder in ("conv", "deconv", "upconv", "mini"):
        config = resolve_config(["encoder=mini", f"decoder={decoder}"], registry)
        model = build_models(config, registry, build_mask(config, registry)).model
        assert model(images, mask).shape == (2, 3, 16, 16), decoder
    with pytest.raises(UsageError, match="cannot shrink a 16x16 code to a 8x8 patch"):  # code > patch: refused
        config = resolve_config(["encoder=mini", "decoder=deconv", "model.overlap=0"], registry)
        build_models(config, registry, build_mask(config, registry))
