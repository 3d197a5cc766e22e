"""Functions that work on plain numbers and on ``Value`` nodes alike.

``functional.tanh(0.5)`` returns a float; ``functional.tanh(Value(0.5))`` returns a
``Value`` recorded in the graph. Write a ``define_op`` derivative rule with these
functions (``functional.cos(x)``, not ``math.cos(x)``), so that one rule serves both
the fast first-order path (floats) and the graph-building higher-order path (Values).

Every function here is derived from its op's entry in the op table
(:mod:`engine.ops`): the entry's forward function on numbers, its ``Value`` method on
Values, its one-line docstring. Each is bound by name below (one line per op, so
readers and type checkers see the API); ``tests/engine/test_functional.py`` checks
that the names are exactly the table's.

This module does not import :class:`engine.Value`: anything that is not a plain
number is asked for the op's method (``x.tanh()``, ``x.__truediv__(y)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from engine import ops
from engine.ops import Op

__all__ = [
    "add",
    "mul",
    "div",
    "neg",
    "identity",
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
    "pi",
    "e",
    "CONSTANTS",
]

T = TypeVar("T")


class Unary(Protocol):
    """A function of one number or Value (a float for a number, a Value for a Value)."""

    def __call__(self, x: T, /) -> T: ...


class UnaryWithParam(Protocol):
    """A function of one number or Value and a constant (leaky_relu's slope)."""

    def __call__(self, x: T, p: float = ..., /) -> T: ...


class Binary(Protocol):
    """A function of two numbers or Values (a Value when either is one)."""

    def __call__(self, x: Any, y: Any, /) -> Any: ...


def _named(function: Any, op: Op) -> None:
    function.__name__ = function.__qualname__ = op.function
    function.__doc__ = op.doc
    function.__module__ = __name__
    function.op = op  # the table entry it applies


def _unary(op: Op) -> Unary:
    """The functional form of a unary op of the table."""

    def function(x: Any) -> Any:
        return op(x)

    _named(function, op)
    return function


def _with_param(op: Op) -> UnaryWithParam:
    """The functional form of a unary op with a constant (``leaky_relu(x, slope)``)."""

    def function(x: Any, *p: Any) -> Any:
        return op(x, *p)

    _named(function, op)
    return function


def _binary(op: Op) -> Binary:
    """The functional form of a binary op of the table."""

    def function(x: Any, y: Any) -> Any:
        return op(x, y)

    _named(function, op)
    return function


add = _binary(ops.ADD)
mul = _binary(ops.MUL)
div = _binary(ops.DIV)
neg = _unary(ops.NEG)
identity = _unary(ops.IDENTITY)
# ``x ** p`` with a number p is the op "**", with a Value p the op "pow": the Value's
# ``__pow__`` picks; on two numbers both have the same forward.
power = _binary(ops.POW2)
exp = _unary(ops.EXP)
log = _unary(ops.LOG)
sqrt = _unary(ops.SQRT)
tanh = _unary(ops.TANH)
sigmoid = _unary(ops.SIGMOID)
relu = _unary(ops.RELU)
leaky_relu = _with_param(ops.LEAKY_RELU)
softplus = _unary(ops.SOFTPLUS)
sin = _unary(ops.SIN)
cos = _unary(ops.COS)
atan = _unary(ops.ATAN)
absolute = _unary(ops.ABS)
maximum = _binary(ops.MAX)

#: pi and e, exactly Python's (``math.pi``, ``math.e``).
pi: float = math.pi
e: float = math.e

#: The named constants, by name (the command line's expression language uses them).
CONSTANTS: Mapping[str, float] = {"pi": pi, "e": e}
