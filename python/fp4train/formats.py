"""Format, rounding and scale-rule names (mirrors csrc/formats/formats.h).

Public: FORMATS, ROUNDINGS, SCALE_RULES, format_info.
"""
from . import _core

#: Every quantization format name, in the order of DESIGN §2's table.
FORMATS = tuple(_core.format_names())
#: Rounding modes: half to even, half away from zero, stochastic.
ROUNDINGS = ("nearest", "nearest_away", "stochastic")
#: E8M0 scale rules of the MX formats (ignored by the others).
SCALE_RULES = ("floor", "rceil", "ceil", "even")


def format_info(name):
    """Facts about a format: element type and bits, block size, scale types.

    >>> format_info("mxfp4")["block"]
    32
    """
    _check_name("format", name, FORMATS)
    return dict(_core.format_info(name))


def _check_name(arg, value, allowed):
    if not isinstance(value, str):
        raise TypeError(f"argument '{arg}': expected a str (one of {', '.join(allowed)}), "
                        f"got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"argument '{arg}': expected one of {', '.join(allowed)}, got {value!r}")
