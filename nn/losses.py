"""Loss functions on Values, with PyTorch's names.

Predictions are Values (plain numbers are accepted and treated as constants);
targets are plain numbers, or Values. A prediction may be one Value, a list of Values
(one per example, or the outputs of one example) or a list of such lists (a batch of
multi-output examples); the targets must have the same shape.

**Trace-safe.** Under :func:`engine.compile` or :func:`engine.vmap` a loss is traced
on one sample and the recorded graph is replayed for the others, so a loss must never
decide *what to compute* from a number it reads. A target given as a Value is such a
traced input: every loss computes with it in Value arithmetic only, the same graph
for every target value (``binary_cross_entropy`` then always takes both terms
t·log p + (1 − t)·log(1 − p)). Range checks on a Value (a prediction, or a Value
target) are written as comparisons (``p < 0.0``), which a trace records as guards
and the replay checks again for every sample; no loss reads ``.data`` to decide
anything. Plain-number targets are constants of the graph: checked when the loss is
called, and zero-weight terms are left out. Class-index targets of
:func:`cross_entropy` pick a term, so they cannot be traced inputs: trace with
one-hot (or probability) targets instead, which ``nn.train(compile="batch")`` builds
from the labels before tracing.

``reduction="mean"`` (the default) averages over all elements, so for a batch the
loss, and hence every gradient, is the batch average; ``"sum"`` adds them up.

The log-domain losses are written so they never overflow: ``binary_cross_entropy_
with_logits`` as softplus(z) − t·z and ``cross_entropy`` through a log-sum-exp that
subtracts the largest logit, both exact at |z| = 1000.

Targets, class indices and ``alpha`` may be any real number type (``int``, ``float``,
``fractions.Fraction``, numpy scalars) but not ``bool``: they go through
:mod:`engine.checks`.

:data:`LOSS_FUNCTIONS` holds every loss by name, short (``"mse"``, ``"bce"``,
``"bce_with_logits"``, ``"hinge"``, ``"cross_entropy"``) or as the function is called
(``"mse_loss"``, ``"binary_cross_entropy"``, ...); ``nn.train(loss=...)`` and
``nn.walk_through_step(loss=...)`` both look names up there (:func:`get_loss`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from operator import add
from typing import Any

from engine import Value, as_value
from engine.checks import is_real, to_float
from nn.data import to_lists

__all__ = [
    "LOSS_FUNCTIONS",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "get_loss",
    "hinge_loss",
    "l2_penalty",
    "log_softmax",
    "mse_loss",
    "softmax",
]

Scalar = Value | float | int
REDUCTIONS = ("mean", "sum")


def _total(values: Sequence[Value]) -> Value:
    """v0 + v1 + ... without the extra constant node that ``sum()`` starts from."""
    return reduce(add, values)


def _reduce(terms: list[Value], reduction: str, name: str) -> Value:
    if reduction == "mean":
        total = _total(terms)
        return total if len(terms) == 1 else total * (1.0 / len(terms))
    if reduction == "sum":
        return _total(terms)
    raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")


def _target(t: Any, name: str, where: str) -> Any:
    """A target as a float; a Value target (a traced input) stays a Value."""
    if isinstance(t, Value):
        return t
    return to_float(t, f"{name}: target{where}")


def _shown(x: Value | float) -> float:
    """The number to show in an error message (only ever read on the way to raising)."""
    return x.data if isinstance(x, Value) else x


def _inside(x: Value | float, lo: float, hi: float) -> bool:
    """Whether lo <= x <= hi, as comparisons: on a Value under a trace each one is a
    guard, which the replay checks again for every sample (``.data`` would be frozen).

    A guard holds only while its comparison gives the result the trace saw, so a check
    must give the same results for every valid input (all True), as this one does.
    """
    return bool(lo <= x and x <= hi)  # type: ignore[operator]


def _is_seq(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _pairs(preds: Any, targets: Any, name: str) -> list[tuple[Value, float]]:
    """Flatten predictions and targets of the same shape (scalar, list, list of lists)."""
    preds, targets = to_lists(preds), to_lists(targets)
    if not _is_seq(preds):
        if _is_seq(targets):
            raise ValueError(f"{name}: one prediction but {len(targets)} targets")
        return [(as_value(preds), _target(targets, name, ""))]
    if not _is_seq(targets):
        raise ValueError(f"{name}: {len(preds)} predictions but a single target {targets!r}")
    if len(preds) != len(targets):
        raise ValueError(f"{name}: {len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{name}: no predictions")
    out: list[tuple[Value, Any]] = []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        if _is_seq(p):
            if not _is_seq(t) or len(t) != len(p):
                raise ValueError(
                    f"{name}: prediction {i} has {len(p)} outputs but target {i} is {t!r}"
                )
            out.extend(
                (as_value(pj), _target(tj, name, f" [{i}][{j}]"))
                for j, (pj, tj) in enumerate(zip(p, t, strict=True))
            )
        else:
            if _is_seq(t):
                raise ValueError(f"{name}: prediction {i} is a scalar but target {i} is {t!r}")
            out.append((as_value(p), _target(t, name, f" [{i}]")))
    return out


def mse_loss(preds: Any, targets: Any, reduction: str = "mean") -> Value:
    """Mean (or sum) of squared errors (p − t)².

    >>> round(mse_loss([Value(1.0), Value(2.0)], [0.0, 0.0]).data, 6)
    2.5
    """
    terms = []
    for p, t in _pairs(preds, targets, "mse_loss"):
        d = p - t
        terms.append(d * d)
    return _reduce(terms, reduction, "mse_loss")


def binary_cross_entropy(probs: Any, targets: Any, reduction: str = "mean") -> Value:
    """−[t log p + (1 − t) log(1 − p)] for probabilities p in [0, 1], targets t in [0, 1].

    With a plain-number target, a term whose weight is 0 is left out, so p = 1 with
    t = 1 is fine (loss 0). A target given as a Value (a traced input, see the module
    docstring) always takes both terms, the same graph for every target value, so p
    must then be strictly inside (0, 1). A probability that makes the loss infinite
    (p = 0 with t > 0, or p = 1 with t < 1) raises ``ValueError``: feed the raw scores
    to :func:`binary_cross_entropy_with_logits` instead of sigmoid outputs.
    """
    name = "binary_cross_entropy"
    terms = []
    for i, (p, t) in enumerate(_pairs(probs, targets, name)):
        if not _inside(p, 0.0, 1.0):
            raise ValueError(f"{name}: probability {i} is {_shown(p)!r}, outside [0, 1]")
        if not _inside(t, 0.0, 1.0):
            raise ValueError(f"{name}: target {i} is {_shown(t)!r}, outside [0, 1]")
        traced = isinstance(t, Value)
        if (p <= 0.0 and (traced or t > 0.0)) or (p >= 1.0 and (traced or t < 1.0)):
            weight = "given as a Value (both terms are computed)" if traced else repr(t)
            raise ValueError(
                f"{name}: probability {i} is exactly {_shown(p)!r} with target {weight}, so "
                "the loss takes log(0) = -inf (the sigmoid saturated in float64). Use "
                "binary_cross_entropy_with_logits on the scores before the sigmoid: it is "
                "finite and exact there."
            )
        if traced:  # one graph for every target value: no term is left out
            term = p.log() * t + (1.0 - p).log() * (1.0 - t)
        else:
            term = None
            if t != 0.0:
                term = p.log() * t
            if t != 1.0:
                other = (1.0 - p).log() * (1.0 - t)
                term = other if term is None else term + other
        terms.append(-term)  # type: ignore[operator]
    return _reduce(terms, reduction, name)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Value:
    """Binary cross-entropy of sigmoid(z), computed from the logit z: softplus(z) − t·z.

    Equal to −[t log σ(z) + (1 − t) log(1 − σ(z))], with gradient σ(z) − t; softplus
    is evaluated stably, so the loss is finite and exact for any z (|z| = 1000 too).
    """
    name = "binary_cross_entropy_with_logits"
    terms = []
    for i, (z, t) in enumerate(_pairs(logits, targets, name)):
        if not _inside(t, 0.0, 1.0):
            raise ValueError(f"{name}: target {i} is {_shown(t)!r}, outside [0, 1]")
        sp = z.softplus()
        # a Value target (a traced input) always takes the general form: no branch on it
        terms.append(sp if type(t) is float and t == 0.0 else sp - z * t)
    return _reduce(terms, reduction, name)


def _logits(logits: Any, name: str) -> list[Value]:
    if not _is_seq(logits) or not logits:
        raise ValueError(f"{name}: expected a non-empty list of logits, got {logits!r}")
    return [as_value(z) for z in logits]


def _max(zs: list[Value]) -> Value:
    return reduce(Value.max, zs)


def log_softmax(logits: Sequence[Scalar]) -> list[Value]:
    """log softmax(z)ᵢ = zᵢ − m − log Σⱼ exp(zⱼ − m), m = maxⱼ zⱼ.

    Every exponent is ≤ 0, so nothing overflows. The result does not depend on m, so
    the gradient through m sums to 0; m is recorded with ``Value.max`` rather than read
    from ``.data``, so that a compiled replay recomputes it for new inputs.
    """
    zs = _logits(logits, "log_softmax")
    m = _max(zs)
    shifted = [z - m for z in zs]
    log_total = _total([s.exp() for s in shifted]).log()
    return [s - log_total for s in shifted]


def softmax(logits: Sequence[Scalar]) -> list[Value]:
    """softmax(z)ᵢ = exp(zᵢ − m) / Σⱼ exp(zⱼ − m), m = maxⱼ zⱼ (never overflows)."""
    zs = _logits(logits, "softmax")
    m = _max(zs)
    exps = [(z - m).exp() for z in zs]
    inv = _total(exps) ** -1.0
    return [e * inv for e in exps]


def _class_index(t: Any, k: int, where: str) -> int:
    """``t`` as an int in [0, k): an int or numpy integer, never a bool or a float."""
    if isinstance(t, Value):
        raise TypeError(
            f"cross_entropy: target{where} is a Value (a traced input?); a class index picks "
            "a term, so it cannot be traced: give the target as one-hot class weights "
            "(a list of k numbers), as nn.train(compile='batch') does"
        )
    if not (is_real(t) and isinstance(t, numbers.Integral)):
        raise TypeError(
            f"cross_entropy: target{where} must be a class index (int), not {type(t).__name__} "
            f"({t!r})"
        )
    index = int(t)
    if not 0 <= index < k:
        raise ValueError(f"cross_entropy: target{where} is {t}, but there are {k} classes")
    return index


def _class_term(lsm: list[Value], t: Any, where: str) -> Value:
    """−Σₖ tₖ · log softmax(z)ₖ for a list of K target weights (one-hot or soft), or
    −log softmax(z)[t] for a class index."""
    if not _is_seq(t):
        return -lsm[_class_index(t, len(lsm), where)]
    if len(t) != len(lsm):
        raise ValueError(
            f"cross_entropy: target{where} has {len(t)} class weights but there are "
            f"{len(lsm)} logits"
        )
    terms = []
    for k, (lk, tk) in enumerate(zip(lsm, t, strict=True)):
        tk = _target(tk, "cross_entropy", f"{where}[{k}]")
        if not _inside(tk, 0.0, 1.0):
            raise ValueError(
                f"cross_entropy: target{where}[{k}] is {_shown(tk)!r}; class weights "
                "(one-hot or probabilities) must be in [0, 1]"
            )
        if isinstance(tk, Value):
            terms.append(lk * tk)  # a traced input: every term, whatever its value
        elif tk == 1.0:
            terms.append(lk)
        elif tk != 0.0:
            terms.append(lk * tk)
    if not terms:
        raise ValueError(f"cross_entropy: target{where} gives every class weight 0")
    return -_total(terms)


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Value:
    """−log softmax(z)[target] = logsumexp(z) − z_target, stable for any logits.

    One example: ``logits`` is a list of K Values and ``target`` a class index, or a
    list of K class weights in [0, 1] (one-hot, or probabilities as PyTorch's soft
    targets), giving −Σₖ tₖ log softmax(z)ₖ. A batch: a list of such lists and a list of
    indices, or a list of weight lists (averaged over examples by default). Gradient
    with respect to zᵢ: softmax(z)ᵢ Σₖ tₖ − tᵢ (softmax(z)ᵢ − [i = target] for an index).

    A class index picks a term, so it cannot be a traced input (``engine.compile``,
    ``engine.vmap``): trace with one-hot weights, given as Values; their graph is the
    same for every class, and the loss equals the index form's to the last bit.
    """
    logits, target = to_lists(logits), to_lists(target)
    if not _is_seq(logits) or not logits:
        raise ValueError(f"cross_entropy: expected a non-empty list of logits, got {logits!r}")
    if _is_seq(logits[0]):
        if not _is_seq(target) or len(target) != len(logits):
            raise ValueError(
                f"cross_entropy: {len(logits)} examples need {len(logits)} target indices, "
                f"got {target!r}"
            )
        batch = list(zip(logits, target, strict=True))
        single = False
    else:
        batch = [(logits, target)]
        single = True
    terms = []
    for i, (zs, t) in enumerate(batch):
        where = "" if single else f" [{i}]"
        terms.append(_class_term(log_softmax(zs), t, where))
    return _reduce(terms, reduction, "cross_entropy")


def hinge_loss(scores: Any, targets: Any, reduction: str = "mean") -> Value:
    """The max-margin (SVM) loss of micrograd's demo: max(0, 1 − t·s), t ∈ {−1, +1}."""
    name = "hinge_loss"
    terms = []
    for i, (s, t) in enumerate(_pairs(scores, targets, name)):
        # |t| = 1: the same comparison results for both labels, so a guard (see _inside)
        # holds for every valid sample of a replay
        if not _inside(abs(t), 1.0, 1.0):
            raise ValueError(
                f"{name}: target {i} is {_shown(t)!r}; the hinge loss needs labels -1 or +1 "
                "(map 0/1 labels with 2*y - 1)"
            )
        terms.append((1.0 - s * t).relu())
    return _reduce(terms, reduction, name)


def l2_penalty(params: Iterable[Value], alpha: float = 1.0) -> Value:
    """alpha · Σ p² over ``params`` (micrograd's demo adds it with alpha = 1e-4)."""
    factor = to_float(alpha, "l2_penalty: alpha")
    squares = []
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"l2_penalty: parameter {i} must be a Value, not {type(p).__name__}")
        squares.append(p * p)
    if not squares:
        raise ValueError("l2_penalty: no parameters")
    return _total(squares) * factor


LossFunction = Callable[..., Value]

#: Every loss by name: the short names ``nn.train`` always took and the functions'
#: own names, which :func:`walk_through_step` took. One table, used by both.
LOSS_FUNCTIONS: dict[str, LossFunction] = {
    "mse": mse_loss,
    "mse_loss": mse_loss,
    "bce": binary_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "bce_with_logits": binary_cross_entropy_with_logits,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "hinge": hinge_loss,
    "hinge_loss": hinge_loss,
    "cross_entropy": cross_entropy,
}


def get_loss(loss: str | LossFunction) -> LossFunction:
    """The loss function for a name of :data:`LOSS_FUNCTIONS`, or ``loss`` if callable."""
    if isinstance(loss, str):
        try:
            return LOSS_FUNCTIONS[loss]
        except KeyError:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {', '.join(LOSS_FUNCTIONS)} "
                "or pass a function (predictions, targets) -> Value"
            ) from None
    if callable(loss):
        return loss
    raise TypeError(f"loss must be a name or a function, not {type(loss).__name__}")
