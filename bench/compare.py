"""fp4train against same-run baselines: the issue-6 performance table.

Run: .venv/bin/python bench/compare.py [--quick] [--threads 1,2] [--skip-train-step]

Everything is measured in this one process, best of --repeat runs after a
warm-up, and printed as ratios against baselines measured in the same run:
  * quantizers vs a memcpy of their float32 input, on 1 thread (numpy.copyto)
    and on 2 threads (numpy.copyto of two contiguous halves in two threads:
    numpy releases the GIL, so this is the parallel memcpy that bounds a
    2-thread quantizer, as memcpy/t2 does in build/bench/bench_quantize);
  * qgemm vs numpy float32 matmul of the same shape (GFLOP/s ratio);
  * Linear forward+backward vs numpy's three float32 GEMMs of the layer;
  * one training step of the default model (fp4train.train's _Run.train_step:
    forward, loss, backward, clip, AdamW) per recipe vs fp32's step, the
    recipes' steps interleaved round-robin (bench/bench_train_step.py; skip
    with --skip-train-step).
numpy must use OpenBLAS with its AVX-512 kernels for the GEMM baselines to be
fair: if OPENBLAS_CORETYPE is set (the environment here forces Haswell,
which halves OpenBLAS), the script re-executes itself without it, and it
prints the BLAS and kernel numpy actually used.
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

if os.environ.get("OPENBLAS_CORETYPE") and "--keep-coretype" not in sys.argv:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

import fp4train as ft  # noqa: E402
import fp4train.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_info import blas_description, set_blas_threads  # noqa: E402
import bench_train_step  # noqa: E402
from bench_linear import best_time as best  # noqa: E402




class Table:
    def __init__(self, title, unit):
        self.title, self.unit, self.rows = title, unit, []

    def add(self, name, value, baseline, lower_is_better):
        ratio = baseline / value if lower_is_better else value / baseline
        self.rows.append((name, value, baseline, ratio))

    def print(self, value_head, base_head, ratio_head):
        print(f"\n{self.title}")
        print(f"  {'case':<40} {value_head:>12} {base_head:>12} {ratio_head:>12}")
        for name, v, b, r in self.rows:
            print(f"  {name:<40} {v:12.2f} {b:12.2f} {r:12.2f}")


def parallel_copy(pool, dst, src, parts):
    """numpy.copyto of `parts` contiguous row slices, one per pool thread."""
    bounds = [len(src) * i // parts for i in range(parts + 1)]
    jobs = [pool.submit(np.copyto, dst[lo:hi], src[lo:hi])
            for lo, hi in zip(bounds[:-1], bounds[1:])]
    for j in jobs:
        j.result()


def quantizers(args, rng):
    n = 4096 if not args.quick else 2048
    x = rng.standard_normal((n, n)).astype(np.float32)
    dst = np.empty_like(x)
    t_copy = best(lambda: np.copyto(dst, x), args.repeat)
    with ThreadPoolExecutor(max_workers=2) as pool:
        t_copy2 = best(lambda: parallel_copy(pool, dst, x, 2), args.repeat)
    print(f"\nQuantizers on {n}x{n} float32 (time in ms; memcpy 1t = numpy.copyto of the input, "
          f"memcpy 2t = the same in two threads on halves; x = time / memcpy; target <= 1.0x "
          f"the 1-thread memcpy, fused H16 <= 1.25x)")
    print(f"  memcpy 1t {1e3 * t_copy:.2f} ms, 2t {1e3 * t_copy2:.2f} ms "
          f"({t_copy / t_copy2:.2f}x faster)")
    print(f"  {'case':<40} {'ms':>9} {'x memcpy 1t':>12} {'x memcpy 2t':>12}")
    cases = [("quantize mxfp4 nearest", lambda: ft.quantize(x, "mxfp4")),
             ("quantize nvfp4 nearest", lambda: ft.quantize(x, "nvfp4")),
             ("fake_quantize mxfp4 nearest", lambda: ft.fake_quantize(x, "mxfp4")),
             ("fake_quantize nvfp4 nearest", lambda: ft.fake_quantize(x, "nvfp4")),
             ("quantize mxfp4 stochastic", lambda: ft.quantize(x, "mxfp4", rounding="stochastic")),
             ("quantize mxfp4 + fused Hadamard-16",
              lambda: ft.quantize(x, "mxfp4", hadamard=ft.HadamardSpec(16)))]
    for name, fn in cases:
        tt = best(fn, args.repeat)
        print(f"  {name:<40} {1e3 * tt:9.2f} {tt / t_copy:12.2f} {tt / t_copy2:12.2f}")


def gemms(args, rng):
    shapes = [(2048, 2048, 2048), (4096, 1024, 1024), (1024, 4096, 1024)]
    if args.quick:
        shapes = [(1024, 1024, 1024)]
    t = Table("qgemm (GFLOP/s; baseline numpy float32 matmul of the same shape; target mxfp4 >= "
              "2.0x, nvfp4 >= 1.5x at 2048^3)", "GFLOP/s")
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((n, k)).astype(np.float32)
        flops = 2.0 * m * n * k
        base = flops / best(lambda: a @ b.T, args.repeat) / 1e9
        for fmt, tiles in (("mxfp4", False), ("nvfp4", True), ("mxfp8_e4m3", False)):
            qa = ft.quantize(a, fmt)
            qb = ft.quantize(b, fmt, block_2d=tiles)
            g = flops / best(lambda: ft.qgemm(qa, qb), args.repeat) / 1e9
            label = f"{fmt}{' x 2-D tiles' if tiles else ''} {m}x{k}x{n}"
            t.rows.append((label, g, base, g / base))
    t.print("GFLOP/s", "numpy", "x numpy")


def linear(args, rng):
    tokens, fin, fout = (4096, 1024, 1024) if not args.quick else (1024, 512, 512)
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    dy = rng.standard_normal((tokens, fout)).astype(np.float32)
    w = rng.standard_normal((fout, fin)).astype(np.float32)
    t_np = best(lambda: (x @ w.T, dy @ w, dy.T @ x), args.repeat)
    t = Table(f"Linear forward+backward, (tokens, in, out) = ({tokens}, {fin}, {fout}), "
              f"quantization included (ms; baseline numpy's 3 float32 GEMMs; target "
              f"mxfp4_all >= 1.3x)", "ms")
    for name in ("fp32", "bf16", "mxfp4_all", "nvfp4_2d_rht16"):
        layer = nn.Linear(fin, fout, recipe=name, bias=False)
        layer.weight.data[...] = w

        def step():
            layer.forward(x)
            layer.backward(dy)

        tt = best(step, args.repeat)
        t.rows.append((name, 1e3 * tt, 1e3 * t_np, t_np / tt))
    t.print("ms", "numpy ms", "x numpy")


def train_step(args, rng):
    """Training step of the default model per recipe, fp32 the same-run baseline.

    The runs persist across thread counts (in args), so later counts need no
    rebuild; each count still gets its own warm-up steps.
    """
    if not hasattr(args, "train_runs"):
        horizon = 2 * len(args.threads.split(",")) * (bench_train_step.WARMUP + args.train_reps)
        args.train_runs = {name: bench_train_step.make_run(name, horizon)
                           for name in bench_train_step.DEFAULT_RECIPES}
    runs = args.train_runs
    tokens = next(iter(runs.values())).tokens_per_step
    summary = bench_train_step.summarize(bench_train_step.measure(runs, args.train_reps), tokens)
    t = Table(f"training step, default model (batch 16 x 128 = {tokens} tokens; forward, loss, "
              f"backward, clip, AdamW; {args.train_reps} interleaved rounds; ms is the median; "
              f"baseline fp32's step; x = fp32 ms / recipe ms, the median of per-round ratios; "
              f"target mxfp4_all >= 1.0x)", "ms")
    for name, row in summary.items():
        t.rows.append((f"{name} ({row['tokens_per_s']:.0f} tokens/s)", row["median_ms"],
                       summary["fp32"]["median_ms"], row["x_fp32_paired"]))
    t.print("ms", "fp32 ms", "x fp32")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="2,1", help="thread counts to run, e.g. 2,1")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE from the environment")
    p.add_argument("--only", default="quantizers,gemms,linear,train_step")
    p.add_argument("--skip-train-step", action="store_true",
                   help="leave out the training-step section")
    p.add_argument("--train-reps", type=int, default=None,
                   help="interleaved rounds of the training-step section (default 7, quick 3)")
    args = p.parse_args()
    if args.train_reps is None:
        args.train_reps = 3 if args.quick else 7
    sections = [s for s in args.only.split(",")
                if not (args.skip_train_step and s == "train_step")]
    print(blas_description())
    print(f"fp4train {ft.__version__}, SIMD path {ft.get_isa()} (supported: "
          f"{', '.join(ft.supported_isas())}), CPU cores {os.cpu_count()}")
    for threads in [int(s) for s in args.threads.split(",")]:
        ft.set_num_threads(threads)
        applied = set_blas_threads(threads)
        print(f"\n=== {threads} thread(s) (fp4train and {'OpenBLAS' if applied else 'numpy BLAS: unchanged'}) ===")
        rng = np.random.default_rng(0)
        for section in sections:
            {"quantizers": quantizers, "gemms": gemms, "linear": linear,
             "train_step": train_step}[section](args, rng)
    ft.set_num_threads(0)


if __name__ == "__main__":
    main()
