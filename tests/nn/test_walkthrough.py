"""walk_through_step: δ read from the engine equals the delta rule computed with floats.

The reference below is backpropagation written out with plain floats, the blackboard
way: δᴸ = ∂J/∂aᴸ ⊙ f'(zᴸ), δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f'(zˡ), ∂J/∂Wˡ = Σₙ δˡ (aˡ⁻¹)ᵀ,
∂J/∂bˡ = Σₙ δˡ. It shares no code with the engine or nn.

Tolerance: both sides evaluate the same float64 formulas, only in a different order
(the engine adds b first and accumulates products one node at a time; the chain rule
multiplies local derivatives in its own order). Each quantity is a short chain of at
most ~30 roundings of numbers bounded by ~10³ here (|w|, |b|, |x| <= 2, at most three
layers of three neurons), so the two differ by at most ~30 · 2.2e-16 · 10³ ≈ 1e-11
absolute; rel 1e-9 with abs 1e-9 leaves two orders of magnitude to spare while any
wrong δ (a missing f', a transposed W) is off by O(1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.testing import floats
from nn import MLP, WORKED_EXAMPLES, Neuron, mse_loss, walk_through_step

REL = ABS = 1e-9


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


#: activation -> (f, f') on floats, written independently of the engine's op table.
PLAIN: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
    "tanh": (math.tanh, lambda z: 1 - math.tanh(z) ** 2),
    "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
    "linear": (lambda z: z, lambda z: 1.0),
}


def _neuron_sum(row: list[float], a: list[float], bias: float) -> float:
    z = bias
    for w, v in zip(row, a, strict=True):
        z = z + w * v
    return z


def delta_rule(
    weights: list[list[list[float]]],
    biases: list[list[float] | None],
    activations: list[str],
    xs: list[list[float]],
    dJ_da: Callable[[list[list[float]]], list[list[float]]],
) -> dict[str, list]:
    """Forward and backward pass of a dense network with floats; every quantity per layer."""
    L = len(weights)
    zs: list[list[list[float]]] = [[] for _ in range(L)]
    acts: list[list[list[float]]] = [[] for _ in range(L)]
    ins: list[list[list[float]]] = [[] for _ in range(L)]
    for x in xs:
        a = x
        for k in range(L):
            f = PLAIN[activations[k]][0]
            b = biases[k] or [0.0] * len(weights[k])
            # b + w0 x0 + w1 x1 + ..., added in the neuron's order (engine.dot with the
            # bias as start): at a kink of f' (z = 0 for relu) another order can round
            # z to the other side, and f'(z) is then not close at all
            z = [_neuron_sum(row, a, bi) for row, bi in zip(weights[k], b, strict=True)]
            ins[k].append(a)
            a = [f(zi) for zi in z]
            zs[k].append(z)
            acts[k].append(a)
    # bprop of layer k receives g = ∂J/∂aᵏ, makes δ = g ⊙ f'(zᵏ), returns (Wᵏ)ᵀ δ.
    deltas: list[list[list[float]]] = [[] for _ in range(L)]
    grad_a: list[list[list[float]]] = [[] for _ in range(L)]
    fprime: list[list[list[float]]] = [[] for _ in range(L)]
    grad_in: list[list[list[float]]] = [[] for _ in range(L)]
    outer = dJ_da(acts[L - 1])
    for n in range(len(xs)):
        g = outer[n]
        for k in range(L - 1, -1, -1):
            fp = [PLAIN[activations[k]][1](z) for z in zs[k][n]]
            d = [gi * f for gi, f in zip(g, fp, strict=True)]
            W = weights[k]
            back = [sum(W[i][j] * d[i] for i in range(len(W))) for j in range(len(W[0]))]
            grad_a[k].append(g)
            fprime[k].append(fp)
            deltas[k].append(d)
            grad_in[k].append(back)
            g = back
    grad_w = [
        [
            [
                sum(deltas[k][n][i] * ins[k][n][j] for n in range(len(xs)))
                for j in range(len(weights[k][0]))
            ]
            for i in range(len(weights[k]))
        ]
        for k in range(L)
    ]
    grad_b = [
        [sum(deltas[k][n][i] for n in range(len(xs))) for i in range(len(weights[k]))]
        for k in range(L)
    ]
    return {
        "z": zs,
        "a": acts,
        "inputs": ins,
        "delta": deltas,
        "grad_a": grad_a,
        "fprime": fprime,
        "grad_in": grad_in,
        "grad_w": grad_w,
        "grad_b": grad_b,
    }


def close(a, b) -> bool:
    """Same nesting and lengths, and every number within REL/ABS."""
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(close(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == pytest.approx(b, rel=REL, abs=ABS)


def check_against_delta_rule(step, ref, weights, biases, lr, update_biases, scale=1.0) -> None:
    """Every per-layer number of ``step`` against ``ref``; ``scale`` multiplies the
    reference's Σₙ δ aᵀ (1/n for the per-example convention)."""
    for k, s in enumerate(step.layers):
        assert s.index == k + 1
        assert close(s.z, ref["z"][k])
        assert close(s.a, ref["a"][k])
        assert close(s.inputs, ref["inputs"][k])
        assert close(s.delta, ref["delta"][k]), f"δ of layer {k + 1}"
        assert close(s.grad_a, ref["grad_a"][k]), f"∂J/∂a of layer {k + 1}"
        assert close(s.fprime, ref["fprime"][k]), f"f'(z) of layer {k + 1}"
        assert close(s.grad_inputs, ref["grad_in"][k]), f"∂J/∂a of layer {k}"
        if k > 0:  # what layer k returns is what layer k - 1 received
            assert s.grad_inputs == step.layers[k - 1].grad_a
        assert close(s.grad_weights, [[g * scale for g in row] for row in ref["grad_w"][k]])
        assert s.weights == weights[k]
        expected_w = [
            [w - lr * g * scale for w, g in zip(row, grow, strict=True)]
            for row, grow in zip(weights[k], ref["grad_w"][k], strict=True)
        ]
        assert close(s.new_weights, expected_w)
        if biases[k] is None:
            assert s.biases is s.grad_biases is s.new_biases is None
        else:
            assert close(s.grad_biases, [g * scale for g in ref["grad_b"][k]])
            expected_b = (
                [b - lr * g * scale for b, g in zip(biases[k], ref["grad_b"][k], strict=True)]
                if update_biases
                else biases[k]
            )
            assert close(s.new_biases, expected_b)


# --- random networks -----------------------------------------------------------------------


@st.composite
def networks(draw):
    """A random MLP (1-3 inputs, 1-3 layers of 1-3 neurons, random hidden and output
    activations, biases or not per layer), a batch of 1-3 examples with targets, a lr."""
    nin = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    hidden = draw(st.sampled_from(sorted(PLAIN)))
    output = draw(st.sampled_from(sorted(PLAIN)))
    dims = [nin, *sizes]
    weights = [
        [[draw(floats(-2, 2)) for _ in range(dims[k])] for _ in range(dims[k + 1])]
        for k in range(len(sizes))
    ]
    biases = [draw(st.none() | st.lists(floats(-2, 2), min_size=n, max_size=n)) for n in sizes]
    batch = draw(st.integers(1, 3))
    xs = [[draw(floats(-2, 2)) for _ in range(nin)] for _ in range(batch)]
    ts = [[draw(floats(-2, 2)) for _ in range(sizes[-1])] for _ in range(batch)]
    lr = draw(floats(0.0, 1.0))
    return weights, biases, hidden, output, xs, ts, lr, draw(st.booleans())


def mse_reference(outs: list[list[float]], ts: list[list[float]]) -> float:
    n = len(ts) * len(ts[0])
    return (
        sum(
            (o - t) ** 2
            for out, tgt in zip(outs, ts, strict=True)
            for o, t in zip(out, tgt, strict=True)
        )
        / n
    )


@given(networks())
@settings(max_examples=150)
def test_engine_deltas_match_the_delta_rule_on_random_networks(net) -> None:
    weights, biases, hidden, output, xs, ts, lr, update_biases = net
    acts = [hidden] * (len(weights) - 1) + [output]
    model = MLP.from_weights(weights, biases, activation=hidden, output_activation=output)
    single = len(xs) == 1
    n_out = len(ts[0])

    def shaped(rows):  # rows per example, in the shape the model returns and mse_loss takes
        rows = [r[0] if n_out == 1 else r for r in rows]
        return rows[0] if single else rows

    N = len(xs) * n_out  # mse_loss averages over every element: ∂J/∂a = 2 (a - t) / N
    ref = delta_rule(
        weights,
        biases,
        acts,
        xs,
        lambda outs: [
            [2 * (o - t) / N for o, t in zip(out, tgt, strict=True)]
            for out, tgt in zip(outs, ts, strict=True)
        ],
    )
    step = walk_through_step(
        model,
        xs[0] if single else xs,
        shaped(ts),
        loss="mse_loss",
        lr=lr,
        update_biases=update_biases,
    )
    assert step.batch is not single
    check_against_delta_rule(step, ref, weights, biases, lr, update_biases)
    assert close(step.loss_before, mse_reference(ref["a"][-1], ts))
    assert close(step.prediction_before, shaped(ref["a"][-1]))
    # The model now holds the new parameters, and the loss after is theirs.
    assert model.weight_matrices() == [s.new_weights for s in step.layers]
    assert model.bias_vectors() == [s.new_biases for s in step.layers]
    after = delta_rule(
        [s.new_weights for s in step.layers],
        [s.new_biases for s in step.layers],
        acts,
        xs,
        lambda outs: outs,
    )
    assert close(step.loss_after, mse_reference(after["a"][-1], ts))
    assert close(step.prediction_after, shaped(after["a"][-1]))


@given(networks())
@settings(max_examples=60)
def test_per_example_convention_matches_the_delta_rule_without_1_over_n(net) -> None:
    """δᵢ = ∂Jᵢ/∂zᵢ of example i's own loss (no 1/n); ∂J/∂W = 1/n Σᵢ δᵢ aᵢᵀ."""
    weights, biases, hidden, output, xs, ts, lr, update_biases = net
    acts = [hidden] * (len(weights) - 1) + [output]
    model = MLP.from_weights(weights, biases, activation=hidden, output_activation=output)
    n, n_out = len(xs), len(ts[0])
    targets = [t[0] if n_out == 1 else t for t in ts]
    # Jᵢ = mean over the outputs of (o − t)²: ∂Jᵢ/∂o = 2 (o − t) / n_out, no 1/n.
    ref = delta_rule(
        weights,
        biases,
        acts,
        xs,
        lambda outs: [
            [2 * (o - t) / n_out for o, t in zip(out, tgt, strict=True)]
            for out, tgt in zip(outs, ts, strict=True)
        ],
    )
    step = walk_through_step(
        model,
        xs,
        targets,
        loss="mse_loss",
        lr=lr,
        update_biases=update_biases,
        convention="per-example",
    )
    assert step.convention == "per-example"
    check_against_delta_rule(step, ref, weights, biases, lr, update_biases, scale=1 / n)


def test_a_four_example_mse_batch_in_the_derivations_convention() -> None:
    """The delta-rule text: C = 1/(2n) Σᵢ (ŷᵢ − yᵢ)², δᵢᴸ = (ŷᵢ − yᵢ) σ′(zᵢᴸ) with no 1/n,
    ∂C/∂Wᴸ = 1/n Σᵢ δᵢᴸ (aᵢᴸ⁻¹)ᵀ; the batch convention shows δᵢ / n instead."""
    weights = [[[0.15, 0.20], [-0.25, 0.10]], [[0.2, -0.35]]]
    biases = [[0.1, -0.1], [0.2]]
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    Y = [0.0, 1.0, 1.0, 0.0]

    def half_mse(p, t):
        return mse_loss(p, t) * 0.5

    def model() -> MLP:
        return MLP.from_weights(weights, biases, activation="sigmoid", output_activation="sigmoid")

    steps = {
        c: walk_through_step(model(), X, Y, loss=half_mse, convention=c)
        for c in ("per-example", "batch")
    }
    out = steps["per-example"].layers[-1]
    for i in range(4):
        y_hat, z = out.a[i][0], out.z[i][0]
        derivation = (y_hat - Y[i]) * PLAIN["sigmoid"][1](z)
        assert out.delta[i][0] == pytest.approx(derivation, rel=REL, abs=ABS)
        assert steps["batch"].layers[-1].delta[i][0] == pytest.approx(derivation / 4, rel=REL)
    average = [sum(out.delta[i][0] * out.inputs[i][j] for i in range(4)) / 4 for j in range(2)]
    assert out.grad_weights[0] == pytest.approx(average, rel=REL, abs=ABS)
    assert steps["batch"].layers[-1].grad_weights == out.grad_weights
    text = steps["per-example"].to_text()
    assert "Per-example convention" in text and "no 1/n inside" in text
    assert "∂J/∂W² = 1/n Σᵢ δ² (a¹)ᵀ" in text
    assert "Batch convention" in steps["batch"].to_text()


def test_per_example_convention_refuses_a_loss_that_is_not_a_mean() -> None:
    model = MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match="mean of the per-example losses"):
        walk_through_step(
            model,
            [[1.0, 2.0], [0.5, -1.0]],
            [0.0, 1.0],
            loss=lambda p, t: mse_loss(p, t, reduction="sum"),
            convention="per-example",
        )
    assert model.state_dict() == before
    with pytest.raises(ValueError, match="unknown convention"):
        walk_through_step(model, [1.0, 2.0], 0.0, convention="mean")


# --- the worked examples ---------------------------------------------------------------------


def dJ_da_for(name: str, target) -> Callable[[list[list[float]]], list[list[float]]]:
    if name == "backprop-by-hand":  # J = -[t log y + (1 - t) log(1 - y)]
        return lambda outs: [[-target / y + (1 - target) / (1 - y) for y in out] for out in outs]
    # E = Σ ½ (t - o)²  →  ∂E/∂o = o - t
    return lambda outs: [[o - t for o, t in zip(out, target, strict=True)] for out in outs]


@pytest.mark.parametrize("name", sorted(WORKED_EXAMPLES))
def test_worked_examples_deltas_match_the_delta_rule(name: str) -> None:
    ex = WORKED_EXAMPLES[name]
    biases = ex.biases or [None] * len(ex.weights)
    ref = delta_rule(
        ex.weights, biases, [ex.activation] * len(ex.weights), [ex.x], dJ_da_for(name, ex.y)
    )
    step = ex.walk_through()
    check_against_delta_rule(step, ref, ex.weights, biases, ex.lr, ex.update_biases)


# --- behaviour -----------------------------------------------------------------------------


def test_prediction_before_is_what_the_model_returned() -> None:
    model = MLP(3, [4, 2], activation="tanh", seed=0)
    x = [0.5, -1.0, 2.0]
    before = [v.data for v in model(x)]
    step = walk_through_step(model, x, [0.0, 1.0], lr=0.05)
    assert step.prediction_before == before
    assert step.prediction_after == [v.data for v in model(x)]
    assert step.loss_change == step.loss_after - step.loss_before < 0


def test_frozen_biases_keep_their_values_but_report_their_gradients() -> None:
    model = MLP(2, [2, 1], activation="sigmoid", seed=1)
    biases = model.bias_vectors()
    step = walk_through_step(model, [1.0, -1.0], 1.0, lr=0.5, update_biases=False)
    assert model.bias_vectors() == biases
    assert all(g != 0.0 for s in step.layers for g in s.grad_biases)
    assert [s.new_biases for s in step.layers] == biases
    assert step.update_biases is False


def test_loss_by_function_and_display_name() -> None:
    model = MLP(2, [1], seed=0)

    def squared(p, t):
        return (p - t) * (p - t)

    assert walk_through_step(model, [1.0, 2.0], 0.0, loss=squared).loss_name == "squared"
    step = walk_through_step(model, [1.0, 2.0], 0.0, loss=squared, loss_name="(ŷ − y)²")
    assert step.loss_name == "(ŷ − y)²"


def test_a_failing_loss_leaves_the_model_unchanged() -> None:
    model = MLP.from_weights([[[40.0]]], output_activation="sigmoid")  # σ(40) == 1.0 exactly
    before = model.state_dict()
    with pytest.raises(ValueError, match="with_logits"):
        walk_through_step(model, [1.0], 0, loss="binary_cross_entropy")
    assert model.state_dict() == before


def test_a_failure_after_the_update_restores_the_weights() -> None:
    model = MLP.from_weights([[[1.0]]], output_activation="linear")
    before = model.state_dict()
    calls = []

    def flaky(p, t):
        calls.append(1)
        if len(calls) == 2:  # the loss after the step
            raise RuntimeError("boom")
        return (p - t) * (p - t)

    with pytest.raises(RuntimeError, match="boom"):
        walk_through_step(model, [1.0], 0.0, loss=flaky, lr=0.1)
    assert model.state_dict() == before


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((Neuron(2, seed=0), [1.0, 2.0], 0.0), {}, TypeError, "needs an nn.MLP"),
        ((MLP(2, [1], seed=0), [1.0], 0.0), {}, ValueError, "takes 2 inputs, example 0 has 1"),
        ((MLP(2, [1], seed=0), [1.0, "a"], 0.0), {}, TypeError, "must be a real number"),
        ((MLP(2, [1], seed=0), 3.0, 0.0), {}, TypeError, "input vector"),
        ((MLP(2, [1], seed=0), [1.0, 2.0], 0.0), {"loss": "l1"}, ValueError, "unknown loss"),
        ((MLP(2, [1], seed=0), [1.0, 2.0], 0.0), {"loss": 3}, TypeError, "name or a function"),
        ((MLP(2, [1], seed=0), [1.0, 2.0], 0.0), {"lr": -0.1}, ValueError, "lr must be"),
        ((MLP(2, [1], seed=0), [1.0, 2.0], 0.0), {"lr": "big"}, TypeError, "lr must be a real"),
        ((MLP(2, [1], seed=0), [1.0, 2.0], 0.0), {"update_biases": 0}, TypeError, "True or False"),
        (
            (MLP(2, [1], seed=0), [1.0, 2.0], 0.0),
            {"loss": lambda p, t: 1.0},
            TypeError,
            "must return a Value",
        ),
    ],
)
def test_bad_arguments(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        walk_through_step(*args, **kwargs)


def test_numpy_inputs_are_taken_like_lists() -> None:
    """A numpy vector or batch is an input like a list (the model itself takes one); it was
    refused as 'not an input vector'."""
    np = pytest.importorskip("numpy")
    xs = [[0.5, -1.0], [1.0, 2.0]]
    for x, t in (([0.5, -1.0], 1.0), (xs, [1.0, 0.0])):
        with_list = walk_through_step(MLP(2, [2, 1], seed=0), x, t).to_text()
        with_array = walk_through_step(MLP(2, [2, 1], seed=0), np.array(x), t).to_text()
        assert with_array == with_list
