"""Every preset recipe on the same layer and data: which GEMM does it hurt?

For each preset of fp4train.recipes, one forward and backward of a linear
layer on activations with outlier channels, compared with fp32: relative
error of Y (Fprop), dX (Dgrad) and dW (Wgrad), and the worst operand SQNR per
GEMM. The staged MXFP4 presets show the papers' point: quantizing Wgrad
costs the most, and a Hadamard transform on it changes that.

Run:  .venv/bin/python examples/04_compare_recipes.py
"""
import numpy as np

import fp4train as ft
import fp4train.nn as nn


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main(tokens=512, fin=512, fout=512):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    x[:, rng.choice(fin, 6, replace=False)] *= 30.0  # outlier channels
    dy = (rng.standard_t(3.0, (tokens, fout)) * 1e-3).astype(np.float32)

    ref = nn.Linear(fin, fout, recipe="fp32", seed=0)
    y_ref, dx_ref = ref.forward(x), ref.backward(dy)
    print(f"{'recipe':<26} {'err Y':>7} {'err dX':>7} {'err dW':>7}   worst operand SQNR (dB) "
          f"fprop / dgrad / wgrad")
    for name in ft.recipes.names():
        layer = nn.Linear(fin, fout, recipe=name, seed=0, collect_stats=True)
        y = layer.forward(x)
        dx = layer.backward(dy)
        stats = layer.quant_stats()
        worst = [min(s["sqnr_db"] for s in stats[g].values()) for g in ("fprop", "dgrad", "wgrad")]
        sq = " / ".join("  exact" if w == np.inf else f"{w:7.1f}" for w in worst)
        print(f"{name:<26} {rel(y, y_ref):7.4f} {rel(dx, dx_ref):7.4f} "
              f"{rel(layer.weight.grad, ref.weight.grad):7.4f}   {sq}")


if __name__ == "__main__":
    main()
