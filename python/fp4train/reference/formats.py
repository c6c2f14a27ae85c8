"""Element and scale codecs, written from their definitions (NUMERICS §1, §3).

Every format is described by its bit fields (sign, exponent, mantissa,
bias, special codes).  Decoding evaluates the textbook formula
``(-1)^s * 2^(e - bias) * (1 + m / 2^mbits)`` (or the subnormal form) in
float64, so a decode table of every code is built from the definition
alone.  Encoding never manipulates float bits: it looks the magnitude up in
the sorted list of representable magnitudes (the "grid") and chooses a
neighbour by exact float64 comparisons against the midpoint of the two
neighbours.  float64 is exact here: every float32 input, every grid value
and every midpoint of two adjacent grid values has at most 25 significant
bits and lies well inside float64's exponent range.

Formats: ``"e2m1"`` (FP4), ``"e4m3"`` (FP8 "fn": no Inf), ``"e5m2"``,
``"bf16"``, ``"e8m0"`` (the MX scale format: unsigned powers of two).

Public names
------------
FORMAT_NAMES, ROUNDINGS
    The codec names and rounding names accepted here.
FormatInfo, format_info
    Bit-field description of a format and derived constants
    (``max_finite``, ``emax``, ``emin``, ``min_subnormal``...).
encode, decode
    Generic codec: float32 -> codes (uint8, or uint16 for bf16) and back.
encode_e2m1, decode_e2m1, encode_e4m3, decode_e4m3, encode_e5m2,
decode_e5m2, encode_bf16, decode_bf16, encode_e8m0, decode_e8m0
    The same, one pair per format (``encode_<fmt>`` of NUMERICS §1).
all_encodings
    Every code of a format, in increasing code order.
grid
    The sorted non-negative finite representable magnitudes (float64).
step
    The grid spacing at a magnitude, as stochastic rounding uses it (§3).
exponent_of
    ``E(a) = floor(log2 a)`` of positive floats, exactly (via ``frexp``).

Internal names
--------------
_INFO, _check_format, _decode_table, _grid_codes, _round_to_grid_index,
_stochastic_magnitude
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "FORMAT_NAMES",
    "ROUNDINGS",
    "FormatInfo",
    "format_info",
    "encode",
    "decode",
    "encode_e2m1",
    "decode_e2m1",
    "encode_e4m3",
    "decode_e4m3",
    "encode_e5m2",
    "decode_e5m2",
    "encode_bf16",
    "decode_bf16",
    "encode_e8m0",
    "decode_e8m0",
    "all_encodings",
    "grid",
    "step",
    "exponent_of",
]

FORMAT_NAMES = ("e2m1", "e4m3", "e5m2", "bf16", "e8m0")
ROUNDINGS = ("nearest", "nearest_away", "stochastic")


@dataclass(frozen=True)
class FormatInfo:
    """Bit-field description of one format.

    Attributes
    ----------
    name : str
        Codec name.
    bits : int
        Total bits of a code.
    ebits, mbits, bias : int
        Exponent width, mantissa width, exponent bias.
    signed : bool
        Whether the top bit is a sign bit (False only for E8M0).
    ieee_specials : bool
        Exponent field all ones means Inf (mantissa 0) or NaN (E5M2, BF16).
    nan_code : int or None
        The canonical NaN code produced by ``encode``; None when the format
        has no NaN (E2M1).
    emin : int
        Exponent of the smallest normal binade; stochastic rounding uses
        ``step = 2^(max(E(|v|), emin) - mbits)``.
    """

    name: str
    bits: int
    ebits: int
    mbits: int
    bias: int
    signed: bool
    ieee_specials: bool
    nan_code: object
    emin: int

    @property
    def code_dtype(self):
        """numpy dtype of a code: uint8, or uint16 for 16-bit formats."""
        return np.uint16 if self.bits > 8 else np.uint8

    @property
    def sign_bit(self):
        """The sign bit's value within a code (0 for unsigned formats)."""
        return 1 << (self.bits - 1) if self.signed else 0

    @property
    def max_finite(self):
        """Largest finite value (float64)."""
        return float(grid(self.name)[-1])

    @property
    def emax(self):
        """``E(max_finite)``: 2 (E2M1), 8 (E4M3), 15 (E5M2), 127 (BF16, E8M0)."""
        return int(exponent_of(self.max_finite))

    @property
    def min_subnormal(self):
        """Smallest positive value (float64)."""
        return float(grid(self.name)[1] if self.name != "e8m0" else grid(self.name)[0])


_INFO = {
    # E2M1: every exponent field is a normal binade; exponent 0 is the
    # subnormal 0 / 0.5; no Inf, no NaN.  emin = 1 - bias = 0.
    "e2m1": FormatInfo("e2m1", 4, 2, 1, 1, True, False, None, 0),
    # E4M3 "fn": exponent 15 is an ordinary binade except mantissa 7 (NaN).
    "e4m3": FormatInfo("e4m3", 8, 4, 3, 7, True, False, 0x7F, -6),
    "e5m2": FormatInfo("e5m2", 8, 5, 2, 15, True, True, 0x7F, -14),
    "bf16": FormatInfo("bf16", 16, 8, 7, 127, True, True, 0x7FC0, -126),
    # E8M0: no sign, no mantissa, no zero; 0xFF is NaN.  Its smallest value
    # 2^-127 is an ordinary power of two, so emin = -127.
    "e8m0": FormatInfo("e8m0", 8, 8, 0, 127, False, False, 0xFF, -127),
}


def _check_format(fmt):
    if fmt not in _INFO:
        raise ValueError(f"fmt: expected one of {FORMAT_NAMES}, got {fmt!r}")
    return _INFO[fmt]


def format_info(fmt):
    """Return the :class:`FormatInfo` of a codec name.

    Parameters
    ----------
    fmt : str
        One of ``FORMAT_NAMES``.
    """
    return _check_format(fmt)


def all_encodings(fmt):
    """Every code of ``fmt`` in increasing order.

    Returns
    -------
    numpy.ndarray
        uint8 (16 codes for E2M1, 256 for E4M3/E5M2/E8M0) or uint16
        (65536 codes for BF16).
    """
    info = _check_format(fmt)
    return np.arange(1 << info.bits, dtype=np.int64).astype(info.code_dtype)


@lru_cache(maxsize=None)
def _decode_table(fmt):
    """float32 value of every code, from the bit-field formula (float64)."""
    info = _INFO[fmt]
    code = np.arange(1 << info.bits, dtype=np.int64)
    if fmt == "e8m0":
        # A pure exponent: 2^(code - 127); code 255 is NaN.
        value = np.ldexp(1.0, code - info.bias)
        value[code == 0xFF] = np.nan
        table = value.astype(np.float32)
        table.setflags(write=False)
        return table
    sign = (code >> (info.ebits + info.mbits)) & 1
    efield = (code >> info.mbits) & ((1 << info.ebits) - 1)
    mfield = code & ((1 << info.mbits) - 1)
    frac = mfield / float(1 << info.mbits)
    normal = np.ldexp(1.0 + frac, efield - info.bias)
    subnormal = np.ldexp(frac, 1 - info.bias)
    value = np.where(efield == 0, subnormal, normal)
    eall = (1 << info.ebits) - 1
    mall = (1 << info.mbits) - 1
    if info.ieee_specials:
        value = np.where((efield == eall) & (mfield == 0), np.inf, value)
        value = np.where((efield == eall) & (mfield != 0), np.nan, value)
    elif fmt == "e4m3":
        value = np.where((efield == eall) & (mfield == mall), np.nan, value)
    value = np.where(sign == 1, -value, value)  # -0.0 for the negative zero code
    table = value.astype(np.float32)  # exact: every value has <= 8 significant bits
    table.setflags(write=False)
    return table


def decode(codes, fmt):
    """Decode codes of ``fmt`` to float32 (exact).

    Parameters
    ----------
    codes : array_like of int
        Codes; any shape. Values must be valid codes of the format.
    fmt : str
        One of ``FORMAT_NAMES``.

    Returns
    -------
    numpy.ndarray of float32
        Same shape as ``codes``. NaN codes give NaN, Inf codes +-Inf, the
        negative-zero code -0.0.
    """
    info = _check_format(fmt)
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"codes: expected integer codes, got dtype {c.dtype}")
    if c.size and (int(c.min()) < 0 or int(c.max()) >= (1 << info.bits)):
        raise ValueError(f"codes: expected {fmt} codes in [0, {1 << info.bits})")
    return _decode_table(fmt)[c.astype(np.int64)]


@lru_cache(maxsize=None)
def _grid_codes(fmt):
    """Sorted non-negative finite magnitudes of ``fmt`` and their codes."""
    info = _INFO[fmt]
    table = _decode_table(fmt).astype(np.float64)
    codes = np.arange(1 << info.bits, dtype=np.int64)
    keep = np.isfinite(table) & ~np.signbit(table)
    values, codes = table[keep], codes[keep]
    order = np.argsort(values, kind="stable")
    values, codes = values[order], codes[order]
    # Sanity of the definition: magnitudes strictly increase with the code,
    # so adjacent grid points have adjacent codes and "even" = code LSB 0.
    assert np.all(np.diff(values) > 0) and np.all(np.diff(codes) == 1)
    values.setflags(write=False)
    codes.setflags(write=False)
    return values, codes


def grid(fmt):
    """Sorted non-negative finite representable magnitudes of ``fmt``.

    Returns
    -------
    numpy.ndarray of float64
        E.g. ``[0, 0.5, 1, 1.5, 2, 3, 4, 6]`` for E2M1; starts at 2^-127
        for E8M0, which has no zero.
    """
    _check_format(fmt)
    return _grid_codes(fmt)[0]


def exponent_of(a):
    """``E(a) = floor(log2(a))`` for positive finite floats, exactly.

    ``frexp`` returns ``a = f * 2^x`` with ``f`` in [0.5, 1), so
    ``E(a) = x - 1``; float32 subnormals are normal in float64, so they get
    the exponent of their leading bit. No floating-point log is involved.

    Parameters
    ----------
    a : array_like of float
        Positive finite values.

    Returns
    -------
    numpy.ndarray of int64
    """
    _, x = np.frexp(np.asarray(a, dtype=np.float64))
    return (x - 1).astype(np.int64)


def step(a, fmt):
    """Grid spacing of ``fmt`` at magnitude ``|a|`` (NUMERICS §3).

    ``step = 2^(max(E(|a|), emin) - mbits)``: for E2M1 that is 0.5 below 2,
    1 in [2, 4) and 2 from 4 up; for zero it is the subnormal spacing.

    Parameters
    ----------
    a : array_like of float
        Finite values.
    fmt : str
        One of ``FORMAT_NAMES``.

    Returns
    -------
    numpy.ndarray of float64
    """
    info = _check_format(fmt)
    mag = np.abs(np.asarray(a, dtype=np.float64))
    e = np.where(mag > 0, exponent_of(np.where(mag > 0, mag, 1.0)), info.emin)
    return np.ldexp(1.0, np.maximum(e, info.emin) - info.mbits)


def _round_to_grid_index(mag, values, codes, rounding):
    """Index into ``values`` of the rounded magnitude (saturating at both ends).

    ``mag`` holds finite non-negative float64 numbers (float32 inputs, so
    exact). Below the smallest grid value the result is index 0, above the
    largest it is the last index ("satfinite").
    """
    last = len(values) - 1
    lo = np.searchsorted(values, mag, side="right") - 1  # values[lo] <= mag
    lo = np.clip(lo, 0, last)
    hi = np.minimum(lo + 1, last)
    midpoint = (values[lo] + values[hi]) / 2.0  # exact in float64
    if rounding == "nearest":
        tie_up = (codes[lo] & 1) == 1  # the even neighbour wins a tie
    elif rounding == "nearest_away":
        tie_up = np.ones(np.shape(lo), dtype=bool)
    else:
        raise ValueError(f"rounding: expected 'nearest' or 'nearest_away', got {rounding!r}")
    up = (mag > midpoint) | ((mag == midpoint) & tie_up)
    idx = np.where(up & (mag > values[lo]), hi, lo)
    # Below the grid (only E8M0 has a positive smallest value): index 0.
    return np.where(mag < values[0], 0, idx)


def _stochastic_magnitude(mag, info, k):
    """Stochastically rounded magnitude per NUMERICS §3, exactly, in float64.

    With ``r = |v| / step``, ``n = floor(r)``, ``f = r - n``,
    ``t = floor(f * 2^24)``: ``q = (n + ((k + t) >> 24)) * step``. Every
    step is exact in float64: ``step`` is a power of two, ``r`` has at most
    24 significant bits, and ``f * 2^24`` is a power-of-two scaling; the
    truncation ``floor`` drops any fraction of ``t`` below 1 (bits more than
    24 places below the step, which a float32 subnormal input can have).
    The result may lie above the largest finite value; the caller saturates.
    """
    s = step(mag, info.name)
    r = mag / s
    n = np.floor(r)
    f = r - n
    t = np.floor(np.ldexp(f, 24)).astype(np.int64)
    carry = (k.astype(np.int64) + t) >> 24
    return (n + carry) * s


def encode(x, fmt, rounding="nearest", k=None):
    """Encode float32 values into codes of ``fmt`` (NUMERICS §1, §3).

    Parameters
    ----------
    x : array_like of float32
        Values; other float dtypes are first converted to float32.
    fmt : str
        One of ``FORMAT_NAMES``.
    rounding : {"nearest", "nearest_away", "stochastic"}
        Round half to even, half away from zero, or stochastic rounding.
    k : array_like of uint32, optional
        Required for ``"stochastic"``: 24-bit random integers (values in
        ``[0, 2**24)``), broadcastable to ``x``.

    Returns
    -------
    numpy.ndarray
        Codes, uint8 (uint16 for bf16), same shape as ``x``.

    Raises
    ------
    ValueError
        On NaN or Inf input to E2M1 (it has none; blocks handle them), on an
        unknown format or rounding, or on a missing / out-of-range ``k``.

    Notes
    -----
    Finite values beyond the largest finite value saturate to it. +-0 keeps
    its sign. NaN encodes to the canonical NaN code. +-Inf stays +-Inf for
    E5M2 and BF16 and becomes NaN (0x7F) for E4M3. E8M0 has no sign and no
    zero: every value below 2^-127 (zero and negative values included) gives
    code 0, values above 2^127 give code 254, NaN and +-Inf give 0xFF.
    """
    info = _check_format(fmt)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: expected one of {ROUNDINGS}, got {rounding!r}")
    x = np.asarray(x, dtype=np.float32)
    values, codes = _grid_codes(fmt)
    nan = np.isnan(x)
    inf = np.isinf(x)
    finite = ~(nan | inf)
    if fmt == "e2m1" and not np.all(finite):
        raise ValueError("x: E2M1 has no NaN or Inf (they are handled per block)")

    with np.errstate(invalid="ignore"):  # a signalling NaN raises FE_INVALID when widened
        x64 = x.astype(np.float64)
    if info.signed:
        mag = np.abs(x64)
    else:
        # Unsigned E8M0: negative values are below 2^-127 -> code 0.
        mag = np.where(x64 > 0, x64, 0.0)
    mag = np.where(finite, mag, 0.0)  # placeholders, replaced below

    if rounding == "stochastic":
        if k is None:
            raise ValueError("k: required for stochastic rounding")
        k = np.broadcast_to(np.asarray(k), x.shape)
        if k.dtype.kind not in "iu":
            raise TypeError(f"k: expected integers, got dtype {k.dtype}")
        if k.size and (int(k.min()) < 0 or int(k.max()) >= (1 << 24)):
            raise ValueError("k: expected 24-bit integers in [0, 2**24)")
        q = _stochastic_magnitude(mag, info, k)
        # q lies on the grid (or above it, or below 2^-127 for E8M0), so
        # nearest rounding only locates it and applies saturation.
        idx = _round_to_grid_index(q, values, codes, "nearest")
        on_grid = (values[idx] == q) | (q > values[-1]) | (q < values[0])
        assert np.all(on_grid), "stochastic result off the grid"
    else:
        idx = _round_to_grid_index(mag, values, codes, rounding)

    out = codes[idx].astype(np.int64)
    if info.signed:
        out = np.where(np.signbit(x), out | info.sign_bit, out)
    if info.nan_code is not None:
        out = np.where(nan, info.nan_code, out)
    if inf.any():
        if fmt == "e8m0" or fmt == "e4m3":
            out = np.where(inf, info.nan_code, out)  # no Inf: never 448 / 2^127
        else:
            inf_code = ((1 << info.ebits) - 1) << info.mbits  # exponent all ones, mantissa 0
            out = np.where(inf, np.where(x > 0, inf_code, inf_code | info.sign_bit), out)
    return out.astype(info.code_dtype)


def encode_e2m1(x, rounding="nearest", k=None):
    """Encode to E2M1 codes (``code = sign << 3 | index``); see :func:`encode`."""
    return encode(x, "e2m1", rounding, k)


def decode_e2m1(codes):
    """Decode E2M1 codes to float32; see :func:`decode`."""
    return decode(codes, "e2m1")


def encode_e4m3(x, rounding="nearest", k=None):
    """Encode to E4M3 ("fn") codes; see :func:`encode`."""
    return encode(x, "e4m3", rounding, k)


def decode_e4m3(codes):
    """Decode E4M3 ("fn") codes to float32; see :func:`decode`."""
    return decode(codes, "e4m3")


def encode_e5m2(x, rounding="nearest", k=None):
    """Encode to E5M2 codes; see :func:`encode`."""
    return encode(x, "e5m2", rounding, k)


def decode_e5m2(codes):
    """Decode E5M2 codes to float32; see :func:`decode`."""
    return decode(codes, "e5m2")


def encode_bf16(x, rounding="nearest", k=None):
    """Encode to bfloat16 codes (uint16, saturating); see :func:`encode`."""
    return encode(x, "bf16", rounding, k)


def decode_bf16(codes):
    """Decode bfloat16 codes (uint16) to float32; see :func:`decode`."""
    return decode(codes, "bf16")


def encode_e8m0(x, rounding="nearest", k=None):
    """Encode to E8M0 scale codes (ties on the exponent to even); see :func:`encode`."""
    return encode(x, "e8m0", rounding, k)


def decode_e8m0(codes):
    """Decode E8M0 codes to float32 powers of two (0xFF is NaN); see :func:`decode`."""
    return decode(codes, "e8m0")
