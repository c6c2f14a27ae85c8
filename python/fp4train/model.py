"""A small Llama-style language model and its precision policy.

Public
------
ModelConfig
    Frozen, validated model shape (vocab, width, depth, heads, MLP width,
    longest sequence, RMSNorm epsilon); ``to_dict`` / ``from_dict``.
MODEL_SIZES, model_config
    Named sizes ("tiny", "small" = the defaults, "medium") and the one
    function that turns a size name, a dict or a ModelConfig into a ModelConfig.
PrecisionPolicy
    Which recipe each transformer block's Linear layers run under at a given
    step: one recipe for the blocks, optionally another for the first/last k
    blocks, and a switch of the backward (or forward, or both) GEMMs to bf16 at
    a given step (the finishing phase of FP4 training papers).
switched_recipe
    A recipe with the GEMMs of one part (backward/forward/both) replaced.
LlamaModel
    Embedding -> TransformerBlocks -> RMSNorm -> LM head, with explicit
    forward/backward and the policy applied per step.

Internal: ``_as_policy_recipe``, ``_is_low_precision``, the ``_PARTS`` table.

Embeddings, norms, attention products and the LM head stay in float32 under
every policy (the head is a ``Linear`` with the 'fp32' recipe); only the seven
Linear layers of each block follow the policy.
"""
import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .recipes import GEMMS, Recipe
from .recipes import get as _get_recipe
from .nn.block import TransformerBlock
from .nn.embedding import Embedding
from ._checks import check_int as _check_int
from ._checks import check_keys
from .nn.linear import Linear
from .nn.module import Module, child_seed
from .nn.rmsnorm import RMSNorm

__all__ = ["MODEL_SIZES", "LlamaModel", "ModelConfig", "PrecisionPolicy", "model_config",
           "switched_recipe"]

# --------------------------------------------------------------------------
# model configuration
# --------------------------------------------------------------------------

_INT_FIELDS = ("vocab_size", "dim", "n_layers", "n_heads", "hidden", "max_seq_len")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a :class:`LlamaModel`.

    Parameters
    ----------
    vocab_size : int, default 256
        Token ids run over 0..vocab_size-1 (256: the byte tokenizer).
    dim : int, default 128
        Model width; a multiple of ``n_heads`` with an even head size (RoPE).
    n_layers : int, default 4
        Number of transformer blocks.
    n_heads : int, default 4
    hidden : int, default 384
        SwiGLU hidden width.
    max_seq_len : int, default 128
        Longest sequence ``forward`` accepts (RoPE itself has no limit; the
        bound keeps runs comparable and catches data-pipeline mistakes).
    eps : float, default 1e-5
        RMSNorm epsilon, > 0.
    """

    vocab_size: int = 256
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    hidden: int = 384
    max_seq_len: int = 128
    eps: float = 1e-5

    def __post_init__(self):
        for name in _INT_FIELDS:
            object.__setattr__(self, name, _check_int(name, getattr(self, name), 1))
        if self.dim % self.n_heads:
            raise ValueError(f"argument 'n_heads': dim={self.dim} is not divisible by "
                             f"n_heads={self.n_heads}")
        if (self.dim // self.n_heads) % 2:
            raise ValueError(f"argument 'n_heads': head size dim/n_heads="
                             f"{self.dim // self.n_heads} must be even for the rotary embedding")
        eps = self.eps
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (
                math.isfinite(eps) and eps > 0):
            raise ValueError(f"argument 'eps': expected a finite float > 0, got {eps!r}")
        object.__setattr__(self, "eps", float(eps))

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        """A plain JSON-ready dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Build from a dict; missing keys take the defaults, unknown keys raise."""
        check_keys("d", d, [f.name for f in dataclasses.fields(cls)])
        return cls(**d)

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def n_params(self):
        """Number of parameters of the model this config builds."""
        per_block = 4 * self.dim * self.dim + 3 * self.dim * self.hidden + 2 * self.dim
        return 2 * self.vocab_size * self.dim + self.n_layers * per_block + self.dim


#: Named model sizes. "small" is the default ModelConfig(); "tiny" is for
#: tests and smoke runs, "medium" for longer experiments.
MODEL_SIZES = {
    "tiny": ModelConfig(dim=64, n_layers=2, n_heads=2, hidden=192, max_seq_len=64),
    "small": ModelConfig(),
    "medium": ModelConfig(dim=256, n_layers=6, n_heads=8, hidden=768, max_seq_len=256),
}


def model_config(x):
    """A :class:`ModelConfig` from a size name (see :data:`MODEL_SIZES`), a dict
    (:meth:`ModelConfig.from_dict`) or a ModelConfig (returned as is)."""
    if isinstance(x, ModelConfig):
        return x
    if isinstance(x, str):
        if x not in MODEL_SIZES:
            raise ValueError(f"argument 'model': expected one of {', '.join(MODEL_SIZES)}, "
                             f"got {x!r}")
        return MODEL_SIZES[x]
    if isinstance(x, dict):
        return ModelConfig.from_dict(x)
    raise TypeError("argument 'model': expected a size name, a dict or a ModelConfig, got "
                    f"{type(x).__name__}")


# --------------------------------------------------------------------------
# precision policy
# --------------------------------------------------------------------------

#: GEMMs replaced by each switch part, and the tag used in the switched name.
_PARTS = {"backward": (("dgrad", "wgrad"), "bwd"),
          "forward": (("fprop",), "fwd"),
          "both": (GEMMS, "all")}

_LOW_PRECISION_EXEMPT = ("fp32", "bf16")


def _as_policy_recipe(name, value):
    """A Recipe from a Recipe, a preset name or a Recipe dict; errors name ``name``."""
    if isinstance(value, Recipe):
        return value
    if isinstance(value, str):
        try:
            return _get_recipe(value)
        except ValueError:
            raise ValueError(f"argument '{name}': expected a Recipe or a preset name, got "
                             f"{value!r}") from None
    if isinstance(value, dict):
        return Recipe.from_dict(value)
    raise TypeError(f"argument '{name}': expected a Recipe or a preset name, got "
                    f"{type(value).__name__}")


def _is_low_precision(recipe, gemms=GEMMS):
    """True if any operand of the given GEMMs is a block or fp8 format (not fp32/bf16)."""
    return any(op.format not in _LOW_PRECISION_EXEMPT
               for g in gemms for op in (recipe.gemm(g).a, recipe.gemm(g).b))


def _check_part(part):
    if part not in _PARTS:
        raise ValueError(f"argument 'switch_part': expected one of {', '.join(_PARTS)}, "
                         f"got {part!r}")
    return part


def switched_recipe(recipe, part, to="bf16"):
    """``recipe`` with the GEMMs of ``part`` taken from ``to``.

    Parameters
    ----------
    recipe, to : Recipe or str
        Recipes or preset names.
    part : {'backward', 'forward', 'both'}
        'backward' replaces dgrad and wgrad, 'forward' fprop, 'both' all three.

    Returns
    -------
    Recipe
        Named ``"<recipe>+<bwd|fwd|all>:<to>"``, e.g. ``"mxfp4_all+bwd:bf16"``.
        If those GEMMs already equal ``to``'s, ``recipe`` itself is returned
        (no rename, so a model does not re-assign an unchanged recipe).
    """
    recipe = _as_policy_recipe("recipe", recipe)
    to = _as_policy_recipe("to", to)
    gemms, tag = _PARTS[_check_part(part)]
    if all(recipe.gemm(g) == to.gemm(g) for g in gemms):
        return recipe
    changes = {g: to.gemm(g) for g in gemms}
    return dataclasses.replace(recipe, name=f"{recipe.name}+{tag}:{to.name}", **changes)


@dataclass(frozen=True)
class PrecisionPolicy:
    """Which recipe the Linear layers of each transformer block use at each step.

    Parameters
    ----------
    recipe : Recipe or str
        The recipe of the blocks (a preset name is resolved on construction).
    first_k, last_k : int, default 0
        The first ``first_k`` and last ``last_k`` blocks run under
        ``edge_recipe`` instead (FP4 recipes often keep the ends of the network
        in higher precision). ``first_k + last_k`` may not exceed the model's
        ``n_layers`` (checked by :meth:`block_recipe` and the model).
    edge_recipe : Recipe or str, default 'bf16'
    switch_step : int or None, default None
        From this step on (``step >= switch_step``) the ``switch_part`` GEMMs
        of every low-precision block recipe are replaced by ``switch_recipe``'s
        (:func:`switched_recipe`). A block recipe counts as low-precision when
        an operand of one of those GEMMs has a block or fp8 format, so fp32 or
        bf16 blocks are never "switched" to bf16.
    switch_part : {'backward', 'forward', 'both'}, default 'backward'
    switch_recipe : Recipe or str, default 'bf16'

    Notes
    -----
    Embeddings, norms and the LM head are not covered: the model keeps them in
    fp32. The policy is a frozen value; :meth:`replace` returns a changed copy
    and :meth:`to_dict` writes recipes as their dicts (JSON-ready).
    """

    recipe: Recipe
    first_k: int = 0
    last_k: int = 0
    edge_recipe: Recipe = "bf16"
    switch_step: Optional[int] = None
    switch_part: str = "backward"
    switch_recipe: Recipe = "bf16"

    def __post_init__(self):
        for name in ("recipe", "edge_recipe", "switch_recipe"):
            object.__setattr__(self, name, _as_policy_recipe(name, getattr(self, name)))
        object.__setattr__(self, "first_k", _check_int("first_k", self.first_k, 0))
        object.__setattr__(self, "last_k", _check_int("last_k", self.last_k, 0))
        if self.switch_step is not None:
            object.__setattr__(self, "switch_step",
                               _check_int("switch_step", self.switch_step, 0))
        if not isinstance(self.switch_part, str):
            raise TypeError("argument 'switch_part': expected a str, got "
                            f"{type(self.switch_part).__name__}")
        _check_part(self.switch_part)

    def check_layers(self, n_layers):
        """Raise ValueError unless first_k + last_k <= n_layers."""
        n_layers = _check_int("n_layers", n_layers, 1)
        if self.first_k + self.last_k > n_layers:
            raise ValueError(f"argument 'first_k': first_k + last_k = "
                             f"{self.first_k} + {self.last_k} exceeds n_layers={n_layers}")
        return n_layers

    def is_edge(self, index, n_layers):
        """True if block ``index`` of ``n_layers`` runs under ``edge_recipe``."""
        return index < self.first_k or index >= n_layers - self.last_k

    def switched(self, step):
        """True if the switch is in effect at ``step``."""
        return self.switch_step is not None and step >= self.switch_step

    def block_recipe(self, index, n_layers, step):
        """The recipe of block ``index`` (0-based) of ``n_layers`` at ``step``."""
        n_layers = self.check_layers(n_layers)
        index = _check_int("index", index, 0)
        if index >= n_layers:
            raise ValueError(f"argument 'index': expected an int < n_layers={n_layers}, "
                             f"got {index}")
        step = _check_int("step", step, 0)
        base = self.edge_recipe if self.is_edge(index, n_layers) else self.recipe
        gemms = _PARTS[self.switch_part][0]
        if self.switched(step) and _is_low_precision(base, gemms):
            return switched_recipe(base, self.switch_part, self.switch_recipe)
        return base

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """JSON-ready dict: recipes as :meth:`Recipe.to_dict`."""
        return {"recipe": self.recipe.to_dict(), "first_k": self.first_k,
                "last_k": self.last_k, "edge_recipe": self.edge_recipe.to_dict(),
                "switch_step": self.switch_step, "switch_part": self.switch_part,
                "switch_recipe": self.switch_recipe.to_dict()}

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict` (recipes may also be preset names);
        unknown keys raise, missing optional keys take their defaults."""
        check_keys("d", d, [f.name for f in dataclasses.fields(cls)])
        if "recipe" not in d:
            raise ValueError("argument 'd': missing key 'recipe'")
        return cls(**d)

    def describe(self):
        """One line, e.g. ``mxfp4_all, first 1 / last 1 in bf16, bwd -> bf16 at 900``."""
        s = self.recipe.name
        if self.first_k or self.last_k:
            s += f", first {self.first_k} / last {self.last_k} in {self.edge_recipe.name}"
        if self.switch_step is not None:
            s += (f", {_PARTS[self.switch_part][1]} -> {self.switch_recipe.name} at "
                  f"{self.switch_step}")
        return s


def _as_policy(policy):
    if isinstance(policy, PrecisionPolicy):
        return policy
    if isinstance(policy, (Recipe, str)):
        return PrecisionPolicy(recipe=_as_policy_recipe("policy", policy))
    if isinstance(policy, dict):
        return PrecisionPolicy.from_dict(policy)
    raise TypeError("argument 'policy': expected a PrecisionPolicy, a Recipe or a preset "
                    f"name, got {type(policy).__name__}")


# --------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------

class LlamaModel(Module):
    """A pre-norm Llama-style decoder: embeddings, blocks, final norm, LM head.

    Parameters
    ----------
    config : ModelConfig, str or dict
        See :func:`model_config` (e.g. ``"tiny"``).
    policy : PrecisionPolicy, Recipe or str
        A Recipe or preset name means ``PrecisionPolicy(recipe)``.
    seed : int, default 0
        Child seeds (``child_seed``): embedding tag 0, head tag 1, block i tag
        2 + i, so a block's weights do not depend on the depth of the model.

    Attributes
    ----------
    embed : Embedding (vocab, dim), N(0, 0.02^2)
    blocks : list of TransformerBlock
    norm : RMSNorm
    head : Linear(dim, vocab, bias=False, recipe 'fp32')

    Notes
    -----
    Initialisation keeps each layer's own init (Linear: uniform
    +-1/sqrt(fan_in)) except that the two projections writing into the
    residual stream, ``attn.o`` and ``mlp.down``, are scaled by
    1/sqrt(2 n_layers) (GPT-2): each of the 2 n_layers branches then adds
    about 1/(2 n_layers) of its unscaled variance, so the residual stream
    stays O(1) at any depth instead of growing with it, which keeps early
    (FP4) training stable.

    The blocks start under the policy's recipes of step 0; the trainer calls
    :meth:`apply_policy` before each step. ``forward`` and ``backward`` are
    explicit (no autograd); ``backward`` accumulates into every ``.grad``.
    """

    def __init__(self, config, policy, seed=0):
        super().__init__()
        self.config = model_config(config)
        self.seed = _check_int("seed", seed, 0)
        policy = _as_policy(policy)
        policy.check_layers(self.config.n_layers)
        self._policy = policy
        self._policy_step = 0
        c = self.config
        self.embed = Embedding(c.vocab_size, c.dim, seed=child_seed(self.seed, 0))
        self.blocks = [TransformerBlock(c.dim, c.n_heads, c.hidden,
                                        recipe=policy.block_recipe(i, c.n_layers, 0),
                                        seed=child_seed(self.seed, 2 + i), eps=c.eps)
                       for i in range(c.n_layers)]
        self.norm = RMSNorm(c.dim, c.eps)
        self.head = Linear(c.dim, c.vocab_size, bias=False, recipe="fp32",
                           seed=child_seed(self.seed, 1))
        residual_scale = np.float32(1.0 / math.sqrt(2 * c.n_layers))
        for block in self.blocks:
            block.attn.o.weight.data *= residual_scale
            block.mlp.down.weight.data *= residual_scale
        self._shape = None

    # -- policy --------------------------------------------------------------
    @property
    def policy(self):
        """The PrecisionPolicy. Setting it re-applies the policy at the step last
        given to :meth:`apply_policy` (0 initially); set it between steps only."""
        return self._policy

    @policy.setter
    def policy(self, policy):
        policy = _as_policy(policy)
        policy.check_layers(self.config.n_layers)
        self._policy = policy
        self.apply_policy(self._policy_step)

    def block_recipes(self, step=None):
        """The recipe of each block: the current ones, or the policy's at ``step``."""
        if step is None:
            return [b.recipe for b in self.blocks]
        n = self.config.n_layers
        return [self._policy.block_recipe(i, n, step) for i in range(n)]

    def apply_policy(self, step):
        """Give each block the policy's recipe for ``step``.

        Only blocks whose recipe changes are touched (``set_recipe`` drops a
        layer's saved forward state), so calling it every step is cheap and
        idempotent. Call it between steps, never between a forward and its
        backward. Returns the indices of the blocks that changed.
        """
        step = _check_int("step", step, 0)
        changed = []
        for i, (block, recipe) in enumerate(zip(self.blocks, self.block_recipes(step))):
            if block.recipe != recipe:
                block.set_recipe(recipe)
                changed.append(i)
        self._policy_step = step
        return changed

    def quantized_linears(self):
        """``[(name, Linear)]`` of the layers whose current recipe is not pure fp32
        (any operand of any GEMM in another format, bf16 included), in model
        order, e.g. ``("blocks.0.attn.q", layer)``. The fp32 head is never listed."""
        out = []
        for prefix, m in self._named_modules():
            if isinstance(m, Linear) and any(
                    op.format != "fp32" for g in GEMMS
                    for op in (m.recipe.gemm(g).a, m.recipe.gemm(g).b)):
                out.append((prefix.rstrip("."), m))
        return out

    # -- forward / backward ----------------------------------------------------
    def _check_ids(self, ids):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"argument 'ids': expected an integer array, got dtype {ids.dtype}")
        if ids.ndim != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
            raise ValueError(f"argument 'ids': expected shape (batch, seq) with batch, seq >= 1,"
                             f" got {ids.shape}")
        if ids.shape[1] > self.config.max_seq_len:
            raise ValueError(f"argument 'ids': sequence length {ids.shape[1]} exceeds "
                             f"max_seq_len={self.config.max_seq_len}")
        lo, hi = ids.min(), ids.max()
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(f"argument 'ids': expected ids in [0, {self.config.vocab_size}), "
                             f"got values in [{lo}, {hi}]")
        return ids

    def forward(self, ids):
        """ids (batch, seq) integer -> logits (batch, seq, vocab) float32."""
        ids = self._check_ids(ids)
        x = self.embed.forward(ids)
        for block in self.blocks:
            x = block.forward(x)
        logits = self.head.forward(self.norm.forward(x))
        self._shape = logits.shape if self.training else None
        return logits.astype(np.float32, copy=False)

    def backward(self, dlogits):
        """Accumulate every parameter gradient from dL/dlogits; returns None."""
        if self._shape is None:
            raise RuntimeError("LlamaModel.backward called before a training-mode forward")
        dlogits = np.asarray(dlogits)
        if dlogits.shape != self._shape:
            raise ValueError(f"argument 'dlogits': expected shape {self._shape} (the last "
                             f"forward's logits), got {dlogits.shape}")
        if dlogits.dtype.kind not in "fiu":
            raise TypeError(f"argument 'dlogits': expected a real numeric array, got dtype "
                            f"{dlogits.dtype}")
        dx = self.norm.backward(self.head.backward(dlogits.astype(np.float32, copy=False)))
        for block in reversed(self.blocks):
            dx = block.backward(dx)
        self.embed.backward(dx)
        return None

    def extra_repr(self):
        c = self.config
        return (f"dim={c.dim}, n_layers={c.n_layers}, n_heads={c.n_heads}, hidden={c.hidden}, "
                f"vocab_size={c.vocab_size}, policy={self._policy.describe()!r}, "
                f"seed={self.seed}")
