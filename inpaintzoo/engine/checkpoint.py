"""Checkpoints: written atomically, loaded without executing code from the file.

A checkpoint is a dict of plain tensors and Python values (`torch.load(weights_only=True)` can read
it), written to a temporary file, fsynced and renamed over the target, so a crash mid-write never
leaves a truncated checkpoint behind. The file gets the permissions of any file the user creates
(the umask), not `mkstemp`'s private 0600, so colleagues can read a shared run directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from inpaintzoo.errors import RunDirError
from inpaintzoo.files import atomic_path

FORMAT_VERSION = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically (temporary file, fsync, rename; `inpaintzoo.files`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **state}, tmp)


def why_unreadable(exc: Exception) -> str:
    """What a refused or damaged checkpoint holds, in a few words instead of PyTorch's paragraph of advice."""
    text = str(exc)
    found = re.search(r"unsupported (?:GLOBAL|global:?) ([\w.]+)", text, re.IGNORECASE)
    if found:
        return f"it refers to {found.group(1)}, which a checkpoint never holds; refused without running it"
    if "weights only load failed" in text.lower():
        detail = next((line for line in text.splitlines()[1:] if line.strip()), "")
        detail = detail.split(". Check the documentation")[0].strip().rstrip(".")
        return f"it holds something besides tensors and plain values ({detail or type(exc).__name__}); refused"
    if isinstance(exc, EOFError) or "central directory" in text or "zip archive" in text:
        return "the file is empty or truncated (an interrupted copy?)"
    return f"it is not a checkpoint file ({type(exc).__name__})"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; never unpickles arbitrary objects."""
    if not path.is_file():
        raise RunDirError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise RunDirError(f"cannot read checkpoint {path}: {why_unreadable(exc)}") from None
    version = state.get("format_version") if isinstance(state, dict) else None
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"checkpoint {path} has format version {version!r}; this inpaintzoo reads version {FORMAT_VERSION}"
        )
    return state


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load weights, turning a shape or key mismatch into one clear line."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[0]!r}"
            if missing
            else f"unexpected {unexpected[0]!r}"
            if unexpected
            else f"{wrong[0]!r} is {tuple(state[wrong[0]].shape)} in the file, {tuple(own[wrong[0]].shape)} here"
        )
        raise RunDirError(f"the checkpoint's {what} does not match this architecture: {detail}")
    module.load_state_dict(state)
