"""Layers and models (filled in by the nn issue); for now: Parameter and functional."""

from . import functional
from .parameter import Parameter

__all__ = ["Parameter", "functional"]
