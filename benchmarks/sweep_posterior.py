"""`posterior-mean`'s weight exponent τ and window, swept on the held-out slice of the training split.

The importance weights of K fills are the likelihoods of the sub-pixels after the hole, raised to τ (1: exact
self-normalised importance sampling; 0: the plain average of the samples). The sharper a model's likelihood,
the more the weights concentrate on one or two fills (a low effective sample size), and the estimate then rests
on those. This sweeps τ (and optionally the window: the hole's rows and N rows below it) for pretrained density
entries on the `val` split (the 2% of the training split their runs validated on, never the test images), with
the entry's `mean` decoding on the same images as the comparison. Writes JSON and a plot of hole MSE and ESS
against τ.

    python benchmarks/sweep_posterior.py diag-bilstm.cifar10 [--taus 0,0.03,0.1,0.3,1] [--windows all] [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "posterior_sweep.json"


def parse_floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SystemExit(f"{flag} takes comma-separated numbers, e.g. 0,0.1,1 (got {text!r})") from None
    if not values or any(v < 0 for v in values):
        raise SystemExit(f"{flag} takes numbers >= 0, e.g. 0,0.1,1 (got {text!r})")
    return values


def parse_windows(text: str) -> list[int | None]:
    out: list[int | None] = []
    for t in text.split(","):
        t = t.strip()
        if t == "all":
            out.append(None)
        elif t.isdigit():
            out.append(int(t))
        else:
            raise SystemExit(f"--windows takes 'all' or row counts >= 0, e.g. all,2 (got {t!r})")
    return out


def plot(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = sorted({str(r["entry"]) for r in results})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for index, entry in enumerate(entries):
        colour = f"C{index}"
        rows = [r for r in results if r["entry"] == entry and r["mode"] == "posterior-mean"]
        windows = {r["window"] for r in rows}  # None: every row after the hole
        for window in sorted(windows, key=lambda w: -1 if w is None else int(w)):
            line = sorted((r for r in rows if r["window"] == window), key=lambda r: float(r["tau"]))
            label = f"{entry} ({'all rows after the hole' if window is None else f'window {window}'})"
            taus = [float(r["tau"]) for r in line]
            axes[0].plot(taus, [float(r["hole_mse"]) for r in line], marker="o", color=colour, label=label)
            axes[1].plot(taus, [float(r["ess"]) for r in line], marker="o", color=colour, label=label)
        mean = next((r for r in results if r["entry"] == entry and r["mode"] == "mean"), None)
        if mean is not None:
            axes[0].axhline(float(mean["hole_mse"]), linestyle="--", color=colour, label=f"{entry}: mean")
    axes[0].set(xlabel="τ", ylabel="hole MSE (val)", title="posterior-mean: hole MSE")
    axes[1].set(xlabel="τ", ylabel="effective sample size", title="ESS of the K fills")
    top = max(float(r["tau"]) for r in results if r["mode"] == "posterior-mean")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlim(0, top * 1.3)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="+",
                        help="pretrained density entries (diag-bilstm.cifar10) or exported cards (path/NAME.json)")
    parser.add_argument("--taus", default="0,0.03,0.1,0.3,1", help="weight exponents to try")
    parser.add_argument("--windows", default="all", help="rows below the hole the weights count ('all' or N)")
    parser.add_argument("--k", type=int, default=16, help="fills per image")
    parser.add_argument("--limit", type=int, default=200, help="the first N images of the split")
    parser.add_argument("--split", default="val", choices=["val", "train"],
                        help="held-out data only: the test images are for the final scores")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    taus, windows = parse_floats(args.taus, "--taus"), parse_windows(args.windows)
    if args.k < 2:
        raise SystemExit(f"--k must be at least 2 fills to weigh (got {args.k})")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from inpaintzoo.hub import load_pretrained, read_card

    results: list[dict[str, object]] = []
    names = [Path(e).stem if e.endswith(".json") else e for e in args.entries]
    for given, name in zip(args.entries, names, strict=True):
        try:  # a registered name, or the path of an exported card (NAME.json) not yet in the zoo
            run = load_pretrained(read_card(given) if given.endswith(".json") else name, device="cpu", progress=False)
        except Exception as err:  # an unknown name: say which exist
            raise SystemExit(f"cannot load {name!r}: {err}") from None
        if run.config.get("task") != "density":
            raise SystemExit(f"{name} is not a density entry: posterior-mean fills only density models")
        settings: list[dict[str, object]] = [{"mode": "mean"}]
        settings += [{"mode": "posterior-mean", "k": args.k, "tau": t, "window": w} for w in windows for t in taus]
        for kwargs in settings:
            started = time.perf_counter()
            metrics, _ = run.evaluate(args.split, limit=args.limit, **kwargs)
            row = {"entry": name, "split": args.split, "images": metrics["images"], **kwargs,
                   "hole_mse": metrics["hole_mse"], "ess": metrics.get("ess"), "ess_median": metrics.get("ess_median"),
                   "seconds": time.perf_counter() - started}
            results.append(row)
            ess = f", ESS {row['ess']:.1f} (median {row['ess_median']:.1f})" if row["ess"] is not None else ""
            what = "mean"
            if kwargs["mode"] != "mean":
                what = f"posterior-mean τ {kwargs['tau']:g} window {kwargs['window']}"
            print(f"{name} {what}: hole MSE {row['hole_mse']:.0f}{ess} ({row['seconds']:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {"results": [], "runs": []}
    kept = [r for r in previous["results"] if r["entry"] not in names]  # one sweep per entry: the newest
    runs = [r for r in previous.get("runs", []) if not set(r["entries"]) & set(names)]
    runs.append({"entries": names, "command": " ".join(["python", *sys.argv]), "k": args.k, "limit": args.limit,
                 "load_average": os.getloadavg()})
    data = {"what": __doc__.splitlines()[0], "runs": runs, "results": kept + results}
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    plot(data["results"], png)
    print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
