"""Shared hypothesis strategies and the one numeric tolerance of the test suite.

Built on the public :mod:`engine.testing`, so users property-test their own functions
with the same tools.

Tolerance (used by every comparison against central differences here and by
``engine.gradcheck``'s defaults, PyTorch's for float64): ``|analytic - numeric| <=
ATOL + RTOL * |numeric|`` with ATOL = 1e-5, RTOL = 1e-3. A float64 central difference
with step EPS = 1e-6 is off by the truncation error eps² |f'''| / 6 plus the rounding
error ~2.2e-16 |f| / eps. On the inputs used here (|x| <= 20 for exp, tanh, sigmoid,
softplus; [1e-3, 1e3] for log and sqrt; bases in [0.1, 10] for powers up to ±3)
the worst cases are:

* exp at 20: f = f' = f''' = 4.9e8, error ~1e-4 + 0.1 = 0.1 against a tolerance
  of 4.9e5;
* log at 1e-3: f''' = 2 / x³ = 2e9, truncation 3e-4 against 1e-3 * 1e3 = 1;
* sqrt at 1e-3: f''' = 3/8 x^-2.5 = 1.2e7, truncation 2e-6 against 0.016;
* x ** -3 at 0.1: f''' = -60 x^-6 = -6e7, truncation 1e-5 against 3e1;
* a function near a zero of its derivative (cos at 0): only the rounding error
  2.2e-16 / 1e-6 = 2e-10 remains, far below ATOL.

So every correct rule passes with at least three orders of magnitude to spare, and a
wrong one (a wrong sign, factor or constant) is off by O(|f'|) and fails.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from engine import Value, no_grad
from engine.testing import DOMAINS, SMOOTH_OPS, Expression, domain, expressions, floats

__all__ = [
    "ATOL",
    "DOMAINS",
    "EPS",
    "RTOL",
    "Expression",
    "assert_close",
    "bounded_expression",
    "central_difference",
    "domain",
    "exponents",
    "expressions",
    "floats",
    "integer_exponents",
    "positive_floats",
    "pow2_inputs",
    "pow_inputs",
    "slopes",
    "small_floats",
]

EPS = 1e-6
ATOL = 1e-5
RTOL = 1e-3

#: Inputs for random expression DAGs: bounded so that products of a few steps stay
#: well inside float64 and central differences stay accurate.
small_floats = floats(-2.0, 2.0)

#: Strictly positive inputs (log, sqrt, division) with a margin from 0.
positive_floats = floats(1e-2, 100.0)

#: Exponents for x ** p: integers and halves, both signs.
exponents = st.sampled_from([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])

#: Integer exponents, the only ones allowed with a negative base.
integer_exponents = st.sampled_from([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0])

#: (base, p) for ``x ** p`` with a number p: a positive base with any real exponent,
#: or a negative base with an integer one. Bases stay 0.1 away from 0, where
#: negative powers have a pole (and x ** 0.5 an infinite slope).
pow_inputs = st.one_of(
    st.tuples(floats(0.1, 10.0), st.one_of(exponents, floats(-3.0, 3.0))),
    st.tuples(floats(-10.0, -0.1), integer_exponents),
)

#: (base, exponent) for ``Value ** Value``: the base must be positive (d/dy = x**y log x).
pow2_inputs = st.tuples(floats(0.1, 10.0), floats(-3.0, 3.0))

#: leaky_relu slopes.
slopes = floats(0.0, 1.0)


def central_difference(f: Callable[[float], float], x: float, eps: float = EPS) -> float:
    """(f(x + eps) - f(x - eps)) / (2 eps), in float64."""
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def assert_close(analytic: float, numeric: float, what: str = "derivative") -> None:
    """``|analytic - numeric| <= ATOL + RTOL * |numeric|`` (justified in the module docstring)."""
    tol = ATOL + RTOL * abs(numeric)
    assert abs(analytic - numeric) <= tol, (
        f"{what}: analytic {analytic!r}, numeric {numeric!r}, "
        f"|diff| {abs(analytic - numeric):.3g} > tolerance {tol:.3g}"
    )


def _slot_values(e: Expression, xs: tuple[float, ...]) -> list[float]:
    """Every input and intermediate value of ``e`` at ``xs`` (computed without a graph)."""
    with no_grad():
        values = [Value(x) for x in xs]
        for op, i, j in e.steps:
            values.append(SMOOTH_OPS[op](values[i], values[j]))
    return [v.data for v in values]


def bounded_expression(e: Expression, xs: tuple[float, ...], bound: float = 100.0) -> bool:
    """Whether every intermediate of ``e`` at ``xs`` stays within ``±bound``.

    Why random DAG tests filter on it: the ops are smooth everywhere, but a chain
    of squarings can reach 2**256 and then feed ``sin``, where f''' ~ 1e230 and no
    finite difference means anything. Keeping the intermediates moderate keeps the
    error estimate of the module docstring valid; it removes no hard region of any op.
    """
    try:
        slots = _slot_values(e, xs)
    except OverflowError:
        return False
    return all(abs(v) <= bound for v in slots)
