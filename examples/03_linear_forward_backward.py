"""One quantized linear layer: forward, backward, gradients, step counter.

Builds fp4train.nn.Linear under a published recipe, runs a forward and a
backward, and compares Y, dX and dW with the same layer under fp32. Then
shows the three knobs researchers use most: switching the recipe mid-run
(e.g. the backward to bf16 late in training), the memory-saving mode, and
the per-GEMM quantization statistics.

Run:  .venv/bin/python examples/03_linear_forward_backward.py
"""
import numpy as np

import fp4train as ft
import fp4train.nn as nn


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    rng = np.random.default_rng(0)
    tokens, fin, fout = 256, 512, 256
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    dy = rng.standard_normal((tokens, fout)).astype(np.float32) * 1e-2

    ref = nn.Linear(fin, fout, recipe="fp32", seed=42)
    y_ref = ref.forward(x)
    dx_ref = ref.backward(dy)

    layer = nn.Linear(fin, fout, recipe="nvfp4_2d_rht16", seed=42, collect_stats=True)
    print(layer)
    print(layer.recipe)
    y = layer.forward(x)
    dx = layer.backward(dy)
    print(f"\nstep is now {layer.step}; relative error vs fp32: Y {rel(y, y_ref):.3f}, "
          f"dX {rel(dx, dx_ref):.3f}, dW {rel(layer.weight.grad, ref.weight.grad):.3f}")
    for gemm, ops in layer.quant_stats().items():
        print(f"  {gemm}: " + ", ".join(
            f"{name} SQNR {s['sqnr_db']:.1f} dB ({s['clipped_pct']:.1f}% clipped, "
            f"{s['flushed_pct']:.1f}% flushed)" for name, s in ops.items()))

    # The finishing phase some papers use: keep the forward, move the backward to bf16.
    bf16_back = layer.recipe.replace(dgrad=ft.recipes.get("bf16").dgrad,
                                     wgrad=ft.recipes.get("bf16").wgrad).with_name("fp4_fwd_bf16_bwd")
    layer.recipe = bf16_back
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    print(f"\nafter switching to {layer.recipe.name!r}: dW error "
          f"{rel(layer.weight.grad, ref.weight.grad):.4f}")

    lean = nn.Linear(fin, fout, recipe="mxfp4_all", seed=1, save_quantized_only=True)
    full = nn.Linear(fin, fout, recipe="mxfp4_all", seed=1)
    for m in (lean, full):
        m.forward(x)
    print(f"memory held for backward: {full.saved_bytes} bytes (float32 X) vs "
          f"{lean.saved_bytes} bytes (quantized X only); same gradients bit for bit")


if __name__ == "__main__":
    main()
