"""engine.compile: the replay must equal eager evaluation, on values and gradients."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import CompiledFunction, TraceError, TraceWarning, Value, compile, define_op
from tests.strategies import expressions, small_floats


def eager(f, xs, leaves=()):
    """Value and input gradients of f at xs, evaluated eagerly; also each leaf's grad."""
    for leaf in leaves:
        leaf.grad = 0.0
    vs = [Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    return out.data, [v.grad for v in vs], [leaf.grad for leaf in leaves]


def close(a: float, b: float) -> bool:
    # The replay performs the same float operations in the same order as eager mode,
    # so it should agree exactly; the issue asks for 1e-12 relative, which we check.
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


@given(
    expressions(n_inputs=3, max_steps=10),
    st.lists(small_floats, min_size=3, max_size=3),
    st.lists(small_floats, min_size=3, max_size=3),
)
def test_random_expressions_match_eager_on_new_inputs(expr, traced_at, replayed_at):
    compiled = compile(expr, input_grads=True)
    compiled(*traced_at)  # trace at one point...
    (value, grads) = compiled(*replayed_at)  # ...replay at another
    e_value, e_grads, _ = eager(expr, replayed_at)
    assert close(value, e_value)
    assert all(close(a, b) for a, b in zip(grads, e_grads))


@given(
    st.lists(small_floats, min_size=2, max_size=2), st.lists(small_floats, min_size=2, max_size=2)
)
def test_captured_leaves_get_the_eager_gradients(traced_at, replayed_at):
    w = Value(0.7, label="w")
    b = Value(-0.2, label="b")

    def f(x, y):
        return ((w * x + b).tanh() - y) ** 2 + (w * y).relu() + abs(b * x)

    compiled = compile(f)
    compiled(*traced_at)
    w.grad = b.grad = 0.0
    value = compiled(*replayed_at)
    e_value, _, (gw, gb) = eager(f, replayed_at, (w, b))
    assert close(value, e_value)
    assert close(w.grad, gw) and close(b.grad, gb)


@pytest.mark.parametrize("op", ["relu", "abs", "leaky_relu"])
def test_piecewise_ops_take_the_branch_of_the_new_inputs(op):
    fn = {"relu": Value.relu, "abs": abs, "leaky_relu": lambda v: v.leaky_relu(0.1)}[op]
    compiled = compile(lambda x: fn(x * 2.0), input_grads=True)
    assert compiled(3.0)[1][0] > 0  # traced on the positive side
    value, (g,) = compiled(-3.0)
    e_value, (e_g,), _ = eager(lambda x: fn(x * 2.0), [-3.0])
    assert (value, g) == (e_value, e_g)
    assert g != 2.0  # not the traced branch's derivative


def test_leaf_data_changes_between_calls_are_seen():
    w = Value(1.0)
    compiled = compile(lambda x: w * x)
    assert compiled(2.0) == 2.0
    w.data = 5.0
    assert compiled(2.0) == 10.0


def test_gradients_accumulate_like_backward():
    w = Value(3.0)
    compiled = compile(lambda x: w * w * x)
    compiled(1.0)
    assert w.grad == 6.0
    compiled(1.0)
    assert w.grad == 12.0


def test_batches_of_lists_and_retrace_on_new_structure():
    w = Value(0.5)

    def loss(xs):
        return sum((w * x - 1.0) ** 2 for x in xs)

    compiled = compile(loss)
    assert close(compiled([1.0, 2.0]), loss([Value(1.0), Value(2.0)]).data)
    assert close(compiled([1.0, 2.0, 3.0]), loss([Value(1.0), Value(2.0), Value(3.0)]).data)
    assert "2 trace(s)" in repr(compiled)


def test_has_aux_returns_floats_in_the_same_structure():
    w = Value(2.0)

    def f(xs):
        preds = [w * x for x in xs]
        return sum(preds), {"preds": preds, "n": len(xs)}

    loss, aux = compile(f, has_aux=True)([1.0, 3.0])
    assert loss == 8.0
    assert aux == {"preds": [2.0, 6.0], "n": 2.0}


def test_source_is_readable_backprop():
    w = Value(0.5, label="w")
    compiled = compile(lambda x: (w * x).tanh())
    with pytest.raises(RuntimeError, match="nothing traced yet"):
        compiled.source  # noqa: B018
    compiled(1.0)
    src = compiled.source
    assert src.startswith("def forward_backward(inputs, leaves):")
    assert "# forward" in src and "# backward" in src
    assert "_tanh(" in src and "1.0 - " in src


def test_value_dependent_control_flow_warns_and_strict_refuses():
    def f(x):
        return x * 2 if x > 0 else x * 3

    with pytest.warns(TraceWarning, match="comparison '>'"):
        compiled = compile(f)
        compiled(1.0)
    assert compiled.control_flow and "test_compiler.py" in compiled.control_flow[0]
    # frozen: the replay keeps the x > 0 branch even for a negative input
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled(-1.0) == -2.0
    with pytest.raises(TraceError, match="comparison"):
        compile(f, strict=True)(1.0)


def test_round_of_a_value_is_detected():
    # float() of a Value is refused outright; round() and format specs read the number
    with pytest.warns(TraceWarning, match="round"):
        compile(lambda x: x * round(x, 3))(2.0)
    with pytest.warns(TraceWarning, match="format"):
        compile(lambda x: x * float(f"{x:.3f}"))(2.0)


def test_user_defined_ops_replay():
    cube = define_op("compiler_test_cube", lambda x: x**3, lambda x, out: 3 * x**2)
    compiled = compile(lambda x: cube(x) + x, input_grads=True)
    compiled(1.0)
    value, (g,) = compiled(2.0)
    assert value == 10.0 and g == 13.0


def test_bad_arguments_and_outputs_are_refused():
    with pytest.raises(TypeError, match="callable"):
        compile(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"args\[0\] is str"):
        compile(lambda x: x)("a")
    with pytest.raises(TypeError, match="scalar Value"):
        compile(lambda x: [x])(1.0)
    with pytest.raises(TypeError, match="pair"):
        compile(lambda x: x, has_aux=True)(1.0)


def test_domain_errors_at_replay_are_clear():
    compiled = compile(lambda x: x.log())
    compiled(1.0)
    with pytest.raises(ValueError, match=r"log\(-1.0\)"):
        compiled(-1.0)
    s = compile(lambda x: (x * 1.0).sqrt())
    s(4.0)
    with pytest.raises(ValueError, match="infinite"):
        s(0.0)
    big = compile(lambda x: x * x)
    big(1.0)
    with pytest.raises(OverflowError, match="overflow"):
        big(1e200)


def test_forward_only_mode():
    w = Value(2.0)
    compiled = compile(lambda x: w * x, backward=False)
    assert compiled(3.0) == 6.0
    assert w.grad == 0.0
    assert "# backward" not in compiled.source


def test_small_mlp_step_matches_eager_exactly():
    import random

    rng = random.Random(0)
    layers = [
        [[Value(rng.uniform(-1, 1)) for _ in range(nin + 1)] for _ in range(nout)]
        for nin, nout in ((2, 4), (4, 1))
    ]
    params = [p for layer in layers for neuron in layer for p in neuron]

    def model(x):
        for k, layer in enumerate(layers):
            x = [sum((w * xi for w, xi in zip(n[:-1], x)), n[-1]) for n in layer]
            x = [v.relu() for v in x] if k == 0 else x
        return x[0]

    def loss(X, Y):
        return sum((1 + -y * model(x)).relu() for x, y in zip(X, Y)) * (1.0 / len(X))

    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(8)]
    Y = [rng.choice([-1.0, 1.0]) for _ in range(8)]
    compiled = compile(loss)
    assert isinstance(compiled, CompiledFunction)
    compiled(X, Y)
    for p in params:
        p.grad = 0.0
    value = compiled(X, Y)
    compiled_grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    out = loss([[Value(a) for a in x] for x in X], Y)
    out.backward()
    assert value == out.data
    assert compiled_grads == [p.grad for p in params]
    assert not math.isnan(value)


@settings(max_examples=10)
@given(st.integers(min_value=50, max_value=200))
def test_deep_chains_compile(n):
    w = Value(0.999)
    compiled = compile(lambda x: _chain(x, w, n), input_grads=True)
    value, (g,) = compiled(0.5)
    e_value, (e_g,), _ = eager(lambda x: _chain(x, w, n), [0.5])
    assert close(value, e_value) and close(g, e_g)


def _chain(x, w, n):
    for _ in range(n):
        x = x * w + 0.001
    return x


def test_max_follows_the_new_inputs():
    compiled = compile(lambda x, y: x.max(y) * 2.0, input_grads=True)
    assert compiled(1.0, 2.0) == (4.0, (0.0, 2.0))
    assert compiled(3.0, 2.0) == (6.0, (2.0, 0.0))


def test_max_in_forward_only_mode_stays_linear_in_size():
    def running_max(*xs):
        m = xs[0]
        for x in xs[1:]:
            m = x.max(m)
        return m

    compiled = compile(running_max, backward=False)
    assert compiled(*map(float, range(40))) == 39.0
    assert len(compiled.source) < 5_000  # an operand written twice gets a variable


def test_input_grads_need_the_backward_pass():
    with pytest.raises(ValueError, match="input_grads=True needs backward=True"):
        compile(lambda x: x, backward=False, input_grads=True)


def test_non_finite_gradients_are_refused_before_any_grad_changes():
    w = Value(1.0)
    compiled = compile(lambda x: ((x * x * x * x) * w).tanh())
    compiled(1.0)
    w.grad = 0.0
    with pytest.raises(OverflowError, match="non-finite gradient"):
        compiled(1e100)
    assert w.grad == 0.0


def test_division_by_zero_in_the_forward_pass_stays_a_zero_division():
    compiled = compile(lambda x, y: x / y)
    compiled(1.0, 2.0)
    with pytest.raises(ZeroDivisionError, match="compiled forward pass"):
        compiled(1.0, 0.0)


def test_input_gradients_have_eagers_signed_zeros():
    _, (g,) = compile(lambda x: -(x.relu()), input_grads=True)(-1.0)
    assert math.copysign(1.0, g) == 1.0


@pytest.mark.parametrize(
    ("f", "what"),
    [
        (lambda x: x * x.detach(), "detach"),
        (lambda x: x * _in_no_grad(x), "no_grad"),
    ],
)
def test_work_done_outside_the_graph_is_reported(f, what):
    with pytest.warns(TraceWarning, match=what):
        compile(f)(3.0)


def _in_no_grad(x):
    from engine import no_grad

    with no_grad():
        return x * 2
