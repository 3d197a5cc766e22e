"""Record backpropagation as it happens: the forward pass, then the backward pass, step by step.

:func:`record_steps` reads a finished graph (the user has built it; ``backward()``
need not have run) and returns :class:`Steps`: plain data that a page, a folder of
frames or a text listing can replay.

* **Forward**: every node in :func:`engine.toposort` order (parents before children),
  each with its op and the numbers that made it: ``n3 = x * w = 2 × (-3) = -6``.
* **Backward**: every node in the order ``backward()`` finishes it, the moment its
  gradient is final. ``toposort`` returns backward()'s own order: the non-leaf nodes,
  read back to front, are the order in which backward() passes each node's gradient
  on to its parents (a node is passed on once every use of it has given it its
  share). A leaf is finished by the last of its uses to pass on, so it comes right
  after that use. At each node the chain rule is written out with numbers::

      grad(v) = Σ over uses u of v:  grad(u) × ∂u/∂v

  summed in the very order backward() adds the shares, so every recorded gradient
  equals the engine's to the last bit, and :func:`record_steps` checks that it does
  against :func:`engine.gradients` (a mismatch raises RuntimeError).

Nothing is changed on the graph: ``gradients()`` returns d(root)/d(node) without
touching any ``.grad``, so the user's grads (accumulated or not) stay as they were,
and the recorded gradients are those of one backward pass from a zero start (what
``backward()`` adds to ``.grad``).

Walks read the public node protocol (``.parents``, ``.local_grads``, ``.op``,
``.param``) and are iterative.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine import Value, gradients, toposort
from engine.ops import OPS
from viz.graph import DEFAULT_MAX_NODES, Graph, GroupBy, collect

__all__ = ["BackwardStep", "ForwardStep", "Steps", "Term", "record_steps"]

Phase = Literal["forward", "backward"]


def _number(x: float, fmt: Callable[[float], str]) -> str:
    """A number inside a formula: negative ones in parentheses (``2 × (-3)``)."""
    text = fmt(x)
    return f"({text})" if text.startswith("-") else text


def _exact(x: float) -> str:
    """A constant inside a formula (the 2 of ``x ** 2``): shortest exact form."""
    return f"{x:g}" if float(f"{x:g}") == x else repr(x)


@dataclass(frozen=True)
class ForwardStep:
    """One node computed: ``node`` (its id) = ``op`` of ``inputs`` (ids), giving ``data``.

    A leaf has no inputs and ``op == ""``; ``kind`` says what the leaf is
    (``"input"``, ``"parameter"``, ``"constant"``) or ``"op"``.
    """

    node: str
    op: str
    param: float | None
    inputs: tuple[str, ...]
    input_data: tuple[float, ...]
    data: float
    kind: str

    def formula(self, names: dict[str, str]) -> str:
        """``n3 = x * w``, or for a leaf its name and what it is (``x (input)``)."""
        name = names[self.node]
        if not self.inputs:
            return f"{name}  ({self.kind})"
        return f"{name} = {_printed(self.op, [names[i] for i in self.inputs], self.param, _exact)}"

    def numbers(self, fmt: Callable[[float], str]) -> str:
        """``= 2 × (-3) = -6`` (a leaf: ``= 2``)."""
        if not self.inputs:
            return f"= {fmt(self.data)}"
        args = [_number(x, fmt) for x in self.input_data]
        return f"= {_printed(self.op, args, self.param, fmt, numeric=True)} = {fmt(self.data)}"


def _printed(
    op: str,
    args: list[str],
    param: float | None,
    fmt: Callable[[float], str],
    numeric: bool = False,
) -> str:
    """An op applied to ``args``, the way the op table prints it (``x * w``, ``tanh(n4)``).

    With ``numeric`` the operator symbols are the ones a reader writes by hand (×).
    """
    entry = OPS.get(op)
    template = entry.printed if entry is not None and entry.printed else ""
    p = "" if param is None else (_number(param, fmt) if numeric else fmt(param))
    if not template:
        inner = ", ".join(args + ([p] if p else []))
        return f"{op}({inner})"
    x = args[0]
    y = args[1] if len(args) > 1 else ""
    text = template.format(x=x, y=y, p=p)
    if numeric:
        text = text.replace(" * ", " × ")
    return text


@dataclass(frozen=True)
class Term:
    """One use of a node: ``use`` (a node id) took it as operand ``slot``.

    Its share of the gradient is ``use_grad × local`` = grad(use) × ∂use/∂node.
    """

    use: str
    slot: int
    use_grad: float
    local: float

    @property
    def share(self) -> float:
        """grad(use) × ∂use/∂node, as backward() computes it."""
        return self.use_grad * self.local


@dataclass(frozen=True)
class BackwardStep:
    """One node's gradient made final: the sum of its ``terms`` (the root: the seed 1)."""

    node: str
    terms: tuple[Term, ...]
    grad: float

    def formula(self, names: dict[str, str]) -> str:
        """``grad(x) = grad(n3) × ∂n3/∂x + …`` (the root: ``grad(y) = ∂y/∂y``)."""
        name = names[self.node]
        if not self.terms:
            return f"grad({name}) = ∂{name}/∂{name}  (the seed)"
        parts = [f"grad({names[t.use]}) × ∂{names[t.use]}/∂{name}" for t in self.terms]
        return f"grad({name}) = " + " + ".join(parts)

    def numbers(self, fmt: Callable[[float], str]) -> str:
        """``= 1.002 × (-3) + 0.5 × 2 = -2.506`` (the root: ``= 1``)."""
        if not self.terms:
            return f"= {fmt(self.grad)}"
        parts = [f"{_number(t.use_grad, fmt)} × {_number(t.local, fmt)}" for t in self.terms]
        return "= " + " + ".join(parts) + f" = {fmt(self.grad)}"


Step = ForwardStep | BackwardStep


@dataclass(frozen=True)
class Steps:
    """A recorded forward and backward pass over ``graph``.

    ``graph`` is the walked graph (:func:`viz.graph.collect`) with each node's
    ``grad`` set to the recorded d(root)/d(node) and its ``label`` set to the name
    the formulas use (``names``): the user's label, else the parameter's dotted
    name, else the node's id (``n3``), made unique when two nodes share one.
    """

    graph: Graph
    names: dict[str, str]
    forward: tuple[ForwardStep, ...]
    backward: tuple[BackwardStep, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """The forward steps, then the backward steps."""
        return self.forward + self.backward

    def __len__(self) -> int:
        return len(self.forward) + len(self.backward)

    def phase(self, index: int) -> Phase:
        """``"forward"`` or ``"backward"``: which pass step ``index`` belongs to."""
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} out of range (0 to {len(self) - 1})")
        return "forward" if index < len(self.forward) else "backward"

    def lines(self, fmt: Callable[[float], str]) -> list[tuple[str, str]]:
        """(formula, numbers) of every step, numbers formatted by ``fmt``."""
        return [(s.formula(self.names), s.numbers(fmt)) for s in self.steps]

    def to_text(self, fmt: Callable[[float], str] | None = None) -> str:
        """Every step on a line: the forward pass, then the backward pass."""
        fmt = fmt or "{:.4g}".format
        out = []
        for i, (formula, numbers) in enumerate(self.lines(fmt)):
            if i == 0:
                out.append("forward pass (topological order)")
            if i == len(self.forward):
                out.append("backward pass (the order backward() finishes each node)")
            out.append(f"{i + 1:>4}  {formula}  {numbers}")
        return "\n".join(out)


def _names(graph: Graph) -> dict[str, str]:
    """A unique name for every node: label, else parameter name, else id."""
    wanted = {}
    for n in graph.nodes:
        wanted[n.id] = n.label or n.name or n.id
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name] = counts.get(name, 0) + 1
    ids = {n.id for n in graph.nodes}
    names = {}
    for node_id, name in wanted.items():
        clash = counts[name] > 1 or (name in ids and name != node_id)
        names[node_id] = f"{name} ({node_id})" if clash else name
    return names


def _kind(node: Value, name: str | None) -> str:
    if node.parents:
        return "op"
    if name is not None:
        return "parameter"
    return "input" if node.label else "constant"


def record_steps(
    root: Value,
    *,
    module: Any = None,
    group_by: GroupBy = "neuron",
    max_nodes: int | None = DEFAULT_MAX_NODES,
) -> Steps:
    """Record the forward and the backward pass of ``root``'s graph (see the module doc).

    ``module`` (e.g. an ``nn.MLP``) names the parameters and groups them into
    neuron or layer clusters as :func:`viz.to_dot` does; ``max_nodes`` bounds the
    graph's size (ValueError above it). No ``.grad`` is read or changed.
    """
    graph = collect(root, module=module, group_by=group_by, max_nodes=max_nodes)
    order = toposort(root)
    if len(order) != len(graph.nodes):
        raise RuntimeError("record_steps: the walk and the topological order disagree")
    ids = {v: n.id for v, n in zip(order, graph.nodes, strict=True)}
    param_name = {n.id: n.name for n in graph.nodes}
    names = _names(graph)

    # Forward: toposort's order, parents first.
    forward = []
    for v in order:
        parents = v.parents
        forward.append(
            ForwardStep(
                node=ids[v],
                op=v.op,
                param=v.param,
                inputs=tuple(ids[p] for p in parents),
                input_data=tuple(p.data for p in parents),
                data=v.data,
                kind=_kind(v, param_name[ids[v]]),
            )
        )

    # Backward: the non-leaves back to front are backward()'s order of passing on.
    passing = [v for v in reversed(order) if v.parents]
    remaining: dict[Value, int] = {}  # uses not yet passed on, per leaf
    for u in passing:
        for p in u.parents:
            if not p.parents:
                remaining[p] = remaining.get(p, 0) + 1
    grads: dict[Value, float] = {root: 1.0}
    terms: dict[Value, list[Term]] = {}
    backward = []

    def finish(v: Value) -> None:
        found = tuple(terms.get(v, ()))
        if v is not root:
            g = 0.0  # as backward() starts each pass: 0.0 + the shares, in its order
            for t in found:
                g = g + t.share
            grads[v] = g
        backward.append(BackwardStep(node=ids[v], terms=found, grad=grads[v]))

    if not passing:  # a leaf root
        finish(root)
    for u in passing:
        finish(u)
        g = grads[u]
        for slot, (p, d) in enumerate(zip(u.parents, u.local_grads, strict=True)):
            terms.setdefault(p, []).append(Term(ids[u], slot, g, float(d)))
        for p in u.parents:
            if p in remaining:
                remaining[p] -= 1
                if remaining[p] == 0:
                    del remaining[p]
                    finish(p)

    _check_against_engine(root, order, grads, names, ids)
    grad_of = {ids[v]: grads[v] for v in order}
    graph = dataclasses.replace(
        graph,
        nodes=tuple(
            dataclasses.replace(n, grad=grad_of[n.id], label=names[n.id]) for n in graph.nodes
        ),
    )
    return Steps(graph, names, tuple(forward), tuple(backward))


def _check_against_engine(
    root: Value,
    order: list[Value],
    grads: dict[Value, float],
    names: dict[str, str],
    ids: dict[Value, str],
) -> None:
    """Every recorded gradient must equal what the engine computes (bit for bit, up to the
    sign of a zero), or the recording is wrong: raise rather than show it."""
    if len(grads) != len(order):
        raise RuntimeError(
            f"record_steps: {len(order) - len(grads)} nodes were never finished by the "
            "backward pass"
        )
    engine_grads = gradients(root, order)
    for v, expected in zip(order, engine_grads, strict=True):
        if grads[v] != expected:
            raise RuntimeError(
                f"record_steps: the chain rule written out gives grad({names[ids[v]]}) = "
                f"{grads[v]!r}, the engine gives {expected!r}"
            )
