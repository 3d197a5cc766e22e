"""Optimizers against updates computed by hand, learning-rate changes, freezing, errors."""

from __future__ import annotations

import math

import pytest

from engine import Value
from nn import MLP, SGD, Adam, linear_decay, mse_loss


def with_grads(data: list[float], grads: list[float]) -> list[Value]:
    params = [Value(d) for d in data]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return params


def test_plain_sgd_step() -> None:
    ps = with_grads([1.0, -2.0], [0.5, -4.0])
    SGD(ps, lr=0.1).step()
    assert [p.data for p in ps] == [1.0 - 0.1 * 0.5, -2.0 - 0.1 * -4.0]


def test_sgd_with_momentum_and_weight_decay_matches_hand_computation() -> None:
    """PyTorch's rule: g = grad + wd·p; v = g (step 1), v = μ v + g (later); p -= lr·v."""
    lr, mu, wd = 0.1, 0.9, 0.01
    p = Value(1.0)
    opt = SGD([p], lr=lr, momentum=mu, weight_decay=wd)
    grads = [0.5, -0.2, 0.3]
    x, v = 1.0, None
    for g in grads:
        p.grad = g
        opt.step()
        d = g + wd * x
        v = d if v is None else mu * v + d
        x = x - lr * v
        assert p.data == x  # same float operations in the same order: exact
    # on paper: v = 0.51, 0.26849, 0.55086251; x = 0.949, 0.922151, 0.867064749
    assert x == pytest.approx(0.867064749, rel=1e-12)


def test_adam_first_two_steps_match_hand_computation() -> None:
    """With m̂ = m/(1-β₁ᵗ) and v̂ = v/(1-β₂ᵗ), the first Adam step moves every parameter by
    lr·g/(|g| + eps) ≈ lr·sign(g); the second by lr·m̂/(√v̂ + eps)."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p = Value(2.0)
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    p.grad = 0.4
    opt.step()
    step1 = lr * 0.4 / (0.4 + eps)  # m̂ = g, v̂ = g²
    assert p.data == pytest.approx(2.0 - step1, rel=1e-15)
    p.grad = -0.2
    opt.step()
    m = b1 * (1 - b1) * 0.4 + (1 - b1) * -0.2
    v = b2 * (1 - b2) * 0.16 + (1 - b2) * 0.04
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    assert p.data == pytest.approx(2.0 - step1 - lr * m_hat / (math.sqrt(v_hat) + eps), rel=1e-15)
    assert opt.t == 2
    # m̂ = (0.036 - 0.02) / 0.19 = 0.0842..., v̂ = (0.00015984 + 0.00004) / 0.001999 = 0.09995
    assert m_hat == pytest.approx(0.016 / 0.19, rel=1e-12)
    assert v_hat == pytest.approx(0.00019984 / 0.001999, rel=1e-12)


def test_learning_rate_can_change_between_steps() -> None:
    p = Value(0.0)
    opt = SGD([p], lr=1.0)
    schedule = linear_decay(1.0, 0.1, 100)
    expected = 0.0
    for k in range(3):
        opt.lr = schedule(k)
        p.grad = 1.0
        opt.step()
        expected -= 1.0 - 0.9 * k / 100
        assert p.data == pytest.approx(expected, rel=1e-15)
    adam = Adam([Value(1.0)])
    adam.lr = 0.5
    assert adam.lr == 0.5
    with pytest.raises(ValueError, match="lr must be in"):
        opt.lr = -1.0
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.lr = "fast"  # type: ignore[assignment]


def test_linear_decay_is_micrograds_schedule() -> None:
    schedule = linear_decay(1.0, 0.1, 100)
    for k in range(100):
        assert schedule(k) == pytest.approx(1.0 - 0.9 * k / 100, rel=1e-15)
    assert schedule(100) == pytest.approx(0.1, rel=1e-15)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        linear_decay(1.0, 0.1, 0)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.5, momentum=0.9), lambda ps: Adam(ps)])
def test_frozen_parameters_stay_put(make) -> None:
    model = MLP(2, [3, 1], seed=0)
    trainable = [p for name, p in model.named_parameters() if not name.endswith(".b")]
    frozen = {name: p.data for name, p in model.named_parameters() if name.endswith(".b")}
    opt = make(trainable)
    for _ in range(3):
        model.zero_grad()
        loss = mse_loss([model([1.0, 2.0]), model([-1.0, 0.5])], [1.0, 0.0])
        loss.backward()
        assert any(p.grad != 0.0 for name, p in model.named_parameters() if name.endswith(".b"))
        before = [p.data for p in trainable]
        opt.step()
        assert [p.data for p in trainable] != before
    assert {n: p.data for n, p in model.named_parameters() if n.endswith(".b")} == frozen


def test_zero_grad_clears_only_the_optimizers_parameters() -> None:
    a, b = with_grads([1.0, 2.0], [3.0, 4.0])
    SGD([a], lr=0.1).zero_grad()
    assert (a.grad, b.grad) == (0.0, 4.0)


def test_a_diverging_step_changes_nothing() -> None:
    ps = with_grads([1.0, 2.0], [1.0, 1e308])
    opt = SGD(ps, lr=10.0)
    with pytest.raises(ValueError, match=r"params\[1\] would become -inf.*Nothing was changed"):
        opt.step()
    assert [p.data for p in ps] == [1.0, 2.0]


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: SGD(Value(1.0), lr=0.1), TypeError, "not a single Value"),
        (lambda: SGD(5, lr=0.1), TypeError, "iterable of Values"),
        (lambda: SGD([Value(1.0), 2.0], lr=0.1), TypeError, r"params\[1\] must be a Value"),
        (lambda: SGD([v := Value(1.0), v], lr=0.1), ValueError, "more than once"),
        (lambda: SGD([Value(1.0)], lr=math.nan), ValueError, "lr must be in"),
        (lambda: SGD([Value(1.0)], lr=True), TypeError, "lr must be a real number"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=1.0), ValueError, "momentum must be in"),
        (lambda: SGD([Value(1.0)], lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
        (lambda: Adam([Value(1.0)], betas=(0.9,)), TypeError, "pair"),
        (lambda: Adam([Value(1.0)], betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
        (lambda: Adam([Value(1.0)], eps=0.0), ValueError, "eps must be > 0"),
    ],
)
def test_bad_optimizer_arguments(build, error, message) -> None:
    with pytest.raises(error, match=message):
        build()


def test_rates_and_steps_may_be_numpy_scalars_and_fractions() -> None:
    np = pytest.importorskip("numpy")
    from fractions import Fraction

    p = Value(1.0)
    p.grad = 2.0
    opt = SGD([p], lr=np.float32(0.5))
    assert type(opt.lr) is float and opt.lr == 0.5
    opt.lr = Fraction(1, 4)
    opt.step()
    assert p.data == 0.5
    assert linear_decay(1.0, np.float64(0.5), np.int64(10))(5) == 0.75
    with pytest.raises(ValueError, match="steps must be a positive int"):
        linear_decay(1.0, 0.5, 10.0)


def test_adam_rounds_as_pytorch() -> None:
    """Six steps against torch.optim.Adam (torch 2.13.0+cpu, float64, one thread): the
    reference numbers below were printed by it for these parameters and gradients.
    PyTorch's documented formula, evaluated in its implementation's order (step size
    lr/(1 − β₁ᵗ), eps added to √v/√(1 − β₂ᵗ), m as a lerp), gives them to the last
    bit here; the textbook order (m̂ / (√v̂ + eps)) misses the last one by an ulp."""
    p0 = [0.5, -1.25, 2.0, 0.125]
    params = [Value(x) for x in p0]
    opt = Adam(params, lr=0.05, betas=(0.8, 0.99), eps=1e-8)
    for k in range(6):
        for i, p in enumerate(params):
            p.grad = 0.3 * (k + 1) * (-1) ** (i + k) + 0.01 * i
        opt.step()
    torch_result = [0.4646392486085336, -1.217678776882445, 1.9585211041383666, 0.1512866286573641]
    assert [p.data for p in params] == torch_result


def test_adam_on_arrays_gives_the_same_numbers_as_the_python_loop() -> None:
    """From NUMPY_FROM parameters on Adam steps on numpy arrays: each operation rounded
    once, in the same order, so every number is the Python loop's to the last bit."""
    pytest.importorskip("numpy")
    import random

    from nn.optim import NUMPY_FROM

    r = random.Random(0)
    start = [r.gauss(0.0, 1.0) for _ in range(NUMPY_FROM + 5)]
    grads = [[r.gauss(0.0, 1.0) * 10 ** r.uniform(-4, 2) for _ in start] for _ in range(8)]
    runs = []
    for fast in (False, True):
        params = [Value(x) for x in start]
        opt = Adam(params, lr=0.03, betas=(0.85, 0.995))
        if not fast:
            opt._numpy = None  # the loop, whatever the size
            opt._m, opt._v = [0.0] * len(params), [0.0] * len(params)
        else:
            assert opt._numpy is not None
        for g in grads:
            for p, gi in zip(params, g, strict=True):
                p.grad = gi
            opt.step()
        runs.append([p.data for p in params])
    assert runs[0] == runs[1]
    assert all(type(x) is float for x in runs[1])


def test_adam_on_arrays_refuses_a_diverging_step_and_changes_nothing() -> None:
    pytest.importorskip("numpy")
    from nn.optim import NUMPY_FROM

    params = [Value(1.0) for _ in range(NUMPY_FROM)]
    params[3].data = params[7].data = 1e308
    opt = Adam(params, lr=1e308, betas=(0.0, 0.999))  # step = lr · sign(g) at t = 1
    params[3].grad = params[7].grad = -1.0
    before = [p.data for p in params]
    with pytest.raises(ValueError, match=r"params\[3\] would become inf"):
        opt.step()
    assert [p.data for p in params] == before and opt.t == 0
