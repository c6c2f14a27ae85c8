"""Block quantization reference: quantize, dequantize, fake_quantize (NUMERICS §2).

Slow and literal.  Every float32 operation of NUMERICS §2 is performed on
float32 numpy arrays or scalars, one operation per line where it matters,
in the documented order, so a C++ implementation of the same definition
gives bit-identical codes, scales and dequantized values.  Element rounding
goes through :mod:`.formats` (grid lookup), stochastic noise through
:mod:`.philox`; nothing here imports the compiled extension.

Storage (§2): the quantization axis is moved last, giving ``rows x
length``; codes are ``rows x row_bytes`` bytes (FP4 two per byte, low index
in the low nibble; FP8 one; BF16 two little-endian; FP32 four); scales are
one byte per block, ``rows x nblocks`` or, with 2-D tiles,
``ceil(rows / block) x nblocks``.

Public names
------------
FORMATS, SCALE_RULES, ROUNDINGS
    Accepted format, scale-rule and rounding names.
RefQTensor
    Result of :func:`quantize` (codes, scales, tensor_scale, shape, axis,
    format and the settings needed to dequantize).
quantize, dequantize, fake_quantize
    The three operations.
mx_scale_exponent
    The E8M0 scale exponent of a block from its amax under a scale rule.
element_format, block_size, unpack_codes, stochastic_k
    Small helpers the GEMM reference and tests share.

Internal names
--------------
_Spec, _SPECS, _spec, _normalize_axis, _exponent_or, _padded,
_encode_elements, _storage_view, _flat_index, _block_amax, _expand_blocks,
_tensor_amax, _quantize_mx, _quantize_nvfp4, _quantize_tensor_fp8,
_pack_codes, _dequantize_storage, _f32
"""

from dataclasses import dataclass, field

import numpy as np

from . import formats as fm
from .philox import uniform_bits

__all__ = [
    "FORMATS",
    "SCALE_RULES",
    "ROUNDINGS",
    "RefQTensor",
    "quantize",
    "dequantize",
    "fake_quantize",
    "mx_scale_exponent",
    "element_format",
    "block_size",
    "unpack_codes",
    "stochastic_k",
]

FORMATS = ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "fp8_e4m3", "fp8_e5m2", "bf16", "fp32")
SCALE_RULES = ("floor", "ceil", "rceil", "even")
ROUNDINGS = fm.ROUNDINGS

_E8M0_NAN = 0xFF
_E4M3_NAN = 0x7F


def _f32(value):
    """A float32 scalar (keeps numpy from promoting to float64)."""
    return np.float32(value)


@dataclass(frozen=True)
class _Spec:
    """One quantization format: element codec, block size, scale kind."""

    elem: str  # codec name in .formats, or "fp32"
    kind: str  # "mx", "nvfp4", "tensor" (per-tensor FP8), "bf16", "fp32"
    block: int  # block length along the axis; 0 without block scales
    bits: int  # element bits in storage


_SPECS = {
    "mxfp4": _Spec("e2m1", "mx", 32, 4),
    "nvfp4": _Spec("e2m1", "nvfp4", 16, 4),
    "mxfp8_e4m3": _Spec("e4m3", "mx", 32, 8),
    "mxfp8_e5m2": _Spec("e5m2", "mx", 32, 8),
    "fp8_e4m3": _Spec("e4m3", "tensor", 0, 8),
    "fp8_e5m2": _Spec("e5m2", "tensor", 0, 8),
    "bf16": _Spec("bf16", "bf16", 0, 16),
    "fp32": _Spec("fp32", "fp32", 0, 32),
}


def _spec(fmt):
    if fmt not in _SPECS:
        raise ValueError(f"fmt: expected one of {FORMATS}, got {fmt!r}")
    return _SPECS[fmt]


def element_format(fmt):
    """Element codec name of a quantization format ("e2m1", "e4m3", ..., "fp32")."""
    return _spec(fmt).elem


def block_size(fmt):
    """Block length along the axis (32 MX, 16 NVFP4; 0 for formats without block scales)."""
    return _spec(fmt).block


@dataclass
class RefQTensor:
    """A tensor quantized by the reference.

    Attributes
    ----------
    codes : numpy.ndarray of uint8, shape (rows, row_bytes)
        Packed element codes in storage order (axis moved last).
    scales : numpy.ndarray of uint8
        Block scale bytes: (rows, nblocks), or (ceil(rows / block), nblocks)
        with 2-D tiles; shape (0,) for formats without block scales.
    tensor_scale : numpy.float32
        ``s_enc`` for NVFP4, ``s`` for per-tensor FP8, 1.0 otherwise.
    shape : tuple of int
        The logical (original) shape.
    axis : int
        The quantization axis, normalized to be non-negative.
    format : str
        One of ``FORMATS``.
    rounding, scale_rule : str
        The settings used.
    prescale : numpy.float32
        The prescale ``p``; dequantization divides by it.
    block_2d : bool
        Whether scales cover ``block x block`` tiles.
    seed : int
        Seed of the stochastic noise (stream 0).
    """

    codes: np.ndarray
    scales: np.ndarray
    tensor_scale: np.float32
    shape: tuple
    axis: int
    format: str
    rounding: str = "nearest"
    scale_rule: str = "floor"
    prescale: np.float32 = field(default_factory=lambda: np.float32(1.0))
    block_2d: bool = False
    seed: int = 0

    @property
    def rows(self):
        """Number of storage rows (product of the non-axis dims)."""
        return int(np.prod([d for i, d in enumerate(self.shape) if i != self.axis], dtype=np.int64))

    @property
    def length(self):
        """Number of elements per storage row (``shape[axis]``)."""
        return int(self.shape[self.axis])

    @property
    def nbytes(self):
        """Bytes of codes plus scale bytes plus 4 for the tensor scale."""
        return int(self.codes.nbytes + self.scales.nbytes + 4)

    def dequantize(self):
        """Dequantize to float32 of the logical shape; see :func:`dequantize`."""
        return dequantize(self)


# ----------------------------------------------------------------------------
# Layout helpers


def _normalize_axis(axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis: {axis} is out of range for an array with {ndim} dims")
    return int(axis) % ndim


def _storage_view(x, axis):
    """``x`` with ``axis`` moved last, as a C-contiguous (rows, length) array."""
    moved = np.moveaxis(x, axis, -1)
    length = x.shape[axis]
    rows = moved.size // length if length else int(np.prod(moved.shape[:-1], dtype=np.int64))
    return np.ascontiguousarray(moved).reshape(rows, length)


def _flat_index(shape, axis):
    """Flat C-order index in the logical array of each storage element."""
    idx = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    return _storage_view(idx, axis)


def stochastic_k(seed, flat_index):
    """24-bit noise ``k`` for elements: top 24 bits of Philox stream 0 (§3)."""
    return uniform_bits(seed, 0, flat_index) >> np.uint32(8)


def _padded(xs, block, block_2d):
    """Zero-pad storage to whole blocks (and whole row groups for 2-D tiles).

    Padding with +0 never changes a block's amax and is never stored.
    """
    rows, length = xs.shape
    nblocks = -(-length // block)
    prow = -(-rows // block) * block if block_2d else rows
    out = np.zeros((prow, nblocks * block), dtype=np.float32)
    out[:rows, :length] = xs
    return out, nblocks


def _block_amax(xs, block, block_2d):
    """Per block (or tile): amax over finite |x|, and whether it holds NaN/Inf.

    Returns arrays with the scale layout: (rows, nblocks) or
    (ceil(rows / block), nblocks).
    """
    padded, nblocks = _padded(xs, block, block_2d)
    finite = np.isfinite(padded)
    mag = np.where(finite, np.abs(padded), _f32(0.0))
    if block_2d:
        shape4 = (padded.shape[0] // block, block, nblocks, block)
        amax = mag.reshape(shape4).max(axis=(1, 3))
        bad = ~finite.reshape(shape4).all(axis=(1, 3))
    else:
        shape3 = (padded.shape[0], nblocks, block)
        amax = mag.reshape(shape3).max(axis=2)
        bad = ~finite.reshape(shape3).all(axis=2)
    return amax.astype(np.float32), bad


def _expand_blocks(per_block, rows, length, block, block_2d):
    """Broadcast a per-block array to every storage element (rows, length)."""
    r = np.arange(rows) // block if block_2d else np.arange(rows)
    c = np.arange(length) // block
    return per_block[r[:, None], c[None, :]]


def _tensor_amax(xs):
    """Largest |x| over the finite elements (float32; 0 when there are none)."""
    finite = np.isfinite(xs)
    if not finite.any():
        return _f32(0.0)
    return _f32(np.abs(xs[finite]).max())


# ----------------------------------------------------------------------------
# Scale rules


def mx_scale_exponent(amax, elem, rule):
    """E8M0 scale exponent ``e`` of blocks with the given amax (NUMERICS §2.1).

    Parameters
    ----------
    amax : array_like of float32
        Block amax values, finite and non-negative.
    elem : {"e2m1", "e4m3", "e5m2"}
        Element codec; gives ``emax`` (2, 8, 15), ``m`` (6, 448, 57344) and
        ``mbits`` (1, 3, 2).
    rule : {"floor", "ceil", "rceil", "even"}
        The scale rule.

    Returns
    -------
    numpy.ndarray of int64
        ``e`` clamped to [-127, 127]; the scale is ``2^e``, its byte
        ``e + 127``. An amax of 0 gives -127 (the all-zero block's scale).

    Notes
    -----
    ``E(a)`` comes from ``frexp`` (exact). ``amax / 2^E(amax)`` and the
    ``even`` rounding are evaluated in float64, where they are exact.
    """
    if rule not in SCALE_RULES:
        raise ValueError(f"scale_rule: expected one of {SCALE_RULES}, got {rule!r}")
    info = fm.format_info(elem)
    emax, m, mbits = info.emax, info.max_finite, info.mbits
    a = np.asarray(amax, dtype=np.float32).astype(np.float64)
    if rule == "even":
        # Round amax half up to mbits mantissa bits; below float32's normal
        # range the quantum stays that of the smallest normal binade, as the
        # bit-pattern form (add 1 << (22 - mbits), clear 23 - mbits bits) does.
        e_a = _exponent_or(a, -126)
        quantum = np.ldexp(1.0, np.maximum(e_a, -126) - mbits)
        a = np.floor(a / quantum + 0.5) * quantum  # exact in float64
    positive = a > 0
    E = _exponent_or(a, 0)
    if rule in ("floor", "even"):
        e = E - emax
    elif rule == "ceil":
        power_of_two = np.ldexp(1.0, E) == a
        e = np.where(power_of_two, E - emax, E + 1 - emax)
    else:  # rceil: smallest power of two with amax / 2^e <= m
        significand = a / np.ldexp(1.0, E)  # in [1, 2), exact
        fits = significand <= m / 2.0**emax  # 1.5 for E2M1, 1.75 for E4M3/E5M2
        e = np.where(fits, E - emax, E + 1 - emax)
    e = np.where(positive, e, -127)
    return np.clip(e, -127, 127).astype(np.int64)


def _exponent_or(a, default):
    """``E(a)`` where ``a > 0``, ``default`` elsewhere (vectorized helper)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(a > 0, fm.exponent_of(np.where(a > 0, a, 1.0)), default)


# ----------------------------------------------------------------------------
# Per-kind quantizers. Each returns (element codes (rows, length) int,
# scales uint8, tensor_scale float32).


def _encode_elements(v, elem, rounding, k):
    return fm.encode(v, elem, rounding, k).astype(np.int64)


def _quantize_mx(xs, spec, rounding, rule, p, block_2d, k):
    """MX formats (§2.1): E8M0 block scales, elements ``RN(RN(x * 2^-e) * p)``."""
    rows, length = xs.shape
    amax, bad = _block_amax(xs, spec.block, block_2d)
    e = mx_scale_exponent(amax, spec.elem, rule)
    scales = (e + 127).astype(np.uint8)  # amax 0 -> e = -127 -> code 0
    scales[bad] = _E8M0_NAN

    # 2^-e is a float32 for every e in [-127, 127] (2^-127 is subnormal).
    inv_scale = np.ldexp(np.float32(1.0), -e).astype(np.float32)
    inv_e = _expand_blocks(inv_scale, rows, length, spec.block, block_2d)
    bad_e = _expand_blocks(bad, rows, length, spec.block, block_2d)
    zero_e = _expand_blocks(amax == 0, rows, length, spec.block, block_2d) & ~bad_e

    xs_ok = np.where(bad_e, _f32(0.0), xs)  # NaN/Inf blocks: codes 0
    with np.errstate(under="ignore"):
        v = xs_ok * inv_e  # RN(x * 2^-e)
        v = v * p  # RN(v * p)
    v = np.where(zero_e, _f32(0.0), v)  # all-zero block: codes +0, even for -0
    codes = _encode_elements(v, spec.elem, rounding, k)
    codes[bad_e] = 0
    return codes, scales, _f32(1.0)


def _quantize_nvfp4(xs, spec, rounding, p, block_2d, k):
    """NVFP4 (§2.2): FP32 tensor scale, E4M3 block scales, E2M1 elements."""
    rows, length = xs.shape
    one, six, e4m3_max = _f32(1.0), _f32(6.0), _f32(448.0)
    amax_t = _tensor_amax(xs)
    with np.errstate(over="ignore", divide="ignore", under="ignore"):
        s_enc = _f32(2688.0) / amax_t if amax_t > 0 else one
        if not np.isfinite(s_enc):
            s_enc = one
        s_dec = one / s_enc
        c = s_enc * (one / six)  # RN(s_enc * RN(1/6))

        amax_b, bad = _block_amax(xs, spec.block, block_2d)
        scaled = amax_b * c  # RN(amax_b * c)
        scaled = np.minimum(scaled, e4m3_max)
        sb = fm.encode(scaled, "e4m3", "nearest").astype(np.uint8)
        S = fm.decode(np.where(bad, 0, sb), "e4m3")
        denom = S * s_dec  # RN(S * s_dec)
        # enc = RN(1 / RN(S * s_dec)), or 0 when S = 0.
        enc = np.where(S == 0, _f32(0.0), one / np.where(S == 0, one, denom)).astype(np.float32)
    sb[bad] = _E4M3_NAN

    enc_e = _expand_blocks(enc, rows, length, spec.block, block_2d)
    bad_e = _expand_blocks(bad, rows, length, spec.block, block_2d)
    xs_ok = np.where(bad_e, _f32(0.0), xs)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        v = xs_ok * enc_e  # RN(x * enc)
        # enc overflows to +Inf only for tensors with amax_t below ~2^-107
        # (see the report on NUMERICS gaps); then 0 * Inf would be NaN, and we
        # keep a zero element a zero of the same sign instead.
        v = np.where(xs_ok == 0, xs_ok, v)
        v = v * p  # RN(v * p)
    v = np.minimum(np.maximum(v, _f32(-6.0)), _f32(6.0))  # keeps -0
    codes = _encode_elements(v, "e2m1", rounding, k)
    codes[bad_e] = 0
    return codes, sb, s_enc


def _quantize_tensor_fp8(xs, spec, rounding, p, k):
    """Per-tensor FP8 (§2.3): ``s = RN(m / amax_t)``, elements ``RN(RN(x * s) * p)``."""
    m = _f32(fm.format_info(spec.elem).max_finite)
    amax_t = _tensor_amax(xs)
    with np.errstate(over="ignore", divide="ignore"):
        s = m / amax_t if amax_t > 0 else _f32(1.0)
    if not np.isfinite(s):
        s = _f32(1.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        v = xs * s
        v = v * p
    codes = _encode_elements(v, spec.elem, rounding, k)
    return codes, np.zeros((0,), dtype=np.uint8), s


def _pack_codes(codes, spec):
    """Element codes (rows, length) -> storage bytes (rows, row_bytes)."""
    rows, length = codes.shape
    if spec.bits == 4:
        # Two codes per byte, lower index in the low nibble; odd length pads
        # the last high nibble with 0.
        padded = np.zeros((rows, length + (length & 1)), dtype=np.int64)
        padded[:, :length] = codes
        return (padded[:, 0::2] | (padded[:, 1::2] << 4)).astype(np.uint8)
    if spec.bits == 8:
        return codes.astype(np.uint8)
    if spec.bits == 16:
        return np.ascontiguousarray(codes.astype("<u2")).view(np.uint8).reshape(rows, 2 * length)
    raise AssertionError("unreachable")


def unpack_codes(q):
    """Element codes of a :class:`RefQTensor` in storage layout (rows, length).

    Returns int64 codes for E2M1/FP8, int64 BF16 codes, and for fp32 the
    float32 values themselves.
    """
    spec = _spec(q.format)
    rows, length = q.codes.shape[0], q.length
    b = np.asarray(q.codes, dtype=np.uint8)
    if spec.bits == 4:
        both = np.empty((rows, 2 * b.shape[1]), dtype=np.int64)
        both[:, 0::2] = b & 0x0F
        both[:, 1::2] = b >> 4
        return both[:, :length]
    if spec.bits == 8:
        return b.astype(np.int64)
    if spec.bits == 16:
        return np.ascontiguousarray(b).view("<u2").reshape(rows, length).astype(np.int64)
    return np.ascontiguousarray(b).view("<f4").reshape(rows, length).astype(np.float32)


# ----------------------------------------------------------------------------
# Public API


def quantize(
    x,
    fmt,
    axis=-1,
    rounding="nearest",
    scale_rule="floor",
    prescale=1.0,
    block_2d=False,
    seed=0,
):
    """Quantize ``x`` along ``axis`` (NUMERICS §2).

    Parameters
    ----------
    x : array_like
        Input; converted to float32 first (as the binding's forcecast
        does). At least one dimension.
    fmt : str
        One of ``FORMATS``.
    axis : int, default -1
        Quantization axis (blocks run along it).
    rounding : {"nearest", "nearest_away", "stochastic"}
        Element rounding. Stochastic noise for an element is
        ``uniform_bits(seed, 0, i) >> 8`` with ``i`` its flat C-order index
        in ``x``. Ignored for fp32.
    scale_rule : {"floor", "ceil", "rceil", "even"}
        E8M0 scale rule of MX formats; validated but unused by the others.
    prescale : float, default 1.0
        ``p``: elements are ``p * x / X`` before rounding, dequantization
        divides by ``p``. Must be finite and positive; must be 1 for bf16
        and fp32. Converted to float32.
    block_2d : bool, default False
        Scales cover ``block x block`` tiles (32x32 MX, 16x16 NVFP4) of a
        2-D array; block formats only.
    seed : int, default 0
        Philox seed (modulo 2**64).

    Returns
    -------
    RefQTensor
    """
    spec = _spec(fmt)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: expected one of {ROUNDINGS}, got {rounding!r}")
    if scale_rule not in SCALE_RULES:
        raise ValueError(f"scale_rule: expected one of {SCALE_RULES}, got {scale_rule!r}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 1:
        raise ValueError("x: expected an array with at least one dimension")
    axis = _normalize_axis(axis, x.ndim)
    p = _f32(prescale)
    if not (np.isfinite(p) and p > 0):
        raise ValueError(f"prescale: expected a finite positive number, got {prescale!r}")
    if spec.kind in ("bf16", "fp32") and p != 1:
        raise ValueError(f"prescale: must be 1 for {fmt}, got {prescale!r}")
    block_2d = bool(block_2d)
    if block_2d and spec.block == 0:
        raise ValueError(f"block_2d: {fmt} has no block scales")
    if block_2d and x.ndim != 2:
        raise ValueError(f"block_2d: 2-D tiles need a 2-D array, got {x.ndim} dims")

    xs = _storage_view(x, axis)
    rows, length = xs.shape
    k = None
    if rounding == "stochastic" and spec.kind != "fp32":
        k = stochastic_k(seed, _flat_index(x.shape, axis))

    if spec.kind == "fp32":
        codes = np.ascontiguousarray(xs.astype("<f4")).view(np.uint8).reshape(rows, 4 * length)
        scales, tscale = np.zeros((0,), np.uint8), _f32(1.0)
    elif spec.kind == "bf16":
        codes = _pack_codes(fm.encode(xs, "bf16", rounding, k).astype(np.int64), spec)
        scales, tscale = np.zeros((0,), np.uint8), _f32(1.0)
    else:
        if spec.kind == "mx":
            elem_codes, scales, tscale = _quantize_mx(
                xs, spec, rounding, scale_rule, p, block_2d, k
            )
        elif spec.kind == "nvfp4":
            elem_codes, scales, tscale = _quantize_nvfp4(xs, spec, rounding, p, block_2d, k)
        else:
            elem_codes, scales, tscale = _quantize_tensor_fp8(xs, spec, rounding, p, k)
        codes = _pack_codes(elem_codes, spec)
    return RefQTensor(
        codes=codes,
        scales=scales,
        tensor_scale=_f32(tscale),
        shape=tuple(int(d) for d in x.shape),
        axis=axis,
        format=fmt,
        rounding=rounding,
        scale_rule=scale_rule,
        prescale=p,
        block_2d=block_2d,
        seed=int(seed),
    )


def _dequantize_storage(q):
    """Dequantized values in storage layout (rows, length), float32."""
    spec = _spec(q.format)
    elems = unpack_codes(q)
    if spec.kind == "fp32":
        return elems
    if spec.kind == "bf16":
        return fm.decode(elems, "bf16")
    rows, length = elems.shape
    vals = fm.decode(elems, spec.elem)  # exact element values
    p = _f32(q.prescale)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if spec.kind == "mx":
            X = fm.decode(q.scales, "e8m0")  # 2^e, NaN for 0xFF
            y = vals * _expand_blocks(X, rows, length, spec.block, q.block_2d)  # exact
        elif spec.kind == "nvfp4":
            S = fm.decode(q.scales, "e4m3")  # NaN for 0x7F
            s_dec = _f32(1.0) / _f32(q.tensor_scale)
            y = vals * _expand_blocks(S, rows, length, spec.block, q.block_2d)  # RN(code * S)
            y = y * s_dec  # RN(. * s_dec)
        else:  # per-tensor FP8
            y = vals / _f32(q.tensor_scale)  # RN(code / s)
        if p != 1:
            y = y / p  # RN(y / p)
    return y.astype(np.float32)


def dequantize(q):
    """Dequantize a :class:`RefQTensor` to float32 of its logical shape.

    Blocks with a NaN scale (they held NaN or Inf) give NaN in every
    element. See NUMERICS §2 for the exact float32 order per format.
    """
    y = _dequantize_storage(q)
    axis = q.axis
    moved_shape = tuple(d for i, d in enumerate(q.shape) if i != axis) + (q.shape[axis],)
    return np.ascontiguousarray(np.moveaxis(y.reshape(moved_shape), -1, axis))


def fake_quantize(
    x,
    fmt,
    axis=-1,
    rounding="nearest",
    scale_rule="floor",
    prescale=1.0,
    block_2d=False,
    seed=0,
):
    """``dequantize(quantize(x, ...))``; same parameters as :func:`quantize`.

    Returns
    -------
    numpy.ndarray of float32
        Same shape as ``x``.
    """
    return dequantize(
        quantize(
            x,
            fmt,
            axis=axis,
            rounding=rounding,
            scale_rule=scale_rule,
            prescale=prescale,
            block_2d=block_2d,
            seed=seed,
        )
    )
