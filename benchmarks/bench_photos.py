"""Real photographs at their own resolution: learned photo models against the classical fills.

The held-out photos of the `photos` dataset (a fixed part chosen by a hash of each name, never trained
or tuned on), each scaled so its longer side is `--side` px (512), get one seeded mask of each kind
(thin, medium, thick: LaMa's settings; one brush stroke; one object box; the same masks for every
method). Every method fills every mask:

- the classical fills: mean colour, OpenCV Telea and Navier-Stokes, PatchMatch (pypatchmatch);
- learned models: pretrained entries or run directories (`--models`), each through `inpaint_photo` with
  its default strategy (photo models at the photo's own resolution, CIFAR-10 models by `crop`).

Per mask kind and method: pooled hole PSNR (0-255; all hole pixels of all photos), SSIM over each mask's
bounding box (mean over photos), median sharpness (gradient energy in the hole, fill over truth: 1 is
as detailed as the photo, 0 flat), the share of photos where the method's PSNR beats the best classical
anchor's on that photo, and seconds per 512x512 photo with a medium mask (median and range of
`--timing-runs` runs). Writes benchmarks/results/photos.json and photos_<kind>.png (labelled grids of
close-ups around the hole of the first three photos: masked, each method, truth; with `--out X.json`, X_<kind>.png).

    python benchmarks/bench_photos.py --models photo-ffc.l2,unet.freeform
    python benchmarks/bench_photos.py --models runs/photo-ffc-l2 --limit 12 --kinds thin,stroke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from inpaintzoo.classical import ANCHORS, CLASSICAL, patchmatch_available
from inpaintzoo.data.io import load_image_uint8
from inpaintzoo.data.photo_crops import find_photos_root, split_photos
from inpaintzoo.data.photo_masks import KINDS, draw
from inpaintzoo.metrics import hole_gradient_energy, psnr_from_mse, ssim_per_image
from inpaintzoo.photos import inpaint_photo

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 2026


def machine() -> dict[str, Any]:
    """The processor and load the figures were measured on."""
    try:
        from inpaintzoo.machine import describe_machine

        info = describe_machine()
    except ImportError:
        info = {"cpu": platform.processor()}
    info.update(threads=torch.get_num_threads(), load=[round(x, 2) for x in os.getloadavg()])
    return info


def held_out_photos(side: int, limit: int) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 HWC) of the held-out photos, the longer side scaled down to `side`."""
    root = find_photos_root()
    out = []
    for path in split_photos(root, "test")[: limit or None]:
        pixels = load_image_uint8(path)
        h, w = pixels.shape[-2:]
        scale = side / max(h, w)
        if scale < 1:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            pixels = F.interpolate(pixels[None].float(), size=size, mode="bilinear", antialias=True)[0]
            pixels = pixels.clamp(0, 255).round().to(torch.uint8)
        out.append((path.name, pixels.permute(1, 2, 0).numpy().copy()))
    return out


def gradient_energy(image: np.ndarray, hole: np.ndarray) -> float:
    """`metrics.hole_gradient_energy` of a uint8 `(H, W, 3)` photo and its `(H, W)` bool hole."""
    return hole_gradient_energy(torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(hole))


def box_ssim(fill: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    rows, cols = np.nonzero(hole)
    t, b, left, r = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a[t:b, left:r].copy()).permute(2, 0, 1)[None].float() / 255

    return float(ssim_per_image(tensor(fill), tensor(truth))[0])


def close_up(image: np.ndarray, hole: np.ndarray, least: int = 128) -> np.ndarray:
    """The square around the hole's bounding box (half its size again on each side, at least `least` px)."""
    rows, cols = np.nonzero(hole)
    h, w = hole.shape
    side = min(max(least, 2 * max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)), h, w)
    top = int(np.clip((rows.min() + rows.max()) // 2 - side // 2, 0, h - side))
    left = int(np.clip((cols.min() + cols.max()) // 2 - side // 2, 0, w - side))
    return image[top : top + side, left : left + side]


def load_model(name: str) -> Any:
    import inpaintzoo

    if Path(name).is_dir():
        return inpaintzoo.load_run(name, device="cpu")
    return inpaintzoo.pretrained(name)


def learned_fill(run: Any) -> Any:
    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return inpaint_photo(run, image, hole)

    return fill


def score(methods: dict[str, Any], photos: list[tuple[str, np.ndarray]], kinds: list[str]) -> tuple[dict, dict]:
    """Per kind and method: the metrics; and the fills of the first few photos for the grids."""
    table: dict[str, dict[str, Any]] = {}
    previews: dict[str, list[dict[str, np.ndarray]]] = {}
    for k, kind in enumerate(kinds):
        per: dict[str, dict[str, list[float]]] = {m: {"se": [], "n": [], "ssim": [], "sharp": []} for m in methods}
        previews[kind] = []
        for p, (name, image) in enumerate(photos):
            hole = draw(kind, *image.shape[:2], np.random.default_rng([SEED, k, p]))
            truth = image[hole].astype(np.float64)
            energy = gradient_energy(image, hole)
            shown: dict[str, np.ndarray] = {"masked": np.where(hole[..., None], 255, image).astype(np.uint8)}
            for method, fill in methods.items():
                out = fill(image, hole)
                per[method]["se"].append(float(((out[hole].astype(np.float64) - truth) ** 2).sum()))
                per[method]["n"].append(float(truth.size))
                per[method]["ssim"].append(box_ssim(out, image, hole))
                per[method]["sharp"].append(gradient_energy(out, hole) / energy if energy else float("nan"))
                if p < 3:
                    shown[method] = out
            if p < 3:
                shown["truth"] = image
                previews[kind].append({name: close_up(pixels, hole) for name, pixels in shown.items()})
            print(f"\r{kind}: {p + 1}/{len(photos)} photos", end="", file=sys.stderr)
        print(file=sys.stderr)
        photo_psnr = {m: [psnr_from_mse(se / n) for se, n in zip(v["se"], v["n"])] for m, v in per.items()}
        anchors = [m for m in ANCHORS if m in methods]
        best_anchor = [max(photo_psnr[a][i] for a in anchors) for i in range(len(photos))] if anchors else None
        table[kind] = {
            m: {
                "psnr": psnr_from_mse(sum(v["se"]) / sum(v["n"])),
                "ssim": float(np.mean(v["ssim"])),
                "sharpness": float(np.nanmedian(v["sharp"])),
                "beats_best_classical": (
                    float(np.mean([a > b for a, b in zip(photo_psnr[m], best_anchor)])) if best_anchor else None
                ),
            }
            for m, v in per.items()
        }
    return table, previews


def time_methods(methods: dict[str, Any], photos: list[tuple[str, np.ndarray]], runs: int) -> dict[str, Any]:
    """Seconds per 512x512 photo with a medium mask: one warm-up, then `runs` timed fills; median and range."""
    image = np.asarray(Image.fromarray(photos[0][1]).resize((512, 512), Image.BICUBIC))
    hole = draw("medium", 512, 512, np.random.default_rng([SEED, 99]))
    out = {}
    for method, fill in methods.items():
        fill(image, hole)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fill(image, hole)
            times.append(time.perf_counter() - start)
        out[method] = {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": times}
    return out


def _fill_large(name: str, height: int, width: int, queue: Any) -> None:
    """In a fresh process: one fill of a `height x width` photo with one brush stroke; seconds and peak memory."""
    import resource

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "0")) or torch.get_num_threads())
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    hole = draw("stroke", height, width, np.random.default_rng([SEED, 7]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fill = learned_fill(load_model(name)) if name not in CLASSICAL else CLASSICAL[name]
    start = time.perf_counter()
    fill(image, hole)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    queue.put({"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024})


def large_photos(names: list[str], sizes: list[tuple[int, int]], runs: int) -> dict[str, Any]:
    """Per model and size: `runs` fills with a brush stroke, each the first in a new process (as one `inpaint`
    command meets it); the median, lowest and highest seconds and peak resident memory."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    out: dict[str, Any] = {}
    for name in names:
        for height, width in sizes:
            measured = []
            for _ in range(runs):
                queue = context.Queue()
                child = context.Process(target=_fill_large, args=(name, height, width, queue))
                child.start()
                child.join()
                if child.exitcode != 0:
                    raise SystemExit(f"{name} at {width}x{height} failed in its process (exit {child.exitcode})")
                measured.append(queue.get())
            row = {
                key: {"median": statistics.median(m[key] for m in measured), "min": min(m[key] for m in measured),
                      "max": max(m[key] for m in measured)}
                for key in ("seconds", "peak_rss_mb")
            }
            out.setdefault(name, {})[f"{width}x{height}"] = {**row, "runs": measured}
            print(f"{name} {width}x{height}: {row}", file=sys.stderr)
    return out


def save_grid(path: Path, rows: list[dict[str, np.ndarray]], panel: int = 200) -> None:
    """Photos as rows; columns: the masked photo, each method, the truth; labelled on top."""
    columns = list(rows[0])
    label = 18
    canvas = Image.new("RGB", (panel * len(columns), label + panel * len(rows)), "white")
    pen = ImageDraw.Draw(canvas)
    for c, name in enumerate(columns):
        pen.text((c * panel + 4, 3), name, fill="black")
        for r, row in enumerate(rows):
            image = Image.fromarray(row[name])
            image = image.resize((panel, round(panel * image.height / image.width)), Image.LANCZOS)
            left, top = c * panel + (panel - image.width) // 2, label + r * panel + (panel - image.height) // 2
            canvas.paste(image, (left, top))
    canvas.save(path, optimize=True)


def summary(result: dict[str, Any], method: str) -> dict[str, Any]:
    """One method's photo scores as a card records them: per kind, their mean PSNR, the time, where measured."""
    kinds = {kind: rows[method] for kind, rows in result["kinds"].items()}
    return {
        "mean_psnr": round(float(np.mean([row["psnr"] for row in kinds.values()])), 3),
        "kinds": {k: {n: round(v, 4) if isinstance(v, float) else v for n, v in r.items()} for k, r in kinds.items()},
        "seconds_512": round(result["seconds_512"][method]["median"], 4),
        "photos": len(result["photos"]),
        "side": result["side"],
        "processor": processor(result["machine"]),
        "command": "python benchmarks/" + result["command"],
    }


def processor(info: dict[str, Any]) -> str:
    """The processor in words, with the units its speed depends on."""
    units = [name for key, name in (("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"))
             if info.get(key)]
    return f"{info.get('cpu', '?')} ({', '.join(units) or 'no AVX-512'}), {info.get('threads', '?')} threads"


def write_cards(result: dict[str, Any]) -> None:
    """Scores into the cards of the package's entries that were benchmarked, and the classical fills' file."""
    import inpaintzoo

    zoo = Path(inpaintzoo.__file__).resolve().parent / "zoo"
    methods = next(iter(result["kinds"].values()))
    for method in methods:
        card_path = zoo / "pretrained" / f"{method}.json"
        if card_path.is_file():
            data = json.loads(card_path.read_text())
            data["card"]["photo_benchmark"] = summary(result, method)
            card_path.write_text(json.dumps(data, indent=2) + "\n")
            print(f"wrote the photo scores into {card_path}")
    classical = {m: summary(result, m) for m in CLASSICAL if m in methods}
    (zoo / "classical.json").write_text(json.dumps(classical, indent=2) + "\n")
    print(f"wrote {zoo / 'classical.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="", help="comma-separated pretrained entries or run directories")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"mask kinds (default: {','.join(KINDS)})")
    parser.add_argument("--side", type=int, default=512, help="the photos' longer side in px")
    parser.add_argument("--limit", type=int, default=0, help="at most this many held-out photos (0: all)")
    parser.add_argument("--timing-runs", type=int, default=3, help="timed fills of a 512x512 photo per method")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "photos.json")
    parser.add_argument(
        "--large",
        action="store_true",
        help="only time fills of a 512x512 and a 12 Mpx (4000x3000) photo per model, each in a new process, "
        "with peak memory",
    )
    parser.add_argument(
        "--write-cards",
        action="store_true",
        help="record the scores in the cards of the package's photo entries and in zoo/classical.json",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods: dict[str, Any] = {
        name: fill for name, fill in CLASSICAL.items() if name != "patchmatch" or patchmatch_available()
    }
    if "patchmatch" not in methods:
        print("pypatchmatch is not installed: PatchMatch is left out (pip install pypatchmatch)", file=sys.stderr)
    for name in filter(None, args.models.split(",")):
        methods[Path(name).name] = learned_fill(load_model(name))
    if args.large:
        names = [n for n in args.models.split(",") if n] or ["telea"]
        sizes = large_photos(names, [(512, 512), (3000, 4000)], max(3, args.timing_runs))
        target = args.out.with_name("photos_large.json")
        result = {"machine": machine(), "load_after": os.getloadavg(), "fills": sizes}
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {target}")
        return
    kinds = [k for k in args.kinds.split(",") if k]
    photos = held_out_photos(args.side, args.limit)
    before = machine()
    table, previews = score(methods, photos, kinds)
    timing = time_methods(methods, photos, args.timing_runs)
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "photos": [name for name, _ in photos],
        "side": args.side,
        "seed": SEED,
        "machine": before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "kinds": table,
        "seconds_512": timing,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for kind in kinds:
        save_grid(args.out.with_name(f"{args.out.stem}_{kind}.png"), previews[kind])  # beside --out, its stem
    if args.write_cards:
        write_cards(result)
    print(f"{len(photos)} held-out photos, longer side {args.side}px; {processor(before)}, load {before.get('load')}")
    print(f"{'kind':8} {'method':22} {'PSNR':>6} {'SSIM':>6} {'sharp':>6} {'beats':>6} {'s/512px':>8}")
    for kind in kinds:
        for method, row in table[kind].items():
            beats = "" if row["beats_best_classical"] is None else f"{row['beats_best_classical']:.2f}"
            print(
                f"{kind:8} {method:22} {row['psnr']:6.2f} {row['ssim']:6.3f} {row['sharpness']:6.2f} {beats:>6} "
                f"{timing[method]['median']:8.3f}"
            )
    print(f"wrote {args.out} and {args.out.stem}_<kind>.png")


if __name__ == "__main__":
    main()
