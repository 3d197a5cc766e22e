"""The op table: every primitive's forward value and local derivative, side by side.

A derivative rule is a small pure function written once with ordinary arithmetic
and :mod:`engine.functional`, so it works on floats *and* on Values:

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import functional as F
from engine import operators

__all__ = ["Op", "OPS", "register", "lookup"]


@dataclass(frozen=True)
class Op:
    """One primitive: its name, arity, float forward function and derivative rule."""

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


OPS: dict[str, Op] = {}
BUILTIN_NAMES: frozenset[str] = frozenset()  # filled in below, once the built-ins exist


def register(op: Op, *, replace: bool = False) -> Op:
    """Add ``op`` to the table. A built-in name is never taken over; another existing
    name only with ``replace=True`` (``define_op`` run again, e.g. a notebook cell)."""
    if not isinstance(op.name, str) or not op.name:
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


# --- derivative rules -------------------------------------------------------------
# Each is tested alone against central differences (tests/engine/test_ops.py).


def d_add(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x + y) = (1, 1)."""
    return 1.0, 1.0


def d_mul(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d(x * y) = (y, x)."""
    return y, x


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
    dy = out * F.log(x) if x > 0 else 0.0
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
    return F.sigmoid(x)


def d_sin(x: Any, out: Any) -> Any:
    """d(sin x)/dx = cos x."""
    return F.cos(x)


def d_cos(x: Any, out: Any) -> Any:
    """d(cos x)/dx = -sin x."""
    return -F.sin(x)


def d_max(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d max(x, y) = (1, 0) where x >= y, else (0, 1): the gradient goes to the winner
    (to x on a tie; PyTorch's ``maximum`` would split it)."""
    return (1.0, 0.0) if x >= y else (0.0, 1.0)


def d_abs(x: Any, out: Any) -> Any:
    """d|x|/dx = sign(x), with abs'(0) = 0 as in PyTorch."""
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


ADD = register(
    Op(
        "+",
        2,
        operators.add,
        d_add,
        printed="{x} + {y}",
        code_forward="{x} + {y}",
        code_derivatives=("1.0", "1.0"),
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
    )
)
POW2 = register(Op("pow", 2, operators.power, d_pow2, printed="{x} ** {y}"))
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
    )
)
SQRT = register(Op("sqrt", 1, operators.sqrt, d_sqrt, printed="sqrt({x})"))
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
    )
)
SOFTPLUS = register(Op("softplus", 1, operators.softplus, d_softplus, printed="softplus({x})"))
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
    )
)
ABS = register(Op("abs", 1, operators.absolute, d_abs, printed="abs({x})"))
MAX = register(
    Op(
        "max",
        2,
        operators.maximum,
        d_max,
        printed="max({x}, {y})",
        code_forward="({x} if {x} >= {y} else {y})",
        code_derivatives=("(1.0 if {x} >= {y} else 0.0)", "(0.0 if {x} >= {y} else 1.0)"),
    )
)

#: The engine's own ops: ``define_op`` may not redefine these.
BUILTIN_NAMES = frozenset(OPS)
