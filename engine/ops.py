"""The op table: every primitive, defined once, with everything derived from it.

One entry (:class:`Op`) holds an op's name, its float forward function, its
local-derivative rule, how it prints, how generated code spells its forward and its
derivatives, the names it has as a ``Value`` method, an :mod:`engine.functional`
function and a command-line function, and the data its tests need (a domain where it
is differentiable, fixed points, and its kinks and edges). Derived from the table:
:mod:`engine.functional`, ``engine.compile``'s and ``engine.vmap``'s generated code,
``engine.testing``'s
``DOMAINS`` and the command line's function list (``viz.expr.FUNCTIONS``).

A derivative rule is a small pure function written once with ordinary arithmetic
and the table's own ops (``COS(x)``, which work on floats and on Values alike), so:

* the eager path calls it with floats when the op runs and stores the numbers on the
  new node (``Value.local_grads``), so ``backward()`` is one generic loop;
* the higher-order path (``gradients(..., create_graph=True)``) calls the very same
  rule with the node's parents as Values, so the derivative is itself a graph that
  can be differentiated again.

Rule signatures (``out`` is the op's own result, often the cheapest way to state a
derivative, as in tanh' = 1 - tanh²):

* unary: ``rule(x, out) -> dout/dx``
* unary with a constant parameter (``x ** 3``, ``leaky_relu(x, 0.2)``):
  ``rule(x, out, p) -> dout/dx``
* binary: ``rule(x, y, out) -> (dout/dx, dout/dy)``

Non-differentiable points follow PyTorch: relu'(0) = 0, abs'(0) = 0.

Rule of the table: an op's forward value equals Python's own float result for the
same expression, bit for bit (``x / y`` is its own op, not ``x * y ** -1``).

How to add an op (followed once for ``atan``)
---------------------------------------------
1. Forward: a plain-float function in :mod:`engine.operators` that checks its domain
   and raises an error naming the op and the input (``atan`` is defined everywhere:
   it returns ``math.atan(x)``).
2. Rule: ``d_<name>`` below, written with arithmetic and the table's ops, so that it
   works on floats and on Values (``d_atan``: ``1.0 / (1.0 + x * x)``).
3. Entry: ``NAME = register(Op(...))`` at the end of this module, with its printed
   form; its code templates (the *same* float operations in the same order as the
   forward and the rule, so a compiled replay equals eager to the last bit) and the
   functions they call; its batch templates (``batch_forward``/``batch_derivatives``:
   the same math in numpy over arrays of N samples, for ``engine.vmap``); its names
   (``method``, ``function``, ``cli``); its test data (``domain``, ``points``, ``edges``).
4. Names: a one-line method on ``Value`` (``def atan(self): return
   self._apply1(ops.ATAN)``) and a one-line binding in :mod:`engine.functional`
   (``atan = _unary(ops.ATAN)``): explicit, so readers and type checkers see the API.
   The command line's function list and ``engine.testing.DOMAINS`` follow by themselves.
5. Tests: the op's row in ``ROWS`` of ``tests/engine/test_ops.py`` (the Python
   expression its forward must equal bit for bit). ``test_every_op_is_complete``
   fails until steps 3-5 are all done; every other per-op test (rule against central
   differences at first and second order, the recorded node, the fixed points, the
   compiled replay) then covers the new op by itself, and ``python -m tests.mutate``
   checks that a broken rule is caught.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import operators
from engine.checks import is_real, to_float

__all__ = ["Op", "OPS", "BUILTIN_NAMES", "register", "lookup", "builtins", "Interval"]

#: A closed interval ``(lo, hi)`` of test inputs.
Interval = tuple[float, float]


@dataclass(frozen=True)
class Op:
    """One primitive: its name, arity, float forward function and derivative rule,
    how it prints and compiles, where it appears, and how it is tested."""

    name: str
    arity: int
    forward: Callable[..., float]
    derivative: Callable[..., Any] | None
    has_param: bool = False
    #: How the op prints, over ``{x}``, ``{y}`` (second input) and ``{p}`` (constant).
    printed: str = ""
    #: Generated code (``engine.compile``): the forward expression and one derivative
    #: expression per parent, over ``{x}``, ``{y}``, ``{p}`` and ``{out}`` (the node's
    #: value). Each performs the same float operations, in the same order, as
    #: ``forward``/``derivative``, so a replay equals eager evaluation to the last bit.
    #: None: generated code calls ``forward``/``derivative`` themselves.
    code_forward: str | None = None
    code_derivatives: tuple[str, ...] | None = None
    #: The functions the code templates call, by the names they use there.
    code_names: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    #: Batched code (``engine.vmap``): the forward expression and one derivative
    #: expression per parent, over the same fields, where ``{x}``, ``{y}`` and ``{out}``
    #: are numpy float64 arrays of N samples (or plain floats: an operand that does
    #: not depend on the inputs) and ``np`` is numpy. Each must hold for every sample
    #: what ``forward``/``derivative`` give for that sample (to rounding), without
    #: evaluating a branch that overflows where the op does not (vmap runs under
    #: ``np.errstate(over/invalid/divide="raise")``), and return a float array.
    #: None: vmap calls ``forward``/``derivative`` per sample (slow, but correct).
    batch_forward: str | None = None
    batch_derivatives: tuple[str, ...] | None = None
    #: One line with the math, the docstring of the derived functional function.
    doc: str = ""
    #: The ``Value`` method that applies the op (``"exp"``, ``"__truediv__"``).
    method: str | None = None
    #: The reflected method for ``number op Value`` (binary ops: ``"__rtruediv__"``).
    reflected: str | None = None
    #: The :mod:`engine.functional` function that applies it (``"exp"``, ``"div"``).
    function: str | None = None
    #: How the command line spells it: a function name (``"exp"``) or an operator
    #: symbol of the expression grammar (``"/"``, ``"-"`` for negation).
    cli: str | None = None
    #: The constant's default when it may be left out (leaky_relu's slope 0.01).
    param_default: float | None = None
    #: Test data. ``domain``: one union of intervals per argument (x; then y or the
    #: constant p) where the op is defined and differentiable, kept 1e-3 from every
    #: kink and edge so that central differences (eps 1e-6) are valid.
    domain: tuple[tuple[Interval, ...], ...] = ()
    #: A condition the domain cannot say with intervals (max: keep off x == y).
    domain_filter: Callable[..., bool] | None = None
    #: Fixed arguments where central differences are valid (typical values, large ones).
    points: tuple[tuple[float, ...], ...] = ()
    #: Fixed arguments at kinks and edges: the op and its recorded derivative are
    #: defined there (a convention at a kink), but a central difference is not valid.
    edges: tuple[tuple[float, ...], ...] = ()

    def local_derivatives(self, x: Any, y: Any, out: Any) -> tuple[Any, ...]:
        """The rule applied to one node's inputs: a 1-tuple (unary) or 2-tuple (binary).

        ``y`` is the second input of a binary op, the constant parameter of a
        parametrised unary op, and ignored otherwise.
        """
        rule = self.derivative
        if rule is None:
            raise NotImplementedError(f"no derivative rule for op {self.name!r}")
        if self.arity == 2:
            return tuple(rule(x, y, out))
        if self.has_param:
            return (rule(x, out, y),)
        return (rule(x, out),)

    def __call__(self, *args: Any) -> Any:
        """Apply the op: to plain numbers, a float (``forward``); to Values, a recorded
        node (the ``Value`` method). This is what :mod:`engine.functional` exposes and
        what the derivative rules are written with."""
        x = args[0] if args else None
        simple = self.arity == 1 and not self.has_param
        if simple and type(x) is float and x - x == 0.0 and len(args) == 1:
            return self.forward(x)  # the common case inside a rule
        what = self.function or self.name
        if self.has_param and len(args) == 1 and self.param_default is not None:
            args = (x, self.param_default)
        wanted = self.arity + (1 if self.has_param else 0)
        if len(args) != wanted:
            raise TypeError(f"{what}() takes {wanted} argument(s), got {len(args)}")
        if self.arity == 2 and is_real(x) and _is_node(args[1], self.reflected):
            # number op Value: the Value's reflected method
            return getattr(args[1], self.reflected)(_checked(what, x))  # type: ignore[arg-type]
        if is_real(x):
            if self.arity == 2 or self.has_param:
                return self.forward(_checked(what, x), _checked(what, args[1]))
            return self.forward(_checked(what, x))
        if not _is_node(x, self.method):
            raise _not_a_number(what, x)
        return getattr(x, self.method)(*args[1:])  # type: ignore[arg-type]


def _is_node(x: Any, method: str | None) -> bool:
    """Whether ``x`` is a graph node (``Value``-like: it has ``local_grads``, the public
    protocol of nodes) with the op's method. Not an import of Value: that module is
    built on this one."""
    return method is not None and hasattr(type(x), "local_grads") and hasattr(x, method)


def _not_a_number(what: str, x: Any) -> TypeError:
    return TypeError(f"{what}() takes a real number or a Value, not {type(x).__name__} ({x!r})")


def _checked(what: str, x: Any) -> float:
    if type(x) is float and x - x == 0.0:
        return x
    return to_float(x, f"the input of {what}()")


OPS: dict[str, Op] = {}
BUILTIN_NAMES: frozenset[str] = frozenset()  # filled in below, once the built-ins exist


def register(op: Op, *, replace: bool = False) -> Op:
    """Add ``op`` to the table. A built-in name is never taken over; another existing
    name only with ``replace=True`` (``define_op`` run again, e.g. a notebook cell)."""
    if type(op.name) is not str or not op.name:
        raise ValueError(f"an op needs a non-empty string name, got {op.name!r}")
    if op.name in OPS and (not replace or op.name in BUILTIN_NAMES):
        raise ValueError(f"an op named {op.name!r} is already defined")
    if op.arity not in (1, 2):
        raise ValueError(f"op {op.name!r}: arity must be 1 or 2, got {op.arity!r}")
    OPS[op.name] = op
    return op


def lookup(name: str) -> Op:
    """The op called ``name``, or a ``KeyError`` that names it."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def builtins() -> tuple[Op, ...]:
    """The engine's own ops, in table order (``define_op``'s are not among them)."""
    return tuple(OPS[name] for name in OPS if name in BUILTIN_NAMES)


# --- derivative rules -------------------------------------------------------------
# Each is tested alone against central differences (tests/engine/test_ops.py). They
# call the table's ops (LOG, SIGMOID, COS, ...) by their module names, looked up when
# the rule runs: on floats these are the float forward functions, on Values the
# recorded ops.


def d_add(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x + y) = (1, 1)."""
    return 1.0, 1.0


def d_mul(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x * y) = (y, x)."""
    return y, x


def d_div(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x / y) = (1 / y, -x / y²), the second computed as -(x / y) / y = -out / y.

    That form rounds once less than -x / (y * y), never underflows y * y to 0, and
    makes d(x / x)/dx exactly 0: out is exactly 1.0, so 1 / x - 1.0 / x cancels.
    """
    return 1.0 / y, -out / y


def d_neg(x: Any, out: Any) -> Any:
    """d(-x)/dx = -1."""
    return -1.0


def d_identity(x: Any, out: Any) -> Any:
    """d(x)/dx = 1 (the node that separates an inner ``grad`` from an outer one)."""
    return 1.0


def d_pow(x: Any, out: Any, p: float) -> Any:
    """d(x ** p)/dx = p * x ** (p - 1); exactly 0 for p == 0 (x ** 0 is the constant 1)."""
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    return p * x ** (p - 1.0)


def d_pow2(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x ** y) = (y * x ** (y - 1), x ** y * log x).

    The second term needs x > 0; at x == 0 with y > 0 the limit is 0. For x < 0 the
    derivative with respect to the exponent is not real: the rule refuses a negative
    base (so eager recording and a compiled replay, which calls this rule, both do).
    """
    if x < 0:
        raise ValueError(
            f"({x!r}) ** {y!r}: the derivative with respect to the exponent is not real "
            "for a negative base; use a plain-number exponent"
        )
    dx = d_pow(x, out, y)
    # x == 0 (with y > 0): x ** y is flat in y there
    dy = out * LOG(x) if x > 0 else 0.0
    return dx, dy


def d_exp(x: Any, out: Any) -> Any:
    """d(e**x)/dx = e**x."""
    return out


def d_log(x: Any, out: Any) -> Any:
    """d(log x)/dx = 1 / x."""
    return 1.0 / x


def d_sqrt(x: Any, out: Any) -> Any:
    """d(sqrt x)/dx = 1 / (2 sqrt x)."""
    return 0.5 / out


def d_tanh(x: Any, out: Any) -> Any:
    """d(tanh x)/dx = 1 - tanh(x)**2."""
    return 1.0 - out * out


def d_sigmoid(x: Any, out: Any) -> Any:
    """d(sigmoid x)/dx = sigmoid(x) * (1 - sigmoid(x))."""
    return out * (1.0 - out)


def d_relu(x: Any, out: Any) -> Any:
    """d(relu x)/dx = 1 for x > 0, else 0 (relu'(0) = 0, as in PyTorch)."""
    return 1.0 if x > 0 else 0.0


def d_leaky_relu(x: Any, out: Any, slope: float) -> Any:
    """d(leaky_relu x)/dx = 1 for x > 0, else slope."""
    return 1.0 if x > 0 else slope


def d_softplus(x: Any, out: Any) -> Any:
    """d(softplus x)/dx = sigmoid(x)."""
    return SIGMOID(x)


def d_sin(x: Any, out: Any) -> Any:
    """d(sin x)/dx = cos x."""
    return COS(x)


def d_cos(x: Any, out: Any) -> Any:
    """d(cos x)/dx = -sin x."""
    return -SIN(x)


def d_atan(x: Any, out: Any) -> Any:
    """d(atan x)/dx = 1 / (1 + x²)."""
    return 1.0 / (1.0 + x * x)


def d_max(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d max(x, y) = (1, 0) where x >= y, else (0, 1): the gradient goes to the winner
    (to x on a tie; PyTorch's ``maximum`` would split it)."""
    return (1.0, 0.0) if x >= y else (0.0, 1.0)


def d_abs(x: Any, out: Any) -> Any:
    """d|x|/dx = sign(x), with abs'(0) = 0 as in PyTorch."""
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


# --- the table ----------------------------------------------------------------------
# Test domains: |x| <= 20 where exp-like functions stay moderate, [1e-3, 1e3] away
# from the pole of log and the edge of sqrt, and 1e-3 off every kink.

_ANY: tuple[Interval, ...] = ((-10.0, 10.0),)
_WIDE: tuple[Interval, ...] = ((-20.0, 20.0),)
_POSITIVE: tuple[Interval, ...] = ((1e-3, 1e3),)
_OFF_ZERO: tuple[Interval, ...] = ((-10.0, -1e-3), (1e-3, 10.0))
_BASES: tuple[Interval, ...] = ((0.1, 10.0),)
_EXPONENTS: tuple[Interval, ...] = ((-3.0, 3.0),)


def _off_diagonal(x: float, y: float) -> bool:
    """max has a kink along x == y: random draws keep 1e-3 away from it."""
    return abs(x - y) >= 1e-3


ADD = register(
    Op(
        "+",
        2,
        operators.add,
        d_add,
        printed="{x} + {y}",
        code_forward="{x} + {y}",
        code_derivatives=("1.0", "1.0"),
        batch_forward="{x} + {y}",
        batch_derivatives=(
            "1.0",
            "1.0",
        ),
        doc="x + y; d/dx = 1, d/dy = 1.",
        method="__add__",
        reflected="__radd__",
        function="add",
        cli="+",
        domain=(_ANY, _ANY),
        points=((1.5, -2.25), (0.1, 0.2), (-1e3, 7.0), (-0.0, 0.0)),
    )
)
MUL = register(
    Op(
        "*",
        2,
        operators.mul,
        d_mul,
        printed="{x} * {y}",
        code_forward="{x} * {y}",
        code_derivatives=("{y}", "{x}"),
        batch_forward="{x} * {y}",
        batch_derivatives=(
            "{y}",
            "{x}",
        ),
        doc="x * y; d/dx = y, d/dy = x.",
        method="__mul__",
        reflected="__rmul__",
        function="mul",
        cli="*",
        domain=(_ANY, _ANY),
        points=((1.5, -2.25), (0.0, 3.0), (-1e3, 1e-3), (-0.0, 4.0)),
    )
)
DIV = register(
    Op(
        "/",
        2,
        operators.div,
        d_div,
        printed="{x} / {y}",
        code_forward="_div({x}, {y})",
        code_derivatives=("1.0 / {y}", "-{out} / {y}"),
        code_names={"_div": operators.div},
        batch_forward="{x} / {y}",
        batch_derivatives=(
            "1.0 / {y}",
            "-{out} / {y}",
        ),
        doc="x / y (ZeroDivisionError for y == 0); d/dx = 1/y, d/dy = -x/y².",
        method="__truediv__",
        reflected="__rtruediv__",
        function="div",
        cli="/",
        domain=(_ANY, ((-10.0, -0.1), (0.1, 10.0))),
        points=((1.0, 3.0), (49.0, 49.0), (-2.5, 0.1), (0.0, -7.0), (1e3, 1e-2)),
    )
)
NEG = register(
    Op(
        "neg",
        1,
        operators.neg,
        d_neg,
        printed="-{x}",
        code_forward="-{x}",
        code_derivatives=("-1.0",),
        batch_forward="-{x}",
        batch_derivatives=("-1.0",),
        doc="-x; d/dx = -1.",
        method="__neg__",
        function="neg",
        cli="-",
        domain=(_ANY,),
        points=((-3.5,), (2.0,), (0.0,), (-0.0,)),
    )
)
IDENTITY = register(
    Op(
        "identity",
        1,
        float,
        d_identity,
        printed="{x}",
        code_forward="{x}",
        code_derivatives=("1.0",),
        batch_forward="{x}",
        batch_derivatives=("1.0",),
        doc="A new node equal to x; d/dx = 1.",
        method="identity",
        function="identity",
        cli="identity",
        domain=(_ANY,),
        points=((2.0,), (-7.25,), (-0.0,)),
    )
)
POW = register(
    Op(
        "**",
        1,
        operators.power,
        d_pow,
        has_param=True,
        printed="{x} ** {p}",
        code_forward="_power({x}, {p})",
        code_derivatives=("_d_pow({x}, {out}, {p})",),
        code_names={"_power": operators.power, "_d_pow": d_pow},
        batch_forward="{x} ** {p}",
        batch_derivatives=("{p} * {x} ** ({p} - 1.0 + ({p} == 0.0))",),
        doc="x ** p for a number p; d/dx = p x**(p-1).",
        method="__pow__",
        function="power",
        cli="**",
        domain=(_BASES, _EXPONENTS),
        # negative bases take integer exponents only: fixed points, not the domain
        points=((2.0, 3.0), (-2.0, 3.0), (-1.5, -2.0), (4.0, 0.5), (2.0, 0.0), (9.0, -0.5)),
        edges=((0.0, 1.0), (0.0, 2.0), (0.0, 0.0)),
    )
)
POW2 = register(
    Op(
        "pow",
        2,
        operators.power,
        d_pow2,
        printed="{x} ** {y}",
        batch_forward="{x} ** {y}",
        batch_derivatives=(
            "{y} * {x} ** ({y} - 1.0 + ({y} == 0.0))",
            "{out} * np.log(np.where({x} > 0.0, {x}, np.where({x} == 0.0, 1.0, np.nan)))",
        ),
        doc="x ** y; d/dx = y x**(y-1), d/dy = x**y log x (so x >= 0 for a Value y).",
        method="__pow__",
        reflected="__rpow__",
        function="power",
        cli="**",
        domain=(_BASES, _EXPONENTS),
        points=((2.0, 3.0), (0.5, -1.5), (1.0, 0.0), (10.0, 2.5)),
        edges=((0.0, 2.0),),
    )
)
EXP = register(
    Op(
        "exp",
        1,
        operators.exp,
        d_exp,
        printed="exp({x})",
        code_forward="_exp({x})",
        code_derivatives=("{out}",),
        code_names={"_exp": operators.exp},
        batch_forward="np.exp({x})",
        batch_derivatives=("{out}",),
        doc="e**x (OverflowError above x ~ 709.78); d/dx = e**x.",
        method="exp",
        function="exp",
        cli="exp",
        domain=(_WIDE,),
        points=((0.0,), (-3.0,), (20.0,), (700.0,), (-745.0,)),
    )
)
LOG = register(
    Op(
        "log",
        1,
        operators.log,
        d_log,
        printed="log({x})",
        code_forward="_log({x})",
        code_derivatives=("1.0 / {x}",),
        code_names={"_log": operators.log},
        batch_forward="np.log({x})",
        batch_derivatives=("1.0 / {x}",),
        doc="Natural logarithm (ValueError for x <= 0); d/dx = 1/x.",
        method="log",
        function="log",
        cli="log",
        domain=(_POSITIVE,),
        points=((1.0,), (1e-3,), (1e3,), (0.5,)),
        edges=((1e-300,),),
    )
)
SQRT = register(
    Op(
        "sqrt",
        1,
        operators.sqrt,
        d_sqrt,
        printed="sqrt({x})",
        batch_forward="np.sqrt({x})",
        batch_derivatives=("0.5 / {out}",),
        doc="Square root (ValueError for x < 0); d/dx = 1 / (2 sqrt x).",
        method="sqrt",
        function="sqrt",
        cli="sqrt",
        domain=(_POSITIVE,),
        points=((4.0,), (2.0,), (1e-3,), (1e3,)),
        edges=((1e-300,),),
    )
)
TANH = register(
    Op(
        "tanh",
        1,
        operators.tanh,
        d_tanh,
        printed="tanh({x})",
        code_forward="_tanh({x})",
        code_derivatives=("1.0 - {out} * {out}",),
        code_names={"_tanh": math.tanh},
        batch_forward="np.tanh({x})",
        batch_derivatives=("1.0 - {out} * {out}",),
        doc="Hyperbolic tangent; d/dx = 1 - tanh(x)².",
        method="tanh",
        function="tanh",
        cli="tanh",
        domain=(_WIDE,),
        points=((0.0,), (-1.5,), (20.0,), (1000.0,), (-1000.0,)),
    )
)
SIGMOID = register(
    Op(
        "sigmoid",
        1,
        operators.sigmoid,
        d_sigmoid,
        printed="sigmoid({x})",
        code_forward="_sigmoid({x})",
        code_derivatives=("{out} * (1.0 - {out})",),
        code_names={"_sigmoid": operators.sigmoid},
        # exp(-|x|) never overflows: 1 / (1 + e**-x) for x >= 0, e**x / (1 + e**x) below
        batch_forward=(
            "np.where({x} >= 0.0, 1.0, np.exp(-np.abs({x}))) / (1.0 + np.exp(-np.abs({x})))"
        ),
        batch_derivatives=("{out} * (1.0 - {out})",),
        doc="Logistic sigmoid 1 / (1 + e**-x), stable for any x; d/dx = s (1 - s).",
        method="sigmoid",
        function="sigmoid",
        cli="sigmoid",
        domain=(_WIDE,),
        points=((0.0,), (2.5,), (-4.0,), (1000.0,), (-700.0,)),
    )
)
RELU = register(
    Op(
        "relu",
        1,
        operators.relu,
        d_relu,
        printed="relu({x})",
        code_forward="({x} if {x} > 0.0 else 0.0)",
        code_derivatives=("(1.0 if {x} > 0.0 else 0.0)",),
        batch_forward="np.maximum({x}, 0.0)",
        batch_derivatives=("np.where({x} > 0.0, 1.0, 0.0)",),
        doc="max(x, 0); d/dx = 1 for x > 0, else 0 (relu'(0) = 0, as in PyTorch).",
        method="relu",
        function="relu",
        cli="relu",
        domain=(_OFF_ZERO,),
        points=((2.0,), (-2.0,)),
        edges=((0.0,), (-0.0,)),
    )
)
LEAKY_RELU = register(
    Op(
        "leaky_relu",
        1,
        operators.leaky_relu,
        d_leaky_relu,
        has_param=True,
        printed="leaky_relu({x}, {p})",
        code_forward="({x} if {x} > 0.0 else {p} * {x})",
        code_derivatives=("(1.0 if {x} > 0.0 else {p})",),
        batch_forward="np.where({x} > 0.0, {x}, {p} * {x})",
        batch_derivatives=("np.where({x} > 0.0, 1.0, {p})",),
        doc="x for x > 0, else slope * x (slope 0.01 unless given); d/dx = 1 or slope.",
        method="leaky_relu",
        function="leaky_relu",
        cli="leaky_relu",
        param_default=0.01,
        domain=(_OFF_ZERO, ((0.0, 1.0),)),
        points=((2.0, 0.01), (-2.0, 0.2), (-3.0, 0.0)),
        edges=((0.0, 0.2), (-0.0, 0.01)),
    )
)
SOFTPLUS = register(
    Op(
        "softplus",
        1,
        operators.softplus,
        d_softplus,
        printed="softplus({x})",
        batch_forward="np.maximum({x}, 0.0) + np.log1p(np.exp(-np.abs({x})))",
        batch_derivatives=(
            "np.where({x} >= 0.0, 1.0, np.exp(-np.abs({x}))) / (1.0 + np.exp(-np.abs({x})))",
        ),
        doc="log(1 + e**x), stable for any x; d/dx = sigmoid(x).",
        method="softplus",
        function="softplus",
        cli="softplus",
        domain=(_WIDE,),
        points=((0.0,), (-3.0,), (1000.0,), (-700.0,)),
    )
)
SIN = register(
    Op(
        "sin",
        1,
        operators.sin,
        d_sin,
        printed="sin({x})",
        code_forward="_sin({x})",
        code_derivatives=("_cos({x})",),
        code_names={"_sin": math.sin, "_cos": math.cos},
        batch_forward="np.sin({x})",
        batch_derivatives=("np.cos({x})",),
        doc="Sine; d/dx = cos x.",
        method="sin",
        function="sin",
        cli="sin",
        domain=(_ANY,),
        points=((0.0,), (1.5,), (-3.0,), (100.0,)),
    )
)
COS = register(
    Op(
        "cos",
        1,
        operators.cos,
        d_cos,
        printed="cos({x})",
        code_forward="_cos({x})",
        code_derivatives=("-_sin({x})",),
        code_names={"_sin": math.sin, "_cos": math.cos},
        batch_forward="np.cos({x})",
        batch_derivatives=("-np.sin({x})",),
        doc="Cosine; d/dx = -sin x.",
        method="cos",
        function="cos",
        cli="cos",
        domain=(_ANY,),
        points=((0.0,), (1.5,), (-3.0,), (100.0,)),
    )
)
ATAN = register(
    Op(
        "atan",
        1,
        operators.atan,
        d_atan,
        printed="atan({x})",
        code_forward="_atan({x})",
        code_derivatives=("1.0 / (1.0 + {x} * {x})",),
        code_names={"_atan": math.atan},
        batch_forward="np.arctan({x})",
        batch_derivatives=("1.0 / (1.0 + {x} * {x})",),
        doc="Arctangent, in (-pi/2, pi/2); d/dx = 1 / (1 + x²).",
        method="atan",
        function="atan",
        cli="atan",
        domain=(_WIDE,),
        points=((0.0,), (1.0,), (-20.0,), (1e3,)),
    )
)
ABS = register(
    Op(
        "abs",
        1,
        operators.absolute,
        d_abs,
        printed="abs({x})",
        batch_forward="np.abs({x})",
        batch_derivatives=("np.sign({x})",),
        doc="|x|; d/dx = sign(x), with abs'(0) = 0 as in PyTorch.",
        method="__abs__",
        function="absolute",
        cli="abs",
        domain=(_OFF_ZERO,),
        points=((2.0,), (-3.0,)),
        edges=((0.0,), (-0.0,)),
    )
)
MAX = register(
    Op(
        "max",
        2,
        operators.maximum,
        d_max,
        printed="max({x}, {y})",
        code_forward="({x} if {x} >= {y} else {y})",
        code_derivatives=("(1.0 if {x} >= {y} else 0.0)", "(0.0 if {x} >= {y} else 1.0)"),
        batch_forward="np.maximum({x}, {y})",  # finite inputs: the same number as x >= y
        batch_derivatives=(
            "np.where({x} >= {y}, 1.0, 0.0)",
            "np.where({x} >= {y}, 0.0, 1.0)",
        ),
        doc="The larger of x and y; the gradient goes to the larger (to x on a tie).",
        method="max",
        reflected="max",  # number max Value: the value is symmetric (the tie goes to the Value)
        function="maximum",
        cli="max",
        domain=(_ANY, _ANY),
        domain_filter=_off_diagonal,
        points=((1.0, 2.0), (3.0, -1.0)),
        edges=((1.5, 1.5), (0.0, -0.0)),
    )
)

#: The engine's own ops: ``define_op`` may not redefine these.
BUILTIN_NAMES = frozenset(OPS)
