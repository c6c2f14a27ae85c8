"""fp4train.nn: layers with explicit forward/backward over numpy arrays.

Public: Parameter, Module, Hadamard (more layers are added by their own modules).
"""
from .hadamard import Hadamard
from .module import Module, Parameter

__all__ = ["Hadamard", "Module", "Parameter"]
