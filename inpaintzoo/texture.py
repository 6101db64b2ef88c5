"""Texture for a smooth fill: the fine detail of the photo's own context, copied where the structure matches.

A network trained for PSNR (even against a critic) fills a large hole with the right colours and edges but
little of the fine grain around it: every grain it could draw is a guess, and a wrong guess costs more than
none. PatchMatch (Barnes et al. 2009) copies grain from the context but guesses the structure from patches
alone. `transfer_texture` takes the structure from the fill and the grain from the context (the
structure-plus-texture split of Bertalmio et al. 2003, with a learned structure):

1. the guide: the fill, blurred, at half resolution: what each hole pixel should look like at a coarse scale;
2. a nearest-neighbour field from each hole pixel to a context position whose guide patch looks alike
   (PatchMatch: random guesses improved by taking the neighbours' matches and searching around the best,
   every hole pixel at once, in a few principal components of the patches);
3. the detail layer of the context (the photo minus its blur) at the matched positions, each copy weighted by
   what the fill lacks against the context near it, all scaled so that the hole's gradient energy per pair of
   neighbouring pixels is `level` of the context's around the hole, added to the fill inside the hole only.

It is deterministic for a given `seed`, runs at any size, and leaves every pixel outside the hole alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inpaintzoo.errors import DataError
from inpaintzoo.metrics import hole_gradient_energy

#: the blur (Gaussian sigma, px) that splits a photo into structure and detail
DETAIL_SIGMA = 1.5
#: half the side of a guide patch at half resolution (7x7 there: a 14x14 px neighbourhood of the photo)
PATCH_RADIUS = 3
#: principal components of the guide patches the matching compares
COMPONENTS = 12
#: rounds of PatchMatch (each: jump-flood propagation from four directions, then random search)
ROUNDS = 4
#: the neighbourhood (Gaussian sigma, px) over which the fill's own detail and a copy's source are measured
ENERGY_SIGMA = 4.0
#: the neighbourhood (Gaussian sigma, px) of context whose detail a hole pixel should match
NEAR_SIGMA = 12.0
#: the most a copied detail is amplified (a match from a calmer part of the photo than the hole's surroundings)
MAX_GAIN = 3.0
#: the band of context (px around the hole) whose gradient energy the hole's is matched to
BAND = 16


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of `(B, C, H, W)` with reflected borders (an image smaller than the kernel
    is padded by replication)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    x = F.conv2d(
        F.pad(x, (radius, radius, 0, 0), mode=mode), kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels
    )
    return F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode=mode), kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels
    )


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """`(H, W)` bool: the pixels within `radius` (a square) of `mask`'s; a square's max is two 1-D maxes, which is
    many times faster than one square pooling window."""
    x = mask[None, None].float()
    x = F.max_pool2d(x, (1, 2 * radius + 1), stride=1, padding=(0, radius))
    return F.max_pool2d(x, (2 * radius + 1, 1), stride=1, padding=(radius, 0))[0, 0] > 0


def _patch_features(guide: torch.Tensor, radius: int, components: int) -> torch.Tensor:
    """`(H*W, K)`: each position's `(2r+1)^2 * C` guide patch projected on the patches' first K principal
    directions. The directions come from a subsample of patches and the projection is a convolution, so the
    patches themselves are never all held at once (a 2048 px window has four million)."""
    side = 2 * radius + 1
    padded = F.pad(guide, (radius,) * 4, mode="replicate")
    height, width = guide.shape[-2:]
    stride = max(1, math.isqrt(height * width // 4096))
    sample = F.unfold(padded, side, stride=stride)[0].T  # (n, C*side*side)
    mean = sample.mean(0)
    k = min(components, sample.shape[0], sample.shape[1])
    _, _, v = torch.linalg.svd(sample - mean, full_matrices=False)
    basis = v[:k]  # (K, C*side*side)
    features = F.conv2d(padded, basis.view(k, guide.shape[1], side, side))[0]  # (K, H, W)
    return features.flatten(1).T - basis @ mean


def nearest_context(
    guide: torch.Tensor,
    hole: torch.Tensor,
    radius: int = PATCH_RADIUS,
    components: int = COMPONENTS,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> torch.Tensor | None:
    """For a `(1, C, H, W)` guide and an `(H, W)` bool hole: `(H, W, 2)` long, the (row, col) of a context
    position whose whole guide patch lies outside the hole and looks like the patch around each pixel
    (every position gets one; only the hole's are searched); None where the context holds no whole patch."""
    height, width = hole.shape
    blocked = dilate(hole, radius)
    rows, cols = torch.nonzero(~blocked, as_tuple=True)
    if rows.numel() == 0:
        return None
    features = _patch_features(guide, radius, components)
    generator = torch.Generator().manual_seed(seed)
    targets = torch.nonzero(hole, as_tuple=True)
    t_index = targets[0] * width + targets[1]
    t_features = features[t_index]
    pick = torch.randint(rows.numel(), (t_index.numel(),), generator=generator)
    best = torch.stack([rows[pick], cols[pick]], 1)
    best_cost = ((features[best[:, 0] * width + best[:, 1]] - t_features) ** 2).sum(1)
    source_ok = ~blocked

    def consider(candidate: torch.Tensor) -> None:
        nonlocal best, best_cost
        r, c = candidate[:, 0], candidate[:, 1]
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        r, c = r.clamp(0, height - 1), c.clamp(0, width - 1)
        ok = inside & source_ok[r, c]
        cost = ((features[r * width + c] - t_features) ** 2).sum(1)
        better = ok & (cost < best_cost)
        best = torch.where(better[:, None], torch.stack([r, c], 1), best)
        best_cost = torch.where(better, cost, best_cost)

    field = torch.zeros(height, width, 2, dtype=torch.long)
    for _ in range(rounds):
        for jump in (8, 4, 2, 1):
            field[targets] = best
            for dr, dc in ((jump, 0), (-jump, 0), (0, jump), (0, -jump)):
                nr = (targets[0] + dr).clamp(0, height - 1)
                nc = (targets[1] + dc).clamp(0, width - 1)
                neighbour_in_hole = hole[nr, nc]
                shifted = field[nr, nc] - torch.tensor([dr, dc])
                consider(torch.where(neighbour_in_hole[:, None], shifted, best))
        reach = max(height, width)
        while reach >= 1:
            jitter = torch.randint(-reach, reach + 1, best.shape, generator=generator)
            consider(best + jitter)
            reach //= 2
        pick = torch.randint(rows.numel(), (t_index.numel(),), generator=generator)
        consider(torch.stack([rows[pick], cols[pick]], 1))
    field[targets] = best
    return field


def transfer_texture(
    image: torch.Tensor,
    fill: torch.Tensor,
    hole: torch.Tensor,
    level: float,
    sigma: float = DETAIL_SIGMA,
    seed: int = 0,
) -> torch.Tensor:
    """`fill` `(C, H, W)` with the context's detail added inside the `(H, W)` bool `hole` until the hole's gradient
    energy per pair of neighbouring pixels is `level` (0-1) of the context's in a band around it (where the fill
    has less). Each copy goes where the fill lacks most against the context near it. `image` gives the context
    (its hole pixels are not read); pixels outside the hole come back as `image`'s. A hole that leaves no
    whole patch of context (or `level` 0) gets no texture: the fill comes back as it was."""
    if fill.dim() != 3 or image.shape != fill.shape or hole.shape != fill.shape[-2:]:
        raise DataError(
            f"transfer_texture wants (C, H, W) image and fill and an (H, W) hole, got "
            f"{tuple(image.shape)}, {tuple(fill.shape)} and {tuple(hole.shape)}"
        )
    if not 0 <= level <= 1:
        raise DataError(f"the texture level is a share of the context's detail, 0 to 1, got {level}")
    composite = torch.where(hole[None], fill, image).float()[None]
    if level == 0 or not hole.any():
        return composite[0].to(fill.dtype)
    height, width = hole.shape
    detail = composite - gaussian_blur(composite, sigma)
    # the guide at half resolution, on a copy padded to even sides so that each 2x2 block is one guide pixel
    even = (0, width % 2, 0, height % 2)
    guide = F.avg_pool2d(F.pad(gaussian_blur(composite, 2 * sigma), even, mode="replicate"), 2)
    small_hole = F.max_pool2d(F.pad(hole[None, None].float(), even, mode="replicate"), 2)[0, 0] > 0
    field = nearest_context(guide, small_hole, seed=seed)
    if field is None:
        return composite[0].to(fill.dtype)
    # each photo pixel takes its block's match, at the same place within the 2x2 block (context: the source
    # block holds no hole pixel, since a block with one is in the small hole)
    rows, cols = torch.arange(height), torch.arange(width)
    matched = field[rows // 2][:, cols // 2]
    source_r = (matched[..., 0] * 2 + rows[:, None] % 2).clamp(max=height - 1)
    source_c = (matched[..., 1] * 2 + cols[None, :] % 2).clamp(max=width - 1)
    copied = detail[0][:, source_r, source_c]
    # where the grain goes: each copy scaled from its own neighbourhood's detail energy to what the fill lacks
    # against the context near the pixel (deep inside a large hole, the whole context's), each side of the border
    # measured over its own pixels only
    energy = detail.pow(2).sum(1, keepdim=True)
    inside = hole[None, None].float()
    own = _local_mean(energy, inside, ENERGY_SIGMA)
    source = _local_mean(energy, 1 - inside, ENERGY_SIGMA)[source_r, source_c]
    reach = gaussian_blur(1 - inside, NEAR_SIGMA)  # how much context the wide neighbourhood holds
    near = gaussian_blur(energy * (1 - inside), NEAR_SIGMA)[0, 0] / reach[0, 0].clamp_min(1e-6)
    near = torch.where(reach[0, 0] > 1e-3, near, energy[0, 0][~hole].mean())
    added = copied * ((near - own).clamp_min(0) / source.clamp_min(1e-12)).sqrt().clamp(max=MAX_GAIN)
    # how much: the hole's gradient energy per pair of neighbouring pixels becomes `level` of the context's in a
    # band around the hole (a quadratic in the scale of what is added)
    band = dilate(hole, BAND) & ~hole
    scale = _calibrate(composite[0], added, hole, band if band.any() else ~hole, level)
    return torch.where(hole[None], composite[0] + scale * added, composite[0]).to(fill.dtype)


def _pairs(keep: torch.Tensor) -> int:
    """How many pairs of right or lower neighbours both lie in `keep` (what `hole_gradient_energy` sums over)."""
    return int((keep[:, 1:] & keep[:, :-1]).sum() + (keep[1:] & keep[:-1]).sum())


def _calibrate(
    composite: torch.Tensor, added: torch.Tensor, hole: torch.Tensor, band: torch.Tensor, level: float
) -> float:
    """The scale `a` >= 0 of `added` at which the hole's gradient energy per pixel pair is `level` of the band's
    (0 where the fill already has that much; at most `MAX_GAIN`). The energy of `composite + a * added` is the
    quadratic g0 + 2 a cross + a^2 g1, its cross term read off the energy of the sum."""
    pairs, band_pairs = _pairs(hole), _pairs(band)
    if pairs == 0 or band_pairs == 0:
        return 0.0
    g0 = hole_gradient_energy(composite, hole)
    g1 = hole_gradient_energy(added, hole)
    cross = (hole_gradient_energy(composite + added, hole) - g0 - g1) / 2
    target = level * pairs * hole_gradient_energy(composite, band) / band_pairs
    if g0 >= target or g1 <= 0:
        return 0.0
    scale = (-cross + math.sqrt(max(cross * cross - g1 * (g0 - target), 0.0))) / g1
    return float(min(max(scale, 0.0), MAX_GAIN))


def _local_mean(values: torch.Tensor, weight: torch.Tensor, sigma: float) -> torch.Tensor:
    """`(H, W)`: the Gaussian-weighted mean of `(1, 1, H, W)` values over the pixels `weight` keeps."""
    return (gaussian_blur(values * weight, sigma) / gaussian_blur(weight, sigma).clamp_min(1e-6))[0, 0]


def add_texture(images: torch.Tensor, filled: torch.Tensor, mask: torch.Tensor, level: float) -> torch.Tensor:
    """`transfer_texture` for each image of a `(B, C, H, W)` batch, the holes in a `(B or 1, 1, H, W)` mask."""
    mask = mask.bool().expand(images.shape[0], 1, *images.shape[-2:])
    return torch.stack([transfer_texture(x, f, m[0], level) for x, f, m in zip(images, filled, mask)])
