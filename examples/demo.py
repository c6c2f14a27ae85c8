"""fp4train demo: train a small Llama-style model under fp32 and two FP4 recipes.

Trains the default ``small`` model (4 blocks, dim 128) on the built-in
byte-level corpus three times, with identical data, seed and
hyperparameters, under

- ``fp32``: the unquantized baseline,
- ``mxfp4_all``: MXFP4 for all three GEMMs of every linear layer, no
  stabilizer,
- ``nvfp4_2d_rht16``: NVIDIA's published NVFP4 recipe (16x16 weight tiles,
  stochastic rounding of gradients, a 16-point Hadamard on wgrad),

then prints the comparison table (final validation loss, gap to fp32, the
extra tokens an FP4 run needs to reach fp32's final loss, tokens/s) and
where the plot of validation loss against tokens is. It is the ``demo``
suite of ``python -m fp4train.ablate``; the results land in ``runs/demo``
(results.md, results.json, val_loss.png, one folder per run).

Running it again skips the finished runs and resumes an interrupted one, so
Ctrl-C loses at most the steps since the last checkpoint. ``--fresh``
starts over; ``--steps 4 --model tiny`` is a seconds-long smoke run.

Run: bash .ci/demo [options]   (or: .venv/bin/python examples/demo.py [options])
"""
import argparse
import time
from pathlib import Path

import fp4train as ft
from fp4train import ablate

ROOT = Path(__file__).resolve().parents[1]

#: Steps per run by default: the three runs take a few minutes together on 2 cores.
DEFAULT_STEPS = 300


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"optimizer steps per run (default {DEFAULT_STEPS})")
    p.add_argument("--model", default="small", help="model size: tiny, small or medium")
    p.add_argument("--out", default=str(ROOT / "runs" / "demo"),
                   help="output folder (default: runs/demo in the repository)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="delete earlier runs and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def verdicts(rows):
    """One sentence per FP4 run saying how it compares with the baseline."""
    lines = []
    for r in rows:
        if r["baseline"]:
            continue
        if r["stopped_early"] or r["gap_pct"] is None:
            lines.append(f"  {r['label']}: stopped early ({r['status']}).")
            continue
        if r["token_cost_pct"] is None:
            cost = "and had not reached the baseline's final loss when its token budget ran out"
        elif r["token_cost_pct"] <= 0:
            cost = f"and reached the baseline's final loss with {-r['token_cost_pct']:.1f}% " \
                   "fewer tokens"
        else:
            cost = f"and needed {r['token_cost_pct']:.1f}% more tokens to reach the " \
                   "baseline's final loss"
        lines.append(f"  {r['label']}: final validation loss {r['gap_pct']:+.2f}% vs the "
                     f"baseline, {cost}.")
    return lines


def main(argv=None):
    args = parse_args(argv)
    entries, baseline = ablate.suite_entries("demo")
    print(f"fp4train {ft.__version__} | SIMD path {ft.get_isa()} | "
          f"{ft.get_num_threads()} threads")
    print(f"Training the '{args.model}' model for {args.steps} steps under "
          f"{', '.join(label for label, _ in entries)} (same data and seed {args.seed}; "
          f"baseline {baseline}). Results: {args.out}\n")
    t0 = time.perf_counter()
    res = ablate.run("demo", args.steps, args.out, seed=args.seed, model=args.model,
                     resume=not args.fresh, progress=not args.quiet,
                     command="python examples/demo.py " + " ".join(
                         f"--{k} {v}" for k, v in (("steps", args.steps),
                                                   ("model", args.model),
                                                   ("seed", args.seed))))
    print()
    print(res["table"])
    print()
    print("\n".join(verdicts(res["rows"])))
    print(f"\nPlot of validation loss against tokens: {res['plot']}")
    print(f"Table and every number: {res['markdown']}, {res['json']}")
    print(f"({time.perf_counter() - t0:.0f} s; rerun to reuse the finished runs, --fresh to "
          "start over; python -m fp4train.ablate --list shows the larger suites)")
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
