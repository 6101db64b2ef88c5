"""Train the zoo's builtin pretrained entries and export them into the package (inpaintzoo/zoo/pretrained/).

Each entry is a recipe: the `inpaintzoo train` overrides and a CPU budget. This script runs the training,
exports the checkpoint that validation picks (the last one for adversarial models, whose validation L2 would pick
a warm-up epoch), scores it on the 1,000 CIFAR-10 test images with its own mask and writes its card.

    python benchmarks/train_zoo.py unet.l2                 # train + export + score one entry
    python benchmarks/train_zoo.py unet.freeform --export-only runs/zoo/freeform
    python benchmarks/train_zoo.py --list                  # the recipes and their commands
    python benchmarks/train_zoo.py row-lstm.cifar10 --snapshot-at 10 --snapshot-to runs/table1/row-lstm
    python benchmarks/train_zoo.py diag-bilstm.cifar10 --resume runs/zoo/diag-bilstm --trained 15
    python benchmarks/train_zoo.py row-lstm.cifar10 --add-modes mean+mirror   # score one more decoding

A density recipe with a cooldown trains its minutes, then resumes for a set number of steps with the learning
rate falling linearly to 0 (`train.cooldown_steps`); `--export-only RUN --cooled MINUTES` exports a run that has
had it.

`--snapshot-at M` stops the training after M minutes, copies the run directory (the same model trained for M
minutes: the study's Table 1 rows at an equal budget, benchmarks/bench_table1.py) and resumes it to the full
budget; resuming is exact, so the entry is the one an uninterrupted run trains.

The builtin entries were trained two at a time on a 2-core CPU (one thread each, `OMP_NUM_THREADS=1`)
in bf16 with channels-last (AMX), while other work shared the machine; their cards record what each budget
bought (steps, images seen).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "inpaintzoo" / "zoo" / "pretrained"

#: the benchmark's generator: a U-Net code cropped around the hole, no overlap band
GENERATOR = [
    "data=cifar10",
    "encoder=unet",
    "encoder.width=24",
    "encoder.depth=1",
    "decoder=conv",
    "model.overlap=0",
]
#: mirrored and shifted images, EMA weights, bf16 on AMX, channels-last
TRAINING = [
    "train.lr_decay=0.85",
    "train.ema=0.99",
    "train.hflip=true",
    "train.shift=2",
    "train.batch_size=64",
    "train.precision=bf16",
    "train.channels_last=true",
    "train.epochs=100",
]

#: what the builtin entries were trained on (the card records it beside the budget)
HARDWARE = "one thread of a 2-core Sapphire Rapids CPU (bf16 on AMX), two trainings at a time"

#: the density models' training, tuned by 2.5-minute runs per learning rate on the held-out 2% slice
#: (benchmarks/README.md): name -> (learning rate, extra overrides, minutes, cooldown steps). After its minutes a
#: run with a cooldown is resumed for that many more steps with the rate falling linearly to 0
#: (`train.cooldown_steps`): about half again of its steps, where the constant-rate run had flattened out
#: (`gated-pixelcnn`: 3000, after a 1900-step cooldown of the same 60 minutes reached 4.002 bits/dim). The
#: PixelCNN has none: a 1550-step cooldown took its test bits/dim from 4.874 to 4.757 but every fill got worse
#: (mean 2425 -> 2857; benchmarks/README.md). A second cooldown on a cooled run (restarting at the scheduled
#: rate) diverged at once (7.8 bits/dim on its first steps): lengthen the one cooldown instead.
DENSITY_TUNED: dict[str, tuple[str, list[str], float, int]] = {
    "pixelcnn": ("3e-3", [], 20, 0),
    "gated-pixelcnn": ("3e-3", [], 60, 3000),
    "row-lstm": ("3e-3", [], 20, 0),
    "diag-bilstm": ("3e-3", [], 60, 0),
    "flat-lstm": ("3e-3", [], 10, 550),
}


def density_recipe(name: str, about: str) -> dict[str, object]:
    """A density entry: its tuned learning rate, bf16, a short EMA (a 20-minute budget is a few thousand steps)."""
    lr, extra, minutes, cooldown = DENSITY_TUNED[name]
    overrides = [
        "data=cifar10",
        f"density={name}",
        *extra,
        f"train.lr={lr}",
        "train.ema=0.99",
        "train.batch_size=64",
        "train.precision=bf16",
        "train.epochs=10",
        "train.val_fraction=0.02",
        "train.grid_every=0",
        f"train.max_minutes={minutes:g}",
    ]
    return {"overrides": overrides, "checkpoint": "best", "about": about, "cooldown_steps": cooldown}


#: the photo entries' model: FFC blocks at any size, correcting OpenCV Telea's fill of the hole
PHOTO_MODEL = [
    "mask=lama",
    "mask.fill=telea",
    "encoder=ffc",
    "encoder.width=32",
    "encoder.blocks=6",
    "decoder=conv",
    "decoder.layers=0",
    "model.residual=true",
    "model.overlap=4",
    "model.overlap_weight=1",
]

#: the adversarial fine-tune of the photo model at 256 px (ffc.photos-gan and what was trained on from it)
PHOTO_GAN = [
    "data=photos",
    "data.image_size=256",
    "data.crops_per_photo=12",
    *PHOTO_MODEL,
    "disc=patch",
    "disc.width=64",
    "disc.layers=3",
    "loss=gan",
    "loss.alpha=0.3",
    "loss.balance=true",
    "loss.hole_patches=true",
    "loss.feature_matching=10",
    "train.batch_size=16",
    "train.lr=0.0002",
    "train.disc_lr=0.0002",
    "train.lr_decay=1.0",
    "train.ema=0.999",
    "train.precision=bf16",
    "train.channels_last=true",
    "train.val_fraction=0.03",
    "train.grid_every=0",
]

RECIPES: dict[str, dict[str, object]] = {
    "unet.l2": {
        "overrides": [*GENERATOR, "model.mirror=true", "train.lr=2e-3", *TRAINING, "train.max_minutes=65"],
        "checkpoint": "best",
        "about": "L2 context encoder for the study's centre 8x8 hole of a 32x32 image",
    },
    "unet.gan": {
        "overrides": [
            *GENERATOR,
            "disc=dcgan",
            "disc.width=32",
            "loss=gan",
            "loss.alpha=0.5",
            "loss.balance=true",
            "loss.warmup=2000",
            "train.lr=1e-3",
            "train.disc_lr=2e-4",
            *TRAINING,
            "train.max_minutes=25",
        ],
        "checkpoint": "last",
        "about": "the sharper adversarial fill of the centre 8x8 hole (DCGAN critic, balanced push, L2 warm-up)",
    },
    "unet.freeform": {
        "overrides": [*GENERATOR, "mask=freeform", "model.mirror=true", "train.lr=2e-3", *TRAINING,
                      "train.max_minutes=70"],
        "checkpoint": "best",
        "about": "fills any mask: trained on brush strokes (1-5 px) and random rectangles (2-16 px) mixed",
    },
    "ffc.photos": {
        "overrides": [
            "data=photos",
            "data.image_size=128",
            "data.crops_per_photo=64",
            *PHOTO_MODEL,
            "loss=l2",
            "train.batch_size=16",
            "train.lr=0.001",
            "train.lr_decay=0.97",
            "train.epochs=1000",
            "train.ema=0.999",
            "train.precision=bf16",
            "train.channels_last=true",
            "train.val_fraction=0.03",
            "train.max_steps=6000",
            "train.cooldown_steps=1500",
            "train.max_minutes=100",
        ],
        "checkpoint": "best",
        "hardware": "both threads of a 2-core AMD EPYC (AVX-512 + AVX512-BF16, no AMX), bf16, beside other work",
        "about": "photo model: FFC residual blocks at any size, correcting OpenCV Telea's fill of any photo hole",
    },
    "ffc.photos-gan": {
        "overrides": [
            *PHOTO_GAN,
            "train.init_from=runs/zoo/ffc",  # the ffc.photos recipe's run: train that one first
            "train.max_minutes=2.6",
        ],
        "checkpoint": "last",
        "hardware": "one NVIDIA H200 (lent for minutes), bf16, 1,022 steps; started from the ffc.photos weights",
        "about": "ffc.photos fine-tuned against a PatchGAN critic that judges the hole's patches, with feature "
        "matching: sharper fills at about the same PSNR",
    },
    "ffc.photos-texture": {
        "overrides": [
            *PHOTO_GAN,
            "train.init_from=runs/zoo/photos-gan",  # the ffc.photos-gan recipe's run: train that one first
            "train.max_minutes=7",
            "model.texture=0.75",  # inference only: training is the same, validation measures the textured fill
        ],
        "checkpoint": "last",
        "hardware": "one NVIDIA H200 (lent for minutes), bf16, 2,209 steps beside a second fine-tune; started from "
        "the ffc.photos-gan weights",
        "about": "ffc.photos-gan trained on against its critic, its fills topped up with the photo's own grain "
        "(model.texture=0.75: detail copied from where the context looks like the fill)",
    },
    **{
        f"{name}.cifar10": density_recipe(name, about)
        for name, about in (
            ("pixelcnn", "the study's PixelCNN (width 120, depth 4): a density model that fills any hole"),
            ("gated-pixelcnn", "Gated PixelCNN (width 64, 6 layers, no blind spot): fills any hole pixel by pixel"),
            ("row-lstm", "PixelRNN Row LSTM (64 hidden, 3 layers): fills any hole pixel by pixel"),
            ("diag-bilstm", "PixelRNN Diagonal BiLSTM (64 hidden, 2 layers): fills any hole pixel by pixel"),
            ("flat-lstm", "the study's Flattened Row LSTM (64 hidden): fills any hole sub-pixel by sub-pixel"),
        )
    },
}
#: density entries are scored in every decoding (a label -> its `evaluate` arguments); the card's `metrics` are
#: its best decoding's. `+mirror` averages the fill with the mirror image's (twice the cost).
DENSITY_DECODINGS: dict[str, dict[str, object]] = {
    "greedy": {"mode": "greedy"},
    "mean": {"mode": "mean"},
    "sample": {"mode": "sample"},
    "best-of-k": {"mode": "best-of-k", "k": 4},
    "posterior-mean": {"mode": "posterior-mean", "k": 16, "tau": 0.1},
    "mean+mirror": {"mode": "mean", "mirror": True},
    "posterior-mean+mirror": {"mode": "posterior-mean", "k": 16, "tau": 0.1, "mirror": True},
}
#: posterior-mean's weight exponent where 0.1 is not the best on the entry's held-out slice (200 images of the
#: 2% its run validated on; `python benchmarks/sweep_posterior.py NAME`, results/posterior_sweep.json)
POSTERIOR_TAU: dict[str, float] = {"diag-bilstm.cifar10": 0.03, "gated-pixelcnn.cifar10": 0.03}


def decoding(name: str, label: str) -> dict[str, object]:
    """The `evaluate` arguments of one decoding of entry `name` (its own posterior-mean τ)."""
    kwargs = dict(DENSITY_DECODINGS[label])
    if "tau" in kwargs:
        kwargs["tau"] = POSTERIOR_TAU.get(name, kwargs["tau"])
    return kwargs


def score_modes(
    card: Path, limit: int, labels: list[str] | None = None, done: Callable[[dict], None] | None = None
) -> dict[str, dict[str, object]]:
    """Test-split metrics of a density entry in each decoding (the same seeded masks as `eval`); `done` gets the
    results so far after each decoding, so that a long scoring that is stopped keeps what it measured."""
    from inpaintzoo.hub import load_pretrained, read_card

    entry = read_card(card)  # read afresh: the registry was loaded before the entry's files existed
    name = entry.name
    run = load_pretrained(entry, device="cpu")
    out = {}
    for label in labels or list(DENSITY_DECODINGS):
        kwargs = decoding(name, label)
        metrics, _ = run.evaluate("test", limit=limit, **kwargs)
        out[label] = {**metrics, **kwargs}
        if done is not None:
            done(out)
        mse, bpd = metrics["hole_mse"], metrics["bits_per_dim"]
        print(f"{name} ({label}): hole MSE {mse:.0f}, {bpd:.3f} bits/dim", flush=True)
    return out


def set_headline(card: dict[str, object], modes: dict[str, dict[str, object]]) -> None:
    """The card's `metrics` are its best decoding's (lowest hole MSE), with that decoding's arguments."""
    best = min(modes, key=lambda m: float(modes[m]["hole_mse"]))  # type: ignore[arg-type]
    card["metrics_by_mode"] = modes
    card["metrics"] = {**modes[best], "decoding": best}


def parse_decodings(text: str, option: str) -> list[str]:
    """Comma-separated decoding labels, each one of DENSITY_DECODINGS (else a one-line exit naming them)."""
    labels = [label for label in text.split(",") if label]
    unknown = [label for label in labels if label not in DENSITY_DECODINGS]
    if unknown:
        raise SystemExit(f"{option}: unknown {unknown[0]!r} (known: {', '.join(DENSITY_DECODINGS)})")
    return labels


def write_scored(card_path: Path, data: dict, modes: dict[str, dict[str, object]]) -> None:
    """Set the card's headline from `modes` and write it (after every decoding: a stopped scoring keeps them)."""
    set_headline(data["card"], modes)
    card_path.write_text(json.dumps(data, indent=2) + "\n")


def add_modes(card_path: Path, labels: list[str], limit: int) -> None:
    """Score more decodings of an exported density entry into its card, and choose its headline again."""
    if not card_path.is_file():
        raise SystemExit(f"--add-modes: no card {card_path}: export the entry first")
    data = json.loads(card_path.read_text())
    modes = {label: {**DENSITY_DECODINGS[label], **m} for label, m in data["card"]["metrics_by_mode"].items()}
    score_modes(card_path, limit, labels, done=lambda scored: write_scored(card_path, data, {**modes, **scored}))
    metrics = data["card"]["metrics"]
    print(f"{data['name']}: best {metrics['decoding']}, hole MSE {metrics['hole_mse']:.1f}; wrote {card_path}")


def command_line(name: str) -> str:
    line = "inpaintzoo train " + " ".join(shlex.quote(o) for o in RECIPES[name]["overrides"])  # type: ignore[union-attr]
    cooldown = RECIPES[name].get("cooldown_steps", 0)
    if cooldown:
        line += (f" && inpaintzoo train --resume RUN_DIR train.max_steps=S+{cooldown} train.cooldown_steps={cooldown}"
                 " train.max_minutes=0  # S: the step the minutes stopped at")
    return line


def stopped_at(run_dir: Path) -> int:
    """The step a run's last leg ended at (its metrics' last record)."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return int(json.loads(next(line for line in reversed(lines) if line.strip()))["step"])


def cool_down(run_dir: Path, steps: int) -> float:
    """Resume the run for `steps` more steps with the rate falling linearly to 0; the minutes it took."""
    import time

    import inpaintzoo

    last = stopped_at(run_dir) + steps
    started = time.perf_counter()
    overrides = [f"train.max_steps={last}", f"train.cooldown_steps={steps}", "train.max_minutes=0"]
    inpaintzoo.train(overrides, progress=True, resume=run_dir)
    return (time.perf_counter() - started) / 60


def recipe_minutes(recipe: dict[str, object]) -> float:
    overrides = recipe["overrides"]
    assert isinstance(overrides, list)
    return float(next(o for o in overrides if o.startswith("train.max_minutes=")).split("=", 1)[1])


def train_with_snapshot(overrides: list[str], minutes: float, snapshot: Path | None) -> Path:
    """Train for `minutes`, copy the run directory to `snapshot`, resume to the recipe's whole budget."""
    import inpaintzoo

    if snapshot is None or snapshot.exists():
        raise SystemExit(f"--snapshot-at needs a --snapshot-to that does not exist yet (got {snapshot})")
    budget = recipe_minutes({"overrides": overrides})
    if not 0 < minutes < budget:
        raise SystemExit(f"--snapshot-at {minutes:g} must lie inside the recipe's budget of {budget:g} minutes")
    run_dir = inpaintzoo.train([*overrides, f"train.max_minutes={minutes}"], progress=True)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run_dir, snapshot)
    print(f"snapshot after {minutes:g} minutes: {snapshot}", flush=True)
    return inpaintzoo.train([f"train.max_minutes={budget - minutes}"], progress=True, resume=run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", choices=sorted(RECIPES))
    parser.add_argument("--list", action="store_true", help="print every recipe's command and exit")
    parser.add_argument("--runs", type=Path, default=Path("runs/zoo"), help="where the training runs go")
    parser.add_argument("--export-only", type=Path, metavar="RUN_DIR", help="skip training: export this run")
    parser.add_argument("--out", type=Path, default=ZOO, help="the folder of entries to write")
    parser.add_argument("--limit", type=int, default=0, help="score on the first N test images (0: all 1,000)")
    parser.add_argument("--snapshot-at", type=float, default=0.0, metavar="MINUTES",
                        help="copy the run after this many minutes to --snapshot-to, then train on")
    parser.add_argument("--snapshot-to", type=Path, help="where the snapshot's run directory goes (must not exist)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="train this run of the recipe on to the recipe's budget (with --trained), then export")
    parser.add_argument("--trained", type=float, default=0.0, metavar="MINUTES",
                        help="with --resume or --export-only: the minutes the run had trained before it was resumed")
    parser.add_argument("--decodings", metavar="LABELS",
                        help=f"score these decodings of a density entry (default all: {','.join(DENSITY_DECODINGS)})")
    parser.add_argument("--cooled", type=float, default=0.0, metavar="MINUTES",
                        help="with --export-only: the run has had its cooldown, which took this many minutes")
    parser.add_argument("--add-modes", metavar="LABELS",
                        help="score these decodings (comma-separated: mean+mirror,...) into the card in --out")
    args = parser.parse_args()
    if args.list or args.name is None:
        for name in RECIPES:
            print(f"{name}: {RECIPES[name]['about']}\n  {command_line(name)}\n")
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import inpaintzoo
    from inpaintzoo.hub import export

    recipe = RECIPES[args.name]
    if args.add_modes:
        add_modes(args.out / f"{args.name}.json", parse_decodings(args.add_modes, "--add-modes"), args.limit)
        return
    labels = parse_decodings(args.decodings, "--decodings") if args.decodings else None
    budget = recipe_minutes(recipe)
    if args.resume is not None and not 0 < args.trained < budget:
        raise SystemExit(f"--resume needs --trained MINUTES inside the budget of {budget:g} (got {args.trained:g})")
    run_dir = args.export_only
    if args.resume is not None:
        run_dir = inpaintzoo.train([f"train.max_minutes={budget - args.trained:g}"], progress=True, resume=args.resume)
    elif run_dir is None:
        arch, tag = args.name.split(".", 1)
        tag = arch if tag in ("cifar10", "photos") else tag  # runs/zoo/l2, runs/zoo/row-lstm, runs/zoo/ffc
        overrides = [*recipe["overrides"], f"train.out={args.runs}", f"train.name={tag}"]
        if args.snapshot_at:
            run_dir = train_with_snapshot(overrides, args.snapshot_at, args.snapshot_to)
        else:
            run_dir = inpaintzoo.train(overrides, progress=True)
    cooldown = int(recipe.get("cooldown_steps", 0))  # type: ignore[call-overload]
    cooled = args.cooled
    if cooldown and not cooled:
        if json.loads((run_dir / "config.json").read_text())["train"].get("cooldown_steps"):
            raise SystemExit(f"{run_dir} has had its cooldown: export it with --cooled MINUTES (the time it took)")
        cooled = cool_down(run_dir, cooldown)
    command = f"{command_line(args.name)}  # or: python benchmarks/train_zoo.py {args.name}"
    weights, card = export(
        run_dir,
        args.name,
        args.out,
        score=True,
        overwrite=True,
        command=command,
        progress=sys.stderr.isatty(),
        limit=args.limit,
        checkpoint=str(recipe["checkpoint"]),
    )
    data = json.loads(card.read_text())
    data["card"]["about"] = recipe["about"]
    data["card"]["hardware"] = recipe.get("hardware", HARDWARE)
    data["card"]["checkpoint"] = recipe["checkpoint"]
    if args.snapshot_at or args.trained or cooldown:  # its config holds the last leg's budget, the card the whole
        data["card"]["budget"]["max_minutes"] = budget
    if args.snapshot_at:
        data["card"]["snapshot"] = {"minutes": args.snapshot_at, "to": str(args.snapshot_to)}
    if args.trained:
        data["card"]["resumed"] = {"after_minutes": args.trained}
    if cooldown:
        data["card"]["cooldown"] = {"steps": cooldown, "minutes": round(cooled, 1)}
    if data["config"].get("task") == "density":  # the card is written after each decoding
        score_modes(card, args.limit, labels, done=lambda modes: write_scored(card, data, modes))
    else:
        card.write_text(json.dumps(data, indent=2) + "\n")
    metrics = data["card"]["metrics"]
    print(f"{args.name}: hole MSE {metrics['hole_mse']:.1f} on {metrics['images']} test images; wrote {weights}")
    if data["config"]["data"]["name"] == "photos":
        print(f"now score it on whole photos: python benchmarks/bench_photos.py --models {args.name} --write-cards")


if __name__ == "__main__":
    main()
