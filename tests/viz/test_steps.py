"""Recording the forward and backward pass: order, numbers, the chain rule as text."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given

from engine import Value, toposort
from nn import MLP
from tests.strategies import bounded_expression, expressions, small_floats
from viz import steps as steps_module
from viz.steps import BackwardStep, ForwardStep, record_steps

FMT = "{:.4g}".format


def _neuron() -> tuple[Value, Value, Value, Value]:
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.label = "y"
    return x, w, b, y


def _engine_grads(build):  # type: ignore[no-untyped-def]
    """Build the graph afresh, run the engine's backward(), return {id: grad} by topo id."""
    root = build()
    root.backward()
    return {f"n{i}": v.grad for i, v in enumerate(toposort(root))}


def test_the_neuron_written_out() -> None:
    *_, y = _neuron()
    s = record_steps(y)
    assert s.to_text(FMT).splitlines() == [
        "forward pass (topological order)",
        "   1  b  (input)  = 6.88",
        "   2  w  (input)  = -3",
        "   3  x  (input)  = 2",
        "   4  n3 = x * w  = 2 × (-3) = -6",
        "   5  n4 = n3 + b  = (-6) + 6.88 = 0.88",
        "   6  y = tanh(n4)  = tanh(0.88) = 0.7064",
        "backward pass (the order backward() finishes each node)",
        "   7  grad(y) = ∂y/∂y  (the seed)  = 1",
        "   8  grad(n4) = grad(y) × ∂y/∂n4  = 1 × 0.501 = 0.501",
        "   9  grad(b) = grad(n4) × ∂n4/∂b  = 0.501 × 1 = 0.501",
        "  10  grad(n3) = grad(n4) × ∂n4/∂n3  = 0.501 × 1 = 0.501",
        "  11  grad(x) = grad(n3) × ∂n3/∂x  = 0.501 × (-3) = -1.503",
        "  12  grad(w) = grad(n3) × ∂n3/∂w  = 0.501 × 2 = 1.002",
    ]


def test_forward_is_toposort_with_the_numbers_that_made_each_node() -> None:
    *_, y = _neuron()
    s = record_steps(y)
    order = toposort(y)
    assert [f.node for f in s.forward] == [f"n{i}" for i in range(len(order))]
    ids = {v: f"n{i}" for i, v in enumerate(order)}
    for step, v in zip(s.forward, order, strict=True):
        assert isinstance(step, ForwardStep)
        assert (step.op, step.data, step.param) == (v.op, v.data, v.param)
        assert step.inputs == tuple(ids[p] for p in v.parents)
        assert step.input_data == tuple(p.data for p in v.parents)


def test_backward_gradients_equal_the_engines_bit_for_bit() -> None:
    s = record_steps(_neuron()[-1])
    expected = _engine_grads(lambda: _neuron()[-1])
    assert {b.node: b.grad for b in s.backward} == expected
    for b in s.backward:
        assert repr(b.grad) == repr(expected[b.node])


def test_each_node_is_finished_after_all_its_uses_and_non_leaves_in_backwards_order() -> None:
    """backward() passes a node on once every use has given it its share; a leaf is final
    once its last use has. The non-leaves come in toposort's order read back to front."""
    x = Value(1.5, label="x")
    a = x * x
    b = a + x
    c = (b * a).sin() + x.exp()
    s = record_steps(c)
    order = toposort(c)
    ids = {v: f"n{i}" for i, v in enumerate(order)}
    position = {step.node: i for i, step in enumerate(s.backward)}
    assert sorted(position) == sorted(ids.values())  # every node once
    assert s.backward[0].node == ids[c]
    for v in order:
        for p in v.parents:
            assert position[ids[p]] > position[ids[v]]
    non_leaves = [step.node for step in s.backward if s.forward[int(step.node[1:])].inputs]
    assert non_leaves == [ids[v] for v in reversed(order) if v.parents]
    # A leaf comes right after its last use (and after any leaf that use also finished).
    leaf_step = position[ids[x]]
    last_use = max(position[ids[v]] for v in order if x in v.parents)
    assert s.backward[last_use + 1 : leaf_step + 1][-1].node == ids[x]
    assert all(not s.forward[int(b.node[1:])].inputs for b in s.backward[last_use + 1 : leaf_step])


def test_terms_are_every_use_in_the_order_backward_adds_them() -> None:
    x = Value(1.5, label="x")
    y = x * x + x**2  # x is used three times: twice by one node, once by another
    s = record_steps(y)
    (grad_x,) = [b for b in s.backward if s.names[b.node] == "x"]
    assert isinstance(grad_x, BackwardStep)
    assert [(t.use, t.slot) for t in grad_x.terms] == [("n2", 0), ("n2", 1), ("n1", 0)]
    assert [t.local for t in grad_x.terms] == [1.5, 1.5, 3.0]
    assert grad_x.grad == 6.0
    assert grad_x.formula(s.names) == (
        "grad(x) = grad(n2) × ∂n2/∂x + grad(n2) × ∂n2/∂x + grad(n1) × ∂n1/∂x"
    )
    assert grad_x.numbers(FMT) == "= 1 × 1.5 + 1 × 1.5 + 1 × 3 = 6"


@given(expressions(), small_floats, small_floats, small_floats)
def test_random_graphs_record_the_engines_gradients(e, a, b, c) -> None:  # type: ignore[no-untyped-def]
    if not bounded_expression(e, (a, b, c)):
        return
    xs = [Value(a, label="a"), Value(b, label="b"), Value(c, label="c")]
    out = e(*xs)
    s = record_steps(out, max_nodes=None)
    fresh = [Value(v) for v in (a, b, c)]
    expected = _engine_grads(lambda: e(*fresh))
    assert {st.node: st.grad for st in s.backward} == expected
    for st in s.backward:  # each grad is its terms summed in order, from 0.0
        if st.terms:
            total = 0.0
            for t in st.terms:
                total = total + t.use_grad * t.local
            assert total == st.grad
            assert all(t.use_grad == expected[t.use] for t in st.terms)


def test_users_grads_are_left_alone() -> None:
    _x, w, _b, y = _neuron()
    y.backward()
    y.backward()  # accumulated twice
    before = [v.grad for v in toposort(y)]
    s = record_steps(y)
    assert [v.grad for v in toposort(y)] == before
    # What is recorded is one pass from zero: what one backward() adds.
    assert {st.node: st.grad for st in s.backward} == _engine_grads(lambda: _neuron()[-1])
    assert w.grad == 2 * s.backward[-1].grad


def test_a_mismatch_with_the_engine_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real = steps_module.gradients

    def off_by_one_ulp(root, inputs):  # type: ignore[no-untyped-def]
        grads = list(real(root, inputs))
        grads[0] = grads[0] + abs(grads[0]) * 2.0**-52 + 5e-324
        return tuple(grads)

    monkeypatch.setattr(steps_module, "gradients", off_by_one_ulp)
    with pytest.raises(RuntimeError, match=r"grad\(b\) = .* the engine gives"):
        record_steps(_neuron()[-1])


def test_a_leaf_root() -> None:
    x = Value(3.0, label="x")
    s = record_steps(x)
    assert len(s) == 2
    assert s.lines(FMT) == [("x  (input)", "= 3"), ("grad(x) = ∂x/∂x  (the seed)", "= 1")]
    assert s.phase(0) == "forward" and s.phase(1) == "backward"
    with pytest.raises(IndexError, match="step 2 out of range"):
        s.phase(2)


def test_names_are_unique_and_say_what_each_leaf_is() -> None:
    a, b = Value(1.0, label="x"), Value(2.0, label="x")  # two nodes labelled x
    n = Value(3.0, label="n3")  # a label that is another node's id ...
    y = (a * b + n) * 0.5  # ... and a constant
    s = record_steps(y)
    names = sorted(s.names.values())
    assert len(set(names)) == len(names)
    assert "x (n0)" in names or "x (n1)" in names or "x (n2)" in names
    kinds = {s.names[f.node]: f.kind for f in s.forward if not f.inputs}
    assert sorted(kinds.values()) == ["constant", "input", "input", "input"]
    # the drawn graph carries the same names and the recorded grads
    assert {n.id: n.label for n in s.graph.nodes} == s.names
    assert {n.id: n.grad for n in s.graph.nodes} == {st.node: st.grad for st in s.backward}


def test_a_network_keeps_its_parameter_names_and_clusters() -> None:
    model = MLP(2, [2, 1], seed=0)
    out = model([Value(0.5, label="x1"), Value(-1.0, label="x2")])
    s = record_steps(out, module=model)
    assert s.graph.clusters == (
        "layers.0.neurons.0",
        "layers.0.neurons.1",
        "layers.1.neurons.0",
    )
    params = {f.node for f in s.forward if f.kind == "parameter"}
    assert len(params) == sum(1 for _ in model.parameters())
    assert "layers.0.neurons.1.w.0" in {s.names[p] for p in params}
    out.backward()
    expected = {name: p.grad for name, p in model.named_parameters()}
    recorded = {s.names[st.node]: st.grad for st in s.backward if st.node in params}
    assert recorded == expected
    layered = record_steps(out, module=model, group_by="layer")
    assert layered.graph.clusters == ("layers.0", "layers.1")


def test_a_deep_chain_is_recorded_without_recursion() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(sys.getrecursionlimit() + 500):
        y = y * 1.0001 + 0.0
    s = record_steps(y, max_nodes=None)
    assert len(s.backward) == len(s.forward) == len(toposort(y))
    y.backward()
    assert {st.grad for st in s.backward if s.names[st.node] == "x"} == {x.grad}


def test_the_size_limit_applies() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(300):
        y = y + 1.0
    with pytest.raises(ValueError, match="max_nodes=500"):
        record_steps(y)
