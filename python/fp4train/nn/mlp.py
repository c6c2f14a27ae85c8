"""fp4train.nn.SwiGLU: the gated feed-forward block of Llama.

Public: SwiGLU.
"""
from .. import _core
from .linear import Linear, _check_int
from .module import Module, child_seed


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
    silu(g) = g sigmoid(g), computed in float32 by a C++ elementwise kernel
    (``_core.swiglu_forward`` / ``_backward``, sigmoid = 1/(1+exp(-g)), which
    never overflows to NaN). forward caches gate and up outputs and the
    sigmoid; ``backward(grad)`` returns dx and accumulates the weight
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
        h, sig = _core.swiglu_forward(g, u)
        self._cache = (g, u, sig) if self.training else None
        return self.down.forward(h)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("SwiGLU.backward called before a training-mode forward")
        g, u, sig = self._cache
        dh = self.down.backward(grad)  # checks grad
        dg, du = _core.swiglu_backward(g, u, sig, dh)
        dx = self.gate.backward(dg)
        dx += self.up.backward(du)
        return dx

    def extra_repr(self):
        return (f"dim={self.dim}, hidden={self.hidden}, recipe={self.gate.recipe.name!r}, "
                f"seed={self.seed}")
