"""The engine's two checks on numbers: "is this a real number" and "is this finite".

Every public function that takes a number goes through :func:`to_float` (or
:func:`is_real`), so the rules are the same everywhere: any ``numbers.Real`` that is
not a ``bool`` is accepted (``int``, ``float``, ``fractions.Fraction``, numpy
integers and floats) and converted to a Python float; ``bool``, ``complex``, ``str``
and ``None`` are refused with a ``TypeError`` that names what was given.

>>> from fractions import Fraction
>>> to_float(Fraction(1, 4), "x")
0.25
>>> to_float(True, "x")
Traceback (most recent call last):
...
TypeError: x must be a real number, not bool (True)
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["is_real", "is_finite", "to_float", "to_int"]


def is_real(x: Any) -> bool:
    """True for a real number that is not a bool (int, float, Fraction, numpy scalars)."""
    if type(x) is float or type(x) is int:
        return True
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_finite(f: float) -> bool:
    """True unless ``f`` is inf or nan (``f - f`` is 0.0 exactly for finite floats)."""
    return f - f == 0.0


def to_float(x: Any, what: str, *, finite: bool = True) -> float:
    """``x`` as a Python float, or an error that names ``what`` and the value.

    ``TypeError`` for anything but a real number (bool included); ``ValueError`` for
    a number too large for a float, and, with ``finite=True``, for inf and nan.
    """
    if type(x) is float:
        f = x
    else:
        if not is_real(x):
            raise TypeError(f"{what} must be a real number, not {type(x).__name__} ({x!r})")
        try:
            f = float(x)
        except OverflowError:
            raise ValueError(f"{what} is too large for a float: {_short(x)}") from None
    if finite and f - f != 0.0:
        raise ValueError(f"{what} must be finite, got {f!r}")
    return f


def _short(x: Any) -> str:
    """``repr(x)``, cut to 40 characters (a 400-digit int is no help in a message)."""
    text = repr(x)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def to_int(x: Any, what: str) -> int:
    """``x`` as a Python int: any ``numbers.Integral`` but bool (numpy integers too),
    or a ``TypeError`` naming ``what`` and the value (a float such as 3.0 included)."""
    if type(x) is int:
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{what} must be an int, not {type(x).__name__} ({x!r})")
    return int(x)
