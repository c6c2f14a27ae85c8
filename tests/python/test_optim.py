"""fp4train.optim: AdamW against a float64 reference and a hand formula, state round trip,
gradient clipping, the warmup-cosine schedule, and errors."""
import math
import time

import numpy as np
import pytest

import fp4train as ft
from fp4train import optim
from fp4train.nn.module import Parameter
from fp4train.optim import AdamW, WarmupCosine, clip_grad_norm

REF_RTOL = 2e-5   # float32 optimizer vs float64 reference, a few steps
REF_ATOL = 2e-6

SHAPES = {"w1": (24, 16), "b1": (24,), "big": (300, 256), "gain": (16,), "w2": (5, 7, 3)}


def make_params(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [(name, Parameter(rng.standard_normal(shape))) for name, shape in shapes.items()]


def fill_grads(named, rng, scale=1.0):
    for _, p in named:
        p.grad[...] = rng.standard_normal(p.shape) * scale


def reference_adamw(p0, grads, lrs, betas, eps, wd, decay):
    """Step-by-step float64 AdamW (torch.optim.AdamW's formulation)."""
    p = p0.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    b1, b2 = betas
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        g = g.astype(np.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if decay:
            p = p * (1 - lr * wd)
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
    return p


# -- AdamW ----------------------------------------------------------------------
def test_adamw_matches_float64_reference():
    named = make_params(1)
    start = {n: p.data.copy() for n, p in named}
    opt = AdamW(named, lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    assert opt.decayed_names() == ["w1", "big", "w2"]
    rng = np.random.default_rng(2)
    grads = {n: [] for n, _ in named}
    lrs = [1e-2, 5e-3, 2e-2, 1e-2, 1e-3, 7e-3]
    for lr in lrs:
        fill_grads(named, rng, scale=rng.uniform(0.01, 3.0))
        for n, p in named:
            grads[n].append(p.grad.copy())
        opt.step(lr=lr)
    assert opt.t == len(lrs)
    for (n, p), decay in zip(named, opt.decay):
        ref = reference_adamw(start[n], grads[n], lrs, (0.9, 0.95), 1e-8, 0.1, decay)
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, ref, rtol=REF_RTOL, atol=REF_ATOL, err_msg=n)
        # and it moved: the test would notice a no-op optimizer
        assert np.abs(p.data - start[n]).max() > 1e-3


def test_adamw_first_step_hand_formula():
    """Step 1: m_hat = g, v_hat = g^2, so p1 = p0 (1 - lr wd) - lr g / (|g| + eps)."""
    p = Parameter(np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]))
    p.grad[...] = [[0.5, -4.0, 1e-3], [-2.0, 0.0, 7.0]]
    lr, wd, eps = 0.1, 0.5, 1e-8
    AdamW([("w", p)], lr=lr, weight_decay=wd, eps=eps).step()
    p0 = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    g = np.array([[0.5, -4.0, 1e-3], [-2.0, 0.0, 7.0]])
    expect = p0 * (1 - lr * wd) - lr * g / (np.abs(g) + eps)
    np.testing.assert_allclose(p.data, expect, rtol=1e-6, atol=1e-7)
    assert p.data[1, 1] == 0.0  # zero gradient, zero weight: stays exactly zero


def test_adamw_decay_exclusion_exact():
    """With zero gradients the only change is the decay, applied to matrices only."""
    named = make_params(3)
    before = {n: p.data.copy() for n, p in named}
    opt = AdamW(named, lr=0.05, weight_decay=0.2)
    opt.step()
    for n, p in named:
        if p.data.ndim >= 2:
            np.testing.assert_array_equal(p.data, before[n] * np.float32(1 - 0.05 * 0.2))
        else:
            np.testing.assert_array_equal(p.data, before[n])
    # a custom rule: decay nothing whose name starts with "w"
    named = make_params(3)
    opt = AdamW(named, lr=0.05, weight_decay=0.2, no_decay=lambda name, p: name.startswith("w"))
    assert opt.decayed_names() == ["b1", "big", "gain"]
    opt.step()
    for n, p in named:
        same = np.array_equal(p.data, before[n])
        assert same == n.startswith("w"), n


def test_adamw_zero_weight_decay_and_zero_lr():
    named = make_params(4)
    before = {n: p.data.copy() for n, p in named}
    fill_grads(named, np.random.default_rng(0))
    opt = AdamW(named, lr=0.0, weight_decay=0.3)
    opt.step()
    for n, p in named:
        np.testing.assert_array_equal(p.data, before[n])
    assert opt.t == 1 and np.any(opt.m[0] != 0)


def test_adamw_chunked_path_equals_whole_array_path(monkeypatch):
    """The cache-blocked update is the same elementwise arithmetic: same bits."""
    rng = np.random.default_rng(5)
    a, b = make_params(6), make_params(6)
    opt_a = AdamW(a, lr=3e-3)
    monkeypatch.setattr(optim, "_CHUNK", 1 << 40)
    opt_b = AdamW(b, lr=3e-3)
    for _ in range(3):
        fill_grads(a, rng)
        for (_, pa), (_, pb) in zip(a, b):
            pb.grad[...] = pa.grad
        monkeypatch.setattr(optim, "_CHUNK", 1000)  # "big" and "w1" are chunked
        opt_a.step()
        monkeypatch.setattr(optim, "_CHUNK", 1 << 40)
        opt_b.step()
    for (n, pa), (_, pb) in zip(a, b):
        np.testing.assert_array_equal(pa.data.view(np.uint32), pb.data.view(np.uint32), n)


def test_adamw_noncontiguous_data_updated_in_place():
    big = np.zeros((8, 10), np.float32)
    p = Parameter(np.zeros((8, 5)))
    p.data = big[:, ::2]
    p.grad[...] = 1.0
    AdamW([("w", p)], lr=0.1, weight_decay=0.0).step()
    np.testing.assert_allclose(big[:, ::2], -0.1, rtol=1e-6)
    assert np.all(big[:, 1::2] == 0)


def test_adamw_lr_override_equals_constructor_lr():
    a, b = make_params(7), make_params(7)
    rng = np.random.default_rng(1)
    fill_grads(a, rng)
    for (_, pa), (_, pb) in zip(a, b):
        pb.grad[...] = pa.grad
    AdamW(a, lr=1.0).step(lr=0.01)
    opt_b = AdamW(b, lr=0.01)
    opt_b.step()
    for (_, pa), (_, pb) in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert opt_b.lr == 0.01


@pytest.mark.parametrize("via_npz", [False, True])
def test_adamw_state_round_trip_bit_identical(tmp_path, via_npz):
    rng = np.random.default_rng(9)
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES.values()]
             for _ in range(8)]

    def run(named, opt, steps):
        for gs in steps:
            for (_, p), g in zip(named, gs):
                p.grad[...] = g
            opt.step(lr=2e-3)

    a = make_params(11)
    opt_a = AdamW(a, lr=1e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.05)
    run(a, opt_a, grads[:4])
    sd = opt_a.state_dict()
    saved_params = {n: p.data.copy() for n, p in a}
    assert sd["t"] == 4 and set(sd) >= {"m.w1", "v.big", "lr", "beta1", "beta2", "eps",
                                         "weight_decay"}
    if via_npz:
        np.savez(tmp_path / "opt.npz", **sd)
        with np.load(tmp_path / "opt.npz") as z:
            sd = {k: z[k] for k in z.files}
    run(a, opt_a, grads[4:])

    b = make_params(99)  # other weights, overwritten from the "checkpoint"
    for n, p in b:
        p.data[...] = saved_params[n]
    opt_b = AdamW(b)  # default hyperparameters: restored from the state
    opt_b.load_state_dict(sd)
    assert opt_b.t == 4 and opt_b.betas == (0.8, 0.99) and opt_b.eps == 1e-7
    assert opt_b.weight_decay == 0.05 and opt_b.lr == 1e-3
    run(b, opt_b, grads[4:])
    for (n, pa), (_, pb) in zip(a, b):
        np.testing.assert_array_equal(pa.data.view(np.uint32), pb.data.view(np.uint32), n)
    # the state dict holds copies
    sd2 = opt_b.state_dict()
    sd2["m.w1"][...] = 123.0
    assert not np.any(opt_b.m[0] == 123.0)


def test_adamw_load_state_dict_is_all_or_nothing():
    named = make_params(12)
    opt = AdamW(named)
    fill_grads(named, np.random.default_rng(0))
    opt.step()
    good = opt.state_dict()
    before = opt.state_dict()

    def bad(**changes):
        sd = dict(good)
        for k, v in changes.items():
            if v is None:
                del sd[k]
            else:
                sd[k] = v
        return sd

    cases = [
        (bad(**{"m.big": None}), "missing keys.*m.big"),
        (dict(good, **{"m.extra": np.zeros(3)}), "unexpected keys.*m.extra"),
        (bad(**{"v.w2": np.zeros((5, 7))}), "'v.w2' has shape"),
        (bad(t=-1), "'t'"),
        (bad(t=1.5), "'t'"),
        (bad(beta1=1.0), "beta1"),
        (bad(eps=0.0), "eps"),
        (bad(**{"v.b1": -np.ones(24)}), "'v.b1' must be >= 0"),
        (bad(**{"m.gain": np.array(["x"] * 16)}), "'m.gain' has dtype"),
    ]
    for sd, msg in cases:
        with pytest.raises(ValueError, match=msg):
            opt.load_state_dict(sd)
        after = opt.state_dict()
        assert after.keys() == before.keys()
        for k in before:
            np.testing.assert_array_equal(after[k], before[k], k)
    with pytest.raises(TypeError, match="argument 'sd'"):
        opt.load_state_dict([1, 2])


def test_adamw_step_checks_shapes_before_changing_anything():
    named = make_params(13)
    opt = AdamW(named)
    before = [p.data.copy() for _, p in named]
    named[-1][1].grad = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="parameter 'w2'"):
        opt.step()
    assert opt.t == 0
    for (_, p), b in zip(named, before):
        np.testing.assert_array_equal(p.data, b)


def test_adamw_with_library_modules_and_zero_grad():
    layer = ft.nn.Linear(16, 8, bias=True, recipe="fp32", seed=0)
    opt = AdamW(layer.named_parameters(), lr=1e-2)
    assert opt.names == ["weight", "bias"] and opt.decayed_names() == ["weight"]
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    w0 = layer.weight.data.copy()
    layer.forward(x)
    layer.backward(np.ones((4, 8), np.float32))
    opt.step()
    assert layer.weight.data is not None and not np.array_equal(layer.weight.data, w0)
    opt.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
    opt2 = AdamW({"a": layer.weight})  # a dict works too
    assert opt2.names == ["a"]


def test_adamw_argument_errors():
    named = make_params(0)
    for kw, exc, msg in [
        (dict(lr=-1.0), ValueError, "argument 'lr'"),
        (dict(lr=float("nan")), ValueError, "argument 'lr'"),
        (dict(lr="1"), TypeError, "argument 'lr'"),
        (dict(betas=(0.9,)), TypeError, "argument 'betas'"),
        (dict(betas=(0.9, 1.0)), ValueError, "argument 'betas'"),
        (dict(betas=(-0.1, 0.9)), ValueError, "argument 'betas'"),
        (dict(eps=0.0), ValueError, "argument 'eps'"),
        (dict(weight_decay=-0.1), ValueError, "argument 'weight_decay'"),
        (dict(no_decay=3), TypeError, "argument 'no_decay'"),
    ]:
        with pytest.raises(exc, match=msg):
            AdamW(named, **kw)
    with pytest.raises(ValueError, match="argument 'named_params'.*none"):
        AdamW([])
    with pytest.raises(TypeError, match="argument 'named_params'"):
        AdamW(5)
    with pytest.raises(TypeError, match="argument 'named_params'"):
        AdamW([p for _, p in named])  # Parameters without names
    with pytest.raises(ValueError, match="duplicate name 'w1'"):
        AdamW([named[0], ("w1", named[1][1])])
    with pytest.raises(ValueError, match="repeats a parameter"):
        AdamW([named[0], ("other", named[0][1])])
    with pytest.raises(TypeError, match="'x' is not a Parameter"):
        AdamW([("x", np.zeros(3))])
    opt = AdamW(named)
    with pytest.raises(ValueError, match="argument 'lr'"):
        opt.step(lr=-0.5)
    assert opt.t == 0


def test_adamw_step_is_fast():
    """~1M parameters (the default model's size) step in a few milliseconds."""
    shapes = {f"m{i}": (384, 128) for i in range(16)}
    shapes.update({f"s{i}": (128, 128) for i in range(16)})
    shapes.update({f"v{i}": (128,) for i in range(9)})
    named = make_params(0, shapes)
    opt = AdamW(named)
    opt.step()
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    assert best < 0.1, f"AdamW step on ~1M params took {best * 1e3:.1f} ms"


# -- clip_grad_norm -------------------------------------------------------------
def grad_norm64(named):
    return math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for _, p in named))


def test_clip_grad_norm_scales_when_above():
    named = make_params(20)
    fill_grads(named, np.random.default_rng(3), scale=2.0)
    ref = grad_norm64(named)
    before = [p.grad.copy() for _, p in named]
    norm = clip_grad_norm([p for _, p in named], 1.0)
    assert isinstance(norm, float)
    assert norm == pytest.approx(ref, rel=1e-12)
    scale = np.float32(1.0 / (ref + 1e-6))
    for (_, p), g in zip(named, before):
        np.testing.assert_array_equal(p.grad, g * scale)
    assert grad_norm64(named) == pytest.approx(1.0, rel=1e-5)
    assert clip_grad_norm(named, None) == pytest.approx(1.0, rel=1e-5)  # pairs accepted


@pytest.mark.parametrize("max_norm", [None, 0, 0.0, "above"])
def test_clip_grad_norm_leaves_grads_alone(max_norm):
    named = make_params(21)
    fill_grads(named, np.random.default_rng(4))
    ref = grad_norm64(named)
    before = [p.grad.copy() for _, p in named]
    if max_norm == "above":
        max_norm = ref * 1.01
    assert clip_grad_norm([p for _, p in named], max_norm) == pytest.approx(ref, rel=1e-12)
    for (_, p), g in zip(named, before):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_grad_norm_nonfinite_is_reported_not_applied(bad):
    named = make_params(22)
    fill_grads(named, np.random.default_rng(5))
    named[2][1].grad[3, 4] = bad
    before = [p.grad.copy() for _, p in named]
    norm = clip_grad_norm([p for _, p in named], 1.0)
    assert not math.isfinite(norm)
    assert math.isnan(norm) if np.isnan(bad) else math.isinf(norm)
    for (_, p), g in zip(named, before):
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_float64_accumulation_and_determinism():
    """Many tiny squares: a float32 accumulator would lose them, float64 does not."""
    p = Parameter(np.zeros(300_001))
    p.grad[...] = 1e-3
    p.grad[0] = 1e3
    expect = math.sqrt(1e6 + 300_000 * float(np.float32(1e-3)) ** 2)
    n1 = clip_grad_norm([p], None)
    assert n1 == pytest.approx(expect, rel=1e-13)
    assert clip_grad_norm([p], None) == n1
    assert clip_grad_norm([], 1.0) == 0.0


def test_clip_grad_norm_errors():
    named = make_params(23)
    with pytest.raises(ValueError, match="argument 'max_norm'"):
        clip_grad_norm([p for _, p in named], -1.0)
    with pytest.raises(TypeError, match="argument 'max_norm'"):
        clip_grad_norm([p for _, p in named], "1")
    with pytest.raises(TypeError, match="argument 'params'"):
        clip_grad_norm([np.zeros(3)], 1.0)


# -- WarmupCosine ---------------------------------------------------------------
def test_warmup_cosine_values():
    s = WarmupCosine(1.0, warmup_steps=10, total_steps=110, min_ratio=0.1)
    np.testing.assert_allclose([s(i) for i in range(10)], np.arange(1, 11) / 10, rtol=1e-15)
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.55)  # halfway: (1 + 0.1) / 2
    assert s(110) == pytest.approx(0.1) and s(10**6) == pytest.approx(0.1)
    for i in range(10, 110):
        q = (i - 10) / 100
        assert s(i) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * q)), rel=1e-14)
    lrs = [s(i) for i in range(200)]
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert s(109) > 0.1


def test_warmup_cosine_edges():
    s = WarmupCosine(3e-3, warmup_steps=0, total_steps=50, min_ratio=0.0)
    assert s(0) == pytest.approx(3e-3) and s(50) == 0.0 and s(25) == pytest.approx(1.5e-3)
    s = WarmupCosine(2.0, warmup_steps=5, total_steps=5)
    assert [s(i) for i in range(5)] == pytest.approx([0.4, 0.8, 1.2, 1.6, 2.0])
    assert s(5) == pytest.approx(0.2)
    assert WarmupCosine(1.0, 0, 1, min_ratio=1.0)(0) == 1.0


def test_warmup_cosine_errors():
    for args, kw, exc, msg in [
        ((-1.0, 0, 10), {}, ValueError, "argument 'lr'"),
        ((1.0, -1, 10), {}, ValueError, "argument 'warmup_steps'"),
        ((1.0, 2.5, 10), {}, TypeError, "argument 'warmup_steps'"),
        ((1.0, 0, 0), {}, ValueError, "argument 'total_steps'"),
        ((1.0, 11, 10), {}, ValueError, "argument 'warmup_steps'.*total_steps"),
        ((1.0, 0, 10), {"min_ratio": 1.5}, ValueError, "argument 'min_ratio'"),
    ]:
        with pytest.raises(exc, match=msg):
            WarmupCosine(*args, **kw)
    s = WarmupCosine(1.0, 1, 10)
    with pytest.raises(ValueError, match="argument 'step'"):
        s(-1)
    with pytest.raises(TypeError, match="argument 'step'"):
        s(1.0)
