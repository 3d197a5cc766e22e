"""gradcheck_module: every parameter of a network against central differences.

The passing checks use the default tolerances (atol 1e-5, rtol 1e-3; see nn/gradcheck.py
for why they leave two orders of magnitude over float64's error with h = 1e-6). The
corrupted gradient is off by 0.01, three orders of magnitude over atol, and only in one
parameter: the check must name that one and no other.
"""

from __future__ import annotations

import pytest

from engine import GradcheckError, Value
from nn import MLP, binary_cross_entropy, gradcheck_module, mse_loss

X = [0.5, -1.0]
BAD = "layers.0.neurons.1.w.0"


def model() -> MLP:
    return MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=3)


def corrupted_loss(m: MLP, amount: float = 0.01):
    """BCE plus amount · (w − detach(w)): zero in value, so the numeric slope does not see
    it, but it adds ``amount`` to backprop's ∂J/∂w of one weight."""
    w = dict(m.named_parameters())[BAD]

    def loss(p: Value, t: float) -> Value:
        return binary_cross_entropy(p, t) + amount * (w - w.detach())

    return loss


def test_mlp_2_3_1_with_bce_passes() -> None:
    m = model()
    result = gradcheck_module(m, X, 1, loss="binary_cross_entropy")
    names = [n for n, _ in m.named_parameters()]
    assert result.ok and not result.failures
    assert [r.name for r in result.rows] == names and len(names) == 13
    for r in result.rows:
        assert r.abs_error == abs(r.analytic - r.numeric) <= 1e-8  # float64 does this well
        assert r.tolerance == 1e-5 + 1e-3 * abs(r.numeric)
    # the analytic column is backprop's: the grads one backward() leaves
    loss = binary_cross_entropy(m(X), 1)
    loss.backward()
    assert [r.analytic for r in result.rows] == [p.grad for p in m.parameters()]
    assert "all 13 parameters agree" in result.to_text()
    assert "layers.1.neurons.0.w.2" in result.to_text()


def test_a_corrupted_gradient_fails_naming_the_parameter() -> None:
    m = model()
    with pytest.raises(GradcheckError) as info:
        gradcheck_module(m, X, 1, loss=corrupted_loss(m))
    message = str(info.value)
    assert f"worst: {BAD}:" in message
    assert "1 of 13 parameters disagree" in message
    assert message.count("MISMATCH") == 1
    result = gradcheck_module(m, X, 1, loss=corrupted_loss(m), raise_on_failure=False)
    assert not result.ok
    assert [r.name for r in result.failures] == [BAD] == [result.worst.name]
    assert result.worst.analytic - result.worst.numeric == pytest.approx(0.01, abs=1e-8)


def test_a_gradient_off_by_less_than_the_tolerance_passes() -> None:
    m = model()
    assert gradcheck_module(m, X, 1, loss=corrupted_loss(m, 1e-7)).ok


@pytest.mark.parametrize("corrupt", [False, True])
def test_parameters_are_left_exactly_as_they_were(corrupt: bool) -> None:
    m = model()
    for i, p in enumerate(m.parameters()):
        p.grad = 0.25 * i - 1.0  # stale grads of an earlier step: kept, not zeroed
    data = [p.data for p in m.parameters()]
    grads = [p.grad for p in m.parameters()]
    loss = corrupted_loss(m) if corrupt else "binary_cross_entropy"
    gradcheck_module(m, X, 1, loss=loss, raise_on_failure=False)
    assert [p.data for p in m.parameters()] == data
    assert [p.grad for p in m.parameters()] == grads


def test_a_loss_that_fails_midway_leaves_the_parameters_as_they_were() -> None:
    m = model()
    data = m.state_dict()
    calls = []

    def flaky(p: Value, t: float) -> Value:
        calls.append(1)
        if len(calls) == 6:  # while a parameter is nudged
            raise RuntimeError("boom")
        return binary_cross_entropy(p, t)

    with pytest.raises(RuntimeError, match="boom"):
        gradcheck_module(m, X, 1, loss=flaky)
    assert m.state_dict() == data


def test_a_batch_and_the_relative_step() -> None:
    m = MLP.from_weights([[[3000.0, 0.5]]], [[-1500.0]], output_activation="linear")
    xs = [[0.5, 1.0], [0.25, -1.0]]
    result = gradcheck_module(m, xs, [1.0, 2.0], loss=mse_loss)
    assert result.ok
    steps = {r.name: r.step for r in result.rows}
    assert steps["layers.0.neurons.0.w.0"] == 1e-6 * 3000.0
    assert steps["layers.0.neurons.0.w.1"] == 1e-6  # |θ| < 1: an absolute step


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((lambda x: x, X, 1), {}, TypeError, "needs an nn.Module"),
        ((model(), X, 1), {"loss": "l1"}, ValueError, "unknown loss"),
        ((model(), X, 1), {"eps": 2.0}, ValueError, "eps must be in"),
        ((model(), X, 1), {"atol": -1.0}, ValueError, "atol and rtol"),
        ((model(), "ab", 1), {}, TypeError, "input vector"),
        ((model(), [1.0, None], 1), {}, TypeError, "must be a real number"),
    ],
)
def test_bad_arguments(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        gradcheck_module(*args, **kwargs)
