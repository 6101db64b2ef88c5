"""Where an entry's weights are on this machine: package data, the download cache or the Hugging Face Hub.

Every file is checked against the card's sha256 before it is read. A URL is downloaded once into the user cache
(`$INPAINTZOO_CACHE`, default `~/.cache/inpaintzoo/weights`), streamed to a temporary file and renamed only when
its checksum matches, so an interrupted or corrupted download leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from inpaintzoo.engine.progress import Progress
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.files import atomic_path

if TYPE_CHECKING:
    from inpaintzoo.hub.card import PretrainedEntry

CACHE_ENV = "INPAINTZOO_CACHE"
DOWNLOAD_TIMEOUT_S = 30
CHUNK = 1 << 16


def cache_dir() -> Path:
    """Where downloaded weights live: `$INPAINTZOO_CACHE`, else `~/.cache/inpaintzoo/weights`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "inpaintzoo" / "weights"


def sha256_file(path: Path) -> str:
    """The file's sha256 in hex, read in 1 MB chunks (weights can be larger than memory allows twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str, what: str) -> Path:
    """`path` if its sha256 is the card's; otherwise a one-line error naming `what` (no file is read unchecked)."""
    actual = sha256_file(path)
    if actual != sha256:
        raise DataError(f"{what}: checksum mismatch for {path} (sha256 {actual[:16]}..., expected {sha256[:16]}...)")
    return path


def download(url: str, sha256: str, target: Path, progress: bool = True) -> Path:
    """Fetch `url` into `target`: streamed to a temporary file beside it, hashed, renamed only when it matches.

    Nothing half-written is left behind: an interrupted or mismatching download removes its temporary file.
    """
    with contextlib.ExitStack() as stack:  # the staged file is renamed over `target` only if the block ends normally
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = stack.enter_context(atomic_path(target, suffix=".part"))
        except OSError as exc:
            raise DataError(
                f"cannot write to the weights cache {target.parent} ({exc.strerror or exc}); set {CACHE_ENV} to a "
                "writable folder"
            ) from None
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                total = int(response.headers.get("Content-Length") or 0)
                with Progress(enabled=progress) as bar:
                    task = bar.task(f"download {target.name}", total=total or 1)
                    while chunk := response.read(CHUNK):
                        digest.update(chunk)
                        f.write(chunk)
                        bar.advance(task, by=len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DataError(
                f"cannot download {url} ({reason}); offline? put the file at {target} (sha256 {sha256[:16]}...)"
            ) from None
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: sha256 {digest.hexdigest()[:16]}..., expected {sha256[:16]}...; "
                "nothing was kept"
            )
    return target


def weights_path(entry: PretrainedEntry, progress: bool = True) -> Path:
    """The entry's verified safetensors file on this machine (downloading it once if it lives elsewhere)."""
    w = entry.weights
    what = f"pretrained {entry.name!r}"
    if w.file is not None:
        if not w.file.is_file():
            raise DataError(f"{what}: its weights {w.file} are missing; reinstall the package that ships it")
        return verify(w.file, w.sha256, what)
    if w.url is not None:
        base = Path(urllib.parse.urlparse(w.url).path).name or f"{entry.name}.safetensors"
        target = cache_dir() / f"{w.sha256[:16]}-{base}"  # the checksum in the name: a new file never collides
        if target.is_file():
            try:
                return verify(target, w.sha256, what)
            except DataError:
                target.unlink()  # a stale or corrupted copy: fetch it again
        return download(w.url, w.sha256, target, progress=progress)
    return hub_download(entry)


def hub_download(entry: PretrainedEntry) -> Path:
    """The entry's file from the Hugging Face Hub, verified; `huggingface_hub` is optional, so it is imported here."""
    w = entry.weights
    what = f"pretrained {entry.name!r}"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UsageError(f"{what} lives on the Hugging Face Hub ({w.hf_hub_id}): pip install huggingface_hub") from None
    try:
        extra = {"revision": w.revision} if w.revision else {}
        path = Path(hf_hub_download(repo_id=w.hf_hub_id, filename=w.filename or f"{entry.name}.safetensors", **extra))
    except Exception as exc:  # the hub raises its own error types (offline, missing repo, ...)
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{what}: cannot fetch {w.hf_hub_id}/{w.filename} from the Hugging Face Hub ({why})") from None
    return verify(path, w.sha256, what)
