"""The two published hand calculations, reproduced to their printed digits and, where
float64 is exact, to the last bits of an independent plain-float computation.

How published figures are compared: a figure printed with d decimals is compared with
abs tolerance 0.5·10⁻ᵈ (it is our float64 value rounded to d decimals). The blackboard
example was rounded *by hand at every step*, so its later figures inherit earlier
rounding; where that moves a figure by more than half a unit of its last digit, the
test says so and checks the board's own arithmetic instead of loosening a tolerance.
"""

from __future__ import annotations

import math

import pytest

from nn import MLP, Standardizer, binary_cross_entropy, walk_through_step
from nn.worked_examples import BACKPROP_BY_HAND, TWO_TWO_TWO, WORKED_EXAMPLES

THREE_DIGITS = 5e-4  # half a unit of the third decimal: the board's rounding


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def assert_matrices_close(got: list, want: list, rel: float = 1e-14) -> None:
    """Lists of matrices equal to ``rel`` (same float64 formulas, another order of
    additions: a few roundings of numbers below 1, far below 1e-14 relative)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w)
        for row, ref in zip(g, w, strict=True):
            assert row == pytest.approx(ref, rel=rel)


def dense(W: list[list[float]], a: list[float], b: float = 0.0) -> list[float]:
    return [sum(w * v for w, v in zip(row, a, strict=True)) + b for row in W]


# --- 1. "Backprop by hand": 2-3-1, sigmoid, no biases, BCE, lr 0.1 -----------------------------

W1 = [[0.15, 0.20], [-0.25, 0.10], [0.05, -0.15]]
W2 = [[0.20, -0.35, 0.15]]


def board_forward(W1, W2, x):
    z1 = dense(W1, x)
    a1 = [sigmoid(z) for z in z1]
    z2 = dense(W2, a1)[0]
    return z1, a1, z2, sigmoid(z2)


@pytest.fixture(scope="module")
def board():
    x = Standardizer(mean=[8, 4], std=[2, 1]).transform([6, 5])
    model = MLP.from_weights(
        [W1, W2], biases=None, activation="sigmoid", output_activation="sigmoid"
    )
    step = walk_through_step(model, x, 1, loss=binary_cross_entropy, lr=0.1)
    return x, model, step


def test_inputs_are_standardized_to_minus_one_and_one(board) -> None:
    x, _, _ = board
    assert x == [-1.0, 1.0]
    assert BACKPROP_BY_HAND.x == [-1.0, 1.0]


def test_board_forward_pass(board) -> None:
    x, _, step = board
    hidden, out = step.layers
    _, a1, z2, y_hat = board_forward(W1, W2, x)
    # z¹ = W¹x: exact up to the representation of 0.15 etc.
    assert hidden.z[0] == pytest.approx([0.05, 0.35, -0.20], abs=1e-15)
    assert hidden.a[0] == pytest.approx([0.512, 0.587, 0.450], abs=THREE_DIGITS)
    assert hidden.a[0] == pytest.approx(a1, rel=1e-15)
    assert out.z[0][0] == pytest.approx(z2, rel=1e-14)
    # The board's z² = -0.0356 came from a¹ already rounded to 0.512, 0.587, 0.450:
    rounded = 0.20 * 0.512 - 0.35 * 0.587 + 0.15 * 0.450  # = -0.03555
    assert rounded == pytest.approx(-0.03555, abs=1e-15)
    assert out.z[0][0] == pytest.approx(-0.0356, abs=THREE_DIGITS)  # float64: -0.0352918
    assert step.prediction_before == pytest.approx(0.491, abs=THREE_DIGITS)
    assert step.prediction_before == pytest.approx(y_hat, rel=1e-15)
    assert step.prediction_before < 0.5  # "failed"
    assert step.loss_before == pytest.approx(0.711, abs=THREE_DIGITS)
    assert step.loss_before == pytest.approx(-math.log(y_hat), rel=1e-15)


def test_board_output_delta(board) -> None:
    _, _, step = board
    delta2 = step.layers[1].delta[0][0]
    assert delta2 == pytest.approx(-0.509, abs=THREE_DIGITS)
    # For BCE on a sigmoid output, ∂J/∂z² = ŷ − y exactly (in exact arithmetic).
    assert delta2 == pytest.approx(step.prediction_before - 1.0, rel=1e-14)


def test_board_after_one_step(board) -> None:
    x, model, step = board
    assert step.prediction_after == pytest.approx(0.502, abs=THREE_DIGITS)
    assert step.prediction_after > 0.5  # now "passed"
    # Independent float64: update with the delta rule, forward again.
    _, a1, _, y_hat = board_forward(W1, W2, x)
    d2 = y_hat - 1.0
    d1 = [W2[0][i] * d2 * a1[i] * (1 - a1[i]) for i in range(3)]
    W1n = [[W1[i][j] - 0.1 * d1[i] * x[j] for j in range(2)] for i in range(3)]
    W2n = [[W2[0][i] - 0.1 * d2 * a1[i] for i in range(3)]]
    assert_matrices_close(model.weight_matrices(), [W1n, W2n])
    y_after = board_forward(W1n, W2n, x)[3]
    assert step.prediction_after == pytest.approx(y_after, rel=1e-14)
    assert step.loss_after == pytest.approx(-math.log(y_after), rel=1e-14)
    # The board's J = 0.689 is −ln of its *rounded* prediction 0.502; float64 gives
    # J = 0.689647, which rounds to 0.690: a hand-rounding difference in the third digit.
    assert round(-math.log(0.502), 3) == 0.689
    assert step.loss_after == pytest.approx(0.689647, abs=5e-7)
    assert round(step.loss_after, 3) == 0.690
    assert step.loss_after < step.loss_before


def test_library_definition_of_the_board_example_matches(board) -> None:
    _, _, step = board
    ex = WORKED_EXAMPLES["backprop-by-hand"]
    assert ex.weights == [W1, W2] and ex.biases is None and ex.lr == 0.1 and ex.y == 1
    again = ex.walk_through()
    assert again.loss_before == step.loss_before
    assert again.loss_after == step.loss_after
    assert [s.delta for s in again.layers] == [s.delta for s in step.layers]


# --- 2. The 2-2-2 example: sigmoid, E = Σ ½(t − o)², lr 0.5, frozen biases ------------------------

X2 = [0.05, 0.10]
T2 = [0.01, 0.99]
W_HID = [[0.15, 0.20], [0.25, 0.30]]
W_OUT = [[0.40, 0.45], [0.50, 0.55]]


def two_forward(hidden_w, output_w):
    out_h = [sigmoid(z) for z in dense(hidden_w, X2, 0.35)]
    out_o = [sigmoid(z) for z in dense(output_w, out_h, 0.60)]
    return out_h, out_o, sum(0.5 * (t - o) ** 2 for t, o in zip(T2, out_o, strict=True))


def two_step(hidden_grads_with_updated_output: bool = False):
    """One step of backprop with floats; the flag reproduces the post's early script,
    which computed the hidden gradients with the already updated output weights."""
    out_h, out_o, _ = two_forward(W_HID, W_OUT)
    d_o = [(o - t) * o * (1 - o) for o, t in zip(out_o, T2, strict=True)]
    O_new = [[W_OUT[k][j] - 0.5 * d_o[k] * out_h[j] for j in range(2)] for k in range(2)]
    Wb = O_new if hidden_grads_with_updated_output else W_OUT
    d_h = [sum(Wb[k][j] * d_o[k] for k in range(2)) * out_h[j] * (1 - out_h[j]) for j in range(2)]
    H_new = [[W_HID[j][i] - 0.5 * d_h[j] * X2[i] for i in range(2)] for j in range(2)]
    return H_new, O_new


@pytest.fixture(scope="module")
def two():
    biases = [[0.35, 0.35], [0.60, 0.60]]
    model = MLP.from_weights(
        [W_HID, W_OUT], biases=biases, activation="sigmoid", output_activation="sigmoid"
    )
    step = TWO_TWO_TWO.walk_through()
    return model, step


def test_two_two_two_forward_pass_to_the_published_digits(two) -> None:
    _, step = two
    hidden, out = step.layers
    assert hidden.a[0][0] == pytest.approx(0.593269992, abs=5e-10)
    assert hidden.a[0][1] == pytest.approx(0.596884378, abs=5e-10)
    assert out.a[0][0] == pytest.approx(0.75136507, abs=5e-9)
    assert out.a[0][1] == pytest.approx(0.772928465, abs=5e-10)
    assert step.loss_before == pytest.approx(0.298371109, abs=5e-10)
    out_h, out_o, E = two_forward(W_HID, W_OUT)
    assert hidden.a[0] == pytest.approx(out_h, rel=1e-15)
    assert out.a[0] == pytest.approx(out_o, rel=1e-15)
    assert step.loss_before == pytest.approx(E, rel=1e-14)


def test_two_two_two_w5_after_the_step(two) -> None:
    _, step = two
    w5 = step.layers[1].new_weights[0][0]
    assert w5 == pytest.approx(0.35891648, abs=5e-9)
    H_new, O_new = two_step()
    assert w5 == pytest.approx(O_new[0][0], rel=1e-15)
    assert_matrices_close([s.new_weights for s in step.layers], [H_new, O_new])


def test_two_two_two_biases_are_not_updated(two) -> None:
    _, step = two
    assert step.update_biases is False
    assert [s.new_biases for s in step.layers] == [[0.35, 0.35], [0.60, 0.60]]
    assert all(g != 0.0 for s in step.layers for g in s.grad_biases)


def test_two_two_two_error_after_one_step_differs_from_the_post(two) -> None:
    """The post printed 0.291027924, produced by an early script that updated the output
    weights before computing the hidden gradients. Correct backprop in float64 gives
    0.291027774, 1.5e-7 lower."""
    _, step = two
    H_new, O_new = two_step()
    E_after = two_forward(H_new, O_new)[2]
    assert step.loss_after == pytest.approx(E_after, rel=1e-14)
    assert step.loss_after == pytest.approx(0.291027774, abs=5e-10)
    assert abs(step.loss_after - 0.291027924) > 1e-7
    # ... and the post's figure is exactly what the buggy order gives:
    H_bug, O_bug = two_step(hidden_grads_with_updated_output=True)
    assert two_forward(H_bug, O_bug)[2] == pytest.approx(0.291027924, abs=5e-10)


def test_two_two_two_model_from_weights_gives_the_same_record(two) -> None:
    model, step = two
    again = walk_through_step(model, X2, T2, loss=TWO_TWO_TWO.loss, lr=0.5, update_biases=False)
    assert again.loss_before == step.loss_before
    assert [s.new_weights for s in again.layers] == [s.new_weights for s in step.layers]
