"""fp4train.nn: layers with explicit forward/backward over numpy arrays.

Public: Parameter, Module, Linear, Hadamard (more layers are added by their own modules).
"""
from .hadamard import Hadamard
from .linear import Linear
from .module import Module, Parameter

__all__ = ["Hadamard", "Linear", "Module", "Parameter"]
