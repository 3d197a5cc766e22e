"""Function transforms in JAX's shape: ``grad``, ``value_and_grad``, ``hessian``.

``grad(f)`` is a new function that returns df/dx. Called with plain numbers it
returns floats; called with Values (as happens when transforms are nested,
``grad(grad(f))``) it returns Values carrying a graph, so the result can be
differentiated again.

Each differentiated argument is first passed through an ``identity`` node: a fresh
variable that still leads back to the caller's Value. Without it,
``grad(lambda y: x * y)(x)`` inside an outer ``grad`` would differentiate with
respect to both occurrences of ``x`` at once ("perturbation confusion").

The arguments not differentiated reach ``f`` as constants of the graph, as JAX's
tracers and PyTorch's tensors do: a float (or any real number that is not an int:
numpy floats, ``Fraction``) becomes a constant ``Value``, so ``th.sin()`` works on it
as on the differentiated ones, and nothing is differentiated with respect to it. An
``int`` stays an ``int``, since counts and exponents need one (``range(n)``,
``x ** n`` at a negative x); write ``2.0`` to get a constant Value instead. Values,
bools and anything else pass unchanged.

The transforms record even inside ``no_grad()`` (as ``torch.func.grad`` does):
``f`` itself may still use ``no_grad()`` for parts that should stay constant.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, Union

from engine.autograd import gradients
from engine.checks import is_real, to_float
from engine.mode import enable_grad
from engine.value import Value

__all__ = ["grad", "value_and_grad", "hessian"]

Argnums = Union[int, tuple[int, ...]]  # noqa: UP007 - a runtime alias, valid on 3.10


def _argnums(argnums: Argnums, nargs: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) and not isinstance(argnums, bool) else argnums
    if not isinstance(nums, tuple) or not nums:
        raise TypeError(
            f"{name}: argnums must be an int or a non-empty tuple of ints, not {argnums!r}"
        )
    for i in nums:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"{name}: argnums must hold ints, got {i!r}")
        if not -nargs <= i < nargs:
            raise ValueError(
                f"{name}: argnums {i} is out of range for {nargs} positional argument(s)"
            )
    normalized = tuple(i % nargs for i in nums)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{name}: argnums {argnums!r} names the same argument twice")
    return normalized


def _variables(
    args: tuple[Any, ...], nums: tuple[int, ...], name: str
) -> tuple[list[Any], list[Value], bool]:
    """The arguments ``f`` gets: a fresh variable for each differentiated one, a
    constant Value for each other real number that is not an int (module docstring).
    Also the variables, and whether any differentiated argument was a Value (nested)."""
    new_args = [
        Value(to_float(a, f"{name}: argument {i}"))
        if i not in nums and is_real(a) and not isinstance(a, numbers.Integral)
        else a
        for i, a in enumerate(args)
    ]
    variables = []
    nested = False
    for i in nums:
        a = args[i]
        if isinstance(a, Value):
            nested = True
            x = a.identity()
        else:
            x = Value(to_float(a, f"{name}: argument {i} (differentiated)"))
        new_args[i] = x
        variables.append(x)
    return new_args, variables, nested


def _call(f: Callable[..., Any], new_args: list[Any], nums: tuple[int, ...], name: str) -> Value:
    """``f(*new_args)`` as a scalar Value; an int argument left as an int that ``f``
    treats as a Value (``n.sin()``) gets an error that says what to write."""
    try:
        out = f(*new_args)
    except AttributeError as e:
        obj = getattr(e, "obj", None)
        for i, a in enumerate(new_args):
            if i not in nums and type(a) is int and a is obj:
                raise AttributeError(
                    f"{e} (argument {i} of {_name(f)}, {a!r}: {name} passes the int "
                    f"arguments it does not differentiate unchanged, as counts and exponents "
                    f"need; write {a}.0 to get a constant Value)"
                ) from e
        raise
    if isinstance(out, Value):
        return out
    if not is_real(out):
        raise TypeError(
            f"{_name(f)} must return a scalar Value or number, not {type(out).__name__}"
        )
    return Value(to_float(out, f"the result of {_name(f)}"))


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", repr(f))


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., tuple[Any, Any]]:
    """A function returning ``(f(*args), df/d args[argnums])``.

    With a tuple ``argnums`` the gradient is a tuple, one entry per argument.
    """

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "value_and_grad")
        with enable_grad():  # as torch.func.grad: an outer no_grad() must not zero the result
            new_args, variables, nested = _variables(args, nums, "value_and_grad")
            out = _call(f, new_args, nums, "value_and_grad")
            gs = gradients(out, variables, create_graph=nested)
        value = out if nested else out.data
        return value, (gs[0] if isinstance(argnums, int) else gs)

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """A function returning df/d args[argnums] (a tuple for a tuple ``argnums``).

    >>> grad(grad(lambda x: x**3))(2.0)
    12.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def hessian(f: Callable[..., Any], argnums: Argnums | None = None) -> Callable[..., Any]:
    """A function returning the matrix of second derivatives of ``f``.

    By default over all positional arguments, as a list of rows:
    ``hessian(lambda x, y: x*x*y + y**3)(1.0, 2.0) == [[4.0, 2.0], [2.0, 12.0]]``.
    With an int ``argnums`` it returns the single number d²f/dx².
    """

    def hessian_f(*args: Any) -> Any:
        nums = _argnums(
            tuple(range(len(args))) if argnums is None else argnums, len(args), "hessian"
        )
        with enable_grad():
            new_args, variables, nested = _variables(args, nums, "hessian")
            out = _call(f, new_args, nums, "hessian")
            first = gradients(out, variables, create_graph=True)
            rows = [list(gradients(gi, variables, create_graph=nested)) for gi in first]
        if isinstance(argnums, int):
            return rows[0][0]
        return rows

    hessian_f.__name__ = f"hessian({getattr(f, '__name__', 'f')})"
    return hessian_f
