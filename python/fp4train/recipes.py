"""Quantization recipes: how each operand of each GEMM of a linear layer is
quantized (DESIGN §3, mirrored 1:1 by ``csrc/linear/recipe.h``).

A recipe is a tree of frozen, validated, JSON-serializable dataclasses::

    Recipe(fprop=GemmConfig(a=OperandConfig(...), b=OperandConfig(...), hadamard=...),
           dgrad=GemmConfig(...), wgrad=GemmConfig(...), name="...")

and the named presets of DESIGN §3's table are built by functions of the same
name (``mxfp4_all_h16()``), or looked up with ``get("mxfp4_all_h16")``.
Recipes are plain values: they never read the environment, and the C++ layer
receives exactly what ``to_dict()`` shows (the single conversion is
``csrc/bindings/recipe_convert.cc``).

Public
------
OperandConfig, GemmConfig, Recipe
    The three dataclasses (see :class:`Recipe` for the operand roles).
get, names, register, unregister, load
    The preset registry: built-in presets plus user-registered recipes, and
    loading a recipe from a preset name or a JSON file.
GEMMS
    ``("fprop", "dgrad", "wgrad")``.
fp32, bf16, fp8, mxfp8, mxfp4_bwd_rht_sr, mxfp4_fprop, mxfp4_fprop_dgrad,
mxfp4_all, mxfp4_all_h16, mxfp4_all_rht16_per_step, mxfp4_all_sr_wgrad,
nvfp4_rtn_fwd_sr_bwd, nvfp4_2d_rht16
    Preset constructors, one per row of DESIGN §3's table.
NVFP4_2D_RHT_SIGNS
    The published fixed sign vector of ``nvfp4_2d_rht16``.

Internal: the ``_check_*`` validators (shared by ``__post_init__`` and
``from_dict`` so that errors name the full field path, e.g.
``recipe.wgrad.a.rounding``), ``_as_f32`` and the registry dicts.

Errors
------
Every invalid field raises ``TypeError`` (wrong type) or ``ValueError`` (wrong
value) with the message ``argument '<path>': expected ..., got ...``. Objects
built directly name the field (``rounding``, ``hadamard.size``); ``from_dict``,
``from_json`` and ``load`` name the full path from ``recipe``. The C++
validation (``fp4train._core.validate_recipe``) raises the same exception type
on the same path for every invalid dict.
"""
import dataclasses
import json
import math
import numbers
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Optional

from .formats import FORMATS, ROUNDINGS, SCALE_RULES, _check_name, format_info
from .hadamard import HadamardSpec

__all__ = [
    "GEMMS", "GemmConfig", "NVFP4_2D_RHT_SIGNS", "OperandConfig", "Recipe", "get", "load",
    "names", "register", "unregister",
]

#: The three GEMMs of a linear layer, in the order a step runs them.
GEMMS = ("fprop", "dgrad", "wgrad")

#: The fixed Hadamard sign vector of ``nvfp4_2d_rht16`` (arXiv 2509.25149).
NVFP4_2D_RHT_SIGNS = (+1, +1, +1, -1, +1, -1, -1, -1, -1, -1, -1, +1, -1, +1, -1, -1)

_FLT_MAX = 3.4028234663852886e38
_VIRTUAL_BLOCK = 32  # K chunk of per-tensor FP8 in qgemm (NUMERICS §5)
_UNSCALED = ("bf16", "fp32")  # formats without scales: prescale must be 1
_BLOCK = {f: format_info(f)["block"] for f in FORMATS}
_BLOCK_FORMATS = tuple(f for f in FORMATS if _BLOCK[f] > 0)

_OPERAND_KEYS = ("format", "rounding", "scale_rule", "prescale", "block_2d")
_GEMM_KEYS = ("a", "b", "hadamard")
_HADAMARD_KEYS = ("size", "signs", "seed", "vector")
_RECIPE_KEYS = ("name",) + GEMMS


# --------------------------------------------------------------------------
# Field validation, shared by __post_init__ (path "") and from_dict (full path)
# --------------------------------------------------------------------------

def _path(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _type_error(path, expected, value):
    return TypeError(f"argument '{path}': expected {expected}, got {type(value).__name__}")


def _value_error(path, message):
    return ValueError(f"argument '{path}': {message}")


def _as_f32(x):
    """The float32 value of a Python float, as the C++ struct stores it.

    Values beyond the float32 range become infinite (and are then rejected),
    tiny ones flush to zero, everything else rounds to nearest even.
    """
    if math.isnan(x):
        return x
    if abs(x) > _FLT_MAX:
        return math.copysign(math.inf, x)
    return struct.unpack("f", struct.pack("f", x))[0]


def _f32_str(x):
    """Shortest decimal that reads back as the same float32 (for describe())."""
    for digits in range(1, 10):
        s = f"{x:.{digits}g}"
        if _as_f32(float(s)) == x:
            return s
    return repr(x)


def _reduction_block(fmt):
    """Block size along K that qgemm matches between operands (0: float GEMM)."""
    if fmt in _UNSCALED:
        return 0
    return _BLOCK[fmt] or _VIRTUAL_BLOCK


def _check_operand(path, fmt, rounding, scale_rule, prescale, block_2d):
    """Validate one operand's fields; returns them normalized (prescale as float32)."""
    _check_name(_path(path, "format"), fmt, FORMATS)
    _check_name(_path(path, "rounding"), rounding, ROUNDINGS)
    _check_name(_path(path, "scale_rule"), scale_rule, SCALE_RULES)
    if isinstance(prescale, bool) or not isinstance(prescale, numbers.Real):
        raise _type_error(_path(path, "prescale"), "a real number", prescale)
    if not isinstance(block_2d, bool):
        raise _type_error(_path(path, "block_2d"), "a bool", block_2d)
    p = _as_f32(float(prescale))
    if not (math.isfinite(p) and p > 0.0):
        raise _value_error(_path(path, "prescale"),
                           f"expected a finite value > 0 (as a float32), got {prescale!r}")
    if p != 1.0 and fmt in _UNSCALED:
        raise _value_error(_path(path, "prescale"),
                           f"expected 1.0 for format '{fmt}' (prescale applies to scaled "
                           f"formats only), got {prescale!r}")
    if block_2d and _BLOCK[fmt] == 0:
        raise _value_error(_path(path, "block_2d"),
                           f"2-D tiles need a format with block scales "
                           f"({', '.join(_BLOCK_FORMATS)}), got format '{fmt}'")
    return dict(format=fmt, rounding=rounding, scale_rule=scale_rule, prescale=p,
                block_2d=block_2d)


def _check_hadamard_spec(path, h):
    """None or a HadamardSpec (which validates its own fields on construction)."""
    if h is not None and not isinstance(h, HadamardSpec):
        raise _type_error(path, "a HadamardSpec or None", h)
    return h


def _with_path(error, path):
    """The same error with its ``argument 'x'`` renamed ``argument '<path>.x'``."""
    m = re.match(r"argument '([^']*)'(.*)", str(error), re.S)
    if not m:
        return type(error)(f"argument '{path}': {error}")
    name = path if m.group(1) == "d" else _path(path, m.group(1))
    return type(error)(f"argument '{name}'{m.group(2)}")


def _check_gemm(path, a, b, hadamard):
    """Validate a GEMM's fields; returns them (hadamard normalized)."""
    if not isinstance(a, OperandConfig):
        raise _type_error(_path(path, "a"), "an OperandConfig", a)
    if not isinstance(b, OperandConfig):
        raise _type_error(_path(path, "b"), "an OperandConfig", b)
    hadamard = _check_hadamard_spec(_path(path, "hadamard"), hadamard)
    ka, kb = _reduction_block(a.format), _reduction_block(b.format)
    if ka and kb and ka != kb:
        raise _value_error(_path(path, "b"),
                           f"expected the block size of a along the reduction axis ({ka}, "
                           f"format '{a.format}'), got format '{b.format}' with blocks of {kb}")
    return dict(a=a, b=b, hadamard=hadamard)


def _check_recipe(path, fprop, dgrad, wgrad, name):
    for role, g in zip(GEMMS, (fprop, dgrad, wgrad)):
        if not isinstance(g, GemmConfig):
            raise _type_error(_path(path, role), "a GemmConfig", g)
    if not isinstance(name, str):
        raise _type_error(_path(path, "name"), "a str", name)
    if not name:
        raise _value_error(_path(path, "name"), "expected a non-empty string")
    return dict(fprop=fprop, dgrad=dgrad, wgrad=wgrad, name=name)


def _set_fields(obj, values):
    for k, v in values.items():
        object.__setattr__(obj, k, v)


# --------------------------------------------------------------------------
# dict conversion (to_dict is JSON-ready: lists, not tuples)
# --------------------------------------------------------------------------

def _check_dict(path, d, allowed, required=()):
    if not isinstance(d, dict):
        raise _type_error(path, "a dict", d)
    unknown = []
    for k in d:
        if not isinstance(k, str):
            raise _type_error(path, "str keys", k)
        if k not in allowed:
            unknown.append(f"'{k}'")
    if unknown:
        raise _value_error(path, f"unknown key{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(unknown)} (expected keys: {', '.join(allowed)})")
    for k in required:
        if k not in d:
            raise _value_error(path, f"missing key '{k}'")


def _hadamard_from_dict(d, path):
    """HadamardSpec.from_dict, with keys checked here and errors naming the path."""
    if d is None:
        return None
    _check_dict(path, d, _HADAMARD_KEYS, required=("size",))
    try:
        return HadamardSpec.from_dict(d)
    except (TypeError, ValueError) as e:
        raise _with_path(e, path) from None


def _operand_from_dict(d, path):
    _check_dict(path, d, _OPERAND_KEYS)
    defaults = OperandConfig()
    values = {k: d.get(k, getattr(defaults, k)) for k in _OPERAND_KEYS}
    return OperandConfig(**_check_operand(path, values["format"], values["rounding"],
                                          values["scale_rule"], values["prescale"],
                                          values["block_2d"]))


def _gemm_from_dict(d, path):
    _check_dict(path, d, _GEMM_KEYS)
    a = _operand_from_dict(d["a"], _path(path, "a")) if "a" in d else OperandConfig()
    b = _operand_from_dict(d["b"], _path(path, "b")) if "b" in d else OperandConfig()
    h = _hadamard_from_dict(d.get("hadamard"), _path(path, "hadamard"))
    return GemmConfig(**_check_gemm(path, a, b, h))


def _recipe_from_dict(d, path):
    _check_dict(path, d, _RECIPE_KEYS)
    gemms = {role: _gemm_from_dict(d[role], _path(path, role)) if role in d else GemmConfig()
             for role in GEMMS}
    return Recipe(**_check_recipe(path, name=d.get("name", "custom"), **gemms))


def _loads(text):
    """json.loads that rejects duplicate keys (the last would silently win)."""
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"invalid recipe JSON: duplicate key '{k}'")
            out[k] = v
        return out
    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid recipe JSON: {e.msg} (line {e.lineno}, column {e.colno})"
                         ) from None


# --------------------------------------------------------------------------
# compact descriptions
# --------------------------------------------------------------------------

def _describe_hadamard(h):
    if h is None:
        return ""
    extra = ""
    if h.signs == "fixed" and h.vector is not None:
        extra = ", given signs"
    elif h.signs != "none" and h.seed != 0:
        extra = f", seed={h.seed}"
    return f"H{h.size}({h.signs}{extra})"


def _replace_path(obj, changes):
    """dataclasses.replace with ``a__b__c=value`` keys reaching nested fields."""
    names = [f.name for f in dataclasses.fields(obj)]
    direct, nested = {}, {}
    for key, value in changes.items():
        head, sep, rest = key.partition("__")
        if head not in names:
            raise TypeError(f"argument '{key}': {type(obj).__name__} has no field '{head}' "
                            f"(fields: {', '.join(names)})")
        if sep:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        if head in direct:
            raise ValueError(f"argument '{head}': given both whole and by field "
                             f"({', '.join(head + '__' + k for k in sub)})")
        child = getattr(obj, head)
        if not dataclasses.is_dataclass(child):
            raise ValueError(f"argument '{head}__{next(iter(sub))}': cannot set a field of "
                             f"{head}={child!r}; replace {head} as a whole")
        direct[head] = _replace_path(child, sub)
    return dataclasses.replace(obj, **direct)


# --------------------------------------------------------------------------
# the dataclasses
# --------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class OperandConfig:
    """How one operand of one GEMM is quantized along the GEMM's reduction axis.

    Parameters
    ----------
    format : str, default 'fp32'
        One of :data:`fp4train.FORMATS`: ``mxfp4`` (E2M1, blocks of 32, E8M0
        scale), ``nvfp4`` (E2M1, blocks of 16, E4M3 scale, FP32 tensor scale),
        ``mxfp8_e4m3``/``mxfp8_e5m2`` (blocks of 32, E8M0), ``fp8_e4m3``/
        ``fp8_e5m2`` (one FP32 scale per tensor, current amax), ``bf16``
        (round to bfloat16) or ``fp32`` (identity).
    rounding : {'nearest', 'nearest_away', 'stochastic'}, default 'nearest'
        ``nearest`` rounds half to even, ``nearest_away`` half away from zero,
        ``stochastic`` rounds up with probability equal to the fractional
        position between the two neighbouring grid points, so the expected
        value is exact unless saturation clips. The noise is keyed by a seed
        the layer derives from (layer seed, step, GEMM, operand).
    scale_rule : {'floor', 'rceil', 'ceil', 'even'}, default 'floor'
        E8M0 block-scale rule of the MX formats (ignored by the others):
        ``floor`` is OCP MX v1.0 (2^(floor(log2 amax) - emax); can clip an
        E2M1 block's largest values from up to 8 down to 6), ``rceil`` the
        smallest power of two that never clips (NVIDIA's MX scales).
    prescale : float, default 1.0
        Elements are quantized as ``p * x / X`` and decoded back by ``/ p``.
        ``0.75`` keeps stochastic rounding under the ``floor`` rule from ever
        clipping (the MXFP4 backward of arXiv 2502.20586). Finite and > 0;
        must be 1 for ``bf16`` and ``fp32``. Stored as its float32 value
        (the value the C++ kernels multiply by), so ``0.1`` reads back as
        ``0.10000000149011612``.
    block_2d : bool, default False
        Scale square tiles (16x16 for nvfp4, 32x32 for MX formats) instead of
        1-D blocks, so a 2-D tensor and its transpose quantize identically:
        the weight of ``nvfp4_2d_rht16`` is quantized once for fprop and
        reused by dgrad. Formats with block scales only.
    """

    format: str = "fp32"
    rounding: str = "nearest"
    scale_rule: str = "floor"
    prescale: float = 1.0
    block_2d: bool = False

    def __post_init__(self):
        _set_fields(self, _check_operand("", self.format, self.rounding, self.scale_rule,
                                         self.prescale, self.block_2d))

    def to_dict(self):
        """The operand as a plain dict (JSON-ready); inverse of :meth:`from_dict`."""
        return {k: getattr(self, k) for k in _OPERAND_KEYS}

    @classmethod
    def from_dict(cls, d):
        """Build from a dict; missing keys take the defaults, unknown keys raise."""
        return _operand_from_dict(d, "operand")

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def describe(self):
        """Compact form: the format, then every non-default setting, e.g.
        ``mxfp4(stochastic, prescale=0.75)`` or ``nvfp4(2d)``."""
        opts = []
        if self.rounding != "nearest":
            opts.append(self.rounding)
        if self.scale_rule != "floor":
            opts.append(self.scale_rule)
        if self.prescale != 1.0:
            opts.append(f"prescale={_f32_str(self.prescale)}")
        if self.block_2d:
            opts.append("2d")
        return self.format + (f"({', '.join(opts)})" if opts else "")

    def __repr__(self):
        defaults = _OPERAND_DEFAULTS
        args = [f"{k}={getattr(self, k)!r}" for k in _OPERAND_KEYS
                if getattr(self, k) != defaults[k]]
        return f"OperandConfig({', '.join(args)})"


_OPERAND_DEFAULTS = {f.name: f.default for f in dataclasses.fields(OperandConfig)}


@dataclass(frozen=True, repr=False)
class GemmConfig:
    """The configuration of one GEMM ``C = A B^T``, reduction axis K.

    Parameters
    ----------
    a, b : OperandConfig, default OperandConfig() (fp32)
        Operands A (M, K) and B (N, K), each quantized along K. When both are
        block-quantized (neither bf16 nor fp32) they must use the same block
        size along K (nvfp4: 16; mxfp4, mxfp8_*: 32; per-tensor fp8: virtual
        blocks of 32), because the quantized GEMM multiplies matching blocks
        exactly and adds the scaled block sums in increasing K order. When one
        side is bf16/fp32 both are dequantized and multiplied in float32.
    hadamard : HadamardSpec or None, default None
        A blockwise Hadamard transform applied to *both* operands along K
        before quantization (with the same signs), so the product is
        unchanged in exact arithmetic while outliers are spread over each
        block. Any format may have one (with fp32 it changes nothing but
        float32 rounding). Sign policies: ``none`` (plain Sylvester),
        ``fixed`` (one vector, given or drawn from ``seed``), ``per_step``
        (redrawn every step); the layer derives per-layer keys from ``seed``.
    """

    a: OperandConfig = field(default_factory=OperandConfig)
    b: OperandConfig = field(default_factory=OperandConfig)
    hadamard: Optional[HadamardSpec] = None

    def __post_init__(self):
        _set_fields(self, _check_gemm("", self.a, self.b, self.hadamard))

    def to_dict(self):
        """The GEMM as a plain dict (JSON-ready); inverse of :meth:`from_dict`."""
        return dict(a=self.a.to_dict(), b=self.b.to_dict(),
                    hadamard=None if self.hadamard is None else self.hadamard.to_dict())

    @classmethod
    def from_dict(cls, d):
        """Build from a dict; missing keys take the defaults, unknown keys raise."""
        return _gemm_from_dict(d, "gemm")

    def replace(self, **changes):
        """A copy with some fields changed; ``a__rounding="stochastic"`` reaches
        into an operand."""
        return _replace_path(self, changes)

    def describe(self):
        """Compact form, e.g. ``mxfp4 x mxfp4(stochastic) + H16(none)``."""
        s = f"{self.a.describe()} x {self.b.describe()}"
        return s + (f" + {_describe_hadamard(self.hadamard)}" if self.hadamard else "")

    def __repr__(self):
        args = [f"{k}={getattr(self, k)!r}" for k in ("a", "b")
                if getattr(self, k) != OperandConfig()]
        if self.hadamard is not None:
            args.append(f"hadamard={self.hadamard!r}")
        return f"GemmConfig({', '.join(args)})"


@dataclass(frozen=True, repr=False)
class Recipe:
    """A quantization recipe for the three GEMMs of a linear layer.

    ``Y = X W^T + b`` with X (tokens, in) and W (out, in). Each GEMM computes
    ``C = A B^T`` with both operands quantized along its reduction axis K
    under its own :class:`GemmConfig`; these operand roles are the contract
    the linear layer implements:

    =======  ===============  ==========================  ======================
    GEMM     product          a (A, M x K)                b (B, N x K)
    =======  ===============  ==========================  ======================
    fprop    ``Y = X W^T``    X (tokens x in), along in   W (out x in), along in
    dgrad    ``dX = dY W``    dY (tokens x out), along    W along out (the rows
                              out                         of W^T, in x out)
    wgrad    ``dW = dY^T X``  dY^T (out x tokens), along  X^T (in x tokens),
                              tokens                      along tokens
    =======  ===============  ==========================  ======================

    Master weights, bias, their gradients and the optimizer stay FP32; only the
    GEMM inputs are quantized. A recipe is a plain value: frozen, hashable,
    validated on construction, serializable with :meth:`to_dict` /
    :meth:`to_json`, and it never reads the environment.

    Parameters
    ----------
    fprop, dgrad, wgrad : GemmConfig, default GemmConfig() (fp32)
        The forward GEMM, the input-gradient GEMM and the weight-gradient GEMM.
    name : str, default 'custom'
        A label (presets carry their preset name); compared by ``==`` like
        every other field.

    Notes
    -----
    Stochastic-rounding keys and drawn Hadamard signs are not part of the
    recipe: the layer derives them from (layer seed, step, GEMM, operand), so
    one recipe serves every layer of a model. Which layers run under the
    recipe (e.g. the last blocks in bf16) is the model's policy.

    Examples
    --------
    >>> import fp4train as ft
    >>> r = ft.recipes.get("mxfp4_all").replace(wgrad__hadamard=ft.HadamardSpec(16))
    >>> r.describe()
    'fprop: mxfp4 x mxfp4 | dgrad: mxfp4 x mxfp4 | wgrad: mxfp4 x mxfp4 + H16(none)'
    >>> Recipe.from_json(r.to_json()) == r
    True
    """

    fprop: GemmConfig = field(default_factory=GemmConfig)
    dgrad: GemmConfig = field(default_factory=GemmConfig)
    wgrad: GemmConfig = field(default_factory=GemmConfig)
    name: str = "custom"

    def __post_init__(self):
        _set_fields(self, _check_recipe("", self.fprop, self.dgrad, self.wgrad, self.name))

    # -- access ----------------------------------------------------------
    def gemm(self, role):
        """The GemmConfig of ``role`` ('fprop', 'dgrad' or 'wgrad')."""
        _check_name("role", role, GEMMS)
        return getattr(self, role)

    # -- serialization -----------------------------------------------------
    def to_dict(self):
        """The recipe as nested plain dicts (JSON-ready); ``from_dict`` inverts it
        exactly: ``Recipe.from_dict(r.to_dict()) == r``."""
        d = {"name": self.name}
        d.update({role: getattr(self, role).to_dict() for role in GEMMS})
        return d

    @classmethod
    def from_dict(cls, d):
        """Build from the dict form of :meth:`to_dict`.

        Missing keys take their defaults (so a hand-written file may list only
        what differs from fp32); unknown keys raise ``ValueError`` naming them
        and their path; every field is validated with its full path, e.g.
        ``argument 'recipe.wgrad.a.rounding': expected one of nearest,
        nearest_away, stochastic, got 'round'``.
        """
        return _recipe_from_dict(d, "recipe")

    def to_json(self, indent=2):
        """JSON text of :meth:`to_dict` (floats written exactly; a sign vector on
        one line)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        # A literal newline after "[" is structural (json escapes it in strings).
        return re.sub(r"\[\n([-0-9,\s]*)\]",
                      lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
                      text)

    @classmethod
    def from_json(cls, text):
        """Parse :meth:`to_json` output (or any JSON object of the dict form).

        Invalid JSON and duplicate keys raise ``ValueError``.
        """
        if not isinstance(text, (str, bytes, bytearray)):
            raise _type_error("text", "a str", text)
        return cls.from_dict(_loads(text))

    @classmethod
    def load(cls, path):
        """Read a recipe from a JSON file.

        Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for an
        empty file or invalid JSON, and the field errors of :meth:`from_dict`
        prefixed with the file name.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise _type_error("path", "a str or os.PathLike", path)
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"recipe file '{path}' not found") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"recipe file '{path}' is a directory") from None
        if not text.strip():
            raise ValueError(f"recipe file '{path}' is empty")
        try:
            return cls.from_json(text)
        except (TypeError, ValueError) as e:
            raise type(e)(f"recipe file '{path}': {e}") from e

    def save(self, path):
        """Write :meth:`to_json` to ``path`` (inverse of :meth:`load`)."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    # -- derived recipes -------------------------------------------------------
    def replace(self, **changes):
        """A copy with some fields changed (validated again).

        Keys are field names or ``__``-separated paths into nested fields::

            r.replace(wgrad__a__rounding="stochastic", name="my_ablation")
            r.replace(wgrad__hadamard=HadamardSpec(16, "per_step"))
        """
        return _replace_path(self, changes)

    def with_name(self, name):
        """The same recipe under another name."""
        return dataclasses.replace(self, name=name)

    # -- display -------------------------------------------------------------
    def describe(self):
        """One line: ``fprop: mxfp4 x mxfp4 | dgrad: ... | wgrad: ... + H16(none)``."""
        return " | ".join(f"{role}: {getattr(self, role).describe()}" for role in GEMMS)

    def __repr__(self):
        lines = [f"<Recipe '{self.name}'"]
        lines += [f"  {role}: {getattr(self, role).describe()}" for role in GEMMS]
        return "\n".join(lines) + ">"


# --------------------------------------------------------------------------
# presets (DESIGN §3): nearest rounding and the floor rule unless said otherwise
# --------------------------------------------------------------------------

def _op(fmt, rounding="nearest", **kw):
    return OperandConfig(format=fmt, rounding=rounding, **kw)


def _same(fmt, **kw):
    """A GEMM whose two operands share one configuration, no Hadamard."""
    op = _op(fmt, **kw)
    return GemmConfig(a=op, b=op)


def _staged(fprop_fmt, dgrad_fmt, wgrad, name):
    return Recipe(fprop=_same(fprop_fmt), dgrad=_same(dgrad_fmt), wgrad=wgrad, name=name)


def fp32():
    """Every GEMM in float32: the unquantized baseline.

    Source: baseline (DESIGN §3).
    """
    return Recipe(fprop=_same("fp32"), dgrad=_same("fp32"), wgrad=_same("fp32"), name="fp32")


def bf16():
    """Every GEMM operand rounded to bfloat16 (half to even), multiplied in float32.

    Source: baseline (DESIGN §3), the usual mixed-precision setting.
    """
    return Recipe(fprop=_same("bf16"), dgrad=_same("bf16"), wgrad=_same("bf16"), name="bf16")


def fp8():
    """Per-tensor FP8 with current scaling: E4M3 for activations and weights,
    E5M2 for the gradient dY.

    Each operand gets one FP32 scale ``m / amax`` of the tensor being
    quantized (448 for E4M3, 57344 for E5M2). fprop: X, W E4M3; dgrad: dY
    E5M2, W E4M3; wgrad: dY E5M2, X E4M3.

    Source: per-tensor current scaling (DESIGN §3); the E4M3-forward /
    E5M2-gradient split of Micikevicius et al., "FP8 Formats for Deep
    Learning", arXiv 2209.05433.
    """
    return Recipe(fprop=GemmConfig(a=_op("fp8_e4m3"), b=_op("fp8_e4m3")),
                  dgrad=GemmConfig(a=_op("fp8_e5m2"), b=_op("fp8_e4m3")),
                  wgrad=GemmConfig(a=_op("fp8_e5m2"), b=_op("fp8_e4m3")),
                  name="fp8")


def mxfp8():
    """MXFP8 E4M3 everywhere with ``rceil`` (round-up) E8M0 block scales.

    Blocks of 32 along each reduction axis; rceil picks the smallest power of
    two that keeps the block's amax within 448, so nothing ever clips.

    Source: DESIGN §3 ("rceil scales"), the MX scale rule NVIDIA uses for
    MXFP8 training (OCP MX v1.0 formats).
    """
    g = _same("mxfp8_e4m3", scale_rule="rceil")
    return Recipe(fprop=g, dgrad=g, wgrad=g, name="mxfp8")


def mxfp4_bwd_rht_sr():
    """bf16 forward; MXFP4 backward with stochastic rounding and a random
    Hadamard transform.

    fprop: bf16 x bf16. dgrad and wgrad: both operands mxfp4 (floor rule)
    with stochastic rounding and prescale 0.75, and a blockwise Hadamard of
    size 64 on both operands along K with signs redrawn every step.

    Why 0.75: the floor rule sets X = 2^(floor(log2 amax) - 2), so a block's
    scaled magnitudes reach up to (but not) 8, beyond E2M1's largest value 6;
    rounding stochastically there would clip and bias the gradient. Scaled
    by 0.75 they stay below 6, so stochastic rounding is unbiased (the 0.75
    is divided back out on decode). The random Hadamard spreads outliers over
    each block of 64, which bounds the variance stochastic rounding adds.

    Source: Tseng et al., "Training LLMs with MXFP4", arXiv 2502.20586.
    """
    bwd = GemmConfig(a=_op("mxfp4", "stochastic", prescale=0.75),
                     b=_op("mxfp4", "stochastic", prescale=0.75),
                     hadamard=HadamardSpec(64, "per_step", 0))
    return Recipe(fprop=_same("bf16"), dgrad=bwd, wgrad=bwd, name="mxfp4_bwd_rht_sr")


def mxfp4_fprop():
    """MXFP4 forward only; dgrad and wgrad in bf16 (stage 1 of the staged ablation).

    Source: staged ablation, arXiv 2605.09825 (DESIGN §3).
    """
    return _staged("mxfp4", "bf16", _same("bf16"), "mxfp4_fprop")


def mxfp4_fprop_dgrad():
    """MXFP4 forward and dgrad; wgrad in bf16 (stage 2 of the staged ablation).

    Source: staged ablation, arXiv 2605.09825 (DESIGN §3).
    """
    return _staged("mxfp4", "mxfp4", _same("bf16"), "mxfp4_fprop_dgrad")


def mxfp4_all():
    """MXFP4 (floor rule, nearest) for all three GEMMs, no stabilizer.

    Source: staged ablation, arXiv 2605.09825 (DESIGN §3), the configuration
    whose wgrad the stabilizers below try to fix.
    """
    return _staged("mxfp4", "mxfp4", _same("mxfp4"), "mxfp4_all")


def mxfp4_all_h16():
    """MXFP4 everywhere plus a deterministic Hadamard of size 16 on wgrad.

    The wgrad operands dY^T and X^T get the plain Sylvester H_16 (signs
    ``none``) along the token axis before quantization.

    Source: arXiv 2605.09825 (DESIGN §3: "the deterministic-Hadamard fix").
    """
    wgrad = GemmConfig(a=_op("mxfp4"), b=_op("mxfp4"), hadamard=HadamardSpec(16, "none", 0))
    return _staged("mxfp4", "mxfp4", wgrad, "mxfp4_all_h16")


def mxfp4_all_rht16_per_step():
    """MXFP4 everywhere plus a random Hadamard of size 16 on wgrad, signs
    redrawn every step.

    Source: arXiv 2605.09825 (DESIGN §3: "a stabilizer reported to fail").
    """
    wgrad = GemmConfig(a=_op("mxfp4"), b=_op("mxfp4"),
                       hadamard=HadamardSpec(16, "per_step", 0))
    return _staged("mxfp4", "mxfp4", wgrad, "mxfp4_all_rht16_per_step")


def mxfp4_all_sr_wgrad():
    """MXFP4 everywhere with stochastic rounding of both wgrad operands.

    Source: arXiv 2605.09825 (DESIGN §3: "a stabilizer reported to fail").
    """
    wgrad = GemmConfig(a=_op("mxfp4", "stochastic"), b=_op("mxfp4", "stochastic"))
    return _staged("mxfp4", "mxfp4", wgrad, "mxfp4_all_sr_wgrad")


def nvfp4_rtn_fwd_sr_bwd():
    """NVFP4 with round-to-nearest forward and stochastic rounding of gradients.

    fprop: X and W nvfp4, nearest. dgrad: dY stochastic, W nearest. wgrad:
    dY and X both stochastic. 1-D blocks of 16 with E4M3 scales and an FP32
    tensor scale.

    Source: Chmiel et al., "FP4 All the Way", arXiv 2505.19115.
    """
    return Recipe(fprop=GemmConfig(a=_op("nvfp4"), b=_op("nvfp4")),
                  dgrad=GemmConfig(a=_op("nvfp4", "stochastic"), b=_op("nvfp4")),
                  wgrad=GemmConfig(a=_op("nvfp4", "stochastic"), b=_op("nvfp4", "stochastic")),
                  name="nvfp4_rtn_fwd_sr_bwd")


def nvfp4_2d_rht16():
    """NVIDIA's NVFP4 pretraining recipe: 16x16 weight tiles, stochastic
    gradients, and a random Hadamard on wgrad.

    fprop: X nvfp4 (1-D blocks of 16), W nvfp4 in 16x16 tiles (so W and W^T
    quantize identically and fprop's quantized W is reused by dgrad). dgrad:
    dY stochastic (1-D), W in 16x16 tiles, nearest. wgrad: dY stochastic, X
    nearest, both transformed by H_16 along the token axis with the one
    published sign vector :data:`NVFP4_2D_RHT_SIGNS`.

    Source: NVIDIA, "Pretraining Large Language Models with NVFP4",
    arXiv 2509.25149.
    """
    w_tiles = _op("nvfp4", block_2d=True)
    return Recipe(fprop=GemmConfig(a=_op("nvfp4"), b=w_tiles),
                  dgrad=GemmConfig(a=_op("nvfp4", "stochastic"), b=w_tiles),
                  wgrad=GemmConfig(a=_op("nvfp4", "stochastic"), b=_op("nvfp4"),
                                   hadamard=HadamardSpec(16, "fixed", 0, NVFP4_2D_RHT_SIGNS)),
                  name="nvfp4_2d_rht16")


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------

_BUILTIN_BUILDERS = {f.__name__: f for f in (
    fp32, bf16, fp8, mxfp8, mxfp4_bwd_rht_sr, mxfp4_fprop, mxfp4_fprop_dgrad, mxfp4_all,
    mxfp4_all_h16, mxfp4_all_rht16_per_step, mxfp4_all_sr_wgrad, nvfp4_rtn_fwd_sr_bwd,
    nvfp4_2d_rht16)}
_BUILTIN = {name: build() for name, build in _BUILTIN_BUILDERS.items()}
_USER = {}


def names():
    """Names of every preset: the built-ins in DESIGN §3's order, then the
    user-registered ones in registration order."""
    return tuple(_BUILTIN) + tuple(_USER)


def get(name):
    """The preset called ``name`` (a built-in or a registered recipe).

    Raises ``ValueError`` listing the valid names for an unknown one.
    """
    _check_name("name", name, names())
    return _BUILTIN[name] if name in _BUILTIN else _USER[name]


def register(recipe, *, overwrite=False):
    """Make ``recipe`` available as ``get(recipe.name)``; returns it.

    Built-in presets can never be replaced; a user preset only with
    ``overwrite=True``.
    """
    if not isinstance(recipe, Recipe):
        raise _type_error("recipe", "a Recipe", recipe)
    if recipe.name in _BUILTIN:
        raise ValueError(f"argument 'recipe': '{recipe.name}' is a built-in preset and cannot "
                         "be replaced; use recipe.with_name(...) to register it under another "
                         "name")
    if recipe.name in _USER and not overwrite and _USER[recipe.name] != recipe:
        raise ValueError(f"argument 'recipe': a recipe named '{recipe.name}' is already "
                         "registered; pass overwrite=True to replace it")
    _USER[recipe.name] = recipe
    return recipe


def unregister(name):
    """Remove a user-registered preset (built-ins cannot be removed)."""
    if name in _BUILTIN:
        raise ValueError(f"argument 'name': '{name}' is a built-in preset and cannot be removed")
    _check_name("name", name, tuple(_USER))
    del _USER[name]


def load(path_or_name):
    """A recipe from a preset name or a JSON file path.

    A string that is a preset name (see :func:`names`) gives that preset;
    anything else is read as a file with :meth:`Recipe.load`. Write
    ``./name`` to read a file that happens to share a preset's name.
    """
    if isinstance(path_or_name, str) and path_or_name in names():
        return get(path_or_name)
    if not isinstance(path_or_name, (str, os.PathLike)):
        raise _type_error("path_or_name", "a preset name or a file path", path_or_name)
    if not os.path.exists(os.fspath(path_or_name)):
        raise FileNotFoundError(f"recipe '{os.fspath(path_or_name)}' is neither a preset name "
                                f"({', '.join(names())}) nor an existing file")
    return Recipe.load(path_or_name)
