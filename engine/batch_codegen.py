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

Layer grouping: the sums ``engine.dot`` builds (``b + w0*x0 + w1*x1 + ...``, scalar
weights times batched inputs) that share the same inputs in the same order are one
layer; its pre-activations are one matrix product ``Z = W @ A + b`` (A: the inputs
stacked as rows, (n, N); Z: (k, N)), and backward ``dA = Wᵀ @ dZ``, ``dW = dZ @ Aᵀ``
(summed over the batch by the product itself), ``db = dZ.sum(axis=1)``.

Generated code contains only text this module wrote (names it made, the op table's
templates, numbers as ``float.__repr__``); labels appear only as comments in the
readable view, escaped as ``engine.compile`` does.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

from engine import ops
from engine.backward import toposort
from engine.codegen import ATOM, MUL, UNARY, Expr, escape, fill, read_template
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
class BatchGenerated:
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

    @property
    def source(self) -> str:
        """The executed source, as one string."""
        return "\n".join(self.lines) + "\n"

    def view(self) -> str:
        """The source with each labelled value's label shown as a comment (escaped)."""
        shown = [
            f"{line}  # {escape(self.labels[i])}" if i in self.labels else line
            for i, line in enumerate(self.lines)
        ]
        return "\n".join(shown) + "\n"

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


class _Writer:
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
    ) -> None:
        self.namespace: dict[str, Any] = {}
        for op in ops.OPS.values():
            self.namespace.update(op.code_names)
        self.per_sample = per_sample
        self.lines: list[str] = []
        self.labels: dict[int, str] = {}
        self.batched_lines: list[tuple[int, str]] = []
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
        self.parents: dict[Value, tuple[Value, ...]] = {}
        self.consumers: dict[Value, int] = {}
        for node in self.order:
            if node.is_leaf:
                if node in input_index:
                    self.expr[node] = Expr(f"x{input_index[node]}")
                    self.batched.add(node)
                else:
                    self.expr[node] = Expr(f"p{len(self.live)}")
                    self.live.append(node)
                continue
            parents = node.parents
            self.parents[node] = parents
            for q in parents:
                self.consumers[q] = self.consumers.get(q, 0) + 1
                if q in self.batched:
                    self.batched.add(node)
        self.groups: list[Group] = self._find_groups() if group else []
        self.in_group: dict[Value, tuple[int, int]] = {}
        for gi, grp in enumerate(self.groups):
            for j, top in enumerate(grp.tops):
                self.in_group[top] = (gi, j)
        self.skipped: set[Value] = set()
        for grp in self.groups:
            self.skipped |= grp.inner
        self.lines.append("def batch_step(inputs, leaves, n):")
        if inputs:
            self.lines.append(f"    {''.join(f'x{i}, ' for i in range(len(inputs)))}= inputs")
        if self.live:
            self.lines.append(f"    {''.join(f'p{i}, ' for i in range(len(self.live)))}= leaves")
        self._write_forward()
        self.aux_returned = [i for i, a in enumerate(aux) if isinstance(a, Value)]
        self.grads: list[tuple[Value, str]] = []
        if backward:
            self._write_backward()
        aux_text = "".join(f"{self.expr[aux[i]].text}, " for i in self.aux_returned)
        grad_text = "".join(f"{g}, " for _, g in self.grads)
        self.lines.append(f"    return {self.expr[root].text}, ({aux_text}), ({grad_text})")

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
        # the tops of one group must not be inputs of a group computed before it in a
        # way the order cannot satisfy: groups are written when their last top is due
        return groups

    def _inner_ok(self, node: Value, roots: set[Value]) -> bool:
        return node not in roots and self.consumers.get(node, 0) == 1 and node in self.batched

    # --- pieces -------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        while True:
            name = f"{prefix}{self.n_names}"
            self.n_names += 1
            if name not in self.namespace:
                return name

    def const(self, x: Any) -> Expr:
        if type(x) is float and x - x == 0.0:
            text = float.__repr__(x)
            return Expr(text, UNARY if text.startswith("-") else ATOM, const=x)
        name = self.fresh("_k")
        self.namespace[name] = x
        return Expr(name, ATOM, const=x if type(x) is float else None)

    def ref(self, op_name: str, kind: str) -> str:
        key = (op_name, kind)
        name = self.generic.get(key)
        if name is None:
            op = ops.lookup(op_name)
            fn = op.forward if kind == "forward" else op.derivative
            if fn is None:
                raise NotImplementedError(f"no derivative rule for op {op_name!r}")
            name = self.fresh(f"_{kind[0]}")
            self.namespace[name] = fn
            self.generic[key] = name
        return name

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

    # --- forward --------------------------------------------------------------------

    def _write_forward(self) -> None:
        due: dict[int, list[int]] = {}
        for k, g in enumerate(self.guards):
            at = max(
                (self.index[v] for v in (g.x, g.other) if isinstance(v, Value) and not v.is_leaf),
                default=-1,
            )
            due.setdefault(at, []).append(k)
        scalars = [n for n in self.order if n in self.parents and n not in self.batched]
        if scalars:
            self.lines.append("    # once: the values that do not depend on the inputs")
            for node in scalars:
                self._scalar_forward(node)
        self._write_guards(due.get(-1, ()))
        for node in scalars:
            k = self.index[node]
            if k in due:
                self._write_guards(due.pop(k))
        self.lines.append("    # every sample at once: one numpy line per value")
        # a group's matrix product is written where its first top is due
        written: set[int] = set()
        for i, node in enumerate(self.order):
            if node not in self.parents or node not in self.batched or node in self.skipped:
                continue
            member = self.in_group.get(node)
            if member is not None:
                if member[0] not in written:
                    written.add(member[0])
                    self._group_forward(member[0])
            else:
                self._batched_forward(node)
            if i in due:
                self._write_guards(due[i])

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

    def _group_forward(self, gi: int) -> None:
        grp = self.groups[gi]
        w_name = f"W{gi}"
        rows = "".join(
            "(" + "".join(f"{self.expr[w].text}, " for w in row) + "), " for row in grp.weights
        )
        self.lines.append(f"    {w_name} = _matrix(({rows}))")
        a_name = f"A{gi}"
        self.emit(a_name, self._stack([self.expr[x].text for x in grp.inputs]), None, False)
        z = f"Z{gi}"
        if grp.biases is not None:
            b = "".join(f"{self.expr[v].text}, " for v in grp.biases)
            text = f"_affine({w_name}, {a_name}, ({b}))"
        else:
            text = f"{w_name} @ {a_name}"
        self.emit(z, text, None, True)
        for j, top in enumerate(grp.tops):
            var = f"v{self.index[top]}"
            self.emit(var, f"{z}[{j}]", top, False)
            self.expr[top] = Expr(var)

    def _stack(self, names: list[str]) -> str:
        """One (len(names), N) array with the rows given (floats broadcast)."""
        return "_stack(n, (" + "".join(f"{n}, " for n in names) + "))"

    def _write_guards(self, which: Any) -> None:
        for k in which:
            g = self.guards[k]
            left = self.expr[g.x]
            right = self.expr[g.other] if isinstance(g.other, Value) else self.const(g.other)
            self.lines.append(f"    _guard({k}, {left.text} {g.op} {right.text})")

    # --- backward -------------------------------------------------------------------

    def _write_backward(self) -> None:
        wanted = set(self.live)
        leads: set[Value] = set(wanted)
        for node, parents in self.parents.items():
            for q in parents:
                if q in leads:
                    leads.add(node)
                    break
        self.lines.append("    # backward: the chain rule, from the output down")
        # each term: (expression, whether it is an array of N samples)
        contributions: dict[Value, list[tuple[Expr, bool]]] = {}
        one = Expr("1.0", ATOM, const=1.0)
        if self.root in self.batched or self.per_sample:
            contributions[self.root] = [(one, False)]
        else:
            # the loss does not depend on the inputs: summed over N samples
            contributions[self.root] = [(Expr("n"), False)]
        # a layer's backward is written at its first top in the graph's order: the last
        # of its tops the backward pass meets
        first_top = {gi: min(self.index[t] for t in grp.tops) for gi, grp in enumerate(self.groups)}
        group_grads: dict[int, list[Expr]] = {
            gi: [Expr("0.0", const=0.0)] * len(grp.tops) for gi, grp in enumerate(self.groups)
        }
        group_live: set[int] = set()
        for node in reversed(self.order):
            terms = contributions.pop(node, None)
            if node in self.skipped:
                continue
            gi = self.in_group.get(node)
            if gi is not None:
                if terms is not None:
                    group_grads[gi[0]][gi[1]] = self._sum_terms(node, terms)[0]
                    group_live.add(gi[0])
                if self.index[node] == first_top[gi[0]] and gi[0] in group_live:
                    self._group_backward(gi[0], group_grads[gi[0]], contributions)
                continue
            if terms is None or node not in leads:
                continue
            g, g_arr = self._sum_terms(node, terms)
            if node not in self.parents:
                if node in wanted:
                    self.grads.append((node, g.text))
                continue
            self._node_backward(node, g, g_arr, leads, contributions)

    def _sum_terms(self, node: Value, terms: list[tuple[Expr, bool]]) -> tuple[Expr, bool]:
        arr = any(a for _, a in terms)
        if len(terms) == 1 and terms[0][0].prec == ATOM:
            return terms[0][0], arr
        var = f"g{self.index[node]}" if not node.is_leaf else f"g{self.expr[node].text}"
        texts = [t.text if t.prec > 1 else f"({t.text})" for t, _ in terms]
        for start in range(0, len(texts), MAX_TERMS):
            chunk = texts[start : start + MAX_TERMS]
            head = [var] if start else []
            self.emit(var, " + ".join(head + chunk), None, arr)
        return Expr(var), arr

    def _node_backward(
        self,
        node: Value,
        g: Expr,
        g_arr: bool,
        leads: set[Value],
        contributions: dict[Value, list[tuple[Expr, bool]]],
    ) -> None:
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
            if q not in leads:
                continue
            if batched and q not in self.batched and not self.per_sample:
                contributions.setdefault(q, []).append((self._reduce(g, g_arr, d, d_arr), False))
            else:
                contributions.setdefault(q, []).append((_times(g, d), g_arr or d_arr))

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

    def _group_backward(
        self,
        gi: int,
        dz: list[Expr],
        contributions: dict[Value, list[tuple[Expr, bool]]],
    ) -> None:
        grp = self.groups[gi]
        dzn = f"dZ{gi}"
        self.emit(dzn, self._stack([e.text for e in dz]), None, True)
        a = f"A{gi}"
        w = f"W{gi}"
        da = f"dA{gi}"
        self.emit(da, f"{w}.T @ {dzn}", None, True)
        for m, x in enumerate(grp.inputs):
            contributions.setdefault(x, []).append((Expr(f"{da}[{m}]"), True))
        if self.per_sample:
            dw = f"dW{gi}"
            self.lines.append(f"    {dw} = {dzn}[:, None, :] * {a}[None, :, :]")
            for j, row in enumerate(grp.weights):
                for m, wv in enumerate(row):
                    contributions.setdefault(wv, []).append((Expr(f"{dw}[{j}, {m}]"), True))
            if grp.biases is not None:
                for j, b in enumerate(grp.biases):
                    contributions.setdefault(b, []).append((Expr(f"{dzn}[{j}]"), True))
            return
        dw = f"dW{gi}"
        self.lines.append(f"    {dw} = ({dzn} @ {a}.T).tolist()")
        for j, row in enumerate(grp.weights):
            for m, wv in enumerate(row):
                contributions.setdefault(wv, []).append((Expr(f"{dw}[{j}][{m}]"), False))
        if grp.biases is not None:
            db = f"dB{gi}"
            self.lines.append(f"    {db} = {dzn}.sum(axis=1).tolist()")
            for j, b in enumerate(grp.biases):
                contributions.setdefault(b, []).append((Expr(f"{db}[{j}]"), False))


def _times(g: Expr, d: Expr) -> Expr:
    """g * d, with the constants 1 and -1 folded away."""
    if d.const == 1.0:
        return g
    if g.const == 1.0:
        return d
    if d.const == -1.0:
        return Expr(f"-{g.text}", UNARY) if g.prec >= UNARY else Expr(f"-({g.text})", UNARY)
    a = g.text if g.prec >= MUL else f"({g.text})"
    b = d.text if d.prec > MUL else f"({d.text})"
    return Expr(f"{a} * {b}", MUL)


def generate(
    root: Value,
    aux: list[Any],
    guards: list[Guard],
    inputs: list[Value],
    *,
    backward: bool,
    per_sample: bool,
    group: bool = True,
) -> BatchGenerated:
    """Write ``batch_step(inputs, leaves, n)`` for one traced graph.

    ``inputs``: one array (N,) per input of the traced sample; ``leaves``: the numbers
    of the captured leaves; ``n``: N as a float. It returns ``(output, aux values,
    leaf gradients)``: arrays (N,) for what depends on the inputs, floats otherwise;
    the gradients summed over the batch, or per sample with ``per_sample=True``.
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
    )
