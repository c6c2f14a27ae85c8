"""One training step of the default model per recipe, against fp32 in the same run.

Run: PYTHONPATH=python /usr/bin/python3 bench/bench_train_step.py [--reps 10] [--threads 2,1]
         [--recipes fp32,bf16,mxfp4_all,nvfp4_2d_rht16] [--phases]

What is timed is exactly what ``python -m fp4train.train`` does per step: each
recipe gets a ``fp4train.train._Run`` built from the training defaults (the
"small" model, batch 16 x 128 byte tokens of the generated default corpus,
CrossEntropyLoss, AdamW with the warmup-cosine schedule, global gradient-norm
clip 1.0), and ``_Run.train_step()`` is called: policy, batch, forward,
loss, backward, clip, AdamW. Evaluation, logging and checkpoints are not part
of a step.

Fairness on a shared machine: after 2 warm-up steps per recipe (buffers,
thread pools), the recipes' steps are interleaved round-robin, one step each
per round, and the order rotates every round, so load drift from other jobs
hits every recipe alike. Per recipe: best and median ms/step, tokens/s (from
the median), and the speed ratio to fp32 (fp32 time / recipe time; above 1 the
recipe is faster than fp32) from the best times, from the medians and as the
median of the per-round ratios (the two steps of a ratio ran seconds apart).
Thread counts use ``fp4train.set_num_threads`` (and OpenBLAS's, for numpy);
results are bit-identical for any count, only time changes.

--phases adds, after the timing, fp4train.profiler.StepProfiler's breakdown
of a few more steps per recipe (profiling wraps the Linear calls, so it is
kept out of the timed steps).
"""
import argparse
import os
import statistics
import sys
import time

if os.environ.get("OPENBLAS_CORETYPE") and "--keep-coretype" not in sys.argv:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import fp4train as ft  # noqa: E402
from fp4train import train as _train  # noqa: E402
from fp4train.profiler import StepProfiler  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_info import blas_description, set_blas_threads  # noqa: E402

DEFAULT_RECIPES = ("fp32", "bf16", "mxfp4_all", "nvfp4_2d_rht16")
WARMUP = 2


def make_run(recipe, steps):
    """A training run of the default configuration under ``recipe``.

    ``steps`` only sets the learning-rate schedule's horizon (the per-step
    work does not depend on it).
    """
    cfg = _train._normalize(dict(_train.DEFAULTS, recipe=recipe), steps)
    return _train._Run(cfg, _train._load_dataset(cfg))


def timed_step(run):
    """Seconds for one ``train_step``; fails loudly if training went non-finite."""
    t0 = time.perf_counter()
    rec = run.train_step()
    dt = time.perf_counter() - t0
    if rec is None:
        raise RuntimeError(f"step {run.step + 1} became non-finite; the timing is void")
    return dt


def measure(runs, reps, warmup=WARMUP):
    """Interleaved step times: ``{recipe: [seconds per round]}``.

    ``runs`` maps recipe name -> _Run. Every recipe first takes ``warmup``
    untimed steps; then ``reps`` rounds of one step each, the order rotated
    by one every round.
    """
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name].train_step()
    times = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(timed_step(runs[name]))
    return times


def summarize(times, tokens_per_step, baseline="fp32"):
    """Per recipe: best/median ms, tokens/s and ratios to ``baseline`` (None if absent)."""
    base = times.get(baseline)
    out = {}
    for name, ts in times.items():
        row = {"best_ms": 1e3 * min(ts), "median_ms": 1e3 * statistics.median(ts),
               "tokens_per_s": tokens_per_step / statistics.median(ts),
               "x_fp32_best": None, "x_fp32_median": None, "x_fp32_paired": None}
        if base is not None:
            row["x_fp32_best"] = min(base) / min(ts)
            row["x_fp32_median"] = statistics.median(base) / statistics.median(ts)
            row["x_fp32_paired"] = statistics.median(b / t for b, t in zip(base, ts))
        out[name] = row
    return out


def set_threads(n):
    """fp4train's and OpenBLAS's thread counts; returns whether OpenBLAS took it."""
    ft.set_num_threads(n)
    return set_blas_threads(n)


def _fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def print_table(threads, summary, reps):
    print(f"\n=== training step, default model, {threads} thread(s); {reps} interleaved "
          f"rounds after {WARMUP} warm-up steps ===")
    print(f"  {'recipe':<18} {'best ms':>9} {'median ms':>10} {'tokens/s':>9} "
          f"{'x fp32 best':>12} {'x fp32 med':>11} {'x fp32 paired':>14}")
    for name, r in summary.items():
        print(f"  {name:<18} {r['best_ms']:9.1f} {r['median_ms']:10.1f} "
              f"{r['tokens_per_s']:9.0f} {_fmt_ratio(r['x_fp32_best']):>12} "
              f"{_fmt_ratio(r['x_fp32_median']):>11} {_fmt_ratio(r['x_fp32_paired']):>14}")


def profile(runs, steps):
    """StepProfiler report per recipe over ``steps`` further steps each."""
    out = {}
    for name, run in runs.items():
        prof = StepProfiler(run.model)
        try:
            for _ in range(steps):
                with prof.step():
                    run.train_step(prof)
        finally:
            prof.close()
        out[name] = prof.report()
    return out


def _parse_list(text, name, convert=str):
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise SystemExit(f"argument '--{name}': expected a comma-separated list, got {text!r}")
    try:
        return [convert(s) for s in items]
    except ValueError:
        raise SystemExit(f"argument '--{name}': expected integers, got {text!r}") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=10, help="timed rounds per thread count")
    p.add_argument("--threads", default="2,1", help="thread counts, e.g. 2,1")
    p.add_argument("--recipes", default=",".join(DEFAULT_RECIPES),
                   help="recipes (fp32 first is the baseline; put it in the list)")
    p.add_argument("--phases", action="store_true",
                   help="also print StepProfiler's breakdown (extra, untimed steps)")
    p.add_argument("--phase-steps", type=int, default=3)
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE from the environment")
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error(f"argument '--reps': expected an int >= 1, got {args.reps}")
    recipes = _parse_list(args.recipes, "recipes")
    unknown = [r for r in recipes if r not in ft.recipes.names()]
    if unknown:
        p.error(f"argument '--recipes': unknown preset(s) {', '.join(unknown)}; "
                f"the presets are {', '.join(ft.recipes.names())}")
    thread_counts = _parse_list(args.threads, "threads", int)
    if any(t < 1 for t in thread_counts):
        p.error(f"argument '--threads': expected counts >= 1, got {args.threads!r}")

    print(blas_description())
    print(f"fp4train {ft.__version__}, SIMD path {ft.get_isa()}, CPU cores {os.cpu_count()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    horizon = len(thread_counts) * (WARMUP + args.reps) + args.phase_steps + 10
    runs = {name: make_run(name, horizon) for name in recipes}
    tokens = next(iter(runs.values())).tokens_per_step
    cfg = next(iter(runs.values())).cfg
    print(f"model {cfg['model']}, batch {cfg['batch_size']} x {cfg['seq_len']} = {tokens} "
          f"tokens/step")
    results = {}
    for threads in thread_counts:
        set_threads(threads)
        results[threads] = summarize(measure(runs, args.reps), tokens)
        print_table(threads, results[threads], args.reps)
    if len(thread_counts) > 1 and 1 in results:
        print("\n  speed-up over 1 thread (median times): " + "; ".join(
            f"{t} threads: " + ", ".join(
                f"{n} {results[1][n]['median_ms'] / results[t][n]['median_ms']:.2f}x"
                for n in recipes)
            for t in thread_counts if t != 1))
    if args.phases:
        for threads in thread_counts:
            set_threads(threads)
            print(f"\n=== StepProfiler, {threads} thread(s), {args.phase_steps} steps each ===")
            for name, rep in profile(runs, args.phase_steps).items():
                print(f"[{name}] " + StepProfiler.format(rep))
    ft.set_num_threads(0)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
