"""One training iteration, walked through with concrete numbers, as taught on a blackboard.

:func:`walk_through_step` runs one complete gradient-descent iteration on an
:class:`~nn.MLP` and records every intermediate number:

1. forward pass, layer by layer: zˡ = Wˡ aˡ⁻¹ + bˡ and aˡ = f(zˡ), with a⁰ = x;
2. the loss J;
3. backward pass, layer by layer as the layer-level *bprop* interface teaches it: layer
   l receives ∂J/∂aˡ, multiplies by f′(zˡ) to get its error (sensitivity)
   δˡ = ∂J/∂zˡ = ∂J/∂aˡ ⊙ f′(zˡ), and returns ∂J/∂Wˡ = δˡ (aˡ⁻¹)ᵀ, ∂J/∂bˡ = δˡ and
   ∂J/∂aˡ⁻¹ = (Wˡ)ᵀ δˡ, which the layer below receives;
4. the update Wˡ ← Wˡ − η ∂J/∂Wˡ (and bˡ, unless biases are frozen);
5. the forward pass again, to show the loss went down.

Every backward number is *read from the engine*: the forward pass keeps the Value of
every input, zˡ and aˡ, and after ``J.backward()`` their ``grad`` is ∂J/∂x, ∂J/∂zˡ and
∂J/∂aˡ; f′(zˡ) is the local derivative the engine recorded on the activation's node.
Nothing here implements the delta rule δᴸ = ∂J/∂aᴸ ⊙ f'(zᴸ), δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f'(zˡ);
the tests check the engine's numbers against it computed with plain floats, which is
the point of the exercise.

For a batch there are two conventions for the per-example δ, and the record says which
one it shows (:attr:`StepWalkthrough.convention`):

* ``"batch"`` (the default): δ = ∂J/∂z of the batch loss J itself. When J averages
  over the n examples (J = 1/n Σᵢ Jᵢ), each example's δ carries that 1/n, and
  ∂J/∂Wˡ = Σᵢ δᵢˡ (aᵢˡ⁻¹)ᵀ.
* ``"per-example"``: the delta-rule derivation's δᵢ = ∂Jᵢ/∂zᵢ of example i's own loss Jᵢ,
  with no 1/n inside (for MSE, δᵢᴸ = (ŷᵢ − yᵢ) ⊙ σ′(zᵢᴸ) up to the loss's constant);
  the 1/n appears in the average ∂J/∂Wˡ = 1/n Σᵢ δᵢˡ (aᵢˡ⁻¹)ᵀ. The engine computes each
  δᵢ from Jᵢ = loss([ŷᵢ], [yᵢ]) (``engine.gradients``), and the walkthrough checks that
  J = 1/n Σᵢ Jᵢ; a loss that is not a mean over examples is refused.

The record renders as aligned plain text (:meth:`StepWalkthrough.to_text`) and as
Markdown with LaTeX matrices (:meth:`StepWalkthrough.to_markdown`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import Value, gradients, no_grad
from engine.checks import to_float
from nn.layers import MLP
from nn.losses import LOSS_FUNCTIONS  # the one table of loss names (nn.train's too)
from nn.optim import SGD
from nn.walkthrough_format import PARTS, to_markdown, to_text

__all__ = ["CONVENTIONS", "LOSS_FUNCTIONS", "LayerStep", "StepWalkthrough", "walk_through_step"]

#: The two ways to show a batch's per-example δ (see the module docstring).
CONVENTIONS = ("batch", "per-example")

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
    grad_a: Matrix  #: ∂J/∂aˡ, per example: what bprop of layer l receives
    fprime: Matrix  #: f′(zˡ), per example, the engine's local derivative of f
    delta: Matrix  #: δˡ = ∂J/∂zˡ = ∂J/∂aˡ ⊙ f′(zˡ), per example, read from the engine
    grad_inputs: Matrix  #: ∂J/∂aˡ⁻¹ = (Wˡ)ᵀ δˡ, per example: what bprop of layer l returns
    grad_weights: Matrix  #: ∂J/∂Wˡ = Σₙ δˡ (aˡ⁻¹)ᵀ (1/n Σₙ under "per-example")
    grad_biases: list[float] | None  #: ∂J/∂bˡ = Σₙ δˡ (1/n Σₙ under "per-example")
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
    for a batch, a list of those. ``convention`` says how a batch's per-example
    ∂J/∂a, δ and ∂J/∂aˡ⁻¹ are shown (``"batch"`` or ``"per-example"``, see the module
    docstring); with one example both are the same.
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
    convention: str = "batch"

    @property
    def loss_change(self) -> float:
        """J after − J before (negative when the step helped)."""
        return self.loss_after - self.loss_before

    @property
    def architecture(self) -> str:
        """Layer sizes, e.g. ``"2-3-1"``."""
        return "-".join(str(n) for n in [self.layers[0].nin] + [s.nout for s in self.layers])

    @property
    def convention_note(self) -> str:
        """One sentence saying which δ convention the record shows."""
        n = len(self.inputs)
        if not self.batch:
            return "One example: δˡ = ∂J/∂zˡ and ∂J/∂Wˡ = δˡ (aˡ⁻¹)ᵀ."
        if self.convention == "per-example":
            return (
                f"Per-example convention (as in the delta-rule derivation): δᵢ = ∂Jᵢ/∂zᵢ is "
                f"example i's own error, with no 1/n inside; the batch gradient is the "
                f"average ∂J/∂Wˡ = 1/n Σᵢ δᵢˡ (aᵢˡ⁻¹)ᵀ, n = {n}, since J = 1/n Σᵢ Jᵢ."
            )
        return (
            "Batch convention: δ = ∂J/∂z of the batch loss J itself, so when J averages "
            f"over the n = {n} examples each example's δ already carries the 1/n; "
            "∂J/∂Wˡ = Σᵢ δᵢˡ (aᵢˡ⁻¹)ᵀ (convention='per-example' shows δᵢ without the 1/n)."
        )

    def to_text(self, digits: int = 6, part: str | None = None) -> str:
        """Aligned plain text with ``digits`` significant digits (z¹, δ², ∂J/∂W¹ ...).

        ``part`` shows one step at a time: ``"forward"``, ``"backward"``, ``"update"``
        or ``"after"`` (the forward pass again), each after the heading.
        """
        return to_text(self, digits, part)

    def to_markdown(self, digits: int = 6, part: str | None = None) -> str:
        """Markdown with LaTeX matrices (renders in Jupyter and on code-hosting sites)."""
        return to_markdown(self, digits, part)

    #: The steps ``part=`` selects, in order.
    PARTS = PARTS

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
        out.append([to_float(v, f"input {j} of example {n}") for j, v in enumerate(row)])
    return out, batch


def _as_float(p: Any) -> Prediction:
    return [v.data for v in p] if isinstance(p, list) else p.data  # type: ignore[no-any-return]


def _fprime(z: Value, a: Value) -> float:
    """f′(z) as the engine recorded it on the activation's node (1 for a linear layer)."""
    if a is z:
        return 1.0
    (d,) = a.local_grads
    return d


#: |J − 1/n Σ Jᵢ| allowed, relative to |J|, for a loss to count as a mean over examples:
#: both sides sum the same n terms in float64, in possibly different orders, so they
#: differ by a few n·2.2e-16 at most; 1e-9 leaves a wide margin and still tells a sum
#: (off by a factor n) or any other reduction from a mean.
_MEAN_RTOL = 1e-9


def walk_through_step(
    model: MLP,
    x: Sequence[float] | Sequence[Sequence[float]],
    y: Any,
    loss: str | Callable[[Any, Any], Value] = "mse_loss",
    lr: float = 0.1,
    *,
    update_biases: bool = True,
    loss_name: str | None = None,
    convention: str = "batch",
) -> StepWalkthrough:
    """Run one gradient-descent iteration on ``model`` (updated in place) and record it.

    ``x`` is one input vector or a batch (a list of them); ``y`` the target(s) in the
    form ``loss`` takes: for one example, ``loss(model(x), y)``; for a batch,
    ``loss([model(x₁), model(x₂), ...], y)`` (batch losses average over examples).
    ``loss`` is a function or a name from :data:`LOSS_FUNCTIONS`. The update is plain
    gradient descent with learning rate ``lr``; ``update_biases=False`` keeps the
    biases fixed (their gradients are still reported). ``convention`` chooses how a
    batch's per-example δ is shown: ``"batch"`` (∂J/∂z, with the mean's 1/n inside)
    or ``"per-example"`` (the delta-rule derivation's δᵢ = ∂Jᵢ/∂zᵢ, no 1/n; needs a
    loss that is the mean of per-example losses). The model's grads are zeroed
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
        name = loss_name or str(getattr(loss, "__name__", type(loss).__name__))
    else:
        raise TypeError(f"loss must be a name or a function, not {type(loss).__name__}")
    lr = to_float(lr, "lr")
    if not lr >= 0:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if not isinstance(update_biases, bool):
        raise TypeError(f"update_biases must be True or False, not {update_biases!r}")
    if convention not in CONVENTIONS:
        raise ValueError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    rows, batch = _examples(x)
    for n, row in enumerate(rows):
        if len(row) != model.nin:
            raise ValueError(f"the model takes {model.nin} inputs, example {n} has {len(row)}")

    layers = model.layers
    weights = [layer.weight_matrix() for layer in layers]
    biases = [layer.bias_vector() for layer in layers]
    saved = model.state_dict()

    # 1. forward, keeping the Value of every input, z (zs[k][n][i]) and a.
    model.zero_grad()
    xs: list[list[Value]] = []
    zs: list[list[list[Value]]] = [[] for _ in layers]
    acts: list[list[list[Value]]] = [[] for _ in layers]
    layer_inputs: list[Matrix] = [[] for _ in layers]
    preds = []
    for row in rows:
        a: list[Value] = [Value(v, label=f"x{j + 1}") for j, v in enumerate(row)]
        xs.append(a)
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

    # What each layer's bprop receives (∂J/∂aˡ), makes (δˡ) and returns (∂J/∂aˡ⁻¹), per
    # example: grads[n] maps a node of example n to its gradient.
    if batch and convention == "per-example":
        grads = _per_example_grads(loss_fn, preds, y, J, xs, zs, acts)
    else:
        grads = [{} for _ in rows]
        for n in range(len(rows)):
            for node in xs[n] + [v for k in range(len(layers)) for v in zs[k][n] + acts[k][n]]:
                grads[n][node] = node.grad

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
        below = [xs[n] if k == 0 else acts[k - 1][n] for n in range(len(rows))]
        steps.append(
            LayerStep(
                index=k + 1,
                activation=layer.activation,
                inputs=layer_inputs[k],
                weights=weights[k],
                biases=biases[k],
                z=[[v.data for v in ex] for ex in zs[k]],
                a=[[v.data for v in ex] for ex in acts[k]],
                grad_a=[[grads[n][v] for v in ex] for n, ex in enumerate(acts[k])],
                fprime=[
                    [_fprime(z, a) for z, a in zip(zex, aex, strict=True)]
                    for zex, aex in zip(zs[k], acts[k], strict=True)
                ],
                delta=[[grads[n][v] for v in ex] for n, ex in enumerate(zs[k])],
                grad_inputs=[[grads[n][v] for v in ex] for n, ex in enumerate(below)],
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
        convention=convention if batch else "batch",
    )


def _per_example_grads(
    loss_fn: Callable[[Any, Any], Value],
    preds: list[Any],
    y: Any,
    J: Value,
    xs: list[list[Value]],
    zs: list[list[list[Value]]],
    acts: list[list[list[Value]]],
) -> list[dict[Value, float]]:
    """∂Jᵢ/∂(node) for every input, z and a node of each example i, Jᵢ = loss([ŷᵢ], [yᵢ]).

    Refuses a loss that is not the mean of its per-example losses (the per-example
    convention's ∂J/∂W = 1/n Σᵢ δᵢ aᵢᵀ would then be wrong).
    """
    if not _is_seq(y) or len(y) != len(preds):
        raise ValueError(
            f"convention='per-example' needs one target per example ({len(preds)}), got {y!r}"
        )
    n = len(preds)
    out: list[dict[Value, float]] = []
    per_losses = []
    for i in range(n):
        Ji = loss_fn([preds[i]], [y[i]])
        per_losses.append(Ji.data)
        nodes = xs[i] + [v for k in range(len(zs)) for v in zs[k][i] + acts[k][i]]
        out.append(dict(zip(nodes, gradients(Ji, nodes), strict=True)))
    mean = sum(per_losses) / n
    if abs(J.data - mean) > _MEAN_RTOL * max(abs(J.data), abs(mean)):
        raise ValueError(
            "convention='per-example' needs a loss that is the mean of the per-example "
            f"losses (J = 1/n Σᵢ Jᵢ); here J = {J.data!r} but 1/n Σᵢ Jᵢ = {mean!r} "
            "(a loss with reduction='sum' is not a mean)"
        )
    return out
