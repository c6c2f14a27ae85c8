"""The C++ non-GEMM layer kernels (fp4train._core, csrc/ops) against their numpy twins.

The numpy versions in fp4train.reference.nn_ops are the layer code as it was
before the kernels existed; they sum in BLAS/numpy order and use numpy's
exp/log/tanh, so the comparison is to a few ulp (RTOL), except for RoPE and
the embedding scatter-add, which must match bit for bit. Attention is also
checked against float64. Every kernel gives the same bits for 1 and 2
threads. Bad arguments raise errors naming the argument.
"""
import numpy as np
import pytest

import fp4train as ft
import fp4train.nn  # noqa: F401  (ft.nn)
from fp4train import _core
from fp4train.reference import nn_ops as ref

RTOL = 2e-5


def assert_close(got, want, what, rtol=RTOL):
    """|got - want| <= rtol * (|want| + max|want|*1e-2), with the worst case in the message."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(got).all() == np.isfinite(want).all(), f"{what}: finiteness differs"
    scale = np.abs(want) + 1e-2 * np.max(np.abs(want), initial=0.0) + 1e-30
    err = np.abs(got.astype(np.float64) - want) / scale
    i = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
    assert err.size == 0 or err.max() <= rtol, (
        f"{what}: max rel err {err.max():.3g} at {i}: got {got[i]!r}, want {want[i]!r}")


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


# (batch, seq, heads, head_dim): default-like, seq 1, odd sizes with a head
# dim not a multiple of 8, a single head of size 2.
ATTN_SHAPES = [(2, 128, 4, 32), (2, 1, 2, 6), (3, 17, 3, 10), (1, 5, 1, 2), (1, 33, 2, 40)]


def attn_inputs(rng, b, s, h, d, spread=1.0):
    q, k, v, dy = (rng.standard_normal((b, s, h * d)).astype(np.float32) for _ in range(4))
    return q * np.float32(spread), k, v, dy


def attention_float64(q, k, v, n_heads):
    b, s, dim = q.shape
    d = dim // n_heads
    q, k, v = (t.astype(np.float64).reshape(b, s, n_heads, d).transpose(0, 2, 1, 3)
               for t in (q, k, v))
    sc = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    sc = np.where(np.tril(np.ones((s, s), bool)), sc, -np.inf)
    p = np.exp(sc - sc.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ v).transpose(0, 2, 1, 3).reshape(b, s, dim), p


@pytest.mark.parametrize("shape", ATTN_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_matches_numpy_and_float64(shape, rng):
    b, s, h, d = shape
    q, k, v, dy = attn_inputs(rng, b, s, h, d)
    scale = float(np.float32(1.0 / np.sqrt(d)))
    y, p = _core.attention_forward(q, k, v, h, scale)
    y_ref, p_ref = ref.attention_forward(q, k, v, h, scale)
    assert_close(y, y_ref, "y")
    assert_close(p, p_ref, "p")
    y64, p64 = attention_float64(q, k, v, h)
    assert_close(y, y64, "y vs float64", rtol=1e-4)
    # Causal: exactly zero above the diagonal, each row a distribution.
    assert not np.triu(p, 1).any()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    grads = _core.attention_backward(q, k, v, p, dy, h, scale)
    grads_ref = ref.attention_backward(q, k, v, p_ref, dy, h, scale)
    for name, got, want in zip(("dq", "dk", "dv"), grads, grads_ref):
        assert_close(got, want, name, rtol=1e-4)


def test_attention_backward_matches_central_differences(rng):
    b, s, h, d = 1, 6, 2, 4
    q, k, v, dy = (t.astype(np.float64) for t in attn_inputs(rng, b, s, h, d))
    scale = 1.0 / np.sqrt(d)

    def loss(q_, k_, v_):
        y, _ = _core.attention_forward(q_, k_, v_, h, scale)
        return float(np.sum(y.astype(np.float64) * dy))

    _, p = _core.attention_forward(q, k, v, h, scale)
    analytic = _core.attention_backward(q, k, v, p, dy, h, scale)
    eps = 1e-2
    args = [q, k, v]
    for which, ana in enumerate(analytic):
        num = np.zeros_like(args[which])
        for idx in np.ndindex(num.shape):
            saved = args[which][idx]
            args[which][idx] = saved + eps
            up = loss(*args)
            args[which][idx] = saved - eps
            down = loss(*args)
            args[which][idx] = saved
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(ana, num, rtol=2e-2, atol=2e-3,
                                   err_msg=f"gradient {('dq', 'dk', 'dv')[which]}")


def test_attention_large_scores_stay_finite_and_match(rng):
    q, k, v, dy = attn_inputs(rng, 2, 40, 2, 8, spread=300.0)
    y, p = _core.attention_forward(q, k, v, 2, 0.35)
    y_ref, p_ref = ref.attention_forward(q, k, v, 2, 0.35)
    assert np.isfinite(y).all() and np.isfinite(p).all()
    assert_close(y, y_ref, "y", rtol=1e-4)
    grads = _core.attention_backward(q, k, v, p, dy, 2, 0.35)
    assert all(np.isfinite(g).all() for g in grads)


def test_attention_future_keys_do_not_matter(rng):
    q, k, v, _ = attn_inputs(rng, 1, 12, 2, 6)
    y, _ = _core.attention_forward(q, k, v, 2, 0.4)
    k2, v2 = k.copy(), v.copy()
    k2[:, 7:] = np.float32(1e30)  # huge future keys would overflow if they were not skipped
    v2[:, 7:] = np.nan
    y2, _ = _core.attention_forward(q, k2, v2, 2, 0.4)
    assert np.array_equal(bits(y[:, :7]), bits(y2[:, :7]))


def _all_ops(rng):
    """Runs every kernel once on fixed inputs; returns the outputs as a flat list."""
    out = []
    q, k, v, dy = attn_inputs(rng, 2, 37, 3, 10)
    y, p = _core.attention_forward(q, k, v, 3, 0.3)
    out += [y, p, *_core.attention_backward(q, k, v, p, dy, 3, 0.3)]
    x = rng.standard_normal((61, 48)).astype(np.float32)
    w = rng.standard_normal(48).astype(np.float32)
    y, rstd = _core.rmsnorm_forward(x, w, 1e-5)
    dw = np.zeros(48, np.float32)
    out += [y, rstd, _core.rmsnorm_backward(x, rstd, w, x[::-1].copy(), dw), dw]
    g, u = x * 3, x[::-1] * 2
    h, sig = _core.swiglu_forward(g, u)
    out += [h, sig, *_core.swiglu_backward(g, u, sig, x)]
    cos, sin = ref.rope_tables(10, 10000.0, 37)
    out.append(_core.rope(q.reshape(2, 37, 3, 10), cos, sin, 1, False))
    t = rng.integers(0, 48, 61)
    z, lse, nll = _core.cross_entropy_forward(x, t, None)
    out += [z, lse, nll, _core.cross_entropy_backward(z, lse, t, None, 0.01)]
    dwe = np.zeros((48, 48), np.float32)
    _core.embedding_backward(t, x, dwe)
    return out + [dwe]


def test_every_kernel_gives_the_same_bits_for_1_and_2_threads(threads):
    threads(1)
    one = _all_ops(np.random.default_rng(5))
    threads(2)
    two = _all_ops(np.random.default_rng(5))
    for i, (a, b) in enumerate(zip(one, two)):
        assert np.array_equal(bits(a), bits(b)), f"output {i} differs between 1 and 2 threads"


@pytest.mark.parametrize("shape", [(4, 7, 128), (1, 1), (33, 5)], ids=str)
def test_rmsnorm_matches_numpy(shape, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    w = rng.standard_normal(shape[-1]).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    y, rstd = _core.rmsnorm_forward(x, w, 1e-5)
    y_ref, rstd_ref = ref.rmsnorm_forward(x, w, 1e-5)
    assert_close(y, y_ref, "y")
    assert_close(rstd, rstd_ref, "rstd")
    dw = np.full(shape[-1], 0.5, np.float32)  # accumulated into, never overwritten
    dx = _core.rmsnorm_backward(x, rstd, w, g, dw)
    dx_ref, dw_ref = ref.rmsnorm_backward(x, rstd_ref, w, g)
    assert_close(dx, dx_ref, "dx", rtol=1e-4)
    assert_close(dw - np.float32(0.5), dw_ref, "dw", rtol=1e-4)


def test_swiglu_matches_numpy_including_extreme_gates(rng):
    g = (rng.standard_normal(1001) * 4).astype(np.float32)
    g[:6] = [-1e30, -200.0, -88.8, 88.8, 200.0, 1e30]
    u = rng.standard_normal(1001).astype(np.float32)
    dh = rng.standard_normal(1001).astype(np.float32)
    h, sig = _core.swiglu_forward(g, u)
    h_ref, sig_ref = ref.swiglu_forward(g, u)
    assert np.isfinite(h).all() and np.isfinite(sig).all()
    assert_close(sig, sig_ref, "sig")
    assert_close(h, h_ref, "h")
    dg, du = _core.swiglu_backward(g, u, sig, dh)
    dg_ref, du_ref = ref.swiglu_backward(g, u, sig_ref, dh)
    assert np.isfinite(dg).all()
    assert_close(du, du_ref, "du")
    assert_close(dg, dg_ref, "dg", rtol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3, 17, 8), (1, 1, 1, 2), (2, 2, 5, 34)], ids=str)
def test_rope_is_bit_identical_to_numpy_in_both_layouts(shape, rng):
    b, h, s, d = shape
    x = rng.standard_normal(shape).astype(np.float32)
    cos, sin = ref.rope_tables(d, 500.0, s)
    for inverse in (False, True):
        want = ref.rope(x, cos, sin, inverse)
        assert np.array_equal(bits(_core.rope(x, cos, sin, 2, inverse)), bits(want))
        seq_major = np.ascontiguousarray(x.transpose(0, 2, 1, 3))
        got = _core.rope(seq_major, cos, sin, 1, inverse).transpose(0, 2, 1, 3)
        assert np.array_equal(bits(got), bits(want))


@pytest.mark.parametrize("ignore_index", [None, -100, 3])
def test_cross_entropy_matches_numpy(ignore_index, rng):
    logits = (rng.standard_normal((5, 9, 40)) * 5).astype(np.float32)
    logits[0, 0] += np.float32(1e4)  # large logits: max-subtracted, no overflow
    t = rng.integers(0, 40, (5, 9))
    if ignore_index is not None:
        t[:, ::4] = ignore_index
    loss_ref, z_ref, lse_ref, rows = ref.cross_entropy_forward(logits, t, ignore_index)
    z, lse, nll = _core.cross_entropy_forward(logits, t, ignore_index)
    assert np.array_equal(bits(z), bits(z_ref))  # one exact subtraction
    assert_close(lse[rows], lse_ref[rows], "lse")
    keep = np.zeros(45, bool)
    keep[rows] = True
    assert not nll[~keep].any()
    assert_close(np.sum(nll[rows], dtype=np.float64) / rows.size, loss_ref, "loss")
    d = _core.cross_entropy_backward(z, lse, t.reshape(-1), ignore_index, 1.0 / rows.size)
    d_ref = ref.cross_entropy_backward(z_ref, lse_ref, t, rows)
    assert_close(d, d_ref, "dlogits", rtol=1e-4)
    assert not d[~keep].any()
    np.testing.assert_allclose(d[rows].sum(-1), 0.0, atol=1e-6)


def test_cross_entropy_nan_logits_propagate_to_their_row_only():
    logits = np.zeros((3, 4), np.float32)
    logits[1, 2] = np.nan
    z, lse, nll = _core.cross_entropy_forward(logits, np.array([0, 1, 2]), None)
    assert np.isnan(nll[1]) and np.isfinite(nll[[0, 2]]).all()
    np.testing.assert_allclose(nll[[0, 2]], np.log(4.0), rtol=1e-6)


def test_embedding_backward_is_bit_identical_to_add_at(rng):
    ids = rng.integers(0, 7, (4, 50))  # many repeats
    ids[0, :10] = 3
    grad = rng.standard_normal((4, 50, 12)).astype(np.float32)
    start = rng.standard_normal((9, 12)).astype(np.float32)
    want = start.copy()
    ref.embedding_backward(ids, grad, want)
    got = start.copy()
    _core.embedding_backward(ids.reshape(-1), grad.reshape(-1, 12), got)
    assert np.array_equal(bits(got), bits(want))
    assert np.array_equal(got[7:], start[7:])  # untouched rows


def test_embedding_backward_empty_ids_is_a_no_op():
    dw = np.ones((3, 2), np.float32)
    _core.embedding_backward(np.zeros(0, np.int64), np.zeros((0, 2), np.float32), dw)
    assert (dw == 1).all()


def test_kernels_reject_bad_arguments_naming_them():
    f = np.zeros((2, 3, 8), np.float32)
    with pytest.raises(ValueError, match="'k'"):
        _core.attention_forward(f, f[:, :2], f, 2, 0.5)
    with pytest.raises(ValueError, match="'n_heads'"):
        _core.attention_forward(f, f, f, 3, 0.5)
    with pytest.raises(ValueError, match="'q'"):
        _core.attention_forward(f[0], f[0], f[0], 2, 0.5)
    with pytest.raises(ValueError, match="'p'"):
        _core.attention_backward(f, f, f, np.zeros((2, 2, 3, 2), np.float32), f, 2, 0.5)
    with pytest.raises(ValueError, match="'scale'"):
        _core.attention_forward(f, f, f, 2, float("nan"))
    with pytest.raises(TypeError, match="'v'"):
        _core.attention_forward(f, f, f.astype(complex), 2, 0.5)
    with pytest.raises(ValueError, match="'weight'"):
        _core.rmsnorm_forward(f, np.ones(7), 1e-5)
    with pytest.raises(ValueError, match="'eps'"):
        _core.rmsnorm_forward(f, np.ones(8), 0.0)
    with pytest.raises(TypeError, match="'weight_grad'"):
        _core.rmsnorm_backward(f, np.ones((2, 3)), np.ones(8), f, np.zeros(8))  # float64
    with pytest.raises(ValueError, match="'u'"):
        _core.swiglu_forward(f, f[0])
    cos = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="'seq_axis'"):
        _core.rope(f, cos, cos, 2, False)
    with pytest.raises(ValueError, match="'x'"):
        _core.rope(np.zeros((2, 3, 7), np.float32), cos, cos, 1, False)
    with pytest.raises(ValueError, match="'cos'"):
        _core.rope(f, cos[:2], cos, 1, False)
    with pytest.raises(ValueError, match="'targets'"):
        _core.cross_entropy_forward(f, np.array([[0, 1, 8]] * 2), None)
    with pytest.raises(ValueError, match="'targets'"):
        _core.cross_entropy_forward(f, np.array([0, 1]), None)
    with pytest.raises(TypeError, match="'targets'"):
        _core.cross_entropy_forward(f, np.zeros((2, 3)), None)
    with pytest.raises(ValueError, match="'ids'"):
        _core.embedding_backward(np.array([0, 5]), np.zeros((2, 2), np.float32),
                                 np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="'grad'"):
        _core.embedding_backward(np.array([0, 1]), np.zeros((3, 2), np.float32),
                                 np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="'weight_grad'"):
        _core.embedding_backward(np.array([0, 1]), np.zeros((2, 2), np.float32),
                                 np.zeros((5, 2), np.float32)[:, :1])


def test_layers_match_their_numpy_composition(rng):
    """The nn layers now call the kernels; composed from the numpy twins they agree."""
    attn = ft.nn.CausalSelfAttention(24, 3, "fp32", seed=3)
    x = rng.standard_normal((2, 11, 24)).astype(np.float32)
    g = rng.standard_normal((2, 11, 24)).astype(np.float32)
    out = attn.forward(x)
    dx = attn.backward(g)
    # numpy composition with the same projections (fp32 Linear is deterministic).
    b, s, _ = x.shape
    cos, sin = ref.rope_tables(8, 10000.0, s)

    def rot(t, inverse=False):
        t4 = t.reshape(b, s, 3, 8).transpose(0, 2, 1, 3)
        return np.ascontiguousarray(ref.rope(t4, cos, sin, inverse).transpose(0, 2, 1, 3)
                                    ).reshape(b, s, 24)

    wq, wk, wv, wo = (lin.weight.data for lin in (attn.q, attn.k, attn.v, attn.o))
    q, k, v = rot(x @ wq.T), rot(x @ wk.T), x @ wv.T
    scale = float(np.float32(1 / np.sqrt(8)))
    y, p = ref.attention_forward(q, k, v, 3, scale)
    assert_close(out, y @ wo.T, "attention out", rtol=1e-4)
    dq, dk, dv = ref.attention_backward(q, k, v, p, g @ wo, 3, scale)
    want = rot(dq, True) @ wq + rot(dk, True) @ wk + dv @ wv
    assert_close(dx, want, "attention dx", rtol=1e-3)


def test_attention_gives_the_same_bits_on_every_isa_path(rng):
    """The AVX2 / AVX-512 builds of the inner loop only widen vectors (no FMA)."""
    q, k, v, dy = attn_inputs(rng, 2, 45, 3, 18)
    results = {}
    try:
        for isa in ft.supported_isas():
            ft.set_isa(isa)
            y, p = _core.attention_forward(q, k, v, 3, 0.3)
            results[isa] = [y, p, *_core.attention_backward(q, k, v, p, dy, 3, 0.3)]
    finally:
        ft.reset_isa()
    base = results.pop("scalar")
    for isa, outs in results.items():
        for i, (a, b) in enumerate(zip(base, outs)):
            assert np.array_equal(bits(a), bits(b)), f"{isa}: output {i} differs from scalar"
