"""Files that appear whole or not at all: the one way inpaintzoo writes checkpoints, weights and downloads.

Also `refuse_existing`: the one check that keeps an output from replacing a file without `--overwrite`, and
`check_out_folder`: an output folder that cannot be one is refused before anything is computed.

`atomic_path(target)` hands out a temporary path beside the target. When the block ends normally the file is
fsynced, given the permissions of any file the user creates (the umask, not `mkstemp`'s private 0600: run
directories are shared and weights are shipped) and renamed over the target. When the block raises, the
temporary file is removed, so a crash, an interrupted download or a checksum mismatch leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inpaintzoo.errors import UsageError


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: POSIX offers no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write `target` through (see the module docstring); the folder must exist."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """Nothing existing is overwritten unless asked: the first of `paths` that exists is a one-line error."""
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{existing[0]} already exists: pass --overwrite or choose another --out")


def check_out_folder(out: Path) -> None:
    """`--out` must be a folder or creatable as one: not a file, nor under one."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"is under {parent}, which is a file"
                raise UsageError(f"--out {out} {what}: give a folder")
            return
