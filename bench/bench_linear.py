"""Linear layer forward + backward against numpy float32 matmuls of the same GEMMs.

Run: .venv/bin/python bench/bench_linear.py [--tokens 4096 --in 1024 --out 1024]

For each recipe, times Linear.forward + Linear.backward (quantization,
Hadamard and the three GEMMs included) and, in the same process, numpy's
three float32 GEMMs Y = X W^T, dX = dY W, dW = dY^T X. Prints the best of
--repeat runs and the ratio numpy time / fp4train time (above 1: faster).

Two figures that a shared machine does not blur are printed next to it, per
step over the timed runs: the process CPU time (user + system; with several
threads, their sum) and the minor page faults. A layer that allocates fresh
buffers every step pays for them in page faults and system time; in a steady
state there should be none. --phases adds the C++ phase timers'
breakdown (quantize / gemm / other per GEMM role, fp4train._core.linear_profile).
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

import fp4train as ft
import fp4train.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_info import blas_description  # noqa: E402


def best_time(fn, repeat):
    """Best of ``repeat`` timed calls after one warm-up call."""
    fn()  # warm up (allocations, page faults, thread pools)
    return best_time_no_warmup(fn, repeat)


def steady_cost(fn, repeat):
    """(best seconds, CPU seconds per call, minor page faults per call) after two warm-ups."""
    fn()
    fn()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    best = best_time_no_warmup(fn, repeat)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / repeat
    return best, cpu, (r1.ru_minflt - r0.ru_minflt) / repeat


def best_time_no_warmup(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def phase_line(repeat):
    """The phase timers' per-step breakdown in ms, or '' when the build has none."""
    core = ft._core
    if not hasattr(core, "linear_profile"):
        return ""
    p = core.linear_profile()
    parts = [f"{role} q {1e3 * d['quantize'] / repeat:.2f} g {1e3 * d['gemm'] / repeat:.2f} "
             f"o {1e3 * d['other'] / repeat:.2f}" for role, d in p.items()]
    return "    phases ms/step: " + "; ".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--in", dest="fin", type=int, default=1024)
    p.add_argument("--out", dest="fout", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--recipes", default="fp32,bf16,mxfp4_all,nvfp4_2d_rht16")
    p.add_argument("--phases", action="store_true",
                   help="print the C++ phase timers' breakdown per recipe")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.tokens, a.fin)).astype(np.float32)
    dy = rng.standard_normal((a.tokens, a.fout)).astype(np.float32)
    w = rng.standard_normal((a.fout, a.fin)).astype(np.float32)
    flops = 3 * 2 * a.tokens * a.fin * a.fout
    print(blas_description())
    print(f"fp4train {ft.__version__}, SIMD {ft.get_isa()}, {ft.get_num_threads()} threads; "
          f"(tokens, in, out) = ({a.tokens}, {a.fin}, {a.fout})")

    def numpy_step():
        x @ w.T
        dy @ w
        dy.T @ x

    t_np = best_time(numpy_step, a.repeat)
    print(f"\n{'what':<28} {'time ms':>9} {'GFLOP/s':>9} {'numpy/this':>11} {'cpu ms':>8} "
          f"{'faults':>8}")
    print(f"{'numpy float32 (3 GEMMs)':<28} {1e3 * t_np:9.1f} {flops / t_np / 1e9:9.1f} "
          f"{1.0:11.2f}")
    for name in a.recipes.split(","):
        layer = nn.Linear(a.fin, a.fout, recipe=name, seed=0, bias=False)
        layer.weight.data[...] = w

        def step():
            layer.forward(x)
            layer.backward(dy)

        profiling = a.phases and hasattr(ft._core, "linear_profile")
        if profiling:
            step()
            ft._core.reset_linear_profile()
            ft._core.set_linear_profiling(True)
        t, cpu, faults = steady_cost(step, a.repeat)
        print(f"{'Linear ' + name:<28} {1e3 * t:9.1f} {flops / t / 1e9:9.1f} {t_np / t:11.2f} "
              f"{1e3 * cpu:8.1f} {faults:8.0f}")
        if profiling:
            ft._core.set_linear_profiling(False)
            print(phase_line(a.repeat + 2))
            ft._core.reset_linear_profile()


if __name__ == "__main__":
    main()
