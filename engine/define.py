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
import keyword
from collections.abc import Callable
from typing import Any

from engine.checks import is_finite, is_real
from engine.ops import Op, register
from engine.value import Value, _lift

__all__ = ["CustomOp", "define_op"]


def _op_name(name: Any) -> str:
    """``name`` as a plain ``str`` that is safe as a label: an ASCII identifier.

    A ``str`` subclass is turned into a plain ``str`` exactly once, by
    ``str.__str__`` (which no override reaches: ``str(s)`` would call the subclass's
    own ``__str__``), and only that plain copy is checked and kept.
    """
    if not isinstance(name, str):
        raise TypeError(f"define_op: the name must be a str, not {type(name).__name__} ({name!r})")
    text = str.__str__(name)
    if not text:
        raise ValueError("define_op: an op needs a non-empty string name, got ''")
    if not (text.isascii() and text.isidentifier()) or keyword.iskeyword(text):
        raise ValueError(
            f"define_op: the name {text!r} is not allowed; an op name is an ASCII "
            "identifier (letters, digits and _, not starting with a digit, not a keyword)"
        )
    return text


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


def _check_rule_arity(derivative: Callable[..., Any], n: int, name: str) -> None:
    """Refuse, now, a rule that cannot be called as ``(x, out)`` / ``(x, y, out)``.

    A rule whose signature cannot be read (some built-in functions) is let through.
    """
    try:
        signature = inspect.signature(derivative)
    except (TypeError, ValueError):
        return
    expected = "(x, out)" if n == 1 else "(x, y, out)"
    try:
        signature.bind(*range(n + 1))
    except TypeError:
        raise TypeError(
            f"define_op({name!r}): the derivative of a {n}-input op is called as "
            f"derivative{expected}, but {getattr(derivative, '__name__', derivative)!r} "
            f"takes {signature}"
        ) from None


def _checked_float(name: str, what: str, result: Any, args: tuple[Any, ...]) -> float:
    if not is_real(result):
        raise TypeError(
            f"op {name!r}: {what} returned {type(result).__name__} ({result!r}) for {args}"
        )
    result = float(result)
    if not is_finite(result):
        raise ValueError(f"op {name!r}: {what} returned {result!r} for inputs {args}")
    return result


_WRITE_WITH_FUNCTIONAL = (
    "write the rule with arithmetic on its arguments and engine.functional "
    "(functional.cos(x), not math.cos(x); no .data), so that on Values it returns a "
    "Value whose own derivative is right (a constant c: return x * 0.0 + c)"
)


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

    ``name`` is an ASCII identifier (it labels nodes, drawings and generated code).
    ``forward`` maps float(s) to a float. ``derivative`` is ``(x, out) -> d out/dx``
    for one input, ``(x, y, out) -> (d out/dx, d out/dy)`` for two; ``out`` is the
    op's result; a rule that cannot be called so is refused here. Write the rule with
    arithmetic and :mod:`engine.functional`: for higher derivatives (``hessian``,
    ``grad`` of ``grad``) it is called on Values and must return Values, and a rule
    that returns a plain number there (``math.cos(x)``, ``x.data``) raises a
    ``TypeError`` naming the op instead of giving a second derivative of 0.

    Without a derivative the op can only run under ``no_grad()``: recording it raises
    ``NotImplementedError`` naming the op. Defining the same name again replaces the
    op (re-running a notebook cell works); the engine's built-in names (``exp``,
    ``tanh``, ...) are refused.
    """
    name = _op_name(name)
    if not callable(forward):
        raise TypeError(f"define_op({name!r}): forward must be callable, not {forward!r}")
    if derivative is not None and not callable(derivative):
        raise TypeError(
            f"define_op({name!r}): derivative must be callable or None, not {derivative!r}"
        )
    n = _arity(forward, name) if arity is None else arity
    if n not in (1, 2):
        raise ValueError(f"define_op({name!r}): only ops of 1 or 2 inputs are supported, got {n}")
    if derivative is not None:
        _check_rule_arity(derivative, n, name)

    def checked_forward(*args: float) -> float:
        return _checked_float(name, "forward", forward(*args), args)

    checked_derivative = None
    if derivative is not None:
        rule = derivative

        def checked_derivative(*args: Any) -> Any:
            on_values = any(isinstance(a, Value) for a in args)
            if not on_values:  # the eager path: floats in, floats out
                result = rule(*args)
            else:  # higher-order gradients are being recorded
                try:
                    result = rule(*args)
                except TypeError as e:
                    raise TypeError(
                        f"op {name!r}: the derivative rule failed on Values, as it is "
                        f"called while higher-order gradients are recorded ({e}); "
                        f"{_WRITE_WITH_FUNCTIONAL}"
                    ) from e
            if n == 2:
                try:
                    dx, dy = result
                except (TypeError, ValueError):
                    raise TypeError(
                        f"op {name!r}: the derivative of a two-input op must return a pair "
                        f"(d out/dx, d out/dy), got {result!r} for {args}"
                    ) from None
                return (_check_local(dx, args, on_values), _check_local(dy, args, on_values))
            return _check_local(result, args, on_values)

        def _check_local(d: Any, args: tuple[Any, ...], on_values: bool) -> Any:
            if isinstance(d, Value):
                return d
            if on_values:
                raise TypeError(
                    f"op {name!r}: the derivative rule returned the plain number {d!r} "
                    "for Value inputs while higher-order gradients are recorded, so its "
                    f"own derivative would silently be 0; {_WRITE_WITH_FUNCTIONAL}"
                )
            return _checked_float(name, "derivative", d, args)

    checked_forward.__doc__ = forward.__doc__
    return CustomOp(register(Op(name, n, checked_forward, checked_derivative), replace=True))
