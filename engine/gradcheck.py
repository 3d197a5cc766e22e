"""Checking analytic gradients against central differences.

Central differences in float64: (f(x + eps) - f(x - eps)) / (2 eps) has a
truncation error of about eps² |f'''| / 6 and a rounding error of about
ε |f| / eps (ε = 2.2e-16). With eps = 1e-6 both are near 1e-10 for functions of
moderate size, so the default tolerances (atol 1e-5, rtol 1e-3, PyTorch's for
float64) leave a wide margin and still catch any wrong derivative rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from engine.mode import no_grad
from engine.transforms import grad, hessian, value_and_grad
from engine.value import Value

__all__ = ["GradcheckError", "numerical_grad", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Analytic and numeric derivatives disagree; the message lists every input."""


def _floats(inputs: Sequence[Any], name: str) -> list[float]:
    if not inputs:
        raise TypeError(f"{name} needs at least one input")
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Value):
            x = x.data
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"{name}: input {i} must be a finite number or a Value, got {x!r}")
        if not math.isfinite(x):
            raise ValueError(f"{name}: input {i} must be finite, got {x!r}")
        out.append(float(x))
    return out


def _check_eps(eps: float) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")


def _evaluate(f: Callable[..., Any], xs: list[float], where: str) -> float:
    with no_grad():
        try:
            out = f(*[Value(x) for x in xs])
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise ValueError(f"f raised at {where} (inputs {xs}): {e}") from e
    return out.data if isinstance(out, Value) else float(out)


def numerical_grad(f: Callable[..., Any], *inputs: Any, eps: float = 1e-6) -> tuple[float, ...]:
    """Central-difference estimate of df/dx_i for each input (``f`` gets Values)."""
    _check_eps(eps)
    xs = _floats(inputs, "numerical_grad")
    result = []
    for i in range(len(xs)):
        up = list(xs)
        down = list(xs)
        up[i] += eps
        down[i] -= eps
        hi = _evaluate(f, up, f"input {i} + eps")
        lo = _evaluate(f, down, f"input {i} - eps")
        result.append((hi - lo) / (2 * eps))
    return tuple(result)


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
) -> bool:
    """True if ``f``'s gradients match central differences at ``inputs``.

    ``f`` takes one scalar (a Value) per input and returns a scalar Value. A
    mismatch raises :class:`GradcheckError` listing, for every input, the analytic
    and numeric derivative, their difference and the tolerance
    ``atol + rtol * |numeric|``. ``order=2`` also checks the second derivatives
    (the graph-building path) against central differences of the first ones.
    """
    _check_eps(eps)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    xs = _floats(inputs, "gradcheck")
    nums = tuple(range(len(xs)))
    _, analytic = value_and_grad(f, nums)(*xs)
    numeric = numerical_grad(f, *xs, eps=eps)
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
            up = list(xs)
            down = list(xs)
            up[j] += eps
            down[j] -= eps
            g_up, g_down = g(*up), g(*down)
            for i in range(len(xs)):
                numeric_ij = (g_up[i] - g_down[i]) / (2 * eps)
                name = f"d2 f / d input {i} d input {j}"
                hessian_rows.append((name, analytic_h[i][j], numeric_ij))
        _compare(hessian_rows, atol, rtol, "second derivatives")
    return True


def gradgradcheck(f: Callable[..., Any], *inputs: Any, **kwargs: Any) -> bool:
    """``gradcheck(f, *inputs, order=2, **kwargs)``: first and second derivatives."""
    return gradcheck(f, *inputs, order=2, **kwargs)
