"""Blockwise Hadamard transforms and their specification.

Public: hadamard, hadamard_inverse, HadamardSpec, SIGN_POLICIES.
Internal: _fused_args (what fp4train.quantize(..., hadamard=spec) passes to C++).

The transform (DESIGN §2, docs/NUMERICS.md §4) maps every run ``x`` of
``size`` consecutive elements along ``axis`` to ``(x * s) @ H``, with ``H``
the Sylvester Hadamard matrix of order ``size`` divided by ``sqrt(size)``
(orthonormal and symmetric) and ``s`` a vector of +-1 signs (all +1 when
``signs`` is None). The inverse maps ``y`` to ``(y @ H) * s``. If both
operands of ``A @ B.T`` are transformed along K with the same signs, the
product is unchanged in exact arithmetic.

Computation runs in C++ in float32 with a fixed butterfly order (stages
h = 1, 2, 4, ..., then one multiply by RN(1/sqrt(size))), so the bits are the
same for every SIMD path and thread count. Non-finite inputs propagate as
IEEE arithmetic does: a NaN in a run makes that whole run NaN; an Inf makes
it +-Inf or NaN; other runs are untouched.
"""
import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from . import _core

SIGN_POLICIES = ("none", "fixed", "per_step")
MIN_SIZE = 2
MAX_SIZE = 32768


def _check_size(size, arg="size"):
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
        raise TypeError(f"argument '{arg}': expected an int, got {type(size).__name__}")
    size = int(size)
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ValueError(f"argument '{arg}': expected a power of two in [{MIN_SIZE}, "
                         f"{MAX_SIZE}], got {size}")
    return size


def _check_int(value, arg, lo=0, hi=2 ** 64):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"argument '{arg}': expected an int, got {type(value).__name__}")
    value = int(value)
    if not lo <= value < hi:
        raise ValueError(f"argument '{arg}': expected an int in [{lo}, {hi}), got {value}")
    return value


def _check_axis(axis):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"argument 'axis': expected an int, got {type(axis).__name__}")
    return int(axis)


def _check_signs(signs, size, arg="signs"):
    """None, or a length-``size`` vector of exactly +1/-1 -> float32 array."""
    if signs is None:
        return None
    if isinstance(signs, (str, bytes)):
        raise TypeError(f"argument '{arg}': expected None or a vector of +1/-1, got "
                        f"{type(signs).__name__}")
    s = np.asarray(signs)
    if s.dtype.kind not in "iuf":
        raise TypeError(f"argument '{arg}': expected a real numeric vector of +1/-1, got "
                        f"dtype {s.dtype}")
    if s.shape != (size,):
        raise ValueError(f"argument '{arg}': expected shape ({size},) (one sign per element "
                         f"of a block of size {size}), got {s.shape}")
    # Checked before the float32 conversion, which could round 1 + 1e-9 to 1.
    s64 = s.astype(np.float64)
    bad = np.flatnonzero((s64 != 1.0) & (s64 != -1.0))
    if bad.size:
        raise ValueError(f"argument '{arg}': expected entries +1 or -1, got {s[bad[0]]!r} "
                         f"at index {int(bad[0])}")
    return np.ascontiguousarray(s64, dtype=np.float32)


def hadamard(x, size, axis=-1, signs=None):
    """Blockwise normalized Hadamard transform along ``axis``.

    Parameters
    ----------
    x : array_like
        Real numeric array (converted to float32; any strides).
        ``x.shape[axis]`` must be a multiple of ``size``.
    size : int
        Block size, a power of two in [2, 32768] (2..256 for blockwise use,
        or the whole axis).
    axis : int
        The axis the blocks run along (the GEMM reduction axis).
    signs : array_like of +-1, shape (size,), optional
        The diagonal ``s``; all +1 when None.

    Returns
    -------
    numpy.ndarray of float32, x's shape: each run ``r`` becomes ``(r * s) @ H``.
    """
    size = _check_size(size)
    return _core.hadamard(x, size, _check_axis(axis), _check_signs(signs, size), False)


def hadamard_inverse(y, size, axis=-1, signs=None):
    """Inverse of :func:`hadamard`: each run ``r`` becomes ``(r @ H) * s``.

    Parameters are those of :func:`hadamard`. ``hadamard_inverse(hadamard(x))``
    equals ``x`` up to float32 rounding (exactly for small integers when
    log2(size) is even). Because H is orthonormal and symmetric, this is also
    the backward pass of :func:`hadamard`.
    """
    size = _check_size(size)
    return _core.hadamard(y, size, _check_axis(axis), _check_signs(signs, size), True)


@dataclass(frozen=True)
class HadamardSpec:
    """A blockwise Hadamard transform: block size and sign policy.

    Parameters
    ----------
    size : int
        Block length n, a power of two in [2, 32768].
    signs : {'none', 'fixed', 'per_step'}
        'none': plain Sylvester H_n (the deterministic transform). 'fixed':
        one sign vector, ``vector`` if given, else drawn once from ``seed``.
        'per_step': redrawn from (seed, step) every step.
    seed : int
        Non-negative key (< 2**64) of the drawn signs: Philox4x32-10 with
        stream 1 + step (step 0 for 'fixed'), sign_i = -1 when word i has its
        top bit set (docs/NUMERICS.md §3).
    vector : tuple of +-1, optional
        Explicit signs for 'fixed' (length ``size``), e.g. the published
        NVFP4 vector ``(1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1)``.
        Stored as a tuple of ints.

    Examples
    --------
    >>> spec = HadamardSpec(64, "per_step", seed=7)
    >>> spec.signs_at(3).shape
    (64,)
    >>> HadamardSpec.from_dict(spec.to_dict()) == spec
    True
    """

    size: int
    signs: str = "none"
    seed: int = 0
    vector: Optional[Tuple[int, ...]] = None

    def __post_init__(self):
        _check_size(self.size, "size")
        object.__setattr__(self, "size", int(self.size))
        if not isinstance(self.signs, str):
            raise TypeError(f"argument 'signs': expected a str (one of "
                            f"{', '.join(SIGN_POLICIES)}), got {type(self.signs).__name__}")
        if self.signs not in SIGN_POLICIES:
            raise ValueError(f"argument 'signs': expected one of {', '.join(SIGN_POLICIES)}, "
                             f"got {self.signs!r}")
        object.__setattr__(self, "seed", _check_int(self.seed, "seed"))
        if self.vector is not None:
            if self.signs != "fixed":
                raise ValueError("argument 'vector': an explicit sign vector needs "
                                 f"signs='fixed', got signs={self.signs!r}")
            if not isinstance(self.vector, (list, tuple, np.ndarray)):
                raise TypeError("argument 'vector': expected None or a sequence of +1/-1, "
                                f"got {type(self.vector).__name__}")
            s = _check_signs(self.vector, self.size, "vector")
            object.__setattr__(self, "vector", tuple(int(v) for v in s))

    def signs_at(self, step=0):
        """The sign vector used at training ``step``: float32 array of shape (size,).

        'none' gives all +1; 'fixed' the same vector at every step; 'per_step'
        a vector drawn from (seed, step), identical whenever replayed.
        """
        step = _check_int(step, "step")
        return _core.hadamard_signs(self.size, self.signs, self.seed,
                                    None if self.vector is None else list(self.vector), step)

    def to_dict(self):
        """JSON-friendly dict: size, signs, seed, vector (list of ints or None)."""
        return {"size": self.size, "signs": self.signs, "seed": self.seed,
                "vector": None if self.vector is None else list(self.vector)}

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict` (missing keys take their defaults)."""
        if not isinstance(d, dict):
            raise TypeError(f"argument 'd': expected a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - {"size", "signs", "seed", "vector"})
        if unknown:
            raise ValueError(f"argument 'd': unexpected keys {unknown} (allowed: size, signs, "
                             "seed, vector)")
        if "size" not in d:
            raise ValueError("argument 'd': missing key 'size'")
        vector = d.get("vector")
        return cls(d["size"], d.get("signs", "none"), d.get("seed", 0),
                   None if vector is None else tuple(vector))


def _fused_args(spec, step):
    """(size, float32 signs or None) of ``fp4train.quantize(..., hadamard=spec, step=step)``."""
    if not isinstance(spec, HadamardSpec):
        raise TypeError("argument 'hadamard': expected None or an fp4train.HadamardSpec, got "
                        f"{type(spec).__name__}")
    if spec.signs == "none":
        _check_int(step, "step")
        return spec.size, None
    return spec.size, spec.signs_at(step)
