"""CIFAR-10 from the standard python batches (`cifar-10-batches-py`), found locally or downloaded once.

Each batch file is a pickled dict whose `data` is uint8 `(N, 3072)`: the red plane, then green,
then blue, each 32x32 row-major. N is read from the file (a reduced test batch may hold 1,000 rows).
A pickle can name any callable, so batches are read by `BatchUnpickler`, which resolves only the three
numpy names the format uses: a hostile file is refused before anything in it runs.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inpaintzoo.data.io import ImageSet, check_split, resize_images
from inpaintzoo.errors import DataError, UsageError

FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
DATA_ENV = "INPAINTZOO_DATA"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
BATCH_FILES = TRAIN_FILES + TEST_FILES
HOW_TO_POINT = f"pass data.root=/path/to/{FOLDER} or set {DATA_ENV}"


def cache_dir() -> Path:
    """Where a downloaded copy lives: `$XDG_CACHE_HOME/inpaintzoo` (default `~/.cache/inpaintzoo`)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inpaintzoo"


def _batches_in(path: Path) -> Path | None:
    """`path` itself or its `cifar-10-batches-py` child, whichever holds batch files."""
    for candidate in (path, path / FOLDER):
        if any((candidate / name).is_file() for name in BATCH_FILES):
            return candidate
    return None


def _upward(start: Path) -> list[Path]:
    return [start, *start.parents]


def candidate_roots(root: str | Path | None = None) -> list[Path]:
    """Every place searched, in order: `root`, `$INPAINTZOO_DATA`, `../shared/data/...` near the
    current folder and near the package's repository, then the user cache."""
    places: list[Path] = []
    if root:
        places.append(Path(root).expanduser())
    if os.environ.get(DATA_ENV):
        places.append(Path(os.environ[DATA_ENV]).expanduser())
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        places.extend(folder.parent / "shared" / "data" for folder in _upward(start))
    places.append(cache_dir())
    return places


def find_cifar10_root(root: str | Path | None = None) -> Path | None:
    """The first folder holding CIFAR-10 batch files (see `candidate_roots`), or None.

    An explicit `root` that holds no batches is not skipped silently: it returns None so that the
    caller reports the user's path rather than quietly using another copy.
    """
    if root:
        return _batches_in(Path(root).expanduser())
    for place in candidate_roots():
        found = _batches_in(place)
        if found is not None:
            return found
    return None


def _reconstruct() -> Any:
    """numpy's array-unpickling helper, from wherever this numpy keeps it (numpy 2 moved `core` to `_core`)."""
    try:
        from numpy._core.multiarray import _reconstruct as found
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct as found
    return found


class UnsafeBatchError(pickle.UnpicklingError):
    """A batch file names a global that the CIFAR-10 format never holds."""


class BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, str/bytes, numbers and numpy arrays, and nothing else.

    Plain containers and scalars need no global; a numpy array needs exactly these three, and a copy
    re-pickled by Python 3 at protocol 2 spells its bytes with `_codecs.encode`. Any other global
    (`os.system`, `builtins.eval`, ...) raises before it is called, like `torch.load(weights_only=True)`.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise UnsafeBatchError(f"{module}.{name}")
        if name == "_reconstruct":
            return _reconstruct()
        if name == "encode":
            return codecs.encode
        return getattr(np, name)


def read_batch(path: Path) -> np.ndarray:
    """One batch file as uint8 `(N, 3, 32, 32)`; a DataError names the file when it is damaged or hostile."""
    try:
        with path.open("rb") as f:
            batch = BatchUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"CIFAR-10 batch {path} is missing; {HOW_TO_POINT} to a complete copy") from None
    except IsADirectoryError:
        raise DataError(f"CIFAR-10 batch {path} is a folder, not a batch file") from None
    except UnsafeBatchError as exc:
        raise DataError(
            f"CIFAR-10 batch {path} refers to {exc}, which a CIFAR-10 batch never holds; refused without running it"
        ) from None
    except Exception as exc:  # truncated or corrupt pickles raise many different types
        raise DataError(
            f"CIFAR-10 batch {path} is corrupt or truncated ({type(exc).__name__}); delete it and download again"
        ) from None
    data = batch.get("data", batch.get(b"data")) if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"CIFAR-10 batch {path} has no uint8 (N, 3072) 'data' array (found {shape}); it is not a batch")
    return data.reshape(-1, 3, 32, 32)


def load_cifar10(root: Path, split: str) -> torch.Tensor:
    """All images of a split in `root` as one uint8 `(N, 3, 32, 32)` tensor."""
    names = TRAIN_FILES if check_split(split) == "train" else TEST_FILES
    arrays = [read_batch(root / name) for name in names]
    return torch.from_numpy(np.concatenate(arrays) if len(arrays) > 1 else arrays[0].copy())


def _verify(path: Path, md5: str | None, sha256: str | None) -> None:
    md5_hash, sha_hash = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5_hash.update(chunk)
            sha_hash.update(chunk)
    if (md5 and md5_hash.hexdigest() != md5) or (sha256 and sha_hash.hexdigest() != sha256):
        raise DataError(
            f"the downloaded CIFAR-10 archive does not match its checksum (md5 {md5_hash.hexdigest()}); "
            f"the download was damaged: try again, or {HOW_TO_POINT}"
        )


def _fetch(url: str, target: Path) -> None:
    """Copy `url` to `target` with a progress bar."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    request = urllib.request.Request(url, headers={"User-Agent": "inpaintzoo"})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"CIFAR-10 is not on this machine and cannot be downloaded from {url} (offline? {reason}); {HOW_TO_POINT}"
        ) from None
    with response, target.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task("downloading CIFAR-10", total=total)
            try:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
            except OSError as exc:
                raise DataError(f"the CIFAR-10 download from {url} broke off ({exc}); try again") from None


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract regular files and folders only, never outside `dest` (no links, no absolute paths)."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12 checks this itself
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise DataError(f"the CIFAR-10 archive holds an unsafe entry {member.name!r}; not extracting it")
    tar.extractall(dest)


def download_cifar10(
    dest: str | Path | None = None, url: str = URL, md5: str | None = MD5, sha256: str | None = SHA256
) -> Path:
    """Download and verify the official archive and extract it under `dest` (default: the cache).

    Returns the extracted `cifar-10-batches-py` folder. The archive is fetched to a temporary file
    and only extracted after its checksums match, so an interrupted download leaves nothing behind.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        _fetch(url, archive)
        _verify(archive, md5, sha256)
        staging = Path(tmp) / "extracted"
        try:
            with tarfile.open(archive, "r:gz") as tar:
                _safe_extract(tar, staging)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"the CIFAR-10 archive from {url} cannot be extracted ({exc})") from None
        extracted = _batches_in(staging)
        if extracted is None:
            raise DataError(f"the archive from {url} holds no {FOLDER} batch files")
        final = dest / FOLDER
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(extracted), final)
    return final


def cifar10(split: str, image_size: int = 32, root: str | None = None, download: bool = True) -> ImageSet:
    """CIFAR-10 as an ImageSet; searches `candidate_roots`, then downloads the archive (163 MiB) once.

    An explicit `root` must hold the batches (nothing is downloaded into a mistyped path). With
    `image_size` other than 32 the images are resized with antialiasing.
    """
    check_split(split)
    if image_size < 1:
        raise UsageError(f"image_size must be positive, got {image_size}")
    found = find_cifar10_root(root)
    if found is None:
        if root:
            raise DataError(f"no CIFAR-10 batch files in {root}; point data.root at the {FOLDER} folder")
        if not download:
            raise DataError(f"CIFAR-10 not found (looked in {cache_dir()} and near the repository); {HOW_TO_POINT}")
        found = download_cifar10(url=URL, md5=MD5, sha256=SHA256)
    images = load_cifar10(found, split)
    if image_size != 32:
        images = resize_images(images, image_size)
    return ImageSet(images, name=f"cifar10/{split}", source=found.resolve())
