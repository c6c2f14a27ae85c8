"""fp4train.nn.RMSNorm: root-mean-square layer normalisation.

Public: RMSNorm.
"""
import numbers

import numpy as np

from .. import _core
from .linear import _check_int
from .module import Module, Parameter, check_grad


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

    Both directions run in C++ (``_core.rmsnorm_forward`` / ``_backward``,
    csrc/ops/rmsnorm.h; numpy twin in :mod:`fp4train.reference.nn_ops`).
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
        y, rstd = _core.rmsnorm_forward(x, self.weight.data, self.eps)
        self._cache = (x, rstd) if self.training else None
        return y

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("RMSNorm.backward called before a training-mode forward")
        x, rstd = self._cache
        grad = check_grad(grad, x.shape).astype(np.float32, copy=False)
        return _core.rmsnorm_backward(x, rstd, self.weight.data, grad, self.weight.grad)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}"
