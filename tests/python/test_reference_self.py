"""Self-tests of fp4train.reference against the specification itself.

The numpy reference is the oracle the C++ kernels are held to, so it must
itself be checked against DESIGN.md §2 / docs/NUMERICS.md, not against any
implementation.  Expected values below are either derived by hand (the
derivation is in the comment next to them), computed by an independent
route (exact rational arithmetic with ``fractions.Fraction``, closed forms
such as ``(-1)^popcount(i & j)``), or are published known-answer vectors.

Run: ``PYTHONPATH=python /usr/bin/python3 -m pytest -q tests/python/test_reference_self.py``
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from fp4train.reference import formats as fm
from fp4train.reference import gemm as rg
from fp4train.reference import hadamard as rh
from fp4train.reference import philox as rp
from fp4train.reference import quant as rq

U32 = 2.0**-24  # unit roundoff of float32
FLT_MAX = float(np.finfo(np.float32).max)


def f32(v):
    return np.float32(v)


def assert_bits_equal(actual, expected, what=""):
    """Bitwise float32 equality (so -0 != +0 and NaN == NaN of the same payload)."""
    a = np.ascontiguousarray(actual, dtype=np.float32).view(np.uint32)
    e = np.ascontiguousarray(expected, dtype=np.float32).view(np.uint32)
    bad = np.flatnonzero(a.ravel() != e.ravel())
    assert bad.size == 0, (
        f"{what}: {bad.size} mismatches; first at flat {bad[0]}: "
        f"{a.ravel()[bad[0]]:#010x} vs expected {e.ravel()[bad[0]]:#010x}"
    )


def rn32(value):
    """Independent round-to-nearest-even of an exact rational to float32.

    Takes the float32 nearest to ``float(value)`` and its two neighbours as
    candidates and picks the one at the smallest exact distance, ties to the
    even significand. Values at or beyond the FLT_MAX / 2^128 midpoint are
    +-Inf.
    """
    value = Fraction(value)
    if value == 0:
        return np.float32(0.0)
    if abs(value) >= Fraction(2**128 - 2**103):
        return np.float32(math.copysign(math.inf, value))
    with np.errstate(over="ignore"):
        c = np.float32(float(value))
    if not np.isfinite(c):
        c = np.float32(math.copysign(FLT_MAX, value))
    cands = [np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))]
    cands = [x for x in cands if np.isfinite(x)]
    best = min(abs(Fraction(float(x)) - value) for x in cands)
    ties = [x for x in cands if abs(Fraction(float(x)) - value) == best]
    if len(ties) == 1:
        return ties[0]
    # Tie: the candidate whose significand is even, i.e. x / ulp(x) even.
    for x in ties:
        m, e = math.frexp(float(x))
        q = max(e - 24, -149)  # float32 quantum at x
        if (Fraction(float(x)) / Fraction(2) ** q).numerator % 2 == 0:
            return x
    raise AssertionError("no even candidate")


# =============================================================================
# Philox4x32-10


# Random123 known-answer vectors (kat_vectors, philox4x32 10 rounds):
# (counter, key, expected output).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter,key,expected", PHILOX_KAT)
def test_philox_known_answers(counter, key, expected):
    out = rp.philox4x32_10(counter, key)
    assert tuple(int(w) for w in out) == expected


def test_uniform_bits_counter_and_lane_mapping():
    # NUMERICS §3: key = (lo32(seed), hi32(seed)); counter = (lo32(i >> 2),
    # hi32(i >> 2), lo32(stream), hi32(stream)); output word i & 3.
    seed = 0x0123456789ABCDEF
    stream = (7 << 32) | 2
    index = np.array([0, 1, 2, 3, 4, 7, (5 << 34) | 6], dtype=np.int64)
    got = rp.uniform_bits(seed, stream, index)
    key = (0x89ABCDEF, 0x01234567)
    for i, g in zip(index.tolist(), got.tolist()):
        block = i >> 2
        words = rp.philox4x32_10((block & 0xFFFFFFFF, block >> 32, 2, 7), key)
        assert g == int(words[i & 3]), f"index {i}"
    assert got.dtype == np.uint32 and got.shape == index.shape


def test_uniform_bits_looks_uniform():
    # A crude sanity check that the bits are not constant or biased: the mean
    # of 2^16 samples of u = k / 2^24 is 1/2 within 6 standard deviations
    # (sd of the mean = sqrt(1/12 / n)), and the top bit is set half the time.
    n = 1 << 16
    w = rp.uniform_bits(3, 0, np.arange(n))
    u = (w >> 8).astype(np.float64) / 2**24
    assert abs(u.mean() - 0.5) < 6 * math.sqrt(1 / 12 / n)
    assert abs((w >> 31).mean() - 0.5) < 6 * 0.5 / math.sqrt(n)
    # Different seeds and streams give different words.
    assert not np.array_equal(w[:64], rp.uniform_bits(4, 0, np.arange(64)))
    assert not np.array_equal(w[:64], rp.uniform_bits(3, 1, np.arange(64)))


# =============================================================================
# Element codecs


CODECS = fm.FORMAT_NAMES


def _non_nan_codes(fmt):
    codes = fm.all_encodings(fmt)
    vals = fm.decode(codes, fmt)
    return codes[~np.isnan(vals)], vals[~np.isnan(vals)]


@pytest.mark.parametrize("fmt", CODECS)
@pytest.mark.parametrize("rounding", fm.ROUNDINGS)
def test_every_code_round_trips(fmt, rounding):
    codes, vals = _non_nan_codes(fmt)
    if fmt == "e2m1":
        vals = vals[np.isfinite(vals)]
    k = rp.uniform_bits(1, 0, np.arange(codes.size)) >> np.uint32(8)
    again = fm.encode(vals, fmt, rounding, k if rounding == "stochastic" else None)
    np.testing.assert_array_equal(again, codes)
    # NaN codes (all of them) re-encode to the one canonical NaN.
    all_codes = fm.all_encodings(fmt)
    nan_codes = all_codes[np.isnan(fm.decode(all_codes, fmt))]
    if nan_codes.size:
        assert np.all(fm.encode(fm.decode(nan_codes, fmt), fmt) == fm.format_info(fmt).nan_code)


def test_decode_hand_values():
    # From the bit layouts of NUMERICS §1.
    np.testing.assert_array_equal(
        fm.decode_e2m1(np.arange(8)), [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    )
    assert np.signbit(fm.decode_e2m1(8)) and fm.decode_e2m1(8) == 0  # -0
    assert fm.decode_e2m1(15) == -6
    # E4M3: 0x7E = 0 1111 110 = 2^(15-7) * 1.75 = 448; 0x01 = 2^-6 * 1/8 = 2^-9;
    # 0x08 = 0 0001 000 = 2^-6 (smallest normal); 0x38 = 0 0111 000 = 1.
    assert fm.decode_e4m3(0x7E) == 448 and fm.decode_e4m3(0x01) == 2.0**-9
    assert fm.decode_e4m3(0x08) == 2.0**-6 and fm.decode_e4m3(0x38) == 1
    assert np.isnan(fm.decode_e4m3(0x7F)) and np.isnan(fm.decode_e4m3(0xFF))
    assert fm.decode_e4m3(0x77) == 240  # 0 1110 111 = 2^7 * 1.875
    # E5M2: 0x7B = 0 11110 11 = 2^15 * 1.75 = 57344; 0x7C = Inf; 0x01 = 2^-14 / 4.
    assert fm.decode_e5m2(0x7B) == 57344 and fm.decode_e5m2(0x01) == 2.0**-16
    assert fm.decode_e5m2(0x7C) == np.inf and fm.decode_e5m2(0xFC) == -np.inf
    assert all(np.isnan(fm.decode_e5m2(c)) for c in (0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF))
    # BF16: 0x3F80 = 1.0; 0x0001 = 2^-126 / 128 = 2^-133; 0x7F7F = (2 - 2^-7) 2^127.
    assert fm.decode_bf16(0x3F80) == 1.0 and fm.decode_bf16(0x0001) == 2.0**-133
    assert fm.decode_bf16(0x7F7F) == (2 - 2.0**-7) * 2.0**127
    assert fm.decode_bf16(0x7F80) == np.inf and np.isnan(fm.decode_bf16(0x7FC0))
    # E8M0: 2^(code - 127), 0xFF NaN.
    assert fm.decode_e8m0(127) == 1 and fm.decode_e8m0(0) == 2.0**-127
    assert fm.decode_e8m0(254) == 2.0**127 and np.isnan(fm.decode_e8m0(255))
    # Derived constants of the contract.
    assert [fm.format_info(f).emax for f in ("e2m1", "e4m3", "e5m2")] == [2, 8, 15]
    assert [fm.format_info(f).max_finite for f in ("e2m1", "e4m3", "e5m2")] == [6, 448, 57344]


@pytest.mark.parametrize("fmt", CODECS)
def test_midpoints_tie_to_even_and_neighbours(fmt):
    values = fm.grid(fmt)
    codes = fm.encode(values, fmt)  # grid values encode to themselves (tested above)
    lo, hi = values[:-1], values[1:]
    mid64 = (lo + hi) / 2
    mid = mid64.astype(np.float32)
    assert np.array_equal(mid.astype(np.float64), mid64), "midpoints must be float32 numbers"
    lo_c, hi_c = codes[:-1].astype(np.int64), codes[1:].astype(np.int64)
    even = np.where(lo_c % 2 == 0, lo_c, hi_c)
    signs = [1.0] if fmt == "e8m0" else [1.0, -1.0]
    sign_bit = fm.format_info(fmt).sign_bit
    for sgn in signs:
        add = sign_bit if sgn < 0 else 0
        m = (sgn * mid).astype(np.float32)
        np.testing.assert_array_equal(fm.encode(m, fmt, "nearest"), even | add)
        np.testing.assert_array_equal(fm.encode(m, fmt, "nearest_away"), hi_c | add)
        # One float32 ulp towards either neighbour decides it for both modes.
        toward_hi = np.nextafter(m, (sgn * np.inf)).astype(np.float32)
        toward_lo = np.nextafter(m, np.float32(0.0)).astype(np.float32)
        for rounding in ("nearest", "nearest_away"):
            np.testing.assert_array_equal(fm.encode(toward_hi, fmt, rounding), hi_c | add)
            np.testing.assert_array_equal(fm.encode(toward_lo, fmt, rounding), lo_c | add)


def test_e2m1_documented_ties():
    # NUMERICS §1: ties 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5 go to 0, 1, 1, 2, 2, 4, 4.
    ties = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5], np.float32)
    expect = np.array([0, 1, 1, 2, 2, 4, 4], np.float32)
    assert_bits_equal(fm.decode_e2m1(fm.encode_e2m1(ties)), expect)
    assert_bits_equal(fm.decode_e2m1(fm.encode_e2m1(-ties)), -expect)
    # Half away from zero instead: 0.5, 1, 1.5, 2, 3, 4, 6.
    away = np.array([0.5, 1, 1.5, 2, 3, 4, 6], np.float32)
    assert_bits_equal(fm.decode_e2m1(fm.encode_e2m1(ties, "nearest_away")), away)


@pytest.mark.parametrize("fmt", ["e2m1", "e4m3", "e5m2", "bf16"])
def test_saturation(fmt):
    info = fm.format_info(fmt)
    top = info.max_finite
    max_code = int(fm.encode(np.float32(top), fmt))
    big = np.array([np.nextafter(np.float32(top), np.float32(np.inf)), top * 1.5, 1e30, FLT_MAX])
    big = big[(big > top) & (big <= FLT_MAX)].astype(np.float32)  # bf16: 1e30 is below its max
    k = np.full(big.shape, (1 << 24) - 1, dtype=np.uint32)  # stochastic: always round up
    for rounding in fm.ROUNDINGS:
        kk = k if rounding == "stochastic" else None
        assert np.all(fm.encode(big, fmt, rounding, kk) == max_code), rounding
        assert np.all(fm.encode(-big, fmt, rounding, kk) == max_code | info.sign_bit), rounding
    assert fm.decode(max_code, fmt) == top


def test_specials_per_format():
    nan, inf = np.float32(np.nan), np.float32(np.inf)
    specials = np.array([nan, inf, -inf], np.float32)
    # E4M3 has no Inf: +-Inf -> NaN 0x7F (never 448).
    assert fm.encode_e4m3(specials).tolist() == [0x7F, 0x7F, 0x7F]
    assert fm.encode_e5m2(specials).tolist() == [0x7F, 0x7C, 0xFC]
    assert fm.encode_bf16(specials).tolist() == [0x7FC0, 0x7F80, 0xFF80]
    assert fm.encode_e8m0(specials).tolist() == [0xFF, 0xFF, 0xFF]
    with pytest.raises(ValueError, match="E2M1"):
        fm.encode_e2m1(nan)


@pytest.mark.parametrize("fmt", ["e2m1", "e4m3", "e5m2", "bf16"])
def test_signed_zero(fmt):
    sign_bit = fm.format_info(fmt).sign_bit
    assert fm.encode(np.float32(0.0), fmt) == 0
    assert fm.encode(np.float32(-0.0), fmt) == sign_bit
    d = fm.decode(sign_bit, fmt)
    assert d == 0 and np.signbit(d)
    # A negative value rounding to zero keeps its sign: -min_subnormal / 4.
    tiny = np.float32(-fm.format_info(fmt).min_subnormal / 4)
    assert fm.encode(tiny, fmt) == sign_bit


def test_e8m0_rules():
    def enc(v):
        return int(fm.encode_e8m0(np.float32(v)))

    # Exact powers of two: code = e + 127.
    assert enc(1.0) == 127 and enc(2.0**-127) == 0 and enc(2.0**127) == 254
    # Ties on the exponent: 1.5 * 2^e sits halfway between 2^e and 2^(e+1);
    # the even code wins. 1.5: 127 (1) vs 128 (2) -> 128. 3: 128 vs 129 -> 128.
    # 0.75: 126 (0.5) vs 127 (1) -> 126. 6: 129 (4) vs 130 (8) -> 130.
    assert [enc(1.5), enc(3.0), enc(0.75), enc(6.0)] == [128, 128, 126, 130]
    # Off ties: nearest power in value, not in log: 1.4 -> 1, 1.6 -> 2.
    assert enc(1.4) == 127 and enc(1.6) == 128
    # Below 2^-127 (zero, subnormals, negative) -> 2^-127; above 2^127 -> 2^127.
    assert enc(0.0) == 0 and enc(2.0**-140) == 0 and enc(-0.0) == 0 and enc(-4.0) == 0
    assert enc(1.5 * 2.0**127) == 254 and enc(FLT_MAX) == 254


def test_stochastic_threshold_by_hand():
    # E2M1, v = 1.25: step 0.5, r = 2.5, n = 2, f = 0.5, t = 2^23:
    # q rounds up iff k + 2^23 >= 2^24 iff k >= 2^23.
    k = np.array([0, (1 << 23) - 1, 1 << 23, (1 << 24) - 1], np.uint32)
    v = np.full(4, 1.25, np.float32)
    assert_bits_equal(fm.decode_e2m1(fm.encode_e2m1(v, "stochastic", k)), [1.0, 1.0, 1.5, 1.5])
    assert_bits_equal(fm.decode_e2m1(fm.encode_e2m1(-v, "stochastic", k)), [-1.0, -1.0, -1.5, -1.5])
    # Generic: v = float32(1.1) in E4M3 (step 2^-3 in [1, 2)); with exact
    # rationals t = floor(frac(v / step) * 2^24); up iff k >= 2^24 - t.
    cases = (
        ("e4m3", 1.1, Fraction(1, 8)),
        ("bf16", 1.1, Fraction(1, 128)),
        ("e5m2", 300.7, Fraction(64)),
    )
    for fmt, val, step in cases:
        v32 = np.float32(val)
        r = Fraction(float(v32)) / step
        t = math.floor((r - math.floor(r)) * 2**24)
        lo = float(math.floor(r) * step)
        kk = np.array([(1 << 24) - t - 1, (1 << 24) - t], np.uint32)
        got = fm.decode(fm.encode(np.array([v32, v32]), fmt, "stochastic", kk), fmt)
        assert_bits_equal(got, [lo, lo + float(step)], fmt)
    # Truncation of t: float32's smallest subnormal in E4M3 (step 2^-9) has
    # f * 2^24 = 2^-116, so t = 0 and even k = 2^24 - 1 rounds down to 0.
    tiny = np.float32(2.0**-149)
    assert fm.encode_e4m3(tiny, "stochastic", np.uint32((1 << 24) - 1)) == 0
    # BF16 subnormal: 2^-140 on the 2^-133 grid: r = 2^-7, t = 2^17.
    v = np.float32(2.0**-140)
    kk = np.array([(1 << 24) - (1 << 17) - 1, (1 << 24) - (1 << 17)], np.uint32)
    got = fm.decode_bf16(fm.encode_bf16(np.array([v, v]), "stochastic", kk))
    assert_bits_equal(got, [0.0, 2.0**-133])


def test_step_definition():
    # NUMERICS §3: E2M1 step 0.5 below 2, 1 in [2, 4), 2 at 4 and above.
    a = np.array([0, 0.3, 1.99, 2, 3.5, 4, 6, 7], np.float32)
    np.testing.assert_array_equal(fm.step(a, "e2m1"), [0.5, 0.5, 0.5, 1, 1, 2, 2, 2])
    # E4M3: 2^(max(E, -6) - 3): subnormals 2^-9, [1, 2) 2^-3, [256, 512) 32.
    got = fm.step(np.array([2.0**-8, 1.5, 300]), "e4m3")
    np.testing.assert_array_equal(got, [2.0**-9, 2.0**-3, 32])


# =============================================================================
# Block quantization


def _mx_block(values, length=32):
    x = np.zeros(length, np.float32)
    x[: len(values)] = values
    return x


def test_mxfp4_amax7_floor_clips_rceil_does_not():
    # Block [7, 1, 0.5, 0...]: E(7) = 2.
    # floor: e = 2 - 2 = 0, X = 1: 7 saturates to 6, 1 -> 1, 0.5 -> 0.5.
    # rceil: 7 / 4 = 1.75 > 1.5 -> e = 1, X = 2: 7/2 = 3.5 ties to 4 (even
    #   index 6) -> 8; 1/2 = 0.5 -> 1; 0.5/2 = 0.25 ties to 0 -> 0. No clip.
    x = _mx_block([7, 1, 0.5])
    qf = rq.quantize(x, "mxfp4", scale_rule="floor")
    qr = rq.quantize(x, "mxfp4", scale_rule="rceil")
    assert qf.scales.tolist() == [[127]] and qr.scales.tolist() == [[128]]
    assert_bits_equal(rq.dequantize(qf)[:3], [6, 1, 0.5])
    assert_bits_equal(rq.dequantize(qr)[:3], [8, 1, 0])
    # Codes: 6 = index 7, 1 = index 2 -> byte 0x27; 0.5 = index 1 -> 0x01.
    assert qf.codes[0, :2].tolist() == [0x27, 0x01]


@pytest.mark.parametrize(
    "amax,elem,expect",
    [
        # (amax, element, {rule: e}) derived by hand from NUMERICS §2.1.
        # 6 = 1.5 * 2^2: floor 0; ceil: not a power of two -> 3 - 2 = 1;
        # rceil: 1.5 <= 1.5 -> 0; even: 1.1b already 1 mantissa bit -> 0.
        (6.0, "e2m1", dict(floor=0, ceil=1, rceil=0, even=0)),
        # 4 = 2^2: every rule gives 0.
        (4.0, "e2m1", dict(floor=0, ceil=0, rceil=0, even=0)),
        # 7 = 1.11b * 2^2: even rounds half up to 10.0b * 2^2 = 8 -> E 3 -> 1.
        (7.0, "e2m1", dict(floor=0, ceil=1, rceil=1, even=1)),
        # 6.5 = 1.101b * 2^2: even rounds to 1.1b (6) -> 0; rceil 1.625 > 1.5 -> 1.
        (6.5, "e2m1", dict(floor=0, ceil=1, rceil=1, even=0)),
        # 448 = 1.75 * 2^8: rceil 1.75 <= 1.75 -> 0; ceil -> 1.
        (448.0, "e4m3", dict(floor=0, ceil=1, rceil=0, even=0)),
        # 500 = 1.1111010b * 2^8: rceil -> 1; even rounds 3 bits half up -> 512 -> 1.
        (500.0, "e4m3", dict(floor=0, ceil=1, rceil=1, even=1)),
        # 480 = 1.111b * 2^8: even keeps it -> 0; rceil 1.875 > 1.75 -> 1.
        (480.0, "e4m3", dict(floor=0, ceil=1, rceil=1, even=0)),
        # 57344 = 1.75 * 2^15 in E5M2.
        (57344.0, "e5m2", dict(floor=0, ceil=1, rceil=0, even=0)),
        # 1 = 2^0 in E5M2: floor -15.
        (1.0, "e5m2", dict(floor=-15, ceil=-15, rceil=-15, even=-15)),
        # float32 subnormal amax: E = -130 -> far below -127 -> clamped.
        (2.0**-130, "e2m1", dict(floor=-127, ceil=-127, rceil=-127, even=-127)),
        # FLT_MAX = 1.1...1b * 2^127: floor 125; ceil/rceil 126; even rounds
        # up to 2^128 -> E 128 -> 126 (the bit-pattern form carries into the
        # exponent field the same way).
        (FLT_MAX, "e2m1", dict(floor=125, ceil=126, rceil=126, even=126)),
        # All-zero block -> -127 (scale code 0).
        (0.0, "e4m3", dict(floor=-127, ceil=-127, rceil=-127, even=-127)),
    ],
)
def test_mx_scale_rules_by_hand(amax, elem, expect):
    for rule, e in expect.items():
        assert int(rq.mx_scale_exponent(np.float32(amax), elem, rule)) == e, rule


def test_mx_nan_inf_zero_and_partial_blocks():
    # Shape (2, 40): nblocks = 2 per row, the second partial (8 elements).
    x = np.ones((2, 40), np.float32)
    x[0, 5] = np.nan  # row 0, block 0: NaN block
    x[1, :32] = -0.0  # row 1, block 0: all-zero block (negative zeros)
    x[1, 35] = -np.inf  # row 1, block 1: Inf block
    q = rq.quantize(x, "mxfp4")
    # Row 0 block 1: amax 1 -> e = 0 - 2 = -2 -> byte 125.
    assert q.scales.tolist() == [[0xFF, 125], [0, 0xFF]]
    assert q.codes.shape == (2, 20)
    codes = rq.unpack_codes(q)
    assert np.all(codes[0, :32] == 0) and np.all(codes[1, :32] == 0) and np.all(codes[1, 32:] == 0)
    y = rq.dequantize(q)
    assert np.all(np.isnan(y[0, :32])) and np.all(np.isnan(y[1, 32:]))
    assert_bits_equal(y[1, :32], np.zeros(32))  # +0, not -0
    assert_bits_equal(y[0, 32:], np.ones(8))
    # Partial block = zero-padded block: same result as quantizing the padded row.
    row = np.array([3.0, -0.7, 0.2], np.float32)
    padded = np.concatenate([row, np.zeros(29, np.float32)])
    assert_bits_equal(rq.fake_quantize(row, "mxfp4"), rq.fake_quantize(padded, "mxfp4")[:3])


def test_storage_layout_bytes():
    # mxfp4 row [0.5, 1, -6, 2, 3]: amax 6 -> e = 0; indices 1, 2, 8|7 = 15,
    # 4, 5; pairs low nibble first: 0x21, 0x4F, 0x05 (odd length, high 0).
    q = rq.quantize(np.array([0.5, 1, -6, 2, 3], np.float32), "mxfp4")
    assert q.codes.tolist() == [[0x21, 0x4F, 0x05]] and q.scales.tolist() == [[127]]
    # bf16 1.0 = 0x3F80, little-endian bytes.
    assert rq.quantize(np.array([1.0], np.float32), "bf16").codes.tolist() == [[0x80, 0x3F]]
    # fp32 1.0 = 0x3F800000, little-endian bytes.
    assert rq.quantize(np.array([1.0], np.float32), "fp32").codes.tolist() == [[0, 0, 0x80, 0x3F]]
    # Axis moved last: a (3, 4, 5) array along axis 1 has rows = 15, length 4.
    q = rq.quantize(np.ones((3, 4, 5), np.float32), "mxfp8_e4m3", axis=1)
    assert q.codes.shape == (15, 4) and q.scales.shape == (15, 1)
    q = rq.quantize(np.ones((40, 33), np.float32), "nvfp4", axis=0, block_2d=True)
    assert q.codes.shape == (33, 20) and q.scales.shape == (3, 3)
    for fmt in ("fp8_e4m3", "fp8_e5m2", "bf16", "fp32"):
        assert rq.quantize(np.ones(3, np.float32), fmt).scales.shape == (0,)


def test_nvfp4_worked_example():
    # 32 elements = two 16-blocks. x[0] = 2688 fixes amax_t = 2688, so
    # s_enc = RN(2688 / 2688) = 1 and s_dec = 1.
    # RN(1/6) = 11184811 * 2^-26 (0x3E2AAAAB, 1/6 rounded up by 2^-26/3).
    # Block 0: amax_b = 2688: 2688 * RN(1/6) = 448 + 2688/(3 * 2^26) =
    #   448 + 1.3e-5; ulp(448) = 2^-15 = 3.1e-5, so RN gives 448 -> byte 0x7E,
    #   S = 448; enc = RN(1/448); 2688 * enc = 6 * (448 * RN(1/448)) = 6(1 + d)
    #   with |d| <= 2^-24, and 6 d < ulp(6)/2 = 2^-22, so v = 6 -> index 7.
    # Block 1: amax_b = 12: 12 * RN(1/6) = 2 + 2^-24 -> RN 2.0 (ulp(2) = 2^-22)
    #   -> E4M3 0x40 (0 1000 000), S = 2, enc = RN(1 / RN(2 * 1)) = 0.5.
    #   12 * 0.5 = 6 -> index 7; -5 * 0.5 = -2.5 ties to 2 (index 4) -> code 12;
    #   1 * 0.5 = 0.5 -> index 1; 0.3 * 0.5 = 0.15 < 0.25 -> 0.
    #   Dequantized: 6 * 2 = 12, -2 * 2 = -4, 0.5 * 2 = 1, 0.
    x = np.zeros(32, np.float32)
    x[0] = 2688
    x[16:20] = [12, -5, 1, 0.3]
    q = rq.quantize(x, "nvfp4")
    assert q.tensor_scale == 1 and q.scales.tolist() == [[0x7E, 0x40]]
    codes = rq.unpack_codes(q)[0]
    assert codes[0] == 7 and codes[16:20].tolist() == [7, 12, 1, 0]
    y = rq.dequantize(q)
    assert_bits_equal(y[[0, 16, 17, 18, 19]], [2688, 12, -4, 1, 0])
    # Tensor scale: amax_t = 672 gives s_enc = 2688 / 672 = 4 exactly, and
    # s_dec = 0.25; a value 672 then maps to block scale 448 again.
    q = rq.quantize(np.array([672, 1], np.float32), "nvfp4")
    assert q.tensor_scale == 4 and q.scales.tolist() == [[0x7E]]
    assert_bits_equal(rq.dequantize(q)[:1], [672])
    # NaN block: scale 0x7F, codes 0, NaN out; amax_t ignores the Inf.
    x2 = np.ones((2, 16), np.float32)
    x2[1, 3] = np.inf
    q = rq.quantize(x2, "nvfp4")
    assert q.scales[1, 0] == 0x7F and q.tensor_scale == 2688
    assert np.all(np.isnan(rq.dequantize(q)[1])) and np.all(rq.dequantize(q)[0] == 1)


def test_nvfp4_tiny_tensor_keeps_zeros():
    # amax_t = 1e-34: s_enc = RN(2688 / 1e-34) ~ 2.7e37 is finite, s_dec ~
    # 3.7e-38. Block 1 has amax 2.2e-40: RN(2.2e-40 * s_enc / 6) ~ 9.9e-4
    # rounds to E4M3 2^-9, and RN(2^-9 * s_dec) ~ 7e-41 makes
    # enc = RN(1 / 7e-41) overflow to +Inf. NUMERICS leaves 0 * Inf open;
    # the reference keeps zero elements zero (with their sign) and the
    # nonzero element saturates to 6.
    x = np.zeros(32, np.float32)
    x[0] = 1e-34
    x[16:19] = [2.2e-40, 0.0, -0.0]
    q = rq.quantize(x, "nvfp4")
    assert np.isfinite(q.tensor_scale) and q.tensor_scale > 1e37
    assert q.scales[0, 1] == 0x01  # 2^-9
    assert rq.unpack_codes(q)[0, 16:19].tolist() == [7, 0, 8]
    y = rq.dequantize(q)
    assert not np.any(np.isnan(y))
    assert_bits_equal(y[17:19], [0.0, -0.0])


def test_fp8_per_tensor_worked_example():
    # amax_t = 896 -> s = RN(448 / 896) = 0.5.
    # 896 * 0.5 = 448 -> 0x7E; -1 * 0.5 = -0.5 = 1 0110 000 -> 0xB0;
    # 0.3 * 0.5 = RN(0.15) in [2^-3, 2^-2): step 2^-6, 0.15 / 2^-6 = 9.6 -> 10
    # -> 0.15625 = 1.25 * 2^-3 = 0 0100 010 -> 0x22; dequantize / 0.5 -> 0.3125.
    # Inf: E4M3 has none -> NaN 0x7F (amax_t ignores it).
    x = np.array([896, -1, 0.3, np.inf], np.float32)
    q = rq.quantize(x, "fp8_e4m3")
    assert q.tensor_scale == 0.5 and q.codes.tolist() == [[0x7E, 0xB0, 0x22, 0x7F]]
    y = rq.dequantize(q)
    assert_bits_equal(y[:3], [896, -1, 0.3125]) and np.isnan(y[3])
    q = rq.quantize(x, "fp8_e5m2")  # s = 57344 / 896 = 64; Inf stays Inf
    assert q.tensor_scale == 64 and q.codes[0, 3] == 0x7C and rq.dequantize(q)[3] == np.inf


def test_bf16_and_fp32_formats():
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even -> 1 (0x3F80);
    # 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even -> 0x3F82.
    x = np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, FLT_MAX, -0.0], np.float32)
    y = rq.fake_quantize(x, "bf16")
    assert_bits_equal(y, [1.0, 1 + 2.0**-6, fm.decode_bf16(0x7F7F), -0.0])
    # fp32 copies bits, NaN payloads and -0 included.
    z = np.array([0x7FC01234, 0x80000000, 0x00000001], np.uint32).view(np.float32)
    assert_bits_equal(rq.fake_quantize(z, "fp32"), z)
    with pytest.raises(ValueError, match="prescale"):
        rq.quantize(x, "bf16", prescale=0.75)


def test_stochastic_noise_uses_logical_flat_index():
    # Per-tensor formats have the same scale along any axis, so if the noise
    # of each element depends only on its flat index in x (not on a storage
    # position), quantizing along different axes gives identical values.
    x = np.random.default_rng(5).standard_normal((3, 5, 7)).astype(np.float32)
    for fmt in ("fp8_e4m3", "fp8_e5m2", "bf16"):
        ys = [rq.fake_quantize(x, fmt, axis=a, rounding="stochastic", seed=9) for a in (0, 1, 2)]
        assert_bits_equal(ys[0], ys[1], fmt)
        assert_bits_equal(ys[0], ys[2], fmt)
    # And the noise is exactly uniform_bits(seed, stream 0, flat index) >> 8.
    k = rp.uniform_bits(9, 0, np.arange(x.size).reshape(x.shape)) >> np.uint32(8)
    direct = fm.decode_bf16(fm.encode_bf16(x, "stochastic", k))
    assert_bits_equal(rq.fake_quantize(x, "bf16", axis=1, rounding="stochastic", seed=9), direct)


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4", "mxfp8_e5m2"])
def test_2d_tiles_quantize_array_and_transpose_identically(fmt):
    # With 2-D tiles the same tile covers an element whichever axis is the
    # quantization axis, and stochastic noise follows the logical index, so
    # quantizing x along axis 1 and along axis 0 gives the same values, and
    # scale grids that are transposes of each other.
    x = np.random.default_rng(6).standard_normal((37, 70)).astype(np.float32) * 3
    q1 = rq.quantize(x, fmt, axis=1, rounding="stochastic", block_2d=True, seed=4)
    q0 = rq.quantize(x, fmt, axis=0, rounding="stochastic", block_2d=True, seed=4)
    assert_bits_equal(rq.dequantize(q1), rq.dequantize(q0))
    np.testing.assert_array_equal(q1.scales, q0.scales.T)
    # 1-D blocks along different axes do differ (the test can fail).
    y1 = rq.fake_quantize(x, fmt, axis=1)
    y0 = rq.fake_quantize(x, fmt, axis=0)
    assert not np.array_equal(y1, y0)


@pytest.mark.parametrize("fmt", ["mxfp4", "mxfp8_e4m3", "mxfp8_e5m2"])
def test_mx_floor_fake_quantize_is_idempotent(fmt):
    # Under floor, a block's rounded amax stays in [2^emax, m] * X, so the
    # scale and every (on-grid) element survive a second pass unchanged.
    x = np.random.default_rng(7).standard_normal((4, 96)).astype(np.float32) * 5
    y = rq.fake_quantize(x, fmt)
    assert_bits_equal(rq.fake_quantize(y, fmt), y, fmt)


def _dequantized_step(x, fmt, p):
    """Spacing of the dequantized grid at each element of a 1-D ``x``.

    NUMERICS §3 step of the element format at the scaled value, mapped back
    through the scale: mxfp4 ``step(v) * X / p`` with ``v = p x / X``;
    per-tensor FP8 ``step(x s) / s``; bf16 ``step(x)``.
    """
    q = rq.quantize(x, fmt, prescale=p)
    x64 = x.astype(np.float64)
    if fmt == "mxfp4":
        X = np.repeat(np.ldexp(1.0, q.scales[0].astype(np.int64) - 127), 32)[: x.size]
        return fm.step(x64 * p / X, "e2m1") * X / p
    if fmt.startswith("fp8"):
        s = float(q.tensor_scale)
        return fm.step(x64 * s, rq.element_format(fmt)) / s
    return fm.step(x64, "bf16")


def test_stochastic_rounding_mean_converges():
    # E[q] = v up to 2^-24 of a step, so the mean of n seeds is within a few
    # standard errors (each <= step / 2) of x. Prescale 0.75 keeps floor-rule
    # mxfp4 from clipping (|x| / X < 8, so p |x| / X < 6).
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(64) * 2).astype(np.float32)
    n = 300
    cases = [("mxfp4", 0.75), ("fp8_e5m2", 1.0), ("bf16", 1.0)]
    for fmt, p in cases:
        ys = np.stack(
            [rq.fake_quantize(x, fmt, rounding="stochastic", prescale=p, seed=s) for s in range(n)]
        )
        y_near = rq.fake_quantize(x, fmt, prescale=p)
        step = _dequantized_step(x, fmt, p)
        bias = np.abs(ys.astype(np.float64).mean(axis=0) - x)
        assert np.all(bias <= 4 * step / math.sqrt(n) + 1e-30), fmt
        # Rounded values are always one of the two grid neighbours of x.
        assert np.all(np.abs(ys - x) <= step + 1e-30), fmt
        # The mean beats round-to-nearest on RMSE.
        rmse_sr = math.sqrt(np.mean((ys.mean(axis=0) - x) ** 2))
        rmse_rn = math.sqrt(np.mean((y_near - x) ** 2))
        assert rmse_sr < rmse_rn, fmt


def test_prescale_075_prevents_sr_clipping():
    # amax 7.99 under floor: X = 1; p * x / X <= 0.75 * 7.99 = 5.99 < 6, so
    # stochastic rounding never clips: every output is within one
    # dequantized step (E2M1 step / p = 2 / 0.75 at the top) of x, and the
    # largest value can dequantize to 6 / 0.75 = 8 > 7.99.
    x = np.linspace(-7.99, 7.99, 32).astype(np.float32)
    tops = []
    for s in range(64):
        q = rq.quantize(x, "mxfp4", rounding="stochastic", prescale=0.75, seed=s)
        assert q.scales.tolist() == [[127]]
        y = rq.dequantize(q)
        assert np.all(np.abs(y - x) <= 2 / 0.75)
        tops.append(y[-1])
    assert max(tops) == np.float32(6 / np.float32(0.75)) == 8
    # Without prescale the top element clips to 6 every time.
    y = rq.fake_quantize(x, "mxfp4", rounding="stochastic", seed=1)
    assert y[-1] == 6


# -----------------------------------------------------------------------------
# Scalar walkthroughs: NUMERICS §2 evaluated element by element with exact
# rationals and one explicit rn32() per float32 operation. They share only
# the element codec (tested exhaustively above) and mx_scale_exponent
# (tested by hand above) with the reference, and check its vectorized
# layout, padding, tiles, order of operations and prescale handling.


def F(v):
    return Fraction(float(v))


def _rn32_keep_zero_sign(value, like):
    """rn32(value), but an exactly-zero product keeps the sign of ``like``."""
    if value == 0:
        return np.float32(math.copysign(0.0, float(like)))
    return rn32(value)


def _walk_k(x, seed):
    return rp.uniform_bits(seed, 0, np.arange(x.size).reshape(x.shape)) >> np.uint32(8)


def _walk_mx(x, fmt, rule, p, rounding, seed):
    """Codes, scales, dequantized of a 2-D x along axis 1 (1-D blocks), §2.1."""
    elem = rq.element_format(fmt)
    k = _walk_k(x, seed)
    rows, length = x.shape
    nb = -(-length // 32)
    codes = np.zeros(x.shape, np.int64)
    scales = np.zeros((rows, nb), np.int64)
    y = np.zeros(x.shape, np.float32)
    for r in range(rows):
        for b in range(nb):
            ks = range(32 * b, min(length, 32 * b + 32))
            blk = [x[r, j] for j in ks]
            if not all(np.isfinite(v) for v in blk):
                scales[r, b] = 0xFF
                y[r, list(ks)] = np.nan
                continue
            amax = max(abs(float(v)) for v in blk)
            if amax == 0:
                continue  # scale code 0, codes +0, dequantized +0
            e = int(rq.mx_scale_exponent(np.float32(amax), elem, rule))
            scales[r, b] = e + 127
            for j in ks:
                v = _rn32_keep_zero_sign(F(x[r, j]) * Fraction(2) ** -e, x[r, j])
                v = _rn32_keep_zero_sign(F(v) * F(p), v)
                c = int(fm.encode(v, elem, rounding, k[r, j] if rounding == "stochastic" else None))
                codes[r, j] = c
                d = fm.decode(c, elem)
                yy = _rn32_keep_zero_sign(F(d) * Fraction(2) ** e, d)
                if p != 1:
                    yy = _rn32_keep_zero_sign(F(yy) / F(p), yy)
                y[r, j] = yy
    return codes, scales, y


def _walk_nvfp4(x, p, rounding, seed, tiles):
    """Codes, scales, dequantized of a 2-D x along axis 1, §2.2."""
    k = _walk_k(x, seed)
    rows, length = x.shape
    nb = -(-length // 16)
    finite = [abs(float(v)) for v in x.ravel() if np.isfinite(v)]
    amax_t = max(finite) if finite else 0.0
    s_enc = np.float32(1.0)
    if amax_t > 0:
        s_enc = rn32(Fraction(2688) / Fraction(amax_t))
        if not np.isfinite(s_enc):
            s_enc = np.float32(1.0)
    s_dec = rn32(1 / F(s_enc))
    c = rn32(F(s_enc) * F(rn32(Fraction(1, 6))))
    srows = -(-rows // 16) if tiles else rows
    scales = np.zeros((srows, nb), np.int64)
    S = np.zeros((srows, nb), np.float32)
    enc = np.zeros((srows, nb), np.float32)
    for sr in range(srows):
        rr = range(16 * sr, min(rows, 16 * sr + 16)) if tiles else [sr]
        for b in range(nb):
            blk = [x[r, j] for r in rr for j in range(16 * b, min(length, 16 * b + 16))]
            if not all(np.isfinite(v) for v in blk):
                scales[sr, b], S[sr, b] = 0x7F, np.nan
                continue
            amax_b = max(abs(float(v)) for v in blk)
            sc = min(rn32(F(amax_b) * F(c)), np.float32(448.0))
            scales[sr, b] = int(fm.encode(np.float32(sc), "e4m3", "nearest"))
            S[sr, b] = fm.decode(scales[sr, b], "e4m3")
            enc[sr, b] = 0 if S[sr, b] == 0 else rn32(1 / F(rn32(F(S[sr, b]) * F(s_dec))))
    codes = np.zeros(x.shape, np.int64)
    y = np.zeros(x.shape, np.float32)
    for r in range(rows):
        for j in range(length):
            sr, b = (r // 16 if tiles else r), j // 16
            if np.isnan(S[sr, b]):
                y[r, j] = np.nan
                continue
            v = _rn32_keep_zero_sign(F(x[r, j]) * F(enc[sr, b]), x[r, j])
            v = _rn32_keep_zero_sign(F(v) * F(p), v)
            v = np.float32(min(max(v, np.float32(-6)), np.float32(6)))
            kk = k[r, j] if rounding == "stochastic" else None
            codes[r, j] = int(fm.encode(v, "e2m1", rounding, kk))
            e = fm.decode(codes[r, j], "e2m1")
            yy = _rn32_keep_zero_sign(F(e) * F(S[sr, b]), e)
            yy = _rn32_keep_zero_sign(F(yy) * F(s_dec), yy)
            if p != 1:
                yy = _rn32_keep_zero_sign(F(yy) / F(p), yy)
            y[r, j] = yy
    return codes, scales, y, s_enc


def _walk_fp8(x, fmt, p, rounding, seed):
    """Codes, dequantized and s of a 2-D x along axis 1, §2.3."""
    elem = rq.element_format(fmt)
    k = _walk_k(x, seed)
    m = fm.format_info(elem).max_finite
    finite = [abs(float(v)) for v in x.ravel() if np.isfinite(v)]
    amax_t = max(finite) if finite else 0.0
    s = rn32(Fraction(m) / Fraction(amax_t)) if amax_t > 0 else np.float32(1)
    s = s if np.isfinite(s) else np.float32(1)
    codes = np.zeros(x.shape, np.int64)
    y = np.zeros(x.shape, np.float32)
    for idx in np.ndindex(x.shape):
        xv = x[idx]
        if np.isfinite(xv):
            v = _rn32_keep_zero_sign(F(xv) * F(s), xv)
            v = _rn32_keep_zero_sign(F(v) * F(p), v)
        else:
            v = xv  # NaN / Inf times a positive finite scale
        codes[idx] = int(fm.encode(v, elem, rounding, k[idx] if rounding == "stochastic" else None))
        d = fm.decode(codes[idx], elem)
        if np.isfinite(d):
            yy = _rn32_keep_zero_sign(F(d) / F(s), d)
            if p != 1:
                yy = _rn32_keep_zero_sign(F(yy) / F(p), yy)
        else:
            yy = d
        y[idx] = yy
    return codes, y, s


def _walk_input(seed, shape=(18, 37)):
    """Random data with spread magnitudes, a -0, an all-zero block and an Inf row."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2.0 ** rng.integers(-6, 6, shape)).astype(np.float32)
    x[0, 3] = -0.0
    x[1, :16] = 0.0
    x[2, 20] = np.inf
    return x


@pytest.mark.parametrize("fmt", ["mxfp4", "mxfp8_e4m3", "mxfp8_e5m2"])
@pytest.mark.parametrize(
    "rule,p,rounding",
    [
        ("floor", 1.0, "nearest"),
        ("even", 0.9, "stochastic"),
        ("rceil", 0.75, "nearest_away"),
        ("ceil", 1.0, "stochastic"),
    ],
)
def test_mx_matches_scalar_walkthrough(fmt, rule, p, rounding):
    x = _walk_input(21)
    codes, scales, y = _walk_mx(x, fmt, rule, np.float32(p), rounding, seed=5)
    q = rq.quantize(x, fmt, scale_rule=rule, prescale=p, rounding=rounding, seed=5)
    np.testing.assert_array_equal(rq.unpack_codes(q), codes)
    np.testing.assert_array_equal(q.scales, scales)
    assert_bits_equal(rq.dequantize(q), y)


@pytest.mark.parametrize("tiles", [False, True])
@pytest.mark.parametrize(
    "p,rounding", [(1.0, "nearest"), (0.9, "stochastic"), (1.0, "nearest_away")]
)
def test_nvfp4_matches_scalar_walkthrough(tiles, p, rounding):
    x = _walk_input(22)
    x[3] *= 1e3  # a large row so that s_enc is not a round number
    codes, scales, y, s_enc = _walk_nvfp4(x, np.float32(p), rounding, seed=6, tiles=tiles)
    q = rq.quantize(x, "nvfp4", prescale=p, rounding=rounding, seed=6, block_2d=tiles)
    assert_bits_equal(q.tensor_scale, s_enc)
    np.testing.assert_array_equal(rq.unpack_codes(q), codes)
    np.testing.assert_array_equal(q.scales, scales)
    assert_bits_equal(rq.dequantize(q), y)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("p,rounding", [(1.0, "nearest"), (0.9, "stochastic")])
def test_fp8_matches_scalar_walkthrough(fmt, p, rounding):
    x = _walk_input(23)
    codes, y, s = _walk_fp8(x, fmt, np.float32(p), rounding, seed=7)
    q = rq.quantize(x, fmt, prescale=p, rounding=rounding, seed=7)
    assert_bits_equal(q.tensor_scale, s)
    np.testing.assert_array_equal(rq.unpack_codes(q), codes)
    assert_bits_equal(rq.dequantize(q), y)


# -----------------------------------------------------------------------------
# Tie-hunting inputs: values built so that a float32 intermediate of the
# documented order lands exactly on a rounding midpoint of the next format.
# Only there does the order of float32 operations decide a code, so these
# inputs pin the order down; random data almost never does.


def _preimages(target, factor, count=1, span=64):
    """float32 x near target / factor with RN(x * factor) == target exactly."""
    target, factor = np.float32(target), np.float32(factor)
    start = np.float32(np.float64(target) / np.float64(factor))
    found = []
    for direction in (np.float32(np.inf), np.float32(-np.inf)):
        x = start
        for _ in range(span):
            if np.float32(x * factor) == target and x not in found:
                found.append(x)
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


def _chain_preimage(target, *factors):
    """One x with RN(...RN(RN(x * f1) * f2)...) == target, or None."""
    xs = _chain_preimages(target, *factors, count=1)
    return xs[0] if xs else None


def _midpoints(elem, lo, hi):
    g = fm.grid(elem)
    mids = (g[:-1] + g[1:]) / 2
    return [np.float32(m) for m in mids if lo <= m <= hi]


def test_fp8_tie_inputs_follow_documented_order():
    p = np.float32(0.9)
    amax = np.float32(300.0)
    s = np.float32(448.0) / amax
    xs = [amax]
    for mid in _midpoints("e4m3", 0.01, 250):
        # Several x per tie: RN(RN(x * s) * p) == mid for all of them, while
        # the other association RN(x * RN(s * p)) misses the tie for some.
        xs += [x for x in _chain_preimages(mid, s, p, count=6) if abs(x) < amax]
    x = np.array(xs, np.float32)[None, :]
    assert x.shape[1] > 40
    codes, y, s_walk = _walk_fp8(x, "fp8_e4m3", p, "nearest", seed=0)
    q = rq.quantize(x, "fp8_e4m3", prescale=p)
    assert_bits_equal(q.tensor_scale, s_walk)
    np.testing.assert_array_equal(rq.unpack_codes(q), codes)
    assert_bits_equal(rq.dequantize(q), y)
    # Sensitivity: the other association, RN(x * RN(s * p)), changes codes.
    alt = fm.encode(x * (s * p), "e4m3")
    assert np.any(alt != codes)


def test_nvfp4_tie_inputs_follow_documented_order():
    p = np.float32(0.9)
    one, six = np.float32(1), np.float32(6)
    # An amax_t for which RN(s_enc * RN(1/6)) != RN(s_enc / 6), so that the
    # documented form of the block-scale factor is distinguishable.
    for amax_t in np.linspace(1000, 1100, 101).astype(np.float32):
        s_enc = np.float32(2688) / amax_t
        if s_enc * (one / six) != s_enc / six:
            break
    else:
        raise AssertionError("no distinguishing amax_t found")
    s_dec = one / s_enc
    c = s_enc * (one / six)
    blocks = [np.concatenate([[amax_t], np.zeros(15, np.float32)])]
    for mid in _midpoints("e4m3", 0.05, 300)[::3]:
        amax_b = _chain_preimage(mid, c)  # RN(amax_b * c) is an E4M3 tie
        if amax_b is None or amax_b >= amax_t:
            continue
        S = fm.decode(fm.encode(mid, "e4m3"), "e4m3")
        enc = one / (S * s_dec)
        elems = [amax_b]
        for emid in _midpoints("e2m1", 0, 6):  # 0.25, 0.75, ..., 5
            x = _chain_preimage(emid, enc, p)  # RN(RN(x * enc) * p) is an E2M1 tie
            if x is not None and x < amax_b:
                elems += [x, -x]
        elems = (elems + [0.0] * 16)[:16]
        blocks.append(np.array(elems, np.float32))
    x = np.concatenate(blocks)[None, :]
    assert x.shape[1] >= 16 * 20
    codes, scales, y, s_walk = _walk_nvfp4(x, p, "nearest", seed=0, tiles=False)
    q = rq.quantize(x, "nvfp4", prescale=p)
    assert_bits_equal(q.tensor_scale, s_walk)
    np.testing.assert_array_equal(q.scales, scales)
    np.testing.assert_array_equal(rq.unpack_codes(q), codes)
    assert_bits_equal(rq.dequantize(q), y)
    # Sensitivity: RN(s_enc / 6) instead of RN(s_enc * RN(1/6)) changes scales.
    amax_b = np.abs(x).reshape(-1, 16).max(axis=1)
    alt = fm.encode(np.minimum(amax_b * (s_enc / six), np.float32(448)), "e4m3")
    assert np.any(alt != scales[0])


# =============================================================================
# Hadamard


def _popcount_hadamard(n):
    """Sylvester-Hadamard by its closed form: H[i, j] = (-1)^popcount(i & j) / sqrt(n)."""
    i = np.arange(n)
    parity = np.array([[bin(a & b).count("1") & 1 for b in i] for a in i])
    return np.where(parity == 1, -1.0, 1.0) / math.sqrt(n)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 64])
def test_sylvester_closed_form_orthonormal_symmetric(n):
    H = rh.sylvester(n)
    np.testing.assert_allclose(H, _popcount_hadamard(n), rtol=0, atol=1e-15)
    np.testing.assert_allclose(H @ H.T, np.eye(n), rtol=0, atol=1e-12)
    assert np.array_equal(H, H.T)


@pytest.mark.parametrize("log2n", range(0, 21))
def test_inv_sqrt_f32_is_correctly_rounded(log2n):
    # c = RN(1/sqrt(n)) iff 1/sqrt(n) lies strictly between the midpoints of
    # c with its float32 neighbours; squaring keeps the order of positives,
    # so compare m^2 * n with 1 exactly (no tie: 1/sqrt(2^odd) is irrational).
    n = 1 << log2n
    c = rh.inv_sqrt_f32(n)
    lo = np.nextafter(c, np.float32(0))
    hi = np.nextafter(c, np.float32(np.inf))
    mid_lo = (Fraction(float(c)) + Fraction(float(lo))) / 2
    mid_hi = (Fraction(float(c)) + Fraction(float(hi))) / 2
    if log2n % 2 == 0:
        assert Fraction(float(c)) ** 2 * n == 1  # exact power of two
    assert mid_lo**2 * n < 1 < mid_hi**2 * n


@pytest.mark.parametrize("n", [1, 2, 4, 16, 32, 128])
@pytest.mark.parametrize("with_signs", [False, True])
def test_fwht_f32_close_to_matrix_product(n, with_signs):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((5, 3 * n)).astype(np.float32)
    x[0, :n] *= 1e6  # a run with a large spread of magnitudes
    signs = rh.signs_from_seed(n, 11) if with_signs else None
    y32 = rh.hadamard_fwht_f32(x, n, signs=signs)
    y64 = rh.hadamard(x, n, signs=signs)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    # Each output is a sum over a depth-log2(n) tree of +-x (error <= log2(n)
    # u sum|x|), then one multiply by RN(1/sqrt n) (two more u).
    l1 = np.abs(x.astype(np.float64)).reshape(5, 3, n).sum(axis=2, keepdims=True)
    l1 = np.broadcast_to(l1, (5, 3, n)).reshape(5, 3 * n)
    bound = (math.log2(n) + 2) * U32 * l1 / math.sqrt(n) * 1.001
    assert np.all(np.abs(y32 - y64) <= bound)
    # Inverses.
    x_back64 = rh.hadamard_inverse(y64, n, signs=signs)
    np.testing.assert_allclose(x_back64, x, rtol=0, atol=1e-9 * np.abs(x).max())
    x_back = rh.hadamard_inverse_fwht_f32(y32, n, signs=signs)
    assert np.all(np.abs(x_back - x) <= 2 * bound + 1e-30)


def test_fwht_f32_exact_on_small_integers_and_axis():
    # Integer inputs and n a power of 4: every butterfly and the final 1/4
    # are exact, so float32 and float64 agree bit for bit, along any axis.
    x = np.random.default_rng(2).integers(-8, 9, size=(16, 3, 32)).astype(np.float32)
    for axis in (0, 2, -1):
        y = rh.hadamard_fwht_f32(x, 16, axis=axis)
        assert_bits_equal(y, rh.hadamard(x, 16, axis=axis).astype(np.float32), f"axis {axis}")


def test_fwht_f32_stage_order_by_hand():
    # n = 4, x = [1, 2^-24, -1, 2^-24]. NUMERICS §4 order, h = 1 first:
    #   h=1: (x0, x1) -> (1 + 2^-24, 1 - 2^-24) = (1 [tie to even], 1 - 2^-24);
    #        (x2, x3) -> (-1 + 2^-24, -1 - 2^-24 -> -1 [tie]).
    #   h=2: y0 = 1 + (-1 + 2^-24) = 2^-24; y2 = 1 - (-1 + 2^-24) = 2 - 2^-24
    #        -> 2 [tie between 2 - 2^-23 and 2]; y1 = (1 - 2^-24) - 1 = -2^-24;
    #        y3 = (1 - 2^-24) + 1 -> 2.
    #   times RN(1/2) = 0.5: [2^-25, -2^-25, 1, 1].
    # (h = 2 first would give the exact [2^-24, -2^-24, 1, 1].)
    x = np.array([1, 2.0**-24, -1, 2.0**-24], np.float32)
    assert_bits_equal(rh.hadamard_fwht_f32(x, 4), [2.0**-25, -(2.0**-25), 1, 1])


def test_published_sign_vector_n16():
    # The fixed sign vector of DESIGN's nvfp4_2d_rht16 preset, against a
    # matrix product built by hand: y_run = (x_run * s) @ H16 with H16 from
    # the popcount closed form.
    s = np.array([+1, +1, +1, -1, +1, -1, -1, -1, -1, -1, -1, +1, -1, +1, -1, -1], np.float64)
    H = _popcount_hadamard(16)
    x = np.random.default_rng(16).standard_normal((3, 32)).astype(np.float32)
    expect = np.empty((3, 32))
    for r in range(3):
        for run in range(2):
            seg = x[r, 16 * run : 16 * (run + 1)].astype(np.float64) * s
            expect[r, 16 * run : 16 * (run + 1)] = seg @ H
    np.testing.assert_allclose(rh.hadamard(x, 16, signs=s), expect, rtol=0, atol=1e-13)
    y32 = rh.hadamard_fwht_f32(x, 16, signs=s)
    assert np.max(np.abs(y32 - expect)) <= 6 * U32 * np.abs(x).sum() / 4
    # Along axis 0 of the transpose: the same numbers, transposed.
    assert_bits_equal(rh.hadamard_fwht_f32(x.T, 16, axis=0, signs=s), y32.T)
    # Inverse recovers x.
    np.testing.assert_allclose(rh.hadamard_inverse(expect, 16, signs=s), x, rtol=0, atol=1e-12)


def test_signs_from_seed():
    s = rh.signs_from_seed(4096, seed=123)
    assert s.dtype == np.float32 and set(np.unique(s).tolist()) == {-1.0, 1.0}
    assert abs(s.mean()) < 4 / math.sqrt(4096)
    assert_bits_equal(rh.signs_from_seed(4096, seed=123, step=0), s)
    assert not np.array_equal(rh.signs_from_seed(4096, 123, step=1), s)
    # Plumbing: stream 1 + step, top bit set -> -1.
    w = rp.uniform_bits(123, 1 + 5, np.arange(64))
    assert_bits_equal(rh.signs_from_seed(64, 123, step=5), np.where(w >> 31, -1.0, 1.0))


def test_hadamard_on_both_operands_preserves_product():
    # DESIGN §2: (A H)(B H)^T = A B^T in exact arithmetic (H orthogonal),
    # with signs too since diag(s) is orthogonal.
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 64))
    b = rng.standard_normal((5, 64))
    s = rh.signs_from_seed(16, 2)
    ha, hb = rh.hadamard(a, 16, signs=s), rh.hadamard(b, 16, signs=s)
    np.testing.assert_allclose(ha @ hb.T, a @ b.T, rtol=0, atol=1e-12)


# =============================================================================
# GEMM


def test_round_to_f32_hand_cases():
    r = rg.round_to_f32
    assert r(0, 5) == 0 and not np.signbit(r(0, 5))
    # 2^24 + 1 is halfway between 2^24 and 2^24 + 2: even -> 2^24.
    assert r(2**24 + 1, 0) == 2**24
    # 2^24 + 3 is halfway between 2^24 + 2 and 2^24 + 4: even -> 2^24 + 4.
    assert r(2**24 + 3, 0) == 2**24 + 4
    assert r(-(2**24 + 3), 0) == -(2**24 + 4)
    # Subnormals: 3 * 2^-151 = 0.75 * 2^-149 -> 2^-149; 2^-150 ties to 0 (even);
    # 3 * 2^-150 = 1.5 * 2^-149 ties to 2 * 2^-149 (even).
    assert r(3, -151) == np.float32(2.0**-149)
    assert r(1, -150) == 0
    assert r(3, -150) == np.float32(2.0**-148)
    # Overflow: (2^24 - 1) * 2^104 = FLT_MAX; (2^25 - 1) * 2^103 is just
    # above the FLT_MAX / 2^128 midpoint (2^25 - 1) * 2^103 -> rounds to 2^128 = Inf.
    assert r(2**24 - 1, 104) == FLT_MAX
    assert r(2**25 - 1, 103) == np.inf and r(-(2**25 - 1), 103) == -np.inf
    # 2^128 - 2^103 - 1 (scaled) is below the midpoint -> FLT_MAX.
    assert r(2**153 - 2**128 - 1, -25) == FLT_MAX


def test_round_to_f32_matches_exact_rational_rounding():
    rng = np.random.default_rng(4)
    for _ in range(400):
        bits = int(rng.integers(1, 90))
        num = int(rng.integers(1, 2**62)) << max(0, bits - 62)
        num += int(rng.integers(0, 2**20))
        num = -num if rng.random() < 0.5 else num
        exp2 = int(rng.integers(-240, 120))
        got = rg.round_to_f32(num, exp2)
        assert_bits_equal(got, rn32(Fraction(num) * Fraction(2) ** exp2), f"{num} * 2^{exp2}")


def test_fma_f32_double_rounding_cases():
    # acc = 1 + 2^-23, a = 1 - 2^-23, b = 2^-24 (1 + 2^-23): a * b = 2^-24 - 2^-70.
    # Exact sum 1 + 3 * 2^-24 - 2^-70 lies just below the float32 midpoint
    # 1 + 3 * 2^-24, so fma gives 1 + 2^-23. float64 first rounds the sum to
    # the midpoint itself, and a plain float64 -> float32 cast then ties to
    # even, 1 + 2^-22: the double rounding the emulation must avoid.
    a = np.float32(1 - 2.0**-23)
    b = np.float32(2.0**-24 * (1 + 2.0**-23))
    c = np.float32(1 + 2.0**-23)
    naive = np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    assert naive == np.float32(1 + 2.0**-22)
    assert rg.fma_f32(a, b, c) == np.float32(1 + 2.0**-23)
    # Mirror image (error of the other sign).
    assert rg.fma_f32(-a, b, -c) == np.float32(-(1 + 2.0**-23))
    # Random triples with wide exponent spreads, against exact rationals.
    rng = np.random.default_rng(12)
    n = 3000
    a = (rng.standard_normal(n) * 2.0 ** rng.integers(-40, 40, n)).astype(np.float32)
    b = (rng.standard_normal(n) * 2.0 ** rng.integers(-40, 40, n)).astype(np.float32)
    c = (rng.standard_normal(n) * 2.0 ** rng.integers(-60, 60, n)).astype(np.float32)
    got = rg.fma_f32(a, b, c)
    for i in range(n):
        exact = Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
        assert_bits_equal(got[i], rn32(exact), f"case {i}")


def test_fma_f32_overflow_edge():
    # FLT_MAX + (1 + 2^-23)(1 - 2^-23) 2^103 = 2^128 - 2^103 - 2^57: just below
    # the FLT_MAX / 2^128 midpoint, so fma gives FLT_MAX. float64 rounds the
    # sum onto the midpoint (its ulp there is 2^75), and the cast then ties
    # to the "even" 2^128, i.e. Inf.
    a = np.float32(1 + 2.0**-23)
    b = np.float32((1 - 2.0**-23) * 2.0**103)
    c = np.float32(FLT_MAX)
    with np.errstate(over="ignore"):
        assert np.float32(np.float64(a) * np.float64(b) + np.float64(c)) == np.inf
    assert rg.fma_f32(a, b, c) == FLT_MAX
    assert rg.fma_f32(-a, b, -c) == -FLT_MAX
    # Past the midpoint it does overflow.
    assert rg.fma_f32(np.float32(1), np.float32(2.0**104), c) == np.inf


def test_gemm_f32_fma_is_sequential_fma():
    rng = np.random.default_rng(13)
    a = (rng.standard_normal((3, 24)) * 2.0 ** rng.integers(-20, 20, (3, 24))).astype(np.float32)
    b = (rng.standard_normal((2, 24)) * 2.0 ** rng.integers(-20, 20, (2, 24))).astype(np.float32)
    got = rg.gemm_f32_fma(a, b)
    for m in range(3):
        for n in range(2):
            acc = np.float32(0.0)
            for k in range(24):
                acc = rn32(F(a[m, k]) * F(b[n, k]) + F(acc))
            assert_bits_equal(got[m, n], acc, f"({m}, {n})")


def _qgemm_by_fractions(qa, qb):
    """NUMERICS §5 evaluated with exact rationals per block (independent route).

    Reads element and scale values through the codecs, sums the block's
    products exactly, rounds once with :func:`rn32`, accumulates in float32.
    """
    def parts(q):
        elem = rq.element_format(q.format)
        vals = fm.decode(rq.unpack_codes(q), elem)
        kind = q.format
        if kind.startswith("mx"):
            scl = fm.decode(q.scales, "e8m0")
            blk = 32
        elif kind == "nvfp4":
            scl = fm.decode(q.scales, "e4m3")
            blk = 16
        else:  # per-tensor FP8: virtual blocks of 32, unit scale
            blk = 32
            scl = np.ones((vals.shape[0], -(-vals.shape[1] // blk)), np.float32)
        rows = np.arange(vals.shape[0]) // blk if q.block_2d else np.arange(vals.shape[0])
        return vals, scl[rows], blk

    va, sa, blk = parts(qa)
    vb, sb, _ = parts(qb)
    M, K = va.shape
    N = vb.shape[0]
    out = np.zeros((M, N), np.float32)
    for m in range(M):
        for n in range(N):
            acc = np.float32(0.0)
            for bk in range(-(-K // blk)):
                ks = range(bk * blk, min(K, (bk + 1) * blk))
                S = sum(Fraction(float(va[m, k])) * Fraction(float(vb[n, k])) for k in ks)
                t = rn32(S * Fraction(float(sa[m, bk])) * Fraction(float(sb[n, bk])))
                with np.errstate(invalid="ignore", over="ignore"):
                    acc = np.float32(acc + t)
            out[m, n] = acc
    def decode_factor(q):  # d = RN(1 / tensor_scale) for NVFP4 and FP8
        has_tensor_scale = q.format in ("nvfp4", "fp8_e4m3", "fp8_e5m2")
        return np.float32(1) / q.tensor_scale if has_tensor_scale else np.float32(1)

    with np.errstate(invalid="ignore", over="ignore"):
        out = out * (decode_factor(qa) * decode_factor(qb))
        for p in (qa.prescale, qb.prescale):
            if p != 1:
                out = out / p
    return out


@pytest.mark.parametrize(
    "fmt_a,fmt_b,scale_a,scale_b",
    [
        ("mxfp4", "mxfp4", 1.0, 1.0),
        ("nvfp4", "nvfp4", 1.0, 1.0),
        ("mxfp8_e4m3", "mxfp8_e5m2", 1.0, 1.0),
        ("fp8_e4m3", "fp8_e5m2", 1.0, 1.0),
        # Huge E5M2 block products (> 2^53: Python-int path) that overflow to Inf.
        ("mxfp8_e5m2", "mxfp8_e5m2", 1e19, 1e19),
        # Tiny ones whose block results are float32 subnormals.
        ("mxfp8_e5m2", "mxfp8_e5m2", 1e-22, 1e-23),
    ],
)
def test_qgemm_exact_matches_rational_definition(fmt_a, fmt_b, scale_a, scale_b):
    rng = np.random.default_rng(14)
    a = (rng.standard_normal((3, 70)) * scale_a).astype(np.float32)
    b = (rng.standard_normal((2, 70)) * scale_b).astype(np.float32)
    qa = rq.quantize(a, fmt_a, rounding="stochastic", seed=1)
    qb = rq.quantize(b, fmt_b, prescale=0.75 if fmt_b.startswith("mx") else 1.0)
    assert_bits_equal(rg.qgemm_exact(qa, qb), _qgemm_by_fractions(qa, qb), f"{fmt_a} x {fmt_b}")


def test_qgemm_exact_accumulation_rounds_in_float32():
    # FP4 block results have few significant bits, so sums of a few blocks
    # of similar size are exact in float32 and cannot tell float32 from
    # float64 accumulation. Spread the blocks over 2^-30..2^30 so they can.
    rng = np.random.default_rng(24)
    a = rng.standard_normal((6, 256)).astype(np.float32)
    a *= np.repeat(2.0 ** rng.integers(-30, 30, 8), 32).astype(np.float32)
    b = rng.standard_normal((5, 256)).astype(np.float32)
    qa, qb = rq.quantize(a, "mxfp4"), rq.quantize(b, "mxfp4", rounding="stochastic", seed=2)
    C = rg.qgemm_exact(qa, qb)
    assert_bits_equal(C, _qgemm_by_fractions(qa, qb))
    # The test is sensitive: one rounding of the exact total differs somewhere.
    assert not np.array_equal(C, rg.qgemm_f64(qa, qb).astype(np.float32))


def test_qgemm_exact_with_2d_tiles_matches_rational_definition():
    rng = np.random.default_rng(15)
    a = rng.standard_normal((20, 40)).astype(np.float32)
    b = rng.standard_normal((18, 40)).astype(np.float32)
    qa = rq.quantize(a, "nvfp4", block_2d=True)
    qb = rq.quantize(b, "nvfp4", rounding="stochastic", seed=3)
    assert_bits_equal(rg.qgemm_exact(qa, qb), _qgemm_by_fractions(qa, qb))


def test_qgemm_single_block_is_one_rounding():
    # K = 32 (one MX block), no tensor scale, exact dequantization: the
    # result is the float64 (exact) dot product of the dequantized operands
    # rounded once to float32.
    rng = np.random.default_rng(16)
    a = rng.standard_normal((6, 32)).astype(np.float32)
    b = rng.standard_normal((5, 32)).astype(np.float32)
    qa, qb = rq.quantize(a, "mxfp4"), rq.quantize(b, "mxfp4")
    assert_bits_equal(rg.qgemm_exact(qa, qb), rg.qgemm_f64(qa, qb).astype(np.float32))


@pytest.mark.parametrize(
    "fmt", ["mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "fp8_e4m3", "fp8_e5m2"]
)
def test_qgemm_exact_within_fp32_accumulation_bound(fmt):
    # |C - C64| <= (nblocks + 6) u sum_k |a_k b_k|: one rounding per block
    # result, nblocks - 1 accumulation roundings bounded by the running sum of
    # |t|, and a few more for the tensor-scale factor, prescale division and
    # the dequantization of the oracle's operands.
    rng = np.random.default_rng(17)
    a = rng.standard_normal((9, 200)).astype(np.float32)
    b = rng.standard_normal((7, 200)).astype(np.float32)
    b[:, ::7] *= 30  # outliers
    qa = rq.quantize(a, fmt, prescale=0.75 if fmt.startswith("mx") else 1.0, rounding="stochastic")
    qb = rq.quantize(b, fmt)
    C = rg.qgemm_exact(qa, qb)
    C64 = rg.qgemm_f64(qa, qb)
    abs_a = np.abs(rq.dequantize(qa)).astype(np.float64)
    abs_b = np.abs(rq.dequantize(qb)).astype(np.float64)
    absprod = abs_a @ abs_b.T
    nblocks = -(-200 // (rq.block_size(fmt) or 32))  # per-tensor FP8: virtual blocks of 32
    bound = (nblocks + 6) * U32 * absprod * 1.001
    assert np.all(np.abs(C - C64) <= bound)
    assert not np.array_equal(C, np.zeros_like(C))


def test_qgemm_nan_block_poisons_only_its_outputs():
    rng = np.random.default_rng(18)
    a = rng.standard_normal((3, 64)).astype(np.float32)
    b = rng.standard_normal((4, 64)).astype(np.float32)
    a[1, 40] = np.nan  # row 1, second block of 32
    C = rg.qgemm_exact(rq.quantize(a, "mxfp4"), rq.quantize(b, "mxfp4"))
    assert np.all(np.isnan(C[1])) and np.all(np.isfinite(C[[0, 2]]))


def test_qgemm_fp32_and_bf16_use_the_fma_gemm():
    rng = np.random.default_rng(19)
    a = rng.standard_normal((4, 50)).astype(np.float32)
    b = rng.standard_normal((3, 50)).astype(np.float32)
    C = rg.qgemm_exact(rq.quantize(a, "fp32"), rq.quantize(b, "fp32"))
    assert_bits_equal(C, rg.gemm_f32_fma(a, b))
    tol = 50 * U32 * (np.abs(a) @ np.abs(b).T).max()
    np.testing.assert_allclose(C, a.astype(np.float64) @ b.T, rtol=0, atol=tol)
    Cb = rg.qgemm_exact(rq.quantize(a, "bf16"), rq.quantize(b, "mxfp4"))
    expect = rg.gemm_f32_fma(rq.fake_quantize(a, "bf16"), rq.fake_quantize(b, "mxfp4"))
    assert_bits_equal(Cb, expect)
