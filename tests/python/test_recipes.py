"""Recipes: presets match DESIGN §3, validation names the field path, the
serialized forms round-trip exactly, and the C++ mirror agrees with Python."""
import copy
import dataclasses
import inspect
import json
import math
import pathlib

import numpy as np
import pytest

import fp4train as ft
from fp4train import _core, recipes
from fp4train.hadamard import HadamardSpec
from fp4train.recipes import GemmConfig, OperandConfig, Recipe

# ---------------------------------------------------------------------------
# DESIGN §3's table, stated independently of recipes.py.
# An operand is (format, rounding, scale_rule, prescale, block_2d); a GEMM is
# (a, b, hadamard) with hadamard None or (size, signs, seed, vector).
# ---------------------------------------------------------------------------

NV_SIGNS = (1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1)


def op(fmt, rounding="nearest", scale_rule="floor", prescale=1.0, block_2d=False):
    return (fmt, rounding, scale_rule, prescale, block_2d)


def same(fmt, hadamard=None, **kw):
    return (op(fmt, **kw), op(fmt, **kw), hadamard)


MX_SR = op("mxfp4", "stochastic", prescale=0.75)
TABLE = {
    "fp32": dict(fprop=same("fp32"), dgrad=same("fp32"), wgrad=same("fp32")),
    "bf16": dict(fprop=same("bf16"), dgrad=same("bf16"), wgrad=same("bf16")),
    "fp8": dict(fprop=same("fp8_e4m3"),
                dgrad=(op("fp8_e5m2"), op("fp8_e4m3"), None),
                wgrad=(op("fp8_e5m2"), op("fp8_e4m3"), None)),
    "mxfp8": dict(fprop=same("mxfp8_e4m3", scale_rule="rceil"),
                  dgrad=same("mxfp8_e4m3", scale_rule="rceil"),
                  wgrad=same("mxfp8_e4m3", scale_rule="rceil")),
    "mxfp4_bwd_rht_sr": dict(fprop=same("bf16"),
                             dgrad=(MX_SR, MX_SR, (64, "per_step", 0, None)),
                             wgrad=(MX_SR, MX_SR, (64, "per_step", 0, None))),
    "mxfp4_fprop": dict(fprop=same("mxfp4"), dgrad=same("bf16"), wgrad=same("bf16")),
    "mxfp4_fprop_dgrad": dict(fprop=same("mxfp4"), dgrad=same("mxfp4"), wgrad=same("bf16")),
    "mxfp4_all": dict(fprop=same("mxfp4"), dgrad=same("mxfp4"), wgrad=same("mxfp4")),
    "mxfp4_all_h16": dict(fprop=same("mxfp4"), dgrad=same("mxfp4"),
                          wgrad=same("mxfp4", hadamard=(16, "none", 0, None))),
    "mxfp4_all_rht16_per_step": dict(fprop=same("mxfp4"), dgrad=same("mxfp4"),
                                     wgrad=same("mxfp4", hadamard=(16, "per_step", 0, None))),
    "mxfp4_all_sr_wgrad": dict(fprop=same("mxfp4"), dgrad=same("mxfp4"),
                               wgrad=same("mxfp4", rounding="stochastic")),
    "nvfp4_rtn_fwd_sr_bwd": dict(fprop=same("nvfp4"),
                                 dgrad=(op("nvfp4", "stochastic"), op("nvfp4"), None),
                                 wgrad=same("nvfp4", rounding="stochastic")),
    "nvfp4_2d_rht16": dict(
        fprop=(op("nvfp4"), op("nvfp4", block_2d=True), None),
        dgrad=(op("nvfp4", "stochastic"), op("nvfp4", block_2d=True), None),
        wgrad=(op("nvfp4", "stochastic"), op("nvfp4"), (16, "fixed", 0, NV_SIGNS))),
}
SOURCES = {"mxfp4_bwd_rht_sr": "2502.20586", "mxfp4_fprop": "2605.09825",
           "nvfp4_rtn_fwd_sr_bwd": "2505.19115", "nvfp4_2d_rht16": "2509.25149"}

PRESETS = list(TABLE)


def test_names_are_the_table_in_order():
    assert recipes.names()[:len(TABLE)] == tuple(TABLE)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_matches_design_table(name):
    r = recipes.get(name)
    assert r.name == name
    for role in ("fprop", "dgrad", "wgrad"):
        want_a, want_b, want_h = TABLE[name][role]
        g = getattr(r, role)
        for which, want in (("a", want_a), ("b", want_b)):
            o = getattr(g, which)
            got = (o.format, o.rounding, o.scale_rule, o.prescale, o.block_2d)
            assert got == want, f"{name}.{role}.{which}"
        if want_h is None:
            assert g.hadamard is None, f"{name}.{role}.hadamard"
        else:
            h = g.hadamard
            assert (h.size, h.signs, h.seed, h.vector) == want_h, f"{name}.{role}.hadamard"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builder_and_docstring(name):
    builder = getattr(recipes, name)
    assert builder() == recipes.get(name)
    doc = inspect.getdoc(builder)
    assert doc and "Source" in doc, name
    if name in SOURCES:
        assert "arXiv " + SOURCES[name] in doc.replace("\n", " "), name


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips_exactly(name, tmp_path):
    r = recipes.get(name)
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON-ready: plain types only
    assert Recipe.from_dict(d) == r
    assert Recipe.from_dict(copy.deepcopy(d)).to_dict() == d
    assert Recipe.from_json(r.to_json()) == r
    assert Recipe.from_json(r.to_json(indent=None)) == r
    path = tmp_path / f"{name}.json"
    r.save(path)
    assert Recipe.load(path) == r
    assert recipes.load(str(path)) == r
    assert hash(Recipe.from_json(r.to_json())) == hash(r)


@pytest.mark.parametrize("name", PRESETS)
def test_cpp_accepts_every_preset_and_reads_every_field(name):
    r = recipes.get(name)
    _core.validate_recipe(r)
    _core.validate_recipe(r.to_dict())
    assert _core.recipe_to_dict(r) == r.to_dict()


def test_recipes_are_frozen_and_hashable():
    r = recipes.get("nvfp4_2d_rht16")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.name = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.fprop.a.format = "fp32"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.wgrad.hadamard = None
    table = {recipes.get(n): n for n in PRESETS}
    assert len(table) == len(PRESETS)
    assert table[recipes.nvfp4_2d_rht16()] == "nvfp4_2d_rht16"


def test_defaults_and_exports():
    assert Recipe() == Recipe(GemmConfig(), GemmConfig(), GemmConfig(), "custom")
    assert OperandConfig() == OperandConfig("fp32", "nearest", "floor", 1.0, False)
    assert GemmConfig().hadamard is None
    assert ft.Recipe is Recipe and ft.GemmConfig is GemmConfig
    assert ft.OperandConfig is OperandConfig and ft.recipes is recipes
    assert recipes.GEMMS == ("fprop", "dgrad", "wgrad")
    assert recipes.NVFP4_2D_RHT_SIGNS == NV_SIGNS


def test_recipes_module_never_reads_the_environment():
    src = pathlib.Path(recipes.__file__).read_text()
    assert "os.environ" not in src and "getenv" not in src


# ---------------------------------------------------------------------------
# Validation: objects built directly name the field
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(rounding="round"), ValueError,
     "argument 'rounding': expected one of nearest, nearest_away, stochastic, got 'round'"),
    (dict(format="fp4"), ValueError, "argument 'format': expected one of mxfp4, nvfp4,"),
    (dict(scale_rule="up"), ValueError,
     "argument 'scale_rule': expected one of floor, rceil, ceil, even, got 'up'"),
    (dict(format=4), TypeError, "argument 'format': expected a str (one of mxfp4"),
    (dict(prescale="1"), TypeError, "argument 'prescale': expected a real number, got str"),
    (dict(prescale=True), TypeError, "argument 'prescale': expected a real number, got bool"),
    (dict(format="mxfp4", prescale=0.0), ValueError, "argument 'prescale': expected a finite"),
    (dict(format="mxfp4", prescale=-1.0), ValueError, "argument 'prescale': expected a finite"),
    (dict(format="mxfp4", prescale=math.inf), ValueError, "argument 'prescale'"),
    (dict(format="mxfp4", prescale=math.nan), ValueError, "argument 'prescale'"),
    (dict(format="mxfp4", prescale=1e39), ValueError, "(as a float32)"),
    (dict(format="mxfp4", prescale=1e-50), ValueError, "(as a float32)"),
    (dict(format="bf16", prescale=0.75), ValueError,
     "argument 'prescale': expected 1.0 for format 'bf16'"),
    (dict(format="fp32", prescale=2.0), ValueError,
     "argument 'prescale': expected 1.0 for format 'fp32'"),
    (dict(block_2d=1), TypeError, "argument 'block_2d': expected a bool, got int"),
    (dict(format="fp8_e4m3", block_2d=True), ValueError,
     "argument 'block_2d': 2-D tiles need a format with block scales (mxfp4, nvfp4, "
     "mxfp8_e4m3, mxfp8_e5m2), got format 'fp8_e4m3'"),
    (dict(format="bf16", block_2d=True), ValueError, "argument 'block_2d'"),
])
def test_operand_validation(kwargs, exc, message):
    with pytest.raises(exc) as info:
        OperandConfig(**kwargs)
    assert message in str(info.value)


def test_operand_accepted_values():
    assert OperandConfig(format="fp32", prescale=1).prescale == 1.0
    assert isinstance(OperandConfig(format="fp32", prescale=1).prescale, float)
    assert OperandConfig(format="mxfp4", prescale=np.float32(0.75)).prescale == 0.75
    # prescale is kept as the float32 the kernels multiply by
    p = OperandConfig(format="nvfp4", prescale=0.1).prescale
    assert p == float(np.float32(0.1)) and p != 0.1
    assert OperandConfig(format="mxfp8_e5m2", block_2d=True).block_2d
    for fmt in ft.FORMATS:
        OperandConfig(format=fmt)


def test_gemm_validation():
    with pytest.raises(TypeError, match=r"argument 'a': expected an OperandConfig, got dict"):
        GemmConfig(a={"format": "mxfp4"})
    with pytest.raises(TypeError, match=r"argument 'hadamard': expected a HadamardSpec or None"):
        GemmConfig(hadamard=16)
    with pytest.raises(ValueError, match=r"argument 'b': expected the block size of a .*16.*"
                                         r"'nvfp4'.*'mxfp4' with blocks of 32"):
        GemmConfig(a=OperandConfig("nvfp4"), b=OperandConfig("mxfp4"))
    with pytest.raises(ValueError, match=r"argument 'b'"):
        GemmConfig(a=OperandConfig("nvfp4"), b=OperandConfig("fp8_e5m2"))
    # bf16/fp32 on either side: a float32 GEMM, any partner
    GemmConfig(a=OperandConfig("nvfp4"), b=OperandConfig("bf16"))
    GemmConfig(a=OperandConfig("fp32"), b=OperandConfig("mxfp4"))
    # same block size along K: allowed across element types and per-tensor fp8
    GemmConfig(a=OperandConfig("mxfp8_e5m2"), b=OperandConfig("mxfp4"))
    GemmConfig(a=OperandConfig("fp8_e5m2"), b=OperandConfig("mxfp8_e4m3"))
    # a Hadamard is allowed with any format, fp32 included
    for fmt in ("fp32", "bf16", "fp8_e4m3", "mxfp4", "nvfp4"):
        GemmConfig(a=OperandConfig(fmt), b=OperandConfig(fmt), hadamard=HadamardSpec(32))


def test_recipe_validation():
    with pytest.raises(TypeError, match=r"argument 'fprop': expected a GemmConfig, got "
                                        r"OperandConfig"):
        Recipe(fprop=OperandConfig())
    with pytest.raises(TypeError, match=r"argument 'wgrad': expected a GemmConfig, got dict"):
        Recipe(wgrad={})
    with pytest.raises(TypeError, match=r"argument 'name': expected a str, got int"):
        Recipe(name=3)
    with pytest.raises(ValueError, match=r"argument 'name': expected a non-empty string"):
        Recipe(name="")
    with pytest.raises(ValueError, match=r"argument 'role': expected one of fprop, dgrad, "
                                         r"wgrad, got 'bprop'"):
        Recipe().gemm("bprop")
    assert Recipe().gemm("wgrad") == GemmConfig()


# ---------------------------------------------------------------------------
# Validation through from_dict names the whole path, and C++ agrees
# ---------------------------------------------------------------------------

BASE = recipes.get("nvfp4_2d_rht16").to_dict()


def edit(path, value):
    """BASE with the key at `path` ('wgrad.a.rounding') set (or deleted if value is DEL)."""
    d = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[p]
    if value is DEL:
        del node[last]
    else:
        node[last] = value
    return d


DEL = object()

# (dict, exception, path named, exact: the C++ message equals Python's)
INVALID = [
    (edit("wgrad.a.rounding", "round"), ValueError, "recipe.wgrad.a.rounding", True),
    (edit("fprop.b.format", "nvfp8"), ValueError, "recipe.fprop.b.format", True),
    (edit("dgrad.a.scale_rule", "nearest"), ValueError, "recipe.dgrad.a.scale_rule", True),
    (edit("dgrad.a.format", None), TypeError, "recipe.dgrad.a.format", True),
    (edit("fprop.a.rounding", 1), TypeError, "recipe.fprop.a.rounding", True),
    (edit("fprop.a.prescale", "0.75"), TypeError, "recipe.fprop.a.prescale", True),
    (edit("fprop.a.prescale", False), TypeError, "recipe.fprop.a.prescale", True),
    (edit("fprop.a.prescale", -0.5), ValueError, "recipe.fprop.a.prescale", False),
    (edit("fprop.a.prescale", 1e-60), ValueError, "recipe.fprop.a.prescale", False),
    (edit("fprop.a.prescale", 3.5e38), ValueError, "recipe.fprop.a.prescale", False),
    (edit("fprop.a.prescale", math.nan), ValueError, "recipe.fprop.a.prescale", False),
    (edit("fprop.b.block_2d", "yes"), TypeError, "recipe.fprop.b.block_2d", True),
    (edit("fprop.b.block_2d", 1), TypeError, "recipe.fprop.b.block_2d", True),
    (edit("fprop", {"a": {"format": "bf16", "prescale": 0.5}}), ValueError,
     "recipe.fprop.a.prescale", False),
    (edit("wgrad.b", {"format": "fp8_e4m3", "block_2d": True}), ValueError,
     "recipe.wgrad.b.block_2d", True),
    (edit("dgrad.b.format", "mxfp4"), ValueError, "recipe.dgrad.b", True),
    (edit("dgrad", {"a": {"format": "fp8_e4m3"}, "b": {"format": "nvfp4"}}), ValueError,
     "recipe.dgrad.b", True),
    (edit("wgrad.hadamard.size", 12), ValueError, "recipe.wgrad.hadamard.size", False),
    (edit("wgrad.hadamard.size", 1), ValueError, "recipe.wgrad.hadamard.size", False),
    (edit("wgrad.hadamard.size", 65536), ValueError, "recipe.wgrad.hadamard.size", False),
    (edit("wgrad.hadamard.size", 16.0), TypeError, "recipe.wgrad.hadamard.size", False),
    (edit("wgrad.hadamard.size", True), TypeError, "recipe.wgrad.hadamard.size", False),
    (edit("wgrad.hadamard.size", DEL), ValueError, "recipe.wgrad.hadamard", True),
    (edit("wgrad.hadamard.signs", "random"), ValueError, "recipe.wgrad.hadamard.signs", False),
    (edit("wgrad.hadamard.signs", None), TypeError, "recipe.wgrad.hadamard.signs", False),
    (edit("wgrad.hadamard.signs", "per_step"), ValueError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.seed", -1), ValueError, "recipe.wgrad.hadamard.seed", False),
    (edit("wgrad.hadamard.seed", 2 ** 64), ValueError, "recipe.wgrad.hadamard.seed", False),
    (edit("wgrad.hadamard.seed", 1.5), TypeError, "recipe.wgrad.hadamard.seed", False),
    (edit("wgrad.hadamard.vector", NV_SIGNS[:8]), ValueError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.vector", []), ValueError, "recipe.wgrad.hadamard.vector", False),
    (edit("wgrad.hadamard.vector", [2] + list(NV_SIGNS[1:])), ValueError,
     "recipe.wgrad.hadamard.vector", False),
    (edit("wgrad.hadamard.vector", [1 + 1e-12] + list(NV_SIGNS[1:])), ValueError,
     "recipe.wgrad.hadamard.vector", False),
    (edit("wgrad.hadamard.vector", ["+"] * 16), TypeError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.vector", [True] * 16), TypeError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.vector", "+" * 16), TypeError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.vector", [[1]] * 16), ValueError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard.vector", [0] * 16), ValueError, "recipe.wgrad.hadamard.vector",
     False),
    (edit("wgrad.hadamard", 16), TypeError, "recipe.wgrad.hadamard", True),
    (edit("wgrad.hadamard.sign", "none"), ValueError, "recipe.wgrad.hadamard", True),
    (edit("fprop.a.round", "nearest"), ValueError, "recipe.fprop.a", True),
    (edit("fprop.c", {}), ValueError, "recipe.fprop", True),
    (edit("bprop", {}), ValueError, "recipe", True),
    (edit("fprop", []), TypeError, "recipe.fprop", True),
    (edit("fprop.a", "mxfp4"), TypeError, "recipe.fprop.a", True),
    (edit("name", ""), ValueError, "recipe.name", True),
    (edit("name", None), TypeError, "recipe.name", True),
]


@pytest.mark.parametrize("d, exc, path, exact", INVALID,
                         ids=[f"{i}-{case[2]}" for i, case in enumerate(INVALID)])
def test_python_and_cpp_reject_the_same_field(d, exc, path, exact):
    with pytest.raises((TypeError, ValueError)) as py_err:
        Recipe.from_dict(d)
    with pytest.raises((TypeError, ValueError)) as cpp_err:
        _core.validate_recipe(d)
    py_msg, cpp_msg = str(py_err.value), str(cpp_err.value)
    assert py_err.type is exc, py_msg
    assert cpp_err.type is exc, cpp_msg
    assert py_msg.startswith(f"argument '{path}'"), py_msg
    assert cpp_msg.startswith(f"argument '{path}'"), cpp_msg
    if exact:
        assert py_msg == cpp_msg


def test_messages_list_the_allowed_values_and_unknown_keys():
    with pytest.raises(ValueError) as e:
        Recipe.from_dict(edit("wgrad.a.rounding", "round"))
    assert str(e.value) == ("argument 'recipe.wgrad.a.rounding': expected one of nearest, "
                            "nearest_away, stochastic, got 'round'")
    d = edit("fprop.a.roundng", "stochastic")
    d["fprop"]["a"]["fmt"] = "mxfp4"
    with pytest.raises(ValueError) as e:
        Recipe.from_dict(d)
    assert str(e.value) == ("argument 'recipe.fprop.a': unknown keys 'roundng', 'fmt' "
                            "(expected keys: format, rounding, scale_rule, prescale, block_2d)")


def test_from_dict_fills_missing_keys_with_defaults():
    r = Recipe.from_dict({"wgrad": {"a": {"format": "mxfp4", "rounding": "stochastic"},
                                    "b": {"format": "mxfp4"},
                                    "hadamard": {"size": 16}}})
    assert r == Recipe(wgrad=GemmConfig(OperandConfig("mxfp4", "stochastic"),
                                        OperandConfig("mxfp4"), HadamardSpec(16)))
    assert Recipe.from_dict({}) == Recipe()
    assert _core.recipe_to_dict({"wgrad": {"hadamard": {"size": 16}}}) == r.replace(
        wgrad__a=OperandConfig(), wgrad__b=OperandConfig()).to_dict()


def test_cpp_reads_prescale_as_float32_like_python():
    r = recipes.get("mxfp4_bwd_rht_sr").replace(dgrad__a__prescale=0.1)
    assert _core.recipe_to_dict(r) == r.to_dict()
    d = r.to_dict()
    d["dgrad"]["a"]["prescale"] = 0.1  # the un-rounded double, given by hand
    assert _core.recipe_to_dict(d)["dgrad"]["a"]["prescale"] == r.dgrad.a.prescale


def test_cpp_reads_sign_vectors_like_python():
    for vector in (np.array(NV_SIGNS), np.array(NV_SIGNS, dtype=np.float32),
                   [float(s) for s in NV_SIGNS], tuple(NV_SIGNS)):
        d = edit("wgrad.hadamard.vector", vector)
        assert Recipe.from_dict(d) == recipes.get("nvfp4_2d_rht16")
        assert _core.recipe_to_dict(d) == BASE


def test_docstring_examples():
    import doctest
    assert doctest.testmod(recipes).failed == 0


def test_cpp_rejects_non_recipes():
    with pytest.raises(TypeError, match=r"argument 'recipe': expected an fp4train Recipe or "
                                        r"a dict, got str"):
        _core.validate_recipe("mxfp4_all")
    with pytest.raises(TypeError, match=r"argument 'recipe': expected a dict, got list"):
        Recipe.from_dict([])


# ---------------------------------------------------------------------------
# Registry and files
# ---------------------------------------------------------------------------

def test_get_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as e:
        recipes.get("mxfp4_everything")
    msg = str(e.value)
    assert "mxfp4_everything" in msg
    for name in PRESETS:
        assert name in msg
    with pytest.raises(TypeError, match="argument 'name'"):
        recipes.get(None)


def test_register_user_presets():
    mine = recipes.get("mxfp4_all").replace(wgrad__a__rounding="stochastic",
                                            name="test_recipes_mine")
    try:
        assert recipes.register(mine) is mine
        assert recipes.get("test_recipes_mine") is mine
        assert recipes.names()[-1] == "test_recipes_mine"
        assert recipes.load("test_recipes_mine") is mine
        recipes.register(mine)  # the same recipe again: a no-op
        other = mine.replace(wgrad__b__rounding="stochastic")
        with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
            recipes.register(other)
        recipes.register(other, overwrite=True)
        assert recipes.get("test_recipes_mine") is other
    finally:
        recipes.unregister("test_recipes_mine")
    assert "test_recipes_mine" not in recipes.names()
    with pytest.raises(ValueError, match="built-in preset and cannot be replaced"):
        recipes.register(mine.with_name("mxfp4_all"))
    with pytest.raises(ValueError, match="built-in"):
        recipes.unregister("fp32")
    with pytest.raises(TypeError, match="argument 'recipe': expected a Recipe"):
        recipes.register(mine.to_dict())


def test_load_files(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "mine", "fprop": {"a": {"format": "mxfp4"},
                                                          "b": {"format": "mxfp4"}}}))
    r = recipes.load(good)
    assert r.name == "mine" and r.fprop.a.format == "mxfp4" and r.wgrad == GemmConfig()
    assert Recipe.load(str(good)) == r
    assert recipes.load("fp8") == recipes.get("fp8")

    with pytest.raises(FileNotFoundError, match="neither a preset name"):
        recipes.load(str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="missing.json' not found"):
        Recipe.load(tmp_path / "missing.json")

    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty.json' is empty"):
        recipes.load(empty)

    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "fprop": {')
    with pytest.raises(ValueError, match=r"broken.json': invalid recipe JSON: .*line 2"):
        recipes.load(broken)

    dup = tmp_path / "dup.json"
    dup.write_text('{"name": "a", "name": "b"}')
    with pytest.raises(ValueError, match="duplicate key 'name'"):
        recipes.load(dup)

    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"fprop": {"a": {"format": "mxfp4", "seed": 3}}}))
    with pytest.raises(ValueError, match=r"unknown.json': argument 'recipe.fprop.a': "
                                         r"unknown key 'seed'"):
        recipes.load(unknown)

    bad_field = tmp_path / "bad_field.json"
    bad_field.write_text(json.dumps({"dgrad": {"b": {"prescale": "one"}}}))
    with pytest.raises(TypeError, match=r"argument 'recipe.dgrad.b.prescale'"):
        recipes.load(bad_field)

    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    with pytest.raises(TypeError, match=r"argument 'recipe': expected a dict, got list"):
        recipes.load(not_object)

    nan = tmp_path / "nan.json"
    nan.write_text('{"fprop": {"a": {"format": "mxfp4", "prescale": NaN}}}')
    with pytest.raises(ValueError, match=r"recipe.fprop.a.prescale"):
        recipes.load(nan)

    with pytest.raises(IsADirectoryError):
        recipes.load(tmp_path)
    with pytest.raises(TypeError, match="argument 'path_or_name'"):
        recipes.load(3)


# ---------------------------------------------------------------------------
# Derived recipes and display
# ---------------------------------------------------------------------------

def test_replace_and_with_name():
    base = recipes.get("mxfp4_all")
    r = base.replace(wgrad__hadamard=HadamardSpec(16), name="x")
    assert r == recipes.get("mxfp4_all_h16").with_name("x")
    assert base.replace(wgrad__a__rounding="stochastic", wgrad__b__rounding="stochastic") \
        == recipes.get("mxfp4_all_sr_wgrad").with_name("mxfp4_all")
    h = recipes.get("mxfp4_all_h16").replace(wgrad__hadamard__signs="per_step")
    assert h == recipes.get("mxfp4_all_rht16_per_step").with_name("mxfp4_all_h16")
    assert dataclasses.replace(base, name="y") == base.with_name("y")
    assert base.fprop.replace(a__format="bf16").a.format == "bf16"
    assert base.fprop.a.replace(rounding="stochastic").rounding == "stochastic"
    with pytest.raises(ValueError, match="argument 'rounding'"):
        base.replace(wgrad__a__rounding="round")
    with pytest.raises(TypeError, match="argument 'bprop__a': Recipe has no field 'bprop'"):
        base.replace(bprop__a=OperandConfig())
    with pytest.raises(ValueError, match="cannot set a field of hadamard=None"):
        base.replace(wgrad__hadamard__size=16)
    with pytest.raises(ValueError, match="given both whole and by field"):
        base.replace(wgrad=GemmConfig(), wgrad__a__format="bf16")


def test_describe_and_repr_are_readable():
    r = recipes.get("mxfp4_all_h16")
    assert r.describe() == ("fprop: mxfp4 x mxfp4 | dgrad: mxfp4 x mxfp4 | "
                            "wgrad: mxfp4 x mxfp4 + H16(none)")
    assert repr(r) == ("<Recipe 'mxfp4_all_h16'\n"
                       "  fprop: mxfp4 x mxfp4\n"
                       "  dgrad: mxfp4 x mxfp4\n"
                       "  wgrad: mxfp4 x mxfp4 + H16(none)>")
    assert recipes.get("mxfp4_bwd_rht_sr").dgrad.describe() == (
        "mxfp4(stochastic, prescale=0.75) x mxfp4(stochastic, prescale=0.75) + H64(per_step)")
    assert recipes.get("nvfp4_2d_rht16").describe() == (
        "fprop: nvfp4 x nvfp4(2d) | dgrad: nvfp4(stochastic) x nvfp4(2d) | "
        "wgrad: nvfp4(stochastic) x nvfp4 + H16(fixed, given signs)")
    assert recipes.get("mxfp8").fprop.a.describe() == "mxfp8_e4m3(rceil)"
    assert OperandConfig("nvfp4", prescale=0.1).describe() == "nvfp4(prescale=0.1)"
    assert GemmConfig(hadamard=HadamardSpec(32, "fixed", 5)).describe() == \
        "fp32 x fp32 + H32(fixed, seed=5)"
    # operand and GEMM reprs show non-defaults and evaluate back
    o = OperandConfig("mxfp4", "stochastic", prescale=0.75)
    assert repr(o) == "OperandConfig(format='mxfp4', rounding='stochastic', prescale=0.75)"
    assert eval(repr(o)) == o
    g = recipes.get("nvfp4_2d_rht16").wgrad
    assert eval(repr(g), {"GemmConfig": GemmConfig, "OperandConfig": OperandConfig,
                          "HadamardSpec": HadamardSpec}) == g
    assert repr(GemmConfig()) == "GemmConfig()"
