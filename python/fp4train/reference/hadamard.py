"""Blockwise Hadamard transform references (DESIGN §2, NUMERICS §3, §4).

Two oracles:

* :func:`hadamard` / :func:`hadamard_inverse` build the normalized
  Sylvester matrix explicitly (``np.kron``) and multiply in float64.  They
  are the *tolerance* oracle: obviously right, not bit-compatible with any
  float32 kernel.
* :func:`hadamard_fwht_f32` / :func:`hadamard_inverse_fwht_f32` follow the
  float32 butterfly order of NUMERICS §4 exactly (stages h = 1, 2, 4, ...,
  pairs ``(a + b, a - b)``, then one multiply by ``RN(1/sqrt(n))``).  They
  are the *bit-exact* oracle for the C++ fast transform.

The transform maps each contiguous run ``x`` of ``n`` elements along
``axis`` to ``(x * s) @ H_n``; the inverse maps ``y`` to ``(y @ H_n) * s``.
The axis length must be a multiple of ``n``.

Public names
------------
sylvester
    The normalized Sylvester-Hadamard matrix of order ``n`` (float64).
hadamard, hadamard_inverse
    float64 blockwise transform and inverse by explicit matrix product.
hadamard_fwht_f32, hadamard_inverse_fwht_f32
    float32 butterfly transform and inverse in the NUMERICS §4 order.
inv_sqrt_f32
    ``RN(1/sqrt(n))`` as float32, the butterflies' final factor.
signs_from_seed
    The +-1 sign vector of a seed and step (NUMERICS §3, stream 1 + step).

Internal names
--------------
_check_n, _check_signs, _runs, _unruns
"""

import numpy as np

from .philox import uniform_bits

__all__ = [
    "sylvester",
    "hadamard",
    "hadamard_inverse",
    "hadamard_fwht_f32",
    "hadamard_inverse_fwht_f32",
    "inv_sqrt_f32",
    "signs_from_seed",
]


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or (n & (n - 1)):
        raise ValueError(f"n: expected a power of two >= 1, got {n!r}")
    return int(n)


def _check_signs(signs, n):
    """Validate a sign vector; ``None`` means all +1."""
    if signs is None:
        return np.ones(n, dtype=np.float64)
    s = np.asarray(signs, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"signs: expected shape ({n},), got {s.shape}")
    if not np.all((s == 1) | (s == -1)):
        raise ValueError("signs: expected entries +1 or -1")
    return s


def _runs(x, n, axis):
    """View ``x`` as (..., length / n, n) runs along ``axis`` (moved last)."""
    if x.ndim < 1:
        raise ValueError("x: expected an array with at least one dimension")
    moved = np.moveaxis(x, axis, -1)
    length = moved.shape[-1]
    if length % n:
        raise ValueError(f"x: axis length {length} is not a multiple of n={n}")
    return moved.reshape(moved.shape[:-1] + (length // n, n))


def _unruns(runs, axis):
    """Inverse of :func:`_runs`."""
    moved = runs.reshape(runs.shape[:-2] + (runs.shape[-2] * runs.shape[-1],))
    return np.ascontiguousarray(np.moveaxis(moved, -1, axis))


def sylvester(n):
    """Normalized Sylvester-Hadamard matrix of order ``n``.

    ``H_1 = [1]``, ``H_2m = [[H_m, H_m], [H_m, -H_m]]`` (a Kronecker product
    with ``[[1, 1], [1, -1]]``), divided by ``sqrt(n)`` so it is orthonormal
    and symmetric.

    Parameters
    ----------
    n : int
        A power of two.

    Returns
    -------
    numpy.ndarray of float64, shape (n, n)
    """
    n = _check_n(n)
    h = np.ones((1, 1))
    h2 = np.array([[1.0, 1.0], [1.0, -1.0]])
    while h.shape[0] < n:
        h = np.kron(h2, h)
    return h / np.sqrt(n)


def hadamard(x, n, axis=-1, signs=None):
    """Blockwise Hadamard transform in float64: each run ``x -> (x * s) @ H_n``.

    Parameters
    ----------
    x : array_like
        Input (converted to float64); ``x.shape[axis]`` a multiple of ``n``.
    n : int
        Transform size, a power of two.
    axis : int, default -1
    signs : array_like of +-1, shape (n,), optional
        The diagonal ``s``; all +1 when None.

    Returns
    -------
    numpy.ndarray of float64, same shape as ``x``.
    """
    n = _check_n(n)
    s = _check_signs(signs, n)
    runs = _runs(np.asarray(x, dtype=np.float64), n, axis)
    return _unruns((runs * s) @ sylvester(n), axis)


def hadamard_inverse(y, n, axis=-1, signs=None):
    """Inverse of :func:`hadamard` in float64: each run ``y -> (y @ H_n) * s``.

    Parameters are those of :func:`hadamard`.
    """
    n = _check_n(n)
    s = _check_signs(signs, n)
    runs = _runs(np.asarray(y, dtype=np.float64), n, axis)
    return _unruns((runs @ sylvester(n)) * s, axis)


def inv_sqrt_f32(n):
    """``RN(1/sqrt(n))`` as a float32 scalar.

    Computed as float32 of the float64 ``1/sqrt(n)``. For even ``log2(n)``
    this is an exact power of two. For odd ``log2(n)`` it is
    ``2^-(k+1) * sqrt(2)``; the tests check against an exact integer-sqrt
    computation that this double-rounded value is the correctly rounded one.
    """
    n = _check_n(n)
    return np.float32(1.0 / np.sqrt(np.float64(n)))


def _butterflies_f32(runs):
    """Unnormalized in-place-order FWHT on the last axis, float32, NUMERICS §4.

    Stage ``h = 1, 2, 4, ...``: for every pair ``(j, j + h)`` inside each
    group of ``2h`` elements, ``(a, b) -> (a + b, a - b)``; each sum and
    difference is one float32 rounding.
    """
    v = runs.astype(np.float32, copy=True)
    n = v.shape[-1]
    h = 1
    while h < n:
        groups = v.reshape(v.shape[:-1] + (n // (2 * h), 2, h))
        a = groups[..., 0, :].copy()
        b = groups[..., 1, :].copy()
        groups[..., 0, :] = a + b
        groups[..., 1, :] = a - b
        v = groups.reshape(v.shape)
        h *= 2
    return v


def hadamard_fwht_f32(x, n, axis=-1, signs=None):
    """Blockwise Hadamard transform in float32 with the NUMERICS §4 order.

    Each run is multiplied by the signs (exact), transformed by the
    unnormalized butterflies (stages h = 1, 2, 4, ...), then multiplied by
    :func:`inv_sqrt_f32` ``(n)``.

    Parameters
    ----------
    x : array_like
        Input, converted to float32; ``x.shape[axis]`` a multiple of ``n``.
    n : int
        Transform size, a power of two.
    axis : int, default -1
    signs : array_like of +-1, shape (n,), optional

    Returns
    -------
    numpy.ndarray of float32, same shape as ``x``.
    """
    n = _check_n(n)
    s = _check_signs(signs, n).astype(np.float32)
    runs = _runs(np.asarray(x, dtype=np.float32), n, axis)
    with np.errstate(over="ignore", invalid="ignore"):
        v = _butterflies_f32(runs * s)  # multiplying by +-1 is exact
        v = v * inv_sqrt_f32(n)
    return _unruns(v, axis)


def hadamard_inverse_fwht_f32(y, n, axis=-1, signs=None):
    """Inverse of :func:`hadamard_fwht_f32`: butterflies, scale, then signs.

    Parameters are those of :func:`hadamard_fwht_f32`.
    """
    n = _check_n(n)
    s = _check_signs(signs, n).astype(np.float32)
    runs = _runs(np.asarray(y, dtype=np.float32), n, axis)
    with np.errstate(over="ignore", invalid="ignore"):
        v = _butterflies_f32(runs)
        v = v * inv_sqrt_f32(n)
        v = v * s
    return _unruns(v, axis)


def signs_from_seed(n, seed, step=0):
    """Random sign vector for a ``fixed`` (step 0) or ``per_step`` Hadamard.

    ``sign_i = -1`` when the top bit of ``uniform_bits(seed, 1 + step, i)``
    is set, else +1 (NUMERICS §3).

    Parameters
    ----------
    n : int
        Vector length (the transform size).
    seed : int
        Philox seed.
    step : int, default 0
        Training step for the ``per_step`` policy; stream ``1 + step``.

    Returns
    -------
    numpy.ndarray of float32, shape (n,), entries +-1.
    """
    n = _check_n(n)
    words = uniform_bits(seed, 1 + int(step), np.arange(n, dtype=np.int64))
    top = (words >> np.uint32(31)) == 1
    return np.where(top, np.float32(-1.0), np.float32(1.0)).astype(np.float32)
