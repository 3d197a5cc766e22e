"""Checking analytic gradients against central differences.

Central differences in float64, with a step h that scales with the input:

    f'(x) ≈ (f(x + h) - f(x - h)) / (2h),   h = eps * max(1, |x|)

(the relative step of numerical-analysis texts: Press et al., *Numerical Recipes*,
5.7; Nocedal & Wright, *Numerical Optimization*, 8.1). The truncation error is about
h² |f'''| / 6 and the rounding error about ε |f| / h (ε = 2.2e-16). For |x| <= 1 the
step is eps itself: with eps = 1e-6 both errors are near 1e-10 for functions of
moderate size, so the default tolerances (atol 1e-5, rtol 1e-3, PyTorch's for
float64) leave a wide margin and still catch any wrong derivative rule. At large |x|
a fixed step vanishes in the rounding of x (1e308 + 1e-6 == 1e308: ``x * 1.0`` would
get the slope 0, and ``x * x`` at 1e154 a false mismatch); the relative step changes
x in its 6th significant digit, whatever its size.

``relative=False`` uses the fixed step h = eps at every input (the textbook formula,
what the eps sweep of notebook 04 plots). Either way a non-finite value of ``f`` at a
perturbed point, or of the difference quotient, raises ValueError naming the input
instead of returning nan or inf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.checks import is_finite, is_real, to_float
from engine.mode import no_grad
from engine.transforms import grad, hessian, value_and_grad
from engine.value import Value

__all__ = ["GradcheckError", "numerical_grad", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Analytic and numeric derivatives disagree; the message lists every input."""


def _floats(inputs: Sequence[Any], name: str) -> list[float]:
    if not inputs:
        raise TypeError(f"{name} needs at least one input")
    return [
        to_float(x.data if isinstance(x, Value) else x, f"{name}: input {i}")
        for i, x in enumerate(inputs)
    ]


def _check_eps(eps: Any) -> None:
    if not is_real(eps) or not 0 < eps < 1:
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")


def _check_tolerance(value: Any, name: str) -> float:
    tol = to_float(value, f"gradcheck: {name}")
    if tol < 0:
        raise ValueError(f"gradcheck: {name} must be >= 0, got {value!r}")
    return tol


def _step(x: float, eps: float, relative: bool) -> float:
    """The central difference's step at ``x`` (see the module docstring)."""
    return eps * max(1.0, abs(x)) if relative else float(eps)


def _evaluate(f: Callable[..., Any], xs: list[float], where: str) -> float:
    """``f`` at ``xs`` (plain numbers, no graph) as a finite float, or a ValueError."""
    if not all(is_finite(x) for x in xs):
        raise ValueError(f"{where} overflows float64 (inputs {xs})")
    with no_grad():
        try:
            out = f(*[Value(x) for x in xs])
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise ValueError(f"f raised at {where} (inputs {xs}): {e}") from e
    y = out.data if isinstance(out, Value) else to_float(out, "f's result", finite=False)
    if not is_finite(y):
        raise ValueError(f"f returned {y!r} at {where} (inputs {xs})")
    return y


def _difference(f: Callable[..., Any], xs: list[float], i: int, h: float) -> float:
    """(f(x + h e_i) - f(x - h e_i)) / (2h): df/dx_i by central differences."""
    up = list(xs)
    down = list(xs)
    up[i] += h
    down[i] -= h
    hi = _evaluate(f, up, f"input {i} + step {h:g}")
    lo = _evaluate(f, down, f"input {i} - step {h:g}")
    d = (hi - lo) / (2 * h)
    if not is_finite(d):
        raise ValueError(
            f"the central difference in input {i} overflows float64: f(x + h) = {hi!r}, "
            f"f(x - h) = {lo!r}, h = {h!r} (inputs {xs})"
        )
    return d


def numerical_grad(
    f: Callable[..., Any], *inputs: Any, eps: float = 1e-6, relative: bool = True
) -> tuple[float, ...]:
    """Central-difference estimate of df/dx_i for each input (``f`` gets Values).

    The step at input x is ``eps * max(1, |x|)``, or ``eps`` with ``relative=False``
    (see the module docstring). A non-finite value of ``f`` at a perturbed point, or
    of the difference quotient, raises ValueError naming the input.
    """
    _check_eps(eps)
    xs = _floats(inputs, "numerical_grad")
    return tuple(_difference(f, xs, i, _step(x, eps, relative)) for i, x in enumerate(xs))


def _compare(rows: list[tuple[str, float, float]], atol: float, rtol: float, what: str) -> None:
    bad = False
    lines = []
    for name, analytic, numeric in rows:
        diff = abs(analytic - numeric)
        tol = atol + rtol * abs(numeric)
        ok = diff <= tol
        bad |= not ok
        lines.append(
            f"  {name}: analytic {analytic:.10g}, numeric {numeric:.10g}, "
            f"|diff| {diff:.3g} {'<=' if ok else '>'} tolerance {tol:.3g}"
            + ("" if ok else "   <-- mismatch")
        )
    if bad:
        raise GradcheckError(f"{what} disagree (atol={atol}, rtol={rtol}):\n" + "\n".join(lines))


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    order: int = 1,
    relative: bool = True,
) -> bool:
    """True if ``f``'s gradients match central differences at ``inputs``.

    ``f`` takes one scalar (a Value) per input and returns a scalar Value. A
    mismatch raises :class:`GradcheckError` listing, for every input, the analytic
    and numeric derivative, their difference and the tolerance
    ``atol + rtol * |numeric|`` (``atol`` and ``rtol`` finite and >= 0). ``order=2``
    also checks the second derivatives (the graph-building path) against central
    differences of the first ones. The step of the differences is
    ``eps * max(1, |x|)``, or ``eps`` with ``relative=False`` (module docstring).
    """
    _check_eps(eps)
    atol = _check_tolerance(atol, "atol")
    rtol = _check_tolerance(rtol, "rtol")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    xs = _floats(inputs, "gradcheck")
    nums = tuple(range(len(xs)))
    _, analytic = value_and_grad(f, nums)(*xs)
    numeric = numerical_grad(f, *xs, eps=eps, relative=relative)
    rows = [
        (f"d f / d input {i} (at {x!r})", a, n)
        for i, (x, a, n) in enumerate(zip(xs, analytic, numeric))
    ]
    _compare(rows, atol, rtol, "first derivatives")
    if order == 2:
        g = grad(f, nums)
        analytic_h = hessian(f, nums)(*xs)
        hessian_rows = []
        for j in range(len(xs)):
            h = _step(xs[j], eps, relative)
            up = list(xs)
            down = list(xs)
            up[j] += h
            down[j] -= h
            g_up, g_down = g(*up), g(*down)
            for i in range(len(xs)):
                numeric_ij = (g_up[i] - g_down[i]) / (2 * h)
                name = f"d2 f / d input {i} d input {j}"
                hessian_rows.append((name, analytic_h[i][j], numeric_ij))
        _compare(hessian_rows, atol, rtol, "second derivatives")
    return True


def gradgradcheck(f: Callable[..., Any], *inputs: Any, **kwargs: Any) -> bool:
    """``gradcheck(f, *inputs, order=2, **kwargs)``: first and second derivatives."""
    return gradcheck(f, *inputs, order=2, **kwargs)
