"""The linear layer's phase timers and workspace reuse (issue 6).

Phase timers (_core.set_linear_profiling / linear_profile / reset_linear_profile):
off by default, count calls per GEMM role, add up to no more than the wall
time of the calls, and never change a bit of the results.

Workspaces (LinearContext.workspace_allocations): after two warm-up steps,
steps of the same shapes allocate nothing; and a layer that reuses its
buffers across steps of changing shapes gives exactly the bits of a fresh
layer at the same step (stale bytes in a reused buffer would show here).
"""
import time

import numpy as np
import pytest

import fp4train as ft
from fp4train import _core

PRESETS = ft.recipes.names()
ROLES = ("fprop", "dgrad", "wgrad")
PHASES = ("quantize", "gemm", "other")
IN, OUT = 64, 128  # multiples of 64: mxfp4_bwd_rht_sr runs Hadamard-64 along both
R = ft.recipes.get


@pytest.fixture
def profiling():
    """Profiling on with zeroed counters; off and zeroed again afterwards."""
    _core.reset_linear_profile()
    _core.set_linear_profiling(True)
    yield
    _core.set_linear_profiling(False)
    _core.reset_linear_profile()


def arrays(rng, tokens, fin=IN, fout=OUT):
    x = rng.standard_normal((tokens, fin)).astype(np.float32)
    x[:, ::7] *= 30.0  # outlier channels: scales differ from block to block
    dy = (rng.standard_normal((tokens, fout)) * 1e-2).astype(np.float32)
    return x, dy


def weights(seed=3, fin=IN, fout=OUT):
    r = np.random.default_rng(seed)
    return (r.standard_normal((fout, fin)) * 0.1).astype(np.float32), \
        r.standard_normal(fout).astype(np.float32)


def step(ctx, x, dy, w, b):
    """One forward + backward through _core; returns (y, dx, dW, db) of this step."""
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    y = _core.linear_forward(ctx, x, w, b)
    dx = _core.linear_backward(ctx, dy, w, dw, db)
    return y, dx, dw, db


def assert_same_bits(got, want, what):
    for g, e, name in zip(got, want, ("y", "dx", "dW", "db")):
        assert g.shape == e.shape, f"{what} {name}: shape {g.shape} vs {e.shape}"
        bad = np.flatnonzero(g.view(np.uint32).ravel() != e.view(np.uint32).ravel())
        assert bad.size == 0, f"{what} {name}: {bad.size} of {g.size} values differ"


# -- phase timers --------------------------------------------------------------

def test_profile_dict_has_every_role_and_phase():
    p = _core.linear_profile()
    assert set(p) == set(ROLES)
    for role in ROLES:
        assert set(p[role]) == set(PHASES) | {"calls"}
        assert all(isinstance(p[role][k], float) for k in PHASES)
        assert isinstance(p[role]["calls"], int)


def test_profiling_is_off_by_default_and_then_records_nothing(rng):
    assert _core.linear_profiling_enabled() is False
    _core.reset_linear_profile()
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R("mxfp4_all"), 0)
    x, dy = arrays(rng, 32)
    step(ctx, x, dy, w, b)
    p = _core.linear_profile()
    for role in ROLES:
        assert p[role]["calls"] == 0
        assert all(p[role][k] == 0.0 for k in PHASES)


@pytest.mark.parametrize("name", ["mxfp4_all", "nvfp4_2d_rht16", "bf16"])
def test_totals_are_positive_and_within_wall_time(name, rng, profiling):
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R(name), 5)
    x, dy = arrays(rng, 128)
    n_steps, wall = 4, 0.0
    for _ in range(n_steps):
        t0 = time.perf_counter()
        step(ctx, x, dy, w, b)
        wall += time.perf_counter() - t0
    p = _core.linear_profile()
    assert p["fprop"]["calls"] == n_steps
    assert p["dgrad"]["calls"] == n_steps and p["wgrad"]["calls"] == n_steps
    for role in ROLES:
        assert p[role]["quantize"] > 0.0, (role, p[role])
        assert p[role]["gemm"] > 0.0, (role, p[role])
        assert p[role]["other"] >= 0.0
    # Bias add (fprop), saving X, dW accumulation and db (wgrad) are timed.
    assert p["fprop"]["other"] > 0.0 and p["wgrad"]["other"] > 0.0
    total = sum(p[r][k] for r in ROLES for k in PHASES)
    assert 0.0 < total <= wall, (total, wall)


def test_disabling_stops_accumulation_and_reset_zeroes(rng, profiling):
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R("mxfp4_all"), 1)
    x, dy = arrays(rng, 32)
    step(ctx, x, dy, w, b)
    before = _core.linear_profile()
    assert before["fprop"]["calls"] == 1
    _core.set_linear_profiling(False)
    assert _core.linear_profiling_enabled() is False
    step(ctx, x, dy, w, b)
    assert _core.linear_profile() == before
    _core.reset_linear_profile()
    after = _core.linear_profile()
    for role in ROLES:
        assert after[role]["calls"] == 0 and all(after[role][k] == 0.0 for k in PHASES)
    _core.set_linear_profiling(True)
    _core.linear_forward(ctx, x, w, b, False)  # an evaluation forward counts as fprop
    p = _core.linear_profile()
    assert p["fprop"]["calls"] == 1 and p["dgrad"]["calls"] == 0
    assert p["fprop"]["gemm"] > 0.0 and p["dgrad"]["gemm"] == 0.0


def test_a_failed_call_is_not_counted_as_a_gemm(rng, profiling):
    ctx = _core.LinearContext(IN, OUT, R("mxfp4_all"), 1)
    w, b = weights()
    with pytest.raises(ValueError, match="'dy'"):
        _core.linear_backward(ctx, np.zeros((4, OUT), np.float32), w, np.zeros_like(w), None)
    p = _core.linear_profile()
    assert all(p[r]["gemm"] == 0.0 for r in ROLES)


@pytest.mark.parametrize("name", ["mxfp4_bwd_rht_sr", "nvfp4_2d_rht16", "fp8"])
def test_profiling_does_not_change_bits(name, rng):
    w, b = weights()
    x, dy = arrays(rng, 128)
    results = []
    for on in (False, True):
        _core.set_linear_profiling(on)
        ctx = _core.LinearContext(IN, OUT, R(name), 9)
        results.append([step(ctx, x, dy, w, b) for _ in range(2)])
    _core.set_linear_profiling(False)
    _core.reset_linear_profile()
    for s in range(2):
        assert_same_bits(results[1][s], results[0][s], f"{name} step {s}")


# -- workspace reuse -----------------------------------------------------------

@pytest.mark.parametrize("lean", [False, True], ids=["save_x", "save_quantized_only"])
@pytest.mark.parametrize("name", PRESETS)
def test_steady_state_allocates_no_workspace(name, lean, rng):
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R(name), 2, save_quantized_only=lean)
    assert ctx.workspace_allocations == 0
    x, dy = arrays(rng, 128)
    for _ in range(2):  # warm-up
        step(ctx, x, dy, w, b)
    warm = ctx.workspace_allocations
    assert warm > 0  # the warm-up did allocate its buffers, and the counter saw it
    for _ in range(3):
        x, dy = arrays(rng, 128)  # new values, same shapes
        step(ctx, x, dy, w, b)
        _core.linear_forward(ctx, x, w, b, False)  # evaluation forwards in between
    assert ctx.workspace_allocations == warm


def test_workspaces_grow_only(rng):
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R("mxfp4_all"), 2)
    step(ctx, *arrays(rng, 128), w, b)
    step(ctx, *arrays(rng, 128), w, b)
    warm = ctx.workspace_allocations
    step(ctx, *arrays(rng, 64), w, b)  # smaller: fits in what is there
    assert ctx.workspace_allocations == warm
    step(ctx, *arrays(rng, 256), w, b)  # larger: must grow
    grown = ctx.workspace_allocations
    assert grown > warm
    step(ctx, *arrays(rng, 256), w, b)
    step(ctx, *arrays(rng, 128), w, b)
    assert ctx.workspace_allocations == grown


@pytest.mark.parametrize("lean", [False, True], ids=["save_x", "save_quantized_only"])
@pytest.mark.parametrize("name", PRESETS)
def test_reused_workspaces_give_a_fresh_layers_bits(name, lean, rng):
    """Steps of changing token counts on one context equal fresh contexts at that step."""
    ctx = _core.LinearContext(IN, OUT, R(name), 4, save_quantized_only=lean)
    for s, tokens in enumerate((128, 64, 192, 64)):
        w, b = weights(seed=s)  # the optimizer moved W: a cached W would show
        x, dy = arrays(rng, tokens)
        got = step(ctx, x, dy, w, b)
        fresh = _core.LinearContext(IN, OUT, R(name), 4, save_quantized_only=lean)
        fresh.next_step = s
        assert_same_bits(got, step(fresh, x, dy, w, b), f"{name} step {s} tokens {tokens}")


def test_changing_the_recipe_keeps_results_exact(rng):
    """Workspaces quantized under one recipe are rewritten, not misread, under another."""
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R("nvfp4_2d_rht16"), 6)
    x, dy = arrays(rng, 64)
    step(ctx, x, dy, w, b)
    for s, name in enumerate(("mxfp4_all", "fp8", "nvfp4_2d_rht16", "bf16"), start=1):
        ctx.set_recipe(R(name))
        got = step(ctx, x, dy, w, b)
        fresh = _core.LinearContext(IN, OUT, R(name), 6)
        fresh.next_step = s
        assert_same_bits(got, step(fresh, x, dy, w, b), f"{name} after a recipe change")


def test_saved_x_is_the_layers_own_copy(rng):
    """The fp32 saved X is the layer's own copy: changing the input afterwards is harmless."""
    w, b = weights()
    ctx = _core.LinearContext(IN, OUT, R("mxfp4_all"), 8)
    x, dy = arrays(rng, 64)
    want = step(_core.LinearContext(IN, OUT, R("mxfp4_all"), 8), x, dy, w, b)
    dw, db = np.zeros_like(w), np.zeros_like(b)
    y = _core.linear_forward(ctx, x, w, b)
    x[...] = 0.0  # the caller reuses its buffer before backward
    dx = _core.linear_backward(ctx, dy, w, dw, db)
    assert_same_bits((y, dx, dw, db), want, "input overwritten between forward and backward")
