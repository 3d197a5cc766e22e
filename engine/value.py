"""``Value``: one scalar node of a computation graph.

Every op computes its result *and* its local derivative(s) when it runs, and stores
both on the new node: ``out._a``/``out._b`` are the parents, ``out._da``/``out._db``
the numbers d(out)/d(parent). ``backward()`` is then one generic loop (see
:mod:`engine.backward`): no closure per node, no set of children per node, no
reference cycle per node, ``__slots__`` instead of a ``__dict__``.

Why the layout is fixed at two parents: every primitive is unary or binary, and
eight slots cost 96 bytes per node, where a tuple of parents plus a tuple of
derivatives would double that (the memory target is <= 130 bytes per node).
A unary op leaves ``_b`` at None (``_b`` is a parent exactly when it is not None)
and keeps its constant parameter (the 3 of ``x ** 3``, a ``leaky_relu`` slope, always
a finite float) in ``_db``, or NaN (``_NO_PARAM``) when it takes none. The fields
``data``, ``_da`` and ``_db`` hold floats only, which the compiled build stores as C
doubles. A leaf has ``_a`` and ``_b`` None, ``_da`` and ``_db`` 0.0.

``+``, ``*`` and unary ``-`` are written out in full because they are the hot path
of every network; their local derivatives (1 and 1; y and x; -1) are the rules
``d_add``, ``d_mul``, ``d_neg`` of :mod:`engine.ops`, and a test checks that the
inline numbers and the table agree. Every other op goes through ``_apply1`` /
``_apply2``, which call the op table's forward function and derivative rule.

**Two builds of this file.** It is plain Python, and it is also what the compiled
build compiles: where a C compiler is there at install, Cython turns this very file
(and :mod:`engine.backward`) into a C extension, ``Value`` into a C type whose fields
``engine/value.pxd`` declares (``engine.COMPILED`` says which build runs;
``CHAINRULE_PURE=1`` in the environment runs this source anyway, e.g. to step
through it with pdb). The traces of that here: the ``cython`` decorators, which do
nothing in Python (``@cython.annotation_typing(True)`` on the hot methods lets the
compiler read their local annotations: ``x: float`` is a C double there), the
``_new`` that makes a bare node (object.__new__ in Python, an inline C function
compiled), the ``if _COMPILED:`` lines (compiled, nodes of plain Values are left
untracked by the garbage collector: engine/value.pxd says why that is safe), and
``__hash__``, written out for the C type only.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Union

try:
    import cython
except ImportError:  # Cython is needed only to build the compiled modules
    from engine import _cython_shim as cython  # type: ignore[no-redef]

from engine import ops
from engine.backward import backward as _backward
from engine.backward import toposort
from engine.checks import is_real, to_float
from engine.ops import Op

__all__ = ["Value", "Number", "as_value", "dot", "COMPILED"]

Number = Union[int, float]  # noqa: UP007 - a runtime alias, valid on 3.10

# True when this module runs compiled by Cython (``engine.COMPILED`` reports it).
COMPILED: bool = cython.compiled
# The same, for the hot path: compiled, a C variable (engine/value.pxd), so ``if
# _COMPILED:`` is one C test there and one global lookup here.
_COMPILED: bool = cython.compiled

if not cython.compiled:
    # A bare node, its fields set by the caller: the fastest way Python has. Compiled,
    # engine/value.pxd defines ``_new`` as an inline C function instead (CPython
    # refuses object.__new__ for a C type).
    _new = object.__new__

    # Compiled only (engine/value.pxd): the garbage collector watches a node only when
    # it could be part of a reference cycle. Python objects are always watched, so
    # these are never called here (every call is under ``if _COMPILED:``).
    def _adopt(node: Value) -> None:
        """Track ``node`` if one of its parents is tracked."""

    def _untrack_leaf(node: Value) -> None:
        """Untrack a new leaf of type Value."""


# Grad mode is per thread (as in PyTorch), but the hot path reads one module global:
# ``_recording`` is True while no thread has grad mode off, and then every op records
# without asking further. While some thread is inside ``no_grad()``, ``_recording``
# is False and ops read their own thread's mode (``_mode.enabled``, a thread-local
# attribute). Only set_grad_enabled() writes either, under a lock. (A thread that
# ends inside ``no_grad()`` leaves ``_recording`` False: still right, only slower.)
_recording = True


class _GradMode(threading.local):
    """This thread's grad mode (a new thread starts with recording on)."""

    enabled = True


_mode = _GradMode()
_mode_lock = threading.Lock()
_threads_off = 0  # how many threads have grad mode off


def set_grad_enabled(enabled: bool) -> bool:
    """Turn recording on or off for the calling thread; returns the previous setting
    (to be put back). Other threads keep theirs."""
    global _recording, _threads_off
    if type(enabled) is not bool:
        raise TypeError(f"grad mode must be True or False, not {enabled!r}")
    with _mode_lock:
        previous = _mode.enabled
        if previous != enabled:
            _mode.enabled = enabled
            _threads_off += -1 if enabled else 1
            _recording = _threads_off == 0
    return previous


def grad_enabled() -> bool:
    """Whether ops record on the calling thread."""
    return _mode.enabled


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
    if type(data) is float and data - data == 0.0:
        return data
    return to_float(data, "Value data")


def _as_grad(g: Any) -> float:
    """A grad assigned by hand that is not a float (or None): a real number becomes a
    float (inf and nan too: backward() names them); anything else is a TypeError."""
    if not is_real(g):
        raise TypeError(
            f"Value grad must be a real number or None, not {type(g).__name__} ({_short(g)})"
        )
    return to_float(g, "Value grad", finite=False)


def _lift(x: Any, op: str) -> Value:
    """The one place where plain numbers become Values (constants, label '').

    Any real number but a bool is taken (int, float, Fraction, numpy scalars) and
    converted to a float; anything else is a TypeError naming the operand and ``op``.
    """
    if type(x) is float and x - x == 0.0:  # the common case, without __init__'s checks
        c = _new(Value)
        c.data = x
        c._grad = 0.0
        c.op = ""
        c._a = c._b = None
        c._da = c._db = 0.0
        return c
    if isinstance(x, Value):
        return x
    if not is_real(x):
        raise TypeError(
            f"unsupported operand for Value {op}: {type(x).__name__} ({_short(x)}); "
            "expected a Value or a real number"
        )
    c = _new(Value)
    c.data = to_float(x, f"the operand of Value {op}")
    c._grad = 0.0
    c.op = ""
    c._a = c._b = None
    c._da = c._db = 0.0
    return c


def as_value(x: Value | Number) -> Value:
    """``x`` itself if it is a Value, else a new constant Value (TypeError otherwise)."""
    return _lift(x, "operation")


def _number(x: Any, op: str) -> Any:
    """``x`` (a Value or a plain number) as a number ``float`` compares exactly, for
    comparisons: ints (of any size) and Fractions as they are, other reals as floats."""
    if isinstance(x, Value):
        return x.data
    if type(x) is float or type(x) is int:
        return x
    if not is_real(x):
        raise TypeError(
            f"cannot compare a Value with {type(x).__name__} ({_short(x)}) using {op}; "
            "expected a Value or a real number"
        )
    if isinstance(x, numbers.Integral):
        return int(x)  # exact, even beyond the float range
    if isinstance(x, Fraction):
        return x  # float < Fraction compares exactly
    return to_float(x, f"the operand of Value {op}", finite=False)


def _short(x: Any) -> str:
    """``repr(x)``, cut to 40 characters (a 400-digit int is no help in a message)."""
    text = repr(x)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def _is_good_data(d: Any) -> bool:
    return type(d) is float and d - d == 0.0


def _bad_data(*values: Any) -> Exception | None:
    """The error for a Value whose ``data`` no op could have made (not a finite float):
    only an assignment by hand does that. None if every data is a finite float."""
    for v in values:
        if not isinstance(v, Value) or _is_good_data(v.data):
            continue
        # an op's result (-nan, say) came from junk further back: name where it began
        while True:
            for p in v.parents:
                if not _is_good_data(p.data):
                    v = p
                    break
            else:
                break
        d = v.data
        name = f"Value {v.label!r}" if v.label else "Value"
        shown = f"{_short(d)} (a {type(d).__name__})"
        fix = "Values hold finite floats: assign a finite float, or make a new Value"
        if type(d) is float:
            return ValueError(f"{name}.data is {shown}: was it assigned by hand? {fix}")
        return TypeError(f"{name}.data is {shown}: was it assigned by hand? {fix}")
    return None


def _overflow(op: str, a: Value, b: Value) -> Exception:
    """The error for ``a op b`` coming out inf or nan: junk assigned to a data, or an
    overflow of float64."""
    bad = _bad_data(a, b)
    if bad is not None:
        return bad
    return OverflowError(f"{a.data!r} {op} {b.data!r} overflows float64")


def _result_overflow(op: str, args: Any) -> OverflowError:
    """An op's value is not representable (inf or nan) for finite inputs."""
    shown = ", ".join(map(repr, args)) if isinstance(args, tuple) else repr(args)
    return OverflowError(f"{op}({shown}) overflows float64")


_INF = float("inf")
# ``_db`` of a unary op's node that takes no constant parameter (params are finite).
_NO_PARAM = float("nan")


def _derivative_overflow(op: Op, args: Any) -> OverflowError:
    """An op's value is finite but its local derivative is not representable."""
    x, y = args if isinstance(args, tuple) else (args, None)
    if op.printed:  # the table's printed form: "1e+308 / 0.605", "log(1e-310)"
        shown = op.printed.format(x=repr(x), y=repr(y), p=repr(y))
    else:
        shown = f"{op.name}({', '.join(map(repr, args)) if isinstance(args, tuple) else args!r})"
    return OverflowError(
        f"{shown}: the derivative overflows float64; run it under "
        "engine.no_grad() if only the value is needed"
    )


# (trashcan: compiled, freeing a node frees its parents, and theirs ...: CPython's
# trashcan turns that recursion into a loop, so a 10**6-op chain is freed without
# overflowing the C stack. Python classes get it from CPython itself.)
@cython.trashcan(True)
@cython.cclass
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

    ``data`` is any real number but a bool (int, float, ``Fraction``, numpy scalars),
    kept as a finite float; the same numbers work as operands on either side.

    **Comparisons.** ``<``, ``<=``, ``>``, ``>=`` compare the data and return a bool,
    but ``==`` and ``hash`` are identity (a Value is a node of a graph, kept in sets
    and dicts): ``Value(1.0) == Value(1.0)`` is False while ``<=`` and ``>=`` are both
    True. Compare numbers with ``a.data == b.data``. ``bool(v)`` and ``if v:`` are
    refused, and so is ``float(v)`` (``math.exp(v)`` would drop the gradient): use
    ``v.exp()`` or ``engine.functional.exp(v)``, or ``v.data`` for the plain number.
    ``f"{v:.3f}"`` and ``round(v, 2)`` format and round the data.

    >>> a, b = Value(1.0), Value(1.0)
    >>> a == b, a <= b, a >= b, a.data == b.data
    (False, True, True, True)
    >>> f"{Value(2.0 / 3):.3f}", round(Value(2.0 / 3), 2)
    ('0.667', 0.67)

    ``copy.deepcopy`` and ``pickle`` copy the whole graph behind a node (any depth,
    every pickle protocol), shared nodes staying shared.
    """

    # ``_label`` is left unset on the nodes ops make (read through ``label``): one
    # store less per op, and a slot the garbage collector skips (it visits every
    # set slot of every node, several times as a graph grows). (Compiled, a field
    # is never unset: it holds None there.)
    __slots__ = ("data", "_grad", "_label", "op", "_a", "_b", "_da", "_db")

    data: float
    op: str

    def __init__(self, data: Number, label: str = "") -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, not {type(label).__name__} ({label!r})")
        if type(label) is not str:  # a str subclass could hold anything (value.pxd)
            label = str.__str__(label)
        self.data = _check_data(data)
        self._grad: float | None = 0.0
        self._label = label
        self.op = ""
        self._a: Value | None = None
        self._b: Any = None
        self._da: float = 0.0
        self._db: float = 0.0
        if _COMPILED:
            _untrack_leaf(self)  # (the collector need not watch it: engine/value.pxd)

    # --- what the node is made of ---------------------------------------------------

    @property
    def parents(self) -> tuple[Value, ...]:
        """The nodes this one was computed from (empty for a leaf)."""
        if self._a is None:
            return ()
        if self._b is None:  # a unary op
            return (self._a,)
        return (self._a, self._b)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each of :attr:`parents`, recorded when the op ran."""
        if self._a is None:
            return ()
        if self._b is None:  # a unary op
            return (self._da,)
        return (self._da, self._db)

    @property
    def param(self) -> float | None:
        """The constant of a parametrised op (the 3 of ``x ** 3``, a leaky_relu slope)."""
        if self._a is not None and self._b is None:
            p = self._db
            return None if p != p else p  # (NaN: an op without a parameter)
        return None

    @property
    def is_leaf(self) -> bool:
        """True for nodes made by ``Value(...)`` (inputs, parameters, constants)."""
        return self._a is None

    @property
    def label(self) -> str:
        """A name for drawings and messages ("" unless given)."""
        try:
            label = self._label
        except AttributeError:  # never set: a node made by an op
            return ""
        return "" if label is None else label  # (None: the compiled build's unset)

    @label.setter
    def label(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, not {type(label).__name__} ({label!r})")
        self._label = label if type(label) is str else str.__str__(label)

    @property
    def grad(self) -> float:
        """d(output)/d(this node), summed over every ``backward()`` so far (0.0 before).

        Assign a real number (kept as a float; an int, a ``Fraction`` or a numpy scalar
        is converted) or None (counted as 0 by the next ``backward()``, PyTorch's
        ``set_to_none`` habit). Anything else is refused here, not at the next
        backward(): a grad is a number, and a node that holds only numbers, strings and
        its parents cannot be part of a reference cycle (the compiled build relies on
        it, engine/value.pxd).
        """
        return self._grad  # type: ignore[return-value]  # (None if assigned so)

    @grad.setter
    def grad(self, g: float | None) -> None:
        if type(g) is float or g is None:
            self._grad = g
        else:
            self._grad = _as_grad(g)

    def __repr__(self) -> str:
        extra = f", label={self.label!r}" if self.label else ""
        if self.op:
            extra += f", op={self.op!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{extra})"

    def __float__(self) -> float:
        """Refused: ``math.exp(v)`` and friends would take the number and drop the
        gradient without a word (micrograd refuses too)."""
        raise TypeError(
            "a Value is not converted to a float: math.* (and float()) would drop its "
            "gradient. Use the Value's method (x.exp(), x.log(), ...) or "
            "engine.functional (engine.functional.exp(x)) to stay in the graph, or "
            "x.data for the plain number"
        )

    def __bool__(self) -> bool:
        """Refused: a Value has no truth value of its own."""
        raise TypeError(
            "the truth value of a Value is ambiguous: comparisons (<, <=, >, >=) look at "
            "the data and give a bool, but == is identity (Value(1.0) == Value(1.0) is "
            "False). Compare explicitly: x.data != 0, x > 0, or x is not None"
        )

    def __format__(self, spec: str) -> str:
        """A format spec applies to the data (``f"{v:.3f}"``); no spec gives the repr."""
        if not spec:
            return repr(self)
        if _trace_hook is not None:
            _trace_hook.event("format() of a Value")
        return format(self.data, spec)

    def __round__(self, ndigits: int | None = None) -> float | int:
        """``round(v, 2)`` rounds the data (a plain number: it leaves the graph)."""
        if _trace_hook is not None:
            _trace_hook.event("round() of a Value")
        return round(self.data, ndigits)

    # numpy: a scalar on the left (np.float32(2) * v) hands the operation to Value's
    # reflected method instead of making an object array.
    __array_ufunc__ = None

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        if _trace_hook is not None:
            _trace_hook.event("detach() of a Value")
        return Value(self.data, self.label)

    # --- copying and pickling: a whole graph, without recursion -----------------------

    @cython.annotation_typing(True)
    def __copy__(self) -> Value:
        """A new node with this one's data, grad, label and op, sharing its parents."""
        c: Value = _new(Value)
        c.data = self.data
        c._grad = self._grad
        c.op = self.op
        c._a = self._a
        c._b = self._b
        c._da = self._da
        c._db = self._db
        label = getattr(self, "_label", None)
        if label is not None:
            c._label = label
        if _COMPILED:
            _adopt(c)  # tracked if a parent is (engine/value.pxd)
        return c

    @cython.annotation_typing(True)
    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        """A copy of the graph behind this node, made without recursion (any depth). A
        node reached twice is copied once, so shared nodes stay shared, also with
        Values copied earlier in the same ``deepcopy`` call."""
        # pass 1: a blank copy of every node not copied yet; pass 2: fill them in
        made = [self]
        memo[id(self)] = _new(Value)
        stack = [self]
        while stack:
            node = stack.pop()
            a = node._a
            if a is None:
                continue
            if id(a) not in memo:
                memo[id(a)] = _new(Value)
                made.append(a)
                stack.append(a)
            b = node._b
            if b is not None and id(b) not in memo:  # (None: a unary op)
                memo[id(b)] = _new(Value)
                made.append(b)
                stack.append(b)
        c: Value
        for node in made:
            c = memo[id(node)]
            c.data = node.data
            c._grad = node._grad
            c.op = node.op
            a = node._a
            if a is None:
                c._a = c._b = None
                c._da = c._db = 0.0
            else:
                c._a = memo[id(a)]
                c._da = node._da
                c._db = node._db
                b = node._b
                c._b = None if b is None else memo[id(b)]
            label = getattr(node, "_label", None)  # unset on the nodes ops make
            if label is not None:
                c._label = label
            if _COMPILED:
                _adopt(c)  # tracked if a parent is (engine/value.pxd)
        return memo[id(self)]  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickle support for every protocol (0 to 5), at any depth.

        The first node of a graph the pickler meets lists every node it depends on,
        parents before children, ahead of its own fields; each listed node then refers
        only to parents already written, so the pickler never recurses more than one
        level. Shared nodes are written once (the pickler's memo), also across the
        Values of one ``pickle.dumps`` call.
        """
        pending = _pickling.pending
        if self in pending:  # inside the listing of a graph: parents are written
            pending.discard(self)
            return (
                _restore,
                (),
                (
                    self.data,
                    self.grad,
                    getattr(self, "_label", None),
                    self.op,
                    self._a,
                    self._b,
                    self._da,
                    self._db,
                ),
            )
        order = toposort(self)
        order.pop()  # self
        _pickling.pending = set(order)  # (forgets what an aborted pickling left)
        return (_restore, (), (order, _EndOfListing(), self._fields()))

    def _fields(self) -> tuple[Any, ...]:
        label = getattr(self, "_label", None)  # unset on the nodes ops make
        return (self.data, self.grad, label, self.op, self._a, self._b, self._da, self._db)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        """Fill in a blank node made by the unpickler (and only such a node: a node
        already in a graph keeps its parents, or the graph could loop)."""
        if getattr(self, "op", None) is not None:
            raise TypeError(
                "Value.__setstate__ fills in a node being unpickled; this one is already "
                "made (make a new Value, or copy.copy() it)"
            )
        if len(state) == 3:  # (the listing, its end, the fields)
            state = state[2]
        self.data, self.grad, label, self.op, self._a, self._b, self._da, self._db = state
        if label is not None:
            self.label = label  # (checked: a str)
        if _COMPILED:
            _adopt(self)  # tracked if a parent is (engine/value.pxd)

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * ``gradient`` to the ``grad`` of every node of the graph.

        Iterative (no depth limit). Gradients accumulate: calling it twice adds the
        same amounts twice, to leaves and intermediates alike, never counting an
        intermediate's earlier grad as part of the new pass.
        """
        _backward(self, gradient)  # (checks the seed gradient: engine.checks)

    # --- the hot path: + * and unary - --------------------------------------------

    @cython.annotation_typing(True)
    def __add__(self, other: Value | Number) -> Value:
        """x + y; d/dx = 1, d/dy = 1."""
        o: Value
        if type(other) is Value:
            o = other
        elif type(other) is float and other - other == 0.0:
            # _lift's fast path, inline: a number operand is this op's constant
            o = _new(Value)
            o.data = other
            o._grad = 0.0
            o.op = ""
            o._a = o._b = None
            o._da = o._db = 0.0
        else:
            o = _lift(other, "+")
        try:  # free in CPython >= 3.11; the except clause runs only for junk data
            data: float = self.data + o.data
            if data - data != 0.0:  # inf, or nan from junk someone assigned to .data
                raise _overflow("+", self, o)
        except TypeError:  # str or None assigned to .data?
            bad = _bad_data(self, o)
            if bad is None:
                raise
            raise bad from None
        out: Value = _new(Value)
        out.data = data
        out._grad = 0.0
        out.op = "+"
        if _recording or _mode.enabled:
            out._a = self
            out._da = 1.0
            out._b = o
            out._db = 1.0
            if _COMPILED:
                _adopt(out)  # tracked if a parent is (engine/value.pxd)
        else:
            out._a = out._b = None
            out._da = out._db = 0.0
            out.op = ""  # a leaf: no op recorded
        return out

    @cython.annotation_typing(True)
    def __mul__(self, other: Value | Number) -> Value:
        """x * y; d/dx = y, d/dy = x."""
        o: Value
        if type(other) is Value:
            o = other
        elif type(other) is float and other - other == 0.0:
            # _lift's fast path, inline: a number operand is this op's constant
            o = _new(Value)
            o.data = other
            o._grad = 0.0
            o.op = ""
            o._a = o._b = None
            o._da = o._db = 0.0
        else:
            o = _lift(other, "*")
        try:  # free in CPython >= 3.11; the except clause runs only for junk data
            data: float = self.data * o.data
            if data - data != 0.0:  # inf or nan
                raise _overflow("*", self, o)
        except TypeError:  # str or None assigned to .data?
            bad = _bad_data(self, o)
            if bad is None:
                raise
            raise bad from None
        out: Value = _new(Value)
        out.data = data
        out._grad = 0.0
        out.op = "*"
        if _recording or _mode.enabled:
            out._a = self
            out._da = o.data  # y, x: the operands' own float objects, shared
            out._b = o
            out._db = self.data
            if _COMPILED:
                _adopt(out)  # tracked if a parent is (engine/value.pxd)
        else:
            out._a = out._b = None
            out._da = out._db = 0.0
            out.op = ""  # a leaf: no op recorded
        return out

    @cython.annotation_typing(True)
    def __neg__(self) -> Value:
        """-x; d/dx = -1."""
        out: Value = _new(Value)
        try:  # free in CPython >= 3.11
            x: float = self.data
            out.data = -x
        except TypeError:  # str or None assigned to .data?
            bad = _bad_data(self)
            if bad is None:
                raise
            raise bad from None
        out._grad = 0.0
        out.op = "neg"
        out._b = None
        if _recording or _mode.enabled:
            out._a = self
            out._da = -1.0
            out._db = _NO_PARAM
            if _COMPILED:
                _adopt(out)  # tracked if a parent is (engine/value.pxd)
        else:
            out._a = None
            out._da = out._db = 0.0
            out.op = ""  # a leaf: no op recorded
        return out

    # --- everything else goes through the op table ----------------------------------

    def _apply1(self, op: Op, param: Any = None) -> Value:
        """Run unary ``op`` (with its constant ``param``, if it takes one) on self."""
        x = self.data
        try:
            if x - x != 0.0:  # nan or inf assigned by hand: relu(nan) would hide it
                raise _bad_data(self)  # type: ignore[misc]
            y = op.forward(x) if param is None else op.forward(x, param)
            if y - y != 0.0:  # with grad mode on or off: no silent inf or nan
                raise _result_overflow(op.name, x if param is None else (x, param))
        except TypeError:  # str or None assigned to .data?
            bad = _bad_data(self)
            if bad is None:
                raise
            raise bad from None
        out = _new(Value)
        out.data = y
        out._grad = 0.0
        out.op = op.name
        if _recording or _mode.enabled:
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
                raise _derivative_overflow(op, x if param is None else (x, param))
            out._a = self
            out._da = d
            out._db = _NO_PARAM if param is None else param
            out._b = None
            if _COMPILED:
                _adopt(out)  # tracked if a parent is (engine/value.pxd)
        else:
            out._a = out._b = None
            out._da = out._db = 0.0
            out.op = ""  # a leaf: no op recorded
        return out

    def _apply2(self, other: Value, op: Op) -> Value:
        """Run binary ``op`` on (self, other)."""
        x = self.data
        y = other.data
        try:
            if x - x != 0.0 or y - y != 0.0:  # nan or inf assigned by hand
                raise _bad_data(self, other)  # type: ignore[misc]
            v = op.forward(x, y)
            if v - v != 0.0:  # with grad mode on or off: no silent inf or nan
                raise _result_overflow(op.name, (x, y))
        except TypeError:  # str or None assigned to .data?
            bad = _bad_data(self, other)
            if bad is None:
                raise
            raise bad from None
        out = _new(Value)
        out.data = v
        out._grad = 0.0
        out.op = op.name
        if _recording or _mode.enabled:
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
                raise _derivative_overflow(op, (x, y))
            out._a = self
            out._da = da
            out._b = other
            out._db = db
            if _COMPILED:
                _adopt(out)  # tracked if a parent is (engine/value.pxd)
        else:
            out._a = out._b = None
            out._da = out._db = 0.0
            out.op = ""  # a leaf: no op recorded
        return out

    # --- composed arithmetic ----------------------------------------------------------

    # The reflected methods call the forward method itself, not the operator: compiled,
    # ``x + s`` with ``s`` a Python subclass's instance asks ``s.__radd__`` first, and
    # ``+`` there would ask it again, forever.
    def __radd__(self, other: Number) -> Value:
        return _lift(other, "+").__add__(self)

    def __sub__(self, other: Value | Number) -> Value:
        """x - y, recorded as x + (-y)."""
        if isinstance(other, Value):
            return self + (-other)
        return self + -_lift(other, "-").data

    def __rsub__(self, other: Number) -> Value:
        return _lift(other, "-").__add__(-self)

    def __rmul__(self, other: Number) -> Value:
        return _lift(other, "*").__mul__(self)

    def __truediv__(self, other: Value | Number) -> Value:
        """x / y, its own op (correctly rounded, as Python's); d/dx = 1/y, d/dy = -x/y²."""
        return self._apply2(_lift(other, "/"), ops.DIV)

    def __rtruediv__(self, other: Number) -> Value:
        return _lift(other, "/")._apply2(self, ops.DIV)

    def __pow__(self, other: Value | Number) -> Value:
        """x ** p for a number p (d/dx = p x**(p-1)); x ** y for a Value y as well
        (d/dy = x**y log x, so the base must be >= 0)."""
        if isinstance(other, Value):
            if self.data < 0.0 and (_recording or _mode.enabled):
                raise ValueError(
                    f"({self.data!r}) ** Value: the derivative with respect to the exponent "
                    "is not real for a negative base; use a plain-number exponent"
                )
            return self._apply2(other, ops.POW2)
        if type(other) is not float or other - other != 0.0:
            if not is_real(other):
                raise TypeError(
                    f"unsupported exponent for Value **: {type(other).__name__} "
                    f"({_short(other)}); expected a Value or a real number"
                )
            other = to_float(other, "the exponent of Value **")
        return self._apply1(ops.POW, other)

    def __rpow__(self, other: Number) -> Value:
        return _lift(other, "**").__pow__(self)

    def __abs__(self) -> Value:
        """|x|; d/dx = sign(x), with abs'(0) = 0 as in PyTorch."""
        return self._apply1(ops.ABS)

    # --- comparisons look at data and return bool; == and hash stay identity ----------

    if cython.compiled:
        # Compiled, a class that defines ``<`` loses object's hash (CPython inherits a C
        # type's hash only along with its comparisons), so it is written out there: the
        # same number object.__hash__ gives, the address shifted by 4 (nodes are 16-byte
        # aligned). As Python, this block does not run and Value keeps object's hash.
        def __hash__(self) -> int:
            return cython.cast(  # type: ignore[no-any-return]
                cython.Py_hash_t, cython.cast(cython.size_t, cython.cast(cython.p_void, self)) >> 4
            )

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
        if type(slope) is not float or slope - slope != 0.0:
            slope = to_float(slope, "leaky_relu slope")
        return self._apply1(ops.LEAKY_RELU, slope)

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


class _Pickling(threading.local):
    """The nodes of the graph this thread is pickling, not yet written."""

    def __init__(self) -> None:
        self.pending: set[Value] = set()


_pickling = _Pickling()


def _restore() -> Value:
    """A blank node for the unpickler (``__setstate__`` fills it in)."""
    return _new(Value)  # type: ignore[no-any-return]


class _EndOfListing:
    """Pickled right after a graph's listing: every node of it is written by then."""

    __slots__ = ()

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        _pickling.pending = set()
        return (_nothing, ())


def _nothing() -> None:
    """What an ``_EndOfListing`` unpickles to."""
    return None


# --- replays: reading leaves' numbers and adding gradients, many at a time -------------


def read_data(nodes: list[Value]) -> list[float]:
    """``[v.data for v in nodes]``: the numbers a replay (``engine.vmap``) reads from
    the leaves it captured, each call. Compiled, one C loop over the nodes' fields."""
    out = []
    for v in nodes:
        out.append(v.data)
    return out


def zero_grads(nodes: list[Value]) -> None:
    """``v.grad = 0.0`` for each node: ``Module.zero_grad()`` and the optimizers' (one
    C loop over the nodes' fields compiled, where the ``grad`` setter is a call per
    node)."""
    for v in nodes:
        v._grad = 0.0


def add_to_grads(nodes: list[Value], amounts: list[float]) -> None:
    """``v.grad += g`` for each node and amount, in order: a replay hands its gradients
    back as ``backward()`` would add them (a grad of None counts as 0, as there).
    Compiled, one C loop over the nodes' fields."""
    if len(nodes) != len(amounts):
        raise ValueError(f"add_to_grads: {len(nodes)} nodes but {len(amounts)} amounts")
    for i, v in enumerate(nodes):
        old = v._grad
        g = amounts[i] if old is None else old + amounts[i]
        if type(g) is float:
            v._grad = g
        else:  # (a numpy scalar amount, say: the grad setter converts it)
            v.grad = g


@cython.annotation_typing(True)
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
    if not (_recording or _mode.enabled):
        # only the value is wanted: the same sum in floats, as one new leaf
        total = None if acc is None else acc.data
        try:
            for w, x in zip(ws, xs):
                pd = (w if type(w) is Value else _lift(w, "*")).data * (
                    x if type(x) is Value else _lift(x, "*")
                ).data
                total = pd if total is None else total + pd
            finite = total - total == 0.0  # type: ignore[operator]
        except TypeError:  # str or None assigned to some .data?
            bad = _bad_data(start, *ws, *xs)
            if bad is None:
                raise
            raise bad from None
        if not finite:
            raise _dot_error(ws, xs, start)
        return Value(total)  # type: ignore[arg-type]
    # The node construction below repeats Value.__mul__ and Value.__add__ inline: this
    # loop is the hot path of every network (tests/engine/test_value.py checks that the
    # nodes equal the operators' nodes field by field). Overflow is checked once, at
    # the end: the products are of finite numbers, so an overflow makes an infinite
    # term, and every later partial sum stays infinite or NaN.
    try:  # free in CPython >= 3.11; the except clause runs only for junk data
        running: float = 0.0 if acc is None else acc.data  # acc.data, kept as a number
        for w, x in zip(ws, xs):
            wv: Value = w if type(w) is Value else _lift(w, "*")
            xv: Value = x if type(x) is Value else _lift(x, "*")
            prod: float = wv.data * xv.data
            p: Value = _new(Value)
            p.data = prod
            p._grad = 0.0
            p.op = "*"
            p._a = wv
            p._da = xv.data  # the operands' own float objects, shared (as in __mul__)
            p._b = xv
            p._db = wv.data
            if _COMPILED:
                _adopt(p)  # tracked if a parent is (engine/value.pxd)
            if acc is None:
                acc = p
                running = prod
                continue
            running = running + prod
            q: Value = _new(Value)
            q.data = running
            q._grad = 0.0
            q.op = "+"
            q._a = acc
            q._da = 1.0
            q._b = p
            q._db = 1.0
            if _COMPILED:
                _adopt(q)  # tracked if a parent is (engine/value.pxd)
            acc = q
        if running - running != 0.0:  # inf or nan: some product or partial sum overflowed
            raise _dot_error(ws, xs, start)
    except TypeError:  # str or None assigned to some .data?
        bad = _bad_data(start, *ws, *xs)
        if bad is None:
            raise
        raise bad from None
    return acc  # type: ignore[return-value]


def _dot_error(ws: Sequence[Any], xs: Sequence[Any], start: Any) -> Exception:
    """The error the operator loop would have raised: junk in some operand's data, or
    the first op that overflowed."""
    bad = _bad_data(start, *ws, *xs)
    if bad is not None:
        return bad
    total = None if start is None else _lift(start, "+")
    for w, x in zip(ws, xs):
        w = _lift(w, "*")
        x = _lift(x, "*")
        pd = w.data * x.data
        if pd - pd != 0.0:
            return _overflow("*", w, x)
        if total is not None:
            t = total.data + pd
            if t - t != 0.0:
                return _overflow("+", total, _lift(pd, "+"))
        total = _lift(pd if total is None else total.data + pd, "+")
    return OverflowError("dot() overflows float64")  # pragma: no cover (not reached)
