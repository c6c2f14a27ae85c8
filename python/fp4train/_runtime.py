"""Threads and SIMD-path control.

Public: set_num_threads, get_num_threads, set_isa, get_isa, reset_isa,
supported_isas. Results never depend on either setting (same bits for any
thread count and any SIMD path); they only change speed.
"""
from . import _core


def set_num_threads(n):
    """Use ``n`` OpenMP threads in fp4train kernels (0: OpenMP's default)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"argument 'n': expected an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads():
    """Number of threads fp4train kernels use."""
    return _core.get_num_threads()


def set_isa(isa):
    """Force the SIMD path: 'scalar', 'avx2' or 'avx512' (must be supported).

    The environment variable FP4TRAIN_ISA sets the initial choice.
    """
    if not isinstance(isa, str):
        raise TypeError(f"argument 'isa': expected a str, got {type(isa).__name__}")
    _core.set_isa(isa)


def get_isa():
    """The SIMD path kernels dispatch to now."""
    return _core.get_isa()


def reset_isa():
    """Back to the detected (or FP4TRAIN_ISA) SIMD path."""
    _core.reset_isa()


def supported_isas():
    """SIMD paths this machine supports, 'scalar' first."""
    return list(_core.supported_isas())
