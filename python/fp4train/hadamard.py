"""Blockwise Hadamard transforms and their specification.

Public: HadamardSpec (more is added by the Hadamard module).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

SIGN_POLICIES = ("none", "fixed", "per_step")


@dataclass(frozen=True)
class HadamardSpec:
    """A blockwise Hadamard transform: block size and sign policy.

    Parameters
    ----------
    size : int
        Block length n, a power of two.
    signs : {'none', 'fixed', 'per_step'}
        'none': plain Sylvester H_n. 'fixed': one sign vector, ``vector`` if
        given, else drawn once from ``seed``. 'per_step': redrawn from
        (seed, step) every step.
    seed : int
        Key of the drawn signs (Philox4x32-10, stream 1 + step).
    vector : tuple of +-1, optional
        Explicit signs for 'fixed' (length ``size``).
    """

    size: int
    signs: str = "none"
    seed: int = 0
    vector: Optional[Tuple[int, ...]] = None
