"""The small module system of fp4train.nn: Parameter and Module.

Public: Parameter, Module, child_seed, check_grad.

Layers are explicit forward/backward pairs (llm.c style), not autograd:
``forward(x)`` caches what ``backward`` needs, ``backward(grad)`` returns the
gradient of the input and accumulates (``+=``) parameter gradients, which only
``zero_grad()`` clears. Everything is float32 numpy.
"""
import numpy as np


def child_seed(seed, tag):
    """An independent 32-bit seed for child ``tag`` of ``seed`` (sublayers of a module)."""
    return int(np.random.SeedSequence([int(seed), int(tag)]).generate_state(1)[0])


def check_grad(grad, expected):
    """``grad`` as an array of the last forward's output shape ``expected``,
    real-valued; errors name argument 'grad'. Shared by the layers' backward."""
    grad = np.asarray(grad)
    if grad.shape != tuple(expected):
        raise ValueError(f"argument 'grad': expected shape {tuple(expected)} (the last "
                         f"forward's output), got {grad.shape}")
    if grad.dtype.kind not in "fiu":
        raise TypeError(f"argument 'grad': expected a real numeric array, got dtype "
                        f"{grad.dtype}")
    return grad


class Parameter:
    """A float32 tensor with an accumulated gradient.

    Attributes
    ----------
    data : np.ndarray (float32, C-contiguous)
    grad : np.ndarray, same shape, zeros until a backward accumulates into it.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    def zero_grad(self):
        self.grad.fill(0.0)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape})"


class Module:
    """Base class: children and parameters are found from attributes.

    Subclasses implement ``forward`` and ``backward``; ``__call__`` is forward.
    """

    def __init__(self):
        self.training = True

    # -- structure ---------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, Module):
                        yield f"{name}.{i}", v

    def named_parameters(self, prefix=""):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    # -- training state ----------------------------------------------------
    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- state -------------------------------------------------------------
    def _extra_state(self):
        """Non-parameter state to save (counters, ...); override as needed."""
        return {}

    def _load_extra_state(self, state):
        if state:
            raise ValueError(f"{type(self).__name__}: unexpected extra state {sorted(state)}")

    def state_dict(self):
        """Parameters (copies) and extra state of this module and its children."""
        out = {name: p.data.copy() for name, p in self.named_parameters()}
        for prefix, m in self._named_modules():
            for k, v in m._extra_state().items():
                out[f"{prefix}{k}"] = v
        return out

    def load_state_dict(self, state):
        """Load a state_dict; every key must match and every shape must agree.

        Nothing is modified unless the whole dict is valid.
        """
        if not isinstance(state, dict):
            raise TypeError(f"argument 'state': expected a dict, got {type(state).__name__}")
        params = dict(self.named_parameters())
        extras = {}
        for prefix, m in self._named_modules():
            for k in m._extra_state():
                extras[prefix + k] = (m, k)
        expected = set(params) | set(extras)
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise ValueError(f"argument 'state': missing keys {sorted(missing)}, "
                             f"unexpected keys {sorted(unexpected)}")
        for name, p in params.items():
            v = np.asarray(state[name])
            if v.shape != p.data.shape:
                raise ValueError(f"argument 'state': '{name}' has shape {v.shape}, "
                                 f"expected {p.data.shape}")
        for name, p in params.items():
            p.data[...] = np.asarray(state[name], dtype=np.float32)
        per_module = {}
        for key, (m, k) in extras.items():
            per_module.setdefault(id(m), (m, {}))[1][k] = state[key]
        for m, st in per_module.values():
            m._load_extra_state(st)

    def _named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.named_children():
            yield from child._named_modules(prefix + name + ".")

    # -- calling -----------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            lines.append("  (" + name + "): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"
