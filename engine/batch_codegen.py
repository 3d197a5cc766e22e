"""Code generation for ``engine.vmap``: one traced sample written out over a batch axis.

The traced graph is split in two:

* *scalar* nodes do not depend on the inputs (parameters, an L2 term, constants): they
  are computed once per call, as plain floats, with ``engine.compile``'s code
  templates (``code_forward``/``code_derivatives`` of the op table);
* *batched* nodes depend on an input: each is one line of numpy over the N samples,
  a float64 array of shape (N,), written with the op's ``batch_forward`` /
  ``batch_derivatives`` templates from the op table. An op without them (a
  ``define_op`` op) is called once per sample through :func:`each` (slow, correct).

The backward pass is the chain rule in the order ``Value.backward()`` uses. At every
edge from a batched node to a scalar one (a parameter's gradient, the weight of a
product) the contribution is summed over the batch there (``np.dot(g, d)``): the
delta rule's Σᵢ δᵢ aᵢ. With ``per_sample=True`` nothing is summed and every
gradient stays an array of N per-sample gradients.

Layer grouping: the sums ``engine.dot`` builds (``b + w0*x0 + w1*x1 + ...``, parameter
weights times batched inputs) that share the same inputs in the same order are one
layer; its pre-activations are one matrix product ``Z = W @ A + b`` (A: the inputs as
rows, (n, N); Z: (k, N)), and backward ``dA = Wᵀ @ dZ``, ``dW = dZ @ Aᵀ`` (summed over
the batch by the product itself: the delta rule's Σᵢ δᵢ aᵢᵀ), ``db = dZ.sum(axis=1)``.
From there, values held as the rows of a matrix stay a matrix where the graph allows:

* the same op on every row (an activation; ``z - m`` with one ``m`` for all rows; a
  product with the rows of another matrix) is one op on the matrix (a *map*), and a
  layer's neurons are put in the order the next layer reads them, so its activations
  are the next layer's A as they are;
* a sum of every row (``s = 0 + e0 + e1 + ...``, a softmax's denominator) is one
  ``M.sum(axis=0)``; backward, every row gets the sum's gradient (a broadcast view);
* backward, the gradients of a matrix's rows are used as that matrix when they are
  the rows of one (``dA`` of the next layer), else stacked.

The same op on the same operands appears once (the ten ``-m`` of a softmax written as
``z - m``); the copies' gradients are added up on it. Matrices are written into
buffers (``out=``) the runtime keeps per batch size.

Generated code contains only text this module wrote (names it made, the op table's
templates, numbers as ``float.__repr__``); labels appear only as comments in the
readable view, escaped as ``engine.compile`` does.
"""

from __future__ import annotations

import ast
import gc
import heapq
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import ops
from engine.backward import toposort
from engine.codegen import (
    ATOM,
    MUL,
    UNARY,
    Expr,
    NameTable,
    SourceLines,
    fill,
    read_template,
)
from engine.trace import Guard
from engine.value import Value

__all__ = ["BatchGenerated", "generate", "Group"]

#: Terms per summation line (longer sums continue on the next line).
MAX_TERMS = 32


@dataclass
class Group:
    """One layer found in the graph: ``k`` dot chains over the same ``n`` inputs."""

    #: the chains' top nodes (the pre-activations), one per neuron
    tops: list[Value]
    #: the shared batched inputs, in order
    inputs: list[Value]
    #: weights[j][m]: the scalar node multiplying inputs[m] in chain j
    weights: list[list[Value]]
    #: the bias (the chain's start) per chain, or None for chains without one
    biases: list[Value] | None
    #: every node of the chains but the tops (products and partial sums)
    inner: set[Value] = field(default_factory=set)


@dataclass
class BatchGenerated(SourceLines):
    """The generated function of one trace and what the runtime needs to call it."""

    lines: list[str]
    labels: dict[int, str]
    namespace: dict[str, Any]
    #: leaves read by reference (parameters, constants), in the ``leaves`` argument's order
    live: list[Value]
    #: leaves whose gradients are returned, in the order they are returned
    grad_leaves: list[Value]
    #: for each aux item that is a Value, its index in the aux items
    aux_returned: list[int]
    #: the lines (indices into ``lines``) that assign a batched array, and its name
    batched_lines: list[tuple[int, str]]
    groups: list[Group]
    n_nodes: int
    #: the arrays ``B`` the function writes into, kept between calls of the same N:
    #: each is (rows, N), or (N,) for rows 0
    buffers: list[int] = field(default_factory=list)

    def debug_source(self) -> str:
        """The source with ``_note(v)`` after every batched line: the slow path that finds
        the first sample with a non-finite number."""
        out: list[str] = []
        at = dict(self.batched_lines)
        for i, line in enumerate(self.lines):
            out.append(line)
            if i in at:
                out.append(f"    _note({at[i]})")
        return "\n".join(out) + "\n"


def _toposort_many(roots: list[Value]) -> list[Value]:
    order: list[Value] = []
    seen: set[Value] = set()
    for r in roots:
        if r in seen:
            continue
        for node in toposort(r):
            if node not in seen:
                seen.add(node)
                order.append(node)
    return order


#: A backward-pass term: its expression, whether it is an array of N samples, and
#: (matrix, row) when it is one row of a matrix.
Term = tuple[Expr, bool, tuple[str, int] | None]


@dataclass
class Vec:
    """Values held as the rows of one (k, N) matrix: a layer's pre-activations, the same
    unary op applied to each of them (the activations), or the inputs."""

    kind: str  # "input", "group" or "map"
    members: list[Value]
    matrix: str
    group: int = -1  # index into the groups, for kind "group"
    source: int = -1  # the vec the op is applied to, for kind "map"
    #: kind "map" of a two-input op: the members' position (0: x, 1: y) and the other
    #: operand, the same node for every row (a batched value broadcast, or a scalar)
    pos: int = 0
    other: Value | None = None
    #: kind "map" of a two-input op whose other operands are rows of another matrix, in
    #: steps of +1 or -1: that matrix's slice, and the other operands
    other_rows: str = ""
    other_members: list[Value] = field(default_factory=list)
    #: the buffer the matrix is written into
    buffer: str = ""


class _Writer(NameTable):
    """Writes the scalar part, the batched forward pass with its guards, and the backward
    pass (reduced over the batch, or per sample)."""

    def __init__(
        self,
        root: Value,
        aux: list[Any],
        guards: list[Guard],
        inputs: list[Value],
        *,
        backward: bool,
        per_sample: bool,
        group: bool,
        arg_sizes: list[int],
    ) -> None:
        self.namespace: dict[str, Any] = {}
        for op in ops.OPS.values():
            self.namespace.update(op.code_names)
        self.per_sample = per_sample
        self.lines: list[str] = []
        self.labels: dict[int, str] = {}
        self.batched_lines: list[tuple[int, str]] = []
        self.buffers: list[int] = []
        self.n_names = 0
        self.generic: dict[tuple[str, str], str] = {}
        self.root = root
        self.guards = guards
        guard_nodes = [v for g in guards for v in (g.x, g.other) if isinstance(v, Value)]
        self.roots = [root, *(a for a in aux if isinstance(a, Value)), *guard_nodes]
        self.order = _toposort_many(self.roots)
        self.index = {node: i for i, node in enumerate(self.order)}
        input_index = {x: i for i, x in enumerate(inputs)}
        self.batched: set[Value] = set()
        self.expr: dict[Value, Expr] = {}
        self.live: list[Value] = []
        self.live_index: dict[Value, int] = {}
        self.parents: dict[Value, tuple[Value, ...]] = {}
        self.users: dict[Value, list[Value]] = {}
        # the same op on the same operands is one value: computed once, and the gradients
        # of its copies added up before it passes them on (10 copies of -max in a softmax)
        self.canon: dict[Value, Value] = {}
        seen: dict[tuple[Any, ...], Value] = {}
        kept: list[Value] = []
        for node in self.order:
            if not node.is_leaf:
                parents = tuple(self.canon.get(q, q) for q in node.parents)
                key = (node.op, parents, node.param)
                first = seen.get(key)
                if first is not None:
                    self.canon[node] = first
                    continue
                seen[key] = node
            kept.append(node)
        self.order = kept
        self.root = root = self.canon.get(root, root)
        self.roots = [self.canon.get(r, r) for r in self.roots]
        for node in self.order:
            if node.is_leaf:
                if node in input_index:
                    self.expr[node] = Expr(f"x{input_index[node]}")
                    self.batched.add(node)
                else:
                    self.expr[node] = Expr(f"p{len(self.live)}")
                    self.live_index[node] = len(self.live)
                    self.live.append(node)
                continue
            parents = tuple(self.canon.get(q, q) for q in node.parents)
            self.parents[node] = parents
            for q in parents:
                self.users.setdefault(q, []).append(node)
                if q in self.batched:
                    self.batched.add(node)
        self.consumers = {q: len(u) for q, u in self.users.items()}
        self.groups: list[Group] = self._find_groups() if group else []
        self.skipped: set[Value] = set()
        for grp in self.groups:
            self.skipped |= grp.inner
        self.vecs: list[Vec] = []
        self.row_of: dict[Value, tuple[int, int]] = {}
        # the inputs: one matrix per argument (its numbers as rows), a{k}
        if sum(arg_sizes) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs but arguments of {arg_sizes} numbers")
        #: per input: (argument, row)
        self.input_at: list[tuple[int, int]] = []
        start = 0
        for k, size in enumerate(arg_sizes):
            members = inputs[start : start + size]
            start += size
            self.input_at += [(k, j) for j in range(size)]
            if any(x in self.index for x in members):
                self._add_vec(Vec("input", members, f"a{k}"))
        self.n_args = len(arg_sizes)
        for gi, grp in enumerate(self.groups):
            self._add_vec(Vec("group", grp.tops, f"Z{gi}", group=gi))
        self.reduces: dict[Value, tuple[int, Value | None, str, bool]] = {}
        if group:
            self._find_maps()
            self._find_reduces()
        self.lines.append("def batch_step(inputs, leaves, n, B):")
        self.lines.append(f"    {''.join(f'a{k}, ' for k in range(len(arg_sizes)))}= inputs")
        unpack = len(self.lines)
        self.lines.append("    # (inputs)")
        self.lines.append("    # (leaves)")
        if self.groups:
            self.lines.append("    P = _array(leaves)")
        self.units = self._unit_order()
        self._write_forward()
        self.aux_returned = [i for i, a in enumerate(aux) if isinstance(a, Value)]
        self.grads: list[tuple[Value, str]] = []
        self.leaf_grads = "()"
        if backward:
            self._write_backward()
        aux_text = "".join(f"{self.node_expr(aux[i]).text}, " for i in self.aux_returned)
        self.lines.append(f"    return {self.expr[root].text}, ({aux_text}), {self.leaf_grads}")
        # the rows and leaves read one by one, named (a layer reads its matrix directly)
        used = set(re.findall(r"\b[xp]\d+\b", "\n".join(self.lines[unpack + 2 :])))
        xs = [f"x{i}" for i in range(len(inputs)) if f"x{i}" in used]
        if xs:
            rows = "".join(
                f"a{self.input_at[int(v[1:])][0]}[{self.input_at[int(v[1:])][1]}], " for v in xs
            )
            self.lines[unpack] = f"    {''.join(f'{v}, ' for v in xs)}= {rows}"
        else:
            self.lines[unpack] = "    # (inputs: no row read one by one)"
        ps = [f"p{i}" for i in range(len(self.live)) if f"p{i}" in used]
        if len(ps) == len(self.live) and ps:
            self.lines[unpack + 1] = f"    {''.join(f'{v}, ' for v in ps)}= leaves"
        elif ps:
            values = "".join(f"leaves[{v[1:]}], " for v in ps)
            self.lines[unpack + 1] = f"    {''.join(f'{v}, ' for v in ps)}= {values}"
        else:
            self.lines[unpack + 1] = "    # (leaves: none read one by one)"

    # --- layers -------------------------------------------------------------------

    def _find_groups(self) -> list[Group]:
        """The dot chains of the graph, grouped by their inputs (see the module docstring).

        A chain is a run of ``+`` nodes, each the only consumer of the one before,
        adding a product ``w * x`` (only consumed there) of a scalar leaf ``w`` and a
        batched ``x``; it starts at a scalar leaf (the bias) or at the first product.
        Nodes the program must name (outputs, guard operands) are never inside a chain.
        """
        roots = set(self.roots)
        leaf_w = {v for v in self.live}

        def product(node: Value) -> tuple[Value, Value] | None:
            """(w, x) of ``w * x`` with w a parameter leaf and x batched, used once."""
            if node.op != "*" or node in roots or self.consumers.get(node, 0) != 1:
                return None
            a, b = self.parents[node]
            if a in leaf_w and b in self.batched:
                return a, b
            if b in leaf_w and a in self.batched:
                return b, a
            return None

        chains: dict[tuple[Value, ...], list[tuple[Value, list[Value], Value | None, set[Value]]]]
        chains = {}
        claimed: set[Value] = set()
        # from the output down, so that a chain's top is met before its partial sums
        for top in reversed(self.order):
            if top.op != "+" or top not in self.batched or top in claimed:
                continue
            # walk down the left spine from the top
            ws: list[Value] = []
            xs: list[Value] = []
            inner: set[Value] = set()
            node = top
            bias: Value | None = None
            ok = True
            while True:
                if node.op == "+" and (node is top or self._inner_ok(node, roots)):
                    left, right = self.parents[node]
                    pr = product(right)
                    if pr is None:
                        ok = False
                        break
                    ws.append(pr[0])
                    xs.append(pr[1])
                    inner.add(right)
                    if node is not top:
                        inner.add(node)
                    node = left
                    continue
                pr = product(node) if self._inner_ok(node, roots) else None
                if pr is not None:
                    ws.append(pr[0])
                    xs.append(pr[1])
                    inner.add(node)
                elif node in leaf_w:
                    bias = node
                else:
                    ok = False
                break
            if not ok or len(xs) < 2 or len(set(xs)) != len(xs):
                # its partial sums are not tried again (a long sum stays linear)
                claimed |= {v for v in inner if v.op == "+"}
                continue
            ws.reverse()
            xs.reverse()
            claimed |= inner
            chains.setdefault(tuple(xs), []).append((top, ws, bias, inner))
        groups: list[Group] = []
        for xs_key, members in chains.items():
            with_bias = [m for m in members if m[2] is not None]
            without = [m for m in members if m[2] is None]
            for part in (with_bias, without):
                if not part:
                    continue
                part.reverse()  # neurons in the order the graph made them
                # a top used inside another chain of the group would be skipped twice
                tops = [m[0] for m in part]
                inner_all: set[Value] = set()
                for m in part:
                    inner_all |= m[3]
                if inner_all & set(tops):
                    continue
                groups.append(
                    Group(
                        tops=tops,
                        inputs=list(xs_key),
                        weights=[m[1] for m in part],
                        biases=[m[2] for m in part] if part is with_bias else None,  # type: ignore[misc]
                        inner=inner_all,
                    )
                )
        self._align(groups)
        return groups

    def _align(self, groups: list[Group]) -> None:
        """Put each layer's neurons in the order the next layer reads them, so that its
        activations are the next layer's input matrix as they are (no copy)."""
        for g2 in groups:
            top_at = {t: (gi, j) for gi, g in enumerate(groups) for j, t in enumerate(g.tops)}
            src = []
            for x in g2.inputs:
                at = top_at.get(x)
                ps = self.parents.get(x, ())
                if at is None and len(ps) == 1 and self.consumers.get(ps[0]) == 1:
                    at = top_at.get(ps[0])
                src.append(at)
            if any(a is None for a in src):
                continue
            gi = src[0][0]  # type: ignore[index]
            g1 = groups[gi]
            perm = [a[1] for a in src]  # type: ignore[index]
            if any(a[0] != gi for a in src) or sorted(perm) != list(range(len(g1.tops))):  # type: ignore[index]
                continue
            g1.tops = [g1.tops[j] for j in perm]
            g1.weights = [g1.weights[j] for j in perm]
            if g1.biases is not None:
                g1.biases = [g1.biases[j] for j in perm]

    def _inner_ok(self, node: Value, roots: set[Value]) -> bool:
        return node not in roots and self.consumers.get(node, 0) == 1 and node in self.batched

    def _add_vec(self, vec: Vec) -> int:
        vi = len(self.vecs)
        self.vecs.append(vec)
        for j, m in enumerate(vec.members):
            self.row_of.setdefault(m, (vi, j))
        return vi

    def _find_maps(self) -> None:
        """The same op applied to every row of a matrix (an activation; ``z - m`` with one
        m for all rows) as one op on the matrix; repeated on the results, so that
        exp(z - m) is two matrix ops."""
        vi = 0
        while vi < len(self.vecs):
            vec = self.vecs[vi]
            vi += 1
            if vec.kind == "input" or len(vec.members) < 2:
                continue
            members = vec.members
            row = {m: j for j, m in enumerate(members)}
            for c0 in list(self.users.get(members[0], ())):
                pattern = self._map_pattern(c0, members[0], row)
                if pattern is None:
                    continue
                maps = [c0]
                for m in members[1:]:
                    found = None
                    for c in self.users.get(m, ()):
                        if self._map_pattern(c, m, row) == pattern:
                            found = c
                            break
                    if found is None:
                        break
                    maps.append(found)
                if len(maps) != len(members) or len(set(maps)) != len(maps):
                    continue
                if any(c in self.row_of for c in maps):
                    continue
                _, _, pos, other = pattern
                if isinstance(other, tuple):  # rows of another matrix: a slice of it?
                    others = [self.parents[c][1 - pos] for c in maps]
                    rows = [self.row_of[o][1] for o in others]
                    step = rows[1] - rows[0]
                    if step not in (1, -1) or any(
                        r != rows[0] + j * step for j, r in enumerate(rows)
                    ):
                        continue
                    mat = self.vecs[other[1]].matrix
                    stop = rows[0] + step * len(rows)
                    sl = (
                        f"{rows[0]}:{stop}"
                        if step == 1
                        else (f"{rows[0]}:{stop}:-1" if stop >= 0 else f"{rows[0]}::-1")
                    )
                    vec_new = Vec("map", maps, f"M{len(self.vecs)}", source=vi - 1, pos=pos)
                    vec_new.other_rows = f"{mat}[{sl}]"
                    vec_new.other_members = others
                    self._add_vec(vec_new)
                    continue
                self._add_vec(
                    Vec("map", maps, f"M{len(self.vecs)}", source=vi - 1, pos=pos, other=other)
                )

    def _map_pattern(self, c: Value, m: Value, row: dict[Value, int]) -> tuple[Any, ...] | None:
        """(op, param, position of m, other operand) of the node c computed from row m."""
        op = ops.OPS.get(c.op)
        if op is None or op.batch_forward is None or op.batch_derivatives is None:
            return None
        if read_template(op.batch_forward).passthrough is not None:
            return None
        parents = self.parents[c]
        if len(parents) == 1:
            return (c.op, c.param, 0, None)
        a, b = parents
        for pos, mine, other in ((0, a, b), (1, b, a)):
            if mine is m and other is not m and other not in row:
                at = self.row_of.get(other)
                if at is not None and other in self.batched:
                    return (c.op, None, pos, ("rows", at[0]))
                return (c.op, None, pos, other)
        return None

    def _find_reduces(self) -> None:
        """Sums of every row of a matrix (``start + e0 + e1 + ...``, in any order): one
        ``M.sum(axis=0)``; backward, each row gets the sum's gradient. Maxima of every
        row (``e0.max(e1).max(e2)...`` with the rows in the matrix's order or its
        reverse): one ``M.max(axis=0)``; backward, the gradient goes to the row that
        won, the first of the chain on a tie, as the chain of ``max`` nodes gives it."""
        roots = set(self.roots)
        tried: set[Value] = set()
        for top in reversed(self.order):
            if (
                top.op not in ("+", "max")
                or top not in self.batched
                or top in tried
                or top in self.skipped
                or top in self.row_of
                or top not in self.parents
            ):
                continue
            rights: list[Value] = []
            inner: list[Value] = []
            node = top
            while True:
                left, right = self.parents[node]
                rights.append(right)
                if node is not top:
                    inner.append(node)
                if (
                    left.op == top.op
                    and left in self.parents
                    and left not in self.row_of
                    and self._inner_ok(left, roots)
                ):
                    node = left
                    continue
                break
            at = self.row_of.get(rights[0])
            if at is None or self.vecs[at[0]].kind == "input":
                tried.update(inner)
                continue
            members = self.vecs[at[0]].members
            start: Value | None = left
            if left in self.row_of and self.row_of[left][0] == at[0]:
                rights.append(left)
                start = None
            if len(rights) != len(members) or set(rights) != set(members):
                tried.update(inner)  # its partial sums are not tried again
                continue
            rev = False
            if top.op == "max":
                order = [self.row_of[v][1] for v in reversed(rights)]  # the chain's order
                k = len(members)
                if start is not None or order not in (list(range(k)), list(range(k))[::-1]):
                    tried.update(inner)
                    continue
                rev = order[0] != 0
            self.skipped.update(inner)
            self.reduces[top] = (at[0], start, top.op, rev)

    def _unit_order(self) -> list[Any]:
        """The batched nodes in an order that computes each matrix (a layer, a map) in
        one place: single nodes, and vec indices."""
        unit: dict[Value, Any] = {}
        for vi, vec in enumerate(self.vecs):
            if vec.kind != "input":
                for m in vec.members:
                    unit[m] = ("vec", vi)
        nodes = [
            n
            for n in self.order
            if n in self.parents and n in self.batched and n not in self.skipped
        ]
        for n in nodes:
            unit.setdefault(n, n)
        key_of: dict[Any, int] = {}
        members: dict[Any, list[Value]] = {}
        for n in nodes:
            u = unit[n]
            key_of.setdefault(u, self.index[n])
            members.setdefault(u, []).append(n)
        deps: dict[Any, set[Any]] = {u: set() for u in members}
        for u, ms in members.items():
            for m in ms:
                for q in self._external_parents(m):
                    uq = unit.get(q)
                    if uq is not None and uq != u:
                        deps[u].add(uq)
        waiting = {u: len(d) for u, d in deps.items()}
        dependents: dict[Any, list[Any]] = {}
        for u, d in deps.items():
            for q in d:
                dependents.setdefault(q, []).append(u)
        ready = [(key_of[u], k, u) for k, u in enumerate(members) if waiting[u] == 0]
        ids = {u: k for k, u in enumerate(members)}
        heapq.heapify(ready)
        out: list[Any] = []
        while ready:
            _, _, u = heapq.heappop(ready)
            out.append(u)
            for d in dependents.get(u, ()):
                waiting[d] -= 1
                if waiting[d] == 0:
                    heapq.heappush(ready, (key_of[d], ids[d], d))
        return [u[1] if isinstance(u, tuple) else u for u in out]

    def _external_parents(self, node: Value) -> list[Value]:
        """What a node needs computed first; for a group's top, the chain's inputs."""
        if node in self.row_of and self.vecs[self.row_of[node][0]].kind == "group":
            return self.groups[self.vecs[self.row_of[node][0]].group].inputs
        if node in self.reduces:
            vi, start, _, _ = self.reduces[node]
            return [*self.vecs[vi].members, *([start] if start is not None else [])]
        return list(self.parents[node])

    # --- pieces -------------------------------------------------------------------

    def fields(self, node: Value) -> dict[str, Expr]:
        parents = self.parents[node]
        if len(parents) == 2:
            return {"x": self.expr[parents[0]], "y": self.expr[parents[1]]}
        param = node.param
        if param is not None:
            return {"x": self.expr[parents[0]], "p": self.const(param)}
        return {"x": self.expr[parents[0]]}

    def emit(self, var: str, text: str, node: Value | None, batched: bool) -> None:
        if node is not None and node.label:
            self.labels[len(self.lines)] = node.label
        if batched:
            self.batched_lines.append((len(self.lines), var))
        self.lines.append(f"    {var} = {text}")

    def node_expr(self, node: Value) -> Expr:
        """The expression of a node (of its first copy, for a repeated computation)."""
        return self.expr[self.canon.get(node, node)]

    def buffer(self, rows: int) -> str:
        """A (rows, N) array kept between calls of the same N (rows 0: shape (N,))."""
        self.buffers.append(rows)
        return f"B[{len(self.buffers) - 1}]"

    def index_array(self, values: Any) -> str:
        """A constant integer array (leaf positions) bound in the namespace."""
        name = self.fresh("_i")
        self.namespace[name] = np.array(values, dtype=np.intp)
        return name

    # --- forward --------------------------------------------------------------------

    def _write_forward(self) -> None:
        position: dict[Value, int] = {}
        for k, u in enumerate(self.units):
            if isinstance(u, int):
                for m in self.vecs[u].members:
                    position[m] = k
            else:
                position[u] = k
        due: dict[int, list[int]] = {}
        for k, g in enumerate(self.guards):
            at = max(
                (
                    position.get(self.canon.get(v, v), -1)
                    for v in (g.x, g.other)
                    if isinstance(v, Value)
                ),
                default=-1,
            )
            due.setdefault(at, []).append(k)
        scalars = [n for n in self.order if n in self.parents and n not in self.batched]
        if scalars:
            self.lines.append("    # once: the values that do not depend on the inputs")
            for node in scalars:
                self._scalar_forward(node)
        self._write_guards(due.get(-1, ()))
        self.lines.append("    # every sample at once: one numpy line per value (or per layer)")
        for k, u in enumerate(self.units):
            if isinstance(u, int):
                vec = self.vecs[u]
                if vec.kind == "group":
                    self._group_forward(u)
                else:
                    self._map_forward(u)
            else:
                self._batched_forward(u)
            if k in due:
                self._write_guards(due[k])

    def _scalar_forward(self, node: Value) -> None:
        op = ops.lookup(node.op)
        fields = self.fields(node)
        if op.code_forward is not None:
            text = fill(read_template(op.code_forward), fields).text
        else:
            args = ", ".join(fields[n].text for n in ("x", "y", "p") if n in fields)
            text = f"{self.ref(node.op, 'forward')}({args})"
        var = f"s{self.index[node]}"
        self.emit(var, text, node, False)
        self.expr[node] = Expr(var)

    def _batched_forward(self, node: Value) -> None:
        if node in self.reduces:
            vi, start, kind, _ = self.reduces[node]
            text = f"{self.vecs[vi].matrix}.{'sum' if kind == '+' else 'max'}(axis=0)"
            if start is not None:
                text += f" + {self.expr[start].text}"
            var = f"v{self.index[node]}"
            self.emit(var, text, node, True)
            self.expr[node] = Expr(var)
            return
        op = ops.lookup(node.op)
        fields = self.fields(node)
        if op.batch_forward is not None:
            t = read_template(op.batch_forward)
            if t.passthrough is not None:
                self.expr[node] = fields[t.passthrough]
                return
            text = fill(t, fields).text
        else:
            args = ", ".join(fields[n].text for n in ("x", "y", "p") if n in fields)
            text = f"_each(n, {self.ref(node.op, 'forward')}, {args})"
        var = f"v{self.index[node]}"
        self.emit(var, text, node, True)
        self.expr[node] = Expr(var)

    def _matrix_of(self, nodes: list[Value]) -> str | None:
        """``M[a:b]`` when ``nodes`` are consecutive rows of one matrix, in order."""
        at = self.row_of.get(nodes[0])
        if at is None:
            return None
        vi, j0 = at
        for m, node in enumerate(nodes):
            if self.row_of.get(node) != (vi, j0 + m):
                return None
        vec = self.vecs[vi]
        if j0 == 0 and len(nodes) == len(vec.members):
            return vec.matrix
        return f"{vec.matrix}[{j0}:{j0 + len(nodes)}]"

    def _group_forward(self, vi: int) -> None:
        vec = self.vecs[vi]
        gi = vec.group
        grp = self.groups[gi]
        k, n_in = len(grp.tops), len(grp.inputs)
        iw = self.index_array([[self.live_index[w] for w in row] for row in grp.weights])
        self.lines.append(f"    W{gi} = P[{iw}]")
        a = self._matrix_of(grp.inputs)
        if a is None:
            a = f"A{gi}"
            rows = "".join(f"{self.expr[x].text}, " for x in grp.inputs)
            self.emit(a, f"_stack({self.buffer(n_in)}, ({rows}))", None, False)
        self.group_input = getattr(self, "group_input", {})
        self.group_input[gi] = a
        z = vec.matrix
        vec.buffer = self.buffer(k)
        self.emit(z, f"_matmul(W{gi}, {a}, out={vec.buffer})", None, True)
        if grp.biases is not None:
            ib = self.index_array([self.live_index[b] for b in grp.biases])
            self.lines.append(f"    {z} += P[{ib}][:, None]")
        for j, top in enumerate(grp.tops):
            self.expr[top] = Expr(f"{z}[{j}]")

    def _map_fields(self, vec: Vec) -> dict[str, Expr]:
        """The fields of the op of a map: the source matrix, the other operand (a row
        vector broadcast over the rows), the constant."""
        src = Expr(self.vecs[vec.source].matrix)
        first = vec.members[0]
        if vec.other_rows:
            rows = Expr(vec.other_rows)
            return {"x": src, "y": rows} if vec.pos == 0 else {"x": rows, "y": src}
        if vec.other is None:
            fields = {"x": src}
            if first.param is not None:
                fields["p"] = self.const(first.param)
            return fields
        other = self.expr[vec.other]
        if vec.other in self.batched:
            other = Expr(
                f"{other.text}[None, :]" if other.prec == ATOM else f"({other.text})[None, :]"
            )
        return {"x": src, "y": other} if vec.pos == 0 else {"x": other, "y": src}

    def _in_place(self, vec: Vec) -> bool:
        """Whether a map may overwrite its source matrix: a one-input op whose derivative
        reads only its result, on a matrix nothing else reads (an activation after a
        layer: torch keeps only the activation, and so do we)."""
        if vec.other is not None or vec.other_rows:
            return False
        src = self.vecs[vec.source]
        op = ops.lookup(vec.members[0].op)
        if src.kind == "input" or not src.buffer or not op.batch_derivatives:
            return False
        if any(n in read_template(t).uses for t in op.batch_derivatives for n in ("x", "y")):
            return False
        roots = set(self.roots)
        return all(len(self.users.get(m, ())) == 1 and m not in roots for m in src.members)

    def _map_forward(self, vi: int) -> None:
        vec = self.vecs[vi]
        op = ops.lookup(vec.members[0].op)
        text = fill(read_template(op.batch_forward or ""), self._map_fields(vec)).text
        in_place = self._in_place(vec)
        vec.buffer = self.vecs[vec.source].buffer if in_place else self.buffer(len(vec.members))
        written = _with_out(text, vec.buffer)
        if written == text:  # not one ufunc: a new array (the source is kept)
            vec.buffer = ""
        self.emit(vec.matrix, written, None, True)
        for j, m in enumerate(vec.members):
            self.expr[m] = Expr(f"{vec.matrix}[{j}]")

    def _write_guards(self, which: Any) -> None:
        """The guards due at one point: one quick test of all of them, and only when it
        fails, each guard in order (the first that some sample misses raises, naming
        that sample, exactly as when each guard is checked on its own)."""
        which = list(which)
        if not which:
            return
        indent = "    "
        quick = self._guards_quick(which)
        if quick:
            self.lines.append(f"    if not ({' and '.join(quick)}):")
            indent = "        "
        for k in which:
            g = self.guards[k]
            left = self.node_expr(g.x)
            right = self.node_expr(g.other) if isinstance(g.other, Value) else self.const(g.other)
            self.lines.append(f"{indent}_guard({k}, {left.text} {g.op} {right.text})")

    def _guards_quick(self, which: list[int]) -> list[str]:
        """Tests that are all True when every sample gives every guard of ``which`` its
        traced result (False may also mean a NaN: the guards are then checked one by one).

        A batched value against a number ``c``: ``x >= c`` holds for every sample iff
        ``x.min() >= c`` (``<=``: ``x.max()``); the guards on rows of one matrix with the
        same comparison and number are one reduction over those rows. A result False is
        the opposite comparison (``not x >= c`` is ``x < c`` but for NaN, which fails the
        test). Any other comparison is one test over the batch (``.all()``)."""
        opposite = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
        rows: dict[tuple[int, str, float], list[int]] = {}
        tests: list[str] = []
        if any(self.guards[k].op not in opposite for k in which):
            return []
        for k in which:
            g = self.guards[k]
            x = self.canon.get(g.x, g.x)
            op = g.op if g.result else opposite[g.op]
            if isinstance(g.other, Value):
                other = self.canon.get(g.other, g.other)
                test = f"({self.expr[x].text}) {op} ({self.expr[other].text})"
                if x in self.batched or other in self.batched:
                    test = f"({test}).all()"
                tests.append(test)
                continue
            if x not in self.batched:
                tests.append(f"({self.expr[x].text}) {op} {self.const(g.other).text}")
                continue
            at = self.row_of.get(x)
            if at is not None and type(g.other) is float:
                rows.setdefault((at[0], op, g.other), []).append(at[1])
                continue
            reduce = "min" if op in (">=", ">") else "max"
            tests.append(f"({self.expr[x].text}).{reduce}() {op} {self.const(g.other).text}")
        for (vi, op, c), js in rows.items():
            reduce = "min" if op in (">=", ">") else "max"
            tests.append(
                f"{self._rows_of(vi, sorted(set(js)))}.{reduce}() {op} {self.const(c).text}"
            )
        return tests

    def _rows_of(self, vi: int, js: list[int]) -> str:
        """Rows ``js`` (sorted, distinct) of vec ``vi``'s matrix: a slice when they are
        consecutive, else an index array (a copy)."""
        mat = self.vecs[vi].matrix
        if len(js) == len(self.vecs[vi].members):
            return mat
        if js == list(range(js[0], js[-1] + 1)):
            return f"{mat}[{js[0]}:{js[-1] + 1}]"
        return f"{mat}[{self.index_array(js)}]"

    # --- backward -------------------------------------------------------------------

    def _write_backward(self) -> None:
        wanted = set(self.live)
        leads: set[Value] = set(wanted)
        for node, parents in self.parents.items():
            for q in parents:
                if q in leads:
                    leads.add(node)
                    break
        self.leads = leads
        self.lines.append("    # backward: the chain rule, from the output down")
        #: gradient matrices read by one consumer only, which may write over them
        self.scratch: set[str] = set()
        if not self.per_sample:
            self.lines.append(f"    G = _zeros({len(self.live)})")
        # each term: (expression, whether it is an array of N samples, (matrix, row) when
        # it is a row of a matrix)
        self.contributions: dict[Value, list[Term]] = {}
        one = Expr("1.0", ATOM, const=1.0)
        if self.root in self.batched or self.per_sample:
            self.contributions[self.root] = [(one, False, None)]
        else:
            # the loss does not depend on the inputs: summed over N samples
            self.contributions[self.root] = [(Expr("n"), False, None)]
        sequence: list[Any] = list(reversed(self.units))
        sequence += [n for n in reversed(self.order) if n in self.parents and n not in self.batched]
        sequence += [n for n in self.live]
        reduced: list[tuple[int, str]] = []
        for u in sequence:
            if isinstance(u, int):
                if self.vecs[u].kind == "group":
                    self._group_backward(u)
                else:
                    self._map_backward(u)
                continue
            node = u
            terms = self.contributions.pop(node, None)
            if terms is None or node not in leads:
                continue
            if node not in self.parents:  # a parameter
                g, _ = self._sum_terms(node, terms)
                if self.per_sample:
                    self.grads.append((node, g.text))
                else:
                    reduced.append((self.live_index[node], g.text))
                continue
            g, g_arr = self._sum_terms(node, terms)
            if node in self.reduces:
                self._reduce_backward(node, g, g_arr)
            else:
                self._node_backward(node, g, g_arr)
        if self.per_sample:
            self.leaf_grads = "(" + "".join(f"{g}, " for _, g in self.grads) + ")"
            return
        if reduced:
            ir = self.index_array([i for i, _ in reduced])
            for start in range(0, len(reduced), MAX_TERMS * 8):
                chunk = reduced[start : start + MAX_TERMS * 8]
                part = ir if len(chunk) == len(reduced) else f"{ir}[{start}:{start + len(chunk)}]"
                self.lines.append(f"    G[{part}] += ({''.join(f'{g}, ' for _, g in chunk)})")
        self.grads = [(v, "") for v in self.live]
        self.leaf_grads = "G"

    def _sum_terms(self, node: Value, terms: list[Term]) -> tuple[Expr, bool]:
        arr = any(a for _, a, _ in terms)
        if len(terms) == 1 and terms[0][0].prec == ATOM:
            return terms[0][0], arr
        var = f"g{self.index[node]}" if not node.is_leaf else f"g{self.expr[node].text}"
        texts = [t.text if t.prec > 1 else f"({t.text})" for t, _, _ in terms]
        for start in range(0, len(texts), MAX_TERMS):
            chunk = texts[start : start + MAX_TERMS]
            head = [var] if start else []
            self.emit(var, " + ".join(head + chunk), None, arr)
        return Expr(var), arr

    def _gather(self, members: list[Value]) -> str | None:
        """The gradients of ``members`` as one (k, N) matrix: an existing one when each
        member's gradient is that matrix's row in order, else stacked; None if none has
        a gradient."""
        terms = [self.contributions.pop(m, None) for m in members]
        if all(t is None for t in terms):
            return None
        rows = [t[0][2] if t is not None and len(t) == 1 else None for t in terms]
        if rows[0] is not None and all(
            r is not None and r[0] == rows[0][0] and r[1] == j for j, r in enumerate(rows)
        ):
            return rows[0][0]
        # each member's gradient the sum of the same matrices' rows: the matrices' sum
        first = terms[0]
        if first is not None and len(first) > 1:
            mats = [r[0] for _, _, r in first if r is not None]
            if len(mats) == len(first) and all(
                t is not None
                and len(t) == len(mats)
                and all(r is not None and r[1] == j for _, _, r in t)
                and sorted(r[0] for _, _, r in t if r is not None) == sorted(mats)
                for j, t in enumerate(terms)
            ):
                name = self.fresh("dS")
                buf = self.buffer(len(members))
                self.emit(name, f"np.add({mats[0]}, {mats[1]}, out={buf})", None, True)
                for mat in mats[2:]:
                    self.lines.append(f"    {name} += {mat}")
                self.scratch.add(name)
                return name
        texts = []
        for m, t in zip(members, terms):
            if t is None:
                texts.append("0.0")
            else:
                texts.append(self._sum_terms(m, t)[0].text)
        name = self.fresh("dS")
        self.emit(
            name,
            f"_stack({self.buffer(len(members))}, ({''.join(f'{x}, ' for x in texts)}))",
            None,
            True,
        )
        self.scratch.add(name)
        return name

    def _node_backward(self, node: Value, g: Expr, g_arr: bool) -> None:
        op = ops.lookup(node.op)
        batched = node in self.batched
        fields = self.fields(node)
        fields["out"] = self.expr[node]
        parents = self.parents[node]
        templates = op.batch_derivatives if batched else op.code_derivatives
        derivs: list[tuple[Expr, bool]] = []
        if templates is not None:
            for t_text in templates:
                t = read_template(t_text)
                e = fill(t, fields)
                arr = batched and any(
                    name in t.uses for name in ("x", "y", "out") if self._field_batched(node, name)
                )
                derivs.append((e, arr))
        else:
            k = self.index[node]
            rule = self.ref(node.op, "derivative")
            x = fields["x"].text
            out = fields["out"].text
            args = f"{x}, {fields['y'].text}, {out}" if "y" in fields else f"{x}, {out}"
            if "p" in fields:
                args += f", {fields['p'].text}"
            names = [f"d{k}a", f"d{k}b"] if len(parents) == 2 else [f"d{k}"]
            call = (
                f"_each_rule(n, {rule}, {len(parents)}, {args})" if batched else f"{rule}({args})"
            )
            self.emit(", ".join(names), call, None, False)
            derivs = [(Expr(nm), batched) for nm in names]
        for q, (d, d_arr) in zip(parents, derivs):
            if q not in self.leads:
                continue
            if batched and q not in self.batched and not self.per_sample:
                term = (self._reduce(g, g_arr, d, d_arr), False, None)
            else:
                term = (_times(g, d), g_arr or d_arr, None)
            self.contributions.setdefault(q, []).append(term)

    def _reduce_backward(self, node: Value, g: Expr, g_arr: bool) -> None:
        vi, start, kind, rev = self.reduces[node]
        vec = self.vecs[vi]
        if any(m in self.leads for m in vec.members):
            dr = f"dR{self.index[node]}"
            if kind == "max":
                top = self.expr[node].text
                buf = self.buffer(len(vec.members))
                self.emit(dr, f"_max_rows({g.text}, {vec.matrix}, {top}, {rev}, {buf})", None, True)
            else:
                self.emit(dr, f"_repeat({g.text}, {len(vec.members)}, n)", None, False)
            for j, m in enumerate(vec.members):
                if m in self.leads:
                    self.contributions.setdefault(m, []).append((Expr(f"{dr}[{j}]"), True, (dr, j)))
        if start is not None and start in self.leads:
            one = Expr("1.0", const=1.0)
            if start not in self.batched and not self.per_sample:
                term: Term = (self._reduce(g, g_arr, one, False), False, None)
            else:
                term = (g, g_arr, None)
            self.contributions.setdefault(start, []).append(term)

    def _field_batched(self, node: Value, name: str) -> bool:
        if name == "out":
            return node in self.batched
        parents = self.parents[node]
        if name == "x":
            return parents[0] in self.batched
        if name == "y":
            return len(parents) == 2 and parents[1] in self.batched
        return False

    def _reduce(self, g: Expr, g_arr: bool, d: Expr, d_arr: bool) -> Expr:
        """Σ over the batch of g * d (the edge into a node that is not batched)."""
        if g_arr and d_arr:
            return Expr(f"_dot({g.text}, {d.text})")
        if g_arr:
            s = Expr(f"{g.text}.sum()" if g.prec == ATOM else f"({g.text}).sum()")
            return s if d.const == 1.0 else _times(s, d)
        if d_arr:
            s = Expr(f"{d.text}.sum()" if d.prec == ATOM else f"({d.text}).sum()")
            return s if g.const == 1.0 else _times(g, s)
        return _times(_times(g, d), Expr("n"))

    def _map_backward(self, vi: int) -> None:
        vec = self.vecs[vi]
        src = self.vecs[vec.source]
        dm = self._gather(vec.members)
        if dm is None:
            return
        op = ops.lookup(vec.members[0].op)
        fields = self._map_fields(vec)
        fields["out"] = Expr(vec.matrix)
        derivs = [fill(read_template(t), fields) for t in op.batch_derivatives or ()]
        k = len(vec.members)
        if any(m in self.leads for m in src.members):
            d = derivs[vec.pos]
            if d.const == 1.0:
                dv = dm
            else:
                dv = f"dM{vi}"
                dt = _mask(d.text) or (d.text if d.prec > MUL else f"({d.text})")
                # the incoming gradient, when nothing else reads it, is overwritten
                unary = vec.other is None and not vec.other_rows
                buf = dm if unary and dm in self.scratch else self.buffer(k)
                self.emit(dv, f"np.multiply({dm}, {dt}, out={buf})", None, True)
                self.scratch.add(dv)
            for j, m in enumerate(src.members):
                if m in self.leads:
                    row: Term = (Expr(f"{dv}[{j}]"), True, (dv, j))
                    self.contributions.setdefault(m, []).append(row)
        if vec.other_rows and any(o in self.leads for o in vec.other_members):
            d = derivs[1 - vec.pos]
            do = f"dO{vi}"
            self.emit(do, _times(Expr(dm), d).text, None, True)
            for j, o in enumerate(vec.other_members):
                if o in self.leads:
                    self.contributions.setdefault(o, []).append((Expr(f"{do}[{j}]"), True, None))
        other = vec.other
        if other is not None and other in self.leads:
            d = derivs[1 - vec.pos]
            if d.const == 1.0:
                total = f"{dm}.sum(axis=0)"
            else:
                total = f"({_times(Expr(dm), d).text}).sum(axis=0)"
            term: Term
            if other in self.batched or self.per_sample:
                term = (Expr(f"o{vi}"), True, None)
            else:
                total = f"{total}.sum()"
                term = (Expr(f"o{vi}"), False, None)
            self.emit(f"o{vi}", total, None, term[1])
            self.contributions.setdefault(other, []).append(term)

    def _group_backward(self, vi: int) -> None:
        vec = self.vecs[vi]
        gi = vec.group
        grp = self.groups[gi]
        dz = self._gather(grp.tops)
        if dz is None:
            return
        a = self.group_input[gi]
        w = f"W{gi}"
        if any(x in self.leads for x in grp.inputs):
            da = f"dA{gi}"
            self.emit(da, f"_matmul({w}.T, {dz}, out={self.buffer(len(grp.inputs))})", None, True)
            self.scratch.add(da)
            for m, x in enumerate(grp.inputs):
                if x in self.leads:
                    term = (Expr(f"{da}[{m}]"), True, (da, m))
                    self.contributions.setdefault(x, []).append(term)
        if self.per_sample:
            dw = f"dW{gi}"
            self.lines.append(f"    {dw} = {dz}[:, None, :] * {a}[None, :, :]")
            for j, row in enumerate(grp.weights):
                for m, wv in enumerate(row):
                    self.contributions.setdefault(wv, []).append(
                        (Expr(f"{dw}[{j}, {m}]"), True, None)
                    )
            if grp.biases is not None:
                for j, b in enumerate(grp.biases):
                    self.contributions.setdefault(b, []).append((Expr(f"{dz}[{j}]"), True, None))
            return
        # reduced: the delta rule, Σᵢ δᵢ aᵢᵀ, as one matrix product
        iw = [[self.live_index[w] for w in row] for row in grp.weights]
        flat = [i for row in iw for i in row]
        name = self.index_array(iw)
        if len(set(flat)) == len(flat):
            self.lines.append(f"    G[{name}] += {dz} @ {a}.T")
        else:
            self.lines.append(f"    _add_at(G, {name}, {dz} @ {a}.T)")
        if grp.biases is not None:
            ib = [self.live_index[b] for b in grp.biases]
            name = self.index_array(ib)
            if len(set(ib)) == len(ib):
                self.lines.append(f"    G[{name}] += {dz}.sum(axis=1)")
            else:
                self.lines.append(f"    _add_at(G, {name}, {dz}.sum(axis=1))")


_UFUNC_OF_BINOP = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


def _with_out(text: str, buf: str) -> str:
    """``text`` writing its result into ``buf``, when its last operation is a numpy ufunc
    call or an arithmetic operator (else ``text`` itself: a new array)."""
    tree = ast.parse(text, mode="eval").body
    if isinstance(tree, ast.Call) and not tree.keywords:
        f = tree.func
        if (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and f.value.id == "np"
            and isinstance(getattr(np, f.attr, None), np.ufunc)
        ):
            return f"{text[:-1]}, out={buf})"
    if isinstance(tree, ast.BinOp) and type(tree.op) in _UFUNC_OF_BINOP:
        left = ast.get_source_segment(text, tree.left)
        right = ast.get_source_segment(text, tree.right)
        return f"np.{_UFUNC_OF_BINOP[type(tree.op)]}({left}, {right}, out={buf})"
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
        return f"np.negative({ast.get_source_segment(text, tree.operand)}, out={buf})"
    return text


def _times(g: Expr, d: Expr) -> Expr:
    """g * d, with the constants 1 and -1 folded away."""
    if d.const == 1.0:
        return g
    if g.const == 1.0:
        return d
    if d.const == -1.0:
        return Expr(f"-{g.text}", UNARY) if g.prec >= UNARY else Expr(f"-({g.text})", UNARY)
    a = g.text if g.prec >= MUL else f"({g.text})"
    mask = _mask(d.text)
    if mask is not None:  # g times the condition itself: no array of ones and zeros
        return Expr(f"{a} * ({mask})", MUL)
    b = d.text if d.prec > MUL else f"({d.text})"
    return Expr(f"{a} * {b}", MUL)


def _mask(text: str) -> str | None:
    """``c`` for a derivative written ``np.where(c, 1.0, 0.0)``: as a factor, the boolean
    array c gives the same numbers (g * True = g, g * False = g * 0.0), without
    making an array of ones and zeros first."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Attribute)
        and isinstance(tree.func.value, ast.Name)
        and tree.func.value.id == "np"
        and tree.func.attr == "where"
        and len(tree.args) == 3
        and not tree.keywords
        and all(isinstance(a, ast.Constant) for a in tree.args[1:])
        and [a.value for a in tree.args[1:]] == [1.0, 0.0]  # type: ignore[attr-defined]
    ):
        return ast.get_source_segment(text, tree.args[0])
    return None


def generate(
    root: Value,
    aux: list[Any],
    guards: list[Guard],
    inputs: list[Value],
    *,
    backward: bool,
    per_sample: bool,
    group: bool = True,
    arg_sizes: list[int] | None = None,
) -> BatchGenerated:
    """Write ``batch_step(inputs, leaves, n, B)`` for one traced graph.

    ``inputs``: one array per argument of ``f``, ``(size, N)`` with one row per number
    of a sample of that argument, ``arg_sizes`` the numbers per argument (in the order
    of the traced ``inputs``; None: one argument holding them all). The function never
    writes into them (the runtime hands it the caller's arrays, read-only views);
    ``leaves``: the numbers of the captured leaves; ``n``: N as a float; ``B``: the
    buffers (see :attr:`BatchGenerated.buffers`). It returns ``(output, aux values,
    leaf gradients)``: arrays (N,) for what depends on the inputs, floats otherwise;
    the gradients are one array over the leaves summed over the batch, or with
    ``per_sample=True`` one array (N,) (or a float) per leaf of ``grad_leaves``.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        w = _Writer(
            root,
            aux,
            guards,
            inputs,
            backward=backward,
            per_sample=per_sample,
            group=group,
            arg_sizes=[len(inputs)] if arg_sizes is None else arg_sizes,
        )
    finally:
        if collecting:
            gc.enable()
    return BatchGenerated(
        lines=w.lines,
        labels=w.labels,
        namespace=w.namespace,
        live=w.live,
        grad_leaves=[v for v, _ in w.grads],
        aux_returned=w.aux_returned,
        batched_lines=w.batched_lines,
        groups=w.groups,
        n_nodes=len(w.order),
        buffers=w.buffers,
    )
