"""Walking a graph into plain data: nodes, edges with local derivatives, clusters, limits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import viz
from engine import Value, toposort
from nn import MLP
from viz import to_dot
from viz.graph import (
    DEFAULT_MAX_NODES,
    Graph,
    collect,
    count_nodes,
    module_of,
    parameter_names,
)


def _tanh_neuron() -> tuple[Value, Value, Value, Value]:
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.label = "y"
    y.backward()
    return x, w, b, y


def test_nodes_in_topological_order_with_data_grad_op() -> None:
    _x, w, _b, y = _tanh_neuron()
    g = collect(y)
    assert isinstance(g, Graph)
    assert [n.id for n in g.nodes] == [f"n{i}" for i in range(6)]
    assert g.root == g.nodes[-1].id == g.by_label("y").id
    order = toposort(y)
    for node, value in zip(g.nodes, order, strict=True):
        assert (node.label, node.data, node.grad, node.op) == (
            value.label,
            value.data,
            value.grad,
            value.op,
        )
        assert node.is_leaf == value.is_leaf
        assert node.cluster is None and node.name is None
    assert g.by_label("w").grad == w.grad
    with pytest.raises(KeyError, match="'nope'"):
        g.by_label("nope")
    with pytest.raises(KeyError, match="'n99'"):
        g.node("n99")


def test_edges_carry_the_local_derivative() -> None:
    _x, _w, _b, y = _tanh_neuron()
    g = collect(y)
    ids = {n.label: n.id for n in g.nodes if n.label}
    by_pair = {(e.src, e.dst): e for e in g.edges}
    product = next(n for n in g.nodes if n.op == "*")
    assert by_pair[(ids["x"], product.id)].local_grad == -3.0  # d(xw)/dx = w
    assert by_pair[(ids["w"], product.id)].local_grad == 2.0  # d(xw)/dw = x
    assert by_pair[(ids["x"], product.id)].slot == 0
    assert by_pair[(ids["w"], product.id)].slot == 1
    tanh_edge = next(e for e in g.edges if e.dst == ids["y"])
    assert tanh_edge.local_grad == pytest.approx(1 - y.data**2, rel=1e-15)
    assert len(g.edges) == 5


def test_a_value_used_twice_gives_two_edges_into_one_node() -> None:
    x = Value(3.0, label="x")
    y = x * x
    g = collect(y)
    assert len(g.nodes) == 2
    assert [(e.src, e.slot, e.local_grad) for e in g.edges] == [("n0", 0, 3.0), ("n0", 1, 3.0)]


def test_shared_intermediate_appears_once() -> None:
    x, y = Value(2.0, label="x"), Value(5.0, label="y")
    a = x * y
    b = a + a
    c = b * a
    g = collect(c)
    assert len(g.nodes) == len({id(n) for n in toposort(c)}) == 5


def test_op_params_are_recorded() -> None:
    x = Value(1.5, label="x")
    g = collect((x**2).leaky_relu(0.2))
    params = {n.op: n.param for n in g.nodes if n.op}
    assert params == {"**": 2.0, "leaky_relu": 0.2}


def test_a_leaf_root() -> None:
    g = collect(Value(1.0, label="x"))
    assert len(g.nodes) == 1 and g.edges == () and g.nodes[0].is_leaf


def test_a_node_made_under_no_grad_is_a_leaf() -> None:
    from engine import no_grad

    with no_grad():
        y = Value(2.0) * 3
    g = collect(y)
    assert len(g.nodes) == 1 and g.nodes[0].is_leaf and g.edges == ()
    assert "_op" not in to_dot(y)  # no op node without operands


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="root must be a Value"):
        collect(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_nodes"):
        collect(Value(1.0), max_nodes=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_nodes"):
        collect(Value(1.0), max_nodes=0)
    with pytest.raises(ValueError, match="group_by"):
        collect(Value(1.0), group_by="model")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="named_parameters"):
        collect(Value(1.0), module=object())


# --- the size limit ---------------------------------------------------------------------


def _chain(n: int) -> tuple[Value, Value]:
    x = Value(1.0, label="x")
    y = x
    for _ in range(n):
        y = y + 1.0
    return x, y


def test_count_nodes() -> None:
    _x, y = _chain(10)
    assert count_nodes(y) == 21  # x, ten constants, ten sums
    assert count_nodes(y, limit=5) == 6
    assert count_nodes(y, limit=21) == 21


class _Trap(Value):
    """A leaf deep in the graph whose parents must not be asked for."""

    @property
    def parents(self) -> tuple[Value, ...]:
        raise AssertionError("the walk went too deep (read the parents of the deepest node)")


def test_counting_stops_at_the_limit_instead_of_walking_everything() -> None:
    y: Value = _Trap(1.0, label="x")  # reached only by a full walk
    for _ in range(2_000):
        y = y + 1.0
    with pytest.raises(AssertionError, match="too deep"):
        count_nodes(y)  # a full walk does reach it
    assert count_nodes(y, limit=500) == 501
    with pytest.raises(ValueError, match="more than max_nodes=500"):
        collect(y)


def test_viz_reads_the_public_node_protocol_never_private_slots() -> None:
    """Issue 9: a Value's layout (_a _b _da _db) stays inside engine; viz walks read
    ``.parents`` and ``.local_grads``."""
    private = {"_a", "_b", "_da", "_db"}
    package = Path(viz.__file__).parent
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in private:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert len(list(package.glob("*.py"))) > 5
    assert found == []


def test_too_big_message_suggests_grouping_or_a_smaller_example() -> None:
    _, y = _chain(DEFAULT_MAX_NODES)
    with pytest.raises(ValueError) as info:
        collect(y)
    message = str(info.value)
    assert "max_nodes=500" in message
    assert "group_by='layer'" in message
    assert "smaller example" in message
    assert len(collect(y, max_nodes=None).nodes) == 2 * DEFAULT_MAX_NODES + 1
    assert len(collect(y, max_nodes=2 * DEFAULT_MAX_NODES + 1).nodes) == 2 * DEFAULT_MAX_NODES + 1


# --- clusters ----------------------------------------------------------------------------


def test_module_of() -> None:
    assert module_of("layers.0.neurons.1.w.0") == "layers.0.neurons.1"
    assert module_of("layers.0.neurons.1.b") == "layers.0.neurons.1"
    assert module_of("layers.0.neurons.1.w.0", "layer") == "layers.0"
    assert module_of("layers.2.neurons.10.b", "layer") == "layers.2"
    assert module_of("w.0") == "" and module_of("w.0", "layer") == ""
    assert module_of("neurons.3.w.1", "layer") == ""
    with pytest.raises(ValueError, match="group_by"):
        module_of("w", "net")  # type: ignore[arg-type]


def _mlp_graph(group_by: str = "neuron") -> tuple[MLP, Graph, Value]:
    model = MLP(2, [3, 2, 1], seed=0)  # relu, relu, linear
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    score = model(x)
    score.label = "score"
    loss = (1 - score).relu()
    loss.label = "loss"
    loss.backward()
    return model, collect(loss, module=model, group_by=group_by), score  # type: ignore[arg-type]


def test_parameters_are_named_and_clustered_by_neuron() -> None:
    model, g, _ = _mlp_graph()
    names = dict(model.named_parameters())
    param_nodes = [n for n in g.nodes if n.name is not None]
    assert {n.name for n in param_nodes} == set(names)
    for n in param_nodes:
        assert n.data == names[n.name].data
        assert n.cluster == module_of(n.name)
    assert g.clusters == (
        "layers.0.neurons.0",
        "layers.0.neurons.1",
        "layers.0.neurons.2",
        "layers.1.neurons.0",
        "layers.1.neurons.1",
        "layers.2.neurons.0",
    )


def test_each_neuron_cluster_holds_its_whole_computation() -> None:
    model, g, _score = _mlp_graph()
    members: dict[str, list] = {}
    for n in g.nodes:
        if n.cluster is not None:
            members.setdefault(n.cluster, []).append(n)
    # A neuron with k inputs: k weights, a bias, k products, k sums (b + w0 x0 + ...),
    # and its activation (none for the linear output neuron).
    expected = {
        "layers.0.neurons.0": 8,
        "layers.0.neurons.1": 8,
        "layers.0.neurons.2": 8,
        "layers.1.neurons.0": 11,
        "layers.1.neurons.1": 11,
        "layers.2.neurons.0": 7,
    }
    assert {k: len(v) for k, v in members.items()} == expected
    for cluster, nodes in members.items():
        ops = sorted(n.op for n in nodes if n.op)
        k = int(model.layers[int(cluster.split(".")[1])].nin)
        activation = [] if cluster.startswith("layers.2") else ["relu"]
        assert ops == sorted(["*"] * k + ["+"] * k + activation)


def test_inputs_and_the_loss_stay_outside_every_cluster() -> None:
    _, g, _score = _mlp_graph()
    assert g.by_label("x0").cluster is None and g.by_label("x1").cluster is None
    assert g.by_label("score").cluster == "layers.2.neurons.0"
    # 1 - score = 1 + (-score): the negation reads a neuron's output, the sum mixes a
    # constant in; neither belongs to the neuron.
    outside = [n for n in g.nodes if n.cluster is None]
    assert sorted(n.op for n in outside) == ["", "", "", "+", "neg", "relu"]


def test_clusters_by_layer() -> None:
    _, g, _ = _mlp_graph("layer")
    assert g.clusters == ("layers.0", "layers.1", "layers.2")
    counts = {c: sum(n.cluster == c for n in g.nodes) for c in g.clusters}
    assert counts == {"layers.0": 24, "layers.1": 22, "layers.2": 7}


def test_activation_joins_once_not_through_a_second_activation() -> None:
    w = Value(0.5)

    class One:
        def named_parameters(self):  # type: ignore[no-untyped-def]
            yield "cell.w", w

    x = Value(2.0, label="x")
    inner = (w * x).tanh()
    outer = inner.relu()
    g = collect(outer, module=One())
    clusters = {n.op: n.cluster for n in g.nodes if n.op}
    assert clusters == {"*": "cell", "tanh": "cell", "relu": None}


def test_parameters_of_two_modules_in_one_op_join_neither() -> None:
    a, b = Value(1.0), Value(2.0)

    class Two:
        def named_parameters(self):  # type: ignore[no-untyped-def]
            yield "left.w", a
            yield "right.w", b

    g = collect(a * b, module=Two())
    product = g.nodes[-1]
    assert product.op == "*" and product.cluster is None
    assert {n.cluster for n in g.nodes[:-1]} == {"left", "right"}


def test_parameter_names_checks_what_it_is_given() -> None:
    class Bad:
        def named_parameters(self):  # type: ignore[no-untyped-def]
            yield "w", 1.0

    class NotPairs:
        def named_parameters(self):  # type: ignore[no-untyped-def]
            yield Value(1.0)

    with pytest.raises(TypeError, match=r"\(str, Value\)"):
        parameter_names(Bad())
    with pytest.raises(TypeError, match="pairs"):
        parameter_names(NotPairs())
    shared = Value(1.0)

    class Twice:
        def named_parameters(self):  # type: ignore[no-untyped-def]
            yield "a.w", shared
            yield "b.w", shared

    assert parameter_names(Twice()) == {shared: "a.w"}  # the first name wins, as in PyTorch
