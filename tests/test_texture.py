"""Texture transfer: the context's grain copied into a smooth fill where the structure matches, nothing else touched."""

from __future__ import annotations

import pytest
import torch

from inpaintzoo.context_encoder import ContextEncoder
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.metrics import sharpness
from inpaintzoo.texture import add_texture, dilate, gaussian_blur, nearest_context, transfer_texture
from inpaintzoo.zoo.decoders import conv
from inpaintzoo.zoo.ffc import ffc


def two_regions(height: int = 64, width: int = 64, seed: int = 0) -> torch.Tensor:
    """A calm bright top half and a grainy dark bottom half, `(3, H, W)` in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.full((3, height, width), 0.8)
    grain = 0.15 * torch.randn(1, height // 2, width, generator=generator)
    image[:, height // 2 :] = 0.3 + grain
    return image.clamp(0, 1)


def square_hole(height: int, width: int, top: int, left: int, side: int) -> torch.Tensor:
    hole = torch.zeros(height, width, dtype=torch.bool)
    hole[top : top + side, left : left + side] = True
    return hole


def smooth_fill(image: torch.Tensor) -> torch.Tensor:
    """The truth blurred: the right structure with no grain, what a fill trained for PSNR gives."""
    return gaussian_blur(image[None], 3.0)[0]


def test_pixels_outside_the_hole_are_the_images_and_the_result_repeats() -> None:
    image = two_regions()
    hole = square_hole(64, 64, 20, 20, 24)
    fill = smooth_fill(image)
    out = transfer_texture(image, fill, hole, 0.8)
    assert torch.equal(out[:, ~hole], image[:, ~hole])
    assert torch.equal(out, transfer_texture(image, fill, hole, 0.8))
    assert not torch.equal(out[:, hole], fill[:, hole])


def test_grain_is_copied_where_the_context_is_grainy_and_not_where_it_is_calm() -> None:
    """The hole straddles both halves: its grainy half gains grain like the truth's, its calm half stays calm."""
    image = two_regions()
    hole = square_hole(64, 64, 16, 16, 32)
    fill = smooth_fill(image)
    out = transfer_texture(image, fill, hole, 0.8)
    grainy, calm = hole.clone(), hole.clone()
    grainy[:36] = False  # rows well inside the bottom half (the blur smears the boundary at row 32)
    calm[28:] = False
    before = sharpness(fill[None], image[None], grainy[None, None])
    after = sharpness(out[None], image[None], grainy[None, None])
    assert before < 0.2 and 0.4 < after < 1.5
    assert (out - fill)[:, calm].abs().max() < 0.02


def test_more_level_gives_more_grain() -> None:
    image = two_regions(seed=1)
    hole = square_hole(64, 64, 36, 8, 20)
    fill = smooth_fill(image)
    scores = [
        sharpness(transfer_texture(image, fill, hole, level)[None], image[None], hole[None, None])
        for level in (0.0, 0.3, 0.9)
    ]
    assert scores[0] < scores[1] < scores[2]


def test_matches_are_context_whose_whole_patch_is_outside_the_hole() -> None:
    guide = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(2))
    hole = square_hole(40, 30, 10, 8, 12)
    field = nearest_context(guide, hole, radius=2)
    assert field is not None
    sources = field[hole]
    blocked = torch.nn.functional.max_pool2d(hole[None, None].float(), 5, stride=1, padding=2)[0, 0] > 0
    assert not blocked[sources[:, 0], sources[:, 1]].any()


@pytest.mark.parametrize("radius", [1, 3, 16])
def test_dilation_by_two_1d_maxima_is_the_square_one(radius: int) -> None:
    mask = torch.rand(37, 50, generator=torch.Generator().manual_seed(radius)) > 0.97
    square = torch.nn.functional.max_pool2d(mask[None, None].float(), 2 * radius + 1, stride=1, padding=radius)
    assert torch.equal(dilate(mask, radius), square[0, 0] > 0)


def test_a_match_that_exists_is_found() -> None:
    """The guide repeats itself exactly: each hole pixel has a perfect match in the context and the search finds
    one (the patch costs it settles on are zero or nearly)."""
    generator = torch.Generator().manual_seed(3)
    tile = torch.rand(1, 3, 24, 24, generator=generator)
    guide = torch.cat([tile, tile], -1)  # the right half is the left half again
    hole = square_hole(24, 48, 8, 32, 8)  # inside the right copy, its twin in the left copy is context
    field = nearest_context(guide, hole, radius=2, components=75, rounds=6)
    targets = hole.nonzero()
    sources = field[hole]
    assert ((sources - targets) == torch.tensor([0, -24])).all(1).float().mean() > 0.9


def test_no_texture_where_nothing_can_be_copied_or_none_is_asked() -> None:
    image = two_regions(16, 16)
    fill = smooth_fill(image)
    almost_all = torch.ones(16, 16, dtype=torch.bool)
    almost_all[0, 0] = False  # one context pixel: no whole patch of context to copy from
    for hole, level in ((almost_all, 0.8), (square_hole(16, 16, 4, 4, 6), 0.0)):
        out = transfer_texture(image, fill, hole, level)
        assert torch.equal(out, torch.where(hole[None], fill, image))


@pytest.mark.parametrize("size", [(1, 2), (3, 5), (17, 9), (33, 64)])
def test_any_size_runs(size: tuple[int, int]) -> None:
    image = torch.rand(3, *size, generator=torch.Generator().manual_seed(4))
    hole = torch.zeros(size, dtype=torch.bool)
    hole[: max(1, size[0] // 2), : max(1, size[1] // 2)] = True
    out = transfer_texture(image, image * 0.5, hole, 0.8)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.equal(out[:, ~hole], image[:, ~hole])


def test_bad_arguments_are_refused_in_one_line() -> None:
    image, hole = torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.bool)
    with pytest.raises(DataError, match="0 to 1"):
        transfer_texture(image, image, hole, 1.5)
    with pytest.raises(DataError, match=r"\(C, H, W\)"):
        transfer_texture(image, image, torch.zeros(4, 8, dtype=torch.bool), 0.5)


def photo_model(texture: float) -> ContextEncoder:
    torch.manual_seed(0)
    return ContextEncoder(
        ffc(4, 32, width=8, downsamples=2, blocks=1), conv(8, 32, 32, layers=0), 32, None, 2, 1.0, texture=texture
    ).eval()


def test_a_model_with_texture_changes_only_its_hole_and_stays_in_range() -> None:
    images = torch.stack([two_regions(64, 64, seed) for seed in (5, 6)])
    mask = square_hole(64, 64, 24, 24, 16)[None, None].expand(2, 1, 64, 64)
    plain, textured = photo_model(0.0).inpaint(images, mask), photo_model(0.8).inpaint(images, mask)
    outside = ~mask.expand_as(images)
    assert torch.equal(textured[outside], images[outside])
    assert not torch.equal(textured, plain)
    assert textured.min() >= 0 and textured.max() <= 1
    assert torch.equal(add_texture(images, plain, mask, 0.8).clamp(0, 1)[~outside], textured[~outside])


def test_a_model_refuses_texture_it_cannot_use() -> None:
    with pytest.raises(UsageError, match="0 \\(none\\) to 1"):
        photo_model(2.0)
    with pytest.raises(UsageError, match="fixed box"):
        ContextEncoder(
            ffc(4, 32, width=8, downsamples=2, blocks=1), conv(8, 8, 8, layers=0), 32, (12, 12, 8, 8), 0, texture=0.5
        )


def test_the_textured_photo_entry_fills_with_detail_that_its_network_alone_lacks() -> None:
    """On an embedded sample photo: the shipped ffc.photos-texture entry's fill has more of the photo's detail in
    the hole than the same weights without the texture step, and the photo outside the hole is untouched."""
    import numpy as np

    import inpaintzoo
    from inpaintzoo.demo import demo_hole, sample_photo
    from inpaintzoo.photos import inpaint_photo

    run = inpaintzoo.pretrained("ffc.photos-texture")
    assert run.model.texture == 0.75  # what its card was measured with
    image = sample_photo("chelsea")
    hole = demo_hole(image, "thick")
    textured = inpaint_photo(run, image, hole)
    run.model.texture = 0.0
    plain = inpaint_photo(run, image, hole)

    def detail(fill: np.ndarray) -> float:
        x = torch.from_numpy(fill).permute(2, 0, 1).float()[None]
        truth = torch.from_numpy(image).permute(2, 0, 1).float()[None]
        return sharpness(x, truth, torch.from_numpy(hole)[None, None])

    assert np.array_equal(textured[~hole], image[~hole])
    assert detail(textured) > 2 * detail(plain)


def test_inpaint_texture_option_sets_the_level_or_refuses_in_one_line(tmp_path, capsys) -> None:
    """`--texture 0` gives the network's own fill (no grain added), another level a different fill; a model
    without the texture step refuses the option in one line and writes nothing."""
    import numpy as np
    from helpers import run_cli
    from PIL import Image

    from inpaintzoo.demo import demo_hole, sample_photo

    image = sample_photo("coffee")[:96, :128].copy()
    hole = demo_hole(image, "thick")
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "hole.png")

    def fill(*options: str, out: str = "out") -> tuple[int, str, np.ndarray | None]:
        args = ["inpaint", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "hole.png"), "--out"]
        code, _, err = run_cli(capsys, *args, str(tmp_path / out), *options)
        path = tmp_path / out / "photo.png"
        return code, err, np.asarray(Image.open(path)) if path.exists() else None

    base = ["--model", "ffc.photos-texture"]
    _, _, own = fill(*base, out="own")
    _, _, none = fill(*base, "--texture", "0", out="none")
    _, _, more = fill(*base, "--texture", "1", out="more")
    assert own is not None and none is not None and more is not None
    assert np.array_equal(own[~hole], image[~hole]) and np.array_equal(none[~hole], image[~hole])
    assert not np.array_equal(own, none) and not np.array_equal(own, more)
    code, err, written = fill("--model", "telea", "--texture", "0.5", out="telea")
    assert code != 0 and written is None
    assert "--texture applies to photo models" in err and len(err.strip().splitlines()) == 1
    code, err, _ = fill(*base, "--texture", "2", out="bad")
    assert code != 0 and "0 (none) to 1" in err
