"""Checking every parameter of a network against central differences.

:func:`gradcheck_module` is the layer-level gradient check: for every named parameter
θᵢ of a model (``layers.0.neurons.1.w.0``), nudge it by ±hᵢ, run the forward pass and
the loss twice, take (J(θᵢ + hᵢ) − J(θᵢ − hᵢ)) / 2hᵢ and compare it with the gradient
backpropagation gives. Two forward passes per parameter: this is why backprop exists,
and why it is the standing check that backprop is right.

The step is relative: hᵢ = eps · max(1, |θᵢ|), so a large weight is nudged by the same
*relative* amount as a small one is nudged absolutely (a fixed 1e-6 on a weight of 1e4
would be lost in its last digits). The denominator is the exact float distance between
the two nudged values, (θᵢ + hᵢ) − (θᵢ − hᵢ), not 2hᵢ, so the rounding of θᵢ ± hᵢ does
not enter the quotient.

Tolerances (the defaults, PyTorch's for float64): a parameter passes when
|analytic − numeric| <= atol + rtol · |numeric|, atol = 1e-5, rtol = 1e-3. In float64
the central difference is off by the truncation error h² |J'''| / 6 (about 1e-12 |J'''|
with h = 1e-6) plus the rounding error of the two losses, about 2 · 2.2e-16 · k |J| / 2h
for a loss made of k roundings (≈ 2e-8 |J| for k = 100). For the small networks a learner
checks (|J| ≲ 10, a few hundred ops) the numeric slope is good to ~1e-7, two orders of
magnitude inside atol, while a wrong derivative rule or a missing term is off by far more.
At a kink (relu at exactly 0) the central difference averages the two one-sided slopes,
so a parameter whose z sits on a kink can fail without any bug; the message says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import GradcheckError, Value, gradients, no_grad
from engine.checks import to_float
from nn.module import Module
from nn.walkthrough import LOSS_FUNCTIONS

__all__ = ["ModuleGradcheck", "ParameterCheck", "gradcheck_module", "make_objective"]


@dataclass(frozen=True)
class ParameterCheck:
    """One parameter's analytic and numeric derivative and whether they agree."""

    name: str
    value: float
    analytic: float
    numeric: float
    step: float  #: the nudge h used (eps · max(1, |value|))
    abs_error: float  #: |analytic − numeric|
    rel_error: float  #: |analytic − numeric| / max(|analytic|, |numeric|) (0 when both are 0)
    tolerance: float  #: atol + rtol · |numeric|

    @property
    def ok(self) -> bool:
        """Whether ``abs_error <= tolerance``."""
        return self.abs_error <= self.tolerance


@dataclass(frozen=True)
class ModuleGradcheck:
    """The result of :func:`gradcheck_module`: one row per parameter, in the model's order."""

    loss: float
    rows: list[ParameterCheck]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        """True when every parameter agrees."""
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[ParameterCheck]:
        """The parameters that disagree."""
        return [r for r in self.rows if not r.ok]

    @property
    def worst(self) -> ParameterCheck:
        """The parameter whose error is largest relative to its tolerance."""
        return max(self.rows, key=lambda r: r.abs_error / r.tolerance if r.tolerance else 0.0)

    @property
    def rule(self) -> str:
        """The pass rule in words."""
        return (
            f"|analytic − numeric| <= atol + rtol·|numeric|, atol={self.atol:g}, "
            f"rtol={self.rtol:g}; step h = eps·max(1, |θ|), eps={self.eps:g}"
        )

    def summary(self) -> str:
        """One line: all agree, or how many disagree and the worst one."""
        if self.ok:
            w = max(self.rows, key=lambda r: r.abs_error)
            return (
                f"all {len(self.rows)} parameters agree ({self.rule}); largest |diff| "
                f"{w.abs_error:.2e} at {w.name}"
            )
        w = self.worst
        return (
            f"{len(self.failures)} of {len(self.rows)} parameters disagree ({self.rule}); "
            f"worst: {w.name}: analytic {w.analytic:.10g}, numeric {w.numeric:.10g}, "
            f"|diff| {w.abs_error:.3g} > tolerance {w.tolerance:.3g}. At a kink (relu at 0) "
            "central differences average the two one-sided slopes, so a mismatch there "
            "is expected; anywhere else the derivative is wrong."
        )

    def to_text(self, digits: int = 10) -> str:
        """The table, by parameter name, with the summary line at the end."""
        width = max(9, *(len(r.name) for r in self.rows))
        d = digits
        col = d + 7
        lines = [
            f"{'parameter':<{width}}  {'value':>{col}}  {'analytic':>{col}}  "
            f"{'numeric':>{col}}  {'abs err':>9}  {'rel err':>9}  {'tolerance':>9}"
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<{width}}  {r.value:>{col}.{d}g}  {r.analytic:>{col}.{d}g}  "
                f"{r.numeric:>{col}.{d}g}  {r.abs_error:>9.2e}  {r.rel_error:>9.2e}  "
                f"{r.tolerance:>9.2e}  {'ok' if r.ok else 'MISMATCH'}"
            )
        lines.append(f"loss J = {self.loss:.{d}g}")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def _loss_function(loss: Any) -> Callable[[Any, Any], Value]:
    if isinstance(loss, str):
        if loss not in LOSS_FUNCTIONS:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_FUNCTIONS)}")
        return LOSS_FUNCTIONS[loss]
    if callable(loss):
        return loss  # type: ignore[no-any-return]
    raise TypeError(f"loss must be a name or a function, not {type(loss).__name__}")


def is_sequence(x: Any) -> bool:
    """A list or tuple of things (not a string)."""
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _rows(inputs: Any) -> tuple[list[list[float]], bool]:
    """``inputs`` as rows of floats, and whether it was a batch."""
    if not is_sequence(inputs) or not inputs:
        raise TypeError(f"inputs must be an input vector or a list of them, not {inputs!r}")
    batch = is_sequence(inputs[0])
    rows = list(inputs) if batch else [inputs]
    out = []
    for n, row in enumerate(rows):
        if not is_sequence(row):
            raise TypeError(f"inputs[{n}] must be an input vector, not {row!r}")
        out.append([to_float(v, f"input {j} of example {n}") for j, v in enumerate(row)])
    return out, batch


def make_objective(
    model: Module, inputs: Any, targets: Any, loss: str | Callable[[Any, Any], Value]
) -> Callable[[], Value]:
    """A function of no arguments returning J for the model's current parameters.

    ``inputs`` is one input vector or a batch; J is ``loss(model(x), targets)`` or
    ``loss([model(x₁), ...], targets)``. The inputs are checked once, here.
    """
    if not isinstance(model, Module):
        raise TypeError(f"need an nn.Module, not {type(model).__name__}")
    loss_fn = _loss_function(loss)
    rows, batch = _rows(inputs)

    def objective() -> Value:
        preds = [model([Value(v) for v in row]) for row in rows]
        J = loss_fn(preds if batch else preds[0], targets)
        if not isinstance(J, Value):
            raise TypeError(f"the loss must return a Value, got {type(J).__name__}")
        return J

    return objective


def gradcheck_module(
    model: Module,
    inputs: Any,
    targets: Any,
    loss: str | Callable[[Any, Any], Value] = "mse_loss",
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_on_failure: bool = True,
) -> ModuleGradcheck:
    """Every named parameter's backprop gradient against central differences.

    ``inputs`` is one input vector or a batch (a list of them); the loss is
    ``loss(model(x), targets)`` for one example and ``loss([model(x₁), ...], targets)``
    for a batch (as in :func:`~nn.walk_through_step`). ``loss`` is a function or a
    name from :data:`~nn.walkthrough.LOSS_FUNCTIONS`. Each parameter θ is nudged by
    h = eps · max(1, |θ|); it passes when |analytic − numeric| <= atol + rtol·|numeric|
    (see the module docstring for why these tolerances). Returns the
    :class:`ModuleGradcheck` table; when a parameter disagrees and
    ``raise_on_failure`` is true, raises :class:`engine.GradcheckError` whose message
    names the worst parameter and carries the whole table. The parameters' data and
    grads are left exactly as they were, whatever happens.

    >>> from nn import MLP
    >>> m = MLP(2, [3, 1], output_activation="sigmoid", seed=0)
    >>> gradcheck_module(m, [0.5, -1.0], 1, loss="binary_cross_entropy").ok
    True
    """
    if not isinstance(model, Module):
        raise TypeError(f"gradcheck_module needs an nn.Module, not {type(model).__name__}")
    eps = to_float(eps, "eps")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    atol = to_float(atol, "atol")
    rtol = to_float(rtol, "rtol")
    if atol < 0 or rtol < 0:
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol!r}, rtol={rtol!r}")
    objective = make_objective(model, inputs, targets, loss)
    named = list(model.named_parameters())
    if not named:
        raise ValueError("the model has no parameters to check")

    params = [p for _, p in named]
    saved_data = [p.data for p in params]
    saved_grad = [p.grad for p in params]
    try:
        J = objective()
        analytic = gradients(J, params)  # a dict walk: no parameter's .grad is touched
        checks = []
        for (name, p), a, theta in zip(named, analytic, saved_data, strict=True):
            h = eps * max(1.0, abs(theta))
            up, down = theta + h, theta - h
            with no_grad():
                p.data = up
                j_up = objective().data
                p.data = down
                j_down = objective().data
            p.data = theta
            numeric = (j_up - j_down) / (up - down)
            diff = abs(a - numeric)
            scale = max(abs(a), abs(numeric))
            checks.append(
                ParameterCheck(
                    name=name,
                    value=theta,
                    analytic=a,
                    numeric=numeric,
                    step=h,
                    abs_error=diff,
                    rel_error=diff / scale if scale else 0.0,
                    tolerance=atol + rtol * abs(numeric),
                )
            )
    finally:
        for p, d, g in zip(params, saved_data, saved_grad, strict=True):
            p.data = d
            p.grad = g
    result = ModuleGradcheck(loss=J.data, rows=checks, eps=eps, atol=atol, rtol=rtol)
    if raise_on_failure and not result.ok:
        raise GradcheckError(result.summary() + "\n" + result.to_text())
    return result
