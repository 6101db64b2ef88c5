"""Train the zoo's builtin pretrained entries and export them into the package (inpaintzoo/zoo/pretrained/).

Each entry is a recipe: the `inpaintzoo train` overrides and a CPU budget. This script runs the training,
exports the checkpoint that validation picks (the last one for adversarial models, whose validation L2 would pick
a warm-up epoch), scores it on the 1,000 CIFAR-10 test images with its own mask and writes its card.

    python benchmarks/train_zoo.py unet.l2                 # train + export + score one entry
    python benchmarks/train_zoo.py unet.freeform --export-only runs/zoo/freeform
    python benchmarks/train_zoo.py --list                  # the recipes and their commands

The builtin entries were trained two at a time on a 2-core CPU (one thread each, `OMP_NUM_THREADS=1`)
in bf16 with channels-last (AMX), while other work shared the machine; their cards record what each budget
bought (steps, images seen).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
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
    "pixelcnn.cifar10": {
        "overrides": [
            "data=cifar10",
            "density=pixelcnn",
            "train.lr=1e-3",
            "train.batch_size=64",
            "train.precision=bf16",
            "train.epochs=10",
            "train.val_fraction=0.02",
            "train.grid_every=0",
            "train.max_minutes=38",
        ],
        "checkpoint": "best",
        "about": "the study's PixelCNN (width 120, depth 4), far from converged: a density model that fills any hole",
    },
}
#: density entries are scored in every decoding mode; the card's `metrics` are its best mode's
DENSITY_MODES = {
    "greedy": {},
    "mean": {},
    "sample": {},
    "best-of-k": {"k": 4},
    "posterior-mean": {"k": 16, "tau": 0.1},
}


def score_modes(card: Path, limit: int) -> dict[str, dict[str, float]]:
    """Test-split metrics of a density entry in each decoding mode (the same seeded masks as `eval`)."""
    from inpaintzoo.pretrained import load_pretrained, read_card

    entry = read_card(card)  # read afresh: the registry was loaded before the entry's files existed
    name = entry.name
    run = load_pretrained(entry, device="cpu")
    out = {}
    for mode, kwargs in DENSITY_MODES.items():
        metrics, _ = run.evaluate("test", limit=limit, mode=mode, **kwargs)
        out[mode] = {**metrics, **kwargs}
        print(f"{name} ({mode}): hole MSE {metrics['hole_mse']:.0f}, {metrics['bits_per_dim']:.3f} bits/dim")
    return out


def command_line(name: str) -> str:
    return "inpaintzoo train " + " ".join(shlex.quote(o) for o in RECIPES[name]["overrides"])  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", choices=sorted(RECIPES))
    parser.add_argument("--list", action="store_true", help="print every recipe's command and exit")
    parser.add_argument("--runs", type=Path, default=Path("runs/zoo"), help="where the training runs go")
    parser.add_argument("--export-only", type=Path, metavar="RUN_DIR", help="skip training: export this run")
    parser.add_argument("--out", type=Path, default=ZOO, help="the folder of entries to write")
    parser.add_argument("--limit", type=int, default=0, help="score on the first N test images (0: all 1,000)")
    args = parser.parse_args()
    if args.list or args.name is None:
        for name in RECIPES:
            print(f"{name}: {RECIPES[name]['about']}\n  {command_line(name)}\n")
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import inpaintzoo
    from inpaintzoo.pretrained import export

    recipe = RECIPES[args.name]
    run_dir = args.export_only
    if run_dir is None:
        tag = args.name.split(".", 1)[1]
        run_dir = inpaintzoo.train([*recipe["overrides"], f"train.out={args.runs}", f"train.name={tag}"], progress=True)
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
    data["card"]["hardware"] = HARDWARE
    data["card"]["checkpoint"] = recipe["checkpoint"]
    if data["config"].get("task") == "density":
        modes = score_modes(card, args.limit)
        best = min(modes, key=lambda m: modes[m]["hole_mse"])
        data["card"]["metrics_by_mode"] = modes
        data["card"]["metrics"] = {**modes[best], "mode": best}
    card.write_text(json.dumps(data, indent=2) + "\n")
    metrics = data["card"]["metrics"]
    print(f"{args.name}: hole MSE {metrics['hole_mse']:.1f} on {metrics['images']} test images; wrote {weights}")


if __name__ == "__main__":
    main()
