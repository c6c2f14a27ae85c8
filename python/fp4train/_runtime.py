"""Threads, SIMD-path and float-GEMM backend control.

Public: set_num_threads, get_num_threads, set_isa, get_isa, reset_isa,
supported_isas, set_float_gemm, get_float_gemm, float_gemm_backends,
float_gemm_info. Results never depend on the thread count or the SIMD path
(same bits for any of them); they only change speed. The float-GEMM backend
is the one opt-in exception: "blas" trades the bit-defined float32 GEMM for
the BLAS's speed (see set_float_gemm).
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


_FLOAT_GEMM_BACKENDS = ("exact", "blas")


def set_float_gemm(backend):
    """Choose how float32 GEMMs (fp32/bf16 operands of qgemm and Linear) run.

    Parameters
    ----------
    backend : {"exact", "blas"}
        "exact" (the default): fp4train's own kernel, bit-defined by
        docs/NUMERICS.md (sequential FMA in k order), identical bits for any
        thread count, SIMD path and machine. "blas": ``cblas_sgemm`` of the
        same float32 operands from a BLAS loaded at run time (OpenBLAS when
        installed); faster, but the summation order is the library's, so the
        bits depend on the BLAS, its kernel and its thread count (set to
        fp4train's thread count before each call for OpenBLAS, which also
        affects numpy when it shares that OpenBLAS). Deterministic for a fixed
        library and thread count; within the float32 dot-product error bound
        of "exact". Block-quantized GEMMs (FP4/FP8) are unaffected.

    The environment variable FP4TRAIN_FLOAT_GEMM sets the initial choice
    (read once, on first use); FP4TRAIN_BLAS_LIBRARY names the library to load
    ("none" disables BLAS).

    Raises
    ------
    TypeError
        ``backend`` is not a str.
    ValueError
        Unknown backend, or "blas" without a loadable BLAS (the message lists
        the available backends).
    """
    if not isinstance(backend, str):
        raise TypeError(f"argument 'backend': expected a str, got {type(backend).__name__}")
    _core.set_float_gemm(backend)


def get_float_gemm():
    """The float32 GEMM backend in use now: "exact" or "blas"."""
    return _core.get_float_gemm()


def float_gemm_backends():
    """Float32 GEMM backends usable on this machine: "exact" first, "blas" if a BLAS loads."""
    return list(_core.float_gemm_backends())


def float_gemm_info():
    """The backend in use and the BLAS found, as a dict.

    Keys: ``backend`` ("exact" | "blas"), ``blas_library`` (path of the file
    that defines cblas_sgemm, or None), ``blas_thread_control`` (whether its
    thread count follows fp4train's, i.e. it exports openblas_set_num_threads).
    """
    info = _core.blas_info()
    return {"backend": _core.get_float_gemm(), "blas_library": info["library"],
            "blas_thread_control": bool(info["thread_control"])}
