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
  :func:`cross_entropy`, :func:`hinge_loss`, :func:`l2_penalty`
* optimizers: :class:`SGD`, :class:`Adam`, :func:`linear_decay`
* data: :func:`make_moons`, :func:`make_circles`, :func:`make_xor`, :func:`make_spiral`,
  :func:`train_test_split`, :class:`Standardizer`
* training: :func:`train`, :func:`train_step`, :func:`evaluate`, :func:`predict`,
  :class:`History`
* one step by hand: :func:`walk_through_step`, :class:`StepWalkthrough`,
  :data:`WORKED_EXAMPLES`
* checking and intuition: :func:`gradcheck_module` (every parameter against central
  differences), :func:`nudge` (J against one parameter, its tangent, the slope table)
"""

from nn.data import (
    Standardizer,
    make_circles,
    make_moons,
    make_spiral,
    make_xor,
    train_test_split,
)
from nn.gradcheck import ModuleGradcheck, ParameterCheck, gradcheck_module
from nn.layers import ACTIVATIONS, INITS, MLP, Layer, Neuron
from nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
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
from nn.train import LOSSES, CompiledStep, History, evaluate, predict, train, train_step
from nn.walkthrough import CONVENTIONS, LayerStep, StepWalkthrough, walk_through_step
from nn.worked_examples import WORKED_EXAMPLES, WorkedExample

__all__ = [
    "ACTIVATIONS",
    "INITS",
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
    "hinge_loss",
    "l2_penalty",
    "linear_decay",
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
