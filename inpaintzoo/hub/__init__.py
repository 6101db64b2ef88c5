"""Pretrained entries: named, trained models (weights + the config they were built from + a model card).

One concern a module, imports flowing one way (each imports only those above it in this list):

- `cache`: where an entry's weights are on this machine (package data, the download cache, the Hugging Face
  Hub), each file checked against its sha256 before it is read;
- `load`: an entry by name (`list_pretrained`, `get_entry`, `default_model`) and as a `Run` (`load_pretrained`);
- `card`: the `NAME.json` card format (`PretrainedEntry`, `Weights`, `read_card`) and a plugin's folder of cards
  (`register_folder`, `folder_hook`); an entry is the registry's factory, so calling it loads it;
- `export`: a run directory as an entry (`export`), its weights in half precision and its card scored.

`inpaintzoo.pretrained(NAME)` (in the package root) is `load_pretrained(NAME)` through the default registry.
"""

from __future__ import annotations

from inpaintzoo.hub.cache import CACHE_ENV, cache_dir, download, sha256_file, verify, weights_path
from inpaintzoo.hub.card import (
    CARD_FORMAT,
    PretrainedEntry,
    Weights,
    check_name,
    folder_entries,
    folder_hook,
    read_card,
    register_folder,
)
from inpaintzoo.hub.export import export, half_state, portable, train_command
from inpaintzoo.hub.load import KIND, default_model, get_entry, list_pretrained, load_pretrained, load_state

__all__ = [
    "CACHE_ENV",
    "CARD_FORMAT",
    "KIND",
    "PretrainedEntry",
    "Weights",
    "cache_dir",
    "check_name",
    "default_model",
    "download",
    "export",
    "folder_entries",
    "folder_hook",
    "get_entry",
    "half_state",
    "list_pretrained",
    "load_pretrained",
    "load_state",
    "portable",
    "read_card",
    "register_folder",
    "sha256_file",
    "train_command",
    "verify",
    "weights_path",
]
