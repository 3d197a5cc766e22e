"""Losses: values against hand formulas, gradients against central differences and
closed forms, stability at |z| = 1000, batch averaging and clear errors.

Gradient checks use engine.gradcheck: float64 central differences (eps 1e-6) with
PyTorch's float64 tolerances atol 1e-5, rtol 1e-3, whose margins are derived in
engine/gradcheck.py; every loss here is smooth with bounded third derivatives on the
inputs drawn (probabilities kept in [0.01, 0.99], hinge margins kept away from the kink).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine import Value, gradcheck, no_grad
from engine.testing import floats
from nn import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    mse_loss,
    softmax,
)


def values(xs: list[float]) -> list[Value]:
    return [Value(x) for x in xs]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


# --- mse -----------------------------------------------------------------------------------


def test_mse_mean_and_sum_values_and_gradients() -> None:
    p = values([1.0, -2.0, 0.5])
    t = [0.0, 1.0, 0.5]
    loss = mse_loss(p, t)
    assert loss.data == pytest.approx((1 + 9 + 0) / 3, rel=1e-15)
    loss.backward()
    assert [v.grad for v in p] == pytest.approx([2 * 1 / 3, 2 * -3 / 3, 0.0], rel=1e-15)
    total = mse_loss(p, t, reduction="sum")
    assert total.data == 10.0


def test_mse_of_one_scalar_and_of_a_batch_of_vectors() -> None:
    assert mse_loss(Value(3.0), 1).data == 4.0
    batch = [values([1.0, 2.0]), values([3.0, 4.0])]
    assert mse_loss(batch, [[0, 0], [0, 0]]).data == (1 + 4 + 9 + 16) / 4


@given(st.lists(floats(-5, 5), min_size=1, max_size=5), st.data())
@settings(max_examples=50)
def test_mse_gradcheck(preds: list[float], data) -> None:
    targets = data.draw(st.lists(floats(-5, 5), min_size=len(preds), max_size=len(preds)))
    assert gradcheck(lambda *ps: mse_loss(list(ps), targets), *preds)


def test_batch_loss_gradient_is_the_average_of_the_example_gradients() -> None:
    w = Value(0.7)
    xs, ts = [1.0, -2.0, 3.0], [0.5, 0.5, -1.0]
    mse_loss([w * x for x in xs], ts).backward()
    per_example = [2 * (w.data * x - t) * x for x, t in zip(xs, ts, strict=True)]
    assert w.grad == pytest.approx(sum(per_example) / 3, rel=1e-14)


@pytest.mark.parametrize(
    "preds, targets, error, message",
    [
        ([Value(1.0)], [1.0, 2.0], ValueError, "1 predictions but 2 targets"),
        (Value(1.0), [1.0], ValueError, "one prediction but 1 targets"),
        ([Value(1.0)], 1.0, ValueError, "single target"),
        ([Value(1.0)], ["1"], TypeError, "must be a real number, not str"),
        ([Value(1.0)], [True], TypeError, "must be a real number, not bool"),
        ([Value(1.0)], [math.nan], ValueError, "finite"),
        ([], [], ValueError, "no predictions"),
        ([[Value(1.0)]], [[1.0, 2.0]], ValueError, "prediction 0 has 1 outputs"),
        (["a"], [1.0], TypeError, "unsupported operand"),
    ],
)
def test_mse_shape_and_type_errors(preds, targets, error, message) -> None:
    with pytest.raises(error, match=message):
        mse_loss(preds, targets)


def test_unknown_reduction_is_refused() -> None:
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        mse_loss([Value(1.0)], [0.0], reduction="none")


# --- binary cross-entropy ------------------------------------------------------------------


@pytest.mark.parametrize("p, t", [(0.3, 1), (0.3, 0), (0.9, 0.25), (0.5, 0.5)])
def test_bce_value_and_gradient(p: float, t: float) -> None:
    v = Value(p)
    loss = binary_cross_entropy(v, t)
    assert loss.data == pytest.approx(-(t * math.log(p) + (1 - t) * math.log(1 - p)), rel=1e-14)
    loss.backward()
    assert v.grad == pytest.approx(-t / p + (1 - t) / (1 - p), rel=1e-13)


@given(
    st.lists(
        st.tuples(floats(0.01, 0.99), st.sampled_from([0.0, 1.0, 0.3])), min_size=1, max_size=4
    )
)
@settings(max_examples=50)
def test_bce_gradcheck(pairs) -> None:
    ps = [p for p, _ in pairs]
    ts = [t for _, t in pairs]
    assert gradcheck(lambda *v: binary_cross_entropy(list(v), ts), *ps)


def test_bce_skips_the_term_with_zero_weight() -> None:
    assert binary_cross_entropy(Value(1.0), 1).data == 0.0
    assert binary_cross_entropy(Value(0.0), 0).data == 0.0


def test_bce_at_log_zero_explains_the_logits_version() -> None:
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
        binary_cross_entropy(Value(0.0), 1)
    saturated = Value(40.0).sigmoid()  # exactly 1.0 in float64
    assert saturated.data == 1.0
    with pytest.raises(ValueError, match=r"log\(0\)"):
        binary_cross_entropy([saturated], [0])


@pytest.mark.parametrize(
    "p, t, message",
    [
        (1.5, 1, r"probability 0 is 1\.5, outside \[0, 1\]"),
        (-0.1, 0, "outside"),
        (0.5, 2, r"target 0 is 2\.0, outside"),
    ],
)
def test_bce_range_errors(p, t, message) -> None:
    with pytest.raises(ValueError, match=message):
        binary_cross_entropy(Value(p), t)


# --- binary cross-entropy with logits ----------------------------------------------------------


@given(floats(-15, 15), st.sampled_from([0.0, 1.0, 0.2]))
def test_bce_with_logits_equals_bce_of_the_sigmoid(z: float, t: float) -> None:
    """The naive form loses precision in 1 − σ(z) ≈ e^-|z|: its relative error is about
    2.2e-16 · e^15 ≈ 7e-10, so the two agree to 1e-8 absolute."""
    p = sigmoid(z)
    naive = binary_cross_entropy(Value(p), t).data
    assert binary_cross_entropy_with_logits(Value(z), t).data == pytest.approx(naive, abs=1e-8)


@given(floats(-30, 30), st.sampled_from([0.0, 1.0, 0.7]))
def test_bce_with_logits_gradient_is_sigmoid_minus_target(z: float, t: float) -> None:
    v = Value(z)
    binary_cross_entropy_with_logits(v, t).backward()
    assert v.grad == pytest.approx(sigmoid(z) - t, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "z, t, loss, grad",
    [
        (1000.0, 1, 0.0, 0.0),
        (1000.0, 0, 1000.0, 1.0),
        (-1000.0, 1, 1000.0, -1.0),
        (-1000.0, 0, 0.0, 0.0),
    ],
)
def test_bce_with_logits_is_exact_at_1000(z, t, loss, grad) -> None:
    v = Value(z)
    out = binary_cross_entropy_with_logits(v, t)
    out.backward()
    assert out.data == loss  # exact: softplus(±1000) is 1000 or 0 to the last bit
    assert v.grad == grad


def test_bce_with_logits_batch_average() -> None:
    zs = values([2.0, -1.0])
    out = binary_cross_entropy_with_logits(zs, [1, 0])
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert out.data == pytest.approx(expected, rel=1e-15)
    out.backward()
    assert [v.grad for v in zs] == pytest.approx([(sigmoid(2) - 1) / 2, sigmoid(-1) / 2], rel=1e-14)


# --- softmax, log_softmax, cross-entropy ---------------------------------------------------


@given(st.lists(floats(-20, 20), min_size=1, max_size=6))
def test_softmax_matches_the_formula_and_sums_to_one(zs: list[float]) -> None:
    s = [v.data for v in softmax(zs)]
    total = sum(math.exp(z) for z in zs)
    assert s == pytest.approx([math.exp(z) / total for z in zs], rel=1e-12)
    assert sum(s) == pytest.approx(1.0, abs=1e-14)
    lsm = [v.data for v in log_softmax(zs)]
    assert lsm == pytest.approx([z - math.log(total) for z in zs], rel=1e-12, abs=1e-12)


def test_softmax_and_log_softmax_are_stable_at_1000() -> None:
    s = [v.data for v in softmax([1000.0, 999.0, -1000.0])]
    e = math.exp(-1.0)
    assert s == pytest.approx([1 / (1 + e), e / (1 + e), 0.0], rel=1e-15, abs=0)
    lsm = [v.data for v in log_softmax([1000.0, 999.0, -1000.0])]
    assert lsm == pytest.approx(
        [-math.log1p(e), -1 - math.log1p(e), -2000 - math.log1p(e)], rel=1e-15
    )


@given(st.lists(floats(-10, 10), min_size=2, max_size=5), st.data())
@settings(max_examples=50)
def test_cross_entropy_gradient_is_softmax_minus_one_hot(zs: list[float], data) -> None:
    target = data.draw(st.integers(0, len(zs) - 1))
    logits = values(zs)
    loss = cross_entropy(logits, target)
    total = sum(math.exp(z) for z in zs)
    assert loss.data == pytest.approx(math.log(total) - zs[target], rel=1e-12, abs=1e-12)
    loss.backward()
    expected = [math.exp(z) / total - (i == target) for i, z in enumerate(zs)]
    assert [v.grad for v in logits] == pytest.approx(expected, rel=1e-10, abs=1e-14)
    assert gradcheck(lambda *v: cross_entropy(list(v), target), *zs)


def test_cross_entropy_is_stable_at_1000() -> None:
    logits = values([1000.0, -1000.0])
    right = cross_entropy(logits, 0)
    assert right.data == 0.0
    wrong = cross_entropy(logits, 1)
    assert wrong.data == 2000.0
    wrong.backward()
    assert [v.grad for v in logits] == [1.0, -1.0]


def test_cross_entropy_batch_averages_over_examples() -> None:
    batch = [values([1.0, 2.0, 0.5]), values([0.0, -1.0, 3.0])]
    out = cross_entropy(batch, [1, 2])
    one = cross_entropy(values([1.0, 2.0, 0.5]), 1).data
    two = cross_entropy(values([0.0, -1.0, 3.0]), 2).data
    assert out.data == pytest.approx((one + two) / 2, rel=1e-15)
    assert cross_entropy(batch, [1, 2], reduction="sum").data == pytest.approx(one + two, rel=1e-15)


@pytest.mark.parametrize(
    "logits, target, error, message",
    [
        ([1.0, 2.0], 2, ValueError, "target is 2, but there are 2 classes"),
        ([1.0, 2.0], -1, ValueError, "there are 2 classes"),
        ([1.0, 2.0], True, TypeError, "class index"),
        ([1.0, 2.0], 1.0, TypeError, "class index"),
        ([], 0, ValueError, "non-empty list of logits"),
        ([[1.0, 2.0]], [0, 1], ValueError, "1 examples need 1 target indices"),
        ([[1.0, 2.0], [0.0, 1.0]], [0, 5], ValueError, r"target \[1\] is 5"),
    ],
)
def test_cross_entropy_errors(logits, target, error, message) -> None:
    with pytest.raises(error, match=message):
        cross_entropy(logits, target)


# --- hinge and L2 ------------------------------------------------------------------------


def test_hinge_is_micrograds_max_margin_loss() -> None:
    scores = values([2.0, 0.5, -0.3, -2.0])
    labels = [1, 1, 1, -1]
    loss = hinge_loss(scores, labels)
    # max(0, 1 - y s): 0, 0.5, 1.3, 0 → mean 0.45
    assert loss.data == pytest.approx(0.45, rel=1e-15)
    loss.backward()
    assert [v.grad for v in scores] == [0.0, -0.25, -0.25, 0.0]


@given(st.lists(st.tuples(floats(-3, 3), st.sampled_from([-1, 1])), min_size=1, max_size=5))
@settings(max_examples=50)
def test_hinge_gradcheck_away_from_the_kink(pairs) -> None:
    assume(all(abs(1 - s * t) > 1e-3 for s, t in pairs))  # eps 1e-6 never crosses the kink
    ts = [t for _, t in pairs]
    assert gradcheck(lambda *v: hinge_loss(list(v), ts), *[s for s, _ in pairs])


def test_hinge_refuses_zero_one_labels() -> None:
    with pytest.raises(ValueError, match="labels -1 or \\+1"):
        hinge_loss([Value(1.0)], [0])


def test_l2_penalty_value_and_gradient() -> None:
    ps = values([1.0, -2.0, 3.0])
    pen = l2_penalty(ps, 1e-4)
    assert pen.data == pytest.approx(1e-4 * 14, rel=1e-15)
    pen.backward()
    assert [p.grad for p in ps] == pytest.approx([2e-4, -4e-4, 6e-4], rel=1e-15)
    assert l2_penalty(ps).data == 14.0


@pytest.mark.parametrize(
    "params, alpha, error, message",
    [
        ([], 1.0, ValueError, "no parameters"),
        ([1.0], 1.0, TypeError, "parameter 0 must be a Value"),
        ([Value(1.0)], "0.1", TypeError, "alpha must be a real number"),
        ([Value(1.0)], math.inf, ValueError, "alpha must be finite"),
    ],
)
def test_l2_penalty_errors(params, alpha, error, message) -> None:
    with pytest.raises(error, match=message):
        l2_penalty(params, alpha)


def test_losses_work_under_no_grad() -> None:
    with no_grad():
        out = cross_entropy([1.0, 2.0], 0) + mse_loss([Value(1.0)], [0.0])
    assert out.is_leaf
    assert out.data == pytest.approx(math.log(1 + math.e) + 1.0, rel=1e-15)


# --- one table of loss names; any real number type as a target (issue 12) --------------


def test_loss_functions_has_the_short_and_the_function_names() -> None:
    import nn

    table = nn.LOSS_FUNCTIONS
    pairs = {
        "mse": "mse_loss",
        "bce": "binary_cross_entropy",
        "bce_with_logits": "binary_cross_entropy_with_logits",
        "hinge": "hinge_loss",
        "cross_entropy": "cross_entropy",
    }
    for short, long in pairs.items():
        assert table[short] is table[long] is getattr(nn, long)
        assert nn.get_loss(short) is nn.get_loss(long) is getattr(nn, long)
    assert set(table) == set(pairs) | set(pairs.values())
    assert nn.get_loss(mse_loss) is mse_loss
    with pytest.raises(ValueError, match=r"unknown loss 'l1'; choose one of mse, mse_loss, bce"):
        nn.get_loss("l1")
    with pytest.raises(TypeError, match="a name or a function, not int"):
        nn.get_loss(3)  # type: ignore[arg-type]


def test_targets_may_be_numpy_numbers_and_fractions() -> None:
    np = pytest.importorskip("numpy")
    from fractions import Fraction

    p = Value(0.75)
    expected = binary_cross_entropy(p, 1.0).data
    for one in (np.int64(1), np.float32(1.0), Fraction(1), np.bool_(True)):
        if isinstance(one, np.bool_):
            with pytest.raises(TypeError, match="real number, not bool"):
                binary_cross_entropy(p, one)
            continue
        assert binary_cross_entropy(p, one).data == expected
    assert mse_loss([Value(1.0)], np.array([0.5])).data == 0.25
    soft = binary_cross_entropy(p, Fraction(1, 4)).data
    assert soft == binary_cross_entropy(p, 0.25).data
    assert (
        cross_entropy([1.0, 2.0, 0.5], np.int64(1)).data == cross_entropy([1.0, 2.0, 0.5], 1).data
    )
    assert hinge_loss(Value(0.5), np.int8(-1)).data == 1.5
    assert l2_penalty([Value(2.0)], np.float64(0.5)).data == 2.0
    with pytest.raises(TypeError, match="class index"):
        cross_entropy([1.0, 2.0], np.float64(1.0))


# --- trace-safety: a loss traced on one sample, replayed for another ------------------------
#
# engine.compile (and engine.vmap) trace f once and replay the recorded graph for new
# inputs. A loss that read a target's number to choose its terms would bake the traced
# sample's target into every replay; these tests replay with a different target and
# compare with eager evaluation, which chooses afresh.

_TRACED_LOSSES = {
    "bce": (lambda p, t: binary_cross_entropy(p.sigmoid(), t), [1.0, 0.0, 0.25, 0.0, 1.0]),
    "bce_with_logits": (binary_cross_entropy_with_logits, [1.0, 0.0, 0.7, 1.0]),
    "hinge": (hinge_loss, [1.0, -1.0, -1.0, 1.0]),
    "mse": (mse_loss, [1.0, -3.0, 0.5]),
}


@pytest.mark.parametrize("name", sorted(_TRACED_LOSSES))
def test_a_compiled_loss_replayed_with_another_target_matches_eager(name: str) -> None:
    from engine import compile as compile_fn

    loss, targets = _TRACED_LOSSES[name]
    w = Value(0.8, label="w")

    def f(x: Value, t: Value) -> Value:
        return loss(w * x, t)

    compiled = compile_fn(f)
    for k, t in enumerate(targets):  # traced on the first target, replayed for the rest
        x = 0.3 + 0.4 * k
        w.grad = 0.0
        got = compiled(x, t)
        got_grad = w.grad
        w.grad = 0.0
        expected = f(Value(x), Value(t))
        expected.backward()
        assert got == pytest.approx(expected.data, rel=1e-15), (name, t)
        assert got_grad == pytest.approx(w.grad, rel=1e-14, abs=1e-300), (name, t)
    assert len(compiled._programs) == 1  # one trace served every target (no re-tracing)


def test_compiled_cross_entropy_with_one_hot_targets_matches_the_index_form() -> None:
    from engine import compile as compile_fn

    ws = values([0.5, -1.0, 2.0])

    def f(x: Value, t: list[Value]) -> Value:
        return cross_entropy([w * x for w in ws], t)

    compiled = compile_fn(f)
    for k, label in enumerate([2, 0, 1, 1]):
        x = 0.7 - 0.3 * k
        one_hot = [float(c == label) for c in range(3)]
        for w in ws:
            w.grad = 0.0
        got = compiled(x, one_hot)
        got_grads = [w.grad for w in ws]
        for w in ws:
            w.grad = 0.0
        expected = cross_entropy([w * Value(x) for w in ws], label)
        expected.backward()
        assert got == expected.data  # one-hot weights reproduce the index form exactly
        assert got_grads == [w.grad for w in ws]


def test_bce_with_a_value_target_computes_both_terms_for_any_target() -> None:
    """The graph of a Value target must not depend on its number: the loss of t = 1 and
    t = 0 differs only in the inputs, so one trace serves both."""
    p = Value(0.25)
    one, zero = binary_cross_entropy(p, Value(1.0)), binary_cross_entropy(p, Value(0.0))
    assert one.data == pytest.approx(-math.log(0.25), rel=1e-15)
    assert zero.data == pytest.approx(-math.log(0.75), rel=1e-15)
    assert binary_cross_entropy(p, Value(1.0)).data == binary_cross_entropy(p, 1.0).data
    with pytest.raises(ValueError, match="given as a Value"):
        binary_cross_entropy(Value(1.0), Value(1.0))  # both terms: log(1 - 1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: binary_cross_entropy(Value(0.5), Value(1.5)), r"target 0 is 1\.5, outside"),
        (lambda: binary_cross_entropy(Value(1.5), Value(1.0)), r"probability 0 is 1\.5"),
        (lambda: binary_cross_entropy_with_logits(Value(0.5), Value(-0.5)), "outside"),
        (lambda: hinge_loss(Value(0.5), Value(0.0)), "labels -1 or \\+1"),
        (lambda: cross_entropy([0.0, 1.0], [Value(1.5), Value(0.0)]), r"\[0\] is 1\.5"),
    ],
)
def test_value_targets_are_checked_with_comparisons(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_a_compiled_replay_checks_a_value_target_again() -> None:
    """The range checks are comparisons, so the trace keeps them as guards: a replay
    with a bad target does not run the frozen graph but eager code, which refuses it."""
    from engine import compile as compile_fn

    compiled = compile_fn(lambda s, t: hinge_loss(s, t))
    assert compiled(0.5, 1.0) == 0.5
    assert compiled(0.5, -1.0) == 1.5
    with pytest.raises(ValueError, match="labels -1 or \\+1"):
        compiled(0.5, 0.0)


@pytest.mark.parametrize(
    "logits, target, message",
    [
        ([1.0, 2.0], [1.0], "1 class weights but there are 2 logits"),
        ([1.0, 2.0], [0.0, 0.0], "every class weight 0"),
        ([1.0, 2.0], [True, False], "not bool"),
        ([1.0, 2.0], Value(1.0), "cannot be traced: give the target as one-hot"),
        ([[1.0, 2.0]], [[0.5, 0.5, 0.0]], r"target \[0\] has 3 class weights"),
    ],
)
def test_cross_entropy_weight_target_errors(logits, target, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        cross_entropy(logits, target)


def test_cross_entropy_soft_targets() -> None:
    zs = values([1.0, 2.0, 0.5])
    out = cross_entropy(zs, [0.25, 0.75, 0.0])
    lsm = [v.data for v in log_softmax([1.0, 2.0, 0.5])]
    assert out.data == pytest.approx(-(0.25 * lsm[0] + 0.75 * lsm[1]), rel=1e-15)
    assert gradcheck(lambda *v: cross_entropy(list(v), [0.25, 0.75, 0.0]), 1.0, 2.0, 0.5)
    batch = cross_entropy([values([1.0, 2.0]), values([0.0, 3.0])], [[1.0, 0.0], [0.0, 1.0]])
    assert batch.data == cross_entropy([values([1.0, 2.0]), values([0.0, 3.0])], [0, 1]).data


@pytest.mark.parametrize("name", sorted(_TRACED_LOSSES))
def test_a_vmapped_loss_gives_every_sample_its_own_target(name: str) -> None:
    """engine.vmap traces the loss on sample 0 and runs the graph for all: each sample's
    loss and gradient must be eager's for that sample's own target."""
    np = pytest.importorskip("numpy")
    from engine import vmap

    loss, targets = _TRACED_LOSSES[name]
    w = Value(0.8, label="w")
    xs = [0.3 + 0.4 * k for k in range(len(targets))]
    result = vmap(lambda x, t: loss(w * x, t)).per_sample(np.array(xs), np.array(targets))
    for k, (x, t) in enumerate(zip(xs, targets, strict=True)):
        w.grad = 0.0
        eager = loss(w * Value(x), Value(t))
        eager.backward()
        assert result.losses[k] == pytest.approx(eager.data, rel=1e-13), (name, k)
        assert result.grads[w][k] == pytest.approx(w.grad, rel=1e-13, abs=1e-300), (name, k)
