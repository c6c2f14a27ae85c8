"""Gradient-noise monitor and the fp32-wgrad capture hook of nn.Linear.

The hook is checked against float64 numpy and against the fp32 recipe's own
wgrad (the same bit-defined float32 GEMM); the monitor's r against a direct
numpy computation from an fp32 twin model; the switch logic with fed ratios.
"""
import json
import math

import numpy as np
import pytest

import fp4train.nn as nn
from fp4train import recipes
from fp4train.gemm import gemm_f32
from fp4train.model import LlamaModel, ModelConfig, PrecisionPolicy
from fp4train.noise import GradientNoiseMonitor, monitored, noise_ratio

CFG = ModelConfig(vocab_size=64, dim=32, n_layers=3, n_heads=2, hidden=64, max_seq_len=32)
SQRT3 = math.sqrt(3)


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def layer_step(layer, x, dy):
    layer.zero_grad()
    y = layer.forward(x)
    dx = layer.backward(dy)
    return y, dx, layer.weight.grad.copy()


# -- the capture hook --------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["fp32", "mxfp4_all", "nvfp4_2d_rht16"])
def test_capture_gives_the_fp32_wgrad_and_changes_nothing_else(recipe, rng):
    x = rng.standard_normal((4, 32, 48)).astype(np.float32)  # 128 tokens: Hadamard 16 fits
    dy = rng.standard_normal((4, 32, 24)).astype(np.float32)
    plain = nn.Linear(48, 24, bias=True, recipe=recipe, seed=4)
    hooked = nn.Linear(48, 24, bias=True, recipe=recipe, seed=4)
    assert hooked.capture_fp32_wgrad is False and hooked.fp32_wgrad is None
    hooked.capture_fp32_wgrad = True
    ref = layer_step(plain, x, dy)
    got = layer_step(hooked, x, dy)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(bits(a), bits(b))
    np.testing.assert_array_equal(bits(plain.bias.grad), bits(hooked.bias.grad))
    assert plain.fp32_wgrad is None
    w32 = hooked.fp32_wgrad
    assert w32.dtype == np.float32 and w32.shape == (24, 48)
    exact = dy.reshape(-1, 24).astype(np.float64).T @ x.reshape(-1, 48).astype(np.float64)
    np.testing.assert_allclose(w32, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    np.testing.assert_array_equal(bits(w32), bits(gemm_f32(dy.reshape(-1, 24).T,
                                                           x.reshape(-1, 48).T)))
    if recipe == "fp32":  # the fp32 recipe's wgrad is the same float32 GEMM
        np.testing.assert_array_equal(bits(w32), bits(got[2]))
    else:
        assert not np.array_equal(w32, got[2])


def test_capture_uses_the_forward_input_even_if_the_caller_reuses_it(rng):
    x = rng.standard_normal((16, 32)).astype(np.float32)
    dy = rng.standard_normal((16, 8)).astype(np.float32)
    layer = nn.Linear(32, 8, recipe="mxfp4_all", seed=1)
    layer.capture_fp32_wgrad = True
    layer.forward(x)
    x_orig = x.copy()
    x[:] = 0  # the buffer is overwritten before backward
    layer.backward(dy)
    np.testing.assert_array_equal(bits(layer.fp32_wgrad), bits(gemm_f32(dy.T, x_orig.T)))


def test_capture_off_or_eval_stores_nothing(rng):
    x = rng.standard_normal((8, 32)).astype(np.float32)
    layer = nn.Linear(32, 8, recipe="mxfp4_all", seed=1)
    layer.forward(x)
    layer.backward(np.ones((8, 8), np.float32))
    assert layer.fp32_wgrad is None
    layer.capture_fp32_wgrad = True
    layer.eval()
    layer.forward(x)
    assert layer._capture_x is None
    layer.train()
    layer.forward(x)
    layer.capture_fp32_wgrad = False  # turned off between forward and backward
    layer.backward(np.ones((8, 8), np.float32))
    assert layer.fp32_wgrad is None


def test_captured_wgrad_does_not_depend_on_threads(rng, threads):
    x = rng.standard_normal((96, 64)).astype(np.float32)
    dy = rng.standard_normal((96, 48)).astype(np.float32)
    out = []
    for n in (1, 2):
        threads(n)
        layer = nn.Linear(64, 48, recipe="mxfp4_all", seed=0)
        layer.capture_fp32_wgrad = True
        layer.forward(x)
        layer.backward(dy)
        out.append(layer.fp32_wgrad)
    np.testing.assert_array_equal(bits(out[0]), bits(out[1]))


# -- r ------------------------------------------------------------------------------


def test_noise_ratio_matches_the_issue_formula(rng):
    dw = rng.standard_normal((12, 20))
    dq = dw + 0.3 * rng.standard_normal(dw.shape)
    d = dw.size
    expected = (np.linalg.norm(dw) / math.sqrt(d)) / math.sqrt(np.mean((dq - dw) ** 2))
    assert noise_ratio(dq, dw) == pytest.approx(expected, rel=1e-12)
    assert 2.5 < noise_ratio(dq, dw) < 4.5  # ~1/0.3
    assert noise_ratio(dw, dw) == math.inf
    assert noise_ratio(np.zeros(3), np.zeros(3)) == math.inf
    assert noise_ratio(np.ones(3), np.zeros(3)) == 0.0
    bad = dq.copy()
    bad[0, 0] = np.inf
    assert math.isnan(noise_ratio(bad, dw))
    with pytest.raises(ValueError, match="'dw_quant'"):
        noise_ratio(dq[:, :3], dw)


def test_monitored_layers_are_those_with_a_low_precision_wgrad():
    def lin(recipe):
        return nn.Linear(64, 64, recipe=recipe)
    assert monitored(lin("mxfp4_all")) and monitored(lin("fp8")) and monitored(lin("mxfp8"))
    assert monitored(lin("mxfp4_bwd_rht_sr"))
    assert not monitored(lin("fp32")) and not monitored(lin("bf16"))
    assert not monitored(lin("mxfp4_fprop_dgrad"))  # fprop/dgrad fp4, wgrad bf16


def fp32_twin_gradients(recipe, ids, targets, seed):
    """Per-Linear weight gradients of the model with ``recipe`` and of a twin
    whose wgrad alone is fp32 (identical forward and dgrad)."""
    twin = recipe.replace(wgrad=recipes.get("fp32").wgrad).with_name("twin")
    out = []
    for r in (recipe, twin):
        model = LlamaModel(CFG, r, seed=seed)
        ce = nn.CrossEntropyLoss()
        model.zero_grad()
        ce.forward(model.forward(ids), targets)
        model.backward(ce.backward())
        out.append({n[:-len(".weight")]: p.grad.copy() for n, p in model.named_parameters()
                    if n.startswith("blocks.") and "norm" not in n})
    return out


def test_measure_matches_numpy_r_from_an_fp32_twin_model(rng):
    """A recipe whose fprop and dgrad are fp32 and wgrad mxfp4: the twin with an
    fp32 wgrad has bit-identical activations, so its weight gradients are the
    exact dW_fp32 and r can be computed independently."""
    recipe = recipes.Recipe(wgrad=recipes.get("mxfp4_all").wgrad, name="w4")
    ids = rng.integers(0, 64, (4, 32))
    targets = rng.integers(0, 64, (4, 32))
    quant, exact = fp32_twin_gradients(recipe, ids, targets, seed=7)

    model = LlamaModel(CFG, recipe, seed=7)
    ce = nn.CrossEntropyLoss()
    mon = GradientNoiseMonitor(every=1)
    assert mon.due(0)
    armed = mon.arm(model)
    assert armed == [n for n, _ in model.quantized_linears()] and len(armed) == 21
    model.zero_grad()
    ce.forward(model.forward(ids), targets)
    model.backward(ce.backward())
    rec = mon.measure(0, model)
    assert set(rec) == {"step", "r", "median_r", "flagged", "below_count", "switch"}
    assert rec["step"] == 0 and rec["switch"] is False
    for name in armed:
        dq, dw = quant[name].astype(np.float64), exact[name].astype(np.float64)
        expected = np.sqrt(np.mean(dw ** 2)) / np.sqrt(np.mean((dq - dw) ** 2))
        assert rec["r"][name] == pytest.approx(expected, rel=1e-9), name
    values = np.array([rec["r"][n] for n in armed])
    assert rec["median_r"] == pytest.approx(float(np.median(values)), rel=1e-12)
    assert rec["flagged"] == [n for n in armed if rec["r"][n] < SQRT3]
    assert rec["below_count"] == int(rec["median_r"] < SQRT3)
    assert np.all(values > 0) and np.all(np.isfinite(values))
    # disarmed afterwards: capture off, nothing held
    assert mon.armed == []
    assert all(not lin.capture_fp32_wgrad and lin.fp32_wgrad is None
               for _, lin in model.quantized_linears())
    json.dumps(rec)


def test_arm_skips_bf16_edges_and_fp32_layers_and_measure_needs_arm(rng):
    model = LlamaModel(CFG, PrecisionPolicy("mxfp4_all", first_k=1, last_k=1), seed=0)
    mon = GradientNoiseMonitor(every=2)
    with pytest.raises(RuntimeError, match="arm"):
        mon.measure(0, model)
    assert mon.arm(model) == [n for n, _ in model.quantized_linears() if n.startswith("blocks.1")]
    assert not model.head.capture_fp32_wgrad
    with pytest.raises(RuntimeError, match="no fp32 gradient"):
        mon.measure(0, model)  # no backward ran
    assert mon.armed == []  # disarmed even on error
    other = LlamaModel(CFG, "mxfp4_all", seed=0)
    mon.arm(other)
    with pytest.raises(ValueError, match="'model'"):
        mon.measure(0, model)
    # nothing to monitor: an empty record, the count is left alone
    mon = GradientNoiseMonitor(every=1, auto_switch=True, patience=1)
    mon.below_count = 1
    bf = LlamaModel(CFG, "mxfp4_fprop_dgrad", seed=0)
    assert mon.arm(bf) == []
    rec = mon.measure(3, bf)
    assert rec["r"] == {} and rec["median_r"] is None and rec["flagged"] == []
    assert rec["below_count"] == 1


# -- scheduling and the switch logic -------------------------------------------------


def test_due():
    assert [s for s in range(12) if GradientNoiseMonitor(5).due(s)] == [0, 5, 10]
    assert not any(GradientNoiseMonitor(0).due(s) for s in range(5))
    with pytest.raises(ValueError, match="'step'"):
        GradientNoiseMonitor(5).due(-5)


def feed(mon, medians):
    """Records for checks whose three layers have the given median r."""
    out = []
    for i, m in enumerate(medians):
        out.append(mon.record(10 * i, {"a": m / 2, "b": m, "c": m * 2}))
    return out


def test_switch_after_patience_consecutive_low_medians():
    mon = GradientNoiseMonitor(10, patience=3, auto_switch=True)
    recs = feed(mon, [1.0, 1.2, 5.0, 1.0, 1.0, 0.5, 0.1, 0.2])
    assert [r["below_count"] for r in recs] == [1, 2, 0, 1, 2, 3, 4, 5]
    assert [r["switch"] for r in recs] == [False] * 5 + [True, False, False]
    assert mon.switched_at == 51  # the step after the check at step 50
    assert recs[0]["median_r"] == 1.0 and recs[0]["flagged"] == ["a", "b"]
    assert recs[2]["flagged"] == []  # 2.5, 5, 10 are all >= sqrt(3)


def test_no_switch_without_auto_switch_and_threshold_is_strict():
    mon = GradientNoiseMonitor(10, patience=2)
    recs = feed(mon, [0.1] * 5)
    assert not any(r["switch"] for r in recs) and mon.switched_at is None
    assert recs[-1]["below_count"] == 5
    mon = GradientNoiseMonitor(1, threshold=2.0, patience=1, auto_switch=True)
    assert mon.record(0, {"x": 2.0})["switch"] is False  # r == threshold is not below
    assert mon.record(1, {"x": math.nan})["switch"] is True  # NaN counts as noise
    assert mon.record(1, {"x": math.nan})["flagged"] == ["x"]
    assert mon.record(2, {"x": math.inf, "y": math.inf})["below_count"] == 0


def test_state_roundtrip_and_validation():
    mon = GradientNoiseMonitor(10, patience=2, auto_switch=True)
    feed(mon, [1.0, 1.0, 1.0])
    state = json.loads(json.dumps(mon.state_dict()))
    assert state == {"below_count": 3, "checks": 3, "switched_at": 11}
    fresh = GradientNoiseMonitor(10, patience=2, auto_switch=True)
    fresh.load_state_dict(state)
    assert (fresh.below_count, fresh.checks, fresh.switched_at) == (3, 3, 11)
    assert feed(fresh, [1.0]) == feed(mon, [1.0])  # same decisions after resume
    empty = GradientNoiseMonitor(10).state_dict()
    assert empty["switched_at"] == -1
    fresh.load_state_dict({k: np.int64(v) for k, v in empty.items()})
    assert fresh.switched_at is None and fresh.below_count == 0
    before = fresh.state_dict()
    for bad, err in [({"below_count": 1}, ValueError),
                     ({**empty, "extra": 1}, ValueError),
                     ({**empty, "checks": -1}, ValueError),
                     ({**empty, "switched_at": 1.5}, TypeError),
                     ([], TypeError)]:
        with pytest.raises(err, match="'state"):
            fresh.load_state_dict(bad)
        assert fresh.state_dict() == before


def test_constructor_validation():
    with pytest.raises(ValueError, match="'every'"):
        GradientNoiseMonitor(-1)
    with pytest.raises(TypeError, match="'every'"):
        GradientNoiseMonitor(2.0)
    with pytest.raises(ValueError, match="'threshold'"):
        GradientNoiseMonitor(1, threshold=0)
    with pytest.raises(ValueError, match="'threshold'"):
        GradientNoiseMonitor(1, threshold=math.inf)
    with pytest.raises(ValueError, match="'patience'"):
        GradientNoiseMonitor(1, patience=0)
    with pytest.raises(TypeError, match="'auto_switch'"):
        GradientNoiseMonitor(1, auto_switch="yes")
    with pytest.raises(TypeError, match="'ratios'"):
        GradientNoiseMonitor(1).record(0, [1.0])
    assert GradientNoiseMonitor(4).threshold == SQRT3


# -- end to end: monitor -> switch -> policy ---------------------------------------------


def test_auto_switch_drives_the_policy_and_stops_monitoring(rng):
    """The trainer's loop in miniature: a huge threshold makes every check low."""
    model = LlamaModel(CFG, PrecisionPolicy("mxfp4_all", last_k=1), seed=3)
    mon = GradientNoiseMonitor(every=2, threshold=1e9, patience=2, auto_switch=True)
    ce = nn.CrossEntropyLoss()
    ids = rng.integers(0, 64, (2, 32))
    log = []
    for step in range(8):
        model.apply_policy(step)
        due = mon.due(step)
        if due:
            mon.arm(model)
        model.zero_grad()
        ce.forward(model.forward(ids), ids)
        model.backward(ce.backward())
        if due:
            rec = mon.measure(step, model)
            log.append((step, len(rec["r"]), rec["switch"]))
            if rec["switch"]:
                model.policy = model.policy.replace(switch_step=step + 1,
                                                    switch_part="backward")
    assert log == [(0, 14, False), (2, 14, True), (4, 0, False), (6, 0, False)]
    assert mon.switched_at == 3 and model.policy.switch_step == 3
    assert [b.recipe.name for b in model.blocks] == ["mxfp4_all+bwd:bf16"] * 2 + ["bf16"]
