"""The float32 GEMM backend switch: ft.set_float_gemm / get_float_gemm / float_gemm_backends.

The default ("exact") must stay the bit-defined gemm_f32 of docs/NUMERICS.md.
The opt-in "blas" backend hands the same float32 operands to cblas_sgemm, so it
may only differ by summation order: every element stays within twice the
float32 dot-product bound gamma_K * sum_k |a_k b_k| (gamma_K = K u / (1 - K u),
u = 2^-24; both backends obey the one-sided bound), and is reproducible for a
fixed thread count. Environment handling runs in subprocesses (the variables
are read once per process).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fp4train as ft
import fp4train.nn as nn

HAVE_BLAS = "blas" in ft.float_gemm_backends()
needs_blas = pytest.mark.skipif(not HAVE_BLAS, reason="no BLAS library exporting cblas_sgemm "
                                "could be loaded on this machine")
U = 2.0 ** -24


@pytest.fixture
def backend():
    """Yields ft.set_float_gemm; restores the backend in use before the test."""
    before = ft.get_float_gemm()
    yield ft.set_float_gemm
    ft.set_float_gemm(before)


def bits(x):
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def assert_within_bound(got, ref, a, b, what):
    """|got - ref| <= 2 gamma_K S + underflow slack, S = |a| |b|^T in float64."""
    k = a.shape[1]
    s = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)).T
    gamma = k * U / (1 - k * U)
    bound = 2 * gamma * s + 4 * k * 2.0 ** -150
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (f"{what}: |blas - exact| = {err[worst]!r} > bound "
                                  f"{bound[worst]!r} at {worst}")


def fp32_q(x):
    return ft.quantize(x, "fp32", axis=1)


def run(backend_name, fn):
    before = ft.get_float_gemm()
    ft.set_float_gemm(backend_name)
    try:
        return fn()
    finally:
        ft.set_float_gemm(before)


def test_default_is_exact_and_bit_identical(rng):
    if os.environ.get("FP4TRAIN_FLOAT_GEMM"):
        pytest.skip("FP4TRAIN_FLOAT_GEMM is set in this environment")
    assert ft.get_float_gemm() == "exact"
    assert ft.float_gemm_info()["backend"] == "exact"
    a = rng.standard_normal((37, 300)).astype(np.float32)
    b = rng.standard_normal((29, 300)).astype(np.float32)
    c = ft.qgemm(fp32_q(a), fp32_q(b))
    np.testing.assert_array_equal(bits(c), bits(ft.gemm.gemm_f32(a, b)))
    # and gemm_f32 is sequential fma in k order (the independent numpy oracle)
    from fp4train.reference.gemm import gemm_f32_fma
    np.testing.assert_array_equal(bits(c[:5, :7]), bits(gemm_f32_fma(a[:5], b[:7])))


def test_backends_listing_and_info():
    backends = ft.float_gemm_backends()
    assert backends[0] == "exact" and set(backends) <= {"exact", "blas"}
    info = ft.float_gemm_info()
    assert set(info) == {"backend", "blas_library", "blas_thread_control"}
    assert (info["blas_library"] is not None) == HAVE_BLAS
    if HAVE_BLAS:
        assert Path(info["blas_library"]).exists()


@pytest.mark.parametrize("bad, exc, text", [
    ("fast", ValueError, "expected one of exact, blas, got 'fast'"),
    ("", ValueError, "argument 'backend'"),
    ("BLAS", ValueError, "argument 'backend'"),
    (1, TypeError, "argument 'backend': expected a str, got int"),
    (None, TypeError, "argument 'backend'"),
])
def test_unknown_backend_errors(backend, bad, exc, text):
    before = ft.get_float_gemm()
    with pytest.raises(exc, match=text.replace("(", r"\(")) as info:
        backend(bad)
    if exc is ValueError:
        assert "available: exact" in str(info.value)
    assert ft.get_float_gemm() == before  # a failed call changes nothing


@needs_blas
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (5, 3, 0), (64, 96, 130), (3, 200, 1000),
                                     (257, 129, 385)])
def test_blas_qgemm_fp32_within_bound(backend, rng, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_t(3.0, (n, k)) * 10).astype(np.float32)
    exact = ft.qgemm(fp32_q(a), fp32_q(b))
    backend("blas")
    assert ft.get_float_gemm() == "blas"
    got = ft.qgemm(fp32_q(a), fp32_q(b))
    assert got.shape == (m, n) and got.dtype == np.float32
    assert_within_bound(got, exact, a, b, f"fp32 {m}x{n}x{k}")
    if k == 0:
        np.testing.assert_array_equal(bits(got), np.zeros((m, n), np.uint32))
    if k >= 1000 and "openblas" in ft.float_gemm_info()["blas_library"]:
        # OpenBLAS splits K into blocks, so some sums must round differently:
        # proof the switch reached the BLAS (at small K it can match exactly).
        assert np.any(bits(got) != bits(exact))


@needs_blas
def test_blas_qgemm_bf16_rounds_operands_first(backend, rng):
    a = rng.standard_normal((48, 520)).astype(np.float32)
    b = rng.standard_normal((40, 520)).astype(np.float32)
    qa, qb = ft.quantize(a, "bf16", axis=1), ft.quantize(b, "bf16", axis=1)
    da, db = ft.dequantize(qa), ft.dequantize(qb)
    assert not np.array_equal(da, a)  # the rounding to bf16 is real
    exact = ft.qgemm(qa, qb)
    backend("blas")
    got = ft.qgemm(qa, qb)
    # the bound holds for the bf16-rounded operands (it would not for a, b)
    assert_within_bound(got, exact, da, db, "bf16")
    # mixed bf16 x fp32 goes the same way
    got_mixed = ft.qgemm(qa, fp32_q(db))
    np.testing.assert_array_equal(bits(got_mixed), bits(got))


@needs_blas
@pytest.mark.parametrize("n_threads", [1, 2])
def test_blas_deterministic_for_fixed_thread_count(backend, threads, rng, n_threads):
    threads(n_threads)
    a = rng.standard_normal((300, 700)).astype(np.float32)
    b = rng.standard_normal((260, 700)).astype(np.float32)
    backend("blas")
    first = ft.qgemm(fp32_q(a), fp32_q(b))
    second = ft.qgemm(fp32_q(a), fp32_q(b))
    np.testing.assert_array_equal(bits(first), bits(second))


@needs_blas
def test_switching_back_and_forth(backend, rng):
    a = rng.standard_normal((40, 1100)).astype(np.float32)
    b = rng.standard_normal((30, 1100)).astype(np.float32)
    exact = ft.gemm.gemm_f32(a, b)
    results = []
    for name in ("blas", "exact", "blas", "exact"):
        backend(name)
        assert ft.get_float_gemm() == name
        results.append(ft.qgemm(fp32_q(a), fp32_q(b)))
    np.testing.assert_array_equal(bits(results[1]), bits(exact))
    np.testing.assert_array_equal(bits(results[3]), bits(exact))
    np.testing.assert_array_equal(bits(results[0]), bits(results[2]))
    # ft.gemm.gemm_f32 is the exact kernel whatever the switch says
    backend("blas")
    np.testing.assert_array_equal(bits(ft.gemm.gemm_f32(a, b)), bits(exact))


def _linear_pass(x, dy):
    layer = nn.Linear(x.shape[1], dy.shape[1], bias=False, recipe="fp32", seed=3)
    y = layer.forward(x)
    dx = layer.backward(dy)
    return layer.weight.data, y, dx, layer.weight.grad.copy()


@needs_blas
def test_linear_fp32_blas_within_bound_of_exact(backend, rng):
    # K = 520, 600, 640 for fprop, dgrad, wgrad: past OpenBLAS's K blocking
    x = rng.standard_normal((640, 520)).astype(np.float32)
    x[:, ::13] *= 20.0
    dy = (rng.standard_t(3.0, (640, 600)) * 1e-3).astype(np.float32)
    w, y_e, dx_e, dw_e = _linear_pass(x, dy)
    backend("blas")
    w2, y_b, dx_b, dw_b = _linear_pass(x, dy)
    np.testing.assert_array_equal(w, w2)
    w = w.astype(np.float32)
    assert_within_bound(y_b, y_e, x, w, "fprop")            # Y = X W^T, K = in
    assert_within_bound(dx_b, dx_e, dy, np.ascontiguousarray(w.T), "dgrad")  # dX = dY W
    assert_within_bound(dw_b, dw_e, np.ascontiguousarray(dy.T), np.ascontiguousarray(x.T),
                        "wgrad")                              # dW = dY^T X, K = tokens
    if "openblas" in ft.float_gemm_info()["blas_library"]:
        # all three GEMMs reached the BLAS (its K blocking changes some roundings)
        for name, p, q in (("fprop", y_b, y_e), ("dgrad", dx_b, dx_e), ("wgrad", dw_b, dw_e)):
            assert np.any(bits(p) != bits(q)), name
    # and the exact pass is still a plain float32 layer (loose float64 check)
    np.testing.assert_allclose(y_b, x.astype(np.float64) @ w.T.astype(np.float64),
                               rtol=1e-4, atol=1e-4)


def _python(code, **env_overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FP4TRAIN_FLOAT_GEMM", "FP4TRAIN_BLAS_LIBRARY")}
    env.update(env_overrides)
    env["PYTHONPATH"] = str(Path(ft.__file__).resolve().parent.parent)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)


_PROBE = """
import fp4train as ft
print(ft.float_gemm_backends())
try:
    ft.set_float_gemm("blas")
    print("set ok", ft.get_float_gemm())
except ValueError as e:
    print("ValueError:", e)
"""


def test_no_blas_library_means_blas_unavailable():
    proc = _python(_PROBE, FP4TRAIN_BLAS_LIBRARY="none")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "['exact']"
    assert lines[1].startswith("ValueError: argument 'backend': 'blas' is not available")
    assert "available: exact" in lines[1]
    proc = _python(_PROBE, FP4TRAIN_BLAS_LIBRARY="/nonexistent/libnoblas.so")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "['exact']"
    assert "tried /nonexistent/libnoblas.so" in proc.stdout


def test_env_var_selects_initial_backend():
    code = "import fp4train as ft; print(ft.get_float_gemm())"
    proc = _python(code, FP4TRAIN_FLOAT_GEMM="exact")
    assert proc.returncode == 0 and proc.stdout.strip() == "exact", proc.stderr
    proc = _python(code, FP4TRAIN_FLOAT_GEMM="nonsense")
    assert proc.returncode != 0
    assert "argument 'FP4TRAIN_FLOAT_GEMM': expected one of exact, blas, got 'nonsense'" in \
        proc.stderr
    proc = _python(code, FP4TRAIN_FLOAT_GEMM="blas", FP4TRAIN_BLAS_LIBRARY="none")
    assert proc.returncode != 0 and "'blas' is not available" in proc.stderr
    if HAVE_BLAS:
        proc = _python(code + "; ft.set_float_gemm('exact'); print(ft.get_float_gemm())",
                       FP4TRAIN_FLOAT_GEMM="blas")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["blas", "exact"]
