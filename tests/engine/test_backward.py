"""engine.backward: topological order, the backward pass and its accumulation semantics."""

from __future__ import annotations

import gc
import itertools
import math
import operator
import re
import sys
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import engine
from engine import Value, gradients, numerical_grad, toposort
from engine.backward import backward_reference
from engine.testing import SMOOTH_OPS
from tests.strategies import Expression, bounded_expression, expressions, floats, small_floats

# --- toposort --------------------------------------------------------------------------


def _is_topological(order: list[Value]) -> bool:
    seen: set[Value] = set()
    for node in order:
        if not all(p in seen for p in node.parents):
            return False
        seen.add(node)
    return True


def test_toposort_diamond() -> None:
    x = Value(2.0)
    a = x * 3
    b = x + 1
    c = a * b
    order = toposort(c)
    assert order[-1] is c
    assert _is_topological(order)
    assert len(order) == len(set(order))
    assert set(order) >= {x, a, b, c}
    assert len(order) == 6  # x, the constants 3 and 1, a, b, c


def test_toposort_leaf_and_self_product() -> None:
    x = Value(1.0)
    assert toposort(x) == [x]
    y = x * x
    assert toposort(y) == [x, y]


def _graph(e: Expression, xs: tuple[float, ...]) -> tuple[list[Value], list[Value]]:
    """Evaluate ``e`` keeping every slot: (inputs, inputs + intermediates)."""
    inputs = [Value(x) for x in xs]
    slots = list(inputs)
    for op, i, j in e.steps:
        slots.append(SMOOTH_OPS[op](slots[i], slots[j]))
    return inputs, slots


@given(expressions(), small_floats, small_floats, small_floats)
def test_toposort_of_random_dags(e: Expression, a: float, b: float, c: float) -> None:
    _, slots = _graph(e, (a, b, c))
    order = toposort(slots[-1])
    assert order[-1] is slots[-1]
    assert len(order) == len(set(order))
    assert _is_topological(order)
    # Exactly the nodes reachable from the root.
    reachable, stack = set(), [slots[-1]]
    while stack:
        n = stack.pop()
        if n not in reachable:
            reachable.add(n)
            stack.extend(n.parents)
    assert set(order) == reachable


# --- backward against numbers ---------------------------------------------------------


@given(expressions(), small_floats, small_floats, small_floats)
def test_backward_matches_numerical_grad_on_random_dags(
    e: Expression, a: float, b: float, c: float
) -> None:
    # Tolerance ATOL 1e-5 + RTOL 1e-3 (float64, eps 1e-6), justified in tests/strategies.py;
    # bounded_expression keeps the error model valid (see its docstring).
    assume(bounded_expression(e, (a, b, c)))
    inputs, slots = _graph(e, (a, b, c))
    slots[-1].backward()
    numeric = numerical_grad(e, a, b, c)
    for x, n in zip(inputs, numeric, strict=True):
        assert abs(x.grad - n) <= 1e-5 + 1e-3 * abs(n), (e, x.grad, n)


@given(expressions(), small_floats, small_floats, small_floats)
def test_every_node_holds_d_out_d_node(e: Expression, a: float, b: float, c: float) -> None:
    _, slots = _graph(e, (a, b, c))
    out = slots[-1]
    order = toposort(out)
    expected = gradients(out, order)
    out.backward()
    for node, g in zip(order, expected, strict=True):
        # Same products summed in the same (reversed topological) order: equal exactly.
        assert node.grad == g
    # Slots the output does not depend on are untouched.
    in_graph = set(order)
    for s in slots:
        if s not in in_graph:
            assert s.grad == 0.0


@given(expressions(), small_floats, small_floats, small_floats)
def test_second_backward_doubles_every_grad(e: Expression, a: float, b: float, c: float) -> None:
    _, slots = _graph(e, (a, b, c))
    out = slots[-1]
    order = toposort(out)
    out.backward()
    first = [n.grad for n in order]
    out.backward()
    # The second pass adds exactly the first pass's amounts (doubling is exact in floats).
    assert [n.grad for n in order] == [2 * g for g in first]


# --- accumulation semantics, by hand ------------------------------------------------------


def test_x_times_x_accumulates_6_then_12() -> None:
    x = Value(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0
    assert y.grad == 1.0
    y.backward()
    assert x.grad == 12.0
    assert y.grad == 2.0


def test_x_plus_x() -> None:
    x = Value(3.0)
    y = x + x
    y.backward()
    assert x.grad == 2.0
    y.backward()
    assert x.grad == 4.0


def test_reused_intermediate_is_not_double_counted() -> None:
    # a = x*y; b = a + a; c = b*a = 2 a²: dc/da = 4a, dc/db = a, dc/dx = 4a y, dc/dy = 4a x.
    x, y = Value(2.0), Value(-3.0)
    a = x * y
    b = a + a
    c = b * a
    c.backward()
    first = {"x": 72.0, "y": -48.0, "a": -24.0, "b": -6.0, "c": 1.0}  # a = -6
    nodes = {"x": x, "y": y, "a": a, "b": b, "c": c}
    assert {k: v.grad for k, v in nodes.items()} == first
    c.backward()
    assert {k: v.grad for k, v in nodes.items()} == {k: 2 * g for k, g in first.items()}


def test_backward_from_an_intermediate_then_from_the_root() -> None:
    x = Value(3.0)
    a = x * x  # da/dx = 6
    c = a * 2 + x  # dc/da = 2, dc/dx = 2 * 6 + 1 = 13
    a.backward()
    assert (x.grad, a.grad, c.grad) == (6.0, 1.0, 0.0)
    c.backward()
    # The root's pass adds its own amounts; a's earlier grad is not propagated again.
    assert (x.grad, a.grad, c.grad) == (6.0 + 13.0, 1.0 + 2.0, 1.0)


def test_backward_on_a_leaf() -> None:
    x = Value(3.0)
    x.backward()
    assert x.grad == 1.0


def test_backward_with_a_seed_gradient() -> None:
    x = Value(3.0)
    y = x * x
    y.backward(2.5)
    assert y.grad == 2.5
    assert x.grad == 15.0
    y.backward(1)
    assert x.grad == 21.0


@pytest.mark.parametrize("bad", [True, "1", None, 1j])
def test_backward_seed_type_is_checked(bad: object) -> None:
    with pytest.raises(TypeError, match=re.escape(repr(bad))):
        Value(1.0).backward(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_backward_seed_must_be_finite(bad: float) -> None:
    x = Value(1.0)
    y = x * 2
    with pytest.raises(ValueError, match=f"finite, got {bad!r}"):
        y.backward(bad)
    assert x.grad == 0.0 and y.grad == 0.0  # nothing half-changed


def test_constants_get_grads_too() -> None:
    x = Value(2.0)
    y = x * 3
    y.backward()
    (const,) = [p for p in y.parents if p is not x]
    assert const.grad == 2.0


# --- depth -------------------------------------------------------------------------


def test_deep_chain_without_recursion() -> None:
    # 20x Python's default recursion limit: a recursive walk would fail here.
    x = Value(0.5)
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


@pytest.mark.slow
def test_million_op_chain_under_the_default_recursion_limit() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, whatever the runner set
    try:
        x = Value(0.5)
        y = x
        n = 1_000_000
        for _ in range(n):
            y = y + x  # one node per op; x is reached through every one of them
        assert y.data == 0.5 * (n + 1)
        y.backward()
        assert x.grad == n + 1.0  # sums of 1.0 are exact below 2**53
        assert y.grad == 1.0
        assert y.parents[0].grad == 1.0
        assert len(toposort(y)) == n + 1
        # Freeing a million-deep chain must not overflow the C stack either.
        del y
        gc.collect()
        assert x.grad == n + 1.0
    finally:
        sys.setrecursionlimit(limit)


# --- a failed pass changes nothing; None counts as no grad yet ------------------------


def _interrupt_at(line_text: str, nth: int):
    """A tracer raising KeyboardInterrupt the nth time backward() reaches ``line_text``."""
    import inspect

    from engine import backward as backward_module

    src, start = inspect.getsourcelines(backward_module.backward)
    line = start + next(i for i, text in enumerate(src) if line_text in text)
    hits = [0]

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == line:
            hits[0] += 1
            if hits[0] == nth:
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is backward_module.backward.__code__ else None

    return tracer


@pytest.mark.skipif(
    engine.COMPILED,
    reason="line tracing: the compiled engine.backward has no Python lines to stop at "
    "(the pure run of `make test`, CHAINRULE_PURE=1, runs this test)",
)
@pytest.mark.parametrize(
    ("line_text", "nth"),
    [
        ("a._grad = pg + g * node._da", 2),
        ("a._grad = once", 1),
        ("uses[a] = 2", 1),
        ("b._grad = pg + g * node._db", 2),
        ("g = node._grad + old", 1),  # adding the old grads back, after the chain rule
        ("for node in leaves:", 1),  # checking the leaves for an overflow
    ],
)
def test_an_interrupted_backward_puts_every_grad_back(line_text: str, nth: int) -> None:
    import sys

    x = Value(2.0, label="x")
    h = x * 3.0
    y = (h.tanh() + h) * x
    x.grad, h.grad = 5.0, 7.0  # accumulated by an earlier pass
    nodes = toposort(y)
    before = [n.grad for n in nodes]
    sys.settrace(_interrupt_at(line_text, nth))
    try:
        with pytest.raises(KeyboardInterrupt):
            y.backward()
    finally:
        sys.settrace(None)
    assert [n.grad for n in nodes] == before
    assert all(type(n.grad) is float for n in nodes)
    y.backward()  # and the graph still works
    assert x.grad == 5.0 + gradients(y, [x])[0]


def test_a_grad_of_none_counts_as_zero_and_junk_is_refused_at_assignment() -> None:
    x, w = Value(2.0), Value(3.0)
    y = (x * w).tanh() + x
    w.grad = None  # type: ignore[assignment]
    y.backward()
    assert w.grad == gradients(y, [w])[0]
    x_before = x.grad
    with pytest.raises(TypeError, match=r"Value grad must be a real number or None, not str"):
        x.grad = "junk"  # type: ignore[assignment]
    assert x.grad == x_before


@pytest.mark.skipif(engine.COMPILED, reason="compiled, a node's _grad is readonly from Python")
def test_junk_written_past_the_grad_setter_is_refused_by_backward_untouched() -> None:
    """The pure build's private slot can still be written directly: backward() names
    what it finds there and changes nothing."""
    x, w = Value(2.0), Value(3.0)
    y = (x * w).tanh() + x
    x._grad = "junk"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="'junk', not a number"):
        y.backward()
    assert x.grad == "junk" and w.grad == 0.0


# --- one order for backward(), gradients() and compile ------------------------------


@pytest.mark.parametrize("ks", list(itertools.permutations([1e16, 1.0, -1e16])))
@pytest.mark.parametrize("shape", ["left", "right", "nested"])
def test_backward_gradients_and_compile_add_in_the_same_order(
    ks: tuple[float, float, float], shape: str
) -> None:
    """s.grad = k1 + k2 + k3 depends on the order of the additions (1e16 + 1 rounds
    to 1e16), so the three ways of differentiating must walk the graph alike."""

    def f(x: Value) -> Value:
        s = x * 1.0  # a shared intermediate with three consumers
        c1, c2, c3 = (s * k for k in ks)
        if shape == "left":
            return (c1 + c2) + c3
        if shape == "right":
            return c1 + (c2 + c3)
        return (c1 + (c2 * 1.0)).tanh() * 1e-16 + c3  # consumers at different depths

    x = Value(0.5)
    out = f(x)
    out.backward()
    assert x.grad == gradients(out, [x])[0]
    s = x.grad  # d(out)/dx, summed in backward()'s order
    compiled = engine.compile(f, input_grads=True)
    assert compiled(0.5)[1] == (s,)
    orders = {(1e16 + 1.0) - 1e16, (1e16 - 1e16) + 1.0}
    assert len(orders) == 2  # the sums really differ with the order


def test_a_zero_gradient_has_the_same_sign_three_ways() -> None:
    def f(x: Value) -> Value:
        n = -x
        return n * 1.0 + n * -1.0  # d/dx = -1 + 1: +0.0 when the sum starts at 0.0

    x = Value(0.5)
    out = f(x)
    out.backward()
    grads = (x.grad, gradients(out, [x])[0], engine.compile(f, input_grads=True)(0.5)[1][0])
    assert [math.copysign(1.0, g) for g in grads] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("junk", ["", [], "0", object(), True])
def test_junk_grads_are_refused_at_assignment_even_when_falsy(junk: object) -> None:
    x = Value(2.0)
    y = x * 2.0
    with pytest.raises(TypeError, match="Value grad must be a real number or None"):
        x.grad = junk  # type: ignore[assignment]
    assert x.grad == 0.0 and type(x.grad) is float
    y.backward()
    assert x.grad == 2.0


@pytest.mark.parametrize("number", [3, Fraction(1, 4), np.float32(0.5), np.int64(-2)])
def test_a_grad_assigned_as_any_real_number_is_kept_as_a_float(number: object) -> None:
    x = Value(2.0)
    x.grad = number  # type: ignore[assignment]
    assert type(x.grad) is float and x.grad == float(number)  # type: ignore[arg-type]


def test_a_failed_pass_puts_none_back() -> None:
    x, w = Value(2.0), Value(3.0)
    h = x * w
    y = h.tanh() + w
    h.grad = None  # type: ignore[assignment]
    w.grad = 4.0
    x.grad = math.inf  # refused by backward() (at the end of the pass)
    with pytest.raises(ArithmeticError, match="was inf before this pass"):
        y.backward()
    assert h.grad is None and w.grad == 4.0 and x.grad == math.inf
    x.grad = 0.0
    y.backward()  # None counts as 0; w keeps its 4.0 on top of this pass
    assert h.grad == gradients(y, [h])[0]
    assert w.grad == 4.0 + gradients(y, [w])[0]


def test_a_gradient_that_overflows_raises_and_changes_nothing() -> None:
    # every local derivative is finite; their product, d(out)/dx = 1e600, is not
    x = Value(1e-300, label="x")
    h = x * 1e300
    out = h * 1e300
    x.grad, h.grad = 2.0, 3.0
    nodes = toposort(out)
    before = [n.grad for n in nodes]
    with pytest.raises(OverflowError, match=r"gradient of 'x' \(data 1e-300\) comes out as inf"):
        out.backward()
    assert [n.grad for n in nodes] == before


def test_an_overflow_times_a_zero_derivative_is_caught_as_nan() -> None:
    u = Value(1.0, label="u")
    n = u * 0.0  # du is 0.0 * (an infinite gradient) = nan
    out = (n * 1e300) * 1e300
    with pytest.raises(OverflowError, match=r"comes out as (inf|nan)"):
        out.backward()
    assert u.grad == 0.0 and n.grad == 0.0


def test_adding_back_an_old_grad_that_overflows_raises() -> None:
    x = Value(1.0, label="x")
    y = x * 1e308
    x.grad = 1e308
    with pytest.raises(OverflowError, match="comes out as inf"):
        y.backward()
    assert x.grad == 1e308 and y.grad == 0.0


# --- the fast pass against its specification, backward_reference --------------------------

# Ops of every node layout: binary (two parents, possibly the same node), unary, unary
# with a constant parameter, and a number lifted to a constant leaf. Kinks (relu, abs,
# max) are welcome: nothing here is compared with central differences.
_UNARY: dict[str, Callable[[Value], Value]] = {
    "neg": operator.neg,
    "tanh": Value.tanh,
    "sin": Value.sin,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
    "abs": abs,
    "identity": Value.identity,
    "cube": lambda a: a**3,  # a parameter in the node
    "leaky": lambda a: a.leaky_relu(0.25),
    "scale": lambda a: a * 1.5,  # a lifted constant leaf
}
_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": lambda a, b: a / (1.0 + b * b),
    "max": Value.max,
}
# Exact arithmetic on small integers: every product and sum is an integer below 2**53.
_INTEGER_UNARY = {"neg": operator.neg, "cube": _UNARY["cube"], "twice": lambda a: a * 2}
_INTEGER_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}

Program = tuple[tuple[float, ...], tuple[tuple[str, int, int], ...], int]


@st.composite
def _programs(draw: st.DrawFn, integers: bool = False) -> Program:
    """(inputs, steps, root slot): straight-line code whose steps may read any earlier
    slot, so sub-expressions are shared, nodes have several consumers at different
    depths, and ``x * x`` (both parents the same node) occurs."""
    unary, binary = (_INTEGER_UNARY, _INTEGER_BINARY) if integers else (_UNARY, _BINARY)
    number = st.integers(-3, 3).map(float) if integers else floats(-2.0, 2.0)
    xs = tuple(draw(st.lists(number, min_size=1, max_size=4)))
    steps = []
    for k in range(draw(st.integers(1, 25))):
        name = draw(st.sampled_from(sorted(unary) + sorted(binary)))
        i = draw(st.integers(0, len(xs) + k - 1))
        j = draw(st.integers(0, len(xs) + k - 1))
        steps.append((name, i, j))
    root = draw(st.integers(0, len(xs) + len(steps) - 1))
    return xs, tuple(steps), root


def _build(program: Program, integers: bool = False) -> list[Value]:
    """A fresh graph of ``program``: every slot (inputs, then one per step)."""
    xs, steps, _ = program
    unary, binary = (_INTEGER_UNARY, _INTEGER_BINARY) if integers else (_UNARY, _BINARY)
    slots = [Value(x) for x in xs]
    try:
        for name, i, j in steps:
            out = unary[name](slots[i]) if name in unary else binary[name](slots[i], slots[j])
            slots.append(out)
    except OverflowError:  # a forward value beyond float64: not this test's subject
        assume(False)
    return slots


def _nodes(slots: list[Value]) -> list[Value]:
    """Every node of the graphs of ``slots``, constants included, in a fixed order."""
    seen: dict[Value, None] = {}
    for s in slots:
        for n in toposort(s):
            seen.setdefault(n)
    return list(seen)


def _bits(grads: list[object]) -> list[str]:
    """Grads as exact text: float.hex tells 0.0 from -0.0 (None stays None)."""
    return [g.hex() if isinstance(g, float) else repr(g) for g in grads]


@given(_programs(), st.data())
def test_backward_equals_its_reference_bit_for_bit(program: Program, data: st.DataObject) -> None:
    """Same graph, same order of additions (toposort's, backward()'s own): the fast
    pass and the ten-line specification give the same grads to the last bit, on every
    node, from grads of 0, None or earlier amounts, and again on a second pass."""
    fast_slots, ref_slots = _build(program), _build(program)
    fast, ref = _nodes(fast_slots), _nodes(ref_slots)
    assert [n.data for n in fast] == [n.data for n in ref]  # the same graph twice
    before = data.draw(
        st.lists(
            st.one_of(st.just(0.0), st.none(), floats(-4.0, 4.0)),
            min_size=len(fast),
            max_size=len(fast),
        ),
        label="grads before",
    )
    for f, r, g in zip(fast, ref, before, strict=True):
        f.grad = r.grad = g  # type: ignore[assignment]
    seed = data.draw(st.sampled_from([1.0, -0.5, 3.0, -0.0]), label="seed")
    root = program[2]
    for _ in range(2):  # the second pass adds onto the first one's grads
        try:
            fast_slots[root].backward(seed)
        except OverflowError:
            # backward() raises exactly where the specification's grads are not finite
            backward_reference(ref_slots[root], seed)
            assert not all(math.isfinite(n.grad) for n in ref if n.grad is not None)
            return
        backward_reference(ref_slots[root], seed)
        assert _bits([n.grad for n in fast]) == _bits([n.grad for n in ref]), program


Fan = tuple[float, tuple[float, ...], tuple[int, ...], tuple[tuple[int, int], ...]]


@st.composite
def _fans(draw: st.DrawFn) -> Fan:
    """One shared node ``s = x * 1.0`` with 3 to 7 consumers ``s * w`` at different
    depths, summed by a random tree: ``s.grad`` is a sum of 3 to 7 terms, and weights
    of ±1e16 beside 1.0 make its bits depend on the order of the additions."""
    k = draw(st.integers(3, 7))
    weight = st.sampled_from([1e16, -1e16, 1.0, -1.0, 3.0, 1e-16]) | floats(-2.0, 2.0)
    weights = tuple(draw(st.lists(weight, min_size=k, max_size=k)))
    depths = tuple(draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)))
    merges = tuple(
        (draw(st.integers(0, n - 1)), draw(st.integers(0, n - 2))) for n in range(k, 1, -1)
    )
    return draw(floats(-2.0, 2.0)), weights, depths, merges


def _build_fan(fan: Fan) -> Value:
    x0, weights, depths, merges = fan
    s = Value(x0) * 1.0
    items = []
    for w, depth in zip(weights, depths):
        c = s * w
        for _ in range(depth):
            c = c * 1.0
        items.append(c)
    for i, j in merges:
        a = items.pop(i)
        items.append(a + items.pop(j))
    return items[0]


@given(_fans())
def test_backward_equals_its_reference_on_wide_fans(fan: Fan) -> None:
    """The same, where the order of additions shows: a fast pass that took the
    consumers of ``s`` in another order than toposort's fails here (tried: it does)."""
    fast, ref = _build_fan(fan), _build_fan(fan)
    fast.backward()
    backward_reference(ref)
    assert _bits([n.grad for n in toposort(fast)]) == _bits([n.grad for n in toposort(ref)])


def _dfs_order(root: Value, b_first: bool) -> list[Value]:
    """Another topological order: micrograd's depth-first post-order (iterative),
    visiting each node's parents a-first or b-first."""
    order: list[Value] = []
    expanded: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)  # after every node it depends on
            continue
        if node in expanded:
            continue
        expanded.add(node)
        stack.append((node, True))
        parents = node.parents[::-1] if b_first else node.parents
        stack.extend((p, False) for p in reversed(parents))  # the first one on top
    return order


def _abs_gradients(root: Value) -> dict[Value, float]:
    """The chain rule with |local| everywhere: the sum over paths of |products|."""
    grads = {root: 1.0}
    for node in reversed(toposort(root)):
        g = grads.get(node, 0.0)
        for parent, local in zip(node.parents, node.local_grads):
            grads[parent] = grads.get(parent, 0.0) + g * abs(local)
    return grads


@pytest.mark.parametrize("b_first", [False, True])
@given(program=_programs())
def test_another_order_of_additions_differs_by_rounding_only(
    b_first: bool, program: Program
) -> None:
    """In another topological order the same products are summed in another order.
    Each grad is a sum over paths of products of local derivatives, each term reaching
    the result through at most 2N roundings (N nodes: a product and a sum per node), so
    both results lie within gamma(2N) * sum|terms| of the exact one (Higham, Accuracy
    and Stability of Numerical Algorithms, 3.1), gamma(n) = n u / (1 - n u), u = 2**-53,
    and within twice that of each other. sum|terms| is the pass with |local|, itself
    computed with rounding (all terms >= 0, relative error below gamma(2N))."""
    fast_slots, other_slots = _build(program), _build(program)
    root = program[2]
    try:
        fast_slots[root].backward()
    except OverflowError:
        assume(False)
    backward_reference(other_slots[root], order=_dfs_order(other_slots[root], b_first))
    assert _is_topological(_dfs_order(fast_slots[root], b_first))
    fast, other = toposort(fast_slots[root]), toposort(other_slots[root])
    u, n = 2.0**-53, 2 * len(fast) + 2
    gamma = n * u / (1 - n * u)
    bound = _abs_gradients(fast_slots[root])
    for f, o in zip(fast, other, strict=True):
        assert f.data == o.data
        assert abs(f.grad - o.grad) <= 2 * gamma * bound[f] * (1 + gamma), (program, f, o)


@pytest.mark.parametrize("b_first", [False, True])
@given(program=_programs(integers=True))
def test_another_order_of_exact_additions_is_bit_for_bit(b_first: bool, program: Program) -> None:
    """Integer data and local derivatives, and every |partial sum| <= the |local| pass's
    grad < 2**53: all arithmetic is exact, so every order gives the same bits."""
    fast_slots, other_slots = _build(program, integers=True), _build(program, integers=True)
    root = program[2]
    bound = _abs_gradients(fast_slots[root])
    assume(max(bound.values()) < 2.0**53)
    assume(all(abs(n.data) < 2.0**53 for n in bound))
    fast_slots[root].backward()
    backward_reference(other_slots[root], order=_dfs_order(other_slots[root], b_first))
    fast, other = toposort(fast_slots[root]), toposort(other_slots[root])
    assert _bits([n.grad for n in fast]) == _bits([n.grad for n in other])


def test_the_dfs_order_is_another_order() -> None:
    # The order tests above compare something: the two orders do differ (the diamond's
    # middle nodes come in the other order), and the sum really depends on the order.
    x = Value(0.5)
    s = x * 1.0
    c1, c2 = s * 1e16, s * 1.0
    out = (c1 + c2) + s * -1e16
    orders = [toposort(out), _dfs_order(out, False), _dfs_order(out, True)]
    assert len({tuple(map(id, o)) for o in orders}) == 3
    assert all(_is_topological(o) for o in orders)


def test_the_reference_reads_only_the_public_protocol() -> None:
    # A node that offers .parents / .local_grads / .grad and nothing else is enough.
    class Node:
        def __init__(self, parents: tuple[Node, ...] = (), local: tuple[float, ...] = ()):
            self.parents, self.local_grads, self.grad = parents, local, 0.0

    x = Node()
    y = Node((x, x), (3.0, 3.0))  # y = x * x at x = 1.5
    z = Node((y,), (2.0,))
    backward_reference(z, order=[x, y, z])  # type: ignore[arg-type]
    assert (x.grad, y.grad, z.grad) == (12.0, 2.0, 1.0)


def test_engine_backward_imports_no_engine_value_at_run_time() -> None:
    """engine.value imports engine.backward; the reverse import is for type checkers only
    (under TYPE_CHECKING), so there is no import cycle."""
    import ast
    import pathlib

    import engine.backward as module

    # (the source: compiled, module.__file__ is the extension module beside it)
    tree = ast.parse(pathlib.Path(module.__file__).with_name("backward.py").read_text())
    type_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_only
        for alias in node.names
    }
    assert imported, "the test reads the module's imports"
    assert not {m for m in imported if m in ("engine", "engine.value") or ".value" in m}
    assert "engine.value" in {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) in type_only
    }


def test_seed_gradient_too_large_for_a_float_is_named() -> None:
    x = Value(2.0)
    y = x * 3.0
    with pytest.raises(ValueError, match=r"backward\(\) gradient is too large for a float: 1000"):
        y.backward(10**400)  # type: ignore[arg-type]
    assert x.grad == 0.0 and y.grad == 0.0  # nothing half-changed


def test_seed_gradient_of_any_real_number_type() -> None:
    from fractions import Fraction

    x = Value(2.0)
    y = x * 3.0
    y.backward(Fraction(1, 2))  # type: ignore[arg-type]
    assert x.grad == 1.5 and type(y.grad) is float


@pytest.mark.parametrize("junk", [math.nan, math.inf, -math.inf])
def test_a_non_finite_grad_assigned_by_hand_is_named_not_called_an_overflow(junk: float) -> None:
    x = Value(2.0, label="x")
    y = x * 3.0
    x.grad = junk
    with pytest.raises(ArithmeticError, match=r"'x' .* was (nan|inf|-inf) before this pass") as e:
        y.backward()
    assert "overflows" not in str(e.value)
    assert x.grad is junk or (math.isnan(x.grad) and math.isnan(junk))
