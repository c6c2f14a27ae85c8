"""fp4train.nn.Hadamard: a blockwise Hadamard transform as a layer.

Public: Hadamard.
"""
import numbers

import numpy as np

from ..hadamard import HadamardSpec, hadamard, hadamard_inverse
from .module import Module


class Hadamard(Module):
    """y = blockwise Hadamard transform of x along ``axis`` (no parameters).

    Parameters
    ----------
    size : int
        Block size, a power of two in [2, 32768]; ``x.shape[axis]`` must be a
        multiple of it.
    signs : {'none', 'fixed', 'per_step'} or sequence of +-1
        'none': plain Sylvester H. 'fixed': one random sign vector drawn from
        ``seed``. 'per_step': a new vector from (seed, step) at every forward.
        A sequence of ``size`` entries +-1 is a 'fixed' policy with that
        vector (e.g. the published NVFP4 16-vector).
    seed : int
        Key of the drawn signs.
    axis : int
        The axis the blocks run along.

    Notes
    -----
    ``step`` starts at 0 and advances once per forward (training or not);
    forward number t uses ``HadamardSpec(size, signs, seed).signs_at(t)``.
    ``backward(grad)`` belongs to the most recent forward and uses its
    signs: the transform x -> x diag(s) H is orthogonal with H symmetric, so
    its gradient is the inverse transform grad -> grad H diag(s).
    ``state_dict()`` holds ``step``; loading it makes a resumed run draw the
    same signs as the original one.
    """

    def __init__(self, size, signs="none", seed=0, axis=-1):
        super().__init__()
        if isinstance(signs, (list, tuple, np.ndarray)):
            self.spec = HadamardSpec(size, "fixed", seed, tuple(np.asarray(signs).tolist()))
        else:
            self.spec = HadamardSpec(size, signs, seed)  # validates size, signs, seed
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"argument 'axis': expected an int, got {type(axis).__name__}")
        self.axis = int(axis)
        self.step = 0
        self._signs = None  # signs of the last forward, for backward

    @property
    def size(self):
        return self.spec.size

    def forward(self, x):
        signs = None if self.spec.signs == "none" else self.spec.signs_at(self.step)
        y = hadamard(x, self.spec.size, self.axis, signs)
        self._signs = (signs,)
        self.step += 1
        return y

    def backward(self, grad):
        if self._signs is None:
            raise RuntimeError("Hadamard.backward: call forward first")
        return hadamard_inverse(grad, self.spec.size, self.axis, self._signs[0])

    def _extra_state(self):
        return {"step": self.step}

    def _load_extra_state(self, state):
        unexpected = set(state) - {"step"}
        if unexpected:
            raise ValueError(f"Hadamard: unexpected extra state {sorted(unexpected)}")
        step = state.get("step", 0)
        if isinstance(step, np.ndarray) and step.shape == ():
            step = step.item()
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral):
            raise TypeError(f"argument 'state': 'step' must be an int, got {type(step).__name__}")
        if step < 0:
            raise ValueError(f"argument 'state': 'step' must be >= 0, got {step}")
        self.step = int(step)
        self._signs = None

    def extra_repr(self):
        s = f"size={self.spec.size}, signs={self.spec.signs!r}"
        if self.spec.signs != "none":
            s += f", seed={self.spec.seed}"
        return s + f", axis={self.axis}, step={self.step}"
