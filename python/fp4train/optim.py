"""Optimizer, gradient clipping and learning-rate schedule for FP4 training runs.

Public
------
AdamW(named_params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, no_decay=...)
    Adam with decoupled weight decay on float32 master weights and states.
clip_grad_norm(params, max_norm) -> float
    Global L2 gradient norm (float64, fixed order), scaling grads in place when above max_norm.
WarmupCosine(lr, warmup_steps, total_steps, min_ratio=0.1)
    Linear warmup then cosine decay to ``min_ratio * lr``.

The recipes quantize only the GEMM operands; master weights, gradients and the
optimizer stay float32 (DESIGN §3). Everything here is deterministic: a fixed
update order and elementwise numpy arithmetic, so the same inputs give the same
bits whatever the thread count.
"""
import math

import numpy as np

from ._checks import check_float as _check_float
from ._checks import check_int as _check_int

__all__ = ["AdamW", "WarmupCosine", "clip_grad_norm"]


# -- argument checks ------------------------------------------------------------
def _default_no_decay(name, p):
    """Biases, norm gains and other vectors are not decayed; matrices are."""
    return p.data.ndim < 2


# -- AdamW ----------------------------------------------------------------------
_CHUNK = 1 << 16  # elements per cache block of the AdamW update (5 arrays * 256 KiB)


def _adamw_update(p, g, m, v, tmp, b1, one_m_b1, b2, one_m_b2, inv_sqrt_bc2, eps, step_size,
                  shrink):
    """The AdamW formulas of :class:`AdamW` in place on float32 arrays (scalars float32)."""
    # m = b1 m + (1 - b1) g
    np.multiply(m, b1, out=m)
    np.multiply(g, one_m_b1, out=tmp)
    np.add(m, tmp, out=m)
    # v = b2 v + (1 - b2) g^2
    np.multiply(v, b2, out=v)
    np.multiply(g, g, out=tmp)
    np.multiply(tmp, one_m_b2, out=tmp)
    np.add(v, tmp, out=v)
    # tmp = step_size * m / (sqrt(v) / sqrt(bc2) + eps)
    np.sqrt(v, out=tmp)
    np.multiply(tmp, inv_sqrt_bc2, out=tmp)
    np.add(tmp, eps, out=tmp)
    np.divide(m, tmp, out=tmp)
    np.multiply(tmp, step_size, out=tmp)
    if shrink is not None:  # decoupled weight decay
        np.multiply(p, shrink, out=p)
    np.subtract(p, tmp, out=p)


class AdamW:
    """AdamW (Loshchilov & Hutter) on float32 master weights and states.

    One step, for each parameter in the given order, with t the step count
    after incrementing, g = p.grad, all arrays float32::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p * (1 - lr * weight_decay)          # decoupled; only decayed params
        p = p - (lr / (1 - b1**t)) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    (the formulation of torch.optim.AdamW; the bias corrections are computed in
    float64 and enter as float32 scalars). The update is in place on
    ``p.data``; the model keeps its arrays.

    Parameters
    ----------
    named_params : iterable of (str, Parameter)
        E.g. ``model.named_parameters()``. Each Parameter has float32 ``data``
        and ``grad`` of the same shape. Names are unique; the order is the
        update order.
    lr : float >= 0
        Default learning rate (``step(lr=...)`` overrides it for one step).
    betas : (float, float), each in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    no_decay : callable (name, Parameter) -> bool
        Parameters for which it returns True get no weight decay. Default:
        vectors (``p.data.ndim < 2``: biases, RMSNorm gains).

    Attributes
    ----------
    t : int
        Steps taken.
    names : list of str
    lr, betas, eps, weight_decay
    """

    def __init__(self, named_params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                 no_decay=_default_no_decay):
        if isinstance(named_params, dict):
            named_params = named_params.items()
        try:
            pairs = list(named_params)
        except TypeError:
            raise TypeError("argument 'named_params': expected an iterable of (name, Parameter), "
                            f"got {type(named_params).__name__}") from None
        if not pairs:
            raise ValueError("argument 'named_params': expected at least one parameter, got none")
        if not callable(no_decay):
            raise TypeError("argument 'no_decay': expected a callable, "
                            f"got {type(no_decay).__name__}")
        self.lr = _check_float("lr", lr, lo=0.0)
        self.betas = self._check_betas(betas)
        self.eps = _check_float("eps", eps, lo=0.0, lo_open=True)
        self.weight_decay = _check_float("weight_decay", weight_decay, lo=0.0)
        self.names, self.params, self.decay = [], [], []
        seen_names, seen_ids = set(), set()
        for item in pairs:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise TypeError("argument 'named_params': expected (name, Parameter) pairs, "
                                f"got {item!r:.60}")
            name, p = item
            data, grad = getattr(p, "data", None), getattr(p, "grad", None)
            if not (isinstance(data, np.ndarray) and data.dtype == np.float32
                    and isinstance(grad, np.ndarray) and grad.shape == data.shape):
                raise TypeError(f"argument 'named_params': '{name}' is not a Parameter with "
                                "float32 data and a gradient of the same shape")
            if name in seen_names:
                raise ValueError(f"argument 'named_params': duplicate name '{name}'")
            if id(p) in seen_ids:
                raise ValueError(f"argument 'named_params': '{name}' repeats a parameter "
                                 "already given")
            seen_names.add(name)
            seen_ids.add(id(p))
            self.names.append(name)
            self.params.append(p)
            self.decay.append(not bool(no_decay(name, p)))
        self.t = 0
        self.m = [np.zeros(p.data.shape, np.float32) for p in self.params]
        self.v = [np.zeros(p.data.shape, np.float32) for p in self.params]
        # One scratch buffer shared by all parameters (they are updated one after another).
        self._scratch = np.empty(max(p.data.size for p in self.params), np.float32)

    @staticmethod
    def _check_betas(betas):
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"argument 'betas': expected a pair of floats, got {betas!r}")
        return (_check_float("betas", betas[0], 0.0, 1.0, hi_open=True),
                _check_float("betas", betas[1], 0.0, 1.0, hi_open=True))

    def decayed_names(self):
        """Names of the parameters that receive weight decay."""
        return [n for n, d in zip(self.names, self.decay) if d]

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.params:
            p.grad.fill(0.0)

    def step(self, lr=None):
        """One AdamW update of every parameter from its current ``grad``.

        Parameters
        ----------
        lr : float >= 0 or None
            Learning rate for this step (a schedule's value); None uses ``self.lr``.
        """
        lr = self.lr if lr is None else _check_float("lr", lr, lo=0.0)
        for name, p, m in zip(self.names, self.params, self.m):  # check all before changing any
            if p.data.shape != m.shape or p.grad.shape != m.shape:
                raise ValueError(f"parameter '{name}': data {p.data.shape} and grad "
                                 f"{p.grad.shape} no longer match the optimizer state {m.shape}")
        b1, b2 = self.betas
        self.t += 1
        bc1 = 1.0 - b1 ** self.t
        bc2 = 1.0 - b2 ** self.t
        f32 = np.float32
        one_m_b1, one_m_b2 = f32(1.0 - b1), f32(1.0 - b2)
        b1f, b2f = f32(b1), f32(b2)
        inv_sqrt_bc2 = f32(1.0 / math.sqrt(bc2))
        step_size = f32(lr / bc1)
        eps = f32(self.eps)
        shrink = f32(1.0 - lr * self.weight_decay)
        decay_on = self.weight_decay != 0.0
        scratch = self._scratch
        for p, m, v, decay in zip(self.params, self.m, self.v, self.decay):
            data, g = p.data, p.grad
            if data.flags.c_contiguous and g.flags.c_contiguous and data.size > _CHUNK:
                # Cache blocking: all 13 passes over one chunk while it sits in L2.
                data, g, mf, vf = data.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
                for s in range(0, data.size, _CHUNK):
                    e = min(s + _CHUNK, data.size)
                    _adamw_update(data[s:e], g[s:e], mf[s:e], vf[s:e], scratch[:e - s],
                                  b1f, one_m_b1, b2f, one_m_b2, inv_sqrt_bc2, eps, step_size,
                                  shrink if decay and decay_on else None)
            else:
                tmp = scratch[:m.size].reshape(m.shape)
                _adamw_update(data, g, m, v, tmp, b1f, one_m_b1, b2f, one_m_b2, inv_sqrt_bc2,
                              eps, step_size, shrink if decay and decay_on else None)

    # -- state -------------------------------------------------------------------
    def state_dict(self):
        """The optimizer state: ``t``, hyperparameters, ``m.<name>`` and ``v.<name>`` (copies).

        Values are ints, floats and float32 arrays (``np.savez``-friendly).
        """
        out = {"t": self.t, "lr": self.lr, "beta1": self.betas[0], "beta2": self.betas[1],
               "eps": self.eps, "weight_decay": self.weight_decay}
        for name, m, v in zip(self.names, self.m, self.v):
            out["m." + name] = m.copy()
            out["v." + name] = v.copy()
        return out

    def load_state_dict(self, sd):
        """Restore a :meth:`state_dict`; the hyperparameters stored in it are restored too.

        Every key, shape and value is validated before anything changes, so a
        bad dict leaves the optimizer as it was.
        """
        if not isinstance(sd, dict):
            raise TypeError(f"argument 'sd': expected a dict, got {type(sd).__name__}")
        scalars = ("t", "lr", "beta1", "beta2", "eps", "weight_decay")
        expected = set(scalars)
        for name in self.names:
            expected.update(("m." + name, "v." + name))
        missing, unexpected = expected - set(sd), set(sd) - expected
        if missing or unexpected:
            raise ValueError(f"argument 'sd': missing keys {sorted(missing)}, "
                             f"unexpected keys {sorted(unexpected)}")

        def scalar(key):
            v = sd[key]
            if isinstance(v, np.ndarray) and v.shape == ():  # np.load gives 0-d arrays
                v = v.item()
            return v

        t = scalar("t")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"argument 'sd': 't' must be an int >= 0, got {t!r}")
        lr = _check_float("sd['lr']", scalar("lr"), lo=0.0)
        betas = (_check_float("sd['beta1']", scalar("beta1"), 0.0, 1.0, hi_open=True),
                 _check_float("sd['beta2']", scalar("beta2"), 0.0, 1.0, hi_open=True))
        eps = _check_float("sd['eps']", scalar("eps"), lo=0.0, lo_open=True)
        wd = _check_float("sd['weight_decay']", scalar("weight_decay"), lo=0.0)
        arrays = []
        for name, p in zip(self.names, self.params):
            for key in ("m." + name, "v." + name):
                a = np.asarray(sd[key])
                if a.shape != p.data.shape:
                    raise ValueError(f"argument 'sd': '{key}' has shape {a.shape}, "
                                     f"expected {p.data.shape}")
                if a.dtype.kind not in "fiu":
                    raise ValueError(f"argument 'sd': '{key}' has dtype {a.dtype}, "
                                     "expected float32")
                arrays.append(a)
        for a, key in zip(arrays[1::2], (f"v.{n}" for n in self.names)):
            if a.size and not (np.all(a >= 0)):
                raise ValueError(f"argument 'sd': '{key}' must be >= 0 everywhere "
                                 "(a second moment)")
        self.t, self.lr, self.betas, self.eps, self.weight_decay = int(t), lr, betas, eps, wd
        for i in range(len(self.names)):
            self.m[i][...] = arrays[2 * i]
            self.v[i][...] = arrays[2 * i + 1]

    def __repr__(self):
        return (f"AdamW(params={len(self.params)}, lr={self.lr}, betas={self.betas}, "
                f"eps={self.eps}, weight_decay={self.weight_decay}, t={self.t})")


# -- gradient clipping ----------------------------------------------------------
def clip_grad_norm(params, max_norm):
    """Clip gradients by their global L2 norm; return the norm before clipping.

    The squares are summed in float64 (a float32 square is exact in float64) in
    the given parameter order, in fixed chunks of 65536 elements each summed by
    numpy's pairwise summation, so the result does not depend on threads. When
    ``max_norm`` is positive and the norm is finite and above it, every gradient
    is multiplied in place by the float32 factor ``max_norm / (norm + 1e-6)``.
    A non-finite norm is returned unchanged and nothing is scaled (the caller
    decides whether to skip the step).

    Parameters
    ----------
    params : iterable of Parameter (or of (name, Parameter) pairs)
    max_norm : float >= 0 or None
        None or 0 measure without clipping.

    Returns
    -------
    float
        The global gradient norm before clipping.
    """
    if max_norm is not None:
        max_norm = _check_float("max_norm", max_norm, lo=0.0)
    grads = []
    for p in params:
        if isinstance(p, tuple) and len(p) == 2:
            p = p[1]
        g = getattr(p, "grad", None)
        if not isinstance(g, np.ndarray):
            raise TypeError(f"argument 'params': expected Parameters with a numpy grad, "
                            f"got {type(p).__name__}")
        grads.append(g)
    total = 0.0
    buf = np.empty(min(_CHUNK, max((g.size for g in grads), default=0)), np.float64)
    for g in grads:
        flat = g.reshape(-1)
        for s in range(0, flat.size, _CHUNK):  # chunks of a fixed size: same order every time
            part = buf[:min(_CHUNK, flat.size - s)]
            np.square(flat[s:s + _CHUNK], out=part, dtype=np.float64)
            total += float(part.sum())
    norm = math.sqrt(total)
    if max_norm and math.isfinite(norm) and norm > max_norm:
        scale = np.float32(max_norm / (norm + 1e-6))
        for g in grads:
            np.multiply(g, scale, out=g)
    return norm


# -- schedule -------------------------------------------------------------------
class WarmupCosine:
    """Learning rate: linear warmup, cosine decay, then constant.

    ``step`` counts from 0::

        step < warmup_steps:          lr * (step + 1) / warmup_steps
        warmup_steps <= step < total: min_lr + (lr - min_lr) * (1 + cos(pi * q)) / 2,
                                      q = (step - warmup_steps) / (total_steps - warmup_steps)
        step >= total_steps:          min_lr = min_ratio * lr

    Parameters
    ----------
    lr : float >= 0
    warmup_steps : int >= 0
    total_steps : int >= 1, >= warmup_steps
    min_ratio : float in [0, 1]
    """

    def __init__(self, lr, warmup_steps, total_steps, min_ratio=0.1):
        self.lr = _check_float("lr", lr, lo=0.0)
        self.warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
        self.total_steps = _check_int("total_steps", total_steps, 1)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"argument 'warmup_steps': expected an int <= total_steps "
                             f"({self.total_steps}), got {self.warmup_steps}")
        self.min_ratio = _check_float("min_ratio", min_ratio, 0.0, 1.0)

    def __call__(self, step):
        step = _check_int("step", step, 0)
        lr, w, total = self.lr, self.warmup_steps, self.total_steps
        min_lr = self.min_ratio * lr
        if step < w:
            return lr * (step + 1) / w
        if step >= total:
            return min_lr
        q = (step - w) / (total - w)
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * q))

    def __repr__(self):
        return (f"WarmupCosine(lr={self.lr}, warmup_steps={self.warmup_steps}, "
                f"total_steps={self.total_steps}, min_ratio={self.min_ratio})")
