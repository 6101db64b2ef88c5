"""Datasets (cifar10, folder, samples), image files and the training augmentation."""

from __future__ import annotations

import hashlib
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import import_or_missing
from PIL import Image

from inpaintzoo.data import cifar10 as cifar_module
from inpaintzoo.data.augment import Augment, gaussian_blur
from inpaintzoo.data.cifar10 import cifar10, download_cifar10, find_cifar10_root, read_batch
from inpaintzoo.data.folder import SkippedImagesWarning, folder, split_of
from inpaintzoo.data.io import ImageSet, load_image, save_image
from inpaintzoo.data.samples import samples
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.plugins import load_registry

# ---------------------------------------------------------------- image files


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_save_then_load_is_lossless_for_8bit_values(tmp_path: Path) -> None:
    levels = torch.randint(0, 256, (3, 5, 7), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    path = save_image(levels.float() / 255, tmp_path / "sub" / "x.png")
    loaded = load_image(path)
    assert loaded.shape == (3, 5, 7) and loaded.dtype == torch.float32
    assert torch.equal((loaded * 255).round().to(torch.uint8), levels)


def test_grayscale_is_repeated_over_three_channels(tmp_path: Path) -> None:
    gray = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    image = load_image(write_png(tmp_path / "g.png", gray))
    assert image.shape == (3, 2, 2)
    for channel in image:
        assert torch.allclose(channel, torch.tensor(gray, dtype=torch.float32) / 255)


def test_rgba_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((1, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 255, 0)  # fully transparent blue
    image = load_image(write_png(tmp_path / "a.png", rgba))
    assert image[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert image[:, 0, 1].tolist() == [1.0, 1.0, 1.0]


def test_16bit_png_is_rescaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    image = load_image(path)
    expected = torch.tensor([0, 1, round(32768 * 255 / 65535), 255], dtype=torch.float32) / 255
    assert torch.allclose(image[0, 0], expected)
    assert torch.equal(image[0], image[2])


def test_16bit_rgb_png_keeps_its_scale(tmp_path: Path) -> None:
    cv2 = import_or_missing("cv2", "opencv is not installed")  # Pillow cannot write 48-bit PNGs
    bgr = np.zeros((1, 1, 3), dtype=np.uint16)
    bgr[0, 0] = (65535, 32768, 257)
    cv2.imwrite(str(tmp_path / "rgb16.png"), bgr)
    levels = load_image(tmp_path / "rgb16.png")[:, 0, 0] * 255
    assert torch.allclose(levels, torch.tensor([257, 32768, 65535]) / 257, atol=1)


def test_truncated_and_non_image_files_raise_data_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    good = write_png(tmp_path / "good.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_image(truncated)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(DataError, match="not an image"):
        load_image(text)
    with pytest.raises(DataError, match="no such image file"):
        load_image(tmp_path / "missing.png")


def test_load_image_crops_the_centre_square_before_resizing(tmp_path: Path) -> None:
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, :10] = (255, 0, 0)
    wide[:, 10:30] = (0, 255, 0)
    wide[:, 30:] = (0, 0, 255)
    path = write_png(tmp_path / "wide.png", wide)
    cropped = load_image(path, image_size=8)
    assert cropped.shape == (3, 8, 8)
    assert torch.allclose(cropped[1], torch.ones(8, 8)) and cropped[0].max() == 0 and cropped[2].max() == 0
    squashed = load_image(path, image_size=8, resize="resize")
    assert squashed[0, :, 0].min() > 0.9 and squashed[2, :, -1].min() > 0.9  # the sides survive


def test_save_image_rejects_a_batch(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\(3, H, W\)"):
        save_image(torch.zeros(2, 3, 4, 4), tmp_path / "x.png")


# ---------------------------------------------------------------- folder dataset


def make_folder(root: Path, count: int) -> None:
    """`count` flat-coloured 12x10 images, image i having red level i, some in a subfolder."""
    for i in range(count):
        where = root / ("nested" if i % 3 == 0 else "")
        where.mkdir(parents=True, exist_ok=True)
        write_png(where / f"img{i:03d}.png", np.full((12, 10, 3), (i, 100, 200), dtype=np.uint8))


def red_levels(dataset: ImageSet) -> set[int]:
    return set(dataset.images[:, 0, 0, 0].tolist())


def test_folder_splits_deterministically_and_disjointly(tmp_path: Path) -> None:
    make_folder(tmp_path, 40)
    train, test = (
        folder("train", 8, root=str(tmp_path), test_fraction=0.25),
        folder("test", 8, root=str(tmp_path), test_fraction=0.25),
    )
    assert train.images.shape[1:] == (3, 8, 8) and train.images.dtype == torch.uint8
    assert len(train) + len(test) == 40 and 0 < len(test) < 40
    assert red_levels(train).isdisjoint(red_levels(test))
    assert red_levels(folder("test", 8, root=str(tmp_path), test_fraction=0.25)) == red_levels(test)
    item = train[0]
    assert item.shape == (3, 8, 8) and item.dtype == torch.float32 and 0 <= item.min() <= item.max() <= 1


def test_split_of_sends_about_the_asked_fraction_to_test() -> None:
    names = [f"photo_{i}.jpg" for i in range(4000)]
    share = sum(split_of(name, 0.1) == "test" for name in names) / len(names)
    assert 0.08 < share < 0.12
    assert all(split_of(name, 0.0) == "train" for name in names[:100])


def test_folder_skips_unreadable_files_with_one_warning(tmp_path: Path) -> None:
    make_folder(tmp_path, 6)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "readme.txt").write_text("ignored: not an image suffix")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = folder("train", 8, root=str(tmp_path), test_fraction=0.0)
    assert len(data) == 6
    skipped = [w for w in caught if issubclass(w.category, SkippedImagesWarning)]
    assert len(skipped) == 1 and "skipped 1 " in str(skipped[0].message)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no readable images"):
        folder("train", 8, root=str(tmp_path))
    with pytest.raises(UsageError, match="data.root"):
        folder("train", 8)
    with pytest.raises(DataError, match="not a folder"):
        folder("train", 8, root=str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="split"):
        folder("val", 8, root=str(tmp_path))


# ---------------------------------------------------------------- samples dataset


def test_samples_are_real_photo_crops_with_a_held_out_test_photo() -> None:
    train, test = samples("train"), samples("test")
    assert len(train) >= 2000 and 200 <= len(test) <= 1000
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (3, 32, 32)
    item = test[5]
    assert item.shape == (3, 32, 32) and 0 <= item.min() <= item.max() <= 1
    # photographs are smooth: neighbouring pixels differ far less than in uniform noise (~0.33)
    pixels = train.images.float() / 255
    assert (pixels[..., 1:] - pixels[..., :-1]).abs().mean() < 0.08
    assert pixels.std() > 0.1  # and not flat either
    train_keys = {hashlib.sha1(crop.numpy().tobytes()).digest() for crop in train.images}
    assert not any(hashlib.sha1(crop.numpy().tobytes()).digest() in train_keys for crop in test.images)
    assert torch.equal(samples("test").images, test.images)  # deterministic


def test_samples_resize_and_split_check() -> None:
    small = samples("test", image_size=16)
    assert small.images.shape[1:] == (3, 16, 16) and len(small) == len(samples("test"))
    with pytest.raises(UsageError, match="'train' or 'test'"):
        samples("validation")


def test_builtin_datasets_come_from_entry_points() -> None:
    registry = load_registry()
    assert {"cifar10", "folder", "samples"} <= set(registry.names("dataset"))
    assert registry.get("dataset", "samples").plugin == "inpaintzoo.datasets"
    data = registry.build("dataset", "samples", split="test", image_size="16")
    assert data.images.shape[-1] == 16


# ---------------------------------------------------------------- cifar10


def fake_batch(path: Path, images: np.ndarray, byte_keys: bool = False) -> None:
    """Write a batch in the python-version layout: data rows are the R plane, then G, then B."""
    data = images.reshape(len(images), -1)
    batch = {"batch_label": "fake", "labels": [0] * len(images), "data": data}
    if byte_keys:
        batch = {k.encode(): v for k, v in batch.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=2)


def fake_cifar(root: Path, rows: int = 3) -> np.ndarray:
    """A fake `cifar-10-batches-py` under root; returns the test images (N, 3, 32, 32)."""
    rng = np.random.default_rng(1)
    folder_ = root / "cifar-10-batches-py"
    for i in range(1, 6):
        fake_batch(
            folder_ / f"data_batch_{i}", rng.integers(0, 256, (rows, 3, 32, 32), dtype=np.uint8), byte_keys=i == 2
        )
    test = rng.integers(0, 256, (rows, 3, 32, 32), dtype=np.uint8)
    fake_batch(folder_ / "test_batch", test)
    return test


def test_batches_are_decoded_plane_by_plane(tmp_path: Path) -> None:
    image = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    image[0, 0] = 10  # red plane
    image[0, 1] = 20
    image[0, 2, 0, 1] = 30  # blue, row 0, column 1
    fake_batch(tmp_path / "b", image)
    decoded = read_batch(tmp_path / "b")
    assert decoded.shape == (1, 3, 32, 32)
    assert decoded[0, 0].max() == decoded[0, 0].min() == 10 and decoded[0, 1, 5, 5] == 20
    assert decoded[0, 2, 0, 1] == 30 and decoded[0, 2].sum() == 30


def test_cifar10_reads_row_counts_from_files_and_both_key_kinds(tmp_path: Path) -> None:
    test_images = fake_cifar(tmp_path, rows=3)
    data = cifar10("test", root=str(tmp_path / "cifar-10-batches-py"), download=False)
    assert len(data) == 3 and torch.equal(data.images, torch.from_numpy(test_images))
    assert len(cifar10("train", root=str(tmp_path), download=False)) == 15  # parent folder works too
    assert cifar10("test", 16, root=str(tmp_path), download=False).images.shape == (3, 3, 16, 16)


def test_corrupt_batch_names_the_file(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match=r"test_batch is corrupt or truncated"):
        cifar10("test", root=str(tmp_path), download=False)
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 10), dtype=np.uint8)}))
    with pytest.raises(DataError, match="test_batch has no uint8"):
        cifar10("test", root=str(tmp_path), download=False)


def test_root_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_root, explicit = tmp_path / "env", tmp_path / "explicit"
    fake_cifar(env_root)
    fake_cifar(explicit)
    monkeypatch.setenv("INPAINTZOO_DATA", str(env_root))
    assert find_cifar10_root() == env_root / "cifar-10-batches-py"
    assert find_cifar10_root(explicit) == explicit / "cifar-10-batches-py"
    assert find_cifar10_root(tmp_path / "empty") is None  # an explicit root is never silently replaced
    with pytest.raises(DataError, match="no CIFAR-10 batch files in"):
        cifar10("test", root=str(tmp_path / "empty"))


def make_archive(tmp_path: Path) -> tuple[Path, str, str]:
    source = tmp_path / "source"
    fake_cifar(source)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    blob = archive.read_bytes()
    return archive, hashlib.md5(blob).hexdigest(), hashlib.sha256(blob).hexdigest()


def test_download_verifies_then_extracts(tmp_path: Path) -> None:
    archive, md5, sha = make_archive(tmp_path)
    root = download_cifar10(tmp_path / "cache", url=archive.as_uri(), md5=md5, sha256=sha)
    assert root == tmp_path / "cache" / "cifar-10-batches-py"
    assert len(cifar10("test", root=str(root), download=False)) == 3
    with pytest.raises(DataError, match="does not match its checksum"):
        download_cifar10(tmp_path / "other", url=archive.as_uri(), md5="0" * 32, sha256=None)
    assert not (tmp_path / "other" / "cifar-10-batches-py").exists()


def test_missing_data_offline_says_how_to_point_at_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar_module, "candidate_roots", lambda root=None: [tmp_path / "nothing"])
    monkeypatch.setattr(cifar_module, "cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(DataError, match="INPAINTZOO_DATA"):
        cifar10("test", download=False)
    monkeypatch.setattr(cifar_module, "URL", (tmp_path / "unreachable.tar.gz").as_uri())
    with pytest.raises(DataError, match=r"offline\?.*data\.root=.*INPAINTZOO_DATA"):
        cifar10("test")


def test_real_cifar10_test_split(cifar_root: Path) -> None:
    data = cifar10("test", root=str(cifar_root), download=False)
    with (cifar_root / "test_batch").open("rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"]
    assert len(data) == len(raw)  # the row count comes from the file (1,000 in the shared copy)
    assert torch.equal(data.images[7].flatten(), torch.from_numpy(raw[7]))
    assert 0.3 < data.images.float().mean() / 255 < 0.7


# ---------------------------------------------------------------- augmentation


def test_augment_is_deterministic_bounded_and_changes_images(tiny_images: torch.Tensor) -> None:
    augment = Augment()
    first = augment(tiny_images, torch.Generator().manual_seed(3))
    again = augment(tiny_images, torch.Generator().manual_seed(3))
    other = augment(tiny_images, torch.Generator().manual_seed(4))
    assert first.shape == tiny_images.shape and torch.equal(first, again) and not torch.equal(first, other)
    assert 0 <= first.min() and first.max() <= 1
    assert (first - tiny_images).abs().mean() > 1e-3


def test_augment_with_zero_strength_is_the_identity(tiny_images: torch.Tensor) -> None:
    none = Augment(hue=0, saturation=0, contrast=0, blur_prob=0)
    assert torch.equal(none(tiny_images, torch.Generator().manual_seed(0)), tiny_images)


def test_hue_and_saturation_leave_gray_pixels_alone() -> None:
    gray = torch.linspace(0.1, 0.9, 8)[None, None, :, None].expand(6, 3, 8, 8).contiguous()
    out = Augment(hue=0.5, saturation=1.0, contrast=0, blur_prob=0)(gray, torch.Generator().manual_seed(0))
    assert torch.allclose(out, gray, atol=1e-5)


def test_hue_rotation_keeps_luma(tiny_images: torch.Tensor) -> None:
    mid = 0.25 + 0.5 * tiny_images  # far from 0 and 1, so no clamping
    out = Augment(hue=0.1, saturation=0, contrast=0, blur_prob=0)(mid, torch.Generator().manual_seed(0))
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    assert torch.allclose((out * weights).sum(1), (mid * weights).sum(1), atol=1e-5)
    assert not torch.allclose(out, mid, atol=1e-3)


def test_contrast_keeps_the_mean_luma_of_each_image(tiny_images: torch.Tensor) -> None:
    mid = 0.3 + 0.4 * tiny_images
    out = Augment(hue=0, saturation=0, contrast=0.2, blur_prob=0)(mid, torch.Generator().manual_seed(0))
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    assert torch.allclose((out * weights).sum(1).mean((1, 2)), (mid * weights).sum(1).mean((1, 2)), atol=1e-5)


def test_blur_smooths_detail_but_keeps_flat_images() -> None:
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]).remainder(2).float().expand(2, 3, 16, 16)
    blurred = gaussian_blur(checker, torch.tensor([0.5, 1.0]))
    assert blurred[0].std() < checker[0].std() and blurred[1].std() < blurred[0].std()
    flat = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([1.0])), flat)
    always = Augment(hue=0, saturation=0, contrast=0, blur_prob=1.0)(checker, torch.Generator().manual_seed(0))
    assert always.std() < checker.std()


def test_augment_rejects_bad_settings() -> None:
    with pytest.raises(UsageError, match="saturation"):
        Augment(saturation=1.5)
    with pytest.raises(UsageError, match=r"\(B, 3, H, W\)"):
        Augment()(torch.zeros(3, 8, 8))
