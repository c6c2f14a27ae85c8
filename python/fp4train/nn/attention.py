"""fp4train.nn.CausalSelfAttention: causal multi-head self-attention with RoPE.

Public: CausalSelfAttention.
"""
import numpy as np

from .. import _core
from .linear import Linear, _check_int
from .module import Module, child_seed
from .rope import RoPE


class CausalSelfAttention(Module):
    """Multi-head causal self-attention whose four projections are quantized Linears.

    Parameters
    ----------
    dim : int
        Model width; a multiple of ``n_heads`` with an even head size.
    n_heads : int
    recipe : Recipe or str
        Recipe of the q, k, v and output projections (:class:`fp4train.nn.Linear`,
        no bias).
    seed : int
        The projections get the independent seeds ``SeedSequence([seed, i])``,
        i = 0..3 for q, k, v, o.
    rope_base : float
        Base of the rotary embedding applied to q and k.

    Notes
    -----
    Input and output (batch, seq, dim). With ``d = dim / n_heads``::

        S = rope(q) rope(k)^T / sqrt(d) + causal mask
        P = softmax(S)          (max-subtracted, float32)
        out = o((P v) merged over heads)

    The two attention products (QK^T and PV) and the softmax run in float32
    under every recipe, as FP4 training recipes keep them in high precision:
    a fused C++ kernel per (batch, head) pair (``_core.attention_forward`` /
    ``attention_backward``, csrc/ops/attention.h) that skips the masked half
    and works on the projections' (batch, seq, dim) layout directly; its
    numpy twin is :func:`fp4train.reference.nn_ops.attention_forward`.
    forward caches q, k, v (rotated) and P; ``backward(grad)`` returns dx and
    accumulates the four projections' weight gradients.
    """

    def __init__(self, dim, n_heads, recipe="fp32", seed=0, rope_base=10000.0):
        super().__init__()
        self.dim = _check_int("dim", dim, 1)
        self.n_heads = _check_int("n_heads", n_heads, 1)
        if self.dim % self.n_heads:
            raise ValueError(f"argument 'n_heads': dim={self.dim} is not divisible by "
                             f"n_heads={self.n_heads}")
        self.head_dim = self.dim // self.n_heads
        if self.head_dim % 2:
            raise ValueError(f"argument 'n_heads': head size dim/n_heads={self.head_dim} must "
                             "be even for the rotary embedding")
        self.seed = _check_int("seed", seed, 0)
        self.q, self.k, self.v, self.o = (
            Linear(self.dim, self.dim, bias=False, recipe=recipe, seed=child_seed(self.seed, i))
            for i in range(4))
        self.rope = RoPE(self.head_dim, rope_base)
        self._cache = None

    def _scale(self):
        """1/sqrt(head_dim) rounded to float32 once (the value the scores are scaled by)."""
        return float(np.float32(1.0 / np.sqrt(self.head_dim)))

    def _heads(self, t, b, s):
        """(b, s, dim) -> (b, s, heads, d) view: the layout the kernels and RoPE take."""
        return t.reshape(b, s, self.n_heads, self.head_dim)

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"argument 'x': expected shape (batch, seq, {self.dim}), "
                             f"got {x.shape}")
        b, s, _ = x.shape
        q = self.rope._rotate_seq_major(self._heads(self.q.forward(x), b, s), inverse=False)
        k = self.rope._rotate_seq_major(self._heads(self.k.forward(x), b, s), inverse=False)
        q, k = q.reshape(b, s, self.dim), k.reshape(b, s, self.dim)
        v = self.v.forward(x)
        y, p = _core.attention_forward(q, k, v, self.n_heads, self._scale())
        self._cache = (q, k, v, p) if self.training else None
        return self.o.forward(y)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("CausalSelfAttention.backward called before a training-mode "
                               "forward")
        q, k, v, p = self._cache
        b, s, _ = q.shape
        grad = np.asarray(grad)
        if grad.shape != (b, s, self.dim):
            raise ValueError(f"argument 'grad': expected shape {(b, s, self.dim)} (the last "
                             f"forward's output), got {grad.shape}")
        dy = self.o.backward(grad)
        dq, dk, dv = _core.attention_backward(q, k, v, p, dy, self.n_heads, self._scale())
        dq = self.rope._rotate_seq_major(self._heads(dq, b, s), inverse=True)
        dk = self.rope._rotate_seq_major(self._heads(dk, b, s), inverse=True)
        dx = self.q.backward(dq.reshape(b, s, self.dim))
        dx += self.k.backward(dk.reshape(b, s, self.dim))
        dx += self.v.backward(dv)
        return dx

    def extra_repr(self):
        return (f"dim={self.dim}, n_heads={self.n_heads}, recipe={self.q.recipe.name!r}, "
                f"seed={self.seed}")
