"""``Value``: one scalar node of a computation graph.

Every op computes its result *and* its local derivative(s) when it runs, and stores
both on the new node: ``out._a``/``out._b`` are the parents, ``out._da``/``out._db``
the numbers d(out)/d(parent). ``backward()`` is then one generic loop (see
:mod:`engine.backward`): no closure per node, no set of children per node, no
reference cycle per node, ``__slots__`` instead of a ``__dict__``.

Why the layout is fixed at two parents: every primitive is unary or binary, and
eight slots cost 96 bytes per node, where a tuple of parents plus a tuple of
derivatives would double that (the memory target is <= 130 bytes per node).
A unary op with a constant parameter (``x ** 3``, ``leaky_relu(x, 0.2)``) keeps the
constant in ``_b`` and leaves ``_db`` at None: ``_b`` is a parent exactly when
``_db`` is not None.

``+``, ``*`` and unary ``-`` are written out in full because they are the hot path
of every network; their local derivatives (1 and 1; y and x; -1) are the rules
``d_add``, ``d_mul``, ``d_neg`` of :mod:`engine.ops`, and a test checks that the
inline numbers and the table agree. Every other op goes through ``_apply1`` /
``_apply2``, which call the op table's forward function and derivative rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from engine import ops
from engine.ops import Op

__all__ = ["Value", "Number", "as_value", "dot"]

Number = Union[int, float]  # noqa: UP007 - a runtime alias, valid on 3.10

_new = object.__new__

# Whether ops record parents and local derivatives. Switched by engine.no_grad().
# A module global (not thread-local): reading it costs one dictionary-cached load
# on the hot path.
_recording = True

# Set by engine.compile while it traces (through set_trace_hook): told about
# comparisons on Values (``hook.compare``) and other reads of a Value's number that
# generated code cannot follow (``hook.event``).
_trace_hook: Any = None


def set_trace_hook(hook: Any) -> Any:
    """Install ``hook`` (an object with ``event(what)`` and ``compare(x, op, other,
    result)``) to be told what a traced function does outside the graph, or None to
    remove it; returns the previous hook, to be put back."""
    global _trace_hook
    previous = _trace_hook
    _trace_hook = hook
    return previous


def trace_event(what: str) -> None:
    """Tell the trace hook, if one is installed, that ``what`` happened."""
    if _trace_hook is not None:
        _trace_hook.event(what)


def _check_data(data: Any) -> float:
    """``data`` as a finite float, or a TypeError/ValueError naming it."""
    if type(data) is float:
        f = data
    elif isinstance(data, bool) or not isinstance(data, (int, float)):
        raise TypeError(
            f"Value data must be an int or a float, not {type(data).__name__} ({data!r})"
        )
    else:
        try:
            f = float(data)
        except OverflowError:
            raise ValueError(f"Value data {data!r} is too large for a float") from None
    if f - f != 0.0:  # true for inf and nan only
        raise ValueError(f"Value data must be finite, got {data!r}")
    return f


def _lift(x: Any, op: str) -> Value:
    """The one place where plain numbers become Values (constants, label '')."""
    if type(x) is float and x - x == 0.0:  # the common case, without __init__'s checks
        c = _new(Value)
        c.data = x
        c.grad = 0.0
        c.op = ""
        c._a = c._b = c._da = c._db = None
        return c
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(
            f"unsupported operand for Value {op}: {type(x).__name__} ({x!r}); "
            "expected a Value, an int or a float"
        )
    return Value(x)


def as_value(x: Value | Number) -> Value:
    """``x`` itself if it is a Value, else a new constant Value (TypeError otherwise)."""
    return _lift(x, "operation")


def _number(x: Any, op: str) -> float:
    """``x`` (a Value or a plain number) as a float, for comparisons."""
    if isinstance(x, Value):
        return x.data
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(
            f"cannot compare a Value with {type(x).__name__} ({x!r}) using {op}; "
            "expected a Value, an int or a float"
        )
    return float(x)


def _overflow(op: str, x: float, y: float) -> OverflowError:
    return OverflowError(f"{x!r} {op} {y!r} overflows float64")


_INF = float("inf")


def _derivative_overflow(op: str, args: Any) -> OverflowError:
    """An op's value is finite but its local derivative is not representable."""
    shown = ", ".join(map(repr, args)) if isinstance(args, tuple) else repr(args)
    return OverflowError(
        f"{op}({shown}): the derivative overflows float64; run it under "
        "engine.no_grad() if only the value is needed"
    )


class Value:
    """A scalar node: its ``data``, its ``grad`` and how it was made.

    >>> x = Value(3.0, label="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> y.data, x.grad
    (10.0, 6.0)

    ``grad`` accumulates: a second ``y.backward()`` adds the same amounts again to
    every node of the graph (x.grad becomes 12.0), as in PyTorch. Reset with
    ``v.grad = 0.0`` or ``nn.Module.zero_grad()``.
    """

    # ``_label`` is left unset on the nodes ops make (read through ``label``): one
    # store less per op, and a slot the garbage collector skips (it visits every
    # set slot of every node, several times as a graph grows).
    __slots__ = ("data", "grad", "_label", "op", "_a", "_b", "_da", "_db")

    data: float
    grad: float
    op: str

    def __init__(self, data: Number, label: str = "") -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, not {type(label).__name__} ({label!r})")
        self.data = _check_data(data)
        self.grad = 0.0
        self._label = label
        self.op = ""
        self._a: Value | None = None
        self._b: Any = None
        self._da: Any = None
        self._db: Any = None

    # --- what the node is made of ---------------------------------------------------

    @property
    def parents(self) -> tuple[Value, ...]:
        """The nodes this one was computed from (empty for a leaf)."""
        if self._a is None:
            return ()
        if self._db is None:
            return (self._a,)
        return (self._a, self._b)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each of :attr:`parents`, recorded when the op ran."""
        if self._a is None:
            return ()
        if self._db is None:
            return (self._da,)
        return (self._da, self._db)

    @property
    def param(self) -> float | None:
        """The constant of a parametrised op (the 3 of ``x ** 3``, a leaky_relu slope)."""
        if self._a is not None and self._db is None:
            return self._b  # type: ignore[no-any-return]
        return None

    @property
    def is_leaf(self) -> bool:
        """True for nodes made by ``Value(...)`` (inputs, parameters, constants)."""
        return self._a is None

    @property
    def label(self) -> str:
        """A name for drawings and messages ("" unless given)."""
        try:
            return self._label
        except AttributeError:  # never set: a node made by an op
            return ""

    @label.setter
    def label(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, not {type(label).__name__} ({label!r})")
        self._label = label

    def __repr__(self) -> str:
        extra = f", label={self.label!r}" if self.label else ""
        if self.op:
            extra += f", op={self.op!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{extra})"

    def __float__(self) -> float:
        if _trace_hook is not None:
            _trace_hook.event("float() of a Value")
        return self.data

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        if _trace_hook is not None:
            _trace_hook.event("detach() of a Value")
        return Value(self.data, self.label)

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * ``gradient`` to the ``grad`` of every node of the graph.

        Iterative (no depth limit). Gradients accumulate: calling it twice adds the
        same amounts twice, to leaves and intermediates alike, never counting an
        intermediate's earlier grad as part of the new pass.
        """
        from engine.backward import backward

        backward(self, gradient)

    # --- the hot path: + * and unary - --------------------------------------------

    def __add__(self, other: Value | Number) -> Value:
        """x + y; d/dx = 1, d/dy = 1."""
        if type(other) is not Value:
            if type(other) is float and other - other == 0.0:
                # _lift's fast path, inline: a number operand is this op's constant
                c = _new(Value)
                c.data = other
                c.grad = 0.0
                c.op = ""
                c._a = c._b = c._da = c._db = None
                other = c
            else:
                other = _lift(other, "+")
        data = self.data + other.data
        if data - data != 0.0:  # inf, or nan from an inf someone assigned to .data
            raise _overflow("+", self.data, other.data)
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out.op = "+"
        if _recording:
            out._a = self
            out._da = 1.0
            out._b = other
            out._db = 1.0
        else:
            out._a = out._b = out._da = out._db = None
            out.op = ""  # a leaf: no op recorded
        return out

    def __mul__(self, other: Value | Number) -> Value:
        """x * y; d/dx = y, d/dy = x."""
        if type(other) is not Value:
            if type(other) is float and other - other == 0.0:
                # _lift's fast path, inline: a number operand is this op's constant
                c = _new(Value)
                c.data = other
                c.grad = 0.0
                c.op = ""
                c._a = c._b = c._da = c._db = None
                other = c
            else:
                other = _lift(other, "*")
        x = self.data
        y = other.data
        data = x * y
        if data - data != 0.0:  # inf or nan
            raise _overflow("*", x, y)
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out.op = "*"
        if _recording:
            out._a = self
            out._da = y
            out._b = other
            out._db = x
        else:
            out._a = out._b = out._da = out._db = None
            out.op = ""  # a leaf: no op recorded
        return out

    def __neg__(self) -> Value:
        """-x; d/dx = -1."""
        out = _new(Value)
        out.data = -self.data
        out.grad = 0.0
        out.op = "neg"
        out._b = out._db = None
        if _recording:
            out._a = self
            out._da = -1.0
        else:
            out._a = out._da = None
            out.op = ""  # a leaf: no op recorded
        return out

    # --- everything else goes through the op table ----------------------------------

    def _apply1(self, op: Op, param: Any = None) -> Value:
        """Run unary ``op`` (with its constant ``param``, if it takes one) on self."""
        x = self.data
        y = op.forward(x) if param is None else op.forward(x, param)
        out = _new(Value)
        out.data = y
        out.grad = 0.0
        out.op = op.name
        out._db = None
        if _recording:
            rule = op.derivative
            if rule is None:
                raise NotImplementedError(
                    f"no derivative rule for op {op.name!r}; give one to define_op(), "
                    "or run it under engine.no_grad()"
                )
            try:
                d = rule(x, y) if param is None else rule(x, y, param)
            except ZeroDivisionError:
                raise ValueError(
                    f"{op.name}({x!r}{'' if param is None else f', {param!r}'}): the "
                    "derivative is infinite there; run it under engine.no_grad() if "
                    "only the value is needed"
                ) from None
            except OverflowError:  # e.g. (1e-200) ** -1: the derivative is -1e400
                d = _INF
            if d - d != 0.0:  # inf or nan, e.g. log'(1e-310) = 1 / 1e-310
                raise _derivative_overflow(op.name, x if param is None else (x, param))
            out._a = self
            out._da = d
            out._b = param
        else:
            out._a = out._b = out._da = None
            out.op = ""  # a leaf: no op recorded
        return out

    def _apply2(self, other: Value, op: Op) -> Value:
        """Run binary ``op`` on (self, other)."""
        x = self.data
        y = other.data
        v = op.forward(x, y)
        out = _new(Value)
        out.data = v
        out.grad = 0.0
        out.op = op.name
        if _recording:
            rule = op.derivative
            if rule is None:
                raise NotImplementedError(
                    f"no derivative rule for op {op.name!r}; give one to define_op(), "
                    "or run it under engine.no_grad()"
                )
            try:
                da, db = rule(x, y, v)
            except ZeroDivisionError:
                raise ValueError(
                    f"{op.name}({x!r}, {y!r}): the derivative is infinite there; run it "
                    "under engine.no_grad() if only the value is needed"
                ) from None
            except OverflowError:
                da = _INF
                db = 0.0
            if da - da != 0.0 or db - db != 0.0:  # inf or nan
                raise _derivative_overflow(op.name, (x, y))
            out._a = self
            out._da = da
            out._b = other
            out._db = db
        else:
            out._a = out._b = out._da = out._db = None
            out.op = ""  # a leaf: no op recorded
        return out

    # --- composed arithmetic ----------------------------------------------------------

    def __radd__(self, other: Number) -> Value:
        return _lift(other, "+") + self

    def __sub__(self, other: Value | Number) -> Value:
        """x - y, recorded as x + (-y)."""
        if isinstance(other, Value):
            return self + (-other)
        return self + -_lift(other, "-").data

    def __rsub__(self, other: Number) -> Value:
        return _lift(other, "-") + (-self)

    def __rmul__(self, other: Number) -> Value:
        return _lift(other, "*") * self

    def __truediv__(self, other: Value | Number) -> Value:
        """x / y, its own op (correctly rounded, as Python's); d/dx = 1/y, d/dy = -x/y²."""
        return self._apply2(_lift(other, "/"), ops.DIV)

    def __rtruediv__(self, other: Number) -> Value:
        return _lift(other, "/")._apply2(self, ops.DIV)

    def __pow__(self, other: Value | Number) -> Value:
        """x ** p for a number p (d/dx = p x**(p-1)); x ** y for a Value y as well
        (d/dy = x**y log x, so the base must be >= 0)."""
        if isinstance(other, Value):
            if self.data < 0.0 and _recording:
                raise ValueError(
                    f"({self.data!r}) ** Value: the derivative with respect to the exponent "
                    "is not real for a negative base; use a plain-number exponent"
                )
            return self._apply2(other, ops.POW2)
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise TypeError(
                f"unsupported exponent for Value **: {type(other).__name__} ({other!r}); "
                "expected a Value, an int or a float"
            )
        return self._apply1(ops.POW, float(other))

    def __rpow__(self, other: Number) -> Value:
        return _lift(other, "**") ** self

    def __abs__(self) -> Value:
        """|x|; d/dx = sign(x), with abs'(0) = 0 as in PyTorch."""
        return self._apply1(ops.ABS)

    # --- comparisons look at data and return bool; == and hash stay identity ----------

    def __lt__(self, other: Value | Number) -> bool:
        result = self.data < _number(other, "<")
        if _trace_hook is not None:
            _trace_hook.compare(self, "<", other, result)
        return result

    def __le__(self, other: Value | Number) -> bool:
        result = self.data <= _number(other, "<=")
        if _trace_hook is not None:
            _trace_hook.compare(self, "<=", other, result)
        return result

    def __gt__(self, other: Value | Number) -> bool:
        result = self.data > _number(other, ">")
        if _trace_hook is not None:
            _trace_hook.compare(self, ">", other, result)
        return result

    def __ge__(self, other: Value | Number) -> bool:
        result = self.data >= _number(other, ">=")
        if _trace_hook is not None:
            _trace_hook.compare(self, ">=", other, result)
        return result

    # --- elementwise functions ---------------------------------------------------------

    def exp(self) -> Value:
        """e**x; d/dx = e**x. Raises OverflowError above x ~ 709.78."""
        return self._apply1(ops.EXP)

    def log(self) -> Value:
        """Natural log; d/dx = 1/x. Raises ValueError for x <= 0."""
        return self._apply1(ops.LOG)

    def sqrt(self) -> Value:
        """Square root; d/dx = 1 / (2 sqrt x). ValueError for x < 0 (and at 0 when
        recording, where the derivative is infinite)."""
        return self._apply1(ops.SQRT)

    def tanh(self) -> Value:
        """Hyperbolic tangent; d/dx = 1 - tanh(x)**2."""
        return self._apply1(ops.TANH)

    def sigmoid(self) -> Value:
        """1 / (1 + e**-x), stable for any x; d/dx = s (1 - s)."""
        return self._apply1(ops.SIGMOID)

    def relu(self) -> Value:
        """max(x, 0); d/dx = 1 for x > 0, else 0 (relu'(0) = 0, as in PyTorch)."""
        return self._apply1(ops.RELU)

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """x for x > 0, else slope * x; d/dx = 1 for x > 0, else slope."""
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise TypeError(f"leaky_relu slope must be a number, not {slope!r}")
        return self._apply1(ops.LEAKY_RELU, _check_data(slope))

    def softplus(self) -> Value:
        """log(1 + e**x), stable for any x; d/dx = sigmoid(x)."""
        return self._apply1(ops.SOFTPLUS)

    def sin(self) -> Value:
        """Sine; d/dx = cos x."""
        return self._apply1(ops.SIN)

    def cos(self) -> Value:
        """Cosine; d/dx = -sin x."""
        return self._apply1(ops.COS)

    def atan(self) -> Value:
        """Arctangent; d/dx = 1 / (1 + x²)."""
        return self._apply1(ops.ATAN)

    def max(self, other: Value | Number) -> Value:
        """max(x, y); the gradient goes to the larger (to x on a tie): d/dx = 1 where
        x >= y, else 0. Stable shifts like log-sum-exp's use it: unlike ``max(...).data``
        it is recorded, so a compiled replay follows new inputs."""
        return self._apply2(_lift(other, "max"), ops.MAX)

    def identity(self) -> Value:
        """A new node equal to x (d/dx = 1): a fresh variable that still leads back to x."""
        return self._apply1(ops.IDENTITY)


def dot(
    ws: Sequence[Value | Number], xs: Sequence[Value | Number], start: Value | Number | None = None
) -> Value:
    """``start + w0*x0 + w1*x1 + ...``: a neuron's pre-activation, as a graph.

    The result is exactly what ``z = start; z = z + w * x`` (in order) records, the
    same ``*`` and ``+`` nodes with the same numbers; it is only built without the
    cost of two operator calls per term (a speed-up the MLP benchmark measures).
    Without ``start`` the sum begins with ``w0*x0``.
    """
    n = len(ws)
    if len(xs) != n:
        raise ValueError(f"dot: {n} weights but {len(xs)} inputs")
    acc = None if start is None else _lift(start, "+")
    if n == 0:
        if acc is None:
            raise ValueError("dot: no terms and no start value")
        return acc
    if not _recording:
        # only the value is wanted: the same sum in floats, as one new leaf
        total = None if acc is None else acc.data
        for w, x in zip(ws, xs):
            pd = (w if type(w) is Value else _lift(w, "*")).data * (
                x if type(x) is Value else _lift(x, "*")
            ).data
            total = pd if total is None else total + pd
        if total - total != 0.0:  # type: ignore[operator]
            raise _dot_overflow(ws, xs, start)
        return Value(total)  # type: ignore[arg-type]
    # The node construction below repeats Value.__mul__ and Value.__add__ inline: this
    # loop is the hot path of every network (tests/engine/test_value.py checks that the
    # nodes equal the operators' nodes field by field). Overflow is checked once, at
    # the end: the products are of finite numbers, so an overflow makes an infinite
    # term, and every later partial sum stays infinite or NaN.
    for w, x in zip(ws, xs):
        if type(w) is not Value:
            w = _lift(w, "*")
        if type(x) is not Value:
            x = _lift(x, "*")
        wd = w.data
        xd = x.data
        pd = wd * xd
        p = _new(Value)
        p.data = pd
        p.grad = 0.0
        p.op = "*"
        p._a = w
        p._da = xd
        p._b = x
        p._db = wd
        if acc is None:
            acc = p
            continue
        q = _new(Value)
        q.data = acc.data + pd
        q.grad = 0.0
        q.op = "+"
        q._a = acc
        q._da = 1.0
        q._b = p
        q._db = 1.0
        acc = q
    total = acc.data
    if total - total != 0.0:  # inf or nan: some product or partial sum overflowed
        raise _dot_overflow(ws, xs, start)
    return acc


def _dot_overflow(ws: Sequence[Any], xs: Sequence[Any], start: Any) -> OverflowError:
    """The error the operator loop would have raised: the first op that overflowed."""
    total = None if start is None else float(start.data if isinstance(start, Value) else start)
    for w, x in zip(ws, xs):
        wd = w.data if isinstance(w, Value) else float(w)
        xd = x.data if isinstance(x, Value) else float(x)
        pd = wd * xd
        if pd - pd != 0.0:
            return _overflow("*", wd, xd)
        if total is not None and (total + pd) - (total + pd) != 0.0:
            return _overflow("+", total, pd)
        total = pd if total is None else total + pd
    return OverflowError("dot() overflows float64")  # pragma: no cover (not reached)
