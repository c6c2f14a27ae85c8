"""The C++ Hadamard transform and fused quantize held to the numpy reference bit for bit.

* ``fp4train.hadamard`` / ``hadamard_inverse`` (float32, every SIMD path,
  1 and 2 threads) == ``reference.hadamard.hadamard_fwht_f32`` /
  ``hadamard_inverse_fwht_f32`` (NUMERICS §4 butterfly order), compared as
  uint32 bit patterns.
* ``HadamardSpec.signs_at(step)`` == ``reference.hadamard.signs_from_seed``.
* ``fp4train.quantize(x, ..., hadamard=spec, step=s)`` (fused) ==
  ``reference.quant.quantize(hadamard_fwht_f32(x, ...), ...)``: codes,
  scales, tensor scale, dequantize and fused fake_quantize bit for bit.

Run: ``PYTHONPATH=python /usr/bin/python3 -m pytest -q -p no:cacheprovider
tests/python/test_hadamard_vs_reference.py``
"""
import numpy as np
import pytest

import fp4train as ft
from fp4train.hadamard import HadamardSpec
from fp4train.reference import hadamard as rh
from test_quantize_vs_reference import (BLOCKED, FORMATS, ROUNDINGS, RULES, _prescales, _seed,
                                        check, f32bits, make)

ISAS = tuple(ft.supported_isas())
PUBLISHED = (1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1)


@pytest.fixture
def restore_runtime():
    yield
    ft.reset_isa()
    ft.set_num_threads(0)


def _assert_bits(got, ref, what):
    g, r = f32bits(got), f32bits(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    if not np.array_equal(g, r):
        bad = np.argwhere(g != r)
        first, last = tuple(bad[0]), tuple(bad[-1])
        raise AssertionError(
            f"{what}: {len(bad)} mismatches; first at {first}: C++={int(g[first]):#010x} "
            f"ref={int(r[first]):#010x}; last at {last}: C++={int(g[last]):#010x} "
            f"ref={int(r[last]):#010x}")


def _data(kind, shape, rng):
    if kind == "specials":
        x = make("gaussian", shape, rng)
        flat = x.reshape(-1)
        flat[3] = np.nan
        flat[flat.size // 2] = np.inf
        flat[-2] = -np.inf
        flat[5::11] = -0.0
        return x
    if kind == "overflow":  # butterfly sums overflow to +-Inf
        x = make("gaussian", shape, rng)
        x.reshape(-1)[::3] = np.float32(3e38)
        return x
    if kind == "smallint":  # exact arithmetic; exact result for even log2(n)
        return rng.integers(-8, 9, shape).astype(np.float32)
    return make(kind, shape, rng)


SIZES = (2, 4, 8, 16, 32, 64, 128, 256, 1024)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", SIZES)
def test_transform_matches_reference(isa, n, restore_runtime):
    ft.set_isa(isa)
    rng = np.random.default_rng(_seed("fwht", n) % 2**32)
    signs_cases = {"none": None, "random": np.where(rng.random(n) < 0.5, -1.0, 1.0),
                   "seeded": rh.signs_from_seed(n, 2**63 + 11, 3)}
    layouts = [((3, 2 * n), 1), ((2 * n, 3), 0), ((2, n, 3), 1), ((2, 3, n), -1),
               ((n, 5), 0)]
    for kind in ("gaussian", "wide", "subnormal", "specials", "overflow", "smallint"):
        for shape, axis in layouts:
            x = _data(kind, shape, rng)
            for sname, s in signs_cases.items():
                what = f"[isa={isa} n={n} shape={shape} axis={axis} signs={sname} data={kind}]"
                _assert_bits(ft.hadamard(x, n, axis=axis, signs=s),
                             rh.hadamard_fwht_f32(x, n, axis=axis, signs=s), what + " forward")
                _assert_bits(ft.hadamard_inverse(x, n, axis=axis, signs=s),
                             rh.hadamard_inverse_fwht_f32(x, n, axis=axis, signs=s),
                             what + " inverse")


@pytest.mark.parametrize("isa", ISAS)
def test_transform_large_and_odd_layouts(isa, restore_runtime):
    ft.set_isa(isa)
    rng = np.random.default_rng(5)
    cases = [
        (make("heavy", (2, 32768), rng), 32768, 1),  # the whole axis, largest size
        (make("gaussian", (4096, 2), rng), 4096, 0),
        (make("outliers", (40, 512), rng)[::3, 1::2], 64, 1),  # non-contiguous
        (make("outliers", (40, 512), rng)[:, :256].T, 16, 0),  # transposed view
        (rng.standard_normal((6, 64)), 32, 1),  # float64 input: RN to float32 first
        (np.zeros((0, 64), np.float32), 64, 1),
        (np.zeros((3, 0), np.float32), 2, 1),
    ]
    for x, n, axis in cases:
        s = rh.signs_from_seed(n, 9, 0)
        x32 = np.asarray(x, np.float32)
        what = f"[isa={isa} n={n} shape={x.shape} axis={axis} strides={x.strides}]"
        _assert_bits(ft.hadamard(x, n, axis=axis, signs=s),
                     rh.hadamard_fwht_f32(x32, n, axis=axis, signs=s), what + " forward")
        _assert_bits(ft.hadamard_inverse(x, n, axis=axis),
                     rh.hadamard_inverse_fwht_f32(x32, n, axis=axis), what + " inverse")


def test_transform_threads(restore_runtime):
    rng = np.random.default_rng(6)
    x = make("heavy", (320, 1024), rng)
    out = {}
    for t in (1, 2):
        ft.set_num_threads(t)
        out[t] = [ft.hadamard(x, 256, axis=1), ft.hadamard(x, 64, axis=0),
                  ft.hadamard_inverse(x, 1024, axis=1)]
    for a, b in zip(out[1], out[2]):
        _assert_bits(a, b, "1 vs 2 threads")
    _assert_bits(out[2][1], rh.hadamard_fwht_f32(x, 64, axis=0), "threads vs reference")


@pytest.mark.parametrize("n", (2, 16, 64, 256, 4096))
def test_signs_match_reference(n):
    for seed in (0, 1, 12345, 2**64 - 1):
        assert np.array_equal(HadamardSpec(n, "fixed", seed=seed).signs_at(7),
                              rh.signs_from_seed(n, seed, 0)), (n, seed)
        for step in (0, 1, 1000, 2**40):
            assert np.array_equal(HadamardSpec(n, "per_step", seed=seed).signs_at(step),
                                  rh.signs_from_seed(n, seed, step)), (n, seed, step)
    assert np.array_equal(HadamardSpec(n).signs_at(3), np.ones(n, np.float32))


def _ref_signs(spec, step):
    if spec.signs == "none":
        return None
    if spec.vector is not None:
        return np.array(spec.vector, np.float32)
    return rh.signs_from_seed(spec.size, spec.seed, 0 if spec.signs == "fixed" else step)


def _check_fused(x, fmt, spec, step, axis, rounding, rule, p, block_2d, label):
    ref_x = rh.hadamard_fwht_f32(np.asarray(x, np.float32), spec.size, axis=axis,
                                 signs=_ref_signs(spec, step))
    check(x, fmt, axis=axis, rounding=rounding, rule=rule, prescale=p, block_2d=block_2d,
          seed=_seed("fused", fmt, spec, step, axis, rounding, rule, p, label),
          label=label, ft_extra=dict(hadamard=spec, step=step), ref_x=ref_x)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_fused_quantize_matches_reference(fmt, rounding, restore_runtime):
    rng = np.random.default_rng(_seed("fusedgrid", fmt, rounding) % 2**32)
    specs = [HadamardSpec(16), HadamardSpec(32, "fixed", seed=3),
             HadamardSpec(64, "per_step", seed=2**63 + 5), HadamardSpec(16, "fixed",
                                                                         vector=PUBLISHED)]
    for i, spec in enumerate(specs):
        rule = RULES[i % 4]
        for p in _prescales(fmt):
            for kind in ("outliers", "heavy", "specials"):
                x = _data(kind, (5, 128), rng)
                _check_fused(x, fmt, spec, 4, 1, rounding, rule, p, False, kind)
            x = _data("wide", (spec.size, 6), rng)  # along axis 0 (strided gather)
            _check_fused(x, fmt, spec, 9, 0, rounding, rule, p, False, "wide-axis0")
            x = _data("gaussian", (2, 3, 2 * spec.size), rng)
            _check_fused(x, fmt, spec, 0, 2, rounding, rule, p, False, "3d")
    if fmt in BLOCKED:
        for spec in (HadamardSpec(16, "per_step", seed=1),
                     HadamardSpec(16, "fixed", vector=PUBLISHED)):
            x = _data("outliers", (48, 80), rng)  # tile rows: 48 / 80, not multiples of 32
            for axis in (1, 0):
                _check_fused(x, fmt, spec, 2, axis, rounding, "ceil", _prescales(fmt)[-1],
                             True, "tiles")


def test_fused_quantize_every_isa(restore_runtime):
    """The fused path on every SIMD path and at 1 and 2 threads."""
    rng = np.random.default_rng(8)
    x = make("outliers", (300, 256), rng)
    spec = HadamardSpec(128, "per_step", seed=77)
    for isa in ISAS:
        ft.set_isa(isa)
        for t in (1, 2):
            ft.set_num_threads(t)
            for fmt in ("mxfp4", "nvfp4", "fp8_e5m2"):
                _check_fused(x, fmt, spec, 3, 1, "stochastic", "rceil", 0.75, False,
                             f"isa={isa} threads={t}")
