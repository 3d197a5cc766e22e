"""Functions that work on plain numbers and on ``Value`` nodes alike.

``functional.tanh(0.5)`` returns a float; ``functional.tanh(Value(0.5))`` returns a
``Value`` recorded in the graph. The derivative rules in :mod:`engine.ops` are
written with these functions, so one rule serves both the fast first-order path
(floats) and the graph-building higher-order path (Values).

This module does not import :class:`engine.Value` (that would be an import cycle:
``Value`` is built on the rules that use these functions); anything that is not a
plain number is asked for the method of the same name.
"""

from __future__ import annotations

from typing import Any, TypeVar

from engine import operators

__all__ = [
    "exp",
    "log",
    "sqrt",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "sin",
    "cos",
    "maximum",
]

T = TypeVar("T")


def _number(x: Any, name: str) -> float | None:
    """``x`` as a float when it is a plain number, None when it should be a Value."""
    if type(x) is float:
        return x
    if isinstance(x, (bool, complex)):
        raise TypeError(f"{name}() takes a real number or a Value, not {type(x).__name__} ({x!r})")
    if isinstance(x, (int, float)):
        return float(x)
    if not hasattr(x, name):
        raise TypeError(f"{name}() takes a real number or a Value, not {type(x).__name__} ({x!r})")
    return None


def exp(x: T) -> T:
    """e**x."""
    f = _number(x, "exp")
    return operators.exp(f) if f is not None else x.exp()  # type: ignore[attr-defined, return-value]


def log(x: T) -> T:
    """Natural logarithm."""
    f = _number(x, "log")
    return operators.log(f) if f is not None else x.log()  # type: ignore[attr-defined, return-value]


def sqrt(x: T) -> T:
    """Square root."""
    f = _number(x, "sqrt")
    return operators.sqrt(f) if f is not None else x.sqrt()  # type: ignore[attr-defined, return-value]


def tanh(x: T) -> T:
    """Hyperbolic tangent."""
    f = _number(x, "tanh")
    return operators.tanh(f) if f is not None else x.tanh()  # type: ignore[attr-defined, return-value]


def sigmoid(x: T) -> T:
    """Logistic sigmoid 1 / (1 + e**-x)."""
    f = _number(x, "sigmoid")
    if f is not None:
        return operators.sigmoid(f)  # type: ignore[return-value]
    return x.sigmoid()  # type: ignore[attr-defined, no-any-return]


def relu(x: T) -> T:
    """max(x, 0)."""
    f = _number(x, "relu")
    return operators.relu(f) if f is not None else x.relu()  # type: ignore[attr-defined, return-value]


def leaky_relu(x: T, slope: float = 0.01) -> T:
    """x for x > 0, slope * x otherwise."""
    f = _number(x, "leaky_relu")
    if f is not None:
        return operators.leaky_relu(f, slope)  # type: ignore[return-value]
    return x.leaky_relu(slope)  # type: ignore[attr-defined, no-any-return]


def softplus(x: T) -> T:
    """log(1 + e**x), stable for large |x|."""
    f = _number(x, "softplus")
    if f is not None:
        return operators.softplus(f)  # type: ignore[return-value]
    return x.softplus()  # type: ignore[attr-defined, no-any-return]


def sin(x: T) -> T:
    """Sine."""
    f = _number(x, "sin")
    return operators.sin(f) if f is not None else x.sin()  # type: ignore[attr-defined, return-value]


def cos(x: T) -> T:
    """Cosine."""
    f = _number(x, "cos")
    return operators.cos(f) if f is not None else x.cos()  # type: ignore[attr-defined, return-value]


def maximum(x: Any, y: Any) -> Any:
    """The larger of x and y; recorded (gradient to the larger) when either is a Value."""
    fx = _number(x, "max")
    fy = _number(y, "max")
    if fx is not None and fy is not None:
        return operators.maximum(fx, fy)
    if fx is not None:
        return y.max(x)  # the tie goes to y here: max is symmetric in value
    return x.max(y)
