"""chainrule's neural-network layer, built on :mod:`engine`, with PyTorch's names.

>>> from nn import MLP, SGD, hinge_loss, make_moons
>>> X, y = make_moons(100, noise=0.1, seed=1)
>>> model = MLP(2, [16, 16, 1], seed=1)   # relu hidden layers, linear output
>>> opt = SGD(model.parameters(), lr=0.1)
>>> loss = hinge_loss([model(x) for x in X], [2 * t - 1 for t in y])
>>> opt.zero_grad(); loss.backward(); opt.step()

* modules: :class:`Module`, :class:`Neuron`, :class:`Layer`, :class:`MLP`
* losses: :func:`mse_loss`, :func:`binary_cross_entropy`,
  :func:`binary_cross_entropy_with_logits`, :func:`softmax`, :func:`log_softmax`,
  :func:`cross_entropy`, :func:`hinge_loss`, :func:`l2_penalty`; every loss by name
  (``"mse"`` or ``"mse_loss"``, ...) in :data:`LOSS_FUNCTIONS`, looked up by
  :func:`get_loss`, as ``train(loss=...)`` and ``walk_through_step(loss=...)`` do
* optimizers: :class:`SGD`, :class:`Adam`, :func:`linear_decay`
* data: :func:`make_moons`, :func:`make_circles`, :func:`make_xor`, :func:`make_spiral`,
  :func:`load_digits` (8×8 handwritten digits, shipped), :func:`train_test_split`,
  :class:`Standardizer`
* training: :func:`train` (``compile="batch"``: mini-batches replayed by
  :func:`engine.vmap`), :func:`train_step`, :func:`evaluate`, :func:`predict` (batched
  from :data:`BATCH_FROM` samples on), :class:`History`
* one step by hand: :func:`walk_through_step`, :class:`StepWalkthrough`,
  :data:`WORKED_EXAMPLES`
* checking and intuition: :func:`gradcheck_module` (every parameter against central
  differences), :func:`nudge` (J against one parameter, its tangent, the slope table)
"""

# ruff: noqa: E402  (the check runs before the imports it protects)


def _check_not_shadowed(*names: str) -> None:
    """Refuse a module that hides one of chainrule's packages (a student's ``engine.py``).

    micrograd's files are ``engine.py`` and ``nn.py``; one of them in the working
    directory (or the script's folder) comes first on ``sys.path`` and would be
    imported in place of chainrule's package, failing later with a puzzling error.
    """
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            origin = getattr(module, "__file__", None)
        else:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
        expected = root / name / "__init__.py"
        if origin is not None and Path(origin).resolve() == expected:
            continue
        where = origin or "a folder without __init__.py"
        raise ImportError(
            f"chainrule's {__name__} needs chainrule's {name!r} package ({expected}), but "
            f"Python finds another {name!r} first: {where}. A file or folder named {name} in "
            "the working directory (or the script's folder) hides chainrule's; rename it "
            f"(e.g. {name}.py to my_{name}.py) or run Python from another directory."
        )


_check_not_shadowed("engine")

from nn.data import (
    Standardizer,
    load_digits,
    make_circles,
    make_moons,
    make_spiral,
    make_xor,
    train_test_split,
)
from nn.gradcheck import ModuleGradcheck, ParameterCheck, gradcheck_module
from nn.layers import ACTIVATIONS, INITS, MLP, Layer, Neuron
from nn.losses import (
    LOSS_FUNCTIONS,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    get_loss,
    hinge_loss,
    l2_penalty,
    log_softmax,
    mse_loss,
    softmax,
)
from nn.module import Module
from nn.nudge import Nudge, nudge
from nn.optim import SGD, Adam, Optimizer, linear_decay
from nn.seeding import make_rng
from nn.train import (
    BATCH_FROM,
    LOSSES,
    BatchStep,
    CompiledStep,
    History,
    evaluate,
    predict,
    train,
    train_step,
)
from nn.walkthrough import CONVENTIONS, LayerStep, StepWalkthrough, walk_through_step
from nn.worked_examples import WORKED_EXAMPLES, WorkedExample

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LOSS_FUNCTIONS",
    "MLP",
    "SGD",
    "WORKED_EXAMPLES",
    "Adam",
    "History",
    "Layer",
    "LayerStep",
    "Module",
    "Neuron",
    "Optimizer",
    "Standardizer",
    "StepWalkthrough",
    "WorkedExample",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "evaluate",
    "get_loss",
    "hinge_loss",
    "l2_penalty",
    "linear_decay",
    "load_digits",
    "log_softmax",
    "make_circles",
    "make_moons",
    "make_rng",
    "make_spiral",
    "make_xor",
    "mse_loss",
    "predict",
    "softmax",
    "train",
    "CompiledStep",
    "BatchStep",
    "BATCH_FROM",
    "CONVENTIONS",
    "LOSSES",
    "ModuleGradcheck",
    "Nudge",
    "ParameterCheck",
    "gradcheck_module",
    "nudge",
    "train_step",
    "train_test_split",
    "walk_through_step",
]
