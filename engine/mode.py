"""Grad mode: whether ops record their parents and local derivatives.

The mode is per thread, as in PyTorch: ``no_grad()`` in one thread leaves every
other thread recording, and each block puts back exactly the mode it found on exit,
however blocks in different threads overlap. A new thread starts with recording on.
The switch itself lives in :mod:`engine.value` (``set_grad_enabled``,
``grad_enabled``), where the ops read it; this module only calls those functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine import value as _value

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]


@contextmanager
def no_grad() -> Iterator[None]:
    """Within this block ops record no parents: results are leaves, cheaper to make.

    Use it for evaluation, for optimizer updates and for numerical differences.
    Works as a decorator too. The switch is per thread: other threads keep recording.

    >>> from engine import Value, no_grad
    >>> with no_grad():
    ...     y = Value(2.0) * 3
    >>> y.is_leaf
    True
    """
    _value.trace_event("no_grad() block")
    previous = _value.set_grad_enabled(False)
    try:
        yield
    finally:
        _value.set_grad_enabled(previous)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on (for this thread) inside a ``no_grad()`` block."""
    previous = _value.set_grad_enabled(True)
    try:
        yield
    finally:
        _value.set_grad_enabled(previous)


def is_grad_enabled() -> bool:
    """True when ops record their parents on this thread (the default)."""
    return _value.grad_enabled()
