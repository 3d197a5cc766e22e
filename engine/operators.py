"""Plain float math: the forward value of every elementwise op.

This is the bottom layer of the engine (minitorch calls it ``operators.py``). Each
function takes and returns Python floats, checks its domain, and raises an error
that names the op and the offending input, so nothing above it ever sees a complex
number, a silent NaN or an anonymous ``math domain error``.

The functions that overflow naively (``tanh``, ``sigmoid``, ``softplus``) use the
numerically stable forms: they never evaluate ``exp`` of a large positive number.
"""

from __future__ import annotations

import math

__all__ = [
    "add",
    "mul",
    "neg",
    "div",
    "power",
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
    "atan",
    "absolute",
    "maximum",
]

#: ``exp(x)`` overflows float64 for x above this (``math.log(sys.float_info.max)``).
EXP_MAX = 709.782712893384


def add(x: float, y: float) -> float:
    """x + y; raises ``OverflowError`` instead of returning inf."""
    r = x + y
    if r - r != 0.0:  # inf, or nan from inf inputs
        raise OverflowError(f"{x!r} + {y!r} overflows float64")
    return r


def mul(x: float, y: float) -> float:
    """x * y; raises ``OverflowError`` instead of returning inf."""
    r = x * y
    if r - r != 0.0:
        raise OverflowError(f"{x!r} * {y!r} overflows float64")
    return r


def neg(x: float) -> float:
    """-x."""
    return -x


def div(x: float, y: float) -> float:
    """x / y; refuses y == 0 with a ``ZeroDivisionError`` naming both operands, and a
    quotient too large for a float with an ``OverflowError``."""
    if y == 0.0:
        raise ZeroDivisionError(f"division by zero: {x!r} / {y!r}")
    r = x / y
    if r - r != 0.0:  # 1.0 / 1e-310
        raise OverflowError(f"{x!r} / {y!r} overflows float64")
    return r


def power(x: float, p: float) -> float:
    """x ** p for real results only.

    Refuses ``0 ** negative`` (``ZeroDivisionError``), a negative base with a
    non-integer exponent (``ValueError``: the result would be complex) and results
    too large for a float (``OverflowError``).
    """
    if x == 0.0 and p < 0.0:
        raise ZeroDivisionError(f"0.0 ** {p!r}: zero cannot be raised to a negative power")
    if x < 0.0 and not p.is_integer():
        raise ValueError(
            f"({x!r}) ** {p!r} is not a real number: a negative base needs an integer exponent"
        )
    try:
        return x**p
    except OverflowError:
        raise OverflowError(f"({x!r}) ** {p!r} overflows float64") from None


def exp(x: float) -> float:
    """e**x; raises ``OverflowError`` above ~709.78 instead of returning inf."""
    if x > EXP_MAX:
        raise OverflowError(f"exp({x!r}) overflows float64 (inputs above {EXP_MAX:.2f} do)")
    return math.exp(x)


def log(x: float) -> float:
    """Natural logarithm; only defined for x > 0."""
    if x <= 0.0:
        raise ValueError(f"log({x!r}) is undefined: log needs an input > 0")
    return math.log(x)


def sqrt(x: float) -> float:
    """Square root; only defined for x >= 0."""
    if x < 0.0:
        raise ValueError(f"sqrt({x!r}) is undefined: sqrt needs an input >= 0")
    return math.sqrt(x)


def tanh(x: float) -> float:
    """Hyperbolic tangent (``math.tanh`` never overflows: tanh(±1000) = ±1)."""
    return math.tanh(x)


def sigmoid(x: float) -> float:
    """1 / (1 + e**-x), evaluated so that exp never sees a large positive argument."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def relu(x: float) -> float:
    """max(x, 0)."""
    return x if x > 0.0 else 0.0


def leaky_relu(x: float, slope: float = 0.01) -> float:
    """x for x > 0, slope * x otherwise."""
    return x if x > 0.0 else slope * x


def softplus(x: float) -> float:
    """log(1 + e**x) in the stable form max(x, 0) + log1p(e**-|x|)."""
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


def sin(x: float) -> float:
    """Sine."""
    return math.sin(x)


def cos(x: float) -> float:
    """Cosine."""
    return math.cos(x)


def atan(x: float) -> float:
    """Arctangent, in (-pi/2, pi/2); defined for every x."""
    return math.atan(x)


def absolute(x: float) -> float:
    """|x|."""
    return abs(x)


def maximum(x: float, y: float) -> float:
    """The larger of x and y (x on a tie)."""
    return x if x >= y else y
