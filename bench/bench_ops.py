"""Time the non-GEMM layer work: numpy (fp4train.reference.nn_ops) vs the C++ kernels.

Usage (from the repository root, after building _core):

    PYTHONPATH=python /usr/bin/python3 bench/bench_ops.py [--threads N] [--reps R]

Default shapes are the default model's: batch 16, seq 128, dim 128, 4 heads
(head dim 32), SwiGLU hidden 384, vocab 256. Each row is forward+backward of
one op (or of a whole TransformerBlock) in milliseconds, the minimum over
``--reps`` runs, numpy and C++ timed alternately in the same run, and their
ratio. The block rows run the same Linear layers both ways; only the
non-Linear work differs ("numpy" = the layer code before csrc/ops).
"""
import argparse
import time

import numpy as np

import fp4train as ft
import fp4train.nn as nn
from fp4train import _core
from fp4train.reference import nn_ops as ref

B, S, D, H, HID, V = 16, 128, 128, 4, 384, 256
HD = D // H


def best_ms(fns, reps):
    """Minimum wall time of each fn (alternating calls so both see the same machine load)."""
    for f in fns:
        f()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [b * 1e3 for b in best]


def op_cases(rng):
    """name -> (numpy fn, C++ fn), each forward+backward at the default shapes."""
    q, k, v, dy = (rng.standard_normal((B, S, D)).astype(np.float32) for _ in range(4))
    sc = float(np.float32(1 / np.sqrt(HD)))
    x = rng.standard_normal((B, S, D)).astype(np.float32)
    w = np.ones(D, np.float32)
    g, u, dh = (rng.standard_normal((B, S, HID)).astype(np.float32) for _ in range(3))
    cos, sin = ref.rope_tables(HD, 10000.0, S)
    x4 = rng.standard_normal((B, H, S, HD)).astype(np.float32)
    logits = rng.standard_normal((B * S, V)).astype(np.float32)
    t = rng.integers(0, V, B * S)
    ids = rng.integers(0, V, B * S)
    dw_emb = np.zeros((V, D), np.float32)
    dw = np.zeros(D, np.float32)

    def attn_np():
        _, p = ref.attention_forward(q, k, v, H, sc)
        ref.attention_backward(q, k, v, p, dy, H, sc)

    def attn_cc():
        _, p = _core.attention_forward(q, k, v, H, sc)
        _core.attention_backward(q, k, v, p, dy, H, sc)

    def rms_np():
        _, r = ref.rmsnorm_forward(x, w, 1e-5)
        ref.rmsnorm_backward(x, r, w, dy)

    def rms_cc():
        _, r = _core.rmsnorm_forward(x, w, 1e-5)
        _core.rmsnorm_backward(x, r, w, dy, dw)

    def swi_np():
        _, s_ = ref.swiglu_forward(g, u)
        ref.swiglu_backward(g, u, s_, dh)

    def swi_cc():
        _, s_ = _core.swiglu_forward(g, u)
        _core.swiglu_backward(g, u, s_, dh)

    def ce_np():
        _, z, lse, rows = ref.cross_entropy_forward(logits, t)
        ref.cross_entropy_backward(z, lse, t, rows)

    def ce_cc():
        z, lse, _ = _core.cross_entropy_forward(logits, t, None)
        _core.cross_entropy_backward(z, lse, t, None, 1.0 / t.size)

    return {
        "attention core (q,k,v -> y)": (attn_np, attn_cc),
        "RMSNorm": (rms_np, rms_cc),
        "SwiGLU gating": (swi_np, swi_cc),
        "RoPE (q and k, fwd+bwd)": (
            lambda: [ref.rope(x4, cos, sin, inv) for inv in (0, 0, 1, 1)],
            lambda: [_core.rope(x4, cos, sin, 2, bool(inv)) for inv in (0, 0, 1, 1)]),
        "cross-entropy (V=256)": (ce_np, ce_cc),
        "embedding backward": (lambda: ref.embedding_backward(ids, x, dw_emb),
                               lambda: _core.embedding_backward(ids, x.reshape(-1, D), dw_emb)),
    }


def block_numpy_ops(blk, x, grad):
    """TransformerBlock forward+backward with the numpy ops and the block's own Linears."""
    a, m = blk.attn, blk.mlp
    cos, sin = ref.rope_tables(HD, 10000.0, S)
    sc = float(np.float32(1 / np.sqrt(HD)))

    def rot(t, inverse=False):
        t4 = t.reshape(B, S, H, HD).transpose(0, 2, 1, 3)
        return np.ascontiguousarray(ref.rope(t4, cos, sin, inverse).transpose(0, 2, 1, 3)
                                    ).reshape(B, S, D)

    n1, r1 = ref.rmsnorm_forward(x, blk.norm1.weight.data, 1e-5)
    q, k, v = rot(a.q.forward(n1)), rot(a.k.forward(n1)), a.v.forward(n1)
    y, p = ref.attention_forward(q, k, v, H, sc)
    h = x + a.o.forward(y)
    n2, r2 = ref.rmsnorm_forward(h, blk.norm2.weight.data, 1e-5)
    gg, uu = m.gate.forward(n2), m.up.forward(n2)
    act, sig = ref.swiglu_forward(gg, uu)
    m.down.forward(act)
    dg, du = ref.swiglu_backward(gg, uu, sig, m.down.backward(grad))
    dn2 = m.gate.backward(dg)
    dn2 += m.up.backward(du)
    dh = ref.rmsnorm_backward(h, r2, blk.norm2.weight.data, dn2)[0] + grad
    dq, dk, dv = ref.attention_backward(q, k, v, p, a.o.backward(dh), H, sc)
    dn1 = a.q.backward(rot(dq, True))
    dn1 += a.k.backward(rot(dk, True))
    dn1 += a.v.backward(dv)
    return ref.rmsnorm_backward(x, r1, blk.norm1.weight.data, dn1)[0] + dh


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="fp4train threads (0: OpenMP default)")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    ft.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"threads={ft.get_num_threads()} isa={ft.get_isa()} reps={args.reps} "
          f"shape: batch {B} seq {S} dim {D} heads {H} hidden {HID} vocab {V}")
    print(f"{'fwd+bwd':38s} {'numpy ms':>9s} {'C++ ms':>9s} {'numpy/C++':>9s}")
    for name, (f_np, f_cc) in op_cases(rng).items():
        a, b = best_ms([f_np, f_cc], args.reps)
        print(f"{name:38s} {a:9.2f} {b:9.2f} {a / b:9.2f}")
    x = rng.standard_normal((B, S, D)).astype(np.float32)
    grad = rng.standard_normal((B, S, D)).astype(np.float32)
    for recipe in ("fp32", "mxfp4_all"):
        blk = nn.TransformerBlock(D, H, HID, recipe, seed=1)
        lin = nn.Linear(D, D, bias=False, recipe=recipe)
        a, b, c = best_ms([lambda: block_numpy_ops(blk, x, grad),
                           lambda: (blk.forward(x), blk.backward(grad)),
                           lambda: (lin.forward(x), lin.backward(grad))], args.reps)
        # A block has 7 Linears: 4 of 128x128 and 3 of 128x384 (= 3 x 3 of 128x128 work).
        print(f"{'TransformerBlock [' + recipe + ']':38s} {a:9.2f} {b:9.2f} {a / b:9.2f}"
              f"   (one 128x128 Linear fwd+bwd: {c:.2f} ms; 13 such = {13 * c:.1f} ms)")


if __name__ == "__main__":
    main()
