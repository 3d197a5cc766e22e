"""A training loop over steps or epochs of mini-batches, returning the loss/accuracy history.

One step is :func:`train_step`: forward pass on a batch, loss (+ L2 penalty), zero the
grads, backward, optimizer update. :func:`train` only picks batches, sets the learning
rate of the step, records the history and draws the progress bar (tqdm, shown only when
stderr is a terminal, so never in tests, logs or CI).

The losses known by name (:data:`nn.LOSS_FUNCTIONS`: the short name or the function's
own, e.g. ``"bce"`` or ``"binary_cross_entropy"``; the function itself works too), and
how labels are read for each:

====================================== ============================== ====================
``loss=``                              model output, labels           accuracy
====================================== ============================== ====================
``"hinge"``, ``"hinge_loss"``          one score; 0/1 or −1/+1 labels sign of the score
``"bce_with_logits"``,                 one score; 0/1 or −1/+1 labels sign of the score vs
``"binary_cross_entropy_with_logits"`` or soft targets in [0, 1]      target > 0.5
``"bce"``, ``"binary_cross_entropy"``  one probability; 0/1 or −1/+1  probability > 0.5 vs
                                       labels or soft targets [0, 1]  target > 0.5
``"cross_entropy"``                    K scores; class indices 0..K−1 arg max of the scores
``"mse"``, ``"mse_loss"``              any; numbers of the same shape (none)
====================================== ============================== ====================

Any other callable ``loss(predictions, targets) -> Value`` is used as given (no
accuracy). Labels may be any real number type (numpy integers too), not bools.
"""

from __future__ import annotations

import math
import numbers
import random
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from engine import CompiledFunction, Value, no_grad
from engine import compile as compile_fn
from engine.checks import is_real, to_float
from nn import losses
from nn.module import Module
from nn.optim import SGD, Optimizer
from nn.seeding import make_rng

__all__ = ["LOSSES", "CompiledStep", "History", "evaluate", "predict", "train", "train_step"]

LossFn = Callable[[Any, Any], Value]
AccuracyFn = Callable[[list[Any], list[Any]], float]
Schedule = Callable[[int], float]


@dataclass(repr=False)
class History:
    """What :func:`train` saw at every step, before that step's update.

    ``loss`` includes the L2 penalty; ``accuracy`` is the fraction of the step's batch
    classified correctly (empty for regression losses); ``lr`` the learning rate used.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)

    def __repr__(self) -> str:
        """A one-line summary: steps, first and last loss, accuracy and learning rate.

        >>> History(loss=[0.9, 0.5, 0.25], accuracy=[0.5, 0.75, 1.0], lr=[0.1] * 3)
        History(3 steps, loss 0.9 -> 0.25, accuracy 50.0% -> 100.0%, lr 0.1)
        """
        n = len(self.loss)
        parts = [f"{n} step" + ("" if n == 1 else "s")]
        if self.loss:
            parts.append(f"loss {self.loss[0]:.4g} -> {self.loss[-1]:.4g}")
        if self.accuracy:
            parts.append(f"accuracy {self.accuracy[0]:.1%} -> {self.accuracy[-1]:.1%}")
        if self.lr:
            lo, hi = self.lr[0], self.lr[-1]
            parts.append(f"lr {lo:.4g}" if lo == hi else f"lr {lo:.4g} -> {hi:.4g}")
        return f"History({', '.join(parts)})"

    __str__ = __repr__


# --- the named losses: label conversion, loss function, accuracy --------------------


def _binary_labels(y: Sequence[Any], name: str, negative: float, soft: bool) -> list[float]:
    """0/1 or −1/+1 labels as ``negative``/1.0; with ``soft``, any targets in [0, 1] as given."""
    values = [to_float(t, f"loss {name!r}: label {i}") for i, t in enumerate(y)]
    distinct = set(values)
    if distinct <= {0.0, 1.0} or distinct <= {-1.0, 1.0}:
        return [1.0 if t == 1.0 else negative for t in values]
    if soft and all(0.0 <= t <= 1.0 for t in values):
        return values
    shown = sorted(distinct)
    shown_text = ", ".join(f"{t:g}" for t in shown[:6]) + (", ..." if len(shown) > 6 else "")
    wanted = "0/1 or -1/+1" + (", or soft targets in [0, 1]" if soft else "")
    raise ValueError(f"loss {name!r} needs binary labels, {wanted}; got the values {shown_text}")


def _data(p: Any) -> float:
    """A prediction's number: Values (eager steps) and floats (compiled steps) alike."""
    return p.data if isinstance(p, Value) else p  # type: ignore[no-any-return]


def _score_accuracy(threshold: float, target_threshold: float) -> AccuracyFn:
    """The fraction where ``prediction > threshold`` agrees with ``target > target_threshold``."""

    def accuracy(preds: list[Any], targets: list[Any]) -> float:
        hits = sum(
            (_data(p) > threshold) == (t > target_threshold)
            for p, t in zip(preds, targets, strict=True)
        )
        return hits / len(preds)

    return accuracy


def _argmax_accuracy(preds: list[Any], targets: list[Any]) -> float:
    hits = 0
    for scores, t in zip(preds, targets, strict=True):
        data = [_data(s) for s in scores]
        hits += data.index(max(data)) == t
    return hits / len(preds)


@dataclass(frozen=True)
class _Task:
    loss: LossFn
    labels: Callable[[Sequence[Any]], list[Any]]
    accuracy: AccuracyFn | None
    #: whether the loss's graph has the same shape for every target value, so that a
    #: compiled step can take the targets as inputs (else they are baked into a trace)
    uniform_in_targets: bool = False


def _identity(y: Sequence[Any]) -> list[Any]:
    return list(y)


_TASKS: dict[Callable[..., Value], _Task] = {
    losses.hinge_loss: _Task(
        losses.hinge_loss,
        lambda y: _binary_labels(y, "hinge", -1.0, soft=False),
        _score_accuracy(0.0, 0.0),
        uniform_in_targets=True,
    ),
    losses.binary_cross_entropy_with_logits: _Task(
        losses.binary_cross_entropy_with_logits,
        lambda y: _binary_labels(y, "bce_with_logits", 0.0, soft=True),
        _score_accuracy(0.0, 0.5),
        uniform_in_targets=True,
    ),
    losses.binary_cross_entropy: _Task(
        losses.binary_cross_entropy,
        lambda y: _binary_labels(y, "bce", 0.0, soft=True),
        _score_accuracy(0.5, 0.5),
    ),
    losses.cross_entropy: _Task(losses.cross_entropy, _identity, _argmax_accuracy),
    losses.mse_loss: _Task(losses.mse_loss, _identity, None, uniform_in_targets=True),
}

#: Name -> (loss function, label conversion, accuracy) for ``train(loss=name)``: every
#: name of :data:`nn.LOSS_FUNCTIONS`, short and long.
LOSSES: dict[str, _Task] = {name: _TASKS[fn] for name, fn in losses.LOSS_FUNCTIONS.items()}


def _task(loss: str | LossFn) -> _Task:
    """The task of a loss name or function (a function not in the table: no accuracy)."""
    fn = losses.get_loss(loss)
    task = _TASKS.get(fn)
    return task if task is not None else _Task(fn, _identity, None)


# --- one step --------------------------------------------------------------------------


def train_step(
    model: Callable[[Any], Any],
    optimizer: Optimizer,
    inputs: Sequence[Sequence[float]],
    targets: Sequence[Any],
    loss_fn: LossFn,
    *,
    l2: float = 0.0,
    l2_params: Sequence[Value] = (),
    accuracy_fn: AccuracyFn | None = None,
) -> tuple[float, float | None]:
    """One training iteration on a batch; returns (loss, accuracy) before the update.

    J = loss_fn([model(x) for x in inputs], targets) + l2 · Σ p² (p in ``l2_params``);
    then every grad is zeroed, J.backward() fills them, and ``optimizer.step()`` updates.
    Each input row becomes fresh leaf Values once, rather than a constant per use.
    """
    preds = [model([Value(v) for v in row]) for row in inputs]
    total = loss_fn(preds, targets)
    if l2:
        total = total + losses.l2_penalty(l2_params, l2)
    if isinstance(model, Module):
        model.zero_grad()  # frozen parameters too: stale grads would slow backward()
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    accuracy = accuracy_fn(preds, list(targets)) if accuracy_fn is not None else None
    return total.data, accuracy


class CompiledStep:
    """:func:`train_step` with the forward and backward pass replayed by ``engine.compile``.

    The batch's inputs (and, for losses whose graph does not depend on the target
    values, its targets) are the compiled function's inputs; the model's parameters
    are read and their grads accumulated by reference, so the optimizer works as
    usual. A batch of a new size traces once more. For the other losses (cross_entropy,
    bce, your own) the targets are baked into a trace, which pays off only when they
    repeat, as in full-batch training: at most ``MAX_BAKED`` such traces are kept, and
    a batch with new targets beyond that runs eagerly (:func:`train_step`).
    """

    MAX_BAKED = 4

    def __init__(
        self, model: Callable[[Any], Any], task: _Task, l2: float, l2_params: Sequence[Value]
    ):
        self.model = model
        self.task = task
        self.l2 = l2
        self.l2_params = l2_params
        self._by_targets: dict[Any, CompiledFunction] = {}
        self._general = compile_fn(self._loss_and_preds, has_aux=True)

    def _loss_and_preds(self, inputs: Sequence[Sequence[Any]], targets: Sequence[Any]) -> Any:
        preds = [self.model(list(row)) for row in inputs]
        total = self.task.loss(preds, targets)
        if self.l2:
            total = total + losses.l2_penalty(self.l2_params, self.l2)
        return total, preds

    def __call__(
        self,
        optimizer: Optimizer,
        inputs: Sequence[Sequence[float]],
        targets: Sequence[Any],
    ) -> tuple[float, float | None]:
        if isinstance(self.model, Module):
            self.model.zero_grad()
        optimizer.zero_grad()
        if self.task.uniform_in_targets:
            value, preds = self._general([list(row) for row in inputs], list(targets))
        else:
            key = _hashable(targets)
            fn = self._by_targets.get(key)
            if fn is None:
                if len(self._by_targets) >= self.MAX_BAKED:
                    return train_step(
                        self.model,
                        optimizer,
                        inputs,
                        targets,
                        self.task.loss,
                        l2=self.l2,
                        l2_params=self.l2_params,
                        accuracy_fn=self.task.accuracy,
                    )
                fixed = list(targets)
                fn = compile_fn(lambda xs: self._loss_and_preds(xs, fixed), has_aux=True)
                self._by_targets[key] = fn
            value, preds = fn([list(row) for row in inputs])
        optimizer.step()
        accuracy = self.task.accuracy(preds, list(targets)) if self.task.accuracy else None
        return value, accuracy


def _hashable(x: Any) -> Any:
    """Targets as a dictionary key: nested lists become tuples."""
    if isinstance(x, (list, tuple)):
        return tuple(_hashable(v) for v in x)
    return x


# --- the loop ----------------------------------------------------------------------------


def _batches(n: int, batch_size: int, shuffle: bool, r: random.Random) -> Iterator[list[int]]:
    """Index lists forever: each epoch (re)shuffled, cut into ``batch_size`` pieces."""
    order = list(range(n))
    while True:
        if shuffle:
            r.shuffle(order)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def _interactive() -> bool:
    """Whether stderr is a terminal (not a pipe, a file, a notebook or pytest's capture)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _positive_int(x: Any, name: str) -> int:
    if not (is_real(x) and isinstance(x, numbers.Integral)):
        raise TypeError(f"{name} must be an int, not {type(x).__name__} ({x!r})")
    if x < 1:
        raise ValueError(f"{name} must be at least 1, got {x}")
    return int(x)


def train(
    model: Module,
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    *,
    loss: str | LossFn = "hinge",
    optimizer: Optimizer | None = None,
    lr: float | Schedule | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    l2: float = 0.0,
    seed: int | None = None,
    rng: random.Random | None = None,
    progress: bool | None = None,
    compile: bool = False,
) -> History:
    """Train ``model`` on (X, y) for ``steps`` updates or ``epochs`` passes; the history.

    * ``loss``: a name from :data:`nn.LOSS_FUNCTIONS` (``"hinge"``, ``"bce"``,
      ``"binary_cross_entropy"``, ...) or a function ``(predictions, targets) -> Value``.
    * ``optimizer``: default ``SGD(model.parameters(), lr)``; give your own for momentum,
      Adam or a frozen subset of the parameters.
    * ``lr``: a number, or a schedule ``k -> lr`` for step k = 0, 1, ... (e.g.
      ``nn.linear_decay(1.0, 0.1, 100)``, micrograd's demo); None keeps the optimizer's.
    * ``batch_size``: None for full batch (one step per epoch); mini-batches are
      reshuffled every epoch with ``seed``/``rng``.
    * ``l2``: adds ``l2 · Σ p²`` over the model's parameters to the loss.
    * ``progress``: a tqdm bar; None shows it only when stderr is a terminal.
    * ``compile``: replay each step with :func:`engine.compile` (the same numbers, many
      times faster once traced; see :class:`CompiledStep`). The model's forward must
      not branch on values in Python (the built-in layers and losses don't).

    micrograd's demo: ``train(MLP(2, [16, 16, 1]), X, y, loss="hinge", l2=1e-4,
    lr=linear_decay(1.0, 0.1, 100), steps=100)``.
    """
    task = _task(loss)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels")
    n = len(X)
    if n == 0:
        raise ValueError("no training examples")
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= and epochs=")
    size = n if batch_size is None else min(_positive_int(batch_size, "batch_size"), n)
    per_epoch = math.ceil(n / size)
    total = (
        _positive_int(steps, "steps")
        if steps is not None
        else (_positive_int(epochs, "epochs") * per_epoch)
    )
    schedule: Schedule | None = None
    if callable(lr):
        schedule = lr
    if optimizer is None:
        if lr is None:
            raise ValueError("give lr= (a number or a schedule) or optimizer=")
        optimizer = SGD(model.parameters(), lr=schedule(0) if schedule else lr)  # type: ignore[arg-type]
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an nn.Optimizer, not {type(optimizer).__name__}")
    elif lr is not None and schedule is None:
        optimizer.lr = lr  # type: ignore[assignment]
    l2 = to_float(l2, "l2")
    if not l2 >= 0:
        raise ValueError(f"l2 must be a number >= 0, got {l2!r}")
    targets = task.labels(y)
    l2_params = model.parameters() if l2 else []
    batches = _batches(n, size, shuffle=size < n, r=make_rng(seed, rng))
    show = _interactive() if progress is None else bool(progress)

    step: Callable[..., tuple[float, float | None]]
    if compile and not task.uniform_in_targets and size < n:
        warnings.warn(
            f"train(compile=True): with mini-batches the "
            f"{loss if isinstance(loss, str) else getattr(loss, '__name__', 'given')!r} "
            "loss runs eagerly (its "
            "graph depends on the target values, so each new batch would need a new "
            "trace); compile pays off for it in full-batch training",
            stacklevel=2,
        )
        compile = False
    if compile:
        step = CompiledStep(model, task, l2, l2_params)
    else:

        def step(opt: Optimizer, inputs: Sequence[Sequence[float]], batch_targets: Sequence[Any]):
            return train_step(
                model,
                opt,
                inputs,
                batch_targets,
                task.loss,
                l2=l2,
                l2_params=l2_params,
                accuracy_fn=task.accuracy,
            )

    history = History()
    with tqdm(total=total, disable=not show, desc="training", unit="step") as bar:
        for k in range(total):
            if schedule is not None:
                optimizer.lr = schedule(k)
            idx = next(batches)
            value, accuracy = step(optimizer, [X[i] for i in idx], [targets[i] for i in idx])
            history.loss.append(value)
            history.lr.append(optimizer.lr)
            if accuracy is not None:
                history.accuracy.append(accuracy)
            if show:
                postfix = {"loss": f"{value:.4g}"}
                if accuracy is not None:
                    postfix["acc"] = f"{accuracy:.1%}"
                bar.set_postfix(postfix, refresh=False)
                bar.update()
    return history


Prediction = float | list[float]


def predict(model: Callable[[Any], Any], X: Sequence[Sequence[float]]) -> list[Prediction]:
    """The model's outputs on every row of X, as floats, without building a graph."""
    out: list[Prediction] = []
    with no_grad():
        for row in X:
            p = model(list(row))
            out.append([v.data for v in p] if isinstance(p, list) else float(p))
    return out


def evaluate(
    model: Callable[[Any], Any],
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    *,
    loss: str | LossFn = "hinge",
) -> tuple[float, float | None]:
    """(loss, accuracy) on (X, y) without building a graph; accuracy None for regression."""
    task = _task(loss)
    if len(X) != len(y) or len(X) == 0:  # len(): X may be a numpy array
        raise ValueError(
            f"X ({len(X)} examples) and y ({len(y)} labels) must match and not be empty"
        )
    targets = task.labels(y)
    with no_grad():
        preds = [model(list(row)) for row in X]
        value = task.loss(preds, targets).data
    accuracy = task.accuracy(preds, targets) if task.accuracy is not None else None
    return value, accuracy
