"""nudge: J against one parameter, its tangent and the finite-difference slope table."""

from __future__ import annotations

import pytest

from nn import MLP, binary_cross_entropy, nudge

X = [0.5, -1.0]
NAME = "layers.0.neurons.1.w.0"


def model() -> MLP:
    return MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=3)


def loss_with(name: str, value: float) -> float:
    """J with one parameter set to ``value``, on a fresh copy of the model."""
    m = model()
    state = m.state_dict()
    state[name] = value
    m.load_state_dict(state)
    return binary_cross_entropy(m(X), 1).data


def test_the_curve_is_the_loss_with_that_one_parameter_moved() -> None:
    m = model()
    n = nudge(m, NAME, X, 1, "binary_cross_entropy", span=0.5, points=11)
    theta = m.state_dict()[NAME]
    assert n.value == theta and len(n.offsets) == len(n.losses) == 11
    assert n.offsets[0] == -0.5 and n.offsets[5] == 0.0 and n.offsets[-1] == 0.5
    for t, J in zip(n.offsets, n.losses, strict=True):
        assert loss_with(NAME, theta + t) == J
    assert n.losses[5] == n.loss == loss_with(NAME, theta)


def test_the_tangent_has_backprops_slope() -> None:
    m = model()
    n = nudge(m, NAME, X, 1, "binary_cross_entropy")
    J = binary_cross_entropy(m(X), 1)
    J.backward()
    g = dict(m.named_parameters())[NAME].grad
    assert n.grad == g != 0.0
    assert n.tangent(n.value) == n.loss
    assert n.tangent(n.value + 0.5) == pytest.approx(n.loss + 0.5 * g, rel=1e-15)


def test_the_slope_table_shows_truncation_then_rounding() -> None:
    """Central differences: the error falls ~100x per decade of ε while truncation
    (ε² |J'''| / 6) dominates, then grows again once rounding (~1e-16 |J| / ε) does."""
    n = nudge(model(), NAME, X, 1, "binary_cross_entropy")
    assert n.epsilons == [10.0**-k for k in range(9)]
    assert n.slopes[3] == (loss_with(NAME, n.value + 1e-3) - loss_with(NAME, n.value - 1e-3)) / 2e-3
    err = n.errors
    for k in (1, 2):  # truncation: 1e-1 → 1e-2 → 1e-3
        assert 30 < err[k] / err[k + 1] < 300
    best = min(range(9), key=err.__getitem__)
    assert 3 <= best <= 6
    assert err[8] > 10 * err[best]  # rounding has taken over at ε = 1e-8
    table = n.table()
    assert NAME in table and "1e-08" in table and "(J(θ+ε) − J(θ−ε)) / 2ε" in table


def test_the_model_is_left_as_it_was() -> None:
    m = model()
    for p in m.parameters():
        p.grad = 0.5
    before = m.state_dict()
    nudge(m, NAME, X, 1, "binary_cross_entropy")
    assert m.state_dict() == before
    assert all(p.grad == 0.5 for p in m.parameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "layers.0.w"}, "no parameter named 'layers.0.w'"),
        ({"span": 0.0}, "span must be > 0"),
        ({"points": 1}, "points must be"),
        ({"epsilons": [1e-3, -1.0]}, "epsilons must be"),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    args = {"name": NAME, **kwargs}
    with pytest.raises(ValueError, match=message):
        nudge(model(), args.pop("name"), X, 1, "binary_cross_entropy", **args)


@pytest.mark.parametrize("span", [0.1, 0.3, 1.0, 7.7, 1e-3])
@pytest.mark.parametrize("points", [3, 7, 41, 100])
def test_the_curve_spans_exactly_minus_span_to_span_with_zero_in_the_middle(
    span: float, points: int
) -> None:
    """As the docstring says: t in [-span, span] and t = 0 for an odd count. With
    -span + 2·span·i/(points − 1), span=0.1 and 7 points gave a middle t of 1.4e-17 (so
    the curve missed J(θ) itself) and a last t of 0.10000000000000003 > span."""
    n = nudge(model(), NAME, X, 1, "binary_cross_entropy", span=span, points=points)
    assert n.offsets[0] == -span and n.offsets[-1] == span
    assert n.offsets == [-t for t in reversed(n.offsets)]  # symmetric, bit for bit
    if points % 2:
        assert n.offsets[points // 2] == 0.0 and n.losses[points // 2] == n.loss


def test_points_takes_any_integer_and_refuses_bool_and_float() -> None:
    np = pytest.importorskip("numpy")
    a = nudge(model(), NAME, X, 1, "binary_cross_entropy", points=np.int64(5))
    b = nudge(model(), NAME, X, 1, "binary_cross_entropy", points=5)
    assert a.losses == b.losses
    for bad in (True, 5.0):
        with pytest.raises(TypeError, match="points must be an int"):
            nudge(model(), NAME, X, 1, "binary_cross_entropy", points=bad)
