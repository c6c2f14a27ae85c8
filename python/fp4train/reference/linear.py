"""Reference of the quantized linear layer, in numpy (DESIGN §3).

Public: derive_seed, hadamard_seed, layer_signs, linear_reference.

Written from DESIGN §3 and csrc/linear/seeds.h's documented key derivation,
on top of the other reference modules only: operands are transformed with
:func:`hadamard_fwht_f32`, quantized with :func:`quantize` and multiplied
with :func:`qgemm_exact`. It reproduces fp4train.nn.Linear bit for bit.
"""
import dataclasses

import numpy as np

from .gemm import qgemm_exact
from .hadamard import hadamard_fwht_f32, signs_from_seed
from .philox import philox4x32_10
from .quant import quantize

GEMMS = ("fprop", "dgrad", "wgrad")
_TAG_OPERAND_SEED = 0x53454544  # "SEED"
_TAG_HADAMARD_SEED = 0x48414441  # "HADA"


def _philox_u64(c0, c1, c2, c3, key):
    words = philox4x32_10(np.array([c0, c1, c2, c3], dtype=np.uint64),
                          np.array([key & 0xFFFFFFFF, key >> 32], dtype=np.uint64))
    return int(words[0]) | (int(words[1]) << 32)


def derive_seed(layer_seed, step, gemm, operand):
    """Stochastic-rounding key of operand (0 = a, 1 = b) of ``gemm`` at ``step``."""
    g = GEMMS.index(gemm)
    return _philox_u64(step & 0xFFFFFFFF, step >> 32, 2 * g + operand, _TAG_OPERAND_SEED,
                       layer_seed)


def hadamard_seed(layer_seed, spec_seed, gemm):
    """Key of a GEMM's drawn Hadamard signs in a layer."""
    return _philox_u64(spec_seed & 0xFFFFFFFF, spec_seed >> 32, GEMMS.index(gemm),
                       _TAG_HADAMARD_SEED, layer_seed)


def layer_signs(recipe, gemm, layer_seed, step):
    """The float32 sign vector of ``gemm``'s Hadamard at ``step`` (None: no transform)."""
    h = getattr(recipe, gemm).hadamard
    if h is None:
        return None
    if h.signs == "none":
        return np.ones(h.size, np.float32)
    if h.vector is not None:
        return np.asarray(h.vector, np.float32)
    key = hadamard_seed(layer_seed, h.seed, gemm)
    return signs_from_seed(h.size, key, step if h.signs == "per_step" else 0).astype(np.float32)


def _operand(x, axis, op, seed, h_size, signs):
    if signs is not None:
        x = hadamard_fwht_f32(x, h_size, axis=axis, signs=signs)
    return quantize(x, op.format, axis=axis, rounding=op.rounding, scale_rule=op.scale_rule,
                    prescale=op.prescale, block_2d=op.block_2d, seed=seed)


def _t(q):
    """A 2-D RefQTensor along axis 0 seen as its transpose along axis 1 (same storage)."""
    return dataclasses.replace(q, shape=q.shape[::-1], axis=1 - q.axis)


def _reuses_w_tiles(recipe):
    f, d = recipe.fprop, recipe.dgrad
    return f.b.block_2d and f.b == d.b and f.hadamard is None and d.hadamard is None


def linear_reference(x, w, b, dy, recipe, layer_seed, step):
    """Forward and backward of one step of the layer.

    Parameters
    ----------
    x : (tokens, in) float32; w : (out, in); b : (out,) or None; dy : (tokens, out)
    recipe : fp4train.recipes.Recipe
    layer_seed, step : int

    Returns
    -------
    y (tokens, out), dx (tokens, in), dw (out, in), db (out,) or None — dw and db
    are this step's gradients (not accumulated).
    """
    x, w, dy = (np.ascontiguousarray(a, np.float32) for a in (x, w, dy))
    seeds = {(g, o): derive_seed(layer_seed, step, g, o) for g in GEMMS for o in (0, 1)}
    sig = {g: layer_signs(recipe, g, layer_seed, step) for g in GEMMS}
    size = {g: (getattr(recipe, g).hadamard.size if sig[g] is not None else 0) for g in GEMMS}

    f = recipe.fprop
    xq = _operand(x, 1, f.a, seeds["fprop", 0], size["fprop"], sig["fprop"])
    wq = _operand(w, 1, f.b, seeds["fprop", 1], size["fprop"], sig["fprop"])
    y = qgemm_exact(xq, wq)
    if b is not None:
        y = (y + np.asarray(b, np.float32)[None, :]).astype(np.float32)

    d = recipe.dgrad
    dyq = _operand(dy, 1, d.a, seeds["dgrad", 0], size["dgrad"], sig["dgrad"])
    # With reusable 2-D tiles the layer quantizes W once, with fprop's key.
    w_seed = seeds["fprop", 1] if _reuses_w_tiles(recipe) else seeds["dgrad", 1]
    wq_d = _operand(w, 0, d.b, w_seed, size["dgrad"], sig["dgrad"])
    dx = qgemm_exact(dyq, _t(wq_d))

    g = recipe.wgrad
    dyq_w = _operand(dy, 0, g.a, seeds["wgrad", 0], size["wgrad"], sig["wgrad"])
    xq_w = _operand(x, 0, g.b, seeds["wgrad", 1], size["wgrad"], sig["wgrad"])
    dw = qgemm_exact(_t(dyq_w), _t(xq_w))
    db = None
    if b is not None:
        db = np.zeros(dy.shape[1], np.float32)
        for t in range(dy.shape[0]):  # increasing token order, float32
            db = (db + dy[t]).astype(np.float32)
    return y, dx, dw, db
