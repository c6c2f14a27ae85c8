"""Quantized GEMM references (DESIGN §2, NUMERICS §5).

``C = A B^T`` with ``A`` (M, K) and ``B`` (N, K), both quantized along K
(axis 1).

* :func:`qgemm_exact` is the bit-exact definition for block formats: per
  K-block an exact integer dot product ``S``, one correct float32 rounding
  of ``S * ja * jb * 2^shift`` (subnormals and overflow included), float32
  accumulation over blocks in increasing K order from +0, then the
  tensor-scale and prescale steps.  Pairs where an operand is bf16 or fp32
  go through :func:`gemm_f32_fma` on the dequantized operands.
* :func:`qgemm_f64` is the tolerance oracle: the float64 product of the
  dequantized operands.
* :func:`gemm_f32_fma` is the float32 GEMM definition: ``acc = fma(a, b,
  acc)`` in K order, with an exact emulation of a single-rounding fma.
* :func:`round_to_f32` rounds ``numerator * 2^exp2`` (integers) to the
  nearest float32, ties to even, with gradual underflow and overflow to
  infinity, using only integer arithmetic.

Public names
------------
qgemm_exact, qgemm_f64, gemm_f32_fma, fma_f32, round_to_f32

Internal names
--------------
_operand_parts, _round_block_products, _nonfinite_block_sums,
_tensor_decode_factor, _check_operands, _FLT_MAX_HALFWAY
"""

from dataclasses import dataclass

import numpy as np

from . import formats as fm
from . import quant as qt

__all__ = ["qgemm_exact", "qgemm_f64", "gemm_f32_fma", "fma_f32", "round_to_f32"]

_BLOCK_FORMAT_KINDS = ("mxfp4", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "fp8_e4m3", "fp8_e5m2")
_TENSOR_FP8_VIRTUAL_BLOCK = 32  # NUMERICS §5: per-tensor FP8 uses virtual blocks of 32
# The exact real number halfway between FLT_MAX and 2^128: float32 RN sends
# values at or above it to infinity (FLT_MAX's mantissa is odd).
_FLT_MAX_HALFWAY = 2.0**128 - 2.0**103


# ----------------------------------------------------------------------------
# Correct rounding of integers times powers of two


def round_to_f32(numerator, exp2):
    """Round ``numerator * 2^exp2`` to float32, round-half-to-even.

    Parameters
    ----------
    numerator : int
        Any Python integer (arbitrary size).
    exp2 : int
        Power-of-two exponent.

    Returns
    -------
    numpy.float32
        The correctly rounded value: subnormal results are rounded on the
        2^-149 grid (gradual underflow), results of magnitude ``>= 2^128``
        after rounding are +-Inf, and 0 gives +0.0.
    """
    numerator, exp2 = int(numerator), int(exp2)
    if numerator == 0:
        return np.float32(0.0)
    negative = numerator < 0
    mag = -numerator if negative else numerator
    top = mag.bit_length() - 1 + exp2  # exponent of the leading bit
    # Quantum of the result: 24 significant bits, but never below 2^-149.
    q_exp = max(top - 23, -149)
    shift = q_exp - exp2  # low bits of mag that fall below the quantum
    if shift <= 0:
        kept = mag << -shift  # exact
    else:
        kept = mag >> shift
        rem = mag - (kept << shift)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and kept & 1):
            kept += 1
    # kept <= 2^24 and q_exp >= -149: kept * 2^q_exp is exact in float64.
    if kept.bit_length() + q_exp > 128:  # value >= 2^128: overflow
        value = np.inf
    else:
        value = float(np.ldexp(float(kept), q_exp))
    value = -value if negative else value
    return np.float32(value)  # exact (value is a float32 or +-Inf)


def _round_block_products(P, exp2):
    """Vectorized ``round_to_f32`` for integer arrays ``P`` and ``exp2``.

    When ``|P| < 2^53`` the float64 ``ldexp(P, exp2)`` is exact (the
    exponents stay far inside float64's range), so a single float64 ->
    float32 conversion is the one correct rounding. Otherwise (only E5M2
    products get that large) fall back to integer rounding per element.
    """
    exp2 = np.broadcast_to(exp2, P.shape)
    small = np.abs(P) < 2**53  # elementwise; works on object (Python int) arrays too
    small = np.asarray(small, dtype=bool)
    P_small = np.where(small, P, 0).astype(np.int64)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(P_small.astype(np.float64), exp2).astype(np.float32)
    for idx in zip(*np.nonzero(~small)):
        out[idx] = round_to_f32(int(P[idx]), int(exp2[idx]))
    return out


# ----------------------------------------------------------------------------
# Exact fma


def fma_f32(a, b, c):
    """Exact float32 ``fma(a, b, c)``: ``RN(a * b + c)`` with one rounding.

    Parameters
    ----------
    a, b, c : array_like of float32
        Broadcastable.

    Returns
    -------
    numpy.ndarray of float32

    Notes
    -----
    ``a * b`` of two float32 is exact in float64 (48 significant bits). The
    float64 sum ``s = RN64(a*b + c)`` then rounds once more; converting it to
    float32 is correct unless that double rounding matters, which happens
    only when ``s`` lies exactly halfway between two float32 numbers while
    the exact sum does not (a float32 midpoint strictly between the exact
    sum and ``s`` would be a float64 number closer to the exact sum than
    ``s``). The exact error ``err = (a*b + c) - s`` comes from Knuth's
    TwoSum; in the halfway case the sign of ``err`` decides the direction.
    """
    a64 = np.asarray(a, dtype=np.float32).astype(np.float64)
    b64 = np.asarray(b, dtype=np.float32).astype(np.float64)
    c64 = np.asarray(c, dtype=np.float32).astype(np.float64)
    return _fma_from_product(a64 * b64, c64)


def _fma_from_product(p, c64):
    """``RN32(p + c)`` exactly, for ``p`` an exact float64 product."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c64
        # TwoSum: p + c == s + err exactly (finite operands).
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)
        r = s.astype(np.float32)
        r64 = r.astype(np.float64)
        inexact = np.isfinite(s) & np.isfinite(err) & (err != 0)
        # Neighbour of r on the side of s, and the midpoint between them.
        toward = np.where(s > r64, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        other = np.nextafter(r, toward)
        halfway = np.isfinite(r) & (s != r64) & ((r64 + other.astype(np.float64)) / 2.0 == s)
        # Exact sum lies beyond s on the side of `other` -> take `other`.
        go_other = inexact & halfway & (np.sign(err) == np.sign(s - r64))
        out = np.where(go_other, other, r)
        # Overflow boundary: s exactly at the FLT_MAX / 2^128 midpoint rounds
        # to Inf, but an exact sum just below it must give FLT_MAX.
        at_edge = inexact & (np.abs(s) == _FLT_MAX_HALFWAY) & (np.sign(err) != np.sign(s))
        flt_max = np.float32(np.finfo(np.float32).max)
        out = np.where(at_edge, np.where(s > 0, flt_max, -flt_max), out)
    return np.asarray(out, dtype=np.float32)


def gemm_f32_fma(a, b):
    """The float32 GEMM definition: ``C = A B^T``, fma in increasing K order.

    ``acc = +0; for k in 0..K-1: acc = fma(a[m, k], b[n, k], acc)``.

    Parameters
    ----------
    a : array_like of float32, shape (M, K)
    b : array_like of float32, shape (N, K)

    Returns
    -------
    numpy.ndarray of float32, shape (M, N)
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a, b: expected (M, K) and (N, K), got {a.shape} and {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    acc = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    for k in range(a.shape[1]):
        with np.errstate(invalid="ignore", over="ignore"):
            p = a64[:, k, None] * b64[None, :, k]  # exact products
        acc = _fma_from_product(p, acc.astype(np.float64))
    return acc


# ----------------------------------------------------------------------------
# Exact quantized GEMM


@dataclass
class _Operand:
    """One operand split into integers and powers of two, per K-block.

    ``value[r, k] = ints[r, k] * 2^-elem_shift * j[r, b] * 2^e[r, b]`` for
    ``k`` in block ``b``.
    """

    ints: np.ndarray  # (rows, K) int64 or object; 0 where the element is non-finite
    elem_shift: int  # E2M1: 1, E4M3: 9, E5M2: 16
    values: np.ndarray  # (rows, K) decoded element values (float64), for NaN/Inf handling
    nonfinite: np.ndarray  # (rows, K) bool: element code is NaN or Inf (per-tensor FP8 only)
    j: np.ndarray  # (rows, nblocks) int64 block-scale integer
    e: np.ndarray  # (rows, nblocks) int64 block-scale exponent
    scale_nan: np.ndarray  # (rows, nblocks) bool
    block: int
    max_int: int  # bound on |ints|
    max_j: int  # bound on |j|


def _operand_parts(q):
    """Decompose a block-format QTensor of shape (rows, K) along axis 1."""
    elem = qt.element_format(q.format)
    codes = qt.unpack_codes(q)  # (rows, K)
    rows, K = codes.shape
    values = fm.decode(codes, elem).astype(np.float64)
    nonfinite = ~np.isfinite(values)
    # Every finite element is an integer multiple of the smallest subnormal.
    elem_shift = -int(fm.exponent_of(fm.format_info(elem).min_subnormal))
    scaled = np.ldexp(np.where(nonfinite, 0.0, values), elem_shift)
    ints = scaled.astype(np.int64)
    assert np.array_equal(ints, scaled), "element not an integer multiple of 2^-shift"
    max_int = int(np.ldexp(fm.format_info(elem).max_finite, elem_shift))

    kind = qt._spec(q.format).kind
    if kind == "tensor":
        block = _TENSOR_FP8_VIRTUAL_BLOCK
        nblocks = -(-K // block)
        j = np.ones((rows, nblocks), dtype=np.int64)
        e = np.zeros((rows, nblocks), dtype=np.int64)
        scale_nan = np.zeros((rows, nblocks), dtype=bool)
        max_j = 1
    else:
        block = qt.block_size(q.format)
        # Scale row of each storage row: r, or r // block with 2-D tiles.
        srow = np.arange(rows) // block if q.block_2d else np.arange(rows)
        sc = np.asarray(q.scales)[srow].astype(np.int64)
        if kind == "mx":  # E8M0: 1 * 2^(code - 127); 0xFF is NaN
            scale_nan = sc == 0xFF
            j = np.ones_like(sc)
            e = np.where(scale_nan, 0, sc - 127)
            max_j = 1
        else:  # nvfp4: E4M3 = j * 2^-9
            S = fm.decode(sc, "e4m3").astype(np.float64)
            scale_nan = np.isnan(S)
            js = np.ldexp(np.where(scale_nan, 0.0, S), 9)
            j = js.astype(np.int64)
            assert np.array_equal(j, js)
            e = np.full_like(sc, -9)
            max_j = int(np.ldexp(448.0, 9))
    return _Operand(ints, elem_shift, values, nonfinite, j, e, scale_nan, block, max_int, max_j)


def _tensor_decode_factor(q):
    """``d = RN(1 / tensor_scale)`` for NVFP4 and per-tensor FP8, else 1."""
    if qt._spec(q.format).kind in ("nvfp4", "tensor"):
        with np.errstate(divide="ignore", over="ignore"):
            return np.float32(1.0) / np.float32(q.tensor_scale)
    return np.float32(1.0)


def _nonfinite_block_sums(va, vb):
    """IEEE float64 sum of products for blocks holding NaN/Inf elements.

    Used only where an element code itself is NaN or Inf (per-tensor FP8):
    the block result is then NaN or +-Inf, whichever IEEE arithmetic gives
    (Inf * 0 and Inf - Inf are NaN); its finite terms cannot matter.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return (va[:, None, :] * vb[None, :, :]).sum(axis=2)


def _check_operands(qa, qb):
    for name, q in (("qa", qa), ("qb", qb)):
        if len(q.shape) != 2 or q.axis != 1:
            raise ValueError(
                f"{name}: expected a 2-D tensor quantized along axis 1, "
                f"got shape {q.shape}, axis {q.axis}"
            )
    if qa.shape[1] != qb.shape[1]:
        raise ValueError(f"qa, qb: K mismatch, {qa.shape[1]} vs {qb.shape[1]}")


def qgemm_exact(qa, qb):
    """Bit-exact quantized GEMM ``C = A B^T`` (NUMERICS §5).

    Parameters
    ----------
    qa : RefQTensor
        A, shape (M, K), quantized along axis 1.
    qb : RefQTensor
        B, shape (N, K), quantized along axis 1.

    Returns
    -------
    numpy.ndarray of float32, shape (M, N)

    Notes
    -----
    For block formats (MX, NVFP4, per-tensor FP8 with virtual blocks of 32),
    per K-block ``b``::

        S   = sum_k ia_k * ib_k                       exact integers
        t   = RN(S * ja * jb * 2^(ea + eb - shifts))  one rounding
        acc = RN(acc + t)                             float32, from +0

    A NaN block scale makes ``t`` NaN. Then ``C = RN(acc * RN(d_a * d_b))``
    with ``d = RN(1 / tensor_scale)`` for NVFP4 and FP8 (1 otherwise), and
    ``C = RN(C / p_a)``, ``C = RN(C / p_b)`` for each prescale != 1. If either
    operand is bf16 or fp32, both are dequantized and multiplied by
    :func:`gemm_f32_fma`.
    """
    _check_operands(qa, qb)
    if qa.format not in _BLOCK_FORMAT_KINDS or qb.format not in _BLOCK_FORMAT_KINDS:
        return gemm_f32_fma(qt.dequantize(qa), qt.dequantize(qb))

    A, B = _operand_parts(qa), _operand_parts(qb)
    if A.block != B.block:
        raise ValueError(f"qa, qb: block sizes along K differ ({A.block} vs {B.block})")
    M, K = A.ints.shape
    N = B.ints.shape[0]
    block = A.block
    shift = A.elem_shift + B.elem_shift
    # Python ints when the exact products could overflow int64 / float64.
    bound = block * A.max_int * B.max_int * A.max_j * B.max_j
    big = bound >= 2**53
    ia = A.ints.astype(object) if big else A.ints
    ib = B.ints.astype(object) if big else B.ints

    acc = np.zeros((M, N), dtype=np.float32)
    for bk in range(-(-K // block)):
        ks = slice(bk * block, min((bk + 1) * block, K))
        S = ia[:, ks] @ ib[:, ks].T  # exact integer block dot products
        P = S * A.j[:, bk, None] * B.j[None, :, bk]
        exp2 = A.e[:, bk, None] + B.e[None, :, bk] - shift
        t = _round_block_products(P, exp2)
        # Elements that are NaN/Inf codes (per-tensor FP8): IEEE block result.
        nf = A.nonfinite[:, ks].any(axis=1)[:, None] | B.nonfinite[:, ks].any(axis=1)[None, :]
        if nf.any():
            ieee = _nonfinite_block_sums(A.values[:, ks], B.values[:, ks]).astype(np.float32)
            t = np.where(nf, ieee, t)
        t = np.where(A.scale_nan[:, bk, None] | B.scale_nan[None, :, bk], np.float32(np.nan), t)
        with np.errstate(over="ignore", invalid="ignore"):
            acc = acc + t.astype(np.float32)  # RN(acc + t), blocks in K order

    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        d = _tensor_decode_factor(qa) * _tensor_decode_factor(qb)  # RN(d_a * d_b)
        C = acc * d
        for p in (np.float32(qa.prescale), np.float32(qb.prescale)):
            if p != 1:
                C = C / p
    return C.astype(np.float32)


def qgemm_f64(qa, qb):
    """Tolerance oracle: float64 ``dequantize(qa) @ dequantize(qb).T``.

    Parameters and shapes as :func:`qgemm_exact`; returns float64 (M, N).
    """
    _check_operands(qa, qb)
    a = qt.dequantize(qa).astype(np.float64)
    b = qt.dequantize(qb).astype(np.float64)
    return a @ b.T
