"""Tests of fp4train.qgemm and fp4train.gemm.gemm_f32 (docs/NUMERICS.md §5).

* Tolerance: qgemm equals the float64 product of the dequantized operands
  (numpy, independent of the C++ GEMM) within the error bound derived in
  :func:`error_bound`, for every format pair and awkward shapes.
* Bit equality with the numpy reference ``fp4train.reference.gemm.qgemm_exact``
  on small shapes (skipped if that module is absent).
* Identical bits for 1 and 2 threads and for every SIMD path.
* Errors: TypeError / ValueError naming the argument.
"""
import numpy as np
import pytest

import fp4train as ft
from fp4train.gemm import gemm_f32

from conftest import make_data

try:
    from fp4train.reference import gemm as ref_gemm
    from fp4train.reference import quant as ref_quant
except ImportError:  # pragma: no cover - depends on the reference package
    ref_gemm = ref_quant = None

U = 2.0**-24  # float32 unit roundoff
TINY = 2.0**-149  # smallest float32 subnormal

# (format, block_2d, prescale, rounding) per operand.
MX4 = ("mxfp4", False, 1.0, "nearest")
MX4_SR = ("mxfp4", False, 0.75, "stochastic")  # the MXFP4 backward recipe's operands
NV4 = ("nvfp4", False, 1.0, "nearest")
NV4_2D = ("nvfp4", True, 1.0, "nearest")
NV4_SR = ("nvfp4", False, 1.0, "stochastic")
MX8E4 = ("mxfp8_e4m3", False, 1.0, "nearest")
MX8E5 = ("mxfp8_e5m2", False, 1.0, "nearest")
FP8E4 = ("fp8_e4m3", False, 1.0, "nearest")
FP8E5 = ("fp8_e5m2", False, 1.0, "nearest")
BF16 = ("bf16", False, 1.0, "nearest")
FP32 = ("fp32", False, 1.0, "nearest")

PAIRS = [
    (MX4, MX4), (MX4_SR, MX4_SR), (NV4, NV4), (NV4_SR, NV4_2D), (NV4_2D, NV4_2D),
    (MX8E4, MX8E4), (MX8E4, MX8E5), (MX8E5, MX8E5), (FP8E4, FP8E4), (FP8E5, FP8E4),
    (FP8E4, FP8E5), (FP8E5, FP8E5), (MX4, MX8E4), (FP8E4, MX8E5), (BF16, BF16), (FP32, FP32),
    (BF16, MX4), (NV4, FP32),
]
SHAPES = [(1, 37, 61), (37, 1, 127), (17, 33, 31), (61, 37, 127), (8, 16, 5), (3, 5, 1),
          (40, 48, 256)]


def pair_id(p):
    return "x".join(f[0] + ("2d" if f[1] else "") + ("_sr" if f[3] == "stochastic" else "")
                    for f in p)


def quant(x, f, seed=0):
    fmt, block_2d, prescale, rounding = f
    return ft.quantize(x, fmt, axis=1, rounding=rounding, prescale=prescale,
                       block_2d=block_2d, seed=seed)


def k_block(fmt):
    """Block size along K of a block format (per-tensor fp8: virtual 32)."""
    return ft.format_info(fmt)["block"] or 32


def error_bound(qa, qb, a64, b64):
    """Bound on |qgemm - float64(A_deq) @ float64(B_deq).T| per output.

    With nb = ceil(K / block) block terms t_b (nb = K for the float32 GEMM,
    each fma rounding once) and P = |A_deq| @ |B_deq|.T:
      - each term rounds once: |t_b - exact_b| <= u |exact_b| + tiny/2;
      - summing nb terms into float32 from +0 (recursive summation) adds at
        most (nb - 1) u sum|t_b| (first order) plus nb tiny/2 in the
        subnormal range; sum |exact_b| <= P;
      - the last steps (tensor scales RN(d_a d_b), RN(acc * d), two prescale
        divisions) round at most 4 more times: 4 u |C|;
      - dequantize itself rounds each element at most twice (nvfp4: * s_dec,
        / p; fp8: / s), so A_deq B_deq differs from the exact operands'
        product by at most 4 u P (the difference between d = RN(1/s) and
        1/s is one of those roundings).
    Total: (nb + 9) u P + (nb + 4) tiny, with a factor 1.01 for the
    second-order terms.
    """
    K = qa.shape[1]
    float_path = qa.format in ("bf16", "fp32") or qb.format in ("bf16", "fp32")
    nb = K if float_path else -(-K // k_block(qa.format))
    P = np.abs(a64) @ np.abs(b64).T
    return 1.01 * ((nb + 9) * U * P + (nb + 4) * TINY)


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
def test_matches_float64_product_within_bound(pair, rng):
    for i, (M, N, K) in enumerate(SHAPES):
        kind = ("gaussian", "heavy", "outliers")[i % 3]
        qa = quant(make_data(kind, (M, K), rng), pair[0], seed=i)
        qb = quant(make_data("gaussian", (N, K), rng), pair[1], seed=100 + i)
        c = ft.qgemm(qa, qb)
        assert c.shape == (M, N) and c.dtype == np.float32
        a64 = qa.dequantize().astype(np.float64)
        b64 = qb.dequantize().astype(np.float64)
        want = a64 @ b64.T
        err = np.abs(c.astype(np.float64) - want)
        bound = error_bound(qa, qb, a64, b64)
        bad = ~(err <= bound)
        if bad.any():
            m, n = np.argwhere(bad)[0]
            pytest.fail(f"{pair_id(pair)} {M}x{N}x{K} ({kind}): {bad.sum()} outputs beyond the "
                        f"bound; first at ({m}, {n}): qgemm {c[m, n]!r} "
                        f"(0x{c.view(np.uint32)[m, n]:08x}), float64 {want[m, n]!r}, "
                        f"error {err[m, n]:.3g} > bound {bound[m, n]:.3g}")


def test_bound_is_not_vacuous(rng):
    """The quantized product really differs from float64 math by roundings, and
    the bound is within a modest factor of the observed error."""
    # mxfp8 elements of heavy-tailed data: block terms need far more than 24
    # bits together, so the float32 accumulation really rounds.
    qa = quant(make_data("heavy", (64, 1024), rng), MX8E4)
    qb = quant(make_data("heavy", (64, 1024), rng), MX8E4)
    a64 = qa.dequantize().astype(np.float64)
    b64 = qb.dequantize().astype(np.float64)
    err = np.abs(ft.qgemm(qa, qb) - a64 @ b64.T)
    bound = error_bound(qa, qb, a64, b64)
    assert err.max() > 0
    assert np.all(err <= bound)
    assert (bound / np.maximum(err, 1e-30)).min() < 1e3


# ---------------------------------------------------------------------------
# Bit equality with the numpy reference


def as_ref(q):
    return ref_quant.RefQTensor(
        codes=q.codes, scales=q.scales, tensor_scale=np.float32(q.tensor_scale),
        shape=tuple(q.shape), axis=q.axis, format=q.format, rounding=q.rounding,
        scale_rule=q.scale_rule, prescale=np.float32(q.prescale), block_2d=q.block_2d,
        seed=q.seed)


def assert_bits_equal(got, want, what):
    got = np.asarray(got, dtype=np.float32)
    want = np.asarray(want, dtype=np.float32)
    assert got.shape == want.shape, what
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    if not same.all():
        idx = np.argwhere(~same)
        m, n = idx[0]
        l0, l1 = idx[-1]
        pytest.fail(f"{what}: {len(idx)} of {got.size} differ; first at ({m}, {n}): "
                    f"got {got[m, n]!r} (0x{got.view(np.uint32)[m, n]:08x}), want "
                    f"{want[m, n]!r} (0x{want.view(np.uint32)[m, n]:08x}); last at ({l0}, {l1})")


@pytest.mark.skipif(ref_gemm is None or not hasattr(ref_gemm, "qgemm_exact"),
                    reason="fp4train.reference.gemm.qgemm_exact is not available yet")
@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
def test_bit_equal_to_numpy_reference(pair, rng):
    for i, (M, N, K) in enumerate([(3, 5, 61), (17, 2, 33), (1, 1, 5), (6, 7, 96)]):
        xa = make_data(("gaussian", "heavy", "outliers")[i % 3], (M, K), rng)
        xb = make_data("tiny" if i == 3 else "gaussian", (N, K), rng)
        xa[0, min(3, K - 1)] = np.nan if i == 2 else xa[0, min(3, K - 1)]
        qa, qb = quant(xa, pair[0], seed=i), quant(xb, pair[1], seed=50 + i)
        assert_bits_equal(ft.qgemm(qa, qb), ref_gemm.qgemm_exact(as_ref(qa), as_ref(qb)),
                          f"qgemm vs reference qgemm_exact, {pair_id(pair)} {M}x{N}x{K}")


@pytest.mark.skipif(ref_gemm is None or not hasattr(ref_gemm, "gemm_f32_fma"),
                    reason="fp4train.reference.gemm.gemm_f32_fma is not available yet")
def test_gemm_f32_bit_equal_to_numpy_reference(rng):
    for M, N, K in [(3, 5, 61), (17, 33, 40), (1, 1, 1)]:
        a = make_data("heavy", (M, K), rng)
        b = make_data("gaussian", (N, K), rng)
        assert_bits_equal(gemm_f32(a, b), ref_gemm.gemm_f32_fma(a, b),
                          f"gemm_f32 vs reference gemm_f32_fma {M}x{N}x{K}")


def test_gemm_f32_within_float64_bound(rng):
    for M, N, K in [(1, 40, 300), (33, 1, 77), (64, 70, 513)]:
        a = make_data("outliers", (M, K), rng)
        b = make_data("gaussian", (N, K), rng)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        err = np.abs(gemm_f32(a, b) - a64 @ b64.T)
        assert np.all(err <= 1.01 * (K + 1) * U * (np.abs(a64) @ np.abs(b64).T) + K * TINY)


# ---------------------------------------------------------------------------
# Determinism


@pytest.mark.parametrize("pair", [(MX4, MX4), (NV4, NV4_2D), (MX8E4, MX8E4), (FP8E5, FP8E4),
                                  (BF16, BF16)], ids=pair_id)
def test_threads_and_isas_give_identical_bits(pair, rng, threads):
    M, N, K = 97, 131, 300
    qa = quant(make_data("outliers", (M, K), rng), pair[0], seed=1)
    qb = quant(make_data("heavy", (N, K), rng), pair[1], seed=2)
    threads(1)
    base = ft.qgemm(qa, qb)
    threads(2)
    assert_bits_equal(ft.qgemm(qa, qb), base, f"{pair_id(pair)}: 2 threads vs 1")
    try:
        for isa in ft.supported_isas():
            ft.set_isa(isa)
            assert_bits_equal(ft.qgemm(qa, qb), base, f"{pair_id(pair)}: isa {isa} vs default")
    finally:
        ft.reset_isa()


def test_gemm_f32_threads_identical(rng, threads):
    a = make_data("gaussian", (70, 333), rng)
    b = make_data("heavy", (90, 333), rng)
    threads(1)
    base = gemm_f32(a, b)
    threads(2)
    assert_bits_equal(gemm_f32(a, b), base, "gemm_f32: 2 threads vs 1")


# ---------------------------------------------------------------------------
# Semantics visible from Python


def test_transposed_weight_via_T(rng):
    """A weight quantized along axis 0 enters as .T and gives the same bits as
    quantizing its transpose along axis 1 (nearest rounding)."""
    x = make_data("gaussian", (9, 64), rng)
    w = make_data("gaussian", (64, 20), rng)  # (K, N)
    qx = ft.quantize(x, "mxfp4", axis=1)
    via_t = ft.qgemm(qx, ft.quantize(w, "mxfp4", axis=0).T)
    direct = ft.qgemm(qx, ft.quantize(np.ascontiguousarray(w.T), "mxfp4", axis=1))
    assert_bits_equal(via_t, direct, "quantize(w, axis=0).T vs quantize(w.T, axis=1)")


def test_nan_propagates_to_its_row_only(rng):
    x = make_data("gaussian", (4, 64), rng)
    x[2, 10] = np.nan
    qx = ft.quantize(x, "mxfp4", axis=1)
    qw = ft.quantize(make_data("gaussian", (3, 64), rng), "mxfp4", axis=1)
    c = ft.qgemm(qx, qw)
    assert np.isnan(c[2]).all()
    assert np.isfinite(np.delete(c, 2, axis=0)).all()


def test_zero_operand_gives_positive_zero(rng):
    qa = ft.quantize(np.zeros((3, 40), np.float32), "nvfp4", axis=1)
    qb = ft.quantize(make_data("gaussian", (5, 40), rng), "nvfp4", axis=1)
    c = ft.qgemm(qa, qb)
    assert (c.view(np.uint32) == 0).all()


# ---------------------------------------------------------------------------
# Errors


def test_errors_name_the_argument(rng):
    x = make_data("gaussian", (8, 64), rng)
    qa = ft.quantize(x, "mxfp4", axis=1)
    with pytest.raises(TypeError, match="a_q"):
        ft.qgemm(x, qa)
    with pytest.raises(TypeError, match="b_q"):
        ft.qgemm(qa, None)
    with pytest.raises(ValueError, match=r"b_q.*axis.*b_q\.T"):
        ft.qgemm(qa, ft.quantize(make_data("gaussian", (64, 8), rng), "mxfp4", axis=0))
    with pytest.raises(ValueError, match=r"a_q.*a_q\.T"):
        ft.qgemm(ft.quantize(make_data("gaussian", (64, 8), rng), "mxfp4", axis=0), qa)
    with pytest.raises(ValueError, match=r"b_q.*K = 64"):
        ft.qgemm(qa, ft.quantize(make_data("gaussian", (8, 48), rng), "mxfp4", axis=1))
    with pytest.raises(ValueError, match=r"b_q.*nvfp4.*16"):
        ft.qgemm(qa, ft.quantize(x, "nvfp4", axis=1))
    with pytest.raises(ValueError, match=r"a_q.*2-D"):
        ft.qgemm(ft.quantize(make_data("gaussian", (2, 4, 64), rng), "mxfp4", axis=2), qa)
    with pytest.raises(ValueError, match="a_q"):
        ft.qgemm(ft.quantize(x[0], "mxfp4", axis=0), qa)
    with pytest.raises(ValueError, match="argument 'a'"):
        gemm_f32(x[0], x)
    with pytest.raises(ValueError, match=r"argument 'b'.*K"):
        gemm_f32(x, x[:, :10])
    with pytest.raises(TypeError, match="argument 'b'"):
        gemm_f32(x, x.astype(np.complex64))


def test_tampered_qtensor_is_rejected(rng):
    qa = ft.quantize(make_data("gaussian", (8, 64), rng), "mxfp4", axis=1)
    bad = ft.quantize(make_data("gaussian", (8, 64), rng), "mxfp4", axis=1)
    bad.scales = bad.scales[:, :1].copy()
    with pytest.raises(ValueError, match=r"b_q\.scales"):
        ft.qgemm(qa, bad)
