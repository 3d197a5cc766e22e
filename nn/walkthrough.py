"""One training iteration, walked through with concrete numbers, as taught on a blackboard.

:func:`walk_through_step` runs one complete gradient-descent iteration on an
:class:`~nn.MLP` and records every intermediate number:

1. forward pass, layer by layer: zˡ = Wˡ aˡ⁻¹ + bˡ and aˡ = f(zˡ), with a⁰ = x;
2. the loss J;
3. backward pass: the error (sensitivity) of every layer δˡ = ∂J/∂zˡ, and the
   gradients ∂J/∂Wˡ and ∂J/∂bˡ;
4. the update Wˡ ← Wˡ − η ∂J/∂Wˡ (and bˡ, unless biases are frozen);
5. the forward pass again, to show the loss went down.

δ is *read from the engine*: the forward pass keeps the Value of every zˡ, and after
``J.backward()`` its ``grad`` is ∂J/∂zˡ. Nothing here implements the delta rule
δᴸ = ∂J/∂aᴸ ⊙ f'(zᴸ), δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f'(zˡ); the tests check the engine's numbers
against it, which is the point of the exercise.

The record renders as aligned plain text (:meth:`StepWalkthrough.to_text`) and as
Markdown with LaTeX matrices (:meth:`StepWalkthrough.to_markdown`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import Value, no_grad
from nn.layers import MLP
from nn.losses import LOSS_FUNCTIONS  # the one table of loss names (nn.train's too)
from nn.optim import SGD

__all__ = ["LOSS_FUNCTIONS", "LayerStep", "StepWalkthrough", "walk_through_step"]

Matrix = list[list[float]]
Prediction = float | list[float]


@dataclass(frozen=True)
class LayerStep:
    """Everything about layer l (``index``, counted from 1) in one iteration.

    Vectors are stored one row per example (a single row for one example):
    ``z[n][i]`` is zˡᵢ for example n. Matrices are out × in, one row per neuron.
    """

    index: int
    activation: str
    inputs: Matrix  #: aˡ⁻¹ (a⁰ = x), per example
    weights: Matrix  #: Wˡ before the update
    biases: list[float] | None  #: bˡ before the update (None: no bias)
    z: Matrix  #: zˡ = Wˡ aˡ⁻¹ + bˡ, per example
    a: Matrix  #: aˡ = f(zˡ), per example
    delta: Matrix  #: δˡ = ∂J/∂zˡ, per example, read from the engine's grads
    grad_weights: Matrix  #: ∂J/∂Wˡ = Σₙ δˡ (aˡ⁻¹)ᵀ
    grad_biases: list[float] | None  #: ∂J/∂bˡ = Σₙ δˡ
    new_weights: Matrix  #: Wˡ after the update
    new_biases: list[float] | None  #: bˡ after the update (unchanged when frozen)

    @property
    def nin(self) -> int:
        """The number of inputs of the layer."""
        return len(self.weights[0])

    @property
    def nout(self) -> int:
        """The number of neurons of the layer."""
        return len(self.weights)


@dataclass(frozen=True)
class StepWalkthrough:
    """The record of one training iteration (see :func:`walk_through_step`).

    ``inputs`` holds one row per example. ``targets`` and the predictions have the
    shape the loss saw: for one example a float (one output) or a list of floats;
    for a batch, a list of those.
    """

    inputs: Matrix
    targets: Any
    batch: bool
    loss_name: str
    lr: float
    update_biases: bool
    layers: list[LayerStep]
    prediction_before: Any
    loss_before: float
    prediction_after: Any
    loss_after: float

    @property
    def loss_change(self) -> float:
        """J after − J before (negative when the step helped)."""
        return self.loss_after - self.loss_before

    @property
    def architecture(self) -> str:
        """Layer sizes, e.g. ``"2-3-1"``."""
        return "-".join(str(n) for n in [self.layers[0].nin] + [s.nout for s in self.layers])

    def to_text(self, digits: int = 6) -> str:
        """Aligned plain text with ``digits`` significant digits (z¹, δ², ∂J/∂W¹ ...)."""
        from nn.walkthrough_format import to_text

        return to_text(self, digits)

    def to_markdown(self, digits: int = 6) -> str:
        """Markdown with LaTeX matrices (renders in Jupyter and on code-hosting sites)."""
        from nn.walkthrough_format import to_markdown

        return to_markdown(self, digits)

    def __str__(self) -> str:
        return self.to_text()


def _is_seq(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _examples(x: Any) -> tuple[list[list[float]], bool]:
    """``x`` as rows of floats, and whether it was a batch."""
    if not _is_seq(x) or not x:
        raise TypeError(f"x must be an input vector or a list of them, not {x!r}")
    batch = _is_seq(x[0])
    rows = list(x) if batch else [x]
    out = []
    for n, row in enumerate(rows):
        if not _is_seq(row):
            raise TypeError(f"x[{n}] must be an input vector, not {row!r}")
        vals = []
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"input {j} of example {n} must be a number, not {v!r}")
            vals.append(float(v))
        out.append(vals)
    return out, batch


def _as_float(p: Any) -> Prediction:
    return [v.data for v in p] if isinstance(p, list) else p.data  # type: ignore[no-any-return]


def walk_through_step(
    model: MLP,
    x: Sequence[float] | Sequence[Sequence[float]],
    y: Any,
    loss: str | Callable[[Any, Any], Value] = "mse_loss",
    lr: float = 0.1,
    *,
    update_biases: bool = True,
    loss_name: str | None = None,
) -> StepWalkthrough:
    """Run one gradient-descent iteration on ``model`` (updated in place) and record it.

    ``x`` is one input vector or a batch (a list of them); ``y`` the target(s) in the
    form ``loss`` takes: for one example, ``loss(model(x), y)``; for a batch,
    ``loss([model(x₁), model(x₂), ...], y)`` (batch losses average over examples).
    ``loss`` is a function or a name from :data:`LOSS_FUNCTIONS`. The update is plain
    gradient descent with learning rate ``lr``; ``update_biases=False`` keeps the
    biases fixed (their gradients are still reported). The model's grads are zeroed
    first. If anything fails, the model's parameters are left as they were.

    >>> from nn import MLP
    >>> m = MLP.from_weights(
    ...     [[[0.15, 0.20], [-0.25, 0.10], [0.05, -0.15]], [[0.20, -0.35, 0.15]]],
    ...     activation="sigmoid",
    ...     output_activation="sigmoid",
    ... )
    >>> step = walk_through_step(m, [-1.0, 1.0], 1, loss="binary_cross_entropy", lr=0.1)
    >>> round(step.prediction_before, 3), round(step.prediction_after, 3)
    (0.491, 0.502)
    """
    if not isinstance(model, MLP):
        raise TypeError(f"walk_through_step needs an nn.MLP, not {type(model).__name__}")
    if isinstance(loss, str):
        if loss not in LOSS_FUNCTIONS:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_FUNCTIONS)}")
        loss_fn = LOSS_FUNCTIONS[loss]
        name = loss_name or loss
    elif callable(loss):
        loss_fn = loss
        name = loss_name or getattr(loss, "__name__", type(loss).__name__)
    else:
        raise TypeError(f"loss must be a name or a function, not {type(loss).__name__}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a number, not {type(lr).__name__} ({lr!r})")
    if not 0 <= lr < float("inf"):
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if not isinstance(update_biases, bool):
        raise TypeError(f"update_biases must be True or False, not {update_biases!r}")
    rows, batch = _examples(x)
    for n, row in enumerate(rows):
        if len(row) != model.nin:
            raise ValueError(f"the model takes {model.nin} inputs, example {n} has {len(row)}")

    layers = model.layers
    weights = [layer.weight_matrix() for layer in layers]
    biases = [layer.bias_vector() for layer in layers]
    saved = model.state_dict()

    # 1. forward, keeping the Value of every z (zs[k][n][i]) and a.
    model.zero_grad()
    zs: list[list[list[Value]]] = [[] for _ in layers]
    acts: list[list[list[Value]]] = [[] for _ in layers]
    layer_inputs: list[Matrix] = [[] for _ in layers]
    preds = []
    for row in rows:
        a: list[Value] = [Value(v) for v in row]
        for k, layer in enumerate(layers):
            layer_inputs[k].append([v.data for v in a])
            z = layer.preactivations(a)
            a = layer.activate(z)
            zs[k].append(z)
            acts[k].append(a)
        preds.append(a[0] if len(a) == 1 else a)
    prediction = preds if batch else preds[0]

    # 2. loss, 3. backward: the engine fills z.grad = ∂J/∂z and p.grad = ∂J/∂p.
    J = loss_fn(prediction, y)
    if not isinstance(J, Value):
        raise TypeError(f"the loss must return a Value, got {type(J).__name__}")
    J.backward()

    records_grad_w = [[[w.grad for w in n.w] for n in layer.neurons] for layer in layers]
    records_grad_b = [
        [n.b.grad for n in layer.neurons] if layer.has_bias else None  # type: ignore[union-attr]
        for layer in layers
    ]

    # 4. update (plain gradient descent), 5. forward again.
    params = [w for layer in layers for n in layer.neurons for w in n.w]
    if update_biases:
        params += [n.b for layer in layers for n in layer.neurons if n.b is not None]
    try:
        SGD(params, lr=lr).step()
        with no_grad():
            after = [model(row) for row in rows]
            prediction_after = after if batch else after[0]
            loss_after = loss_fn(prediction_after, y).data
    except Exception:
        model.load_state_dict(saved)
        raise

    steps = []
    for k, layer in enumerate(layers):
        steps.append(
            LayerStep(
                index=k + 1,
                activation=layer.activation,
                inputs=layer_inputs[k],
                weights=weights[k],
                biases=biases[k],
                z=[[v.data for v in ex] for ex in zs[k]],
                a=[[v.data for v in ex] for ex in acts[k]],
                delta=[[v.grad for v in ex] for ex in zs[k]],
                grad_weights=records_grad_w[k],
                grad_biases=records_grad_b[k],
                new_weights=layer.weight_matrix(),
                new_biases=layer.bias_vector(),
            )
        )
    return StepWalkthrough(
        inputs=rows,
        targets=y,
        batch=batch,
        loss_name=name,
        lr=float(lr),
        update_biases=update_biases,
        layers=steps,
        prediction_before=[_as_float(p) for p in preds] if batch else _as_float(preds[0]),
        loss_before=J.data,
        prediction_after=[_as_float(p) for p in after] if batch else _as_float(after[0]),
        loss_after=loss_after,
    )
