"""fp4train.nn.CrossEntropyLoss: softmax cross-entropy over integer targets.

Public: CrossEntropyLoss.
"""
import numbers

import numpy as np

from .. import _core
from .module import Module


class CrossEntropyLoss(Module):
    """Mean over tokens of -log softmax(logits)[target].

    Parameters
    ----------
    ignore_index : int or None
        Targets equal to it contribute neither loss nor gradient and are not
        counted in the mean.

    Notes
    -----
    ``forward(logits, targets)``: logits (..., vocab) real, targets integer
    of shape logits.shape[:-1] with values in [0, vocab) (or ignore_index).
    The log-softmax is max-subtracted float32; the mean accumulates in
    float64 and is returned as a Python float. If every target is ignored the
    loss is 0.0 and the gradient zero. ``backward(grad=1.0)`` returns
    dlogits = grad * (softmax - onehot) / n_counted, float32, zero on ignored
    rows. NaN/Inf logits propagate. The per-row work (max, exp-sum, log,
    softmax gradient) runs in C++ (``_core.cross_entropy_forward`` /
    ``_backward``, csrc/ops/cross_entropy.h).
    """

    def __init__(self, ignore_index=None):
        super().__init__()
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, numbers.Integral)):
            raise TypeError("argument 'ignore_index': expected an int or None, got "
                            f"{type(ignore_index).__name__}")
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self._cache = None

    def __call__(self, logits, targets):
        return self.forward(logits, targets)

    def forward(self, logits, targets):
        logits = np.asarray(logits)
        if logits.dtype.kind not in "fiu":
            raise TypeError(f"argument 'logits': expected a real numeric array, got dtype "
                            f"{logits.dtype}")
        if logits.ndim < 1 or logits.shape[-1] < 1:
            raise ValueError(f"argument 'logits': expected shape (..., vocab), got "
                             f"{logits.shape}")
        targets = np.asarray(targets)
        if targets.dtype.kind not in "iu":
            raise TypeError(f"argument 'targets': expected an integer array, got dtype "
                            f"{targets.dtype}")
        if targets.shape != logits.shape[:-1]:
            raise ValueError(f"argument 'targets': expected shape {logits.shape[:-1]} "
                             f"(logits without the vocab axis), got {targets.shape}")
        vocab = logits.shape[-1]
        t = targets.reshape(-1).astype(np.int64)
        keep = np.ones(t.shape, bool) if self.ignore_index is None else t != self.ignore_index
        tk = t[keep]
        if tk.size and (tk.min() < 0 or tk.max() >= vocab):
            raise ValueError(f"argument 'targets': expected values in [0, {vocab})"
                             + ("" if self.ignore_index is None
                                else f" or ignore_index={self.ignore_index}")
                             + f", got values in [{tk.min()}, {tk.max()}]")
        # z = logits - rowmax (a new array), lse and nll per row (0 on ignored rows).
        z, lse, nll = _core.cross_entropy_forward(logits, t, self.ignore_index)
        count = tk.size
        loss = float(np.sum(nll[keep], dtype=np.float64) / count) if count else 0.0
        if self.training:
            self._cache = (z, lse, t, count, logits.shape)
        return loss

    def backward(self, grad=1.0):
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward called before a training-mode forward")
        if isinstance(grad, bool) or not isinstance(grad, numbers.Real):
            raise TypeError(f"argument 'grad': expected a real scalar, got {type(grad).__name__}")
        z, lse, t, count, shape = self._cache
        if not count:
            return np.zeros(shape, np.float32)
        scale = float(np.float32(float(grad) / count))
        d = _core.cross_entropy_backward(z, lse, t, self.ignore_index, scale)
        return d.reshape(shape)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}"
