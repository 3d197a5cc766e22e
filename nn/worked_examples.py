"""The two published hand calculations of one training step, as ready-to-run data.

* ``"backprop-by-hand"``: a 2-3-1 sigmoid network without biases, binary cross-entropy,
  η = 0.1, on one standardized student (slept 6 h, studied 5 h; passed).
* ``"two-two-two"``: the widely read 2-2-2 step-by-step example: sigmoid everywhere,
  E = Σ ½(target − out)², η = 0.5, biases 0.35 and 0.60 that are never updated.

``WORKED_EXAMPLES[name].walk_through()`` builds the network afresh and returns the
:class:`~nn.walkthrough.StepWalkthrough` (``chainrule explain`` prints it). The
``published`` figures are the ones printed in the sources, rounded as printed; the
first example's were rounded by hand at every step, and some of the second's later
figures were produced by a buggy script, so float64 is the reference (see the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine import Value
from nn.data import Standardizer
from nn.layers import MLP
from nn.losses import binary_cross_entropy, mse_loss
from nn.walkthrough import StepWalkthrough, walk_through_step

__all__ = [
    "BACKPROP_BY_HAND",
    "TWO_TWO_TWO",
    "WORKED_EXAMPLES",
    "WorkedExample",
    "half_squared_error",
]


def half_squared_error(preds: Any, targets: Any) -> Value:
    """E = Σ ½ (target − out)², the 2-2-2 example's loss (so that ∂E/∂out = out − target)."""
    return mse_loss(preds, targets, reduction="sum") * 0.5


@dataclass(frozen=True)
class WorkedExample:
    """A network, one example, a loss and a learning rate: one step to walk through."""

    name: str
    title: str
    summary: str
    weights: list[list[list[float]]]
    biases: list[list[float] | None] | None
    activation: str
    x: list[float]
    y: Any
    loss: Callable[[Any, Any], Value]
    loss_name: str
    lr: float
    update_biases: bool
    published: dict[str, Any] = field(default_factory=dict)

    def model(self) -> MLP:
        """A fresh network with the example's initial weights."""
        return MLP.from_weights(
            self.weights,
            self.biases,
            activation=self.activation,
            output_activation=self.activation,
        )

    def walk_through(self) -> StepWalkthrough:
        """One training step on a fresh network, recorded."""
        return walk_through_step(
            self.model(),
            self.x,
            self.y,
            loss=self.loss,
            lr=self.lr,
            update_biases=self.update_biases,
            loss_name=self.loss_name,
        )


#: Hours slept 6 (mean 8, sd 2) and hours studied 5 (mean 4, sd 1), standardized.
_STUDENT = Standardizer(mean=[8, 4], std=[2, 1]).transform([6, 5])

BACKPROP_BY_HAND = WorkedExample(
    name="backprop-by-hand",
    title="Backprop by hand: will the student pass?",
    summary=(
        "A 2-3-1 network, sigmoid on both layers, no biases, binary cross-entropy, "
        "learning rate 0.1. Inputs standardized: hours slept 6 (mean 8, sd 2) and hours "
        "studied 5 (mean 4, sd 1) give x = [-1, 1]; the label is 1 (passed). A prediction "
        "below 0.5 reads 'failed'."
    ),
    weights=[[[0.15, 0.20], [-0.25, 0.10], [0.05, -0.15]], [[0.20, -0.35, 0.15]]],
    biases=None,
    activation="sigmoid",
    x=_STUDENT,
    y=1,
    loss=binary_cross_entropy,
    loss_name="binary cross-entropy  J = −[y log ŷ + (1 − y) log(1 − ŷ)]",
    lr=0.1,
    update_biases=True,
    published={
        "z1": [0.05, 0.35, -0.20],
        "a1": [0.512, 0.587, 0.450],
        "z2": -0.0356,
        "prediction": 0.491,
        "J": 0.711,
        "delta2": -0.509,
        "prediction_after": 0.502,
        "J_after": 0.689,
    },
)

TWO_TWO_TWO = WorkedExample(
    name="two-two-two",
    title="A 2-2-2 network, step by step",
    summary=(
        "Inputs 0.05 and 0.10, targets 0.01 and 0.99; hidden weights [0.15, 0.20], "
        "[0.25, 0.30] with bias 0.35; output weights [0.40, 0.45], [0.50, 0.55] with bias "
        "0.60; sigmoid everywhere; E = Σ ½(target − out)²; learning rate 0.5; the biases "
        "are not updated."
    ),
    weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
    biases=[[0.35, 0.35], [0.60, 0.60]],
    activation="sigmoid",
    x=[0.05, 0.10],
    y=[0.01, 0.99],
    loss=half_squared_error,
    loss_name="E = Σ ½ (target − out)²",
    lr=0.5,
    update_biases=False,
    published={
        "out_h": [0.593269992, 0.596884378],
        "out_o": [0.75136507, 0.772928465],
        "E_total": 0.298371109,
        "w5_after": 0.35891648,
        # produced by an early, buggy version of the author's script (hidden-layer
        # gradients computed with the already updated output weights):
        "E_total_after": 0.291027924,
    },
)

WORKED_EXAMPLES: dict[str, WorkedExample] = {ex.name: ex for ex in (BACKPROP_BY_HAND, TWO_TWO_TWO)}
