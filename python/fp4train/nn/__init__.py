"""fp4train.nn: layers with explicit forward/backward over numpy arrays.

Public: Parameter, Module (more layers are added by their own modules).
"""
from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
