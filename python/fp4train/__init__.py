"""fp4train: bit-faithful CPU emulation of block-scaled FP4/FP8 formats for
FP4 training research.

Public names
------------
quantize, dequantize, fake_quantize, QTensor, FORMATS, ROUNDINGS, SCALE_RULES,
format_info, set_num_threads, get_num_threads, set_isa, get_isa, reset_isa,
supported_isas, set_float_gemm, get_float_gemm, float_gemm_backends,
float_gemm_info, hadamard, hadamard_inverse, HadamardSpec, SIGN_POLICIES,
analysis (module: transform_report, ...), recipes (module: get, names, load, ...),
Recipe, GemmConfig, OperandConfig, qgemm, __version__

Training (modules, imported on first use so that ``python -m fp4train.train``
runs them cleanly): data, optim, model, noise, checkpoint, profiler, train
(``train.run``), ablate (``ablate.run``). ``fp4train.nn`` holds the layers.

Internal: ``fp4train._core`` (the compiled module), ``fp4train.reference``
(slow numpy oracles the tests hold the C++ kernels to).
"""
from . import _core
from ._runtime import (float_gemm_backends, float_gemm_info, get_float_gemm, get_isa,
                       get_num_threads, reset_isa, set_float_gemm, set_isa, set_num_threads,
                       supported_isas)
from .formats import FORMATS, ROUNDINGS, SCALE_RULES, format_info
from .quantize import QTensor, dequantize, fake_quantize, quantize
from .gemm import qgemm
from .hadamard import SIGN_POLICIES, HadamardSpec, hadamard, hadamard_inverse
from . import analysis
from . import recipes
from .recipes import GemmConfig, OperandConfig, Recipe

__version__ = _core.__version__

_LAZY = ("nn", "data", "optim", "model", "noise", "checkpoint", "profiler", "train", "ablate")


def __getattr__(name):
    # PEP 562: ``ft.train.run(...)`` works after ``import fp4train as ft``
    # without importing the training stack with the package.
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fp4train' has no attribute {name!r}")

__all__ = [
    "FORMATS", "ROUNDINGS", "SCALE_RULES", "QTensor", "__version__", "dequantize",
    "fake_quantize", "format_info", "get_isa", "get_num_threads", "quantize", "reset_isa",
    "set_isa", "set_num_threads", "supported_isas",
    "float_gemm_backends", "float_gemm_info", "get_float_gemm", "set_float_gemm",
    "HadamardSpec", "SIGN_POLICIES", "analysis", "hadamard", "hadamard_inverse",
    "GemmConfig", "OperandConfig", "Recipe", "recipes",
    "qgemm",
]
