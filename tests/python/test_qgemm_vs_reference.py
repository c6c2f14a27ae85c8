"""The C++ quantized GEMM and float32 GEMM held to the numpy reference bit for bit.

* ``fp4train.gemm.qgemm(a_q, b_q)`` == ``reference.gemm.qgemm_exact`` on the
  reference quantization of the same inputs (the codes are first checked
  equal), for every pair of formats (pairs whose K blocks differ must raise
  on both sides), with per-block magnitudes spread over 2^-30..2^30 (and
  beyond, into subnormal and overflowing block terms), partial last blocks,
  2-D tiles, weights quantized along axis 0 passed as ``.T``, prescales,
  stochastic codes and NaN/Inf blocks; on every SIMD path and at 1 and 2
  threads.
* ``fp4train.gemm.gemm_f32`` == ``reference.gemm.gemm_f32_fma`` (fma in K
  order), including inputs where fma and multiply-then-add differ.

Results are compared as uint32 bit patterns. NaN payloads are not part of
the definition (NUMERICS §5 says only that the result is NaN; qgemm.h:
"NaN payloads aside"), so every NaN is canonicalized to 0x7FC00000 first.

Run: ``PYTHONPATH=python /usr/bin/python3 -m pytest -q -p no:cacheprovider
tests/python/test_qgemm_vs_reference.py``
"""
import dataclasses

import numpy as np
import pytest

import fp4train as ft
from fp4train.reference import gemm as rg
from fp4train.reference import quant as rq
from test_quantize_vs_reference import FORMATS, _seed, check, f32bits, make

gemm = pytest.importorskip("fp4train.gemm")

ISAS = tuple(ft.supported_isas())
K_BLOCK = {"mxfp4": 32, "mxfp8_e4m3": 32, "mxfp8_e5m2": 32, "fp8_e4m3": 32, "fp8_e5m2": 32,
           "nvfp4": 16, "bf16": 0, "fp32": 0}


@pytest.fixture
def restore_runtime():
    yield
    ft.reset_isa()
    ft.set_num_threads(0)


def _valid_pair(fa, fb):
    ka, kb = K_BLOCK[fa], K_BLOCK[fb]
    return ka == 0 or kb == 0 or ka == kb


def _canon(c):
    b = f32bits(c).copy()
    b[np.isnan(c)] = 0x7FC00000
    return b


def _assert_gemm(got, ref, what, a=None, b=None):
    assert got.dtype == np.float32 and got.shape == ref.shape, (
        f"{what}: dtype {got.dtype} shape {got.shape} vs {ref.shape}")
    g, r = _canon(got), _canon(ref)
    if not np.array_equal(g, r):
        bad = np.argwhere(g != r)

        def d(p):
            p = tuple(int(i) for i in p)
            return (f"C{p}: C++={int(g[p]):#010x} ({got[p]!r}) ref={int(r[p]):#010x} "
                    f"({ref[p]!r})")
        raise AssertionError(f"{what}: {len(bad)} of {g.size} outputs differ; first {d(bad[0])}; "
                             f"last {d(bad[-1])}")


def _quantize_both(x, fmt, axis=1, **kw):
    """C++ and reference quantization of x (codes held equal by check())."""
    got = check(x, fmt, axis=axis, rounding=kw.get("rounding", "nearest"),
                rule=kw.get("rule", "floor"), prescale=kw.get("prescale", 1.0),
                block_2d=kw.get("block_2d", False), seed=kw.get("seed", 0), label="gemm operand",
                fake=False)
    ref = rq.quantize(np.asarray(x, np.float32), fmt, axis=axis,
                      rounding=kw.get("rounding", "nearest"), scale_rule=kw.get("rule", "floor"),
                      prescale=kw.get("prescale", 1.0), block_2d=kw.get("block_2d", False),
                      seed=kw.get("seed", 0))
    return got, ref


def _ref_T(r):
    """Reference counterpart of QTensor.T: same storage, transposed logical shape."""
    return dataclasses.replace(r, shape=tuple(r.shape[::-1]), axis=1 - r.axis)


def _spread(shape, rng, lo=-30, hi=30, block=16):
    """Gaussian data with every run of ``block`` along K scaled by 2^U[lo, hi]."""
    M, K = shape
    nb = -(-K // block)
    e = np.repeat(rng.integers(lo, hi + 1, (M, nb)), block, axis=1)[:, :K]
    return (rng.standard_normal(shape) * 2.0 ** e).astype(np.float32)


def _settings(fa, fb):
    """A few (rounding, rule, prescale) combinations per operand pair."""
    pa = 1.0 if fa in ("bf16", "fp32") else 0.75
    pb = 1.0 if fb in ("bf16", "fp32") else 0.75
    return [dict(a=dict(), b=dict()),
            dict(a=dict(rounding="stochastic", rule="rceil", prescale=pa, seed=11),
                 b=dict(rounding="stochastic", rule="even", prescale=pb, seed=2**63 + 1))]


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
def test_qgemm_every_format_pair(fa, fb):
    rng = np.random.default_rng(_seed("pair", fa, fb) % 2**32)
    M, N = 5, 4
    if not _valid_pair(fa, fb):
        a, _ = _quantize_both(make("gaussian", (M, 64), rng), fa)
        b, rb = _quantize_both(make("gaussian", (N, 64), rng), fb)
        with pytest.raises(ValueError):
            gemm.qgemm(a, b)
        _, ra = _quantize_both(make("gaussian", (M, 64), rng), fa)
        with pytest.raises(ValueError):
            rg.qgemm_exact(ra, rb)
        return
    cases = {
        "gaussian-K96": (make("gaussian", (M, 96), rng), make("gaussian", (N, 96), rng)),
        "spread30-K70": (_spread((M, 70), rng), _spread((N, 70), rng)),  # partial last block
        "spread30-b32": (_spread((M, 96), rng, block=32), _spread((N, 96), rng, block=32)),
        "spread-wide": (_spread((M, 64), rng, -60, 60), _spread((N, 64), rng, -60, 60)),
        "heavy-K17": (make("heavy", (M, 17), rng), make("outliers", (N, 17), rng)),
        "subnormal-in": (make("subnormal", (M, 48), rng), _spread((N, 48), rng, 40, 60)),
        "tiny": (_spread((M, 48), rng, -75, -60), _spread((N, 48), rng, -75, -60)),
        "huge": (_spread((M, 64), rng, 100, 126), _spread((N, 64), rng, 100, 126)),
        "cancel": (np.tile(make("grid", (1, 64), rng), (M, 1)),
                   np.concatenate([make("grid", (N, 32), rng)] * 2, axis=1) *
                   np.concatenate([np.ones(32), -np.ones(32)]).astype(np.float32)),
    }
    for label, (x, w) in cases.items():
        for st in _settings(fa, fb):
            a, ra = _quantize_both(x, fa, **st["a"])
            b, rb = _quantize_both(w, fb, **st["b"])
            what = (f"[A={fa} {st['a']} B={fb} {st['b']} data={label} M,N,K={M},{N},"
                    f"{x.shape[1]}]")
            _assert_gemm(gemm.qgemm(a, b), rg.qgemm_exact(ra, rb), what)


@pytest.mark.parametrize("fmt", ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2"))
def test_qgemm_2d_tiles_and_transposed_weight(fmt):
    """Weights quantized along axis 0 (optionally with 2-D tiles) used as ``.T``."""
    rng = np.random.default_rng(_seed("tiles", fmt) % 2**32)
    K, M, N = 80, 6, 37  # N, K not tile multiples
    x = _spread((M, K), rng, -10, 10)
    w = _spread((N, K), rng, -10, 10).T.copy()  # (K, N): quantized along axis 0
    for tiles in (False, True):
        for rounding in ("nearest", "stochastic"):
            a, ra = _quantize_both(x, fmt, rounding=rounding, block_2d=tiles, seed=1)
            b, rb = _quantize_both(w, fmt, axis=0, rounding=rounding, block_2d=tiles, seed=2,
                                   prescale=0.75)
            what = f"[{fmt} tiles={tiles} {rounding} W along axis 0 as .T]"
            _assert_gemm(gemm.qgemm(a, b.T), rg.qgemm_exact(ra, _ref_T(rb)), what)


@pytest.mark.parametrize("fmt", ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "fp8_e4m3",
                                 "fp8_e5m2"))
def test_qgemm_nan_inf(fmt):
    rng = np.random.default_rng(_seed("naninf", fmt) % 2**32)
    x = make("gaussian", (4, 64), rng)
    w = make("gaussian", (5, 64), rng)
    x[0, 3] = np.nan
    x[1, 40] = np.inf
    w[2, 10] = -np.inf
    w[3, 33] = np.inf
    x[3, 34] = -np.inf  # Inf against Inf in the same block: Inf - Inf or Inf * Inf
    a, ra = _quantize_both(x, fmt)
    b, rb = _quantize_both(w, fmt)
    _assert_gemm(gemm.qgemm(a, b), rg.qgemm_exact(ra, rb), f"[{fmt} NaN/Inf]")
    # FP8 x FP8 per-tensor against a block format with the same K blocks
    if fmt.startswith("fp8"):
        for other in ("mxfp8_e5m2", "mxfp4", "fp8_e5m2"):
            b, rb = _quantize_both(w, other)
            _assert_gemm(gemm.qgemm(a, b), rg.qgemm_exact(ra, rb), f"[{fmt} x {other} NaN/Inf]")


@pytest.mark.parametrize("isa", ISAS)
def test_qgemm_every_isa_and_thread_count(isa, restore_runtime):
    """Larger shapes so that the tiled SIMD kernels and thread splits run."""
    ft.set_isa(isa)
    rng = np.random.default_rng(_seed("isa", isa) % 2**32)
    M, N, K = 37, 45, 200
    pairs = [("mxfp4", "mxfp4"), ("nvfp4", "nvfp4"), ("mxfp8_e4m3", "mxfp8_e5m2"),
             ("mxfp8_e5m2", "mxfp8_e5m2"), ("fp8_e4m3", "mxfp4"), ("fp8_e5m2", "fp8_e5m2"),
             ("mxfp8_e4m3", "fp8_e4m3"), ("bf16", "mxfp4")]
    x, w = _spread((M, K), rng), _spread((N, K), rng)
    for fa, fb in pairs:
        a, ra = _quantize_both(x, fa, rounding="stochastic", seed=3)
        b, rb = _quantize_both(w, fb, rounding="stochastic", seed=4)
        ref = rg.qgemm_exact(ra, rb)
        for t in (1, 2):
            ft.set_num_threads(t)
            _assert_gemm(gemm.qgemm(a, b), ref, f"[isa={isa} threads={t} {fa} x {fb}]")


@pytest.mark.parametrize("isa", ISAS)
def test_gemm_f32_matches_fma_reference(isa, restore_runtime):
    ft.set_isa(isa)
    rng = np.random.default_rng(_seed("f32", isa) % 2**32)
    cases = {
        "gaussian": (make("gaussian", (7, 33), rng), make("gaussian", (9, 33), rng)),
        "wide": (make("wide", (5, 64), rng), make("wide", (6, 64), rng)),
        "large": (make("heavy", (40, 130), rng), make("outliers", (50, 130), rng)),
        "subnormal": (make("subnormal", (3, 16), rng), make("gaussian", (4, 16), rng)),
        "empty-K": (np.zeros((3, 0), np.float32), np.zeros((2, 0), np.float32)),
        "empty-M": (np.zeros((0, 5), np.float32), np.ones((2, 5), np.float32)),
    }
    # fma vs multiply-then-add: a*b = 1 + 2^-23 + 2^-24 (not a float32), c = -1
    u = np.float32(1 + 2.0**-23)
    cases["fma-vs-muladd"] = (np.array([[u, -1.0, 1.0, u]], np.float32),
                              np.array([[u, 1.0, -2.0**-24, -u]], np.float32))
    # overflow and NaN / Inf propagation
    big = np.full((2, 8), 2e38, np.float32)
    big[1, 3] = np.nan
    cases["overflow-nan"] = (big, np.array([[1, 1, -1, -1, 1, 1, -1, -1],
                                            [np.inf, 0, 0, 0, 0, 0, 0, 0]], np.float32))
    for label, (a, b) in cases.items():
        for t in (1, 2):
            ft.set_num_threads(t)
            got = gemm.gemm_f32(a, b)
            _assert_gemm(got, rg.gemm_f32_fma(a, b), f"[isa={isa} threads={t} {label}]")
    a, b = cases["fma-vs-muladd"]
    with np.errstate(all="ignore"):
        muladd = (a.astype(np.float32) * b.astype(np.float32)).sum(dtype=np.float32)
    assert f32bits(rg.gemm_f32_fma(a, b)).item() != f32bits(muladd).item()
