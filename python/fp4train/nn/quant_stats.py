"""Quantization error of what a Linear layer's GEMMs actually multiplied.

Internal: operand_stats (used by Linear when ``collect_stats`` is on).

Each operand is re-quantized here exactly as the C++ layer quantizes it (same
format, rounding, Hadamard signs and derived stochastic-rounding key), and
fp4train.analysis.quant_stats measures it. This is diagnostics, run only when
asked for; the layer itself never computes it.
"""
import numpy as np

from .. import _core
from ..analysis import quant_stats
from ..hadamard import HadamardSpec

# (array name, axis) of operands a and b of each GEMM; see fp4train.recipes.Recipe.
_OPERANDS = {
    "fprop": (("x", 1), ("w", 1)),
    "dgrad": (("dy", 1), ("w", 0)),
    "wgrad": (("dy", 0), ("x", 0)),
}


def operand_stats(layer, gemm, x, dy):
    """{'a': stats, 'b': stats} for one GEMM of ``layer`` at its saved step.

    stats: rel_error (||q - x|| / ||x||), sqnr_db, clipped_pct, flushed_pct.
    """
    step = layer._ctx.saved_step
    recipe = layer.recipe
    cfg = recipe.gemm(gemm)
    signs = _core.gemm_hadamard_signs(recipe, gemm, layer.seed, step)
    transform = None
    if signs.size:
        transform = HadamardSpec(int(signs.size), "fixed",
                                 vector=tuple(int(s) for s in signs))
    arrays = {"x": x, "w": layer.weight.data, "dy": dy}
    out = {}
    for index, (name, (array, axis)) in enumerate(zip(("a", "b"), _OPERANDS[gemm])):
        op = cfg.a if index == 0 else cfg.b
        seed = _core.derive_seed(layer.seed, step, gemm, index)
        s = quant_stats(arrays[array], op.format, transform, axis=axis, rounding=op.rounding,
                        scale_rule=op.scale_rule, prescale=op.prescale, block_2d=op.block_2d,
                        seed=seed)
        sqnr = s["sqnr_db"]
        out[name] = {
            "rel_error": 0.0 if sqnr == np.inf else float(10.0 ** (-sqnr / 20.0)),
            "sqnr_db": sqnr,
            "clipped_pct": s["clipped_pct"],
            "flushed_pct": s["flushed_pct"],
        }
    return out
