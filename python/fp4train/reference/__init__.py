"""fp4train.reference: slow, obviously-correct numpy oracles.

The C++ kernels of fp4train are tested against these functions bit for bit
(``atol = rtol = 0``).  They are written from the definitions in
``docs/NUMERICS.md`` and DESIGN.md §2 alone, independently of the C++ code,
use only numpy and the standard library, and never import the compiled
``fp4train._core`` module.  Users can call them to cross-check a recipe.

Submodules and their public names
---------------------------------
philox
    ``philox4x32_10(counter, key)``, ``uniform_bits(seed, stream, index)``.
formats
    ``encode(x, fmt, rounding, k)``, ``decode(codes, fmt)``, per-format
    ``encode_<fmt>`` / ``decode_<fmt>`` for e2m1, e4m3, e5m2, bf16, e8m0,
    ``all_encodings(fmt)``, ``grid(fmt)``, ``step(a, fmt)``,
    ``format_info(fmt)``, ``exponent_of(a)``.
quant
    ``quantize(x, fmt, axis, rounding, scale_rule, prescale, block_2d,
    seed)`` -> ``RefQTensor``, ``dequantize(q)``, ``fake_quantize(...)``,
    ``mx_scale_exponent(amax, elem, rule)``, ``FORMATS``.
hadamard
    ``sylvester(n)``, ``hadamard``, ``hadamard_inverse`` (float64 matrix
    product), ``hadamard_fwht_f32``, ``hadamard_inverse_fwht_f32``
    (float32 butterflies, NUMERICS §4 order), ``inv_sqrt_f32(n)``,
    ``signs_from_seed(n, seed, step)``.
gemm
    ``qgemm_exact(qa, qb)`` (bit-exact), ``qgemm_f64(qa, qb)`` (tolerance
    oracle), ``gemm_f32_fma(a, b)``, ``fma_f32(a, b, c)``,
    ``round_to_f32(numerator, exp2)``.

The most used names are re-exported here: ``quantize``, ``dequantize``,
``fake_quantize``, ``RefQTensor``, ``FORMATS``, ``hadamard_transform``
(the function ``hadamard.hadamard``; the bare name ``hadamard`` stays the
submodule), ``hadamard_inverse``, ``hadamard_fwht_f32``, ``signs_from_seed``,
``sylvester``, ``qgemm_exact``, ``qgemm_f64``, ``gemm_f32_fma``,
``uniform_bits``.
"""

from . import formats, gemm, hadamard, philox, quant
from .gemm import gemm_f32_fma, qgemm_exact, qgemm_f64
from .hadamard import hadamard_fwht_f32, hadamard_inverse, signs_from_seed, sylvester
from .hadamard import hadamard as hadamard_transform
from .philox import uniform_bits
from .quant import FORMATS, RefQTensor, dequantize, fake_quantize, quantize

__all__ = [
    "formats",
    "gemm",
    "hadamard",
    "philox",
    "quant",
    "FORMATS",
    "RefQTensor",
    "quantize",
    "dequantize",
    "fake_quantize",
    "hadamard_transform",
    "hadamard_inverse",
    "hadamard_fwht_f32",
    "signs_from_seed",
    "sylvester",
    "qgemm_exact",
    "qgemm_f64",
    "gemm_f32_fma",
    "uniform_bits",
]
