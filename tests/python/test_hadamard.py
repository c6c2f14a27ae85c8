"""Tests of fp4train.hadamard, hadamard_inverse, HadamardSpec, the fused
quantize(..., hadamard=...), fp4train.nn.Hadamard and fp4train.analysis.

The oracle is an explicit Sylvester matrix built here with np.kron in
float64; bit-level claims (fused == unfused, threads, replay) compare the
float32 bits through .view(np.uint32).
"""
import importlib.util
import json

import numpy as np
import pytest

import fp4train as ft
import fp4train.nn  # noqa: F401  (fp4train does not import its nn subpackage itself)
from fp4train.hadamard import HadamardSpec

SIZES = [2 ** k for k in range(1, 16)]  # 2 .. 32768
PUBLISHED = (1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1)


def sylvester(n):
    """Normalized Sylvester-Hadamard matrix of order n, float64, by np.kron."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.kron(np.array([[1.0, 1.0], [1.0, -1.0]]), h)
    return h / np.sqrt(n)


def sylvester_columns(n, cols):
    """Columns ``cols`` of sylvester(n) without the n x n matrix: since
    H_2m = kron(H_2, H_m), column i is kron([1, (-1)^bit], ...) over i's bits
    from the lowest up."""
    out = np.empty((n, len(cols)))
    for c, i in enumerate(cols):
        v = np.ones(1)
        k = 1
        while k < n:
            v = np.kron(np.array([1.0, -1.0 if i & k else 1.0]), v)
            k *= 2
        out[:, c] = v
    return out / np.sqrt(n)


def explicit(x, n, axis=-1, signs=None, inverse=False):
    """Blockwise (x * s) @ H (or (y @ H) * s) in float64 along axis."""
    s = np.ones(n) if signs is None else np.asarray(signs, dtype=np.float64)
    m = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    runs = m.reshape(m.shape[:-1] + (m.shape[-1] // n, n))
    out = (runs @ sylvester(n)) * s if inverse else (runs * s) @ sylvester(n)
    return np.moveaxis(out.reshape(m.shape), -1, axis)


def block_tolerance(x, n, axis=-1):
    """(log2 n + 1) * 2^-23 * ||run||_2, broadcast to every element of the run:
    twice the first-order norm-wise error bound of the float32 butterflies."""
    m = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    runs = m.reshape(m.shape[:-1] + (m.shape[-1] // n, n))
    norms = np.sqrt((runs ** 2).sum(-1, keepdims=True))
    tol = (np.log2(n) + 1) * 2.0 ** -23 * np.broadcast_to(norms, runs.shape)
    return np.moveaxis(tol.reshape(m.shape), -1, axis)


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def assert_bits_equal(got, want, case):
    g, w = bits(got), bits(want)
    both_nan = np.isnan(np.asarray(got, np.float32)) & np.isnan(np.asarray(want, np.float32))
    bad = np.flatnonzero((g != w) & ~both_nan)
    assert bad.size == 0, (f"{case}: {bad.size} mismatches; first at {bad[0]}: "
                           f"got {got.flat[bad[0]]!r} (0x{g.flat[bad[0]]:08x}) want "
                           f"{want.flat[bad[0]]!r} (0x{w.flat[bad[0]]:08x})")


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def threads_restored():
    yield
    ft.set_num_threads(0)


# --------------------------------------------------------------------------
# Agreement with the explicit product


@pytest.mark.parametrize("n", SIZES)
def test_matches_sylvester_every_size(n, rng):
    runs = max(1, 1024 // n)
    x = rng.standard_normal((3, runs * n)).astype(np.float32)
    s = rng.choice([-1.0, 1.0], n)
    # Up to 2048 the whole matrix; above, 48 sampled output columns.
    cols = np.arange(n) if n <= 2048 else np.sort(rng.choice(n, 48, replace=False))
    h = sylvester(n) if n <= 2048 else sylvester_columns(n, cols)
    tol = block_tolerance(x, n)
    for signs in (None, s):
        sv = np.ones(n) if signs is None else s
        y = ft.hadamard(x, n, signs=signs)
        assert y.dtype == np.float32 and y.shape == x.shape
        runs_x = x.astype(np.float64).reshape(3, runs, n)
        want = (runs_x * sv) @ h
        got = y.reshape(3, runs, n)[..., cols]
        err = np.abs(got - want)
        assert np.all(err <= tol.reshape(3, runs, n)[..., cols]), (n, float(err.max()))
        back = ft.hadamard_inverse(y, n, signs=signs)
        want_back = (y.astype(np.float64).reshape(3, runs, n) @ h) * sv[cols]
        assert np.all(np.abs(back.reshape(3, runs, n)[..., cols] - want_back)
                      <= block_tolerance(y, n).reshape(3, runs, n)[..., cols]), n
        # inverse(forward(x)) == x to float32 rounding
        assert np.all(np.abs(back - x) <= 2 * tol), n


@pytest.mark.parametrize("shape,axis,n", [
    ((8, 32, 6), 0, 8), ((8, 32, 6), 1, 32), ((8, 32, 6), -2, 16), ((8, 32, 6), 2, 2),
    ((64, 48), 0, 64), ((5, 256), -1, 256), ((256, 3, 5), 0, 128), ((3, 4, 5, 16), 3, 4),
])
def test_any_axis(shape, axis, n, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    s = rng.choice([-1, 1], n)
    y = ft.hadamard(x, n, axis=axis, signs=s)
    assert np.all(np.abs(y - explicit(x, n, axis, s)) <= block_tolerance(x, n, axis))
    z = ft.hadamard_inverse(y, n, axis=axis, signs=s)
    assert np.all(np.abs(z - x) <= 2 * block_tolerance(x, n, axis))
    # Along an axis = the last-axis transform of the moved array, bit for bit.
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    assert_bits_equal(np.moveaxis(ft.hadamard(moved, n, signs=s), -1, axis), y,
                      f"shape={shape} axis={axis} n={n}")


def test_non_contiguous_and_other_dtypes(rng):
    base = rng.standard_normal((64, 96)).astype(np.float32)
    views = {"transposed": base.T, "strided": base[::2, ::3][:, :32],
             "negative stride": base[:, ::-1], "float64": base.astype(np.float64),
             "fortran": np.asfortranarray(base)}
    for name, v in views.items():
        for axis in (0, 1):
            n = 16 if v.shape[axis] % 16 == 0 else 8
            got = ft.hadamard(v, n, axis=axis)
            want = ft.hadamard(np.ascontiguousarray(v, dtype=np.float32), n, axis=axis)
            assert_bits_equal(got, want, f"{name} axis={axis}")
            assert np.all(np.abs(got - explicit(np.asarray(v, np.float32), n, axis))
                          <= block_tolerance(v, n, axis)), name


def test_orthonormal_and_symmetric():
    for n in (2, 16, 64, 256):
        h = ft.hadamard(np.eye(n, dtype=np.float32), n)  # row i = e_i H
        assert np.allclose(h, sylvester(n), rtol=0, atol=2e-7 * np.log2(n))
        assert np.allclose(h, h.T, rtol=0, atol=0)
        assert np.allclose(h.astype(np.float64) @ h.T, np.eye(n), atol=1e-6)


def test_norm_preserved(rng):
    x = rng.standard_normal((16, 4096)).astype(np.float32) * 10
    for n in (16, 256, 4096):
        y = ft.hadamard(x, n, signs=rng.choice([-1, 1], n))
        nx = np.linalg.norm(x.astype(np.float64), axis=1)
        ny = np.linalg.norm(y.astype(np.float64), axis=1)
        assert np.allclose(ny, nx, rtol=(np.log2(n) + 1) * 2.0 ** -23, atol=0), n


def test_gemm_product_unchanged(rng):
    """H applied to both GEMM operands along K leaves A B^T unchanged."""
    a = rng.standard_normal((48, 256)).astype(np.float32)
    b = rng.standard_normal((40, 256)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64).T
    for n in (16, 64, 256):
        s = rng.choice([-1, 1], n)
        ah, bh = ft.hadamard(a, n, axis=1, signs=s), ft.hadamard(b, n, axis=1, signs=s)
        got = ah.astype(np.float64) @ bh.astype(np.float64).T
        # |A'B'^T - AB^T| <= ||a_row|| ||b_row|| * (2 (log2 n + 1) * 2^-23 + eps)
        scale = np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        assert np.all(np.abs(got - exact) <= scale * (2 * np.log2(n) + 3) * 2.0 ** -23), n


def test_exact_for_small_integers_even_log2():
    x = (np.arange(4 * 256) % 33 - 16).astype(np.float32).reshape(4, 256)
    for n in (4, 16, 64, 256):
        y = ft.hadamard(x, n)
        assert np.array_equal(y, explicit(x, n).astype(np.float32)), n
        assert np.array_equal(ft.hadamard_inverse(y, n), x), n


@pytest.mark.skipif(importlib.util.find_spec("fp4train.reference.hadamard") is None,
                    reason="fp4train.reference.hadamard not present")
@pytest.mark.parametrize("n", [2, 4, 8, 16, 32, 64, 128, 256, 1024, 8192])
def test_bit_identical_to_numpy_fwht_reference(n, rng):
    from fp4train.reference.hadamard import hadamard_fwht_f32, hadamard_inverse_fwht_f32
    x = rng.standard_normal((3, max(n, 512))).astype(np.float32)
    x[0, :7] = [0.0, -0.0, 1e-40, -3e38, 3e38, 1e-30, 65504.0]
    s = rng.choice([-1.0, 1.0], n)
    for isa in ft.supported_isas():
        ft.set_isa(isa)
        try:
            for signs in (None, s):
                assert_bits_equal(ft.hadamard(x, n, signs=signs),
                                  hadamard_fwht_f32(x, n, signs=signs), f"n={n} isa={isa}")
                assert_bits_equal(ft.hadamard_inverse(x, n, signs=signs),
                                  hadamard_inverse_fwht_f32(x, n, signs=signs),
                                  f"inverse n={n} isa={isa}")
        finally:
            ft.reset_isa()


def test_non_finite_propagates_within_its_run(rng):
    x = rng.standard_normal((2, 64)).astype(np.float32)
    clean = ft.hadamard(x, 16)
    for special in (np.nan, np.inf, -np.inf):
        xs = x.copy()
        xs[1, 20] = special  # run 1 of row 1
        y = ft.hadamard(xs, 16)
        assert not np.any(np.isfinite(y[1, 16:32])), special
        if np.isnan(special):
            assert np.all(np.isnan(y[1, 16:32]))
        mask = np.ones_like(y, bool)
        mask[1, 16:32] = False
        assert_bits_equal(y[mask], clean[mask], f"other runs, special={special}")


def test_zero_size_arrays():
    assert ft.hadamard(np.zeros((0, 16), np.float32), 16).shape == (0, 16)
    assert ft.hadamard(np.zeros((3, 0), np.float32), 16).shape == (3, 0)


# --------------------------------------------------------------------------
# Signs


def test_published_vector_hand_built_case():
    """diag(s) H_16 written out by hand: row k of it is s_k (-1)^popcount(k & j) / 4."""
    eye = np.eye(16, dtype=np.float32)
    got = ft.hadamard(eye, 16, signs=PUBLISHED)
    hand = np.empty((16, 16))
    for k in range(16):
        for j in range(16):
            hand[k, j] = PUBLISHED[k] * (-1) ** bin(k & j).count("1") / 4
    assert np.array_equal(got, hand.astype(np.float32))
    # Every step is exact here, so the inverse brings back the identity.
    assert np.array_equal(ft.hadamard_inverse(got, 16, signs=PUBLISHED), eye)
    # Through the spec and the layer too.
    spec = HadamardSpec(16, "fixed", vector=PUBLISHED)
    assert np.array_equal(spec.signs_at(0), np.array(PUBLISHED, np.float32))
    assert np.array_equal(spec.signs_at(99), np.array(PUBLISHED, np.float32))
    layer = ft.nn.Hadamard(16, signs=list(PUBLISHED))
    assert np.array_equal(layer.forward(eye), hand.astype(np.float32))


def test_sign_policies():
    none = HadamardSpec(64)
    assert np.array_equal(none.signs_at(5), np.ones(64, np.float32))
    per = HadamardSpec(64, "per_step", seed=1234)
    s0, s1 = per.signs_at(0), per.signs_at(1)
    assert s0.dtype == np.float32 and set(np.unique(s0)) <= {-1.0, 1.0}
    assert not np.array_equal(s0, s1)
    assert np.array_equal(per.signs_at(1), HadamardSpec(64, "per_step", seed=1234).signs_at(1))
    assert not np.array_equal(s0, HadamardSpec(64, "per_step", seed=1235).signs_at(0))
    fixed = HadamardSpec(64, "fixed", seed=1234)
    assert np.array_equal(fixed.signs_at(0), s0) and np.array_equal(fixed.signs_at(7), s0)
    big = HadamardSpec(32768, "per_step", seed=5).signs_at(11)
    assert abs(float((big < 0).mean()) - 0.5) < 0.02
    if importlib.util.find_spec("fp4train.reference.hadamard") is not None:
        from fp4train.reference.hadamard import signs_from_seed
        for step in (0, 1, 1000):
            assert np.array_equal(per.signs_at(step), signs_from_seed(64, 1234, step))


def test_spec_validation_and_serialization():
    spec = HadamardSpec(16, "fixed", seed=3, vector=list(PUBLISHED))
    assert spec.vector == PUBLISHED and all(type(v) is int for v in spec.vector)
    d = spec.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert HadamardSpec.from_dict(json.loads(json.dumps(d))) == spec
    for s in (HadamardSpec(64), HadamardSpec(32768, "per_step", seed=2 ** 64 - 1)):
        assert HadamardSpec.from_dict(s.to_dict()) == s
    assert hash(spec) == hash(HadamardSpec.from_dict(d))
    bad = [
        (dict(size=12), ValueError, "size"), (dict(size=1), ValueError, "size"),
        (dict(size=65536), ValueError, "size"), (dict(size=16.0), TypeError, "size"),
        (dict(size=True), TypeError, "size"),
        (dict(size=16, signs="random"), ValueError, "signs"),
        (dict(size=16, signs=None), TypeError, "signs"),
        (dict(size=16, seed=-1), ValueError, "seed"),
        (dict(size=16, seed=2 ** 64), ValueError, "seed"),
        (dict(size=16, seed=1.5), TypeError, "seed"),
        (dict(size=16, signs="per_step", vector=PUBLISHED), ValueError, "vector"),
        (dict(size=16, signs="fixed", vector=PUBLISHED[:8]), ValueError, "vector"),
        (dict(size=16, signs="fixed", vector=(2,) * 16), ValueError, "vector"),
        (dict(size=16, signs="fixed", vector="+-" * 8), TypeError, "vector"),
    ]
    for kwargs, exc, arg in bad:
        with pytest.raises(exc, match=f"'{arg}'"):
            HadamardSpec(**kwargs)
    with pytest.raises(ValueError, match="unexpected keys"):
        HadamardSpec.from_dict({"size": 16, "sings": "none"})
    with pytest.raises(ValueError, match="'size'"):
        HadamardSpec.from_dict({"signs": "none"})
    with pytest.raises(ValueError, match="'step'"):
        per = HadamardSpec(16, "per_step")
        per.signs_at(-1)


# --------------------------------------------------------------------------
# Fused transform + quantize


def _quant_cases():
    for fmt in ft.FORMATS:
        for rounding in ft.ROUNDINGS:
            yield fmt, rounding, "floor", 1.0, False
            if fmt not in ("bf16", "fp32"):
                yield fmt, rounding, "rceil", 0.75, False
            if fmt in ("mxfp4", "nvfp4", "mxfp8_e4m3") and rounding != "nearest_away":
                yield fmt, rounding, "even", 1.0, True


@pytest.mark.parametrize("fmt,rounding,rule,prescale,block_2d", list(_quant_cases()))
def test_fused_equals_unfused(fmt, rounding, rule, prescale, block_2d, rng):
    x = rng.standard_normal((32, 128)).astype(np.float32)
    x[:, 7] *= 50.0  # an outlier channel
    kw = dict(rounding=rounding, scale_rule=rule, prescale=prescale, block_2d=block_2d, seed=77)
    for spec, axis in ((HadamardSpec(16), 1), (HadamardSpec(64, "per_step", seed=9), 1),
                       (HadamardSpec(32, "fixed", seed=4), 0), (HadamardSpec(128), 1)):
        step = 3
        case = f"{fmt} {rounding} {rule} p={prescale} 2d={block_2d} {spec} axis={axis}"
        t = ft.hadamard(x, spec.size, axis=axis, signs=spec.signs_at(step))
        q_ref = ft.quantize(t, fmt, axis=axis, **kw)
        q = ft.quantize(x, fmt, axis=axis, hadamard=spec, step=step, **kw)
        assert np.array_equal(q.codes, q_ref.codes), case
        assert np.array_equal(q.scales, q_ref.scales), case
        assert bits(np.float32(q.tensor_scale)) == bits(np.float32(q_ref.tensor_scale)), case
        assert_bits_equal(q.dequantize(), q_ref.dequantize(), case)
        fq = ft.fake_quantize(x, fmt, axis=axis, hadamard=spec, step=step, **kw)
        assert_bits_equal(fq, ft.fake_quantize(t, fmt, axis=axis, **kw), case)


def test_fused_per_step_replays_and_differs(rng):
    x = rng.standard_normal((16, 64)).astype(np.float32)
    spec = HadamardSpec(64, "per_step", seed=2)
    a = ft.fake_quantize(x, "mxfp4", hadamard=spec, step=5, rounding="stochastic", seed=1)
    b = ft.fake_quantize(x, "mxfp4", hadamard=spec, step=5, rounding="stochastic", seed=1)
    c = ft.fake_quantize(x, "mxfp4", hadamard=spec, step=6, rounding="stochastic", seed=1)
    assert_bits_equal(a, b, "replay")
    assert not np.array_equal(bits(a), bits(c))


def test_threads_one_and_two_identical(rng, threads_restored):
    x = rng.standard_normal((96, 1024)).astype(np.float32)
    spec = HadamardSpec(32, "per_step", seed=3)
    out = []
    for n in (1, 2):
        ft.set_num_threads(n)
        out.append([ft.hadamard(x, 64, axis=1, signs=spec.signs_at(1)[:32].tolist() * 2),
                    ft.hadamard(x, 32, axis=0), ft.hadamard_inverse(x, 1024, axis=1),
                    ft.fake_quantize(x, "nvfp4", axis=0, hadamard=spec, step=2,
                                     rounding="stochastic", seed=8),
                    ft.quantize(x, "mxfp4", hadamard=spec, rounding="stochastic").codes])
    for i, (a, b) in enumerate(zip(*out)):
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), i


# --------------------------------------------------------------------------
# Errors name the argument


def test_bad_inputs_name_the_argument():
    x = np.zeros((4, 64), np.float32)
    cases = [
        (lambda: ft.hadamard(x, 12), ValueError, "'size'.*power of two"),
        (lambda: ft.hadamard(x, 1), ValueError, "'size'"),
        (lambda: ft.hadamard(x, 65536), ValueError, "'size'"),
        (lambda: ft.hadamard(x, 16.0), TypeError, "'size'"),
        (lambda: ft.hadamard(x, "16"), TypeError, "'size'"),
        (lambda: ft.hadamard(x, 128), ValueError, "'size'.*larger than the axis length 64"),
        (lambda: ft.hadamard(np.zeros((12, 64)), 8, axis=0), ValueError, "'size'.*not a multiple"),
        (lambda: ft.hadamard(np.zeros((4, 48), np.float32), 32), ValueError, "'size'.*multiple"),
        (lambda: ft.hadamard(x, 16, signs=np.ones(8)), ValueError, "'signs'"),
        (lambda: ft.hadamard(x, 16, signs=np.ones((4, 4))), ValueError, "'signs'"),
        (lambda: ft.hadamard(x, 16, signs=[1] * 15 + [0]), ValueError, "'signs'.*index 15"),
        (lambda: ft.hadamard(x, 16, signs=[1.0 + 1e-12] * 16), ValueError, "'signs'"),
        (lambda: ft.hadamard(x, 16, signs=[1] * 15 + [np.nan]), ValueError, "'signs'"),
        (lambda: ft.hadamard(x, 16, signs=[True] * 16), TypeError, "'signs'"),
        (lambda: ft.hadamard(x, 16, signs="+" * 16), TypeError, "'signs'"),
        (lambda: ft.hadamard(x, 16, axis=2), ValueError, "'axis'"),
        (lambda: ft.hadamard(x, 16, axis=1.0), TypeError, "'axis'"),
        (lambda: ft.hadamard(np.zeros((4, 64), bool), 16), TypeError, "'x'"),
        (lambda: ft.hadamard(np.float32(1.0), 2), ValueError, "'x'"),
        (lambda: ft.hadamard_inverse(x, 3), ValueError, "'size'"),
        (lambda: ft.hadamard_inverse(np.zeros(64, complex), 16), TypeError, "'y'"),
        (lambda: ft.quantize(x, "mxfp4", hadamard=16), TypeError, "'hadamard'"),
        (lambda: ft.quantize(x, "mxfp4", hadamard=HadamardSpec(128)), ValueError, "'size'"),
        (lambda: ft.fake_quantize(x, "nvfp4", hadamard=HadamardSpec(16, "per_step"), step=-1),
         ValueError, "'step'"),
        (lambda: ft.fake_quantize(x, "nvfp4", hadamard=HadamardSpec(16), step="0"),
         TypeError, "'step'"),
        (lambda: ft.nn.Hadamard(24), ValueError, "'size'"),
        (lambda: ft.nn.Hadamard(16, signs="sometimes"), ValueError, "'signs'"),
        (lambda: ft.nn.Hadamard(16, axis="last"), TypeError, "'axis'"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            fn()


# --------------------------------------------------------------------------
# nn.Hadamard


def test_layer_forward_backward_and_steps(rng):
    layer = ft.nn.Hadamard(32, signs="per_step", seed=11, axis=1)
    spec = HadamardSpec(32, "per_step", seed=11)
    x = rng.standard_normal((4, 64, 3)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    for step in range(3):
        assert layer.step == step
        y = layer.forward(x)
        s = spec.signs_at(step)
        assert_bits_equal(y, ft.hadamard(x, 32, axis=1, signs=s), f"forward step {step}")
        dx = layer.backward(dy)
        assert_bits_equal(dx, ft.hadamard_inverse(dy, 32, axis=1, signs=s), f"backward {step}")
        # The gradient of y = x diag(s) H is dy (diag(s) H)^T = dy H diag(s).
        want = explicit(dy, 32, axis=1, signs=s, inverse=True)
        assert np.all(np.abs(dx - want) <= block_tolerance(dy, 32, axis=1))
    assert layer.parameters() == []
    assert "per_step" in repr(layer)


def test_layer_backward_uses_its_forward_signs(rng):
    layer = ft.nn.Hadamard(16, signs="per_step", seed=1)
    x = rng.standard_normal((2, 16)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(y)  # the transform is orthogonal: back to x
    assert np.allclose(dx, x, atol=1e-6)
    with pytest.raises(RuntimeError):
        ft.nn.Hadamard(16).backward(x)


def test_layer_state_dict_resumes_signs(rng):
    x = rng.standard_normal((3, 64)).astype(np.float32)
    run = ft.nn.Hadamard(64, signs="per_step", seed=5)
    for _ in range(4):
        run.forward(x)
    state = run.state_dict()
    assert state == {"step": 4}
    expected = [run.forward(x) for _ in range(3)]
    resumed = ft.nn.Hadamard(64, signs="per_step", seed=5)
    resumed.load_state_dict(state)
    for i, e in enumerate(expected):
        assert_bits_equal(resumed.forward(x), e, f"resumed forward {i}")
    fixed = ft.nn.Hadamard(64, signs="fixed", seed=5)
    first = fixed.forward(x)
    assert_bits_equal(fixed.forward(x), first, "fixed signs do not change")
    with pytest.raises(ValueError, match="step"):
        resumed.load_state_dict({"step": -2})
    with pytest.raises(ValueError, match="missing keys"):
        resumed.load_state_dict({})


# --------------------------------------------------------------------------
# analysis


def test_analysis_statistics_on_hand_built_blocks():
    from fp4train import analysis
    # One spike in a block of 32: crest factor sqrt(32); a flat block: 1.
    x = np.zeros((2, 32), np.float32)
    x[0, 3] = 5.0
    x[1, :] = -2.0
    cf = analysis.crest_factors(x, 32)
    assert np.allclose(sorted(cf), [1.0, np.sqrt(32)])
    # mxfp4, floor rule: amax 7.5 -> scale 2^(2-2) = 1, so 7.5 clips to 6,
    # and 0.2 (below the 0.25 midpoint) flushes to zero.
    y = np.zeros((1, 32), np.float32)
    y[0, 0], y[0, 1], y[0, 2] = 7.5, 0.2, 1.0
    st = analysis.quant_stats(y, "mxfp4")
    assert st["clipped_pct"] == pytest.approx(100 / 32)
    assert st["flushed_pct"] == pytest.approx(100 / 32)
    err = 1.5 ** 2 + 0.2 ** 2
    assert st["sqnr_db"] == pytest.approx(10 * np.log10((7.5 ** 2 + 0.04 + 1) / err), rel=1e-5)


def test_analysis_report_on_outliers(rng):
    x = rng.standard_normal((256, 512)).astype(np.float32)
    x[:, [5, 200, 333]] *= 80.0
    rows = ft.analysis.transform_report(x, formats=("mxfp4", "nvfp4"),
                                        transforms=(None, 64, HadamardSpec(64, "fixed", seed=1)))
    assert [r["transform"] for r in rows] == ["none", "H64", "H64 fixed signs"] * 2
    by = {(r["format"], r["transform"]): r for r in rows}
    for fmt in ("mxfp4", "nvfp4"):
        assert by[(fmt, "H64")]["crest_max"] < by[(fmt, "none")]["crest_max"]
        assert by[(fmt, "H64")]["flushed_pct"] < by[(fmt, "none")]["flushed_pct"]
    text = ft.analysis.format_report(rows)
    assert "SQNR dB" in text and len(text.splitlines()) == 2 + len(rows)
