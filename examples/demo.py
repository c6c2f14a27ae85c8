"""fp4train demo: how much each format loses on realistic tensors.

Quantizes three kinds of tensors that FP4 training meets, a Gaussian
(weights), a heavy-tailed Student-t (gradients) and activations with a few
outlier channels, under every format, and prints relative error, SQNR and
the share of clipped and flushed-to-zero elements. Then shows what a
16-point Hadamard transform does to the outlier case.

Run: bash .ci/demo   (or: .venv/bin/python examples/demo.py)
"""
import time

import numpy as np

import fp4train as ft
from fp4train.analysis import quant_stats


def tensors(rng, rows=1024, cols=1024):
    gaussian = rng.standard_normal((rows, cols))
    heavy = rng.standard_t(3.0, size=(rows, cols))
    act = rng.standard_normal((rows, cols))
    act[:, rng.choice(cols, 8, replace=False)] *= 50.0  # outlier channels, as in LLM activations
    return {"gaussian": gaussian.astype(np.float32), "heavy-tailed (t3)": heavy.astype(np.float32),
            "outlier channels": act.astype(np.float32)}


def main():
    rng = np.random.default_rng(0)
    data = tensors(rng)
    print(f"fp4train {ft.__version__} | SIMD path {ft.get_isa()} | {ft.get_num_threads()} threads")
    print("Quantized along the last axis (the GEMM reduction axis), nearest rounding, "
          "floor scale rule.\n")
    header = f"{'tensor':<18} {'format':<11} {'rel.err':>8} {'SQNR dB':>8} {'clipped%':>9} " \
             f"{'flushed%':>9} {'bits/elem':>9}"
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    for name, x in data.items():
        for fmt in ft.FORMATS:
            s = quant_stats(x, fmt)
            rel = 10.0 ** (-s["sqnr_db"] / 20.0) if np.isfinite(s["sqnr_db"]) else 0.0
            bits = 8.0 * ft.quantize(x, fmt).nbytes / x.size
            sqnr = f"{s['sqnr_db']:8.2f}" if np.isfinite(s["sqnr_db"]) else f"{'inf':>8}"
            print(f"{name:<18} {fmt:<11} {rel:8.4f} {sqnr} {s['clipped_pct']:9.3f} "
                  f"{s['flushed_pct']:9.3f} {bits:9.3f}")
        print()
    x = data["outlier channels"]
    print("Outlier channels under FP4, with and without a 16-point Hadamard transform:")
    for fmt in ("mxfp4", "nvfp4"):
        for transform in (None, 16):
            s = quant_stats(x, fmt, transform=transform)
            label = "H16" if transform else "none"
            print(f"  {fmt:<6} transform={label:<5} SQNR {s['sqnr_db']:6.2f} dB  "
                  f"crest(max) {s['crest_max']:6.2f}  flushed {s['flushed_pct']:6.2f}%")
    print(f"\n({time.perf_counter() - t0:.1f} s for {3 * len(ft.FORMATS) + 4} quantize+analyze "
          f"passes over 1M elements)")


if __name__ == "__main__":
    main()
