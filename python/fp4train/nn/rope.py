"""fp4train.nn.RoPE: rotary position embedding.

Public: RoPE.
"""
import numbers

import numpy as np

from .. import _core
from .linear import _check_int
from .module import Module


class RoPE(Module):
    """Rotate channel pairs of q or k by position-dependent angles.

    Parameters
    ----------
    head_dim : int
        Last axis of the input, even.
    base : float
        Frequency base: pair i turns by ``pos * base**(-2i/head_dim)``.

    Notes
    -----
    Input (batch, heads, seq, head_dim), positions 0..seq-1. Pairs are
    (i, i + head_dim/2) (the "rotate half" layout of Llama):
    ``y1 = x1 cos - x2 sin``, ``y2 = x1 sin + x2 cos``. The angles are computed
    in float64 and rounded to float32 cos/sin once per sequence length.

    No parameters and no cache: the map is a rotation, so ``backward(grad)``
    is the inverse rotation of ``grad`` (any input of a valid shape), and it
    preserves norms. The rotation runs in C++ (``_core.rope``); it equals the
    numpy :func:`fp4train.reference.nn_ops.rope` bit for bit.
    """

    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        self.head_dim = _check_int("head_dim", head_dim, 2)
        if self.head_dim % 2:
            raise ValueError(f"argument 'head_dim': expected an even int, got {self.head_dim}")
        if isinstance(base, bool) or not isinstance(base, numbers.Real) or not base > 1:
            raise ValueError(f"argument 'base': expected a float > 1, got {base!r}")
        self.base = float(base)
        self._tables = {}

    def _cos_sin(self, seq):
        if seq not in self._tables:
            half = self.head_dim // 2
            inv_freq = self.base ** (-np.arange(half, dtype=np.float64) * 2.0 / self.head_dim)
            angle = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
            self._tables = {seq: (np.cos(angle).astype(np.float32),
                                  np.sin(angle).astype(np.float32))}
        return self._tables[seq]

    def _rotate(self, name, x, sign):
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"argument '{name}': expected a real numeric array, got dtype "
                            f"{x.dtype}")
        if x.ndim != 4 or x.shape[-1] != self.head_dim:
            raise ValueError(f"argument '{name}': expected shape (batch, heads, seq, "
                             f"{self.head_dim}), got {x.shape}")
        cos, sin = self._cos_sin(x.shape[2])
        return _core.rope(x, cos, sin, 2, sign < 0)

    def _rotate_seq_major(self, x, inverse):
        """RoPE of a (batch, seq, heads, head_dim) array (the projections' layout).

        Same rotation as forward/backward, position = index along axis 1;
        used by the attention layer to avoid transposes. Not validated: callers
        pass their own well-formed arrays.
        """
        cos, sin = self._cos_sin(x.shape[1])
        return _core.rope(x, cos, sin, 1, bool(inverse))

    def forward(self, x):
        return self._rotate("x", x, +1)

    def backward(self, grad):
        return self._rotate("grad", grad, -1)

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base}"
