"""Shared pytest fixtures: deterministic data generators and thread control."""
import numpy as np
import pytest

import fp4train as ft


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def threads():
    """Yields a setter for the fp4train thread count; restores it afterwards."""
    before = ft.get_num_threads()
    yield ft.set_num_threads
    ft.set_num_threads(0)
    assert ft.get_num_threads() >= 1 and before >= 1


def make_data(kind, shape, rng):
    """Realistic test tensors: gaussian, heavy-tailed, outlier channels."""
    if kind == "gaussian":
        x = rng.standard_normal(shape)
    elif kind == "heavy":
        x = rng.standard_t(2.0, size=shape)
    elif kind == "outliers":
        x = rng.standard_normal(shape)
        flat = x.reshape(-1, shape[-1])
        flat[:, :: max(1, shape[-1] // 7)] *= 60.0
    elif kind == "tiny":
        x = rng.standard_normal(shape) * 1e-39  # float32 subnormals
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(x, dtype=np.float32)
