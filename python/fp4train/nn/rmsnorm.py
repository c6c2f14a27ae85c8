"""fp4train.nn.RMSNorm: root-mean-square layer normalisation.

Public: RMSNorm.
"""
import numbers

import numpy as np

from .linear import _check_int
from .module import Module, Parameter


def _as_features(name, x, dim):
    """x as float32 with last dimension ``dim``; TypeError/ValueError naming ``name``."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"argument '{name}': expected a real numeric array, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != dim:
        raise ValueError(f"argument '{name}': expected shape (..., {dim}), got {x.shape}")
    return x.astype(np.float32, copy=False)


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2, -1) + eps) * weight, in float32.

    Parameters
    ----------
    dim : int
        Size of the normalised (last) axis.
    eps : float
        Added to the mean square, > 0.

    Notes
    -----
    ``weight`` starts at ones. forward caches the input and 1/rms per row;
    ``backward(grad)`` returns dx and accumulates ``weight.grad``::

        dx = rstd * (g*w - x * rstd^2 * mean(g*w*x, -1))
        dw += sum over rows of g * x * rstd
    """

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.dim = _check_int("dim", dim, 1)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"argument 'eps': expected a float > 0, got {eps!r}")
        self.eps = float(eps)
        self.weight = Parameter(np.ones(self.dim))
        self._cache = None

    def forward(self, x):
        x = _as_features("x", x, self.dim)
        ms = np.mean(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
        rstd = (1.0 / np.sqrt(ms + np.float32(self.eps))).astype(np.float32)
        xhat = x * rstd
        self._cache = (x, rstd) if self.training else None
        return xhat * self.weight.data

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("RMSNorm.backward called before a training-mode forward")
        x, rstd = self._cache
        grad = np.asarray(grad)
        if grad.shape != x.shape:
            raise ValueError(f"argument 'grad': expected shape {x.shape} (the last forward's "
                             f"output), got {grad.shape}")
        grad = _as_features("grad", grad, self.dim)
        xhat = x * rstd
        self.weight.grad += np.sum((grad * xhat).reshape(-1, self.dim), axis=0)
        gw = grad * self.weight.data
        dot = np.mean(gw * xhat, axis=-1, keepdims=True)
        return rstd * (gw - xhat * dot)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}"
