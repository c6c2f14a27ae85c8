"""fp4train.nn.Embedding: a token-embedding lookup table.

Public: Embedding.
"""
import numpy as np

from .. import _core
from .linear import _check_int
from .module import Module, Parameter, check_grad


class Embedding(Module):
    """out = weight[ids], with ``weight`` of shape (vocab, dim), float32.

    Parameters
    ----------
    vocab : int
        Number of rows (token ids run over 0..vocab-1).
    dim : int
        Embedding width.
    seed : int
        Initialisation seed: weight ~ N(0, 0.02^2) (GPT-2 / llm.c).

    Notes
    -----
    ``forward(ids)`` takes an integer array of any shape (...) and returns
    (..., dim) float32. ``backward(grad)`` takes (..., dim), accumulates into
    ``weight.grad`` exactly as ``np.add.at`` would (deterministic: repeated
    ids add in order; a C++ scatter-add split over table rows,
    ``_core.embedding_backward``) and returns None: ids have no gradient. The lookup is never
    quantized (the model policy keeps embeddings in high precision).
    """

    def __init__(self, vocab, dim, seed=0):
        super().__init__()
        self.vocab = _check_int("vocab", vocab, 1)
        self.dim = _check_int("dim", dim, 1)
        self.seed = _check_int("seed", seed, 0)
        init = np.random.default_rng(self.seed)
        self.weight = Parameter(init.standard_normal((self.vocab, self.dim)) * 0.02)
        self._ids = None

    def forward(self, ids):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"argument 'ids': expected an integer array, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise ValueError(f"argument 'ids': expected ids in [0, {self.vocab}), got values in "
                             f"[{ids.min()}, {ids.max()}]")
        self._ids = ids.copy() if self.training else None
        return self.weight.data[ids]

    def backward(self, grad):
        if self._ids is None:
            raise RuntimeError("Embedding.backward called before a training-mode forward")
        grad = check_grad(grad, self._ids.shape + (self.dim,))
        _core.embedding_backward(self._ids.reshape(-1), grad.reshape(-1, self.dim),
                                 self.weight.grad)
        return None

    def extra_repr(self):
        return f"vocab={self.vocab}, dim={self.dim}, seed={self.seed}"
