"""Nudge one weight and watch the loss: what a gradient *means*, with numbers.

:func:`nudge` takes a network as it is, picks one parameter θ by name
(``layers.0.neurons.1.w.0``), and records

* the loss J(θ + t) for t across ``[-span, span]`` (everything else held fixed), with the
  tangent J(θ) + (∂J/∂θ)·t whose slope is backprop's gradient;
* the finite-difference slopes (J(θ + ε) − J(θ − ε)) / 2ε for ε = 1, 0.1, …, 1e-8 and
  their distance from the gradient. As ε shrinks, the truncation error (about
  ε² |J'''| / 6) falls by 100 per step, until the rounding error of the two losses
  (about 2.2e-16 |J| / ε) takes over and the slope gets *worse* again.

The sign of ∂J/∂θ says which way to move θ to lower J; its size says how much J cares.
``viz.plot_nudge`` draws both panels. The model is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import Value, gradients, no_grad
from engine.checks import to_float, to_int
from nn.gradcheck import make_objective
from nn.module import Module

__all__ = ["EPSILONS", "Nudge", "nudge"]

#: The default ε of the slope table: 1, 0.1, …, 1e-8.
EPSILONS = tuple(10.0**-k for k in range(9))


@dataclass(frozen=True)
class Nudge:
    """J around one parameter's value, its tangent and the finite-difference slopes."""

    name: str  #: the parameter's dotted name
    value: float  #: θ, the parameter's value
    loss: float  #: J(θ)
    grad: float  #: ∂J/∂θ from backprop
    offsets: list[float]  #: t, the nudges of the curve
    losses: list[float]  #: J(θ + t) for each t
    epsilons: list[float]  #: ε of the slope table
    slopes: list[float]  #: (J(θ + ε) − J(θ − ε)) / 2ε for each ε

    @property
    def thetas(self) -> list[float]:
        """θ + t for every point of the curve."""
        return [self.value + t for t in self.offsets]

    def tangent(self, theta: float) -> float:
        """The tangent line at θ: J(θ) + ∂J/∂θ · (theta − θ)."""
        return self.loss + self.grad * (theta - self.value)

    @property
    def errors(self) -> list[float]:
        """|slope − ∂J/∂θ| for each ε."""
        return [abs(s - self.grad) for s in self.slopes]

    def table(self, digits: int = 12) -> str:
        """The slope table as aligned text."""
        col = digits + 8
        lines = [
            f"parameter {self.name} = {self.value:.{digits}g}, J = {self.loss:.{digits}g}, "
            f"backprop ∂J/∂θ = {self.grad:.{digits}g}",
            f"{'ε':>8}  {'(J(θ+ε) − J(θ−ε)) / 2ε':>{col}}  {'|slope − ∂J/∂θ|':>16}",
        ]
        for eps, slope, err in zip(self.epsilons, self.slopes, self.errors, strict=True):
            lines.append(f"{eps:>8.0e}  {slope:>{col}.{digits}g}  {err:>16.3e}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()


def nudge(
    model: Module,
    name: str,
    inputs: Any,
    targets: Any,
    loss: str | Callable[[Any, Any], Value] = "mse_loss",
    *,
    span: float = 1.0,
    points: int = 41,
    epsilons: Sequence[float] = EPSILONS,
) -> Nudge:
    """J against the parameter ``name`` around its value, with its tangent and slope table.

    ``inputs``, ``targets`` and ``loss`` are as in :func:`nn.gradcheck_module`. The
    curve has ``points`` evenly spaced nudges t in ``[-span, span]`` (t = 0 included
    when ``points`` is odd); the slope table uses each ε of ``epsilons``. Only the one
    parameter moves, and it and every other parameter's data and grad are left exactly
    as they were.

    >>> from nn import MLP
    >>> m = MLP(2, [3, 1], output_activation="sigmoid", seed=0)
    >>> n = nudge(m, "layers.0.neurons.1.w.0", [0.5, -1.0], 1, "binary_cross_entropy")
    >>> abs(n.slopes[5] - n.grad) < 1e-8   # ε = 1e-5
    True
    """
    if not isinstance(model, Module):
        raise TypeError(f"nudge needs an nn.Module, not {type(model).__name__}")
    params = dict(model.named_parameters())
    if not isinstance(name, str) or name not in params:
        shown = ", ".join(list(params)[:4])
        raise ValueError(
            f"the model has no parameter named {name!r}; its parameters are named like "
            f"{shown}, ... ({len(params)} in all; see model.named_parameters())"
        )
    span = to_float(span, "span")
    if span <= 0:
        raise ValueError(f"span must be > 0, got {span!r}")
    points = to_int(points, "points")
    if points < 2:
        raise ValueError(f"points must be an int >= 2, got {points!r}")
    eps_list = [to_float(e, f"epsilons[{i}]") for i, e in enumerate(epsilons)]
    if not eps_list or not all(e > 0 for e in eps_list):
        raise ValueError(f"epsilons must be a non-empty list of numbers > 0, got {epsilons!r}")
    objective = make_objective(model, inputs, targets, loss)
    p = params[name]
    theta, saved_grad = p.data, p.grad

    def at(v: float) -> float:
        p.data = v
        with no_grad():
            return objective().data

    try:
        J = objective()
        (g,) = gradients(J, [p])  # a dict walk: no .grad is touched
        # span times an exact fraction: the ends are ±span, the curve is symmetric bit
        # for bit and the middle of an odd count is t = 0 exactly
        offsets = [span * ((2 * i - (points - 1)) / (points - 1)) for i in range(points)]
        losses = [at(theta + t) for t in offsets]
        slopes = [(at(theta + e) - at(theta - e)) / (2 * e) for e in eps_list]
    finally:
        p.data = theta
        p.grad = saved_grad
    return Nudge(
        name=name,
        value=theta,
        loss=J.data,
        grad=g,
        offsets=offsets,
        losses=losses,
        epsilons=eps_list,
        slopes=slopes,
    )
