"""Argument checks shared by the Python modules: errors name the argument.

Internal: check_int, check_float, check_keys.
"""
import math
import numbers

import numpy as np


def check_int(name, value, minimum):
    """An int (numpy ints too, never bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"argument '{name}': expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"argument '{name}': expected an int >= {minimum}, got {value}")
    return int(value)


def check_float(name, value, lo=None, hi=None, lo_open=False, hi_open=False):
    """A finite real in [lo, hi] (open ends when asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"argument '{name}': expected a float, got {type(value).__name__}")
    v = float(value)
    ok = math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise ValueError(f"argument '{name}': expected a finite float in {rng}, got {value}")
    return v


def check_keys(name, d, allowed):
    """A dict whose keys are all in ``allowed`` (a from_dict's input)."""
    if not isinstance(d, dict):
        raise TypeError(f"argument '{name}': expected a dict, got {type(d).__name__}")
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise ValueError(f"argument '{name}': unknown keys {unknown} (expected keys: "
                         f"{', '.join(allowed)})")
    return d
