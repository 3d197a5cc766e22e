"""engine.compile: the replay must equal eager evaluation, on values and gradients."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import CompiledFunction, TraceError, TraceWarning, Value, compile, define_op
from engine.compiler import MAX_TRACES
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
    # so it agrees to the last bit.
    return a == b


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
    compiled_grads = (w.grad, b.grad)  # read before eager() resets and refills them
    e_value, _, eager_grads = eager(f, replayed_at, (w, b))
    assert value == e_value
    assert compiled_grads == tuple(eager_grads)


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
    with pytest.raises(OverflowError, match=r"\* .*overflows float64"):
        compiled(1e100)  # eager's own message: the product that overflowed
    assert w.grad == 0.0


def test_division_by_zero_in_the_forward_pass_stays_a_zero_division():
    compiled = compile(lambda x, y: x / y)
    compiled(1.0, 2.0)
    with pytest.raises(ZeroDivisionError, match=r"division by zero: 1\.0 /"):
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


# --- guards: Python branches on Values -------------------------------------------------


def _branchy(x):
    if x > 0:
        return x * x
    return -3.0 * x


def test_a_branch_on_a_value_is_guarded_and_traced_again():
    compiled = compile(_branchy, input_grads=True)
    assert compiled(3.0) == (9.0, (6.0,))
    # the other side of the branch: eager's numbers, not the traced branch's (9.0)
    for x in (-1.0, 2.0, -0.5, 0.0):
        e_value, (e_g,), _ = eager(_branchy, [x])
        value, (g,) = compiled(x)
        assert (value, g) == (e_value, e_g)
    assert compiled(-1.0)[0] == 3.0
    assert "2 trace(s)" in repr(compiled)
    assert compiled.guards and "a Value > 0.0 was" in compiled.guards[0]


def test_a_guard_on_an_intermediate_and_a_captured_leaf():
    w = Value(1.0, label="w")

    def f(x, y):
        s = x * y + w
        return s.log() if s > w * 2.0 else (s * s).exp()

    compiled = compile(f, input_grads=True)
    cases = [(1.0, 3.0, 1.0), (1.0, 0.1, 0.1), (1.0, 2.0, 2.0), (-5.0, 3.0, 4.0), (-5.0, 1.0, -6.0)]
    for data, x, y in cases:
        w.data = data  # the guard reads the captured leaf on every call
        w.grad = 0.0
        value, grads = compiled(x, y)
        compiled_w = w.grad
        e_value, e_grads, (e_w,) = eager(f, [x, y], (w,))
        assert (value, list(grads), compiled_w) == (e_value, e_grads, e_w)


def test_strict_refuses_a_changed_branch():
    compiled = compile(_branchy, strict=True)
    assert compiled(3.0) == 9.0
    with pytest.raises(TraceError, match=r"a Value > 0.0 was True at .*test_compiler.py"):
        compiled(-1.0)
    assert compiled(5.0) == 25.0  # the traced branch still replays


def test_traces_per_structure_are_bounded_then_eager():
    def staircase(x):
        k = 0
        for t in range(12):
            if x > t:
                k += 1
        return x * (k + 1.0)

    compiled = compile(staircase)
    for x in range(MAX_TRACES):
        assert compiled(x + 0.5) == staircase(Value(x + 0.5)).data
    with pytest.warns(TraceWarning, match=f"more than {MAX_TRACES} branch combinations"):
        assert compiled(10.5) == 10.5 * 12.0
    assert compiled(11.5) == 11.5 * 13.0  # eager again, warned once
    assert compiled(0.5) == 1.0  # a kept trace
    assert f"{MAX_TRACES} trace(s)" in repr(compiled)


def test_round_of_a_value_still_warns_and_strict_refuses_it():
    # (float() of a Value is refused outright, traced or not)
    with pytest.warns(TraceWarning, match="round"):
        compile(lambda x: x * round(x, 3))(2.0)
    with pytest.raises(TraceError, match="round"):
        compile(lambda x: x * round(x, 3), strict=True)(2.0)


# --- errors are eager's errors ----------------------------------------------------------


def _error_of(fn, *args):
    try:
        fn(*args)
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)
    return None


DOMAIN_CASES = [
    ("x ** Value", lambda e: lambda x: x**e, 2.0, -2.0),
    ("log", lambda e: lambda x: (x * e).log(), 2.0, -2.0),
    ("log of 0", lambda e: lambda x: (x * e).log(), 2.0, 0.0),
    ("sqrt", lambda e: lambda x: (x * e).sqrt(), 2.0, -2.0),
    ("sqrt at 0", lambda e: lambda x: (x * e).sqrt(), 2.0, 0.0),
    ("division", lambda e: lambda x: e / (x - 2.0), 3.0, 2.0),
    ("division of a number", lambda e: lambda x: 1.0 / (x * e - 4.0), 3.0, 2.0),
    ("power", lambda e: lambda x: (x * e) ** 0.5, 2.0, -2.0),
    ("negative power", lambda e: lambda x: (x * e) ** -1.0, 2.0, 0.0),
    ("exp overflow", lambda e: lambda x: (x * e).exp(), 2.0, 400.0),
    ("overflow", lambda e: lambda x: x * x * e, 2.0, 1e200),
    ("overflow absorbed by relu", lambda e: lambda x: (x * x * -e).relu(), 2.0, 1e200),
    ("overflow absorbed by tanh", lambda e: lambda x: (x * x * e).tanh(), 2.0, 1e200),
    ("derivative overflow", lambda e: lambda x: (x * e).log(), 2.0, 1e-310),
    ("gradient overflow", lambda e: lambda x: 1e308 / (x * e * 0.5).sin(), 1.5, 0.65),
]


@pytest.mark.parametrize(
    ("make", "traced_at", "replayed_at"),
    [case[1:] for case in DOMAIN_CASES],
    ids=[case[0] for case in DOMAIN_CASES],
)
def test_the_replay_raises_where_eager_raises(make, traced_at, replayed_at):
    e = Value(2.0, label="e")
    f = make(e)
    compiled = compile(f)
    compiled(traced_at)

    def run_eagerly(x):
        out = f(Value(x))
        out.backward()

    expected = _error_of(run_eagerly, replayed_at)
    assert expected is not None
    e.grad = 0.0
    assert _error_of(compiled, replayed_at) == expected
    assert e.grad == 0.0  # nothing half-applied


def test_nan_and_inf_inputs_say_which_input():
    compiled = compile(lambda x, ys: x * ys[0] * ys[1])
    compiled(1.0, [2.0, 3.0])
    with pytest.raises(ValueError, match=r"args\[1\]\[1\] must be finite, got nan"):
        compiled(1.0, [2.0, float("nan")])
    with pytest.raises(ValueError, match=r"args\[0\] must be finite, got inf"):
        compiled(float("inf"), [2.0, 3.0])


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan"), 1e308, -0.0])
def test_aux_numbers_of_any_kind_pass_through(number):
    compiled = compile(lambda x: (x * 2.0, {"k": number, "v": x}), has_aux=True)
    value, aux = compiled(3.0)
    assert value == 6.0 and aux["v"] == 3.0
    assert repr(aux["k"]) == repr(number)


# --- generated code holds only the compiler's text ---------------------------------------


class _Sneaky(str):
    calls: ClassVar[list[str]] = []

    def __repr__(self):
        _Sneaky.calls.append("repr")
        return "__import__('os')"

    def __str__(self):
        _Sneaky.calls.append("str")
        return "x"

    def __format__(self, spec):
        _Sneaky.calls.append("format")
        return "x"

    def __iter__(self):
        _Sneaky.calls.append("iter")
        return iter("x")


def test_a_label_runs_none_of_its_own_methods_and_stays_out_of_the_code():
    _Sneaky.calls.clear()
    w = Value(0.5, label=_Sneaky("weight\n    import os"))
    h = (w * 3.0).tanh()
    h.label = _Sneaky("hidden")
    compiled = compile(lambda x: h * x)
    compiled(2.0)
    view = compiled.source
    assert _Sneaky.calls == []
    executed = compiled._last.generated.source
    assert "weight" not in executed and "hidden" not in executed
    assert "# hidden" in view  # the readable view shows it as a comment
    assert "\n    import os" not in view  # escaped: "weight\x0a    import os"


def test_every_code_point_as_a_label_stays_in_one_comment():
    labels = [chr(c) for c in range(0x300)] + [
        "\u2028",
        "\u2029",
        "\x85",
        "\ufeff",
        "\U0001f600",
        "\ud800",
        "\\",
        "'''",
    ]

    def f(x):
        y = x
        for label in labels:
            y = (y * 0.5).tanh()
            y.label = label
        return y

    compiled = compile(f)
    compiled(0.5)
    view = compiled.source
    assert view.isascii()
    _builtin_compile(view, "<view>", "exec")  # the readable view is valid Python too
    body = [line for line in view.splitlines() if "= _tanh(" in line]
    assert len(body) == len(labels)
    assert all("  # " in line for line in body)


def _builtin_compile(source, name, mode):
    import builtins

    return builtins.compile(source, name, mode)


# --- nested arguments ---------------------------------------------------------------------


def test_a_self_containing_argument_is_refused():
    xs: list = [1.0]
    xs.append(xs)
    with pytest.raises(ValueError, match=r"args\[0\]\[1\] contains itself"):
        compile(lambda v: v[0])(xs)


def test_a_5000_deep_argument_compiles():
    deep: list = [2.0]
    for _ in range(5000):
        deep = [deep]

    def innermost(v):
        while isinstance(v, list):
            v = v[0]
        return v * v

    compiled = compile(innermost, input_grads=True)
    assert compiled(deep) == (4.0, (4.0,))
    assert compiled(deep) == (4.0, (4.0,))


def test_a_comparison_with_an_int_beyond_float64_is_guarded() -> None:
    def f(x: Value) -> Value:
        return x * 2 if x < 10**400 else x * 3

    step = compile(f, backward=False)
    assert step(1.5) == 3.0
    assert step(-2.0) == -4.0
