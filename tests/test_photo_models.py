"""Photo models: the FFC encoder at any size, the size policy, photo crops, LaMa-style masks, classical fills."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image

from inpaintzoo.classical import (
    ANCHORS,
    CLASSICAL,
    ClassicalModel,
    mean_colour,
    navier_stokes,
    patchmatch_available,
    telea,
)
from inpaintzoo.context_encoder import ContextEncoder
from inpaintzoo.data.folder import split_of
from inpaintzoo.data.io import load_image_uint8
from inpaintzoo.data.masks import fill_hole
from inpaintzoo.data.photo_crops import photos, random_crops, split_photos
from inpaintzoo.data.photo_masks import KINDS, PhotoMask, draw
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.photos import Geometry, fill_image, padded_fill, serves
from inpaintzoo.zoo.decoders import conv
from inpaintzoo.zoo.ffc import ffc


def photo_model(residual: bool = False, fill: str = "zeros") -> ContextEncoder:
    torch.manual_seed(0)
    encoder = ffc(4, 32, width=8, downsamples=2, blocks=1)
    model = ContextEncoder(encoder, conv(8, 32, 32, layers=0), 32, None, 2, 1.0, fill, residual=residual)
    return model.eval()


@pytest.mark.parametrize("size", [(32, 32), (8, 12), (96, 40), (128, 128)])
def test_ffc_model_runs_at_any_multiple_of_its_stride(size: tuple[int, int]) -> None:
    model = photo_model()
    assert model.size_multiple == 4
    images, mask = torch.rand(2, 3, *size), torch.zeros(2, 1, *size, dtype=torch.bool)
    mask[..., 2:6, 3:7] = True
    out = model.inpaint(images, mask)
    assert out.shape == images.shape
    assert torch.equal(out[~mask.expand_as(out)], images[~mask.expand_as(images)])


def test_ffc_refuses_a_side_off_its_stride_with_one_line() -> None:
    with pytest.raises(UsageError, match="divisible by 4"):
        photo_model()(torch.rand(1, 3, 10, 12), torch.zeros(1, 1, 10, 12, dtype=torch.bool))


def test_the_global_branch_sees_across_the_whole_image() -> None:
    """A change in one corner moves the code in the opposite corner: the receptive field is the image."""
    encoder = ffc(4, 64, width=8, downsamples=2, blocks=1).eval()
    x = torch.rand(1, 4, 64, 64)
    y = x.clone()
    y[..., :4, :4] += 1
    assert not torch.allclose(encoder(x)[..., -4:, -4:], encoder(y)[..., -4:, -4:])


@pytest.mark.parametrize("size", [(1, 5), (13, 17), (63, 65), (5, 1)])
def test_odd_sizes_are_padded_to_the_stride_and_cropped_back(size: tuple[int, int]) -> None:
    seen: list[tuple[int, ...]] = []

    def fill(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(images.shape[-2:]))
        return images.flip(-1)

    images = torch.rand(1, 3, *size)
    out = padded_fill(fill, images, torch.zeros(1, 1, *size, dtype=torch.bool), 4)
    assert out.shape == images.shape
    assert all(s % 4 == 0 for s in seen[0])


def test_size_policy_lets_native_models_run_at_the_image_size() -> None:
    fixed, native = Geometry(32), Geometry(32, any_size=True, multiple=4)
    mask = torch.zeros(300, 200, dtype=torch.bool)
    mask[10:20, 10:20] = True
    assert "runs at 32x32 only" in serves(fixed, mask, "original")
    assert serves(native, mask, "original") is None
    calls: list[tuple[int, ...]] = []

    def fill(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(images.shape[-2:]))
        return torch.zeros_like(images)

    image = torch.rand(3, 300, 200)
    out = fill_image(image, mask[None], fill, native, "crop")
    assert calls == [(300, 200)]  # the whole photo at its own resolution: nothing squeezed to 32x32
    assert torch.equal(out[:, 10:20, 10:20], torch.zeros(3, 10, 10))
    assert torch.equal(out[:, 30:], image[:, 30:])


def test_residual_model_starts_from_the_classical_fill() -> None:
    model = photo_model(residual=True, fill="telea")
    torch.nn.init.zeros_(model.decoder.body[-2].weight)
    torch.nn.init.zeros_(model.decoder.body[-2].bias)  # sigmoid(0) = 0.5: a zero correction
    images = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[..., 10:20, 8:16] = True
    expected = fill_hole(images, mask, "telea")
    assert torch.allclose(model.inpaint(images, mask), expected, atol=1e-6)


def test_telea_fill_keeps_the_context_and_fills_from_it() -> None:
    images = torch.full((2, 3, 16, 16), 0.25)
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    mask[..., 4:8, 4:8] = True
    filled = fill_hole(images, mask, "telea")
    assert torch.allclose(filled, images, atol=1 / 255)  # a flat image is continued flat


@pytest.mark.parametrize("kind", KINDS)
def test_masks_of_every_kind_are_bounded_and_repeatable(kind: str) -> None:
    generator = PhotoMask(128, kind=kind)
    a = generator(8, torch.Generator().manual_seed(3))
    b = generator(8, torch.Generator().manual_seed(3))
    assert a.shape == (8, 1, 128, 128) and a.dtype == torch.bool
    assert torch.equal(a, b)
    share = a.flatten(1).float().mean(1)
    assert bool((share > 0).all()) and bool((share <= 0.5).all())


def test_mask_kinds_differ_as_their_settings_say() -> None:
    rng = np.random.default_rng(0)
    share = {k: np.mean([draw(k, 256, 256, rng).mean() for _ in range(24)]) for k in KINDS}
    assert share["stroke"] < share["thin"] < share["thick"]
    assert share["medium"] < share["thick"]
    box = draw("box", 200, 300, rng)
    rows, cols = np.nonzero(box)
    assert box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one solid rectangle
    assert 0.2 * 200 <= rows.max() - rows.min() + 1 <= 0.4 * 200 + 1


def test_mask_refuses_an_unknown_kind() -> None:
    with pytest.raises(UsageError, match="kind must be one of"):
        PhotoMask(64, kind="blob")


def test_random_crops_take_squares_at_many_scales() -> None:
    photo = torch.arange(3 * 90 * 120, dtype=torch.int64).reshape(3, 90, 120).remainder(251).to(torch.uint8)
    crops = random_crops(photo, 32, 40, np.random.default_rng(0))
    assert crops.shape == (40, 3, 32, 32) and crops.dtype == torch.uint8
    assert len({c.float().std().round().item() for c in crops}) > 1
    small = random_crops(photo[:, :20, :20], 32, 2, np.random.default_rng(0))  # enlarged to the crop size
    assert small.shape == (2, 3, 32, 32)


def test_photo_dataset_split_is_fixed_by_name(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    train, test = split_photos(tmp_path, "train"), split_photos(tmp_path, "test")
    assert sorted(train + test) == sorted(tmp_path.glob("*.png"))
    assert all(split_of(p.name, 0.15) == "test" for p in test)
    data = photos("train", image_size=16, root=str(tmp_path), crops_per_photo=3)
    again = photos("train", image_size=16, root=str(tmp_path), crops_per_photo=3)
    assert data.images.shape == (3 * len(train), 3, 16, 16)
    assert torch.equal(data.images, again.images)


def test_photo_dataset_says_where_it_looked(tmp_path) -> None:
    with pytest.raises(DataError, match="no photos found"):
        photos("train", root=str(tmp_path / "nowhere"))


def test_exif_orientation_is_honoured(tmp_path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # white on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = load_image_uint8(tmp_path / "phone.jpg")
    assert tuple(shown.shape) == (3, 40, 20)  # portrait, as a viewer shows it
    assert shown[:, :10].float().mean() > 200 and shown[:, 30:].float().mean() < 50  # the white band on top


def _scene() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:64, 0:80]
    image = np.stack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    hole = np.zeros((64, 80), bool)
    hole[20:30, 30:50] = True
    return image, hole


@pytest.mark.parametrize("name", list(CLASSICAL))
def test_classical_fills_change_only_the_hole(name: str) -> None:
    if name == "patchmatch" and not patchmatch_available():
        pytest.skip("pypatchmatch is an optional extra and is not installed")
    image, hole = _scene()
    out = CLASSICAL[name](image, hole)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~hole], image[~hole])
    assert not np.array_equal(out[hole], image[hole])


def test_classical_fills_continue_smooth_context() -> None:
    image, hole = _scene()
    truth = image[hole].astype(float)
    error = {f.__name__: np.abs(f(image, hole)[hole].astype(float) - truth).mean() for f in (telea, navier_stokes)}
    floor = np.abs(mean_colour(image, hole)[hole].astype(float) - truth).mean()
    assert max(error.values()) < floor  # the diffusion fills follow the gradients the mean colour ignores
    assert set(ANCHORS) <= set(CLASSICAL)


def test_classical_fill_refuses_a_mismatched_mask() -> None:
    image, hole = _scene()
    with pytest.raises(DataError, match="the mask is"):
        telea(image, hole[:-1])


def test_classical_fills_load_like_any_model() -> None:
    import inpaintzoo

    model = inpaintzoo.pretrained("telea")
    images, mask = torch.rand(2, 3, 20, 30), torch.zeros(1, 1, 20, 30, dtype=torch.bool)
    mask[..., 5:9, 10:20] = True
    out = model.inpaint(images, mask, strategy="original", precision="fp32")
    assert out.shape == images.shape and model.serves(mask) is None and not model.is_density
    assert torch.equal(out[~mask.expand_as(out)], images[~mask.expand_as(images)])
    with pytest.raises(UsageError, match="unknown classical fill"):
        ClassicalModel("blur")


def test_default_model_is_the_best_photo_entry() -> None:
    from types import SimpleNamespace

    from inpaintzoo.hub import default_model

    def entry(name: str, data: str, psnr: float | None = None, sharp: float = 0.2) -> SimpleNamespace:
        kinds = {kind: {"psnr": psnr, "sharpness": sharp} for kind in KINDS}
        card = {"photo_benchmark": {"mean_psnr": psnr, "kinds": kinds}} if psnr is not None else {}
        return SimpleNamespace(name=name, config={"data": {"name": data}}, card=card)

    class Registry:  # what list_pretrained reads
        def __init__(self, entries: list[SimpleNamespace]) -> None:
            self.entries = entries

        def list(self, kind: str) -> list[SimpleNamespace]:
            return [SimpleNamespace(name=e.name, factory=e) for e in self.entries]

    zoo = [entry("unet.l2", "cifar10", 30.0), entry("photo.a", "photos", 19.0), entry("photo.b", "photos", 20.5)]
    assert default_model(Registry(zoo)) == "photo.b"  # none is textured: the best PSNR
    textured = entry("photo.c", "photos", 20.0, sharp=0.7)
    assert default_model(Registry([*zoo, textured])) == "photo.c"  # a textured fill wins over a higher PSNR
    smear_on_one_kind = entry("photo.d", "photos", 20.2, sharp=0.7)
    smear_on_one_kind.card["photo_benchmark"]["kinds"]["box"]["sharpness"] = 0.1
    assert default_model(Registry([*zoo, textured, smear_on_one_kind])) == "photo.c"
    assert default_model(Registry(zoo[:1])) == "telea"  # no photo entry: the classical fill, never a thumbnail model


def test_inpaint_without_a_model_and_compare_with_the_classical_fills(tmp_path, capsys) -> None:
    image, hole = _scene()
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "hole.png")
    out = tmp_path / "out"
    args = ["inpaint", str(tmp_path / "scene.png"), "--mask", str(tmp_path / "hole.png"), "--compare"]
    args += ["--out", str(out)]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "no --model given: using" in err
    filled = np.asarray(Image.open(out / "scene.png"))
    assert np.array_equal(filled[~hole], image[~hole])
    side = Image.open(out / "scene-compare.png")
    panels = 2 + 1 + patchmatch_available()  # hole | the fill | Telea (unless it made the fill) | PatchMatch
    assert side.width >= (panels - 1) * image.shape[1]


def test_demo_writes_a_side_by_side_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    target = tmp_path / "demo.png"
    code, _, err = run_cli(capsys, "demo", "--model", "mean", "--out", str(target))
    assert code == 0, err
    picture = np.asarray(Image.open(target))
    assert picture.shape[1] > 2 * picture.shape[0] * 0.9  # several panels side by side
    code, _, err = run_cli(capsys, "demo", "--model", "mean", "--out", str(target))
    assert code != 0 and "already exists" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "demo", "--sample", "nope", "--out", str(tmp_path / "x.png"))
    assert code != 0 and "unknown sample 'nope'" in err and "Traceback" not in err


def test_models_lists_the_classical_fills_readably_at_80_columns(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in out
    names = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")]
    assert {"telea", "navier-stokes", "patchmatch", "mean"} <= set(names)
    blocks = out.split("\n\n")
    (default_block,) = [block for block in blocks if "what `inpaint` uses without --model" in " ".join(block.split())]
    from inpaintzoo.hub import default_model

    assert default_block.split()[0] == default_model()
    assert "median sharpness" in default_block
    code, out, _ = run_cli(capsys, "models", "telea", "--json")
    (row,) = json.loads(out)
    assert row["weights"] == "none" and "Telea" in row["summary"] and row["default"] is False


def test_init_from_starts_a_new_run_from_another_runs_weights(tmp_path) -> None:
    from inpaintzoo.config import resolve_config
    from inpaintzoo.engine.trainer import Trainer, train
    from inpaintzoo.errors import RunDirError
    from inpaintzoo.plugins import default_registry
    from inpaintzoo.runs import load_run

    tiny = ["data=samples", "data.image_size=16", "mask=lama", "mask.fill=telea", "encoder=ffc", "encoder.width=4",
            "encoder.blocks=1", "decoder=conv", "decoder.layers=0", "model.residual=true", "train.batch_size=4",
            "train.max_steps=2", "train.bn_batches=0", "train.grid_every=0", f"train.out={tmp_path}"]
    first = train([*tiny, "train.name=l2"])
    registry = default_registry()
    config = resolve_config([*tiny, "train.name=gan", "loss=gan", "disc=patch", f"train.init_from={first}"], registry)
    trainer = Trainer(config, registry)
    start = load_run(first, device="cpu").model.state_dict()
    assert all(torch.equal(v, trainer.model.state_dict()[k].cpu()) for k, v in start.items())
    bad = resolve_config([*tiny, "train.name=x", f"train.init_from={tmp_path / 'nothing'}"], registry)
    with pytest.raises(RunDirError, match="no checkpoints/best.pt or last.pt"):
        Trainer(bad, registry)
    assert not (tmp_path / "x").exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("mode", "dtype"), [("RGBA", np.uint8), ("L", np.uint8), ("I;16", np.uint16), ("RGB", np.uint8)]
)
def test_a_fill_comes_back_in_the_inputs_own_form(tmp_path, mode: str, dtype: type) -> None:
    from inpaintzoo.data.io import save_filled_like

    rng = np.random.default_rng(0)
    shape = {"RGBA": (30, 40, 4), "RGB": (30, 40, 3)}.get(mode, (30, 40))
    top = 65535 if dtype == np.uint16 else 255
    pixels = (rng.random(shape) * top).astype(dtype)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    hole = np.zeros((30, 40), bool)
    hole[10:20, 5:25] = True
    filled = np.full((30, 40, 3), 128, np.uint8)
    save_filled_like(tmp_path / "in.png", filled, hole, tmp_path / "out.png")
    out = Image.open(tmp_path / "out.png")
    back = np.asarray(out)
    assert out.mode == mode and back.dtype == dtype and back.shape == pixels.shape
    assert np.array_equal(back[~hole], pixels[~hole])  # outside the hole: the input's bytes, alpha included
    expected = {"RGBA": [128, 128, 128], "L": 128, "I;16": 128 * 257, "RGB": [128, 128, 128]}[mode]
    assert np.all(back[hole][..., :3] == expected) if mode in ("RGBA", "RGB") else np.all(back[hole] == expected)
    if mode == "RGBA":
        assert np.array_equal(back[hole][:, 3], pixels[hole][:, 3])  # the hole keeps its transparency


def test_the_shipped_photo_entries_are_verified_scored_and_within_the_weights_budget() -> None:
    """Each photo entry's weights match its card, the card holds its photo benchmark on every mask kind, and every
    builtin entry's weights together stay within the 40 MB budget."""
    import json
    from pathlib import Path

    import inpaintzoo
    from inpaintzoo.hub import default_model, sha256_file
    from inpaintzoo.hub.load import TEXTURED

    zoo = Path(inpaintzoo.__file__).parent / "zoo" / "pretrained"
    cards = {p.stem: json.loads(p.read_text()) for p in zoo.glob("*.json")}
    photo = {name: card for name, card in cards.items() if card["config"]["data"]["name"] == "photos"}
    assert {"ffc.photos", "ffc.photos-gan"} <= set(photo)
    for name, card in photo.items():
        assert sha256_file(zoo / card["weights"]["file"]) == card["weights"]["sha256"], name
        kinds = card["card"]["photo_benchmark"]["kinds"]
        assert set(kinds) == set(KINDS), name
        assert card["card"]["train_command"].startswith("inpaintzoo train"), name
    def textured(name: str) -> bool:
        return all(row["sharpness"] >= TEXTURED for row in photo[name]["card"]["photo_benchmark"]["kinds"].values())

    candidates = [name for name in photo if textured(name)] or list(photo)
    best = max(candidates, key=lambda name: photo[name]["card"]["photo_benchmark"]["mean_psnr"])
    assert default_model() == best
    assert sum((zoo / card["weights"]["file"]).stat().st_size for card in cards.values()) <= 40 * 2**20
