"""``Neuron``, ``Layer`` and ``MLP``: fully connected networks of scalar Values.

A neuron computes z = b + Σᵢ wᵢ xᵢ (its pre-activation) and returns a = f(z).
A layer is a list of neurons that see the same inputs; an MLP is a chain of layers.
Weight matrices follow PyTorch's convention: one row per neuron (out × in), so
layer l computes zˡ = Wˡ aˡ⁻¹ + bˡ.

Initialisation (``init=``):

* ``"uniform"``: micrograd's, wᵢ ~ U(-1, 1) and b = 0;
* ``"fan_in"``: PyTorch's ``nn.Linear`` default, wᵢ and b ~ U(-k, k) with k = 1/√(fan-in),
  which keeps z of order 1 however many inputs a neuron has.

Randomness comes from ``seed=`` (an int) or ``rng=`` (a ``random.Random``); with
neither, a generator is seeded from Python's global ``random`` state, so
``random.seed(...)`` makes a script reproducible as in micrograd.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence
from typing import Any

from engine import Value, dot
from engine.checks import is_real, to_float
from nn.data import to_lists
from nn.module import Module
from nn.seeding import make_rng

__all__ = ["ACTIVATIONS", "INITS", "MLP", "Layer", "Neuron", "as_inputs"]

Input = Value | float | int


_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def as_inputs(x: Sequence[Input]) -> Sequence[Value]:
    """``x`` with every plain number lifted once to a labelled leaf ``Value(x, label="xᵢ")``.

    Without this, a number given as an input would become a separate unlabelled constant
    in every neuron that reads it (32 boxes for 2 inputs into 16 neurons, drawn); lifted
    once, each input is one node, x₁, x₂, ... (numbered from 1). A list of Values is
    returned as it is, at the cost of one type check per input.
    """
    for v in x:
        if not isinstance(v, Value):
            break
    else:
        return x  # type: ignore[return-value]
    return [
        v
        if isinstance(v, Value)
        else Value(to_float(v, f"input {i + 1}"), label="x" + str(i + 1).translate(_SUBSCRIPT))
        for i, v in enumerate(x)
    ]


def _leaky_relu(z: Value) -> Value:
    return z.leaky_relu(0.01)


#: Activation names and the functions they apply to a neuron's pre-activation z.
#: ``"linear"`` maps to None: the neuron returns z itself (no extra node).
#: leaky_relu uses PyTorch's default slope, 0.01.
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "leaky_relu": _leaky_relu,
    "linear": None,
}

#: Initialisation schemes (see the module docstring).
INITS = ("uniform", "fan_in")


def _activation(name: Any, what: str = "activation") -> Callable[[Value], Value] | None:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _count(n: Any, what: str) -> int:
    """``n`` as an int >= 1 (an int or a numpy integer; never a bool or a float)."""
    if not (is_real(n) and isinstance(n, numbers.Integral)):
        raise TypeError(f"{what} must be an int, not {type(n).__name__} ({n!r})")
    if n < 1:
        raise ValueError(f"{what} must be at least 1, got {n}")
    return int(n)


def _number(x: Any, where: str) -> float:
    return to_float(x, where)


class Neuron(Module):
    """One neuron: a = f(z), z = b + Σᵢ wᵢ xᵢ.

    Parameters ``w`` (a list, one weight per input) and ``b`` (None when
    ``bias=False``).
    """

    def __init__(
        self,
        nin: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        _count(nin, "nin (the number of inputs)")
        self.activation = activation  # validated by the property's setter
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, not {bias!r}")
        r = make_rng(seed, rng)
        k = 1.0 if init == "uniform" else 1.0 / math.sqrt(nin)
        self.w = [Value(r.uniform(-k, k)) for _ in range(nin)]
        if not bias:
            self.b: Value | None = None
        elif init == "uniform":
            self.b = Value(0.0)
        else:
            self.b = Value(r.uniform(-k, k))

    @property
    def activation(self) -> str:
        """The activation's name; setting it changes f."""
        return self._activation

    @activation.setter
    def activation(self, name: str) -> None:
        self._act = _activation(name)
        self._activation = name

    @property
    def nin(self) -> int:
        """The number of inputs."""
        return len(self.w)

    def activate(self, z: Value) -> Value:
        """f(z) (z itself for ``"linear"``)."""
        act = self._act
        return z if act is None else act(z)

    def preactivation(self, x: Sequence[Input]) -> Value:
        """z = b + Σᵢ wᵢ xᵢ, as a new node of the graph."""
        w = self.w
        if len(x) != len(w):
            raise ValueError(f"this neuron takes {len(w)} inputs, got {len(x)}")
        # b + w0 x0 + w1 x1 + ..., node by node in micrograd's order; engine.dot records
        # exactly the * and + nodes of that loop, without two operator calls per term.
        return dot(w, x, self.b)

    def forward(self, x: Sequence[Input]) -> Value:
        """a = f(z) for the inputs ``x`` (Values or numbers)."""
        z = self.preactivation(x)
        act = self._act
        return z if act is None else act(z)

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, {self.activation!r}, bias={self.b is not None})"


class Layer(Module):
    """``nout`` neurons on the same inputs; ``layer(x)`` is always a list of ``nout`` Values."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        _count(nin, "nin (the number of inputs)")
        _count(nout, "nout (the number of neurons)")
        r = make_rng(seed, rng)
        self.neurons = [Neuron(nin, activation, bias=bias, init=init, rng=r) for _ in range(nout)]

    @property
    def nin(self) -> int:
        """The number of inputs."""
        return self.neurons[0].nin

    @property
    def nout(self) -> int:
        """The number of neurons (outputs)."""
        return len(self.neurons)

    @property
    def has_bias(self) -> bool:
        """Whether the neurons have biases."""
        return self.neurons[0].b is not None

    @property
    def activation(self) -> str:
        """The activation of the layer's neurons; setting it sets all of them."""
        return self.neurons[0].activation

    @activation.setter
    def activation(self, name: str) -> None:
        _activation(name)
        for n in self.neurons:
            n.activation = name

    def activate(self, zs: Sequence[Value]) -> list[Value]:
        """aˡ = f(zˡ), each neuron applying its own activation to its z."""
        return [n.activate(z) for n, z in zip(self.neurons, zs, strict=True)]

    def preactivations(self, x: Sequence[Input]) -> list[Value]:
        """zˡ = Wˡ x + bˡ, one Value per neuron."""
        return [n.preactivation(x) for n in self.neurons]

    def forward(self, x: Sequence[Input]) -> list[Value]:
        """aˡ = f(Wˡ x + bˡ), one Value per neuron (numbers in ``x``: see :func:`as_inputs`)."""
        x = as_inputs(x)
        return [n.forward(x) for n in self.neurons]

    def weight_matrix(self) -> list[list[float]]:
        """The weights as floats, one row per neuron (out × in)."""
        return [[w.data for w in n.w] for n in self.neurons]

    def bias_vector(self) -> list[float] | None:
        """The biases as floats (None for a layer without bias)."""
        if not self.has_bias:
            return None
        return [n.b.data for n in self.neurons]  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, {self.activation!r}, bias={self.has_bias})"


class MLP(Module):
    """A multi-layer perceptron: ``nin`` inputs, then one layer per entry of ``nouts``.

    Hidden layers use ``activation``; the last layer uses ``output_activation``
    (default ``"linear"``: raw scores, as in micrograd's demo). ``model(x)`` returns a
    single Value when the last layer has one neuron, a list otherwise.

    >>> model = MLP(2, [16, 16, 1], seed=0)   # micrograd's moons classifier
    >>> len(model.parameters())
    337
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
        *,
        bias: bool = True,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        _count(nin, "nin (the number of inputs)")
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
            raise TypeError(f"nouts must be a non-empty list of layer sizes, not {nouts!r}")
        sizes = [_count(n, f"nouts[{i}]") for i, n in enumerate(nouts)]
        _activation(activation)
        _activation(output_activation, "output_activation")
        r = make_rng(seed, rng)
        dims = [nin, *sizes]
        last = len(sizes) - 1
        self.layers = [
            Layer(
                dims[i],
                dims[i + 1],
                output_activation if i == last else activation,
                bias=bias,
                init=init,
                rng=r,
            )
            for i in range(len(sizes))
        ]

    @property
    def nin(self) -> int:
        """The number of inputs."""
        return self.layers[0].nin

    @property
    def nouts(self) -> list[int]:
        """The size of every layer."""
        return [layer.nout for layer in self.layers]

    def forward(self, x: Sequence[Input]) -> Value | list[Value]:
        """The network's output for one input vector ``x`` (Values or numbers).

        Numbers become one labelled leaf each, x₁, x₂, ... (:func:`as_inputs`).
        """
        out = as_inputs(x)
        for layer in self.layers:  # Layer.forward without its input check: all Values now
            out = [n.forward(out) for n in layer.neurons]
        return out[0] if len(out) == 1 else out  # type: ignore[return-value]

    def weight_matrices(self) -> list[list[list[float]]]:
        """Every layer's weight matrix (out × in), as taken by :meth:`from_weights`."""
        return [layer.weight_matrix() for layer in self.layers]

    def bias_vectors(self) -> list[list[float] | None]:
        """Every layer's biases (None for a layer without bias)."""
        return [layer.bias_vector() for layer in self.layers]

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[Sequence[Sequence[float]]],
        biases: Sequence[Sequence[float] | None] | None = None,
        activation: str | None = None,
        output_activation: str | None = None,
    ) -> MLP:
        """An MLP with the given weights, for worked examples and weights from elsewhere.

        ``weights[l]`` is layer l's matrix, one row per neuron (out × in, PyTorch's
        convention); ``biases[l]`` is its bias list, or None for a layer without bias
        (``biases=None``: no bias anywhere).

        The activations have no defaults and must be given: ``activation`` for the
        hidden layers (not needed with a single layer) and ``output_activation`` for
        the last one. A default could only be right for some networks: ``MLP(...)``'s
        (relu hidden, linear output) would turn the classic sigmoid worked examples
        into other networks without a word, and any other default would disagree with
        ``MLP(...)``. Weights taken from elsewhere should come with the activations
        they were trained with.

        >>> m = MLP.from_weights(
        ...     [[[0.15, 0.20], [-0.25, 0.10]], [[0.2, -0.35]]],
        ...     activation="sigmoid",
        ...     output_activation="sigmoid",
        ... )
        >>> m.nouts
        [2, 1]
        """
        matrices = _check_weights(weights)
        missing = [
            name
            for name, value in (
                ("activation", activation),
                ("output_activation", output_activation),
            )
            if value is None and (name == "output_activation" or len(matrices) > 1)
        ]
        if missing:
            raise TypeError(
                "MLP.from_weights needs " + " and ".join(f"{m}=" for m in missing) + " (the "
                "activations have no defaults: MLP(...) uses activation='relu' and "
                "output_activation='linear', the worked examples 'sigmoid' for both; "
                f"choose from {', '.join(ACTIVATIONS)})"
            )
        assert output_activation is not None  # for mypy: refused above when missing
        hidden = output_activation if activation is None else activation  # None: one layer
        _activation(hidden)
        _activation(output_activation, "output_activation")
        vectors = _check_biases(biases, matrices)
        last = len(matrices) - 1
        model = cls.__new__(cls)
        model.layers = []
        for i, (rows, bs) in enumerate(zip(matrices, vectors, strict=True)):
            act = output_activation if i == last else hidden
            layer = Layer(len(rows[0]), len(rows), act, bias=bs is not None, seed=0)
            for j, (neuron, row) in enumerate(zip(layer.neurons, rows, strict=True)):
                for w, v in zip(neuron.w, row, strict=True):
                    w.data = v
                if bs is not None:
                    neuron.b.data = bs[j]  # type: ignore[union-attr]
            model.layers.append(layer)
        return model

    def __repr__(self) -> str:
        acts = [layer.activation for layer in self.layers]
        hidden = acts[0] if len(acts) > 1 else "relu"
        return (
            f"MLP({self.nin}, {self.nouts}, activation={hidden!r}, "
            f"output_activation={acts[-1]!r}, bias={self.layers[0].has_bias})"
        )


def _check_weights(weights: Any) -> list[list[list[float]]]:
    weights = to_lists(weights)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or not weights:
        raise TypeError("weights must be a non-empty list of matrices (one per layer)")
    matrices: list[list[list[float]]] = []
    for li, matrix in enumerate(weights):
        matrix = to_lists(matrix)
        if isinstance(matrix, (str, bytes)) or not isinstance(matrix, Sequence) or not matrix:
            raise TypeError(f"weights[{li}] must be a non-empty matrix (a list of rows)")
        rows = []
        for ri, row in enumerate(matrix):
            row = to_lists(row)
            if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or not row:
                raise TypeError(
                    f"weights[{li}][{ri}] must be a non-empty list of numbers "
                    "(one row per neuron, one column per input)"
                )
            rows.append([_number(v, f"weights[{li}][{ri}][{ci}]") for ci, v in enumerate(row)])
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            raise ValueError(f"weights[{li}] has rows of different lengths {sorted(widths)}")
        if li > 0 and len(rows[0]) != len(matrices[-1]):
            raise ValueError(
                f"weights[{li}] has {len(rows[0])} columns but layer {li - 1} has "
                f"{len(matrices[-1])} neurons (rows); they must match"
            )
        matrices.append(rows)
    return matrices


def _check_biases(biases: Any, matrices: list[list[list[float]]]) -> list[list[float] | None]:
    biases = to_lists(biases)
    if biases is None:
        return [None] * len(matrices)
    if isinstance(biases, (str, bytes)) or not isinstance(biases, Sequence):
        raise TypeError("biases must be None or a list with one entry (a list or None) per layer")
    if len(biases) != len(matrices):
        raise ValueError(f"biases has {len(biases)} entries but weights has {len(matrices)} layers")
    vectors: list[list[float] | None] = []
    for li, (bs, rows) in enumerate(zip(biases, matrices, strict=True)):
        bs = to_lists(bs)
        if bs is None:
            vectors.append(None)
            continue
        if isinstance(bs, (str, bytes)) or not isinstance(bs, Sequence):
            raise TypeError(f"biases[{li}] must be a list of numbers or None")
        if len(bs) != len(rows):
            raise ValueError(
                f"biases[{li}] has {len(bs)} entries but layer {li} has {len(rows)} neurons"
            )
        vectors.append([_number(v, f"biases[{li}][{j}]") for j, v in enumerate(bs)])
    return vectors
