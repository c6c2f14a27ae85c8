"""fp4train.nn.TransformerBlock: a pre-norm Llama-style residual block.

Public: TransformerBlock.
"""
import numpy as np

from .attention import CausalSelfAttention
from .linear import Linear, _as_recipe, _check_int
from .mlp import SwiGLU
from .module import Module, child_seed
from .rmsnorm import RMSNorm


class TransformerBlock(Module):
    """h = x + attn(norm1(x)); out = h + mlp(norm2(h)).

    Parameters
    ----------
    dim : int
        Model width.
    n_heads : int
        Attention heads; ``dim`` must be a multiple with an even head size.
    hidden : int
        SwiGLU hidden width.
    recipe : Recipe or str
        Recipe of the seven Linear layers (q, k, v, o, gate, up, down).
    seed : int
        attn and mlp get the seeds ``SeedSequence([seed, 0])`` and ``[seed, 1]``.
    eps : float
        RMSNorm epsilon.

    Notes
    -----
    Input and output (batch, seq, dim). ``backward(grad)`` returns dx and
    accumulates every parameter gradient. ``set_recipe`` switches all Linear
    layers (the model's precision policy uses it).
    """

    def __init__(self, dim, n_heads, hidden, recipe="fp32", seed=0, eps=1e-5):
        super().__init__()
        self.dim = _check_int("dim", dim, 1)
        self.seed = _check_int("seed", seed, 0)
        self.norm1 = RMSNorm(self.dim, eps)
        self.attn = CausalSelfAttention(self.dim, n_heads, recipe, child_seed(self.seed, 0))
        self.norm2 = RMSNorm(self.dim, eps)
        self.mlp = SwiGLU(self.dim, hidden, recipe, child_seed(self.seed, 1))

    @property
    def recipe(self):
        """The recipe of the block's Linear layers."""
        return self.attn.q.recipe

    def set_recipe(self, recipe):
        """Re-assign every Linear's recipe (a preset name or Recipe); drops saved state."""
        recipe = _as_recipe(recipe)
        for m in self.modules():
            if isinstance(m, Linear):
                m.recipe = recipe

    def linears(self):
        """The block's Linear layers, in a fixed order."""
        return [m for m in self.modules() if isinstance(m, Linear)]

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"argument 'x': expected shape (batch, seq, {self.dim}), "
                             f"got {x.shape}")
        if x.dtype.kind not in "fiu":
            raise TypeError(f"argument 'x': expected a real numeric array, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        h = x + self.attn.forward(self.norm1.forward(x))
        return h + self.mlp.forward(self.norm2.forward(h))

    def backward(self, grad):
        dh = self.norm2.backward(self.mlp.backward(grad))
        dh += grad
        dx = self.norm1.backward(self.attn.backward(dh))
        dx += dh
        return dx

    def extra_repr(self):
        return f"dim={self.dim}, recipe={self.recipe.name!r}, seed={self.seed}"
