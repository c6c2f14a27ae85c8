"""Block quantization: quantize, dequantize, fake_quantize and QTensor.

Public: quantize, dequantize, fake_quantize, QTensor.

Numerics: docs/NUMERICS.md. Input arrays of any real numeric dtype are
converted to float32 (float64 and float16 round to nearest; integers convert
exactly up to 2**24); non-contiguous arrays are copied, C-contiguous float32
is read in place. Zero-size arrays work and give empty codes. The GIL is
released while C++ works.
"""
import numpy as np

from . import _core
from .formats import FORMATS, ROUNDINGS, SCALE_RULES, _check_name
from .hadamard import _fused_args


class QTensor:
    """A quantized tensor: packed codes, block scales and the settings used.

    Attributes
    ----------
    codes : np.ndarray of uint8, shape (rows, row_bytes)
        Storage moves ``axis`` last: row ``r`` holds ``x[o, :, i]`` with
        ``r = o * inner + i``. FP4: two codes a byte, lower index in the low
        nibble; FP8: one byte; bf16: two bytes little-endian; fp32: four.
    scales : np.ndarray of uint8, shape (rows, nblocks), (ceil(rows/block), nblocks)
        for 2-D tiles, or (0,) for formats without block scales.
    tensor_scale : float
        The FP32 per-tensor encode scale: NVFP4 ``s_enc``, per-tensor FP8 ``s``; 1.0 otherwise.
    shape, axis, format, scale_rule, rounding, prescale, block_2d, seed
        The logical shape and the settings the tensor was quantized with.
    """

    __slots__ = ("codes", "scales", "tensor_scale", "shape", "axis", "format", "scale_rule",
                 "rounding", "prescale", "block_2d", "seed")

    def __init__(self, codes, scales, tensor_scale, shape, axis, format, scale_rule="floor",
                 rounding="nearest", prescale=1.0, block_2d=False, seed=0):
        self.codes = codes
        self.scales = scales
        self.tensor_scale = float(tensor_scale)
        self.shape = tuple(int(d) for d in shape)
        self.axis = int(axis)
        self.format = format
        self.scale_rule = scale_rule
        self.rounding = rounding
        self.prescale = float(prescale)
        self.block_2d = bool(block_2d)
        self.seed = seed

    def dequantize(self):
        """float32 array of the original shape (NaN for non-finite blocks)."""
        return dequantize(self)

    @property
    def nbytes(self):
        """Packed size in bytes: codes + scales (+ 4 for an FP32 tensor scale)."""
        has_ts = _core.format_info(self.format)["tensor_scale"]
        return int(self.codes.nbytes + self.scales.nbytes + (4 if has_ts else 0))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def T(self):
        """The same storage seen as the quantization of ``x.T`` (2-D only).

        A 2-D tensor quantized along axis 0 is stored exactly as its transpose
        quantized along axis 1, so this costs nothing: qgemm's operands are
        (M, K) and (N, K) along axis 1, and ``quantize(w, axis=0).T`` is W^T's.
        """
        if self.ndim != 2:
            raise ValueError(f"QTensor.T: expected a 2-D tensor, got shape {self.shape}")
        return QTensor(self.codes, self.scales, self.tensor_scale, self.shape[::-1],
                       1 - self.axis, self.format, self.scale_rule, self.rounding,
                       self.prescale, self.block_2d, self.seed)

    def settings(self):
        """The quantization settings as a dict (keyword arguments of quantize)."""
        return {"format": self.format, "axis": self.axis, "rounding": self.rounding,
                "scale_rule": self.scale_rule, "prescale": self.prescale,
                "block_2d": self.block_2d, "seed": self.seed}

    def __repr__(self):
        extra = f", block_2d=True" if self.block_2d else ""
        return (f"QTensor(format={self.format!r}, shape={self.shape}, axis={self.axis}, "
                f"rounding={self.rounding!r}, scale_rule={self.scale_rule!r}, "
                f"prescale={self.prescale:g}{extra}, seed={self.seed}, nbytes={self.nbytes})")


def _check_args(format, rounding, scale_rule, block_2d):
    _check_name("format", format, FORMATS)
    _check_name("rounding", rounding, ROUNDINGS)
    _check_name("scale_rule", scale_rule, SCALE_RULES)
    if not isinstance(block_2d, (bool, np.bool_)):
        raise TypeError(f"argument 'block_2d': expected a bool, got {type(block_2d).__name__}")


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"argument 'axis': expected an int, got {type(axis).__name__}")


def _check_prescale(prescale):
    if isinstance(prescale, bool) or not isinstance(prescale, (int, float, np.floating,
                                                                np.integer)):
        raise TypeError(f"argument 'prescale': expected a float, got {type(prescale).__name__}")


def quantize(x, format="mxfp4", axis=-1, rounding="nearest", scale_rule="floor",
             prescale=1.0, block_2d=False, seed=0, hadamard=None, step=0):
    """Quantize ``x`` into a block format along ``axis``.

    Parameters
    ----------
    x : array_like
        Real numeric array, converted to float32.
    format : str
        One of :data:`fp4train.FORMATS`.
    axis : int
        The axis the blocks run along (the GEMM reduction axis).
    rounding : {'nearest', 'nearest_away', 'stochastic'}
    scale_rule : {'floor', 'rceil', 'ceil', 'even'}
        E8M0 scale rule of the MX formats; ignored by the others.
    prescale : float
        Elements are ``prescale * x / X`` before rounding; decode divides it out.
        Must be 1 for bf16 and fp32.
    block_2d : bool
        One scale per ``block x block`` tile (2-D arrays; NVFP4: 16x16).
    seed : int
        Non-negative key of the stochastic-rounding noise (Philox4x32-10 over
        the flat element index): same seed, same bits, any thread count.
    hadamard : fp4train.HadamardSpec, optional
        Transform ``x`` along ``axis`` first (fused, one pass; bit for bit
        ``quantize(fp4train.hadamard(x, ...), ...)``). The QTensor then holds
        the transformed values: ``dequantize`` approximates ``hadamard(x)``.
    step : int
        Training step whose signs a 'per_step' HadamardSpec uses.

    Returns
    -------
    QTensor
    """
    _check_args(format, rounding, scale_rule, block_2d)
    _check_axis(axis)
    _check_prescale(prescale)
    if hadamard is None:
        d = _core.quantize(x, int(axis), format, rounding, scale_rule, float(prescale),
                           bool(block_2d), seed)
    else:
        d = _core.quantize(x, int(axis), format, rounding, scale_rule, float(prescale),
                           bool(block_2d), seed, *_fused_args(hadamard, step))
    shape = np.shape(x)
    return QTensor(d["codes"], d["scales"], d["tensor_scale"], shape,
                   int(axis) % len(shape), format, scale_rule, rounding, float(prescale),
                   bool(block_2d), int(seed))


def dequantize(q):
    """float32 array of ``q``'s original shape."""
    if not isinstance(q, QTensor):
        raise TypeError(f"argument 'q': expected an fp4train.QTensor, got {type(q).__name__}")
    return _core.dequantize(q)


def fake_quantize(x, format="mxfp4", axis=-1, rounding="nearest", scale_rule="floor",
                  prescale=1.0, block_2d=False, seed=0, hadamard=None, step=0):
    """``dequantize(quantize(x, ...))`` in one pass without packing (same bits).

    With ``hadamard`` the result is in the transformed domain (see quantize).
    """
    _check_args(format, rounding, scale_rule, block_2d)
    _check_axis(axis)
    _check_prescale(prescale)
    if hadamard is not None:
        return _core.fake_quantize(x, int(axis), format, rounding, scale_rule,
                                   float(prescale), bool(block_2d), seed,
                                   *_fused_args(hadamard, step))
    return _core.fake_quantize(x, int(axis), format, rounding, scale_rule, float(prescale),
                               bool(block_2d), seed)
