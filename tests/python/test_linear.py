"""fp4train.nn.Linear under every recipe.

Three independent checks: (1) bit-exact against fp4train.reference.linear,
numpy code that shares nothing with the C++ layer; (2) within the float32
accumulation bound of a float64 product of the dequantized operands; (3)
for the fp32 recipe, a plain numpy layer and central differences.
"""
import dataclasses

import numpy as np
import pytest

import fp4train as ft
import fp4train.nn as nn
from fp4train.reference.linear import derive_seed, linear_reference
from fp4train.recipes import GemmConfig, OperandConfig, Recipe

PRESETS = ft.recipes.names()


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def assert_bits(actual, expected, what):
    a, e = bits(actual), bits(expected)
    bad = np.flatnonzero(a.ravel() != e.ravel())
    assert bad.size == 0, (f"{what}: {bad.size} of {a.size} differ; first at {bad[0]}: "
                           f"{actual.ravel()[bad[0]]!r} (0x{a.ravel()[bad[0]]:08x}) vs "
                           f"{expected.ravel()[bad[0]]!r} (0x{e.ravel()[bad[0]]:08x})")


def data(rng, tokens, fin, fout):
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    x[:, ::13] *= 20.0  # a few outlier channels
    dy = (rng.standard_t(3.0, (tokens, fout)) * 1e-3).astype(np.float32)
    return x, dy


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_matches_numpy_reference_bit_for_bit(name, rng):
    x, dy = data(rng, 64, 64, 128)
    layer = nn.Linear(64, 128, recipe=name, seed=11)
    for step in range(2):  # step 1 checks per-step keys and signs
        layer.zero_grad()
        y = layer.forward(x)
        dx = layer.backward(dy)
        ry, rdx, rdw, rdb = linear_reference(x, layer.weight.data, layer.bias.data, dy,
                                             layer.recipe, 11, step)
        case = f"{name} step {step}"
        assert_bits(y, ry, f"{case} y")
        assert_bits(dx, rdx, f"{case} dx")
        assert_bits(layer.weight.grad, rdw, f"{case} dW")
        assert_bits(layer.bias.grad, rdb, f"{case} db")


def _dequantized_operands(layer, gemm, x, dy):
    """The float64 operands (A, B) the GEMM multiplied, from public fp4train ops."""
    recipe, step, seed = layer.recipe, layer.step - 1, layer.seed
    cfg = recipe.gemm(gemm)
    signs = ft._core.gemm_hadamard_signs(recipe, gemm, seed, step)
    spec = None if signs.size == 0 else ft.HadamardSpec(int(signs.size), "fixed",
                                                        vector=tuple(int(s) for s in signs))
    arrays = {"fprop": ((x, 1), (layer.weight.data, 1)), "dgrad": ((dy, 1), (layer.weight.data, 0)),
              "wgrad": ((dy, 0), (x, 0))}[gemm]
    out = []
    for i, ((arr, axis), op) in enumerate(zip(arrays, (cfg.a, cfg.b))):
        q = ft.quantize(arr, op.format, axis=axis, rounding=op.rounding,
                        scale_rule=op.scale_rule, prescale=op.prescale, block_2d=op.block_2d,
                        seed=derive_seed(seed, step, gemm, i), hadamard=spec)
        v = q.dequantize().astype(np.float64)
        out.append(v if axis == 1 else v.T)
    return out


@pytest.mark.parametrize("name", PRESETS)
def test_gemms_agree_with_float64_product_of_dequantized_operands(name, rng):
    x, dy = data(rng, 64, 64, 64)
    layer = nn.Linear(64, 64, recipe=name, seed=3, bias=False)
    y = layer.forward(x)
    dx = layer.backward(dy)
    if layer.recipe.fprop.b.block_2d and layer.recipe.dgrad.b.rounding == "stochastic":
        pytest.skip("dgrad reuses fprop's stochastic weight")
    for gemm, got in (("fprop", y), ("dgrad", dx), ("wgrad", layer.weight.grad)):
        a, b = _dequantized_operands(layer, gemm, x, dy)
        exact = a @ b.T
        # float32 accumulation: K/block roundings of partial sums plus per-block and
        # final roundings, each at most 2^-24 relative of the running magnitude.
        bound = (np.abs(a) @ np.abs(b).T) * (a.shape[1] + 4) * 2.0 ** -24 + 1e-30
        err = np.abs(got.astype(np.float64) - exact)
        assert np.all(err <= bound), f"{name} {gemm}: max excess {np.max(err - bound)}"


def test_fp32_recipe_matches_plain_numpy_layer(rng):
    x, dy = data(rng, 40, 24, 17)
    layer = nn.Linear(24, 17, recipe="fp32", seed=0)
    y = layer.forward(x)
    dx = layer.backward(dy)
    w, b = layer.weight.data.astype(np.float64), layer.bias.data.astype(np.float64)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    np.testing.assert_allclose(y, x64 @ w.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dy64 @ w, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(layer.weight.grad, dy64.T @ x64, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(layer.bias.grad, dy64.sum(0), rtol=1e-5, atol=1e-8)


def test_fp32_recipe_central_differences(rng):
    """L = sum(y * r); the layer is linear, so central differences are exact up to rounding."""
    layer = nn.Linear(6, 5, recipe="fp32", seed=1)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    r = rng.standard_normal((3, 5)).astype(np.float32)

    def loss():
        return float(np.sum(layer.forward(x).astype(np.float64) * r))

    layer.forward(x)
    dx = layer.backward(r)
    eps = 0.25
    for param, grad in ((layer.weight, layer.weight.grad), (layer.bias, layer.bias.grad)):
        for idx in np.ndindex(param.data.shape):
            old = param.data[idx]
            param.data[idx] = old + eps
            up = loss()
            param.data[idx] = old - eps
            down = loss()
            param.data[idx] = old
            assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-4, idx
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = loss()
        x[idx] = old - eps
        down = loss()
        x[idx] = old
        assert abs((up - down) / (2 * eps) - dx[idx]) < 1e-4, idx


def _fp32_with_hadamard(size, signs):
    h = ft.HadamardSpec(size, signs, seed=5)
    g = GemmConfig(OperandConfig(), OperandConfig(), h)
    return Recipe(fprop=g, dgrad=g, wgrad=g, name=f"fp32_h{size}_{signs}")


@pytest.mark.parametrize("size,signs", [(16, "none"), (32, "fixed"), (64, "per_step")])
def test_hadamard_with_fp32_leaves_every_gemm_unchanged(size, signs, rng):
    x, dy = data(rng, 64, 64, 128)
    plain = nn.Linear(64, 128, recipe="fp32", seed=2)
    rot = nn.Linear(64, 128, recipe=_fp32_with_hadamard(size, signs), seed=2)
    outs = []
    for layer in (plain, rot):
        y = layer.forward(x)
        outs.append((y, layer.backward(dy), layer.weight.grad.copy()))
    for (a, b, name) in zip(outs[0], outs[1], ("y", "dx", "dW")):
        scale = np.abs(a).max()
        assert np.abs(a - b).max() <= 64 * 2.0 ** -24 * 8 * scale, name
        assert not np.array_equal(a, b) or name == "y" and size == 0


def _sr_backward_recipe():
    sr = OperandConfig("mxfp4", rounding="stochastic", prescale=0.75)  # never clips
    return Recipe(fprop=GemmConfig(), dgrad=GemmConfig(sr, sr), wgrad=GemmConfig(sr, sr),
                  name="sr_backward")


def test_stochastic_rounding_makes_gradients_unbiased(rng):
    x, dy = data(rng, 32, 32, 32)
    x /= np.abs(x).max(axis=1, keepdims=True)
    dy /= np.abs(dy).max()
    ref_layer = nn.Linear(32, 32, recipe="fp32", seed=0, bias=False)
    w = ref_layer.weight.data
    ref_layer.forward(x)
    dx_exact = ref_layer.backward(dy).astype(np.float64)
    dw_exact = ref_layer.weight.grad.astype(np.float64)
    n = 300
    dxs, dws = [], []
    for seed in range(n):
        layer = nn.Linear(32, 32, recipe=_sr_backward_recipe(), seed=seed, bias=False)
        layer.weight.data[...] = w
        layer.forward(x)
        dxs.append(layer.backward(dy))
        dws.append(layer.weight.grad.copy())
    for name, samples, exact in (("dx", np.array(dxs), dx_exact), ("dW", np.array(dws), dw_exact)):
        mean, std = samples.mean(0), samples.std(0) + 1e-12
        z = (mean - exact) / (std / np.sqrt(n))
        # Each entry's mean is within a few standard errors; a biased rounding
        # (e.g. nearest) would put |z| far out for most entries.
        assert np.mean(np.abs(z) < 4.0) > 0.99, f"{name}: {np.mean(np.abs(z) < 4)}"
        assert abs(float(np.mean(z))) < 0.2, f"{name}: mean z {np.mean(z)}"


@pytest.mark.parametrize("name", ["mxfp4_bwd_rht_sr", "nvfp4_2d_rht16", "fp8"])
def test_threads_do_not_change_bits(name, rng, threads):
    x, dy = data(rng, 64, 64, 64)
    results = []
    for n in (1, 2):
        threads(n)
        layer = nn.Linear(64, 64, recipe=name, seed=4)
        y = layer.forward(x)
        results.append((y, layer.backward(dy), layer.weight.grad.copy(), layer.bias.grad.copy()))
    for a, b in zip(*results):
        assert_bits(a, b, f"{name} threads")


@pytest.mark.parametrize("name", ["mxfp4_all", "mxfp4_bwd_rht_sr", "nvfp4_2d_rht16", "bf16"])
def test_save_quantized_only_gives_identical_bits_with_less_memory(name, rng):
    x, dy = data(rng, 128, 64, 64)
    full = nn.Linear(64, 64, recipe=name, seed=9)
    lean = nn.Linear(64, 64, recipe=name, seed=9, save_quantized_only=True)
    for layer in (full, lean):
        layer.forward(x)
        layer.backward(dy)
    assert_bits(lean.weight.grad, full.weight.grad, name)
    assert_bits(lean.bias.grad, full.bias.grad, name)
    assert lean.saved_bytes < full.saved_bytes
    if name != "bf16":
        assert lean.saved_bytes <= x.nbytes // 4


def test_nvfp4_2d_weight_tiles_are_reused_by_dgrad(rng):
    """Reuse (fprop's tiles transposed) equals quantizing W along out-features."""
    x, dy = data(rng, 32, 48, 80)
    layer = nn.Linear(48, 80, recipe="nvfp4_2d_rht16", seed=1, bias=False)
    layer.forward(x)
    dx = layer.backward(dy)
    cfg = layer.recipe.dgrad
    dyq = ft.quantize(dy, "nvfp4", axis=1, rounding=cfg.a.rounding,
                      seed=derive_seed(1, 0, "dgrad", 0))
    wq = ft.quantize(layer.weight.data, "nvfp4", axis=0, block_2d=True)
    assert_bits(dx, ft.qgemm(dyq, wq.T), "dgrad with reused tiles")


def test_step_counter_and_state_dict_resume(rng):
    x, dy = data(rng, 64, 64, 64)
    a = nn.Linear(64, 64, recipe="mxfp4_bwd_rht_sr", seed=5)
    for _ in range(3):
        a.forward(x)
        a.backward(dy)
    assert a.step == 3
    state = a.state_dict()
    b = nn.Linear(64, 64, recipe="mxfp4_bwd_rht_sr", seed=5)
    b.load_state_dict(state)
    assert b.step == 3
    for layer in (a, b):
        layer.zero_grad()
        layer.forward(x)
        layer.backward(dy)
    assert_bits(a.weight.grad, b.weight.grad, "resumed step 3")
    c = nn.Linear(64, 64, recipe="mxfp4_bwd_rht_sr", seed=5)
    c.load_state_dict(state)
    c.forward(x)
    c.backward(dy)  # same step again: same per-step signs and keys
    assert_bits(c.weight.grad, a.weight.grad, "replayed step")


def test_gradients_accumulate_until_zero_grad(rng):
    x, dy = data(rng, 16, 8, 4)
    layer = nn.Linear(8, 4, recipe="fp32")
    layer.forward(x)
    layer.backward(dy)
    once = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.weight.grad, once[0] + once[0])
    np.testing.assert_array_equal(layer.bias.grad, once[1] + once[1])
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_leading_dims_are_flattened(rng):
    layer = nn.Linear(32, 16, recipe="mxfp4_all", seed=0)
    x = rng.standard_normal((2, 3, 32)).astype(np.float32)
    y = layer.forward(x)
    assert y.shape == (2, 3, 16)
    np.testing.assert_array_equal(y.reshape(6, 16), nn.Linear(32, 16, recipe="mxfp4_all",
                                                                  seed=0).forward(x.reshape(6, 32)))
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_init_like_torch(rng):
    layer = nn.Linear(400, 300, seed=3)
    bound = 1 / np.sqrt(400)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound
    assert nn.Linear(400, 300, bias=False).bias is None
    np.testing.assert_array_equal(layer.weight.data, nn.Linear(400, 300, seed=3).weight.data)


def test_non_finite_inputs_propagate(rng):
    x, dy = data(rng, 16, 32, 16)
    x[1, 3] = np.nan
    for name in ("fp32", "mxfp4_all", "nvfp4_2d_rht16"):
        layer = nn.Linear(32, 16, recipe=name)
        y = layer.forward(x)
        assert np.isnan(y[1]).all() and np.isfinite(np.delete(y, 1, axis=0)).all(), name
        dx = layer.backward(dy)
        assert np.isnan(layer.weight.grad).any() and np.isfinite(dx[0]).all(), name


def test_eval_mode_saves_nothing_and_keeps_the_step(rng):
    x, _ = data(rng, 4, 64, 64)  # 4 tokens: wgrad's H16 along tokens would refuse this
    layer = nn.Linear(64, 64, recipe="nvfp4_2d_rht16").eval()
    y = layer.forward(x)
    assert layer.step == 0 and layer.saved_bytes == 0
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(y, layer.train().forward(np.tile(x, (4, 1)))[:4])


def test_recipe_switch_and_quant_stats(rng):
    x, dy = data(rng, 64, 64, 64)
    layer = nn.Linear(64, 64, recipe="mxfp4_all", collect_stats=True)
    layer.forward(x)
    layer.backward(dy)
    stats = layer.quant_stats()
    assert set(stats) == {"fprop", "dgrad", "wgrad"}
    for g in stats.values():
        for op in ("a", "b"):
            s = g[op]
            assert 0 < s["rel_error"] < 0.5 and s["sqnr_db"] > 5
            assert 0 <= s["clipped_pct"] <= 100 and 0 <= s["flushed_pct"] <= 100
            assert abs(s["rel_error"] - 10 ** (-s["sqnr_db"] / 20)) < 1e-9
    layer.recipe = "bf16"
    assert layer.recipe.name == "bf16"
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(dy)
    assert nn.Linear(8, 8).quant_stats() == {}


def test_bad_input_raises_and_corrupts_nothing(rng):
    layer = nn.Linear(32, 16, recipe="mxfp4_all")
    x = rng.standard_normal((8, 32)).astype(np.float32)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((8, 16), np.float32))
    with pytest.raises(ValueError, match="'x'.*32"):
        layer.forward(np.zeros((8, 31), np.float32))
    with pytest.raises(TypeError, match="'x'"):
        layer.forward(np.zeros((8, 32), np.complex64))
    y = layer.forward(x)
    w_before = layer.weight.grad.copy()
    with pytest.raises(ValueError, match="'grad'.*\\(8, 16\\)"):
        layer.backward(np.zeros((7, 16), np.float32))
    with pytest.raises(TypeError, match="'grad'"):
        layer.backward(np.array([["a"] * 16] * 8))
    np.testing.assert_array_equal(layer.weight.grad, w_before)
    layer.backward(np.ones_like(y))  # still works after the errors
    with pytest.raises(ValueError, match="mxfp4_all"):
        nn.Linear(4, 4, recipe="mxfp5")
    with pytest.raises(TypeError, match="'recipe'"):
        nn.Linear(4, 4, recipe=3)
    with pytest.raises(ValueError, match="'in_features'"):
        nn.Linear(0, 4)
    with pytest.raises(TypeError, match="'out_features'"):
        nn.Linear(4, 2.0)
    with pytest.raises(ValueError, match="hadamard.size"):
        nn.Linear(64, 48, recipe="mxfp4_bwd_rht_sr")  # dgrad's H64 runs along out
    with pytest.raises(ValueError, match="multiple"):
        nn.Linear(64, 64, recipe="mxfp4_bwd_rht_sr").forward(np.zeros((10, 64), np.float32))
    layer.weight.grad = np.zeros((16, 32), np.float64)
    layer.forward(x)
    with pytest.raises(TypeError, match="weight.grad"):
        layer.backward(np.ones_like(y))


def test_repr_shows_recipe():
    r = repr(nn.Linear(8, 4, recipe="nvfp4_2d_rht16"))
    assert "nvfp4_2d_rht16" in r and "in_features=8" in r


def test_state_dict_checks(rng):
    layer = nn.Linear(8, 4)
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "step"}
    bad = dict(state, weight=np.zeros((4, 9), np.float32))
    with pytest.raises(ValueError, match="weight"):
        layer.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        layer.load_state_dict({"weight": state["weight"]})
    assert dataclasses.is_dataclass(layer.recipe)
