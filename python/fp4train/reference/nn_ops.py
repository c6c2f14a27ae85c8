"""Numpy float32 versions of the non-GEMM layer kernels (the pre-C++ nn code).

Public: attention_forward, attention_backward, rmsnorm_forward,
rmsnorm_backward, swiglu_forward, swiglu_backward, rope_tables, rope,
cross_entropy_forward, cross_entropy_backward, embedding_backward.

These are the vectorized numpy implementations the ``fp4train.nn`` layers
used before their heavy work moved to ``fp4train._core`` (csrc/ops). They
compute the same formulas in float32 but sum in numpy's / BLAS's order and
use numpy's exp/log/tanh, so the C++ kernels agree with them to a few ulp
(rtol ~1e-5), not bit for bit; ``rope`` and ``embedding_backward`` are
exact. Shapes follow the ``_core`` functions: attention operands are the
projections' (batch, seq, dim) outputs with ``n_heads`` interleaved heads.
Only numpy is used; the compiled module is never imported.
"""
import numpy as np

_F32 = np.float32


def _split(t, n_heads):
    """(b, s, dim) -> (b, heads, s, d) view."""
    b, s, dim = t.shape
    return t.reshape(b, s, n_heads, dim // n_heads).transpose(0, 2, 1, 3)


def _merge(t):
    """(b, heads, s, d) -> (b, s, heads*d), contiguous."""
    b, h, s, d = t.shape
    return np.ascontiguousarray(t.transpose(0, 2, 1, 3)).reshape(b, s, h * d)


def attention_forward(q, k, v, n_heads, scale):
    """Causal softmax attention; returns (y (b, s, dim), p (b, heads, s, s))."""
    q, k, v = (_split(np.asarray(t, _F32), n_heads) for t in (q, k, v))
    s = q.shape[2]
    mask = np.where(np.triu(np.ones((s, s), dtype=bool), 1), -np.inf, 0.0).astype(_F32)
    scores = np.matmul(q, k.transpose(0, 1, 3, 2)) * _F32(scale)
    scores += mask  # the diagonal stays finite, so no row is all -inf
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores, out=scores)
    p /= p.sum(axis=-1, keepdims=True)
    return _merge(np.matmul(p, v)), p


def attention_backward(q, k, v, p, dy, n_heads, scale):
    """Gradients (dq, dk, dv), each (b, s, dim), of the forward above."""
    q, k, v, dy = (_split(np.asarray(t, _F32), n_heads) for t in (q, k, v, dy))
    dv = np.matmul(p.transpose(0, 1, 3, 2), dy)
    dp = np.matmul(dy, v.transpose(0, 1, 3, 2))
    # softmax backward: dS = P * (dP - rowsum(dP * P)); masked entries have P = 0.
    ds = dp
    ds -= np.sum(dp * p, axis=-1, keepdims=True)
    ds *= p
    ds *= _F32(scale)
    return _merge(np.matmul(ds, k)), _merge(np.matmul(ds.transpose(0, 1, 3, 2), q)), _merge(dv)


def rmsnorm_forward(x, weight, eps):
    """Returns (y, rstd) with rstd of shape x.shape[:-1]."""
    x = np.asarray(x, _F32)
    ms = np.mean(np.square(x), axis=-1, keepdims=True, dtype=_F32)
    rstd = (1.0 / np.sqrt(ms + _F32(eps))).astype(_F32)
    return (x * rstd) * weight, rstd[..., 0]


def rmsnorm_backward(x, rstd, weight, grad):
    """Returns (dx, dweight); dweight is this call's contribution (not accumulated)."""
    x = np.asarray(x, _F32)
    grad = np.asarray(grad, _F32)
    rstd = rstd[..., None]
    xhat = x * rstd
    dw = np.sum((grad * xhat).reshape(-1, x.shape[-1]), axis=0)
    gw = grad * weight
    dot = np.mean(gw * xhat, axis=-1, keepdims=True)
    return rstd * (gw - xhat * dot), dw


def _sigmoid(x):
    # 0.5 (1 + tanh(x/2)): no overflow for large |x|.
    return _F32(0.5) * (_F32(1.0) + np.tanh(_F32(0.5) * x))


def swiglu_forward(g, u):
    """Returns (silu(g) * u, sigmoid(g))."""
    sig = _sigmoid(g)
    return (g * sig) * u, sig


def swiglu_backward(g, u, sig, dh):
    """Returns (dg, du) from dh and the forward's sigmoid."""
    du = dh * (g * sig)
    dg = dh * u
    dg *= sig * (_F32(1.0) + g * (_F32(1.0) - sig))
    return dg, du


def rope_tables(head_dim, base, seq):
    """float32 (cos, sin) of shape (seq, head_dim/2): angles in float64, rounded once."""
    half = head_dim // 2
    inv_freq = float(base) ** (-np.arange(half, dtype=np.float64) * 2.0 / head_dim)
    angle = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angle).astype(_F32), np.sin(angle).astype(_F32)


def rope(x, cos, sin, inverse=False):
    """Rotate-half RoPE of x (..., seq, head_dim); inverse rotates by -angle."""
    x = np.asarray(x, _F32)
    if inverse:
        sin = -sin
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    out = np.empty(x.shape, _F32)
    out[..., :half] = x1 * cos - x2 * sin
    out[..., half:] = x1 * sin + x2 * cos
    return out


def cross_entropy_forward(logits, targets, ignore_index=None):
    """Returns (mean loss as float, z = logits - rowmax (n, vocab), lse (n,), kept rows)."""
    vocab = logits.shape[-1]
    z = np.asarray(logits).reshape(-1, vocab).astype(_F32)  # a copy: shifted in place
    t = np.asarray(targets).reshape(-1).astype(np.int64)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    rows = np.flatnonzero(keep)
    z -= z.max(axis=-1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=-1))
    nll = lse[rows] - z[rows, t[rows]]
    loss = float(np.sum(nll, dtype=np.float64) / rows.size) if rows.size else 0.0
    return loss, z, lse, rows


def cross_entropy_backward(z, lse, targets, rows, grad=1.0):
    """dlogits (n, vocab) = grad * (softmax - onehot) / len(rows), zero on other rows."""
    t = np.asarray(targets).reshape(-1).astype(np.int64)
    d = np.zeros(z.shape, _F32)
    if rows.size:
        p = np.exp(z[rows] - lse[rows, None])
        p[np.arange(rows.size), t[rows]] -= _F32(1.0)
        d[rows] = p * _F32(float(grad) / rows.size)
    return d


def embedding_backward(ids, grad, weight_grad):
    """weight_grad[ids[i]] += grad[i], in order (np.add.at); in place."""
    dim = weight_grad.shape[1]
    np.add.at(weight_grad, np.asarray(ids).ravel(),
              np.asarray(grad).reshape(-1, dim).astype(_F32, copy=False))
