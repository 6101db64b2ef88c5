"""inpaintzoo's own pretrained entries: every `NAME.json` card in this folder, with its `NAME.safetensors` beside it.

Registered through the `inpaintzoo` entry-point group like any plugin's entries; `inpaintzoo export RUN_DIR NAME
--out inpaintzoo/zoo/pretrained --score` adds one (the recipes that train them are in `benchmarks/`).
"""

from __future__ import annotations

from pathlib import Path

from inpaintzoo.hub.card import folder_hook

FOLDER = Path(__file__).parent

inpaintzoo_register = folder_hook(FOLDER)
