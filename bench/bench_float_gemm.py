"""Float GEMM backends: Linear (fp32 recipe) forward + backward, "exact" vs "blas".

Run (OpenBLAS reads OPENBLAS_CORETYPE when it loads; Haswell halves it here):
    env -u OPENBLAS_CORETYPE PYTHONPATH=python /usr/bin/python3 bench/bench_float_gemm.py

For each shape and thread count, five steps are timed round-robin, one each
per round, so that a busy machine slows all of them alike, and the median over
--rounds is printed:
  Linear exact / Linear blas: nn.Linear(recipe="fp32") forward + backward
      (the three GEMMs plus the layer's own work: operand copies, bias);
  GEMMs exact / GEMMs blas: only the layer's three GEMMs, ft.qgemm of fp32
      QTensors (read in place), i.e. the backend alone;
  numpy: the same three float32 GEMMs through numpy (the same OpenBLAS, its
      thread count set to the same value).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import fp4train as ft
import fp4train.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_info import blas_description, set_blas_threads  # noqa: E402

SHAPES = {"4096x1024->1024": (4096, 1024, 1024), "train 2048x128->384": (2048, 128, 384),
          "train 2048x384->128": (2048, 384, 128)}


def make_step(backend, tokens, fin, fout, threads):
    """A closure running one forward + backward under `backend` with `threads` threads."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    dy = rng.standard_normal((tokens, fout)).astype(np.float32)
    w = rng.standard_normal((fout, fin)).astype(np.float32)
    if backend == "numpy":
        def step():
            set_blas_threads(threads)
            x @ w.T
            dy @ w
            dy.T @ x
        return step
    if backend.startswith("gemm_"):
        q = lambda a: ft.quantize(np.ascontiguousarray(a), "fp32", axis=1)  # noqa: E731
        pairs = [(q(x), q(w)), (q(dy), q(w.T)), (q(dy.T), q(x.T))]
        name = backend[len("gemm_"):]

        def step():
            ft.set_float_gemm(name)
            for a_q, b_q in pairs:
                ft.qgemm(a_q, b_q)
        return step
    layer = nn.Linear(fin, fout, recipe="fp32", seed=0)

    def step():
        ft.set_float_gemm(backend)
        layer.forward(x)
        layer.backward(dy)
    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--shapes", default=",".join(SHAPES))
    a = p.parse_args()
    if "blas" not in ft.float_gemm_backends():
        sys.exit("no BLAS library with cblas_sgemm could be loaded: nothing to compare")
    print(blas_description())
    print(f"fp4train {ft.__version__}, SIMD {ft.get_isa()}, float GEMM BLAS "
          f"{ft.float_gemm_info()['blas_library']}; median of {a.rounds} interleaved rounds")
    print("ms per forward + backward (3 GEMMs); ratio = exact / blas")
    print(f"{'shape (tokens x in->out)':<22} {'thr':>3} {'Linear exact':>12} {'Linear blas':>11} "
          f"{'ratio':>5} {'GEMMs exact':>11} {'GEMMs blas':>10} {'ratio':>5} {'numpy':>7}")
    backends = ("exact", "blas", "gemm_exact", "gemm_blas", "numpy")
    for name in a.shapes.split(","):
        tokens, fin, fout = SHAPES[name]
        for threads in (int(t) for t in a.threads.split(",")):
            ft.set_num_threads(threads)
            steps = {b: make_step(b, tokens, fin, fout, threads) for b in backends}
            for fn in steps.values():
                fn()  # warm up: allocations, thread pools
            times = {b: [] for b in backends}
            for _ in range(a.rounds):
                for b in backends:
                    t = time.perf_counter()
                    steps[b]()
                    times[b].append(time.perf_counter() - t)
            med = {b: statistics.median(v) for b, v in times.items()}
            print(f"{name:<22} {threads:>3} {1e3 * med['exact']:12.1f} {1e3 * med['blas']:11.1f} "
                  f"{med['exact'] / med['blas']:5.2f} {1e3 * med['gemm_exact']:11.1f} "
                  f"{1e3 * med['gemm_blas']:10.1f} {med['gemm_exact'] / med['gemm_blas']:5.2f} "
                  f"{1e3 * med['numpy']:7.1f}")
    ft.set_float_gemm("exact")


if __name__ == "__main__":
    main()
