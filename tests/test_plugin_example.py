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
