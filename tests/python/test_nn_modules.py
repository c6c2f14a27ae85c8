"""fp4train.nn model layers: Embedding, RMSNorm, RoPE, CausalSelfAttention, SwiGLU,
TransformerBlock, CrossEntropyLoss.

Gradients are checked by central differences under the fp32 recipe (STYLE
rule 16); the quantized recipes are checked for determinism and for staying
close to fp32 (the bit-exact Linear itself is tested in test_linear.py).
"""
import numpy as np
import pytest

import fp4train as ft
import fp4train.nn as nn


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def central_differences(loss, arrays, eps):
    """Numerical gradient of the float64 ``loss()`` w.r.t. every entry of each array.

    The perturbation actually applied is the float32 difference of the two
    perturbed values, not ``2*eps``, so the float32 rounding of x +- eps does
    not enter the estimate.
    """
    out = []
    for arr in arrays:
        num = np.zeros(arr.shape, np.float64)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            up_v, down_v = np.float32(old + eps), np.float32(old - eps)
            arr[idx] = up_v
            up = loss()
            arr[idx] = down_v
            down = loss()
            arr[idx] = old
            num[idx] = (up - down) / (np.float64(up_v) - np.float64(down_v))
        out.append(num)
    return out


def assert_grad_close(num, ana, what, rtol=2e-3):
    """|num - ana| <= rtol * (|ana| + rms(ana)) at every coordinate.

    float32 forward passes put a noise of about 1e-7 * |L| / eps on each
    numerical derivative; the rms term lets coordinates whose true gradient
    is ~0 pass with that noise, the |ana| term makes the check relative.
    With eps = 1e-2 the measured worst ratio err / (|ana| + rms) of these
    small layers is ~1.5e-4 (truncation O(eps^2) plus float32 noise), so
    2e-3 leaves 10x headroom and still catches a 1% error in any term.
    """
    ana = np.asarray(ana, np.float64)
    scale = np.sqrt(np.mean(ana ** 2))
    assert scale > 0, f"{what}: analytic gradient is identically zero"
    err = np.abs(num - ana)
    bound = rtol * (np.abs(ana) + scale)
    worst = np.unravel_index(np.argmax(err / bound), err.shape)
    assert np.all(err <= bound), (f"{what}: at {worst} numeric {num[worst]:.6g} vs analytic "
                                  f"{ana[worst]:.6g} (rms {scale:.3g})")


def check_module(module, x, rng, eps=1e-2, rtol=2e-3, params=None):
    """Input and parameter gradients of ``module`` against central differences."""
    x = np.ascontiguousarray(x, np.float32)
    out = module.forward(x)
    r = rng.standard_normal(out.shape).astype(np.float32)

    def loss():
        return float(np.sum(module.forward(x).astype(np.float64) * r))

    module.zero_grad()
    module.forward(x)
    dx = module.backward(r)
    named = dict(module.named_parameters()) if params is None else params
    grads = {name: p.grad.copy() for name, p in named.items()}
    nums = central_differences(loss, [x] + [p.data for p in named.values()], eps)
    assert_grad_close(nums[0], dx, "dx", rtol)
    for (name, g), num in zip(grads.items(), nums[1:]):
        assert_grad_close(num, g, f"d{name}", rtol)


# -- Embedding -------------------------------------------------------------------


def test_embedding_forward_is_a_lookup_and_backward_adds_repeated_ids(rng):
    emb = nn.Embedding(7, 5, seed=3)
    ids = np.array([[1, 4, 1], [6, 1, 0]])
    y = emb.forward(ids)
    assert y.shape == (2, 3, 5) and y.dtype == np.float32
    np.testing.assert_array_equal(y, emb.weight.data[ids])
    g = rng.standard_normal((2, 3, 5)).astype(np.float32)
    assert emb.backward(g) is None
    expected = np.zeros((7, 5))
    for i, t in np.ndenumerate(ids):
        expected[t] += g[i]
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-6, atol=1e-7)
    assert not emb.weight.grad[[2, 3, 5]].any()
    emb.forward(ids)
    emb.backward(g)  # accumulates
    np.testing.assert_allclose(emb.weight.grad, 2 * expected, rtol=1e-6, atol=1e-7)


def test_embedding_central_differences(rng):
    emb = nn.Embedding(6, 4, seed=1)
    ids = np.array([[0, 3, 3, 5], [3, 2, 0, 0]])
    r = rng.standard_normal((2, 4, 4))
    emb.forward(ids)
    emb.backward(r)
    (num,) = central_differences(lambda: float(np.sum(emb.forward(ids) * r)),
                                 [emb.weight.data], 1e-2)
    assert_grad_close(num, emb.weight.grad, "dweight")


def test_embedding_bad_inputs():
    emb = nn.Embedding(5, 3)
    with pytest.raises(ValueError, match="'ids'"):
        emb.forward(np.array([0, 5]))
    with pytest.raises(ValueError, match="'ids'"):
        emb.forward(np.array([-1, 2]))
    with pytest.raises(TypeError, match="'ids'"):
        emb.forward(np.array([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="before"):
        emb.backward(np.zeros((2, 3), np.float32))
    emb.forward(np.array([0, 1]))
    with pytest.raises(ValueError, match="'grad'"):
        emb.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="'vocab'"):
        nn.Embedding(0, 3)


# -- RMSNorm ---------------------------------------------------------------------


def test_rmsnorm_matches_float64_formula(rng):
    norm = nn.RMSNorm(16, eps=1e-5)
    norm.weight.data[:] = rng.standard_normal(16)
    x = rng.standard_normal((3, 4, 16)).astype(np.float32) * 5
    y = norm.forward(x)
    x64 = x.astype(np.float64)
    ref = x64 / np.sqrt(np.mean(x64 ** 2, -1, keepdims=True) + 1e-5) * norm.weight.data
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_rmsnorm_central_differences(rng):
    norm = nn.RMSNorm(6)
    norm.weight.data[:] = 1 + 0.5 * rng.standard_normal(6)
    check_module(norm, rng.standard_normal((2, 3, 6)), rng)


def test_rmsnorm_bad_inputs():
    norm = nn.RMSNorm(8)
    with pytest.raises(ValueError, match="'x'"):
        norm.forward(np.zeros((2, 7), np.float32))
    with pytest.raises(TypeError, match="'x'"):
        norm.forward(np.array([["a"] * 8]))
    with pytest.raises(RuntimeError, match="before"):
        norm.backward(np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match="'eps'"):
        nn.RMSNorm(8, eps=0.0)


# -- RoPE ------------------------------------------------------------------------


def test_rope_rotates_pairs_by_position_angles(rng):
    rope = nn.RoPE(8, base=100.0)
    x = rng.standard_normal((2, 3, 5, 8)).astype(np.float32)
    y = rope.forward(x)
    pos = np.arange(5)[:, None]
    ang = pos * 100.0 ** (-np.arange(4) * 2 / 8)
    x64 = x.astype(np.float64)
    zx = x64[..., :4] + 1j * x64[..., 4:]  # pair (i, i + 4) as a complex number
    zy = zx * np.exp(1j * ang)
    np.testing.assert_allclose(y[..., :4], zy.real, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[..., 4:], zy.imag, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 0])  # position 0 is not rotated


def test_rope_backward_is_the_inverse_and_preserves_norms(rng):
    rope = nn.RoPE(16)
    x = rng.standard_normal((2, 2, 9, 16)).astype(np.float32)
    y = rope.forward(x)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1),
                               rtol=1e-5)
    np.testing.assert_allclose(rope.backward(y), x, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(rope.forward(rope.backward(g)), g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(rope.backward(g), axis=-1),
                               np.linalg.norm(g, axis=-1), rtol=1e-5)


def test_rope_central_differences(rng):
    check_module(nn.RoPE(4, base=10.0), rng.standard_normal((1, 2, 3, 4)), rng)


def test_rope_bad_inputs():
    with pytest.raises(ValueError, match="'head_dim'"):
        nn.RoPE(7)
    rope = nn.RoPE(8)
    with pytest.raises(ValueError, match="'x'"):
        rope.forward(np.zeros((2, 3, 8), np.float32))
    with pytest.raises(ValueError, match="'x'"):
        rope.forward(np.zeros((1, 2, 3, 6), np.float32))


# -- attention -------------------------------------------------------------------


def attention_float64(attn, x):
    """Independent float64 attention from the layer's weights (no RoPE class)."""
    b, s, dim = x.shape
    h, d = attn.n_heads, attn.head_dim
    x64 = x.astype(np.float64)

    def proj(lin):
        return (x64 @ lin.weight.data.T.astype(np.float64)).reshape(b, s, h, d).transpose(0, 2, 1, 3)

    ang = np.arange(s)[:, None] * 10000.0 ** (-np.arange(d // 2) * 2 / d)

    def rope(t):
        z = (t[..., :d // 2] + 1j * t[..., d // 2:]) * np.exp(1j * ang)
        return np.concatenate([z.real, z.imag], -1)

    q, k, v = rope(proj(attn.q)), rope(proj(attn.k)), proj(attn.v)
    sc = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    sc = np.where(np.tril(np.ones((s, s), bool)), sc, -np.inf)
    p = np.exp(sc - sc.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(b, s, dim)
    return y @ attn.o.weight.data.T.astype(np.float64)


def test_attention_matches_float64_reference(rng):
    attn = nn.CausalSelfAttention(16, 2, "fp32", seed=4)
    x = rng.standard_normal((2, 7, 16)).astype(np.float32)
    np.testing.assert_allclose(attn.forward(x), attention_float64(attn, x), rtol=1e-4,
                               atol=1e-5)


def test_attention_central_differences(rng):
    attn = nn.CausalSelfAttention(8, 2, "fp32", seed=2)
    check_module(attn, rng.standard_normal((2, 5, 8)), rng)


def test_attention_is_causal(rng):
    attn = nn.CausalSelfAttention(16, 4, "fp32", seed=0)
    x = rng.standard_normal((2, 10, 16)).astype(np.float32)
    y = attn.forward(x)
    for t in (0, 4, 8):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
        y2 = attn.forward(x2)
        np.testing.assert_array_equal(y2[:, :t + 1], y[:, :t + 1])
        assert not np.allclose(y2[:, t + 1:], y[:, t + 1:])
    # and the gradient of an output at t reaches no input after t
    attn.forward(x)
    g = np.zeros_like(y)
    g[:, 3] = 1.0
    dx = attn.backward(g)
    assert not dx[:, 4:].any() and dx[:, :4].any()


def test_attention_softmax_is_stable_for_large_scores(rng):
    attn = nn.CausalSelfAttention(8, 2, "fp32", seed=0)
    x = rng.standard_normal((1, 6, 8)).astype(np.float32) * 1e3
    y = attn.forward(x)
    assert np.isfinite(y).all()
    assert np.isfinite(attn.backward(np.ones_like(y))).all()


def test_attention_bad_inputs():
    with pytest.raises(ValueError, match="'n_heads'"):
        nn.CausalSelfAttention(10, 3)
    with pytest.raises(ValueError, match="'n_heads'"):
        nn.CausalSelfAttention(6, 2)  # odd head size
    attn = nn.CausalSelfAttention(8, 2)
    with pytest.raises(ValueError, match="'x'"):
        attn.forward(np.zeros((1, 4, 6), np.float32))
    with pytest.raises(ValueError, match="'x'"):
        attn.forward(np.zeros((4, 8), np.float32))
    with pytest.raises(RuntimeError, match="before"):
        attn.backward(np.zeros((1, 4, 8), np.float32))
    attn.forward(np.zeros((1, 4, 8), np.float32))
    with pytest.raises(ValueError, match="'grad'"):
        attn.backward(np.zeros((1, 5, 8), np.float32))


# -- SwiGLU ----------------------------------------------------------------------


def test_swiglu_matches_float64_formula(rng):
    mlp = nn.SwiGLU(8, 12, "fp32", seed=1)
    x = rng.standard_normal((3, 8)).astype(np.float32) * 3
    x64 = x.astype(np.float64)
    g = x64 @ mlp.gate.weight.data.T
    u = x64 @ mlp.up.weight.data.T
    ref = (g / (1 + np.exp(-g)) * u) @ mlp.down.weight.data.T
    np.testing.assert_allclose(mlp.forward(x), ref, rtol=1e-4, atol=1e-5)


def test_swiglu_central_differences(rng):
    check_module(nn.SwiGLU(6, 10, "fp32", seed=5), rng.standard_normal((2, 3, 6)) * 2, rng)


# -- block -----------------------------------------------------------------------


def test_block_central_differences(rng):
    block = nn.TransformerBlock(8, 2, 12, "fp32", seed=7)
    for m in (block.norm1, block.norm2):  # non-trivial norm weights
        m.weight.data[:] = 1 + 0.3 * rng.standard_normal(8)
    check_module(block, rng.standard_normal((2, 5, 8)), rng)


def test_block_is_causal(rng):
    block = nn.TransformerBlock(16, 2, 24, "fp32", seed=1)
    x = rng.standard_normal((1, 9, 16)).astype(np.float32)
    y = block.forward(x)
    x2 = x.copy()
    x2[:, 5:] += 1.0
    y2 = block.forward(x2)
    np.testing.assert_array_equal(y2[:, :5], y[:, :5])
    assert not np.allclose(y2[:, 5:], y[:, 5:])


def test_block_same_seed_same_bits_and_different_seed_different_weights(rng):
    a = nn.TransformerBlock(32, 2, 64, "mxfp4_all", seed=3)
    b = nn.TransformerBlock(32, 2, 64, "mxfp4_all", seed=3)
    c = nn.TransformerBlock(32, 2, 64, "mxfp4_all", seed=4)
    x = rng.standard_normal((2, 16, 32)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ya, yb = a.forward(x), b.forward(x)
    np.testing.assert_array_equal(bits(ya), bits(yb))
    np.testing.assert_array_equal(bits(a.backward(g)), bits(b.backward(g)))
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(bits(pa.grad), bits(pb.grad), err_msg=name)
    weights = [lin.weight.data for lin in a.linears()]
    assert not np.array_equal(a.attn.q.weight.data, c.attn.q.weight.data)
    assert all(not np.array_equal(w1, w2) for i, w1 in enumerate(weights)
               for w2 in weights[i + 1:] if w1.shape == w2.shape)


def _block_run(recipe, x, g, seed=11):
    block = nn.TransformerBlock(32, 2, 64, recipe, seed=seed)
    y = block.forward(x)
    dx = block.backward(g)
    return y, dx, {n: p.grad.copy() for n, p in block.named_parameters()}


def test_block_threads_do_not_change_bits(rng, threads):
    x = rng.standard_normal((2, 16, 32)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    threads(1)
    one = _block_run("mxfp4_all", x, g)
    threads(2)
    two = _block_run("mxfp4_all", x, g)
    np.testing.assert_array_equal(bits(one[0]), bits(two[0]))
    np.testing.assert_array_equal(bits(one[1]), bits(two[1]))
    for name in one[2]:
        np.testing.assert_array_equal(bits(one[2][name]), bits(two[2][name]), err_msg=name)


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("recipe", ["mxfp4_all", "nvfp4_2d_rht16"])
def test_quantized_block_is_finite_and_close_to_fp32(recipe, rng):
    x = rng.standard_normal((2, 16, 32)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    y32, dx32, grads32 = _block_run("fp32", x, g)
    y, dx, grads = _block_run(recipe, x, g)
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    assert 0 < rel_err(y, y32) < 0.5  # > 0: quantization did happen
    assert 0 < rel_err(dx, dx32) < 0.5
    for name, g32 in grads32.items():
        assert np.isfinite(grads[name]).all(), name
        assert rel_err(grads[name], g32) < 0.5, name


def test_block_set_recipe_switches_every_linear(rng):
    block = nn.TransformerBlock(32, 2, 64, "fp32", seed=2)
    x = rng.standard_normal((1, 16, 32)).astype(np.float32)
    y32 = block.forward(x)
    block.set_recipe("mxfp4_all")
    assert len(block.linears()) == 7
    assert all(lin.recipe.name == "mxfp4_all" for lin in block.linears())
    assert block.recipe.name == "mxfp4_all"
    y4 = block.forward(x)
    ref = nn.TransformerBlock(32, 2, 64, "mxfp4_all", seed=2).forward(x)
    np.testing.assert_array_equal(bits(y4), bits(ref))
    assert not np.array_equal(y4, y32)
    with pytest.raises(TypeError, match="'recipe'"):
        block.set_recipe(3)


def test_block_gradients_accumulate_and_state_dict_roundtrips(rng):
    block = nn.TransformerBlock(8, 2, 12, "fp32", seed=1)
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    block.forward(x)
    block.backward(g)
    first = {n: p.grad.copy() for n, p in block.named_parameters()}
    block.forward(x)
    block.backward(g)
    for n, p in block.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, atol=1e-7, err_msg=n)
    block.zero_grad()
    assert not any(p.grad.any() for p in block.parameters())
    other = nn.TransformerBlock(8, 2, 12, "fp32", seed=99)
    other.load_state_dict(block.state_dict())
    np.testing.assert_array_equal(other.forward(x), block.forward(x))


def test_block_bad_inputs():
    with pytest.raises(ValueError, match="'n_heads'"):
        nn.TransformerBlock(12, 5, 16)
    block = nn.TransformerBlock(8, 2, 12)
    with pytest.raises(ValueError, match="'x'"):
        block.forward(np.zeros((1, 4, 9), np.float32))
    with pytest.raises(TypeError, match="'x'"):
        block.forward(np.zeros((1, 4, 8), np.complex64))
    with pytest.raises(RuntimeError, match="before"):
        block.backward(np.zeros((1, 4, 8), np.float32))
    block.forward(np.zeros((1, 4, 8), np.float32))
    with pytest.raises(ValueError, match="'grad'"):
        block.backward(np.zeros((1, 4, 7), np.float32))
    block.eval()
    block.forward(np.zeros((1, 4, 8), np.float32))
    with pytest.raises(RuntimeError, match="before"):
        block.backward(np.zeros((1, 4, 8), np.float32))


# -- cross-entropy -------------------------------------------------------------


def log_softmax64(logits):
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_cross_entropy_matches_float64_log_softmax(rng):
    logits = (rng.standard_normal((3, 5, 11)) * 4).astype(np.float32)
    targets = rng.integers(0, 11, (3, 5))
    ce = nn.CrossEntropyLoss()
    loss = ce.forward(logits, targets)
    assert isinstance(loss, float)
    ref = -np.mean(np.take_along_axis(log_softmax64(logits), targets[..., None], -1))
    assert abs(loss - ref) < 1e-5 * max(1.0, abs(ref))
    d = ce.backward()
    onehot = np.eye(11)[targets]
    np.testing.assert_allclose(d, (np.exp(log_softmax64(logits)) - onehot) / 15, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(ce.backward(2.0), 2 * d, rtol=1e-6)


def test_cross_entropy_ignore_index(rng):
    logits = rng.standard_normal((2, 6, 5)).astype(np.float32)
    targets = rng.integers(0, 5, (2, 6))
    targets[0, [1, 4]] = -100
    targets[1, 0] = -100
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    loss = ce.forward(logits, targets)
    keep = targets != -100
    lp = log_softmax64(logits)[keep]
    ref = -np.mean(lp[np.arange(keep.sum()), targets[keep]])
    assert abs(loss - ref) < 1e-5
    d = ce.backward()
    assert not d[~keep].any()
    np.testing.assert_allclose(d[keep], (np.exp(lp) - np.eye(5)[targets[keep]]) / keep.sum(),
                               rtol=1e-5, atol=1e-7)
    everything_ignored = np.full((2, 6), -100)
    assert ce.forward(logits, everything_ignored) == 0.0
    assert not ce.backward().any()


def test_cross_entropy_central_differences(rng):
    logits = rng.standard_normal((2, 3, 7)).astype(np.float32)
    targets = rng.integers(0, 7, (2, 3))
    targets[1, 1] = 3
    ce = nn.CrossEntropyLoss(ignore_index=3)
    ce.forward(logits, targets)
    d = ce.backward()
    (num,) = central_differences(lambda: ce.forward(logits, targets), [logits], 1e-2)
    assert_grad_close(num, d, "dlogits")


def test_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1e4, -1e4, 0.0]], np.float32)
    ce = nn.CrossEntropyLoss()
    assert ce.forward(logits, np.array([0])) == 0.0
    assert np.isclose(ce.forward(logits, np.array([1])), 2e4)
    assert np.isfinite(ce.backward()).all()


def test_cross_entropy_bad_inputs():
    ce = nn.CrossEntropyLoss()
    logits = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(ValueError, match="'targets'"):
        ce.forward(logits, np.zeros((2, 4), np.int64))
    with pytest.raises(TypeError, match="'targets'"):
        ce.forward(logits, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="'targets'"):
        ce.forward(logits, np.full((2, 3), 5))
    with pytest.raises(ValueError, match="'targets'"):
        ce.forward(logits, np.full((2, 3), -1))
    with pytest.raises(RuntimeError, match="before"):
        ce.backward()
    with pytest.raises(TypeError, match="'ignore_index'"):
        nn.CrossEntropyLoss(ignore_index=1.5)


# -- LM head: a plain Linear ------------------------------------------------------


def test_tiny_language_model_end_to_end_gradient(rng):
    """Embedding -> block -> norm -> Linear head -> cross-entropy, central differences."""
    vocab, dim = 11, 8
    emb = nn.Embedding(vocab, dim, seed=0)
    emb.weight.data *= 50  # O(1) activations
    block = nn.TransformerBlock(dim, 2, 12, "fp32", seed=1)
    norm = nn.RMSNorm(dim)
    head = nn.Linear(dim, vocab, bias=False, recipe="fp32", seed=2)
    ce = nn.CrossEntropyLoss()
    ids = rng.integers(0, vocab, (2, 5))
    targets = rng.integers(0, vocab, (2, 5))

    def loss():
        return ce.forward(head.forward(norm.forward(block.forward(emb.forward(ids)))), targets)

    for m in (emb, block, norm, head):
        m.zero_grad()
    loss()
    emb.backward(block.backward(norm.backward(head.backward(ce.backward()))))
    checked = [emb.weight, block.attn.q.weight, block.mlp.down.weight, head.weight]
    nums = central_differences(loss, [p.data for p in checked], 1e-2)
    for p, num in zip(checked, nums):
        assert_grad_close(num, p.grad, repr(p), rtol=5e-3)  # measured ~1.1e-3
