"""fp4train.nn: layers with explicit forward/backward over numpy arrays.

Public: Parameter, Module, Linear, Hadamard, Embedding, RMSNorm, RoPE,
CausalSelfAttention, SwiGLU, TransformerBlock, CrossEntropyLoss (more layers are
added by their own modules). An LM head is a plain Linear.
"""
from .attention import CausalSelfAttention
from .block import TransformerBlock
from .embedding import Embedding
from .hadamard import Hadamard
from .linear import Linear
from .loss import CrossEntropyLoss
from .mlp import SwiGLU
from .module import Module, Parameter
from .rmsnorm import RMSNorm
from .rope import RoPE

__all__ = ["Hadamard", "Linear", "Module", "Parameter", "Embedding", "RMSNorm", "RoPE",
           "CausalSelfAttention", "SwiGLU", "TransformerBlock", "CrossEntropyLoss"]
