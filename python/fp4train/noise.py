"""Gradient-noise monitor: is the quantized weight gradient still mostly signal?

Public: GradientNoiseMonitor, noise_ratio, monitored.

Every ``every`` steps, each monitored Linear also computes its weight
gradient in float32 on the same batch (the ``capture_fp32_wgrad`` hook of
:class:`fp4train.nn.Linear`), and the monitor logs for each layer::

    r = (||dW_fp32|| / sqrt(d)) / rms(dW_quant - dW_fp32) = rms(dW_fp32) / rms(error)

with d the number of weight entries. r is a signal-to-noise ratio of the
gradient the optimizer actually receives; below sqrt(3) the quantization
error dominates (the threshold used by FP4 training papers, where plain SGD
stops making progress), so the layer is flagged. With ``auto_switch`` the
monitor asks for the backward to move to bf16 once the median r over layers
has stayed below the threshold for ``patience`` consecutive checks.

Internal: ``_rms``.
"""
import math
import numbers

import numpy as np

from .nn.linear import Linear, _check_int

__all__ = ["GradientNoiseMonitor", "monitored", "noise_ratio"]

_HIGH_PRECISION = ("fp32", "bf16")


def monitored(linear):
    """True if the monitor measures ``linear``: one of its wgrad operands has a
    block or fp8 format. fp32 and bf16 wgrads carry no quantization noise worth
    a second GEMM (bf16 rounding error is ~2^-9 relative), so they are skipped,
    which also leaves bf16 edge blocks and the fp32 head out."""
    w = linear.recipe.wgrad
    return w.a.format not in _HIGH_PRECISION or w.b.format not in _HIGH_PRECISION


def _rms(x):
    x = np.asarray(x, dtype=np.float64)
    return math.sqrt(float(np.mean(np.square(x)))) if x.size else 0.0


def noise_ratio(dw_quant, dw_fp32):
    """r = rms(dw_fp32) / rms(dw_quant - dw_fp32), in float64.

    inf when the two gradients are equal (no quantization error, including
    both zero); NaN if either holds NaN/Inf.
    """
    dw_quant = np.asarray(dw_quant, dtype=np.float64)
    dw_fp32 = np.asarray(dw_fp32, dtype=np.float64)
    if dw_quant.shape != dw_fp32.shape:
        raise ValueError(f"argument 'dw_quant': expected shape {dw_fp32.shape} (dw_fp32's), "
                         f"got {dw_quant.shape}")
    if not (np.isfinite(dw_quant).all() and np.isfinite(dw_fp32).all()):
        return math.nan
    err = _rms(dw_quant - dw_fp32)
    return math.inf if err == 0.0 else _rms(dw_fp32) / err


class GradientNoiseMonitor:
    """Measure the weight-gradient signal-to-noise ratio r of quantized layers.

    Parameters
    ----------
    every : int >= 0
        Check every ``every`` steps (steps 0, every, 2 every, ...); 0 disables.
    threshold : float > 0, default sqrt(3)
        Layers with r < threshold are flagged; the median is compared to it.
    patience : int >= 1, default 3
        Consecutive checks with median r < threshold before an automatic switch.
    auto_switch : bool, default False
        When set, the check that reaches ``patience`` returns ``"switch": True``
        and sets ``switched_at = step + 1`` (once per run); the trainer then
        switches the backward to bf16 from that step
        (``policy.replace(switch_step=step + 1, switch_part="backward")``).

    Usage, per step ``step`` of the trainer::

        if monitor.due(step):
            monitor.arm(model)           # before the forward
        logits = model.forward(x); ...; model.backward(dlogits)
        if monitor.due(step):
            record = monitor.measure(step, model)   # after the backward

    Precondition of :meth:`measure`: each monitored layer's ``weight.grad`` holds
    exactly this step's quantized dW, i.e. the trainer zeroed the gradients
    before the forward and ran one forward/backward (no gradient accumulation
    over micro-batches, no clipping or optimizer step yet).

    Which layers: those of ``model.quantized_linears()`` whose wgrad has a block
    or fp8 operand (:func:`monitored`).

    A check with no monitored layer (e.g. every block in bf16) records
    ``median_r = None`` and leaves the consecutive count unchanged. A NaN r
    (non-finite gradients) counts as below the threshold: the gradient is
    unusable either way.
    """

    def __init__(self, every, threshold=math.sqrt(3), patience=3, auto_switch=False):
        self.every = _check_int("every", every, 0)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
                math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"argument 'threshold': expected a finite float > 0, got "
                             f"{threshold!r}")
        self.threshold = float(threshold)
        self.patience = _check_int("patience", patience, 1)
        if not isinstance(auto_switch, (bool, np.bool_)):
            raise TypeError(f"argument 'auto_switch': expected a bool, got "
                            f"{type(auto_switch).__name__}")
        self.auto_switch = bool(auto_switch)
        self.below_count = 0
        self.switched_at = None
        self.checks = 0
        self._armed = []
        self._is_armed = False

    # -- scheduling -----------------------------------------------------------
    def due(self, step):
        """True if ``step`` is a check step (every > 0 and step % every == 0)."""
        step = _check_int("step", step, 0)
        return self.every > 0 and step % self.every == 0

    @property
    def armed(self):
        """Names of the layers armed for the next measurement."""
        return [name for name, _ in self._armed]

    def arm(self, model):
        """Turn on fp32 wgrad capture of every monitored layer of ``model``.

        Call before the forward of a due step (after ``apply_policy``). Returns
        the armed layer names.
        """
        self.disarm()
        layers = [(name, lin) for name, lin in model.quantized_linears()
                  if isinstance(lin, Linear) and monitored(lin)]
        for _, lin in layers:
            lin.capture_fp32_wgrad = True
            lin.fp32_wgrad = None
        self._armed = layers
        self._is_armed = True
        return self.armed

    def disarm(self):
        """Turn capture off on the armed layers and free their fp32 gradients."""
        for _, lin in self._armed:
            lin.capture_fp32_wgrad = False
            lin.fp32_wgrad = None
            lin._capture_x = None
        self._armed = []
        self._is_armed = False

    # -- measuring ------------------------------------------------------------
    def measure(self, step, model):
        """r of every armed layer after the backward of ``step``; then disarms.

        ``model`` is the model that was armed (used for a consistency check).
        Returns the record of :meth:`record` (with no layer in it when arm found
        no monitored layer, e.g. after the backward was switched to bf16).
        """
        step = _check_int("step", step, 0)
        if not self._is_armed:
            raise RuntimeError("GradientNoiseMonitor.measure: not armed (call arm(model) "
                               "before the forward of a due step)")
        model_layers = {id(lin) for _, lin in model.quantized_linears()}
        ratios = {}
        try:
            for name, lin in self._armed:
                if id(lin) not in model_layers:
                    raise ValueError(f"argument 'model': layer '{name}' was armed on another "
                                     "model or is no longer quantized")
                if lin.fp32_wgrad is None:
                    raise RuntimeError(f"GradientNoiseMonitor.measure: layer '{name}' has no "
                                       "fp32 gradient (no training forward/backward since arm)")
                ratios[name] = noise_ratio(lin.weight.grad, lin.fp32_wgrad)
        finally:
            self.disarm()
        return self.record(step, ratios)

    def record(self, step, ratios):
        """Update the counters from per-layer ratios ``{name: r}`` and return the record.

        :meth:`measure` calls it; tests and offline analyses may feed values.

        Returns
        -------
        dict
            ``{"step", "r": {name: r}, "median_r" (float or None), "flagged":
            [names with r < threshold], "below_count", "switch": bool}``.
        """
        step = _check_int("step", step, 0)
        if not isinstance(ratios, dict):
            raise TypeError(f"argument 'ratios': expected a dict, got {type(ratios).__name__}")
        r = {str(k): float(v) for k, v in ratios.items()}
        self.checks += 1
        flagged = [k for k, v in r.items() if not v >= self.threshold]
        median = None
        if r:
            values = np.array(list(r.values()), dtype=np.float64)
            # NaN sorts as "below": an unusable gradient is noise.
            median = float(np.median(np.where(np.isnan(values), -np.inf, values)))
            self.below_count = self.below_count + 1 if median < self.threshold else 0
        switch = False
        if (self.auto_switch and self.switched_at is None
                and self.below_count >= self.patience):
            self.switched_at = step + 1
            switch = True
        return {"step": step, "r": r, "median_r": median, "flagged": flagged,
                "below_count": self.below_count, "switch": switch}

    # -- state ----------------------------------------------------------------
    def state_dict(self):
        """Counters as plain ints (JSON-ready); the configuration is not included."""
        return {"below_count": self.below_count, "checks": self.checks,
                "switched_at": -1 if self.switched_at is None else self.switched_at}

    def load_state_dict(self, state):
        """Load :meth:`state_dict` output; validated all-or-nothing."""
        if not isinstance(state, dict):
            raise TypeError(f"argument 'state': expected a dict, got {type(state).__name__}")
        keys = {"below_count", "checks", "switched_at"}
        if set(state) != keys:
            raise ValueError(f"argument 'state': expected keys {sorted(keys)}, got "
                             f"{sorted(map(str, state))}")
        values = {}
        for k in sorted(keys):
            v = state[k]
            if isinstance(v, np.ndarray) and v.ndim == 0:
                v = v.item()
            values[k] = _check_int(f"state.{k}", v, -1 if k == "switched_at" else 0)
        self.below_count = values["below_count"]
        self.checks = values["checks"]
        self.switched_at = None if values["switched_at"] < 0 else values["switched_at"]

    def __repr__(self):
        return (f"GradientNoiseMonitor(every={self.every}, threshold={self.threshold:.4g}, "
                f"patience={self.patience}, auto_switch={self.auto_switch}, "
                f"below_count={self.below_count}, switched_at={self.switched_at})")
