"""Philox4x32-10 counter-based generator, vectorized in numpy (NUMERICS §3).

This is the noise source of stochastic rounding and of Hadamard sign
vectors.  A counter-based generator maps ``(key, counter)`` to random bits
with no state, so the bits of element ``i`` never depend on how the work is
split across threads or blocks.

The algorithm is Philox4x32 with 10 rounds from Salmon, Moraes, Dror and
Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), with the
Random123 constants.  All 32-bit arithmetic is done in ``uint64`` numpy
arrays so that the 32x32 -> 64-bit products are exact, and results are
masked back to 32 bits.

Public names
------------
philox4x32_10
    The raw block function: four 32-bit counter words and two key words in,
    four 32-bit words out.
uniform_bits
    The fp4train mapping from ``(seed, stream, element index)`` to one
    32-bit word, exactly as NUMERICS §3 defines it.
PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1
    The Random123 round multipliers and key increments.

Internal names
--------------
_mulhilo, _round, _as_u64_words, _split64
"""

import numpy as np

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "philox4x32_10",
    "uniform_bits",
]

# Random123 constants for philox4x32 (philox.h: PHILOX_M4x32_0/1, PHILOX_W32_0/1).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9  # golden ratio
PHILOX_W1 = 0xBB67AE85  # sqrt(3) - 1

_ROUNDS = 10
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _mulhilo(multiplier, x):
    """Return the high and low 32-bit halves of ``multiplier * x``.

    ``x`` is a ``uint64`` array holding 32-bit values; the product of two
    values below 2**32 is below 2**64, so ``uint64`` holds it exactly.
    """
    product = np.uint64(multiplier) * x
    return product >> _SHIFT32, product & _MASK32


def _round(c0, c1, c2, c3, k0, k1):
    """One Philox4x32 S-box round (Random123 ``_philox4x32round``)."""
    hi0, lo0 = _mulhilo(PHILOX_M0, c0)
    hi1, lo1 = _mulhilo(PHILOX_M1, c2)
    return (
        hi1 ^ c1 ^ np.uint64(k0),
        lo1,
        hi0 ^ c3 ^ np.uint64(k1),
        lo0,
    )


def _as_u64_words(value, name):
    """Convert an integer or integer array of 32-bit words to ``uint64``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 0xFFFFFFFF):
        raise ValueError(f"{name}: expected 32-bit words in [0, 2**32)")
    return arr.astype(np.uint64)


def philox4x32_10(counter, key):
    """Philox4x32-10 block function.

    Parameters
    ----------
    counter : sequence of 4 int or array_like of int
        The counter words ``(c0, c1, c2, c3)``, each in ``[0, 2**32)``.
        Arrays broadcast against each other.
    key : sequence of 2 int
        The key words ``(k0, k1)``, each in ``[0, 2**32)``.

    Returns
    -------
    tuple of 4 numpy.ndarray of uint32
        The output words ``(x0, x1, x2, x3)``.

    Notes
    -----
    Ten rounds; the key is bumped by ``(W0, W1)`` modulo 2**32 before each
    round after the first, i.e. after each of the first nine rounds.
    """
    if len(counter) != 4:
        raise ValueError("counter: expected 4 words")
    if len(key) != 2:
        raise ValueError("key: expected 2 words")
    c = np.broadcast_arrays(*[_as_u64_words(w, f"counter[{i}]") for i, w in enumerate(counter)])
    c0, c1, c2, c3 = (np.array(w) for w in c)
    k0, k1 = (int(w) for w in key)
    if not (0 <= k0 <= 0xFFFFFFFF and 0 <= k1 <= 0xFFFFFFFF):
        raise ValueError("key: expected 32-bit words in [0, 2**32)")
    for r in range(_ROUNDS):
        if r > 0:
            # Key schedule on Python ints so the wrap-around is explicit.
            k0 = (k0 + PHILOX_W0) & 0xFFFFFFFF
            k1 = (k1 + PHILOX_W1) & 0xFFFFFFFF
        c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return tuple(w.astype(np.uint32) for w in (c0, c1, c2, c3))


def _split64(value):
    """Split a Python int, taken modulo 2**64, into ``(lo32, hi32)``.

    Negative values wrap (two's complement), as a C++ ``int64 -> uint64``
    conversion would.
    """
    v = int(value) & 0xFFFFFFFFFFFFFFFF
    return v & 0xFFFFFFFF, v >> 32


def uniform_bits(seed, stream, index):
    """32 uniform random bits for each element index (NUMERICS §3).

    Parameters
    ----------
    seed : int
        The generator seed, taken modulo 2**64. Key = ``(lo32(seed),
        hi32(seed))``.
    stream : int
        The stream, taken modulo 2**64: 0 for quantization noise,
        ``1 + step`` for Hadamard sign vectors.
    index : array_like of int
        Non-negative element indices (flat C-order index in the logical
        array for quantization). Any shape.

    Returns
    -------
    numpy.ndarray of uint32
        Same shape as ``index``: word ``index & 3`` of
        ``philox4x32_10(counter=(lo32(index >> 2), hi32(index >> 2),
        lo32(stream), hi32(stream)), key)``.
    """
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index: expected integers, got dtype {idx.dtype}")
    if idx.size and int(idx.min()) < 0:
        raise ValueError("index: expected non-negative element indices")
    idx = idx.astype(np.uint64)
    block = idx >> np.uint64(2)  # four consecutive indices share one Philox call
    lane = (idx & np.uint64(3)).astype(np.intp)
    s_lo, s_hi = _split64(stream)
    key = _split64(seed)
    words = philox4x32_10(
        (block & _MASK32, block >> _SHIFT32, s_lo, s_hi),
        key,
    )
    out = np.choose(lane, words) if idx.ndim else words[int(lane)]
    return np.asarray(out, dtype=np.uint32)
