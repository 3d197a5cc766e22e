"""Neuron, Layer, MLP: the math of the forward pass, shapes, activations, init, seeds."""

from __future__ import annotations

import math
import random

import pytest

from engine import Value, gradcheck
from nn import ACTIVATIONS, MLP, Layer, Neuron

SIGMOID = lambda z: 1.0 / (1.0 + math.exp(-z))  # noqa: E731
PLAIN = {
    "relu": lambda z: max(z, 0.0),
    "tanh": math.tanh,
    "sigmoid": SIGMOID,
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "linear": lambda z: z,
}


def test_the_plain_table_covers_every_activation() -> None:
    assert set(PLAIN) == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", sorted(PLAIN))
@pytest.mark.parametrize("x", [[0.5, -1.5, 2.0], [-3.0, 0.25, -0.75]])
def test_neuron_computes_f_of_b_plus_w_dot_x(activation: str, x: list[float]) -> None:
    n = Neuron(3, activation, seed=4, init="fan_in")
    w = [p.data for p in n.w]
    b = n.b.data
    z = b + w[0] * x[0] + w[1] * x[1] + w[2] * x[2]
    assert n(x).data == pytest.approx(PLAIN[activation](z), rel=1e-15, abs=1e-15)
    assert n.preactivation(x).data == pytest.approx(z, rel=1e-15, abs=1e-15)


def test_linear_neuron_returns_z_itself() -> None:
    n = Neuron(2, "linear", seed=0)
    out = n([1.0, 2.0])
    assert out.op == "+"  # the last addition of z, no extra identity node


def test_neuron_without_bias() -> None:
    n = Neuron(2, "linear", bias=False, seed=0)
    assert n.b is None
    assert len(n.parameters()) == 2
    assert n([1.0, 1.0]).data == n.w[0].data + n.w[1].data


def test_neuron_gradients_match_central_differences() -> None:
    """d tanh(b + w·x) / d(w, b), checked by engine.gradcheck (float64 central
    differences; its default tolerances are justified in engine/gradcheck.py)."""
    x = [0.3, -1.2]

    def f(w0: Value, w1: Value, b: Value) -> Value:
        n = Neuron(2, "tanh", seed=0)
        n.w, n.b = [w0, w1], b
        return n(x)

    assert gradcheck(f, 0.4, -0.6, 0.1)


def test_neuron_accepts_values_and_numbers_and_checks_the_length() -> None:
    n = Neuron(2, "tanh", seed=1)
    assert n([Value(0.5), 2]).data == n([0.5, 2.0]).data
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        n([1.0, 2.0, 3.0])


def test_layer_always_returns_a_list() -> None:
    layer = Layer(3, 1, seed=0)
    out = layer([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 1
    assert len(Layer(2, 4, seed=0)([1.0, 1.0])) == 4


def test_mlp_returns_a_value_for_one_output_and_a_list_otherwise() -> None:
    assert isinstance(MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    out = MLP(2, [3, 2], seed=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 2


def test_mlp_with_a_one_neuron_hidden_layer_works() -> None:
    """micrograd's Layer returns a bare Value for one neuron, so MLP(2, [16, 1, 1])
    crashes in the next layer; here a layer always returns a list."""
    model = MLP(2, [16, 1, 1], activation="tanh", seed=3)
    out = model([0.5, -0.5])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0.0 for p in model.layers[0].parameters())
    assert model.nouts == [16, 1, 1]
    assert len(model.parameters()) == 16 * (2 + 1) + (16 + 1) + (1 + 1)


def test_mlp_applies_hidden_and_output_activations() -> None:
    model = MLP(2, [2, 2, 1], activation="tanh", output_activation="sigmoid", seed=0)
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "sigmoid"]
    x = [0.7, -0.2]
    a = x
    for layer in model.layers:
        f = PLAIN[layer.activation]
        a = [
            f(b + sum(w * v for w, v in zip(W, a, strict=True)))
            for W, b in zip(layer.weight_matrix(), layer.bias_vector(), strict=True)
        ]
    assert model(x).data == pytest.approx(a[0], rel=1e-14)


def test_default_mlp_is_micrograds_relu_net_with_linear_output() -> None:
    model = MLP(2, [16, 16, 1], seed=0)
    assert [layer.activation for layer in model.layers] == ["relu", "relu", "linear"]
    assert len(model.parameters()) == 337


# --- initialisation and seeds ------------------------------------------------------------


def test_same_seed_same_weights_different_seed_different_weights() -> None:
    a = MLP(3, [4, 2], seed=11).state_dict()
    assert MLP(3, [4, 2], seed=11).state_dict() == a
    assert MLP(3, [4, 2], seed=12).state_dict() != a


def test_an_rng_can_be_passed_and_is_consumed() -> None:
    r1, r2 = random.Random(5), random.Random(5)
    a = MLP(2, [3], rng=r1)
    b = MLP(2, [3], rng=r2)
    assert a.state_dict() == b.state_dict()
    c = MLP(2, [3], rng=r1)  # the generator moved on
    assert c.state_dict() != a.state_dict()


def test_without_seed_the_global_random_state_decides() -> None:
    random.seed(1234)
    a = MLP(
        2,
        [3],
    ).state_dict()
    random.seed(1234)
    assert MLP(2, [3]).state_dict() == a


def test_seed_and_rng_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        Neuron(2, seed=1, rng=random.Random(1))
    with pytest.raises(TypeError, match="seed must be an int"):
        Neuron(2, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed must be an int"):
        Neuron(2, seed=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rng must be a random\.Random"):
        Neuron(2, rng=3)  # type: ignore[arg-type]


def test_uniform_init_is_micrograds() -> None:
    n = Neuron(200, init="uniform", seed=0)
    ws = [w.data for w in n.w]
    assert all(-1.0 <= w <= 1.0 for w in ws)
    assert max(ws) > 0.9 and min(ws) < -0.9  # spans the interval
    assert n.b.data == 0.0


def test_fan_in_init_scales_with_one_over_sqrt_fan_in() -> None:
    n = Neuron(100, init="fan_in", seed=0)
    k = 1 / math.sqrt(100)
    ws = [w.data for w in n.w]
    assert all(-k <= w <= k for w in ws)
    assert max(ws) > 0.8 * k and min(ws) < -0.8 * k
    assert -k <= n.b.data <= k and n.b.data != 0.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"nin": 0}, ValueError, "at least 1"),
        ({"nin": 2.0}, TypeError, "must be an int"),
        ({"nin": 2, "activation": "softmax"}, ValueError, "unknown activation 'softmax'"),
        ({"nin": 2, "init": "xavier"}, ValueError, "unknown init 'xavier'"),
        ({"nin": 2, "bias": 1}, TypeError, "bias must be True or False"),
    ],
)
def test_bad_neuron_arguments(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        Neuron(**kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((2, []), {}, TypeError, "non-empty list"),
        ((2, 3), {}, TypeError, "non-empty list"),
        ((2, [3, 0]), {}, ValueError, r"nouts\[1\] must be at least 1"),
        ((2, [3]), {"output_activation": "soft"}, ValueError, "unknown output_activation"),
    ],
)
def test_bad_mlp_arguments(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        MLP(*args, **kwargs)


# --- explicit weights ---------------------------------------------------------------------


def test_from_weights_sets_every_weight_and_reads_back() -> None:
    weights = [[[0.15, 0.20], [-0.25, 0.10], [0.05, -0.15]], [[0.20, -0.35, 0.15]]]
    model = MLP.from_weights(weights, activation="sigmoid", output_activation="sigmoid")
    assert model.weight_matrices() == weights
    assert model.bias_vectors() == [None, None]
    assert [layer.activation for layer in model.layers] == ["sigmoid", "sigmoid"]
    assert model.layers[0].weight_matrix() == weights[0]
    assert model.nin == 2 and model.nouts == [3, 1]


def test_from_weights_with_biases_and_output_activation() -> None:
    model = MLP.from_weights(
        [[[1.0, 2.0]], [[3.0], [4.0]]],
        biases=[[0.5], None],
        activation="relu",
        output_activation="linear",
    )
    assert model.bias_vectors() == [[0.5], None]
    # relu(1*1 + 2*(-1) + 0.5) = 0 → outputs 0, 0; relu(1*1 + 2*1 + 0.5) = 3.5 → 10.5, 14
    assert [v.data for v in model([1.0, 1.0])] == [10.5, 14.0]
    assert [v.data for v in model([1.0, -1.0])] == [0.0, 0.0]


def test_from_weights_round_trips_a_random_model() -> None:
    a = MLP(3, [4, 2], activation="tanh", output_activation="linear", seed=9)
    b = MLP.from_weights(a.weight_matrices(), a.bias_vectors(), "tanh", "linear")
    assert b.state_dict() == a.state_dict()
    assert [v.data for v in b([1.0, 2.0, 3.0])] == [v.data for v in a([1.0, 2.0, 3.0])]


@pytest.mark.parametrize(
    "weights, biases, error, message",
    [
        ([], None, TypeError, "non-empty list of matrices"),
        ([[]], None, TypeError, r"weights\[0\] must be a non-empty matrix"),
        ([[[1.0, 2.0], [3.0]]], None, ValueError, "rows of different lengths"),
        ([[[1.0, 2.0]], [[1.0, 2.0]]], None, ValueError, "2 columns but layer 0 has 1 neurons"),
        ([[[1.0, "2"]]], None, TypeError, r"weights\[0\]\[0\]\[1\] must be a real number"),
        ([[[1.0, True]]], None, TypeError, r"weights\[0\]\[0\]\[1\] must be a real number"),
        ([[[1.0, math.nan]]], None, ValueError, "must be finite"),
        ([[[1.0]]], [[1.0], [2.0]], ValueError, "2 entries but weights has 1 layers"),
        ([[[1.0], [2.0]]], [[1.0]], ValueError, r"biases\[0\] has 1 entries but layer 0 has 2"),
        ([[[1.0]]], [[math.inf]], ValueError, "must be finite"),
    ],
)
def test_from_weights_validates(weights, biases, error, message) -> None:
    with pytest.raises(error, match=message):
        MLP.from_weights(weights, biases, activation="relu", output_activation="linear")


def test_from_weights_has_no_default_activations() -> None:
    """It used to default to sigmoid everywhere while MLP(...) defaults to relu/linear:
    weights from elsewhere silently became another network. Now the call must say."""
    weights = [[[0.15, 0.20], [-0.25, 0.10]], [[0.2, -0.35]]]
    with pytest.raises(TypeError, match="needs activation= and output_activation="):
        MLP.from_weights(weights)
    with pytest.raises(TypeError, match=r"needs output_activation= \(the activations"):
        MLP.from_weights(weights, activation="sigmoid")
    with pytest.raises(TypeError, match=r"needs activation= \("):
        MLP.from_weights(weights, output_activation="linear")
    one_layer = MLP.from_weights([[[2.0]]], output_activation="tanh")  # no hidden layer
    assert one_layer.layers[0].activation == "tanh"
    with pytest.raises(ValueError, match="unknown activation 'sigmod'"):
        MLP.from_weights(weights, activation="sigmod", output_activation="linear")


def test_from_weights_agrees_with_mlp_given_the_same_activations() -> None:
    for hidden, out in [("relu", "linear"), ("tanh", "sigmoid"), ("sigmoid", "sigmoid")]:
        a = MLP(2, [3, 2], activation=hidden, output_activation=out, seed=4)
        b = MLP.from_weights(
            a.weight_matrices(), a.bias_vectors(), activation=hidden, output_activation=out
        )
        assert repr(b) == repr(a)
        assert [v.data for v in b([0.5, -1.5])] == [v.data for v in a([0.5, -1.5])]


def test_from_weights_takes_numpy_arrays_and_numbers() -> None:
    np = pytest.importorskip("numpy")
    a = MLP(2, [3, 1], seed=2)
    b = MLP.from_weights(
        [np.array(w) for w in a.weight_matrices()],
        [np.array(bs) for bs in a.bias_vectors()],
        activation="relu",
        output_activation="linear",
    )
    assert b.state_dict() == a.state_dict()
    assert all(type(v) is float for v in b.state_dict().values())
    c = MLP.from_weights(np.ones((1, 1, 2)), output_activation="linear")
    assert c.weight_matrices() == [[[1.0, 1.0]]]
    assert MLP(np.int64(2), [np.int64(3)], seed=0).nouts == [3]


def test_reprs_say_what_the_module_is() -> None:
    assert repr(Neuron(2, "tanh", seed=0)) == "Neuron(2, 'tanh', bias=True)"
    assert repr(Layer(2, 3, "relu", bias=False, seed=0)) == "Layer(2, 3, 'relu', bias=False)"
    assert repr(MLP(2, [16, 16, 1], seed=0)) == (
        "MLP(2, [16, 16, 1], activation='relu', output_activation='linear', bias=True)"
    )


def test_setting_an_activation_changes_the_function() -> None:
    layer = Layer(2, 2, "relu", seed=0)
    x = [0.3, -0.4]
    z = [v.data for v in layer.preactivations(x)]
    layer.activation = "tanh"
    assert [n.activation for n in layer.neurons] == ["tanh", "tanh"]
    assert [v.data for v in layer(x)] == [math.tanh(v) for v in z]
    assert [v.data for v in layer.activate(layer.preactivations(x))] == [math.tanh(v) for v in z]
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        layer.activation = "gelu"
    assert layer.activation == "tanh"
    assert "activation" not in dict(layer.named_parameters())


# --- inputs given as numbers -----------------------------------------------------------------


def _input_leaves(root, model) -> list:
    """The leaves of ``root``'s graph that are not parameters of ``model``."""
    params = {id(p) for p in model.parameters()}
    seen, stack, leaves = set(), [root], []
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if not v.parents and id(v) not in params:
            leaves.append(v)
        stack.extend(v.parents)
    return leaves


def test_numbers_as_inputs_become_one_labelled_node_each() -> None:
    """2 inputs into 16 neurons: 2 input nodes x₁ x₂, not one constant per neuron (32)."""
    model = MLP(2, [16, 16, 1], seed=0)
    out = model([1.5, -2])
    leaves = _input_leaves(out, model)
    assert sorted((v.label, v.data) for v in leaves) == [("x₁", 1.5), ("x₂", -2.0)]
    layer = Layer(3, 4, seed=0)
    outs = layer([1.0, 2.0, 3.0])
    shared = {id(v) for v in _input_leaves(outs[0], layer)}
    assert len(shared) == 3
    assert all({id(v) for v in _input_leaves(o, layer)} == shared for o in outs)
    assert sorted(v.label for v in _input_leaves(outs[0], layer)) == ["x₁", "x₂", "x₃"]


def test_numbers_and_values_as_inputs_give_the_same_bits() -> None:
    model = MLP(2, [16, 16, 1], seed=0)
    a = model([0.3, -1.7])
    a.backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    b = model([Value(0.3), Value(-1.7)])
    b.backward()
    assert a.data == b.data
    assert [p.grad for p in model.parameters()] == grads
    given = [Value(0.3, label="mine"), 2.0]
    out = model(given)
    assert given[0] in _input_leaves(out, model)  # a Value is used as it is


def test_a_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="input 2 must be a real number, not str"):
        MLP(2, [1], seed=0)([1.0, "a"])
