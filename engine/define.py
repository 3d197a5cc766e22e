"""``define_op``: add an elementwise op of your own, with its derivative rule.

>>> import math
>>> from engine import Value, define_op, functional as F
>>> softsign = define_op(
...     "softsign",
...     forward=lambda x: x / (1 + abs(x)),
...     derivative=lambda x, out: 1 / (1 + abs(x)) ** 2,
... )
>>> y = softsign(Value(1.0)); y.backward(); y.data
0.5

The derivative is written once, with arithmetic and :mod:`engine.functional`, so it
works on floats (eager backward) and on Values (higher derivatives) alike; the op
then works in ``backward()``, ``grad``/``hessian`` and ``gradcheck``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from engine.ops import Op, register
from engine.value import Value, _lift

__all__ = ["CustomOp", "define_op"]


def _arity(forward: Callable[..., Any], name: str) -> int:
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        raise TypeError(
            f"define_op({name!r}): cannot read the arity of {forward!r}; pass arity="
        ) from None
    required = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(required)


def _checked_float(name: str, what: str, result: Any, args: tuple[Any, ...]) -> float:
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        raise TypeError(
            f"op {name!r}: {what} returned {type(result).__name__} ({result!r}) for {args}"
        )
    result = float(result)
    if not math.isfinite(result):
        raise ValueError(f"op {name!r}: {what} returned {result!r} for inputs {args}")
    return result


class CustomOp:
    """A user-defined op: call it on Values (recorded) or on numbers (a float)."""

    def __init__(self, op: Op) -> None:
        self.op = op
        self.__name__ = op.name
        self.__doc__ = getattr(op.forward, "__doc__", None)

    def __repr__(self) -> str:
        return f"<op {self.op.name!r}, arity {self.op.arity}>"

    def __call__(self, *args: Any) -> Any:
        op = self.op
        if len(args) != op.arity:
            raise TypeError(f"op {op.name!r} takes {op.arity} argument(s), got {len(args)}")
        if not any(isinstance(a, Value) for a in args):
            return op.forward(*[_lift(a, op.name).data for a in args])
        x = _lift(args[0], op.name)
        if op.arity == 1:
            return x._apply1(op)
        return x._apply2(_lift(args[1], op.name), op)


def define_op(
    name: str,
    forward: Callable[..., Any],
    derivative: Callable[..., Any] | None = None,
    *,
    arity: int | None = None,
) -> CustomOp:
    """Register an op called ``name`` and return the function that applies it.

    ``forward`` maps float(s) to a float. ``derivative`` is ``(x, out) -> d out/dx``
    for one input, ``(x, y, out) -> (d out/dx, d out/dy)`` for two; ``out`` is the
    op's result. Without a derivative the op can only run under ``no_grad()``:
    recording it raises ``NotImplementedError`` naming the op. Defining the same name
    again replaces the op (re-running a notebook cell works); the engine's built-in
    names (``exp``, ``*``, ...) are refused.
    """
    if not callable(forward):
        raise TypeError(f"define_op({name!r}): forward must be callable, not {forward!r}")
    if derivative is not None and not callable(derivative):
        raise TypeError(
            f"define_op({name!r}): derivative must be callable or None, not {derivative!r}"
        )
    n = _arity(forward, name) if arity is None else arity
    if n not in (1, 2):
        raise ValueError(f"define_op({name!r}): only ops of 1 or 2 inputs are supported, got {n}")

    def checked_forward(*args: float) -> float:
        return _checked_float(name, "forward", forward(*args), args)

    checked_derivative = None
    if derivative is not None:

        def checked_derivative(*args: Any) -> Any:
            result = derivative(*args)
            if n == 2:
                try:
                    dx, dy = result
                except (TypeError, ValueError):
                    raise TypeError(
                        f"op {name!r}: the derivative of a two-input op must return a pair "
                        f"(d out/dx, d out/dy), got {result!r} for {args}"
                    ) from None
                return (_check_local(dx, args), _check_local(dy, args))
            return _check_local(result, args)

        def _check_local(d: Any, args: tuple[Any, ...]) -> Any:
            if isinstance(d, Value):
                return d
            return _checked_float(name, "derivative", d, args)

    checked_forward.__doc__ = forward.__doc__
    return CustomOp(register(Op(name, n, checked_forward, checked_derivative), replace=True))
