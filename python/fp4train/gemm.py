"""Matrix products: the exact quantized GEMM and the float32 GEMM.

Public: qgemm, gemm_f32.

Both compute ``C = A @ B.T`` with ``A`` of shape (M, K) and ``B`` of shape
(N, K), in C++ with OpenMP and the GIL released. Results are bit-identical
for any thread count and SIMD path (see docs/NUMERICS.md §5).
"""
from . import _core
from .quantize import QTensor


def qgemm(a_q, b_q):
    """Exact block-scaled matrix product ``C = A B^T`` of two quantized tensors.

    Parameters
    ----------
    a_q : QTensor
        A, logical shape (M, K), quantized along axis 1 (K).
    b_q : QTensor
        B, logical shape (N, K), quantized along axis 1 (K). A weight quantized
        along axis 0 (shape (K, N)) is passed as ``w_q.T``, which relabels the
        same storage as its transpose along axis 1 at no cost.

    Returns
    -------
    numpy.ndarray of float32, shape (M, N)

    Notes
    -----
    Block formats (mxfp4, nvfp4 with 1-D blocks or 16x16 tiles, mxfp8_e4m3,
    mxfp8_e5m2, and per-tensor fp8_e4m3 / fp8_e5m2, which count as blocks of
    32 along K with unit scale) can be mixed when their blocks along K have
    the same size (nvfp4 only pairs with nvfp4). The product is computed as
    FP4/FP8 hardware does, exactly: for each output and each K-block, in
    increasing K, the block's dot product of the element integers is exact,
    it is multiplied by both block scales with a single float32 rounding
    (subnormal results and overflow to Inf included), and added into a
    float32 accumulator that starts at +0. The per-tensor scales come last:
    ``C = RN(acc * RN(d_a * d_b))`` with ``d = RN(1 / tensor_scale)`` for
    nvfp4 and per-tensor fp8 (1 otherwise), then each prescale other than 1
    is divided out, A's first. A partial last block counts as zero-padded.

    A block with a NaN scale (its input held NaN or Inf) makes that block's
    term NaN; a NaN/Inf FP8 element code gives the IEEE result of the
    block's products (NaN or +-Inf).

    If either operand is bf16 or fp32, both are dequantized to float32 and
    multiplied by :func:`gemm_f32`.

    Raises
    ------
    TypeError
        An argument is not an fp4train.QTensor.
    ValueError
        An operand is not 2-D or not quantized along axis 1 (the message
        suggests ``.T``), K differs, or two block formats have different
        block sizes along K.
    """
    for name, q in (("a_q", a_q), ("b_q", b_q)):
        if not isinstance(q, QTensor):
            raise TypeError(f"argument '{name}': expected an fp4train.QTensor, "
                            f"got {type(q).__name__}")
    return _core.qgemm(a_q, b_q)


def gemm_f32(a, b):
    """Float32 matrix product ``C = A B^T`` with a fused multiply-add per step.

    Parameters
    ----------
    a : array_like, shape (M, K)
        Converted to float32 (see :func:`fp4train.quantize` for dtypes).
    b : array_like, shape (N, K)

    Returns
    -------
    numpy.ndarray of float32, shape (M, N)

    Notes
    -----
    Each output is ``acc = +0; acc = fma(a[m, k], b[n, k], acc)`` for k in
    increasing order: one rounding per step, the same bits on every SIMD
    path and thread count (unlike a BLAS, whose summation order varies).
    NaN and Inf propagate as IEEE arithmetic does.
    """
    return _core.gemm_f32(a, b)
