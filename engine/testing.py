"""Hypothesis strategies for property-testing your own functions against numeric gradients.

Importing this module imports hypothesis (``pip install chainrule[test]``); the rest
of the engine never does.

>>> from hypothesis import given
>>> from engine import gradcheck
>>> from engine.testing import floats
>>> @given(floats(-3, 3))
... def test_my_function(x):
...     assert gradcheck(lambda v: (v * v + 1).log(), x)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.ops import Interval, builtins, lookup

try:
    from hypothesis import strategies as st
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "engine.testing needs hypothesis: pip install 'chainrule[test]' (or pip install hypothesis)"
    ) from e

__all__ = ["floats", "domain", "arguments", "DOMAINS", "Expression", "expressions", "SMOOTH_OPS"]


def floats(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]: no NaN, no infinities."""
    return st.floats(
        min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False
    )


Bounds = tuple[float, float] | tuple[tuple[float, float], ...]


def _bounds(intervals: tuple[Interval, ...]) -> Bounds:
    """One interval as ``(lo, hi)``, a union as a tuple of them."""
    return intervals[0] if len(intervals) == 1 else intervals


#: For each built-in op that applies to one input alone (``x.exp()``,
#: ``x.leaky_relu()``), the inputs on which it is defined *and* differentiable, with a
#: margin of 1e-3 from any edge or kink so that central differences (eps 1e-6) never
#: step outside the domain or across a kink. Read from the op table
#: (``engine.ops``, each entry's ``domain``); :func:`arguments` draws every argument of
#: any op, binary ones included.
DOMAINS: dict[str, Bounds] = {
    op.name: _bounds(op.domain[0])
    for op in builtins()
    if op.arity == 1 and (not op.has_param or op.param_default is not None)
}


def _union(intervals: tuple[Interval, ...] | Bounds) -> st.SearchStrategy[float]:
    if isinstance(intervals[0], tuple):
        return st.one_of(*[floats(lo, hi) for lo, hi in intervals])
    lo, hi = intervals
    return floats(lo, hi)


def domain(op: str) -> st.SearchStrategy[float]:
    """Floats inside ``op``'s differentiable domain (see :data:`DOMAINS`)."""
    try:
        bounds = DOMAINS[op]
    except KeyError:
        raise KeyError(f"no domain known for op {op!r}; known: {sorted(DOMAINS)}") from None
    return _union(bounds)


def arguments(op: str) -> st.SearchStrategy[tuple[float, ...]]:
    """Tuples of arguments of the table's op ``op`` (x; then y or the constant) inside
    its differentiable test domain (``Op.domain``, ``Op.domain_filter``)."""
    entry = lookup(op)
    if not entry.domain:
        raise KeyError(f"op {op!r} has no test domain in the op table")
    drawn = st.tuples(*[_union(d) for d in entry.domain])
    keep = entry.domain_filter
    return drawn if keep is None else drawn.filter(lambda args: keep(*args))


def _square(a: Any, b: Any) -> Any:
    return a * a


def _safe_div(a: Any, b: Any) -> Any:
    return a / (1 + b * b)


#: Smooth ops used by :func:`expressions`: name -> function of two operands (unary
#: ones ignore the second). Smooth everywhere, so numeric gradients are valid at
#: every point hypothesis may pick; division keeps its denominator >= 1.
SMOOTH_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": _safe_div,
    "neg": lambda a, b: -a,
    "square": _square,
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "softplus": lambda a, b: a.softplus(),
    "sin": lambda a, b: a.sin(),
    "cos": lambda a, b: a.cos(),
    "add_const": lambda a, b: a + 0.5,
    "rmul_const": lambda a, b: 1.5 * a,
}


@dataclass(frozen=True)
class Expression:
    """A random expression DAG over ``n_inputs`` scalars, as straight-line steps.

    Step k computes ``SMOOTH_OPS[op](slot[i], slot[j])`` into slot n_inputs + k; an
    operand may be any earlier slot, so sub-expressions are shared and intermediates
    reused. The result is the last slot. ``repr`` prints the program.
    """

    n_inputs: int
    steps: tuple[tuple[str, int, int], ...]

    def __call__(self, *xs: Any) -> Any:
        if len(xs) != self.n_inputs:
            raise TypeError(f"this expression takes {self.n_inputs} inputs, got {len(xs)}")
        slots = list(xs)
        for op, i, j in self.steps:
            slots.append(SMOOTH_OPS[op](slots[i], slots[j]))
        return slots[-1]

    def __repr__(self) -> str:
        names = [f"x{i}" for i in range(self.n_inputs)]
        lines = []
        for k, (op, i, j) in enumerate(self.steps):
            name = f"t{k}"
            lines.append(f"{name} = {op}({names[i]}, {names[j]})")
            names.append(name)
        return f"Expression({', '.join(names[: self.n_inputs])}: " + "; ".join(lines) + ")"


@st.composite
def expressions(draw: Any, n_inputs: int = 3, max_steps: int = 8) -> Expression:
    """Random :class:`Expression` DAGs with shared sub-expressions."""
    n_steps = draw(st.integers(min_value=1, max_value=max_steps))
    steps = []
    for k in range(n_steps):
        available = n_inputs + k
        op = draw(st.sampled_from(sorted(SMOOTH_OPS)))
        i = draw(st.integers(min_value=0, max_value=available - 1))
        j = draw(st.integers(min_value=0, max_value=available - 1))
        steps.append((op, i, j))
    return Expression(n_inputs, tuple(steps))
