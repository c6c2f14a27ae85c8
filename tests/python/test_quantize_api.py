"""The fp4train.quantize Python face: arguments, conversions, QTensor, errors.

Bit-exactness against the numpy reference lives in test_quantize_vs_reference.py.
"""
import numpy as np
import pytest

import fp4train as ft
from conftest import make_data


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("fmt", ft.FORMATS)
def test_fake_quantize_equals_dequantize_of_quantize(fmt, rng):
    x = make_data("outliers", (6, 77), rng)
    for axis in (0, 1, -1):
        for rounding in ft.ROUNDINGS:
            q = ft.quantize(x, fmt, axis=axis, rounding=rounding, seed=5)
            fq = ft.fake_quantize(x, fmt, axis=axis, rounding=rounding, seed=5)
            np.testing.assert_array_equal(bits(q.dequantize()), bits(fq),
                                          err_msg=f"{fmt} axis={axis} {rounding}")


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4", "mxfp8_e4m3", "fp8_e5m2", "bf16"])
def test_error_is_small_and_shape_kept(fmt, rng):
    x = make_data("gaussian", (3, 5, 64), rng)
    y = ft.fake_quantize(x, fmt, axis=1)
    assert y.shape == x.shape and y.dtype == np.float32
    rel = np.linalg.norm(y - x) / np.linalg.norm(x)
    bound = {"mxfp4": 0.2, "nvfp4": 0.15, "mxfp8_e4m3": 0.05, "fp8_e5m2": 0.1, "bf16": 0.005}
    assert 0 < rel < bound[fmt]


def test_fp32_is_identity_including_nan(rng):
    x = make_data("heavy", (4, 33), rng)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -0.0
    np.testing.assert_array_equal(bits(ft.fake_quantize(x, "fp32")), bits(x))


def test_dtype_conversion_and_noncontiguous(rng):
    x64 = rng.standard_normal((8, 64))
    ref = ft.fake_quantize(x64.astype(np.float32), "mxfp4")
    np.testing.assert_array_equal(bits(ft.fake_quantize(x64, "mxfp4")), bits(ref))
    x16 = x64.astype(np.float16)
    np.testing.assert_array_equal(bits(ft.fake_quantize(x16, "mxfp4")),
                                  bits(ft.fake_quantize(x16.astype(np.float32), "mxfp4")))
    xi = np.arange(64, dtype=np.int32).reshape(2, 32)
    np.testing.assert_array_equal(bits(ft.fake_quantize(xi, "bf16")), bits(xi.astype(np.float32)))
    big = rng.standard_normal((64, 96)).astype(np.float32)
    view = big[::2, 1::3]  # non-contiguous
    np.testing.assert_array_equal(bits(ft.fake_quantize(view, "nvfp4", axis=0)),
                                  bits(ft.fake_quantize(view.copy(), "nvfp4", axis=0)))
    assert np.array_equal(bits(ft.fake_quantize(view.T, "mxfp4")),
                          bits(ft.fake_quantize(np.ascontiguousarray(view.T), "mxfp4")))


def test_lists_are_accepted():
    y = ft.fake_quantize([[1.0, 2.0, 3.0]], "mxfp4")
    np.testing.assert_array_equal(y, np.array([[1.0, 2.0, 3.0]], np.float32))


def test_qtensor_layout_and_nbytes(rng):
    x = make_data("gaussian", (4, 3, 70), rng)
    q = ft.quantize(x, "mxfp4", axis=1)
    # axis 1 moved last: rows = 4 * 70, length 3 -> 2 bytes a row, 1 block a row
    assert q.codes.shape == (280, 2) and q.scales.shape == (280, 1)
    assert q.nbytes == 280 * 2 + 280
    qn = ft.quantize(x, "nvfp4")
    assert qn.codes.shape == (12, 35) and qn.scales.shape == (12, 5)
    assert qn.nbytes == 12 * 35 + 12 * 5 + 4
    q8 = ft.quantize(x, "fp8_e4m3")
    assert q8.scales.shape == (0,) and q8.nbytes == x.size + 4
    assert "mxfp4" in repr(q) and "shape=(4, 3, 70)" in repr(q)
    assert q.settings()["axis"] == 1


def test_transpose_view_is_free_and_consistent(rng):
    w = make_data("gaussian", (48, 64), rng)
    q0 = ft.quantize(w, "mxfp4", axis=0)
    qt = q0.T
    assert qt.shape == (64, 48) and qt.axis == 1 and qt.codes is q0.codes
    np.testing.assert_array_equal(bits(qt.dequantize()), bits(q0.dequantize().T))
    # Same values as quantizing W^T along axis 1 (nearest rounding has no index dependence).
    np.testing.assert_array_equal(bits(qt.dequantize()),
                                  bits(ft.fake_quantize(np.ascontiguousarray(w.T), "mxfp4")))
    with pytest.raises(ValueError, match="2-D"):
        ft.quantize(np.zeros((2, 2, 32)), "mxfp4").T


@pytest.mark.parametrize("fmt", ft.FORMATS)
def test_zero_size_arrays_work(fmt):
    for shape, axis in (((0, 32), 1), ((4, 0), 1), ((0,), 0), ((3, 0, 5), 2)):
        q = ft.quantize(np.zeros(shape, np.float32), fmt, axis=axis)
        assert q.dequantize().shape == shape
        assert ft.fake_quantize(np.zeros(shape, np.float32), fmt, axis=axis).shape == shape


def test_scalar_input_is_refused_clearly():
    with pytest.raises(ValueError, match="axis"):
        ft.quantize(np.float32(1.0), "mxfp4")


@pytest.mark.parametrize("call", [ft.quantize, ft.fake_quantize])
def test_bad_arguments_name_the_argument(call):
    x = np.ones((4, 32), np.float32)
    cases = [
        (dict(x=np.array(["a", "b"])), TypeError, "'x'"),
        (dict(x=np.ones((2, 2), np.complex64)), TypeError, "'x'"),
        (dict(x=np.ones((2, 2), bool)), TypeError, "'x'"),
        (dict(x=x, axis=2), ValueError, "'axis'"),
        (dict(x=x, axis=-3), ValueError, "'axis'"),
        (dict(x=x, axis=1.0), TypeError, "'axis'"),
        (dict(x=x, format="fp4"), ValueError, "'format'.*mxfp4"),
        (dict(x=x, format=4), TypeError, "'format'"),
        (dict(x=x, scale_rule="round"), ValueError, "'scale_rule'.*rceil"),
        (dict(x=x, rounding="up"), ValueError, "'rounding'.*stochastic"),
        (dict(x=x, seed=-1), ValueError, "'seed'"),
        (dict(x=x, seed=2 ** 64), ValueError, "'seed'"),
        (dict(x=x, seed=1.5), TypeError, "'seed'"),
        (dict(x=x, seed="1"), TypeError, "'seed'"),
        (dict(x=x, seed=True), TypeError, "'seed'"),
        (dict(x=np.ones((2, 2, 32)), format="nvfp4", block_2d=True), ValueError, "'block_2d'"),
        (dict(x=x, format="bf16", block_2d=True), ValueError, "'block_2d'"),
        (dict(x=x, block_2d="yes"), TypeError, "'block_2d'"),
        (dict(x=x, prescale=0.0), ValueError, "'prescale'"),
        (dict(x=x, prescale=-1.0), ValueError, "'prescale'"),
        (dict(x=x, prescale=float("nan")), ValueError, "'prescale'"),
        (dict(x=x, prescale=float("inf")), ValueError, "'prescale'"),
        (dict(x=x, prescale="1"), TypeError, "'prescale'"),
        (dict(x=x, format="bf16", prescale=0.75), ValueError, "'prescale'"),
    ]
    for kwargs, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call(**kwargs)


def test_seed_accepts_numpy_integers_and_large_values(rng):
    x = make_data("gaussian", (2, 64), rng)
    a = ft.fake_quantize(x, "mxfp4", rounding="stochastic", seed=np.uint64(2 ** 63 + 5))
    b = ft.fake_quantize(x, "mxfp4", rounding="stochastic", seed=2 ** 63 + 5)
    np.testing.assert_array_equal(bits(a), bits(b))
    c = ft.fake_quantize(x, "mxfp4", rounding="stochastic", seed=6)
    assert not np.array_equal(bits(a), bits(c))


def test_tampered_qtensor_is_refused(rng):
    x = make_data("gaussian", (4, 64), rng)
    q = ft.quantize(x, "nvfp4")
    q.codes = q.codes[:, :-1].copy()
    with pytest.raises(ValueError, match="q.codes"):
        q.dequantize()
    q = ft.quantize(x, "nvfp4")
    q.scales = np.zeros(3, np.uint8)
    with pytest.raises(ValueError, match="q.scales"):
        q.dequantize()
    q = ft.quantize(x, "nvfp4")
    q.codes = q.codes.astype(np.int16)
    with pytest.raises(TypeError, match="q.codes"):
        q.dequantize()
    q = ft.quantize(x, "nvfp4")
    q.tensor_scale = float("nan")
    with pytest.raises(ValueError, match="tensor_scale"):
        q.dequantize()
    q = ft.quantize(x, "nvfp4")
    q.shape = (4, 65)
    with pytest.raises(ValueError, match="q.codes"):
        q.dequantize()
    q = ft.quantize(x, "nvfp4")
    q.format = "mxfp9"
    with pytest.raises(ValueError, match="format"):
        q.dequantize()
    with pytest.raises(TypeError, match="'q'"):
        ft.dequantize(np.zeros(4))


def test_results_do_not_depend_on_threads(rng, threads):
    x = make_data("outliers", (37, 300), rng)
    outs = []
    for n in (1, 2, 3):
        threads(n)
        outs.append([bits(ft.fake_quantize(x, f, axis=a, rounding="stochastic", seed=9))
                     for f in ("mxfp4", "nvfp4", "fp8_e4m3", "bf16") for a in (0, 1)])
    for o in outs[1:]:
        for u, v in zip(outs[0], o):
            np.testing.assert_array_equal(u, v)


def test_isa_control():
    isas = ft.supported_isas()
    assert isas[0] == "scalar"
    before = ft.get_isa()
    try:
        for isa in isas:
            ft.set_isa(isa)
            assert ft.get_isa() == isa
    finally:
        ft.reset_isa()
    assert ft.get_isa() == before
    with pytest.raises(ValueError, match="'isa'"):
        ft.set_isa("neon")
    with pytest.raises(TypeError, match="'isa'"):
        ft.set_isa(3)


def test_format_info():
    info = ft.format_info("nvfp4")
    assert info["block"] == 16 and info["scale"] == "e4m3" and info["tensor_scale"]
    assert ft.format_info("mxfp4")["scale"] == "e8m0"
    with pytest.raises(ValueError, match="'format'"):
        ft.format_info("int4")


def test_core_stub_lists_every_public_function():
    """python/fp4train/_core.pyi stays in step with the compiled module."""
    import re
    from pathlib import Path
    stub = (Path(ft.__file__).parent / "_core.pyi").read_text()
    declared = set(re.findall(r"^(?:def|class) (\w+)", stub, re.M))
    public = {n for n in dir(ft._core) if not n.startswith("_")}
    assert public == declared, f"missing in stub: {public - declared}; stale: {declared - public}"
