"""Checks of sampler arguments, importable without JAX (configs are checked with them
before anything heavy is imported)."""

import math
from typing import Any

import numpy as np

__all__ = ["check_integer", "check_positive", "check_probability"]


def check_integer(name: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a positive number.

    Callables (schedules) are evaluated at step 0, so an obviously wrong schedule fails
    at construction time instead of inside a compiled loop.
    """
    shown = value
    if callable(value):
        value = value(0)
        shown = f"schedule with value {value} at step 0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a schedule, got {shown!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {shown}")


def check_probability(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a number strictly between 0 and 1."""
    try:
        inside = 0.0 < float(value) < 1.0
    except (TypeError, ValueError):
        inside = False
    if not inside:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
