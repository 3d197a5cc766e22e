"""Grad mode: whether ops record their parents and local derivatives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine import value as _value

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]


@contextmanager
def no_grad() -> Iterator[None]:
    """Within this block ops record no parents: results are leaves, cheaper to make.

    Use it for evaluation, for optimizer updates and for numerical differences.
    Works as a decorator too. The switch is process-wide (not per thread).

    >>> from engine import Value, no_grad
    >>> with no_grad():
    ...     y = Value(2.0) * 3
    >>> y.is_leaf
    True
    """
    _value.trace_event("no_grad() block")
    previous = _value._recording
    _value._recording = False
    try:
        yield
    finally:
        _value._recording = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside a ``no_grad()`` block."""
    previous = _value._recording
    _value._recording = True
    try:
        yield
    finally:
        _value._recording = previous


def is_grad_enabled() -> bool:
    """True when ops record their parents (the default)."""
    return _value._recording
