"""The C++ quantizer held to the numpy reference bit for bit.

``fp4train.quantize`` / ``dequantize`` / ``fake_quantize`` (C++) against
``fp4train.reference.quant`` (numpy, written from docs/NUMERICS.md alone):
codes and scales compared as bytes, the tensor scale as float32 bits,
dequantized and fake-quantized values as uint32 bit patterns (so -0 != +0
and NaN payloads count). Stochastic rounding is compared with the same seed:
both sides draw Philox4x32-10 over the logical flat element index.

Grid: every format x scale rule x rounding x prescale (1, 0.75; bf16 and
fp32 only 1) on several data distributions and layouts, plus edge-case
tests: signed zeros, rounding ties, scale-rule boundaries and saturation,
NaN/Inf, partial blocks, extreme magnitudes, 2-D tiles, N-D arrays along
every axis, non-contiguous and converted inputs, zero-size arrays, and
thread-count invariance of stochastic rounding.

Run: ``PYTHONPATH=python /usr/bin/python3 -m pytest -q -p no:cacheprovider
tests/python/test_quantize_vs_reference.py``
"""
import functools
import zlib

import numpy as np
import pytest

import fp4train as ft
from fp4train.reference import formats as rf
from fp4train.reference import quant as rq

FORMATS = ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "fp8_e4m3", "fp8_e5m2", "bf16", "fp32")
MX = ("mxfp4", "mxfp8_e4m3", "mxfp8_e5m2")
BLOCKED = MX + ("nvfp4",)
RULES = ("floor", "rceil", "ceil", "even")
ROUNDINGS = ("nearest", "nearest_away", "stochastic")
BITS = {"mxfp4": 4, "nvfp4": 4, "mxfp8_e4m3": 8, "mxfp8_e5m2": 8, "fp8_e4m3": 8,
        "fp8_e5m2": 8, "bf16": 16, "fp32": 32}
FLT_MAX = np.float32(np.finfo(np.float32).max)
F32_TINY = np.float32(np.finfo(np.float32).tiny)  # 2^-126
F32_DENORM_MIN = np.float32(2.0**-149)


def _prescales(fmt):
    return (1.0,) if fmt in ("bf16", "fp32") else (1.0, 0.75)


def _seed(*parts):
    """A deterministic 64-bit seed per case (high key word exercised too)."""
    h = zlib.crc32(repr(parts).encode())
    return (h * 0x9E3779B97F4A7C15 + 12345) % 2**64


def f32bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# ----------------------------------------------------------------------------
# Comparison with a diagnostic message


def _elem_codes(codes, fmt, length):
    """Packed storage bytes (rows, row_bytes) -> element codes (rows, length) int64."""
    b = np.ascontiguousarray(codes, dtype=np.uint8)
    rows = b.shape[0]
    bits = BITS[fmt]
    if bits == 4:
        both = np.empty((rows, 2 * b.shape[1]), np.int64)
        both[:, 0::2] = b & 0x0F
        both[:, 1::2] = b >> 4
        return both[:, :length]
    if bits == 8:
        return b.astype(np.int64)
    if bits == 16:
        return b.view("<u2").reshape(rows, length).astype(np.int64)
    return b.view("<u4").reshape(rows, length).astype(np.int64)


class _Case:
    """One comparison: input, settings, and the storage <-> logical mapping."""

    def __init__(self, x, fmt, axis, rounding, rule, prescale, block_2d, seed, label):
        self.x_in = x
        self.x = np.asarray(x, dtype=np.float32)  # what both sides quantize
        self.fmt, self.rounding, self.rule = fmt, rounding, rule
        self.prescale, self.block_2d, self.seed = prescale, block_2d, seed
        self.axis = axis % self.x.ndim
        self.label = label

    def kwargs(self):
        return dict(axis=self.axis, rounding=self.rounding, scale_rule=self.rule,
                    prescale=self.prescale, block_2d=self.block_2d, seed=self.seed)

    def __str__(self):
        x = self.x_in
        layout = ""
        if isinstance(x, np.ndarray):
            layout = f" dtype={x.dtype} strides={x.strides} c_contig={x.flags.c_contiguous}"
        return (f"[format={self.fmt} rule={self.rule} rounding={self.rounding} "
                f"prescale={self.prescale} seed={self.seed} shape={self.x.shape} "
                f"axis={self.axis} block_2d={self.block_2d} data={self.label}{layout}]")

    # storage (r, l) -> logical index, input bits
    def _maps(self):
        flat = rq._flat_index(self.x.shape, self.axis)
        xs = rq._storage_view(self.x, self.axis)
        return flat, xs

    def _scale_pos(self, r, l):
        block = rq.block_size(self.fmt)
        return (r // block if self.block_2d else r, l // block)

    def describe(self, r, l, got_codes, ref_codes, got_q, ref_q):
        flat, xs = self._maps()
        idx = np.unravel_index(int(flat[r, l]), self.x.shape)
        xv = np.float32(xs[r, l])
        s = (f"storage (r={r}, l={l}) = x{tuple(int(i) for i in idx)}: "
             f"x={int(f32bits(xv)):#010x} ({xv!r})")
        w = max(2, BITS[self.fmt] // 4)
        s += f" code C++={int(got_codes[r, l]):#0{w + 2}x} ref={int(ref_codes[r, l]):#0{w + 2}x}"
        if rq.block_size(self.fmt):
            sr, b = self._scale_pos(r, l)
            s += (f" scale[{sr},{b}] C++={int(got_q.scales[sr, b]):#04x}"
                  f" ref={int(ref_q.scales[sr, b]):#04x}")
        return s


def _mismatch(case, what, positions, describe):
    first, last = positions[0], positions[-1]
    return (f"{case} {what}: {len(positions)} mismatches; first {describe(*first)}; "
            f"last {describe(*last)}")


def check(x, fmt, axis=-1, rounding="nearest", rule="floor", prescale=1.0, block_2d=False,
          seed=0, label="", fake=True, ft_extra=None, ref_x=None):
    """Quantize with C++ and the reference; assert identical bits everywhere.

    ``ft_extra``: more keyword arguments for the C++ calls (e.g. a fused
    ``hadamard=``); ``ref_x``: what the reference quantizes instead of ``x``
    (e.g. the reference transform of ``x``; messages then show its values).
    Returns the C++ QTensor.
    """
    case = _Case(x if ref_x is None else ref_x, fmt, axis, rounding, rule, prescale, block_2d,
                 seed, label)
    extra = dict(ft_extra or {})
    if extra:
        case.label += f" {extra}"
    ref = rq.quantize(case.x, fmt, **case.kwargs())
    got = ft.quantize(x, fmt, **case.kwargs(), **extra)

    length = case.x.shape[case.axis]
    assert got.codes.dtype == np.uint8, f"{case} codes dtype {got.codes.dtype}"
    assert got.codes.shape == ref.codes.shape, (
        f"{case} codes shape C++={got.codes.shape} ref={ref.codes.shape}")
    assert got.scales.dtype == np.uint8, f"{case} scales dtype {got.scales.dtype}"
    assert got.scales.shape == ref.scales.shape, (
        f"{case} scales shape C++={got.scales.shape} ref={ref.scales.shape}")
    assert got.shape == case.x.shape and got.axis == case.axis

    gc = _elem_codes(got.codes, fmt, length)
    rc = _elem_codes(ref.codes, fmt, length)

    def desc(r, l):
        return case.describe(r, l, gc, rc, got, ref)

    # Scales first: a wrong scale explains wrong codes.
    if not np.array_equal(got.scales, ref.scales):
        block = rq.block_size(fmt)
        _, xs = case._maps()
        pos = np.argwhere(got.scales != ref.scales)

        def sdesc(sr, b):
            rows = range(sr * block, min(xs.shape[0], sr * block + block)) if block_2d else [sr]
            blk = xs[list(rows), b * block:(b + 1) * block]
            fin = blk[np.isfinite(blk)]
            amax = np.float32(np.abs(fin).max()) if fin.size else np.float32(0)
            return (f"scale[{sr},{b}] C++={int(got.scales[sr, b]):#04x} "
                    f"ref={int(ref.scales[sr, b]):#04x}, block amax={int(f32bits(amax)):#010x} "
                    f"({amax!r}) nonfinite={not np.isfinite(blk).all()}; first element "
                    + desc(rows[0], b * block))
        raise AssertionError(_mismatch(case, "scales", [tuple(p) for p in pos], sdesc))

    ts_got, ts_ref = int(f32bits(np.float32(got.tensor_scale))), int(f32bits(ref.tensor_scale))
    assert ts_got == ts_ref, (
        f"{case} tensor_scale C++={ts_got:#010x} ({got.tensor_scale!r}) "
        f"ref={ts_ref:#010x} ({float(ref.tensor_scale)!r})")
    # np.float32(python float) is exact here: the C++ float was widened to double.
    assert np.float64(np.float32(got.tensor_scale)) == np.float64(got.tensor_scale) or \
        not np.isfinite(got.tensor_scale)

    if not np.array_equal(gc, rc):
        pos = [tuple(p) for p in np.argwhere(gc != rc)]
        raise AssertionError(_mismatch(case, "codes", pos, desc))
    # Element codes equal; the packed bytes (incl. odd-length pad nibble) too.
    if not np.array_equal(got.codes, ref.codes):
        pos = [tuple(p) for p in np.argwhere(got.codes != ref.codes)]
        raise AssertionError(f"{case} packed bytes differ at (row, byte) {pos[0]} .. {pos[-1]}: "
                             f"C++={int(got.codes[pos[0]]):#04x} ref={int(ref.codes[pos[0]]):#04x}")

    y_ref = f32bits(rq.dequantize(ref))
    outputs = [("dequantize", ft.dequantize(got))]
    if fake:
        outputs.append(("fake_quantize", ft.fake_quantize(x, fmt, **case.kwargs(), **extra)))
    flat, _ = case._maps()
    for what, y in outputs:
        assert y.dtype == np.float32 and y.shape == case.x.shape, (
            f"{case} {what}: dtype {y.dtype} shape {y.shape}")
        yb = f32bits(y)
        if not np.array_equal(yb, y_ref):
            # report in storage coordinates, with the values
            ys, rs = rq._storage_view(yb, case.axis), rq._storage_view(y_ref, case.axis)
            pos = [tuple(p) for p in np.argwhere(ys != rs)]

            def vdesc(r, l):
                return (f"y C++={int(ys[r, l]):#010x} ref={int(rs[r, l]):#010x} at " + desc(r, l))
            raise AssertionError(_mismatch(case, what, pos, vdesc))
    return got


def run_grid(x, fmt, rule, rounding, prescale, label, axes=(-1,), block_2d=False, fake=True):
    for axis in axes:
        check(x, fmt, axis=axis, rounding=rounding, rule=rule, prescale=prescale,
              block_2d=block_2d, seed=_seed(fmt, rule, rounding, prescale, label, axis),
              label=label, fake=fake)


# ----------------------------------------------------------------------------
# Data


def make(kind, shape, rng):
    """Random float32 data of a named distribution."""
    n = int(np.prod(shape))
    if kind == "gaussian":
        x = rng.standard_normal(n)
    elif kind == "heavy":  # Student-t with 1.5 degrees of freedom: huge tails
        x = rng.standard_t(1.5, size=n) * 0.1
    elif kind == "outliers":  # a few outlier channels along the last dim
        x = rng.standard_normal(shape)
        x[..., :: max(1, shape[-1] // 5)] *= 1000.0
        x = x.ravel()
    elif kind == "subnormal":  # float32 subnormals, incl. the smallest ones
        x = rng.standard_normal(n) * 1e-40
        x[::7] = rng.integers(-8, 9, x[::7].size) * 2.0**-149
    elif kind == "wide":  # magnitudes 2^-100..2^100 varying every 8 elements
        x = rng.standard_normal(n) * 2.0 ** np.repeat(rng.integers(-100, 101, n // 8 + 1), 8)[:n]
    elif kind == "grid":  # quarter integers: many exact grid points and ties
        x = rng.integers(-48, 49, n) / 4.0 * 2.0 ** rng.integers(-3, 4)
    else:
        raise ValueError(kind)
    return np.asarray(x, dtype=np.float64).reshape(shape).astype(np.float32)


KINDS = ("gaussian", "heavy", "outliers", "subnormal", "wide", "grid")


# ----------------------------------------------------------------------------
# The main grid: format x rule x rounding x prescale on every distribution


def _grid_params():
    for fmt in FORMATS:
        for rule in RULES:
            for rounding in ROUNDINGS:
                for p in _prescales(fmt):
                    yield pytest.param(fmt, rule, rounding, p, id=f"{fmt}-{rule}-{rounding}-p{p}")


GRID = list(_grid_params())


@pytest.mark.parametrize("fmt,rule,rounding,prescale", GRID)
def test_random_grid(fmt, rule, rounding, prescale):
    rng = np.random.default_rng(_seed("grid", fmt, rule, rounding, prescale) % 2**32)
    for kind in KINDS:
        # (5, 70): partial last blocks along axis 1; along axis 0 the
        # strided gather path with 5-element rows.
        run_grid(make(kind, (5, 70), rng), fmt, rule, rounding, prescale, kind, axes=(1, 0))
    # 3-D, middle axis (inner > 1 and outer > 1), length 37.
    run_grid(make("gaussian", (2, 37, 3), rng), fmt, rule, rounding, prescale, "gaussian3d",
             axes=(1,))


@pytest.mark.parametrize("fmt", BLOCKED)
@pytest.mark.parametrize("rule", RULES)
def test_tiles_2d(fmt, rule):
    """2-D tiles (16x16 NVFP4, 32x32 MX) along axes 1 and 0, rows not tile multiples."""
    rng = np.random.default_rng(_seed("tiles", fmt, rule) % 2**32)
    for rounding in ROUNDINGS:
        for p in _prescales(fmt):
            for kind, shape in (("gaussian", (40, 70)), ("wide", (17, 33)),
                                ("outliers", (33, 16)), ("grid", (3, 5))):
                run_grid(make(kind, shape, rng), fmt, rule, rounding, p, kind, axes=(1, 0),
                         block_2d=True)
    # A tile holding NaN / Inf, a zero tile with -0, a tile with one outlier.
    x = make("gaussian", (40, 70), rng)
    x[3, 5] = np.nan
    x[35, 69] = -np.inf
    x[16:32, 32:64] = 0.0
    x[20, 40] = -0.0
    x[0:16, 64:70] *= 1e6
    for rounding in ROUNDINGS:
        run_grid(x, fmt, rule, rounding, 0.75, "tiles-specials", axes=(1, 0), block_2d=True)


def test_tiles_2d_axis0_equals_axis1_transposed():
    """NUMERICS §2: x along axis 0 with tiles = x along axis 1, stored transposed."""
    rng = np.random.default_rng(3)
    x = make("heavy", (40, 70), rng)
    for fmt in BLOCKED:
        q0 = ft.quantize(x, fmt, axis=0, rounding="stochastic", block_2d=True, seed=9)
        q1 = ft.quantize(x, fmt, axis=1, rounding="stochastic", block_2d=True, seed=9)
        np.testing.assert_array_equal(q0.scales, q1.scales.T, err_msg=fmt)
        np.testing.assert_array_equal(f32bits(q0.dequantize()), f32bits(q1.dequantize()),
                                      err_msg=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nd_every_axis(fmt):
    rng = np.random.default_rng(_seed("nd", fmt) % 2**32)
    x3 = make("heavy", (3, 4, 37), rng)
    x4 = make("wide", (2, 3, 5, 33), rng)
    for i, rounding in enumerate(ROUNDINGS):
        rule = RULES[i % 4]
        p = _prescales(fmt)[-1]
        run_grid(x3, fmt, rule, rounding, p, "heavy3d", axes=(0, 1, 2, -1, -3))
        run_grid(x4, fmt, RULES[(i + 1) % 4], rounding, p, "wide4d", axes=(0, 1, 2, 3))
    # 1-D
    run_grid(make("gaussian", (77,), rng), fmt, "rceil", "stochastic", 1.0, "1d", axes=(0, -1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_noncontiguous_and_converted_inputs(fmt):
    rng = np.random.default_rng(_seed("nc", fmt) % 2**32)
    base = make("outliers", (10, 200), rng)
    cases = {
        "strided": base[::2, 1::3],
        "transposed": base[:, :45].T,
        "fortran": np.asfortranarray(base[:7, :50]),
        "reversed": base[::-1, ::-2],
        "float64": rng.standard_normal((6, 50)) * 3.0,  # RN to float32 on both sides
        "float16": rng.standard_normal((6, 50)).astype(np.float16),
        "int32": rng.integers(-1000, 1000, (6, 50)).astype(np.int32),
        "broadcast": np.broadcast_to(base[0, :40], (4, 40)),
    }
    p = _prescales(fmt)[-1]
    for label, x in cases.items():
        for rounding in ("nearest", "stochastic"):
            run_grid(x, fmt, "even", rounding, p, label, axes=(0, 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_size(fmt):
    for shape, axes in (((0,), (0,)), ((0, 5), (0, 1)), ((5, 0), (0, 1)),
                        ((2, 0, 3), (0, 1, 2)), ((0, 33), (0, 1))):
        x = np.zeros(shape, np.float32)
        for rounding in ("nearest", "stochastic"):
            run_grid(x, fmt, "floor", rounding, 1.0, "empty", axes=axes)
    if fmt in BLOCKED:
        for shape in ((0, 40), (40, 0)):
            run_grid(np.zeros(shape, np.float32), fmt, "ceil", "stochastic", 1.0, "empty2d",
                     axes=(0, 1), block_2d=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_partial_last_blocks(fmt):
    rng = np.random.default_rng(_seed("partial", fmt) % 2**32)
    lengths = (1, 2, 3, 15, 16, 17, 31, 32, 33, 37, 47, 61, 63, 65)
    for i, n in enumerate(lengths):
        rounding = ROUNDINGS[i % 3]
        rule = RULES[i % 4]
        p = _prescales(fmt)[i % len(_prescales(fmt))]
        run_grid(make("gaussian", (n,), rng), fmt, rule, rounding, p, f"len{n}", axes=(0,))
        run_grid(make("heavy", (3, n), rng), fmt, rule, rounding, p, f"rows-len{n}", axes=(1, 0))
        # the largest magnitude in the partial block only
        x = make("gaussian", (2, n), rng)
        x[:, -1] = 50.0
        run_grid(x, fmt, rule, rounding, p, f"amax-last-len{n}", axes=(1,))


# ----------------------------------------------------------------------------
# Edge cases


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_zeros_and_signed_zero(fmt, rounding):
    rng = np.random.default_rng(_seed("zeros", fmt, rounding) % 2**32)
    n = 70
    rows = []
    rows.append(np.zeros(n))  # all +0
    rows.append(-np.zeros(n))  # all -0 (MX: +0 codes, scale 0)
    mixed = np.where(rng.random(n) < 0.5, 0.0, -0.0)
    rows.append(mixed)  # mixed signed zeros
    r = rng.standard_normal(n)
    r[::3] = -0.0
    r[1::5] = 0.0
    rows.append(r)  # -0 among normal values: keeps its sign outside MX zero blocks
    r = rng.standard_normal(n) * 1e-30
    r[::2] = -0.0
    rows.append(r)  # -0 with tiny values (elements underflow to -0)
    x = np.array(rows, dtype=np.float32)
    for rule in RULES:
        for p in _prescales(fmt):
            run_grid(x, fmt, rule, rounding, p, "zeros", axes=(1, 0))
            run_grid(x[1:3], fmt, rule, rounding, p, "only-zeros", axes=(1,))
    # Whole tensors of zeros (per-tensor scales: amax_t = 0 -> scale 1).
    for z in (np.zeros((3, 40), np.float32), -np.zeros((3, 40), np.float32)):
        run_grid(z, fmt, "floor", rounding, 1.0, "zero-tensor", axes=(1, 0))


def _preimages(target, factor, count=1, span=64):
    """float32 x near target / factor with RN(x * factor) == target exactly."""
    target, factor = np.float32(target), np.float32(factor)
    start = np.float32(np.float64(target) / np.float64(factor))
    found = []
    with np.errstate(over="ignore", under="ignore"):
        for direction in (np.float32(np.inf), np.float32(-np.inf)):
            x = start
            for _ in range(span):
                if np.float32(x * factor) == target and x not in found:
                    found.append(x)
                    if len(found) >= count:
                        return found
                x = np.nextafter(x, direction)
    return found[:count]


def _chain_preimages(target, *factors, count=4):
    """Up to ``count`` x with RN(...RN(RN(x * f1) * f2)...) == target."""
    xs = [np.float32(target)]
    for f in reversed(factors):
        nxt = []
        for t in xs:
            nxt += _preimages(t, f, count=count)
        xs = nxt
    return xs[:count]


def _midpoints(elem, lo=0.0, hi=np.inf):
    g = rf.grid(elem)
    mids = (g[:-1] + g[1:]) / 2
    return [np.float32(m) for m in mids if lo <= m <= hi]


@functools.lru_cache(maxsize=None)
def _mx_tie_input(fmt, p, exps=(0, -20, 40)):
    """Blocks of 32 whose elements scale exactly onto element-grid midpoints.

    Each block starts with its amax A (significand 1: the scale exponent is
    E(A) - emax under every rule but ceil/rceil, which do the same for a
    power of two), then elements x with RN(RN(x * 2^-e) * p) == midpoint,
    both signs, plus the grid points themselves.
    """
    elem = rq.element_format(fmt)
    info = rf.format_info(elem)
    blocks = []
    for E in exps:
        A = np.float32(2.0 ** (E + info.emax))  # power of two: e = E under every rule
        e = int(rq.mx_scale_exponent(A, elem, "floor"))
        assert all(int(rq.mx_scale_exponent(A, elem, r)) == e for r in RULES)
        inv = np.float32(2.0 ** -e)
        elems = []
        targets = _midpoints(elem) + [np.float32(v) for v in rf.grid(elem)[1:]]
        for t in targets:
            for x in _chain_preimages(t, inv, np.float32(p), count=2):
                if np.isfinite(x) and abs(x) <= A:
                    elems += [x, -x]
        elems = np.array(elems, np.float32)
        nb = -(-len(elems) // 31)
        for b in range(nb):
            chunk = elems[b * 31:(b + 1) * 31]
            blocks.append(np.concatenate([[A], chunk, np.zeros(31 - chunk.size)]))
    return np.concatenate(blocks).astype(np.float32)[None, :]


@pytest.mark.parametrize("fmt", MX)
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("prescale", (1.0, 0.75))
def test_ties_mx(fmt, rounding, prescale):
    for rule in RULES:
        x = _mx_tie_input(fmt, prescale)
        assert x.shape[1] >= 64
        run_grid(x, fmt, rule, rounding, prescale, "mx-ties", axes=(1,))
    # a non-power-of-two amax, where the rules give different exponents
    rng = np.random.default_rng(_seed("ties-mx", fmt, rounding) % 2**32)
    g = rf.grid(rq.element_format(fmt))
    x = rng.choice(np.concatenate([g, (g[:-1] + g[1:]) / 2]), size=(6, 64)) * \
        np.where(rng.random((6, 64)) < 0.5, -1.0, 1.0)
    x[:, 0] = g[-1] * 1.1
    for rule in RULES:
        run_grid(x.astype(np.float32), fmt, rule, rounding, prescale, "mx-ties-mixed",
                 axes=(1,))


@functools.lru_cache(maxsize=None)
def _nvfp4_tie_input(p, amax_t):
    """Blocks whose RN(amax_b * c) is an E4M3 tie and whose elements'
    RN(RN(x * enc) * p) are E2M1 ties (NUMERICS §2.2 order)."""
    one, six = np.float32(1), np.float32(6)
    s_enc = np.float32(2688) / amax_t
    s_dec = one / s_enc
    c = s_enc * (one / six)
    blocks = [np.concatenate([[amax_t], np.zeros(15)])]
    for mid in _midpoints("e4m3", 0.01, 400)[::2]:
        cands = _chain_preimages(mid, c, count=1)
        if not cands or cands[0] >= amax_t:
            continue
        amax_b = cands[0]
        S = rf.decode(rf.encode(mid, "e4m3"), "e4m3")
        enc = one / (S * s_dec)
        elems = [amax_b]
        for emid in _midpoints("e2m1") + [np.float32(v) for v in rf.grid("e2m1")[1:]]:
            for x in _chain_preimages(emid, enc, p, count=1):
                if x < amax_b:
                    elems += [x, -x]
        elems = (elems + [0.0] * 16)[:16]
        blocks.append(np.array(elems))
    return np.concatenate(blocks).astype(np.float32)[None, :]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("prescale", (1.0, 0.75))
def test_ties_nvfp4(rounding, prescale):
    for amax_t in (np.float32(1037.0), np.float32(3.3), np.float32(2688.0)):
        x = _nvfp4_tie_input(np.float32(prescale), amax_t)
        assert x.shape[1] >= 16 * 10
        run_grid(x, "nvfp4", "floor", rounding, prescale, f"nvfp4-ties-{amax_t}", axes=(1,))
        run_grid(x.reshape(-1, 16).T.copy(), "nvfp4", "floor", rounding, prescale,
                 f"nvfp4-ties-T-{amax_t}", axes=(0,))


@pytest.mark.parametrize("fmt", ("fp8_e4m3", "fp8_e5m2"))
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("prescale", (1.0, 0.75))
def test_ties_fp8_per_tensor(fmt, rounding, prescale):
    elem = rq.element_format(fmt)
    m = rf.format_info(elem).max_finite
    for amax in (np.float32(300.0), np.float32(m), np.float32(1e-3)):
        s = np.float32(m) / amax
        xs = [amax]
        for mid in _midpoints(elem, 0, m) + [np.float32(v) for v in rf.grid(elem)[1:]]:
            xs += [x for x in _chain_preimages(mid, s, np.float32(prescale), count=2)
                   if np.isfinite(x) and abs(x) <= amax]
        x = np.array(xs, np.float32)
        x = np.concatenate([x, -x])[None, :]
        run_grid(x, fmt, "floor", rounding, prescale, f"fp8-ties-{amax}", axes=(1,))


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_ties_and_saturation_bf16(rounding):
    rng = np.random.default_rng(_seed("bf16", rounding) % 2**32)
    hi = rng.integers(0, 0x7F7F, 400).astype(np.uint32) << 16
    low = np.array([0x8000, 0x7FFF, 0x8001, 0x0000, 0x0001, 0xFFFF], np.uint32)
    u = (hi[:, None] | low[None, :]).ravel()
    # around the top: bf16 max is 0x7F7F; 0x7F7F8000.. would round past it
    top = np.arange(0x7F7F0000, 0x7F800000, 0x1111, dtype=np.uint32)
    sub = np.arange(0, 0x20000, 0x1001, dtype=np.uint32)  # float32 subnormals
    u = np.concatenate([u, top, [0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF], sub])
    u = np.concatenate([u, u | 0x80000000])
    x = u.view(np.float32)
    run_grid(x, "bf16", "floor", rounding, 1.0, "bf16-ties", axes=(0,))
    run_grid(x[: x.size // 6 * 6].reshape(6, -1), "bf16", "floor", rounding, 1.0,
             "bf16-ties-2d", axes=(0, 1))


def _boundary_amaxes(elem):
    """float32 amax values at the exact decision points of the four rules."""
    info = rf.format_info(elem)
    m_sig = info.max_finite / 2.0**info.emax  # 1.5 (E2M1), 1.75 (E4M3, E5M2)
    even_up = 2.0 - 2.0 ** -(info.mbits + 1)  # significand rounding up to 2 (half up)
    even_mid = 1.0 + 2.0 ** -(info.mbits + 1)  # a half-way significand that rounds up
    sigs = [1.0, m_sig, even_up, even_mid, 1.999, 1.25, 1.9]
    out = []
    for E in (0, 5, -10, -126, 100, 127):
        for sig in sigs:
            a = np.float32(sig * 2.0**E)
            out += [a, np.nextafter(a, np.float32(np.inf)), np.nextafter(a, np.float32(0))]
    out += [FLT_MAX, np.nextafter(FLT_MAX, np.float32(0)), F32_TINY, F32_DENORM_MIN,
            np.float32(2.0**-140), np.float32(1.75 * 2.0**-130), np.float32(2.0**-127 * 1.5)]
    return [a for a in out if np.isfinite(a) and a > 0]


@pytest.mark.parametrize("fmt", MX)
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("prescale", (1.0, 0.75))
def test_scale_rule_boundaries_and_saturation(fmt, rounding, prescale):
    """Each block has its amax at a rule boundary; elements at +-amax clip under floor."""
    rng = np.random.default_rng(_seed("bound", fmt, rounding, prescale) % 2**32)
    amaxes = _boundary_amaxes(rq.element_format(fmt))
    blocks = []
    for a in amaxes:
        blk = (rng.uniform(-1, 1, 32) * np.float64(a)).astype(np.float32)
        blk[0], blk[7], blk[31] = a, -a, np.float32(a * 0.97)
        blocks.append(blk)
    x = np.stack(blocks)  # one block per row
    for rule in RULES:
        run_grid(x, fmt, rule, rounding, prescale, "boundaries", axes=(1,))
        run_grid(x[: x.shape[0] // 2 * 2].reshape(-1, 64), fmt, rule, rounding, prescale,
                 "boundaries-64", axes=(1,))
    # sanity: the rules actually disagree on these inputs
    amax = np.array(amaxes, np.float32)
    elem = rq.element_format(fmt)
    es = {r: rq.mx_scale_exponent(amax, elem, r) for r in RULES}
    assert len({tuple(v) for v in es.values()}) == 4


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_nan_and_inf(fmt, rounding):
    rng = np.random.default_rng(_seed("nan", fmt, rounding) % 2**32)
    x = make("gaussian", (6, 70), rng)
    x[0, 5] = np.nan
    x[1, 33] = np.inf
    x[2, 69] = -np.inf  # in the partial last block
    x[3, 0] = -np.float32(np.nan)  # negative NaN
    x[3, 40] = np.array(0x7FA00001, np.uint32).view(np.float32)  # signalling NaN payload
    x[4, :] = np.nan
    x[5, 16:32] = np.inf
    x[5, 0] = 1e30  # large finite value elsewhere in the tensor
    p = _prescales(fmt)[-1]
    for rule in RULES:
        run_grid(x, fmt, rule, rounding, p, "nan-inf", axes=(1, 0))
    # tensors with no finite values, or only Inf and zeros
    for label, t in (("all-nan", np.full((2, 40), np.nan, np.float32)),
                     ("inf-and-zero", np.array([[np.inf, 0.0, -0.0, -np.inf] * 9], np.float32))):
        run_grid(t, fmt, "floor", rounding, 1.0, label, axes=(1, 0))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_extreme_magnitudes(fmt, rounding):
    rng = np.random.default_rng(_seed("extreme", fmt, rounding) % 2**32)
    cases = {}
    # amax at and near FLT_MAX, with small values in the same and other blocks
    big = make("gaussian", (4, 48), rng) * np.float32(1e37)
    big[0, 0], big[1, 20], big[2, 47], big[3, 3] = FLT_MAX, -FLT_MAX, 3e38, 1e-30
    cases["huge"] = big
    # only subnormals / the smallest subnormal
    cases["subnormal-only"] = make("subnormal", (3, 40), rng)
    cases["denorm-min"] = np.array([[F32_DENORM_MIN, -F32_DENORM_MIN, 0.0, 2 * F32_DENORM_MIN]
                                    * 10], np.float32)
    # NVFP4 enc overflow: amax_t ~1e-34 so s_dec is subnormal; blocks with
    # tiny amax get a tiny E4M3 scale S and enc = RN(1 / RN(S * s_dec)) = +Inf.
    for amax_t in (1e-34, 2e-35, 1.2e-35, 1e-36, 1e-38):
        with np.errstate(over="ignore"):
            s_enc = np.float32(2688) / np.float32(amax_t)  # 1e-38: overflows (s_enc -> 1)
            c = s_enc * (np.float32(1) / np.float32(6))
        t = np.zeros((2, 64), np.float32)
        t[0, 0] = amax_t
        t[0, 1:16] = rng.standard_normal(15) * amax_t / 4
        for b, target in enumerate((2.0**-6, 2.0**-9, 2.0**-8, 3 * 2.0**-9)):
            lo = 16 * b
            amax_b = np.float32(target / np.float64(c)) if np.isfinite(c) else np.float32(1e-44)
            t[1, lo] = amax_b
            t[1, lo + 1:lo + 8] = (rng.uniform(-1, 1, 7) * np.float64(amax_b)).astype(np.float32)
            t[1, lo + 8:lo + 12] = -0.0
        t[0, 20:25] = [0.0, -0.0, -0.0, 0.0, -0.0]
        cases[f"tiny-{amax_t}"] = t
    for label, x in cases.items():
        for rule in RULES:
            for p in _prescales(fmt):
                run_grid(x, fmt, rule, rounding, p, label, axes=(1, 0))
        if fmt in BLOCKED:
            run_grid(x, fmt, "ceil", rounding, 1.0, label + "-tiles", axes=(1, 0), block_2d=True)


def test_nvfp4_enc_overflow_case_is_really_hit():
    """The tiny-tensor case above reaches enc = +Inf in the reference."""
    x = np.zeros((1, 32), np.float32)
    amax_t = np.float32(1e-34)
    x[0, 0] = amax_t
    s_enc = np.float32(2688) / amax_t
    c = s_enc * (np.float32(1) / np.float32(6))
    x[0, 16] = np.float32(2.0**-9 / np.float64(c))
    x[0, 17], x[0, 18] = -0.0, x[0, 16] / 2
    q = rq.quantize(x, "nvfp4")
    S = rf.decode(q.scales[0, 1], "e4m3")
    s_dec = np.float32(1) / q.tensor_scale
    with np.errstate(over="ignore", divide="ignore"):
        assert np.isinf(np.float32(1) / (S * s_dec))
    check(x, "nvfp4", label="enc-overflow")
    check(x, "nvfp4", rounding="stochastic", seed=3, label="enc-overflow")


# ----------------------------------------------------------------------------
# Threads


def _thread_cases():
    rng = np.random.default_rng(77)
    big = make("heavy", (600, 120), rng)  # 72000 elements: > 65536, many groups
    wide = make("wide", (96, 200), rng)
    for fmt in FORMATS:
        for p in _prescales(fmt):
            rule = RULES[len(fmt) % 4]
            yield fmt, rule, p, big, 1, False
            yield fmt, rule, p, big, 0, False
            yield fmt, rule, p, wide, 1, False
            if fmt in BLOCKED:
                yield fmt, rule, p, wide, 0, True


def test_stochastic_bytes_independent_of_thread_count():
    """The grid's stochastic cases at 1 and 2 threads: identical bytes."""
    results = {}
    try:
        for threads in (1, 2):
            ft.set_num_threads(threads)
            assert ft.get_num_threads() == threads
            out = []
            for fmt, rule, p, x, axis, tiles in _thread_cases():
                kw = dict(axis=axis, rounding="stochastic", scale_rule=rule, prescale=p,
                          block_2d=tiles, seed=_seed("threads", fmt, rule, p, axis, tiles))
                q = ft.quantize(x, fmt, **kw)
                y = ft.fake_quantize(x, fmt, **kw)
                out.append((q.codes.tobytes(), q.scales.tobytes(),
                            np.float32(q.tensor_scale).tobytes(), f32bits(y).tobytes(),
                            f32bits(q.dequantize()).tobytes()))
            results[threads] = out
    finally:
        ft.set_num_threads(0)
    for i, (fmt, rule, p, x, axis, tiles) in enumerate(_thread_cases()):
        a, b = results[1][i], results[2][i]
        for name, u, v in zip(("codes", "scales", "tensor_scale", "fake_quantize",
                               "dequantize"), a, b):
            assert u == v, (f"[format={fmt} rule={rule} rounding=stochastic prescale={p} "
                            f"shape={x.shape} axis={axis} block_2d={tiles}] {name} differ "
                            f"between 1 and 2 threads")
    # and the large cases against the reference too (at the default thread count)
    rng = np.random.default_rng(78)
    x = make("heavy", (600, 120), rng)
    for fmt in ("mxfp4", "nvfp4", "fp8_e4m3"):
        check(x, fmt, axis=0, rounding="stochastic", rule="rceil", prescale=0.75, seed=2**64 - 1,
              label="large", fake=False)


@pytest.mark.parametrize("fmt", MX)
def test_mx_tile_with_zero_scale_keeps_signed_zero_rows(fmt):
    """A 32x32 tile whose amax is subnormal (scale code 0, but not all zero)
    is not an all-zero block: a row of -0 inside it keeps code -0 (§2.1,
    §2.2 "signed zeros follow the formulas"). Only an all-zero tile is +0.
    """
    x = np.zeros((40, 40), np.float32)
    x[0, 0] = np.float32(1e-40)  # tile (0, 0): amax subnormal -> e = -127
    x[5, :] = -0.0  # rows of -0 in tiles (0, 0) and (0, 1) (all-zero tile: +0)
    x[35, 3] = -0.0  # -0 in the all-zero tile (1, 0)
    for rounding in ROUNDINGS:
        for axis in (1, 0):
            check(x, fmt, axis=axis, rounding=rounding, block_2d=True, seed=1,
                  label="tile-zero-scale")
    q = rq.quantize(x, fmt, block_2d=True)
    assert q.scales.tolist() == [[0, 0], [0, 0]]
    assert rq.unpack_codes(q)[5, 1] != 0 and rq.unpack_codes(q)[5, 35] == 0
