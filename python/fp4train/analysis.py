"""Why the Hadamard transform exists, in numbers.

Public: crest_factors, quant_stats, transform_report, format_report, print_report.

A block format stores one scale per block, set by the block's largest
magnitude (amax). A block whose amax is far above its RMS (a high crest
factor: an outlier among small values) spends the few FP4 levels on the
outlier, flushes the small values to zero and, under the OCP ``floor`` scale
rule, may clip the outlier itself. A Hadamard transform spreads each
outlier over its whole block, lowering the crest factor towards that of a
Gaussian (about 3 to 4 for blocks of 16 to 256); quantization then keeps
more signal (higher SQNR).

Definitions (every statistic is taken on the array actually quantized, that
is after the transform, except SQNR):

- crest factor of a block: amax / RMS over the block's elements (blocks
  along ``axis`` of the format's block size; 32 for formats without block
  scales). All-zero and non-finite blocks are left out.
- clipped %: finite elements whose magnitude exceeds the largest value their
  block can represent (``6 * X`` for E2M1 with block scale X), so they were
  saturated.
- flushed %: non-zero elements that quantize to zero.
- SQNR (dB): ``10 log10(sum x^2 / sum (x - x_hat)^2)`` in the original
  domain, where ``x_hat`` is the fake-quantized transform mapped back by the
  inverse transform (float64 sums; the transform is orthonormal, so this is
  also the SQNR in the transformed domain up to float32 rounding).
"""
import numpy as np

from . import _core
from .hadamard import HadamardSpec, hadamard, hadamard_inverse
from .quantize import QTensor, dequantize, quantize

# The element code with the largest magnitude, as a code byte (FP4: two
# nibbles 0x7 = 6.0; E4M3 0x7E = 448; E5M2 0x7B = 57344).
_MAX_CODE_BYTE = {"e2m1": 0x77, "e4m3": 0x7E, "e5m2": 0x7B}
_BF16_MAX = 3.3895313892515355e38


def _blocks(a, block, axis):
    """(..., nblocks, block) view of ``a`` along ``axis`` (moved last), the
    last partial block padded with NaN (ignored by the nan-reductions), and a
    (..., nblocks) mask of the blocks holding a NaN or Inf of their own."""
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    bad = ~np.isfinite(a)
    a = np.where(bad, 0.0, a)
    pad = (-a.shape[-1]) % block
    if pad:
        a = np.concatenate([a, np.full(a.shape[:-1] + (pad,), np.nan)], axis=-1)
        bad = np.concatenate([bad, np.zeros(bad.shape[:-1] + (pad,), bool)], axis=-1)
    shape = a.shape[:-1] + (a.shape[-1] // block, block)
    return a.reshape(shape), bad.reshape(shape).any(axis=-1)


def crest_factors(x, block, axis=-1):
    """Per-block crest factor amax / RMS, as a flat float64 array.

    Blocks are ``block`` consecutive elements along ``axis`` (a partial last
    block counts its own elements). All-zero blocks and blocks holding a
    non-finite value are left out.
    """
    b, bad = _blocks(x, int(block), axis)
    if b.size == 0:
        return np.zeros(0)
    amax = np.nanmax(np.abs(b), axis=-1)
    rms = np.sqrt(np.nanmean(b * b, axis=-1))
    keep = ~bad & (rms > 0)
    return (amax[keep] / rms[keep]).ravel()


def _as_spec(transform):
    if transform is None or isinstance(transform, HadamardSpec):
        return transform
    return HadamardSpec(transform)


def _label(spec):
    if spec is None:
        return "none"
    if spec.signs == "none":
        return f"H{spec.size}"
    return f"H{spec.size} {spec.signs} signs"


def _block_max(q):
    """Per element, the largest magnitude its block can represent (x's shape)."""
    info = _core.format_info(q.format)
    elem = info["element"]
    if elem == "bf16":
        return np.full(q.shape, _BF16_MAX)
    if elem not in _MAX_CODE_BYTE:  # fp32: nothing clips
        return np.full(q.shape, np.inf)
    codes = np.full_like(q.codes, _MAX_CODE_BYTE[elem])
    top = QTensor(codes, q.scales, q.tensor_scale, q.shape, q.axis, q.format, q.scale_rule,
                  q.rounding, q.prescale, q.block_2d, q.seed)
    return np.abs(dequantize(top).astype(np.float64))


def quant_stats(x, format="mxfp4", transform=None, axis=-1, step=0, **quant_kwargs):
    """Statistics of quantizing ``x`` (optionally after a Hadamard transform).

    Parameters
    ----------
    x : array_like
        Real array; ``x.shape[axis]`` a multiple of the transform size.
    format : str
        One of :data:`fp4train.FORMATS`.
    transform : None, int or HadamardSpec
        None: quantize ``x`` as is. An int n: plain Hadamard of size n.
    axis : int
        Quantization (and transform) axis.
    step : int
        Step of a 'per_step' spec.
    **quant_kwargs
        rounding, scale_rule, prescale, block_2d, seed (as fp4train.quantize).

    Returns
    -------
    dict with keys transform, format, crest_mean, crest_max, clipped_pct,
    flushed_pct, sqnr_db.
    """
    x = np.asarray(x, dtype=np.float32)
    spec = _as_spec(transform)
    if spec is None:
        t, signs = x, None
    else:
        signs = spec.signs_at(step)
        t = hadamard(x, spec.size, axis, signs)
    q = quantize(t, format, axis, **quant_kwargs)
    tq = q.dequantize().astype(np.float64)
    t64 = t.astype(np.float64)
    finite = np.isfinite(t64)
    n_finite = max(int(finite.sum()), 1)
    clipped = finite & (np.abs(t64) > _block_max(q))
    flushed = finite & (t64 != 0) & (tq == 0)
    block = _core.format_info(format)["block"] or 32
    crest = crest_factors(t, block, axis)
    x_hat = tq if spec is None else hadamard_inverse(tq.astype(np.float32), spec.size, axis,
                                                      signs).astype(np.float64)
    x64 = x.astype(np.float64)
    ok = np.isfinite(x64) & np.isfinite(x_hat)
    signal = float(np.sum(x64[ok] ** 2))
    noise = float(np.sum((x64[ok] - x_hat[ok]) ** 2))
    if noise == 0:
        sqnr = float("inf")
    elif signal == 0:
        sqnr = float("-inf")
    else:
        sqnr = 10.0 * np.log10(signal / noise)
    return {
        "transform": _label(spec),
        "format": format,
        "crest_mean": float(crest.mean()) if crest.size else float("nan"),
        "crest_max": float(crest.max()) if crest.size else float("nan"),
        "clipped_pct": 100.0 * int(clipped.sum()) / n_finite,
        "flushed_pct": 100.0 * int(flushed.sum()) / n_finite,
        "sqnr_db": float(sqnr),
    }


def transform_report(x, formats=("mxfp4", "nvfp4"), transforms=(None, 16, 32, 64), axis=-1,
                     step=0, **quant_kwargs):
    """One :func:`quant_stats` row per (format, transform): a list of dicts.

    ``transforms`` holds None (no transform), ints (plain Hadamard sizes) or
    HadamardSpec objects. Rows are ordered by format, then transform.
    """
    if isinstance(formats, str):
        formats = (formats,)
    return [quant_stats(x, f, t, axis=axis, step=step, **quant_kwargs)
            for f in formats for t in transforms]


_COLUMNS = (("format", "format", "{}"), ("transform", "transform", "{}"),
            ("crest_mean", "crest mean", "{:.2f}"), ("crest_max", "crest max", "{:.2f}"),
            ("clipped_pct", "clipped %", "{:.3f}"), ("flushed_pct", "flushed %", "{:.2f}"),
            ("sqnr_db", "SQNR dB", "{:.2f}"))


def format_report(rows):
    """The rows of :func:`transform_report` as an aligned text table."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for r in rows:
        cells.append([fmt.format(r[key]) for key, _, fmt in _COLUMNS])
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = []
    for k, row in enumerate(cells):
        parts = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_report(rows):
    """Print :func:`format_report` (rows)."""
    print(format_report(rows))
