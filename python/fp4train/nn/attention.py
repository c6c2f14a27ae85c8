"""fp4train.nn.CausalSelfAttention: causal multi-head self-attention with RoPE.

Public: CausalSelfAttention.
"""
import numpy as np

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
    numpy under every recipe, as FP4 training recipes keep them in high
    precision. forward caches q, k, v (rotated) and P; ``backward(grad)``
    returns dx and accumulates the four projections' weight gradients.
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
        self._mask = np.zeros((0, 0), np.float32)

    def _causal_mask(self, s):
        """(s, s) float32: 0 on and below the diagonal, -inf above (cached per length)."""
        if self._mask.shape[0] != s:
            self._mask = np.where(np.triu(np.ones((s, s), dtype=bool), 1), -np.inf,
                                  0.0).astype(np.float32)
        return self._mask

    def _split(self, t, b, s):
        """(b, s, dim) -> (b, heads, s, d)."""
        return t.reshape(b, s, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, t, b, s):
        """(b, heads, s, d) -> (b, s, dim), contiguous."""
        return np.ascontiguousarray(t.transpose(0, 2, 1, 3)).reshape(b, s, self.dim)

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"argument 'x': expected shape (batch, seq, {self.dim}), "
                             f"got {x.shape}")
        b, s, _ = x.shape
        q = self.rope.forward(self._split(self.q.forward(x), b, s))
        k = self.rope.forward(self._split(self.k.forward(x), b, s))
        v = self._split(self.v.forward(x), b, s)
        scale = np.float32(1.0 / np.sqrt(self.head_dim))
        scores = np.matmul(q, k.transpose(0, 1, 3, 2)) * scale
        scores += self._causal_mask(s)  # the diagonal stays finite, so no row is all -inf
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores, out=scores)
        p /= p.sum(axis=-1, keepdims=True)
        y = np.matmul(p, v)
        self._cache = (q, k, v, p) if self.training else None
        return self.o.forward(self._merge(y, b, s))

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("CausalSelfAttention.backward called before a training-mode "
                               "forward")
        q, k, v, p = self._cache
        b, _, s, _ = q.shape
        grad = np.asarray(grad)
        if grad.shape != (b, s, self.dim):
            raise ValueError(f"argument 'grad': expected shape {(b, s, self.dim)} (the last "
                             f"forward's output), got {grad.shape}")
        dy = self._split(self.o.backward(grad), b, s)
        dv = np.matmul(p.transpose(0, 1, 3, 2), dy)
        dp = np.matmul(dy, v.transpose(0, 1, 3, 2))
        # softmax backward: dS = P * (dP - rowsum(dP * P)); masked entries have P = 0.
        ds = dp
        ds -= np.sum(dp * p, axis=-1, keepdims=True)
        ds *= p
        ds *= np.float32(1.0 / np.sqrt(self.head_dim))
        dq = self.rope.backward(np.matmul(ds, k))
        dk = self.rope.backward(np.matmul(ds.transpose(0, 1, 3, 2), q))
        dx = self.q.backward(self._merge(dq, b, s))
        dx += self.k.backward(self._merge(dk, b, s))
        dx += self.v.backward(self._merge(dv, b, s))
        return dx

    def extra_repr(self):
        return (f"dim={self.dim}, n_heads={self.n_heads}, recipe={self.q.recipe.name!r}, "
                f"seed={self.seed}")
