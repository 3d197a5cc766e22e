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

Three ways to run a step, the same numbers from each (``train(compile=...)``):

* ``False``: eager, every sample's graph built and walked (:func:`train_step`);
* ``True``: :class:`CompiledStep`, the batch traced once by :func:`engine.compile`
  and replayed as straight-line Python (best for small full-batch problems);
* ``"batch"``: :class:`BatchStep`, one *sample* traced by :func:`engine.vmap` and
  replayed over the whole mini-batch as numpy arrays, for real data sets. The targets
  are then inputs of the trace: cross-entropy's class indices become one-hot rows,
  since an index cannot be a traced input.

:func:`predict` and :func:`evaluate` replay the model the same way when given many
samples (:data:`BATCH_FROM`).
"""

from __future__ import annotations

import math
import numbers
import random
import sys
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from engine import CompiledFunction, TraceError, Value, no_grad
from engine import compile as compile_fn
from engine.checks import is_real, to_float
from nn import losses
from nn.module import Module, _cached_parameters
from nn.optim import SGD, Optimizer
from nn.seeding import make_rng

__all__ = [
    "BATCH_FROM",
    "LOSSES",
    "BatchStep",
    "CompiledStep",
    "History",
    "evaluate",
    "predict",
    "train",
    "train_step",
]

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
    #: whether batch replay (``compile="batch"``) gives the loss one-hot targets in
    #: place of the class indices (an index picks a term: it cannot be a traced input)
    one_hot: bool = False


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
    losses.cross_entropy: _Task(losses.cross_entropy, _identity, _argmax_accuracy, one_hot=True),
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


# --- batch replay (engine.vmap) ----------------------------------------------------------
#
# numpy is imported here only when a batch path runs (through engine.vmap), so that
# ``import nn`` works without it, as ``import engine`` does.


def _n_outputs(model: Callable[[Any], Any], row: Any) -> int | None:
    """How many numbers the model outputs (None for one scalar), from one eager call."""
    with no_grad():
        out = model(list(row))
    return len(out) if isinstance(out, (list, tuple)) else None


def _one_hot(labels: Sequence[Any], k: int | None, what: str) -> Any:
    """Class indices as an (N, k) array of one-hot rows, each index checked."""
    import numpy as np

    if k is None:
        raise ValueError(
            f"{what}: cross_entropy needs a model with one output per class (a list of "
            "scores); this model returns one number"
        )
    out = np.zeros((len(labels), k))
    for i, t in enumerate(labels):
        if not (is_real(t) and isinstance(t, numbers.Integral)):
            raise TypeError(
                f"{what}: label {i} must be a class index (int), not {type(t).__name__} ({t!r})"
            )
        index = int(t)
        if not 0 <= index < k:
            raise ValueError(f"{what}: label {i} is {t}, but the model has {k} outputs (classes)")
        out[i, index] = 1.0
    return out


def _rows(X: Any, what: str) -> Any:
    """X as an (N, d) float64 array: one row of input numbers per sample."""
    import numpy as np

    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: X must be rows of numbers of one length ({e})") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{what}: X must be a list of rows (shape (N, inputs)), got shape {arr.shape}"
        )
    return arr


def _batch_targets(task: _Task, labels: Sequence[Any], n_outputs: int | None, what: str) -> Any:
    """The converted labels as the array the batch replay feeds the loss: one-hot rows
    for cross-entropy, else the labels as they are, (N,) or (N, k)."""
    import numpy as np

    if task.one_hot:
        return _one_hot(labels, n_outputs, what)
    try:
        return np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: the targets must be numbers or rows of numbers ({e})") from None


class BatchStep:
    """:func:`train_step` replayed over the whole batch by :func:`engine.vmap`.

    The model and the loss are traced on one sample, ``f(x, t) = loss(model(x), t) +
    l2 · Σ p²``, and the recorded graph runs over the batch as numpy: the step's loss
    is the batch mean of the per-sample losses (the same number as eager's mean loss,
    to rounding) and the parameters' grads are the batch means of the per-sample
    gradients. Batches of any size share the trace. The targets are inputs of the
    trace (one-hot rows for cross-entropy), so the loss must be trace-safe (every
    loss of :mod:`nn.losses` is; a loss of your own must not read a target's or a
    prediction's ``.data`` to decide what to compute, see :func:`engine.vmap`).
    """

    def __init__(
        self, model: Callable[[Any], Any], task: _Task, l2: float, l2_params: Sequence[Value]
    ):
        from engine import vmap  # imports numpy

        self.model = model
        self.task = task
        self.l2 = l2
        self.l2_params = l2_params
        self.replay = vmap(self._sample_loss, has_aux=True)

    def _sample_loss(self, x: list[Any], t: Any) -> tuple[Value, Any]:
        """One sample's loss (+ the L2 term) and its prediction: what is traced."""
        pred = self.model(x)
        loss = self.task.loss(pred, t)
        if self.l2:
            loss = loss + losses.l2_penalty(self.l2_params, self.l2)
        return loss, pred

    def __call__(
        self, optimizer: Optimizer, inputs: Any, targets: Any, labels: Sequence[Any]
    ) -> tuple[float, float | None]:
        """One step on a batch: ``inputs`` an (N, d) array, ``targets`` an (N,) or (N, k)
        array as the loss takes them (one-hot rows for cross-entropy), ``labels`` the
        labels (for the accuracy); returns (loss, accuracy) before the update."""
        if isinstance(self.model, Module):
            self.model.zero_grad()
        optimizer.zero_grad()
        value, preds = self.replay(inputs, targets)
        optimizer.step()
        accuracy: float | None = None
        if self.task.accuracy is _argmax_accuracy:  # the same count, on the array
            hits = int((preds.argmax(axis=1) == targets.argmax(axis=1)).sum())
            accuracy = hits / len(labels)
        elif self.task.accuracy is not None:
            accuracy = self.task.accuracy(preds.tolist(), list(labels))
        return value, accuracy


#: The batched predictors of models: model -> {kind: (stamp, loss, function)}, one per
#: kind (predict, evaluate; strict or not). The stamp is the model's parameter list, the
#: same object while its structure is unchanged (the cache of :meth:`Module.parameters`),
#: so a function traced on the model is reused until then, and for the same loss.
_REPLAYS: weakref.WeakKeyDictionary[Any, dict[Any, tuple[Any, Any, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _replay_for(model: Callable[[Any], Any], kind: Any, loss: Any, build: Callable[[], Any]) -> Any:
    """``build()``'s batched function for ``model`` (and ``loss``), kept while the model's
    structure is unchanged (Modules only; another callable gets a new one every time).
    One is kept per kind: another loss replaces it, so nothing piles up."""
    if not isinstance(model, Module):
        return build()
    stamp = _cached_parameters(model) if type(model).parameters is Module.parameters else None
    try:
        kept = _REPLAYS.setdefault(model, {})
    except TypeError:  # not weakly referable or not hashable
        return build()
    entry = kept.get(kind)
    if entry is not None and stamp is not None and entry[0] is stamp and entry[1] is loss:
        return entry[2]
    fn = build()
    kept[kind] = (stamp, loss, fn)
    return fn


#: ``predict``/``evaluate`` replay the model over the batch (engine.vmap) from this many
#: samples on, unless told (``batched=``); below it, tracing costs more than it saves.
BATCH_FROM = 64


def _use_batch(batched: bool | None, n: int) -> bool:
    if batched is None:
        if n < BATCH_FROM:
            return False
        try:
            import numpy  # noqa: F401
        except ImportError:  # pragma: no cover - numpy is a dependency
            return False
        return True
    if not isinstance(batched, bool):
        raise TypeError(f"batched must be True, False or None, not {batched!r}")
    return batched


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
    compile: bool | str = False,
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
    * ``compile``: ``True`` replays each step with :func:`engine.compile` (the same
      numbers, many times faster once traced; see :class:`CompiledStep`). ``"batch"``
      replays it with :func:`engine.vmap` (see :class:`BatchStep`): the model and loss
      are traced on one sample and run over the whole mini-batch as numpy arrays,
      batches of any size (the last one ragged) sharing one trace; the losses and
      gradients are eager's to rounding (per-batch mean of per-sample losses), and
      cross-entropy gets one-hot targets built from the labels. For real data sets
      (thousands of samples) this is the fast one. The model's forward must not branch
      on values in Python (the built-in layers and losses don't).

    micrograd's demo: ``train(MLP(2, [16, 16, 1]), X, y, loss="hinge", l2=1e-4,
    lr=linear_decay(1.0, 0.1, 100), steps=100)``.
    """
    task = _task(loss)
    if not (
        compile is True or compile is False or (isinstance(compile, str) and compile == "batch")
    ):
        raise ValueError(f"compile must be False, True or 'batch', not {compile!r}")
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

    step: Callable[[Optimizer, list[int]], tuple[float, float | None]]
    if compile == "batch":
        rows = _rows(X, "train(compile='batch')")
        tb = _batch_targets(task, targets, _n_outputs(model, rows[0]), "train(compile='batch')")
        batch_step = BatchStep(model, task, l2, l2_params)

        def step(opt: Optimizer, idx: list[int]) -> tuple[float, float | None]:
            return batch_step(opt, rows[idx], tb[idx], [targets[i] for i in idx])

    elif compile and not task.uniform_in_targets and size < n:
        warnings.warn(
            f"train(compile=True): with mini-batches the "
            f"{loss if isinstance(loss, str) else getattr(loss, '__name__', 'given')!r} "
            "loss runs eagerly (its "
            "graph depends on the target values, so each new batch would need a new "
            "trace); compile=True pays off for it in full-batch training, and "
            "compile='batch' replays its mini-batches",
            stacklevel=2,
        )
        compile = False
    if compile is True:
        compiled_step = CompiledStep(model, task, l2, l2_params)

        def step(opt: Optimizer, idx: list[int]) -> tuple[float, float | None]:
            return compiled_step(opt, [X[i] for i in idx], [targets[i] for i in idx])

    elif compile is False:

        def step(opt: Optimizer, idx: list[int]) -> tuple[float, float | None]:
            return train_step(
                model,
                opt,
                [X[i] for i in idx],
                [targets[i] for i in idx],
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
            value, accuracy = step(optimizer, idx)
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


def _as_prediction(p: Any) -> Prediction:
    if isinstance(p, list):
        return [v.data for v in p]
    return p.data if isinstance(p, Value) else float(p)  # type: ignore[no-any-return]


def _weak(model: Callable[[Any], Any]) -> Callable[[], Any]:
    """A reference to ``model`` that does not keep it alive when it is a Module (the
    functions kept in :data:`_REPLAYS` must not hold their own key)."""
    if isinstance(model, Module):
        try:
            return weakref.ref(model)
        except TypeError:  # a subclass without weak references (then never kept)
            pass
    return lambda: model


def _output(model: Callable[[Any], Any]) -> Callable[[list[Any]], Any]:
    ref = _weak(model)

    def output(x: list[Any]) -> Any:
        return ref()(x)

    return output


def predict(
    model: Callable[[Any], Any],
    X: Sequence[Sequence[float]],
    *,
    batched: bool | None = None,
) -> list[Prediction]:
    """The model's outputs on every row of X, as floats (a list per row for a model with
    several outputs), without building a graph.

    ``batched=True``: replay the model over all rows at once with :func:`engine.vmap`
    (``backward=False``), traced on the first row. The numbers are eager's to rounding
    (numpy's matrix products sum in another order); the trace is kept for the next
    call while the model's structure is unchanged. ``False``: one eager forward pass
    per row. ``None`` (the default): batched from :data:`BATCH_FROM` rows on, with
    ``strict=True``; if the replay refuses (a Value's number read or a branch taken
    while tracing, a sample the replay cannot compute), the rows are run eagerly
    instead, so the answer is always eager's.
    """
    if _use_batch(batched, len(X)):
        try:
            rows = _rows(X, "predict")
            replay = _replay_for(
                model,
                ("predict", batched is None),
                None,
                lambda: _vmap_output(_output(model), batched),
            )
            out: list[Prediction] = replay(rows).tolist()
            return out
        except _REFUSALS:
            if batched is not None:
                raise
    with no_grad():
        return [_as_prediction(model(list(row))) for row in X]


#: What makes ``batched=None`` fall back to eager evaluation: the replay's refusals
#: (TraceError with strict=True) and the errors of a sample it could not compute.
_REFUSALS = (TraceError, ValueError, ArithmeticError, TypeError)


def _vmap_output(f: Callable[..., Any], batched: bool | None) -> Any:
    """``f`` replayed over a batch, no gradients; strict when the caller did not ask for
    the batch (``batched=None``) and falls back to eager on a refusal."""
    from engine import vmap  # imports numpy

    return vmap(f, backward=False, strict=batched is None)


def _eval_sample(model: Callable[[Any], Any], task: _Task) -> Callable[..., Any]:
    ref = _weak(model)

    def loss_and_prediction(x: list[Any], t: Any) -> dict[str, Any]:
        pred = ref()(x)
        return {"loss": task.loss(pred, t), "pred": pred}

    return loss_and_prediction


def evaluate(
    model: Callable[[Any], Any],
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    *,
    loss: str | LossFn = "hinge",
    batched: bool | None = None,
) -> tuple[float, float | None]:
    """(loss, accuracy) on (X, y) without building a graph; accuracy None for regression.

    ``batched`` as for :func:`predict` (by default batched from :data:`BATCH_FROM`
    samples on, eager when the replay refuses): the model and the loss are replayed
    over all samples with :func:`engine.vmap` (``backward=False``), the loss being the
    mean of the per-sample losses (eager's mean to rounding), the accuracy counted from
    the same predictions. A loss function of your own must then be trace-safe. One
    case only eager evaluates: ``"bce"`` with a probability of exactly 0 or 1 (a
    saturated sigmoid) whose target makes that term vanish.
    """
    task = _task(loss)
    if len(X) != len(y) or len(X) == 0:  # len(): X may be a numpy array
        raise ValueError(
            f"X ({len(X)} examples) and y ({len(y)} labels) must match and not be empty"
        )
    targets = task.labels(y)
    if _use_batch(batched, len(X)):
        try:
            rows = _rows(X, "evaluate")
            tb = _batch_targets(task, targets, _n_outputs(model, rows[0]), "evaluate")
            replay = _replay_for(
                model,
                ("evaluate", batched is None),
                task.loss,
                lambda: _vmap_output(_eval_sample(model, task), batched),
            )
            out = replay(rows, tb)
            value = float(out["loss"].mean())
            preds = out["pred"].tolist()
            return value, task.accuracy(preds, targets) if task.accuracy else None
        except _REFUSALS:
            if batched is not None:
                raise
    with no_grad():
        eager_preds = [model(list(row)) for row in X]
        eager_value = task.loss(eager_preds, targets).data
    accuracy = task.accuracy(eager_preds, targets) if task.accuracy is not None else None
    return eager_value, accuracy
