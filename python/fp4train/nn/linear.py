"""fp4train.nn.Linear: a linear layer whose three GEMMs run under a recipe.

Public: Linear.

Y = X W^T + b. Fprop, Dgrad and Wgrad each quantize their two operands along
their own reduction axis under the recipe's configuration (see
:class:`fp4train.recipes.Recipe` for the operand roles), computed by the C++
core exactly as FP4 hardware would. Master weights, bias and gradients are
float32.
"""
import numpy as np

from .. import _core
from .._checks import check_int as _check_int
from ..gemm import gemm_f32
from ..recipes import Recipe
from ..recipes import get as _get_recipe
from .module import Module, Parameter, check_grad
from .quant_stats import operand_stats


def _as_recipe(recipe):
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str):
        return _get_recipe(recipe)
    raise TypeError("argument 'recipe': expected a fp4train.Recipe or a preset name, "
                    f"got {type(recipe).__name__}")




class Linear(Module):
    """Quantized linear layer with explicit forward and backward.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    recipe : Recipe or str
        A :class:`~fp4train.recipes.Recipe` or the name of a preset
        (``fp4train.recipes.names()``). Default 'fp32'.
    seed : int
        Layer seed: initialisation (uniform +-1/sqrt(in_features) for weight and
        bias, as torch.nn.Linear) and the stochastic-rounding / Hadamard keys,
        derived per (seed, step, GEMM, operand).
    save_quantized_only : bool
        Save only the quantized Wgrad operand of X instead of X in float32
        (``saved_bytes`` reports the memory held for backward).
    collect_stats : bool
        After each forward/backward, record the quantization error of every
        operand actually multiplied (see :meth:`quant_stats`). Off by default;
        costs nothing when off.

    Attributes
    ----------
    capture_fp32_wgrad : bool
        Off by default. When set, a training forward also keeps its input as a
        float32 2-D copy and the next ``backward`` stores ``fp32_wgrad`` =
        dY^T X computed by :func:`fp4train.gemm.gemm_f32` (bit-defined, the
        same bits for any thread count) from the same dY the recipe's wgrad
        received: the unquantized reference of this step's weight gradient,
        used by the gradient-noise monitor. Costs a copy of X and one float32
        GEMM per step while on; changes nothing else.
    fp32_wgrad : np.ndarray or None
        (out_features, in_features) float32, set by a capturing backward; not
        accumulated (each capturing backward overwrites it).

    Notes
    -----
    Inputs of shape (..., in_features) are flattened over leading dimensions.
    In eval mode (``layer.eval()``) forward saves nothing and does not advance
    the step. In training mode the step counter advances once per forward; ``backward`` must follow the
    forward it belongs to and receives a gradient of that forward's output
    shape. NaN/Inf in the input or gradient propagate (a non-finite value turns
    its quantization block into NaN). ``backward`` accumulates into
    ``weight.grad`` and ``bias.grad``; ``zero_grad()`` clears them.
    """

    def __init__(self, in_features, out_features, bias=True, recipe="fp32", seed=0,
                 save_quantized_only=False, collect_stats=False):
        super().__init__()
        self.in_features = _check_int("in_features", in_features, 1)
        self.out_features = _check_int("out_features", out_features, 1)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"argument 'bias': expected a bool, got {type(bias).__name__}")
        self.seed = _check_int("seed", seed, 0)
        self._recipe = _as_recipe(recipe)
        self._ctx = _core.LinearContext(self.in_features, self.out_features, self._recipe,
                                        self.seed, bool(save_quantized_only))
        self.save_quantized_only = bool(save_quantized_only)
        self.collect_stats = bool(collect_stats)
        bound = 1.0 / np.sqrt(self.in_features)
        init = np.random.default_rng(self.seed)
        self.weight = Parameter(init.uniform(-bound, bound, (self.out_features, self.in_features)))
        self.bias = Parameter(init.uniform(-bound, bound, self.out_features)) if bias else None
        self._lead_shape = None
        self._stats = {}
        self._stats_x = None
        self.capture_fp32_wgrad = False
        self.fp32_wgrad = None
        self._capture_x = None

    # -- recipe and step -----------------------------------------------------
    @property
    def recipe(self):
        return self._recipe

    @recipe.setter
    def recipe(self, recipe):
        """Switch recipe (e.g. the backward to bf16 late in training); drops saved state."""
        recipe = _as_recipe(recipe)
        self._ctx.set_recipe(recipe)
        self._recipe = recipe
        self._lead_shape = None

    @property
    def step(self):
        """The step the next forward runs at (advances once per forward)."""
        return int(self._ctx.next_step)

    @property
    def saved_bytes(self):
        """Bytes held for backward by the last forward."""
        return int(self._ctx.saved_bytes)

    def _extra_state(self):
        return {"step": np.int64(self.step)}

    def _load_extra_state(self, state):
        step = int(np.asarray(state["step"]))
        if step < 0:
            raise ValueError(f"argument 'state': 'step' must be >= 0, got {step}")
        self._ctx.next_step = step
        self._ctx.clear_saved()
        self._lead_shape = None

    # -- forward / backward ----------------------------------------------------
    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"argument 'x': expected shape (..., {self.in_features}), "
                             f"got {x.shape}")
        if x.dtype.kind not in "fiu":
            raise TypeError(f"argument 'x': expected a real numeric array, got dtype {x.dtype}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        b = None if self.bias is None else self.bias.data
        y = _core.linear_forward(self._ctx, x2, self.weight.data, b, self.training)
        # In eval mode nothing is saved and the step does not advance.
        self._lead_shape = lead if self.training else None
        # A private copy: callers may reuse the input buffer before backward.
        self._capture_x = (np.array(x2, dtype=np.float32, order="C", copy=True)
                           if self.capture_fp32_wgrad and self.training else None)
        if self.collect_stats and self.training:
            self._stats_x = np.ascontiguousarray(x2, dtype=np.float32)
            self._stats = {"fprop": operand_stats(self, "fprop", self._stats_x, None)}
        return y.reshape(lead + (self.out_features,))

    def backward(self, grad):
        if self._lead_shape is None:
            raise RuntimeError("Linear.backward called before forward (or after the recipe "
                               "or state changed)")
        grad = check_grad(grad, self._lead_shape + (self.out_features,))
        dy = grad.reshape(-1, self.out_features)
        if self.capture_fp32_wgrad and self._capture_x is not None:
            dy32 = np.asarray(dy, dtype=np.float32)
            self.fp32_wgrad = gemm_f32(np.ascontiguousarray(dy32.T),
                                       np.ascontiguousarray(self._capture_x.T))
            self._capture_x = None
        b_grad = None if self.bias is None else self.bias.grad
        dx = _core.linear_backward(self._ctx, dy, self.weight.data, self.weight.grad, b_grad)
        if self.collect_stats and self._stats_x is not None:
            dy32 = np.ascontiguousarray(dy, dtype=np.float32)
            self._stats["dgrad"] = operand_stats(self, "dgrad", self._stats_x, dy32)
            self._stats["wgrad"] = operand_stats(self, "wgrad", self._stats_x, dy32)
        return dx.reshape(self._lead_shape + (self.in_features,))

    def quant_stats(self):
        """Quantization error of what each GEMM multiplied at the last step.

        Returns a dict ``{gemm: {operand: {"rel_error", "sqnr_db", "clipped_pct",
        "flushed_pct"}}}`` for the GEMMs run since the last forward (empty unless
        ``collect_stats`` is on).
        """
        return {g: dict(v) for g, v in self._stats.items()}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, recipe={self._recipe.name!r}, seed={self.seed}")
