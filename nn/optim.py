"""Optimizers: classes that hold a list of parameters and update them from their grads.

As in PyTorch, an optimizer takes any iterable of Values, so freezing a parameter is
leaving it out (``[p for n, p in model.named_parameters() if not n.endswith(".b")]``).
Updates write ``Value.data`` directly: they are plain float arithmetic, outside any
graph. ``lr`` can be changed between steps (``opt.lr = 0.5``), which is how a
learning-rate schedule such as :func:`linear_decay` is applied.

A step is all or nothing: if any new value would be inf or NaN (a diverging run),
``step()`` raises ``ValueError`` naming the parameter and changes nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from engine import Value
from engine.checks import is_finite, is_real, to_float
from engine.value import zero_grads

__all__ = ["NUMPY_FROM", "SGD", "Adam", "Optimizer", "linear_decay"]

#: An :class:`Adam` with this many parameters or more steps on numpy arrays.
NUMPY_FROM = 64


def _rate(x: Any, name: str, lo: float = 0.0, hi: float = math.inf, hi_open: bool = False) -> float:
    """``x`` as a float in [lo, hi] (or [lo, hi)), else a TypeError/ValueError naming it."""
    f = to_float(x, name, finite=False)
    if not (is_finite(f) and lo <= f and (f < hi if hi_open else f <= hi)):
        bracket = ")" if hi_open else "]"
        raise ValueError(f"{name} must be in [{lo}, {hi}{bracket}, got {x!r}")
    return f


class Optimizer:
    """Base class: holds ``params`` and the learning rate ``lr``."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        if isinstance(params, Value):
            raise TypeError("params must be an iterable of Values (a list), not a single Value")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                f"params must be an iterable of Values, not {type(params).__name__}"
            ) from None
        if not items:
            raise ValueError("the optimizer got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(items):
            if not isinstance(p, Value):
                raise TypeError(f"params[{i}] must be a Value, not {type(p).__name__} ({p!r})")
            if id(p) in seen:
                raise ValueError(f"params[{i}] appears more than once in the parameter list")
            seen.add(id(p))
        self.params: list[Value] = items
        self.lr = lr

    @property
    def lr(self) -> float:
        """The learning rate; may be changed between steps."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _rate(value, "lr")

    def zero_grad(self) -> None:
        """Set the ``grad`` of every parameter held to 0."""
        zero_grads(self.params)

    def step(self) -> None:
        """Update every parameter from its ``grad``."""
        raise NotImplementedError

    def _assign(self, new: list[float]) -> None:
        """Write the new values, or none of them if any is not finite."""
        for i, v in enumerate(new):
            if v - v != 0.0:  # inf or nan
                raise self._diverged(i, v)
        for p, v in zip(self.params, new, strict=True):
            p.data = v

    def _diverged(self, i: int, v: float) -> ValueError:
        """The error for params[i] becoming ``v`` (inf or nan)."""
        p = self.params[i]
        return ValueError(
            f"{type(self).__name__}.step(): params[{i}] would become {v!r} "
            f"(data {p.data!r}, grad {p.grad!r}); the run diverged - lower the "
            "learning rate. Nothing was changed."
        )


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and weight decay (PyTorch's).

    g = ∇ + weight_decay · p;  with momentum: v ← momentum · v + g (v = g at the first
    step), g = v;  then p ← p − lr · g.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _rate(momentum, "momentum", 0.0, 1.0, hi_open=True)
        self.weight_decay = _rate(weight_decay, "weight_decay")
        self._velocity: list[float] | None = None

    def step(self) -> None:
        lr, mu, wd = self._lr, self.momentum, self.weight_decay
        params = self.params
        if mu == 0.0 and wd == 0.0:
            self._assign([p.data - lr * p.grad for p in params])
            return
        grads = [p.grad + wd * p.data for p in params] if wd else [p.grad for p in params]
        if mu:
            old = self._velocity
            velocity = (
                grads if old is None else [mu * v + g for v, g in zip(old, grads, strict=True)]
            )
            new = [p.data - lr * v for p, v in zip(params, velocity, strict=True)]
            self._assign(new)
            self._velocity = velocity
        else:
            self._assign([p.data - lr * g for p, g in zip(params, grads, strict=True)])


class Adam(Optimizer):
    """Adam (Kingma and Ba), as PyTorch's ``torch.optim.Adam`` (its defaults too).

    The formula of PyTorch's documentation (``amsgrad=False``, ``weight_decay=0``,
    ``maximize=False``), for step t = 1, 2, ...:

        m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
        m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  p ← p − lr · m̂ / (√v̂ + eps)

    (eps is added to √v̂, after the bias correction). The arithmetic follows the order
    of PyTorch's CPU implementation (``_single_tensor_adam``), so the rounding matches
    too: m is updated as ``lerp(m, g, 1 − β₁)`` = m + (1 − β₁)(g − m), v as
    v·β₂ + (1 − β₂)·g·g, and p ← p + (−lr/(1 − β₁ᵗ)) · m / (√v / (1 − β₂ᵗ)^0.5 + eps).
    PyTorch's vectorised kernels fuse the m and v updates (one rounding, an FMA) and its
    vectorised ``sqrt`` is not always correctly rounded, so the two agree to about one
    ulp per step, not bit for bit.

    From :data:`NUMPY_FROM` parameters on, a step runs the same arithmetic on numpy
    arrays (each operation rounded once, as in Python: the same numbers to the bit),
    several times faster for a network's thousands of parameters.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, not {betas!r}")
        self.betas = (
            _rate(betas[0], "betas[0]", 0.0, 1.0, hi_open=True),
            _rate(betas[1], "betas[1]", 0.0, 1.0, hi_open=True),
        )
        self.eps = _rate(eps, "eps")
        if self.eps == 0.0:
            raise ValueError("eps must be > 0 (it keeps the update finite when v = 0)")
        n = len(self.params)
        self._m: Any = [0.0] * n
        self._v: Any = [0.0] * n
        self.t = 0
        self._numpy: Any = None
        if n >= NUMPY_FROM:
            try:
                import numpy
            except ImportError:  # pragma: no cover - numpy is a dependency of chainrule
                pass
            else:
                self._numpy = numpy
                self._m, self._v = numpy.zeros(n), numpy.zeros(n)

    def step(self) -> None:
        """One Adam update of every parameter from its ``grad`` (all or nothing)."""
        if self._numpy is not None:
            self._step_arrays(self._numpy)
            return
        b1, b2 = self.betas
        t = self.t + 1
        w1, w2 = 1.0 - b1, 1.0 - b2
        neg_step_size = -(self._lr / (1.0 - b1**t))
        c2_sqrt = (1.0 - b2**t) ** 0.5
        eps = self.eps
        small = abs(w1) < 0.5  # torch.lerp's two forms, chosen by the weight
        sqrt = math.sqrt
        m_new, v_new, new = [], [], []
        for p, m, v in zip(self.params, self._m, self._v, strict=True):
            g = p.grad
            m = m + w1 * (g - m) if small else g + (w1 - 1.0) * (g - m)
            v = v * b2 + w2 * g * g
            m_new.append(m)
            v_new.append(v)
            new.append(p.data + neg_step_size * m / (sqrt(v) / c2_sqrt + eps))
        self._assign(new)
        self._m, self._v, self.t = m_new, v_new, t

    def _step_arrays(self, np: Any) -> None:
        """:meth:`step` on numpy arrays: the same operations in the same order."""
        b1, b2 = self.betas
        t = self.t + 1
        w1, w2 = 1.0 - b1, 1.0 - b2
        neg_step_size = -(self._lr / (1.0 - b1**t))
        c2_sqrt = (1.0 - b2**t) ** 0.5
        params = self.params
        n = len(params)
        g = np.fromiter([p.grad for p in params], np.float64, n)
        data = np.fromiter([p.data for p in params], np.float64, n)
        m, v = self._m, self._v
        with np.errstate(all="ignore"):  # a non-finite result is refused just below
            m = m + w1 * (g - m) if abs(w1) < 0.5 else g + (w1 - 1.0) * (g - m)
            v = v * b2 + w2 * g * g
            new = data + neg_step_size * m / (np.sqrt(v) / c2_sqrt + self.eps)
        finite = np.isfinite(new)
        if not finite.all():
            i = int(np.argmin(finite))
            raise self._diverged(i, float(new[i]))
        for p, x in zip(params, new.tolist(), strict=True):
            p.data = x
        self._m, self._v, self.t = m, v, t


def linear_decay(start: float, end: float, steps: int) -> Callable[[int], float]:
    """The schedule k ↦ start + (end − start) · k / steps (micrograd's demo: 1.0 → 0.1
    over 100 steps, ``lr = 1.0 - 0.9 * k / 100``).

    >>> schedule = linear_decay(1.0, 0.1, 100)
    >>> schedule(0), round(schedule(50), 10)
    (1.0, 0.55)
    """
    a = _rate(start, "start")
    b = _rate(end, "end")
    if not (is_real(steps) and isinstance(steps, numbers.Integral)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    steps = int(steps)

    def schedule(k: int) -> float:
        return a + (b - a) * k / steps

    return schedule
