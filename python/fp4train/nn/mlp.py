"""fp4train.nn.SwiGLU: the gated feed-forward block of Llama.

Public: SwiGLU.
"""
import numpy as np

from .linear import Linear, _check_int
from .module import Module, child_seed


def _sigmoid(x):
    # 0.5 (1 + tanh(x/2)): no overflow for large |x|.
    return np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * x))


class SwiGLU(Module):
    """out = down(silu(gate(x)) * up(x)), three quantized Linears without bias.

    Parameters
    ----------
    dim : int
        Input and output width.
    hidden : int
        Width of gate and up.
    recipe : Recipe or str
        Recipe of the three :class:`fp4train.nn.Linear` layers.
    seed : int
        gate, up, down get the seeds ``SeedSequence([seed, i])``, i = 0, 1, 2.

    Notes
    -----
    silu(g) = g sigmoid(g), computed in float32. forward caches gate and up
    outputs; ``backward(grad)`` returns dx and accumulates the weight
    gradients (d silu/dg = s (1 + g (1 - s)), s = sigmoid(g)).
    """

    def __init__(self, dim, hidden, recipe="fp32", seed=0):
        super().__init__()
        self.dim = _check_int("dim", dim, 1)
        self.hidden = _check_int("hidden", hidden, 1)
        self.seed = _check_int("seed", seed, 0)
        self.gate = Linear(self.dim, self.hidden, bias=False, recipe=recipe,
                           seed=child_seed(self.seed, 0))
        self.up = Linear(self.dim, self.hidden, bias=False, recipe=recipe,
                         seed=child_seed(self.seed, 1))
        self.down = Linear(self.hidden, self.dim, bias=False, recipe=recipe,
                           seed=child_seed(self.seed, 2))
        self._cache = None

    def forward(self, x):
        g = self.gate.forward(x)  # checks x
        u = self.up.forward(x)
        sig = _sigmoid(g)
        act = g * sig
        self._cache = (g, u, sig, act) if self.training else None
        return self.down.forward(act * u)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("SwiGLU.backward called before a training-mode forward")
        g, u, sig, act = self._cache
        dh = self.down.backward(grad)  # checks grad
        du = dh * act
        dg = dh * u
        dg *= sig * (np.float32(1.0) + g * (np.float32(1.0) - sig))
        dx = self.gate.backward(dg)
        dx += self.up.backward(du)
        return dx

    def extra_repr(self):
        return (f"dim={self.dim}, hidden={self.hidden}, recipe={self.gate.recipe.name!r}, "
                f"seed={self.seed}")
