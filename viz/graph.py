"""Walk a computation graph into plain data: its nodes, edges and clusters.

This is the first half of "walk, then draw": :func:`collect` reads a graph of
:class:`engine.Value` nodes once, iteratively, and returns a :class:`Graph` of
frozen records that know nothing of Graphviz. :mod:`viz.dot` then turns that into
DOT text.

Clusters group the nodes of one module (a neuron or a layer) when a module is
given. A parameter belongs to the module its dotted name says it belongs to
(``layers.0.neurons.1.w.0`` is in neuron ``layers.0.neurons.1`` and in layer
``layers.0``). An intermediate node joins

1. the cluster of a direct parameter parent (``w * x`` is in ``w``'s neuron);
2. otherwise, for a two-operand op, the cluster of its operands when both are in
   the same one (the running sum of a neuron's products);
3. for an activation function (:data:`ACTIVATION_OPS`) applied to a node that
   joined by rule 1 or 2, that node's cluster (the neuron's output). Nothing joins
   through an activation's output: in ``relu(tanh(z))`` only the tanh is in the
   neuron, and a loss's ``-score`` stays outside it. (A loss applying an
   activation op directly to a linear neuron's z, such as ``relu(score)``, is
   indistinguishable from an activation and joins the neuron.)

Inputs, constants and anything that mixes modules (a loss) stay outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine import Value, toposort

__all__ = [
    "ACTIVATION_OPS",
    "DEFAULT_MAX_NODES",
    "Edge",
    "Graph",
    "Node",
    "collect",
    "count_nodes",
    "module_of",
    "parameter_names",
]

#: Graphs above this many nodes are refused (a picture of more is unreadable, and
#: Graphviz takes minutes to lay out a few thousand nodes).
DEFAULT_MAX_NODES = 500

GroupBy = Literal["neuron", "layer"]


@dataclass(frozen=True)
class Node:
    """One value of the graph, as it will be drawn.

    ``id`` is a DOT-safe identifier (``n0``, ``n1``, ... in topological order, so
    parents come first and the root is last). ``op`` is the op that made the value
    (``""`` for a leaf) and ``param`` its constant (the 2 of ``x ** 2``, a
    leaky_relu slope) or None. ``name`` is the parameter's dotted name when a
    module was given and the value is one of its parameters; ``cluster`` is the
    module the node was grouped into, or None.
    """

    id: str
    label: str
    data: float
    grad: float
    op: str
    param: float | None
    is_leaf: bool
    name: str | None = None
    cluster: str | None = None


@dataclass(frozen=True)
class Edge:
    """``src`` is an operand of ``dst``; ``local_grad`` is d(dst)/d(src).

    ``slot`` is the operand's position (0 or 1): ``x * x`` has two edges from the
    same node, one per slot, each with its own local derivative.
    """

    src: str
    dst: str
    local_grad: float
    slot: int


@dataclass(frozen=True)
class Graph:
    """The nodes (parents before children, root last), edges and cluster names.

    ``clusters`` lists the clusters that hold at least one node, in the order of the
    module's ``named_parameters()``.
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    root: str
    clusters: tuple[str, ...] = ()

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id`` (KeyError naming it otherwise)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"no node with id {node_id!r}")

    def by_label(self, label: str) -> Node:
        """The first node labelled ``label`` (KeyError naming it otherwise)."""
        for n in self.nodes:
            if n.label == label:
                return n
        raise KeyError(f"no node labelled {label!r}")


def count_nodes(root: Value, limit: int | None = None) -> int:
    """The number of distinct nodes ``root`` depends on (itself included).

    With a ``limit`` the walk stops as soon as it has seen ``limit + 1`` nodes and
    returns ``limit + 1``: deciding that a million-node graph is too big costs
    ``limit`` steps, not a million.
    """
    seen: set[Value] = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent not in seen:
                seen.add(parent)
                if limit is not None and len(seen) > limit:
                    return limit + 1
                stack.append(parent)
    return len(seen)


def _check_max_nodes(max_nodes: Any) -> None:
    if max_nodes is None:
        return
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int):
        raise TypeError(f"max_nodes must be an int or None, not {type(max_nodes).__name__}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")


def parameter_names(module: Any) -> dict[Value, str]:
    """Each parameter of ``module`` (anything with ``named_parameters()``) → its name."""
    named = getattr(module, "named_parameters", None)
    if not callable(named):
        raise TypeError(
            f"module must have a named_parameters() method (an nn.Module), "
            f"not {type(module).__name__}"
        )
    names: dict[Value, str] = {}
    for item in named():
        try:
            name, p = item
        except (TypeError, ValueError):
            raise TypeError(
                f"named_parameters() must yield (name, Value) pairs, got {item!r}"
            ) from None
        if not isinstance(name, str) or not isinstance(p, Value):
            raise TypeError(
                f"named_parameters() must yield (str, Value) pairs, got "
                f"({type(name).__name__}, {type(p).__name__})"
            )
        names.setdefault(p, name)
    return names


def _strip_owner(name: str) -> str:
    """``a.b.3.w.0`` → ``a.b.3``: drop trailing indices, then the attribute name."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    if parts:
        parts.pop()
    return ".".join(parts)


def module_of(name: str, group_by: GroupBy = "neuron") -> str:
    """The module a parameter's dotted name belongs to.

    ``"neuron"`` is the module that owns the parameter (``layers.0.neurons.1.w.0``
    → ``layers.0.neurons.1``); ``"layer"`` is the module holding that one
    (→ ``layers.0``). The empty string is the top-level module itself.
    """
    if group_by not in ("neuron", "layer"):
        raise ValueError(f"group_by must be 'neuron' or 'layer', got {group_by!r}")
    owner = _strip_owner(name)
    return _strip_owner(owner) if group_by == "layer" and owner else owner


def _too_big(limit: int) -> ValueError:
    return ValueError(
        f"the graph has more than max_nodes={limit} nodes, too many to draw readably. "
        "Draw a smaller example (one neuron on one input, e.g. model.layers[0].neurons[0](x)), "
        "or pass a larger max_nodes together with module=model, group_by='layer' "
        "(and collapse=True for one box per layer)"
    )


def collect(
    root: Value,
    *,
    module: Any = None,
    group_by: GroupBy = "neuron",
    max_nodes: int | None = DEFAULT_MAX_NODES,
) -> Graph:
    """Walk the graph of ``root`` (iteratively) into a :class:`Graph`.

    Raises ValueError, without walking the whole graph, when ``root`` depends on
    more than ``max_nodes`` nodes (None: no limit).
    """
    if not isinstance(root, Value):
        raise TypeError(f"root must be a Value, not {type(root).__name__} ({root!r})")
    _check_max_nodes(max_nodes)
    if group_by not in ("neuron", "layer"):
        raise ValueError(f"group_by must be 'neuron' or 'layer', got {group_by!r}")
    names = parameter_names(module) if module is not None else {}
    if max_nodes is not None and count_nodes(root, max_nodes) > max_nodes:
        raise _too_big(max_nodes)

    order = toposort(root)
    ids: dict[Value, str] = {v: f"n{i}" for i, v in enumerate(order)}
    cluster_of: dict[Value, str | None] = {}
    inner: set[Value] = set()  # joined by rule 1 or 2 (or a parameter): may be activated
    clusters: dict[str, None] = {}  # an ordered set
    nodes: list[Node] = []
    edges: list[Edge] = []
    for v in order:
        parents = v.parents
        name = names.get(v)
        cluster: str | None = None
        if name is not None:
            cluster = module_of(name, group_by)
            inner.add(v)
        elif parents:
            cluster, is_inner = _join(v, parents, names, cluster_of, inner)
            if is_inner:
                inner.add(v)
        cluster_of[v] = cluster
        if cluster is not None:
            clusters.setdefault(cluster, None)
        nodes.append(
            Node(
                id=ids[v],
                label=v.label,
                data=v.data,
                grad=v.grad,
                op=v.op,
                param=v.param,
                is_leaf=not parents,
                name=name,
                cluster=cluster,
            )
        )
        for slot, (parent, d) in enumerate(zip(parents, v.local_grads, strict=True)):
            edges.append(Edge(src=ids[parent], dst=ids[v], local_grad=float(d), slot=slot))
    # Clusters in the module's own order (layers.0 before layers.1), not the walk's.
    rank: dict[str, int] = {}
    for name in names.values():
        rank.setdefault(module_of(name, group_by), len(rank))
    ordered = sorted(clusters, key=lambda c: rank.get(c, len(rank)))
    return Graph(tuple(nodes), tuple(edges), ids[root], tuple(ordered))


#: Ops that count as a neuron's activation for clustering (rule 3 above).
ACTIVATION_OPS = frozenset({"tanh", "sigmoid", "relu", "leaky_relu", "softplus", "identity"})


def _join(
    v: Value,
    parents: tuple[Value, ...],
    names: dict[Value, str],
    cluster_of: dict[Value, str | None],
    inner: set[Value],
) -> tuple[str | None, bool]:
    """(the cluster intermediate node ``v`` joins, whether it joined by rule 1 or 2)."""
    from_params = {cluster_of[p] for p in parents if p in names}
    if from_params:
        if len(from_params) == 1:
            return from_params.pop(), True
        return None, False
    if len(parents) == 2:
        a, b = parents
        if cluster_of[a] is not None and cluster_of[a] == cluster_of[b]:
            return cluster_of[a], True
        return None, False
    (a,) = parents
    if v.op in ACTIVATION_OPS and a in inner:
        return cluster_of[a], False
    return None, False
