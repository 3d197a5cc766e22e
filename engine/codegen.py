"""Code generation for ``engine.compile``: one traced graph written out as Python.

Every op's code comes from its entry in the op table (:mod:`engine.ops`):
``code_forward`` and ``code_derivatives`` are format strings over ``{x}``, ``{y}``
(second input), ``{p}`` (constant parameter) and ``{out}`` (the node's value), and
``code_names`` are the functions they call. An op without templates (a ``define_op``
op, or a built-in without them) is replayed by calling its ``forward`` and
``derivative`` from the table. This module holds no derivative formula of its own.

What it works with is data, not text:

* a template is read once with :mod:`ast` into a :class:`Template`: its precedence,
  for each field the least precedence an operand needs there to go without
  parentheses, how often each field appears, and whether it is a constant;
* every piece of generated code is an :class:`Expr`: its text, its precedence, how
  deeply it nests and, for a constant, its number;
* the generator keeps explicit lists (the leaves whose gradients it returns, the
  line where the backward pass starts, the labels of the lines, which stay out of the
  executed source and are shown as comments by :meth:`Generated.view`).

Generated code contains only text this module wrote: variable names it made up,
template text from the op table, and numbers written with ``float.__repr__`` (a
number that has no literal, such as ``inf``, is passed in the namespace instead).
Labels and op names never enter the executed source.
"""

from __future__ import annotations

import ast
import functools
import gc
import string
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine import ops
from engine.backward import toposort
from engine.trace import Guard
from engine.value import Value

__all__ = ["Expr", "Template", "read_template", "Generated", "generate", "escape"]

# Operator precedence of a generated expression, loosest first.
LOWEST, COMPARE, ADD, MUL, UNARY, POWER, ATOM = range(7)

#: Deepest inlined expression before a variable is made (Python's parser limits nesting).
MAX_DEPTH = 40
#: Terms per summation line (longer sums continue on the next line).
MAX_TERMS = 64
#: What a generated function returns when the replay met a non-finite intermediate.
NON_FINITE = -1

_FIELDS = ("x", "y", "p", "out")
_MARK = {name: f"_field_{name}_" for name in _FIELDS}
_FIELD_OF = {mark: name for name, mark in _MARK.items()}


class Expr(NamedTuple):
    """A piece of generated code: its text and how tightly it binds."""

    text: str
    prec: int = ATOM
    depth: int = 0
    const: float | None = None


#: ``_expr(Expr, (text, prec, depth, const))`` makes an Expr without the Python-level
#: ``__new__`` a NamedTuple has (all four fields given): the writers' hot loops use it.
_expr = tuple.__new__


@dataclass(frozen=True, eq=False)
class Template:
    """A code template from the op table, read once (see :func:`read_template`)."""

    text: str
    prec: int
    #: per field: the least precedence an operand may have there without parentheses
    need: dict[str, int]
    #: per field: how many times it appears
    uses: dict[str, int]
    #: the number, for a constant template such as ``"1.0"``
    const: float | None
    #: the whole template is one field (``"{x}"``): the operand passes through
    passthrough: str | None
    #: only ``+ - *`` and unary ``-``: a non-finite operand gives a non-finite result
    strict: bool

    @functools.cached_property
    def slots(self) -> tuple[tuple[str, int], ...]:
        """``need`` as a tuple of (field, precedence) pairs (read once per node)."""
        return tuple(self.need.items())

    @functools.cached_property
    def positional(self) -> str:
        """The text with each field numbered by its place in :attr:`slots` (``"{0} + {1}"``):
        :func:`fill` formats it with a tuple, faster than with a dict of keywords."""
        place = {name: k for k, (name, _) in enumerate(self.slots)}
        out = []
        for literal, name, _, _ in string.Formatter().parse(self.text):
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is not None:
                out.append(f"{{{place[name]}}}")
        return "".join(out)

    @functools.cached_property
    def around(self) -> tuple[str, str, str] | None:
        """For a template with two fields, each written once (``"{x} + {y}"``, most
        of a graph): the text before, between and after them, which :func:`fill` joins
        with the operands directly."""
        parts = list(string.Formatter().parse(self.positional))
        if [name for _, name, _, _ in parts] not in (["0", "1"], ["0", "1", None]):
            return None
        if any("{" in lit or "}" in lit for lit, _, _, _ in parts):
            return None  # literal braces: left to str.format
        return parts[0][0], parts[1][0], parts[2][0] if len(parts) == 3 else ""

    @functools.cached_property
    def fixed(self) -> Expr | None:
        """The expression itself, for a template without fields (``"1.0"``)."""
        return None if self.uses else Expr(self.text, self.prec, 1, self.const)


_BINARY_PREC = {
    ast.Add: ADD,
    ast.Sub: ADD,
    ast.Mult: MUL,
    ast.Div: MUL,
    ast.FloorDiv: MUL,
    ast.Mod: MUL,
    ast.MatMult: MUL,
    ast.Pow: POWER,
}
_STRICT_NODES = (ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.USub, ast.UAdd)
_STRICT_OPERATORS = (ast.Add, ast.Sub, ast.Mult)


def _precedence(node: ast.expr) -> int:
    if isinstance(node, ast.IfExp | ast.Lambda | ast.NamedExpr):
        return LOWEST
    if isinstance(node, ast.Compare | ast.BoolOp):
        return COMPARE
    if isinstance(node, ast.UnaryOp):
        return COMPARE if isinstance(node.op, ast.Not) else UNARY
    if isinstance(node, ast.BinOp):
        return _BINARY_PREC.get(type(node.op), LOWEST)
    return ATOM


def _child_needs(node: ast.AST) -> list[tuple[ast.expr, int]]:
    """Each child expression of ``node`` with the precedence it needs to stand bare."""
    if isinstance(node, ast.Call):
        return [(node.func, ATOM)] + [(a, LOWEST) for a in node.args]
    if isinstance(node, ast.IfExp):
        return [(node.body, COMPARE), (node.test, COMPARE), (node.orelse, COMPARE)]
    if isinstance(node, ast.Compare):
        return [(node.left, ADD)] + [(c, ADD) for c in node.comparators]
    if isinstance(node, ast.BoolOp):
        return [(v, COMPARE + 1) for v in node.values]
    if isinstance(node, ast.UnaryOp):
        return [(node.operand, COMPARE if isinstance(node.op, ast.Not) else UNARY)]
    if isinstance(node, ast.BinOp):
        p = _BINARY_PREC.get(type(node.op), ATOM)
        if p == POWER:
            return [(node.left, ATOM), (node.right, UNARY)]
        return [(node.left, p), (node.right, p + 1)]
    return [(c, ATOM) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]


@functools.cache
def read_template(text: str) -> Template:
    """Read a code template with :mod:`ast`: its precedence and its fields' contexts."""
    uses: dict[str, int] = {}
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if name not in _FIELDS or spec or conversion:
            raise ValueError(f"code template {text!r}: unknown field {{{name}}}")
        uses[name] = uses.get(name, 0) + 1
    source = text.format(**_MARK).strip()
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ValueError(f"code template {text!r} is not one Python expression") from None
    if tree.end_lineno != tree.lineno:
        raise ValueError(f"code template {text!r} must be written on one line")
    wrapped = tree.col_offset > 0 or (tree.end_col_offset or 0) < len(source)
    prec = ATOM if wrapped else _precedence(tree)
    need: dict[str, int] = {name: LOWEST for name in uses}
    for node in ast.walk(tree):
        for child, wanted in _child_needs(node):
            if isinstance(child, ast.Name) and child.id in _FIELD_OF:
                name = _FIELD_OF[child.id]
                need[name] = max(need[name], wanted)
    passthrough = (
        _FIELD_OF[tree.id] if isinstance(tree, ast.Name) and tree.id in _FIELD_OF else None
    )
    const: float | None = None
    if isinstance(tree, ast.Constant) and isinstance(tree.value, (int, float)):
        const = float(tree.value)
    elif (
        isinstance(tree, ast.UnaryOp)
        and isinstance(tree.op, ast.USub)
        and isinstance(tree.operand, ast.Constant)
        and isinstance(tree.operand.value, (int, float))
    ):
        const = -float(tree.operand.value)
    strict = all(isinstance(n, (*_STRICT_NODES, *_STRICT_OPERATORS)) for n in ast.walk(tree))
    return Template(text.strip(), prec, need, uses, const, passthrough, strict)


def fill(template: Template, operands: dict[str, Expr]) -> Expr:
    """The template with each field replaced by its operand (parenthesized if needed)."""
    if template.passthrough is not None:
        return operands[template.passthrough]
    fixed = template.fixed
    if fixed is not None:
        return fixed
    around = template.around
    if around is not None:
        (a, need_a), (b, need_b) = template.slots
        ea, eb = operands[a], operands[b]
        ta = ea.text if ea.prec >= need_a else f"({ea.text})"
        tb = eb.text if eb.prec >= need_b else f"({eb.text})"
        depth = ea.depth if ea.depth > eb.depth else eb.depth
        text = around[0] + ta + around[1] + tb + around[2]
        return _expr(Expr, (text, template.prec, depth + 1, template.const))
    texts = []
    depth = 0
    for name, wanted in template.slots:
        e = operands[name]
        texts.append(e.text if e.prec >= wanted else f"({e.text})")
        if e.depth > depth:
            depth = e.depth
    text = template.positional.format(*texts)
    return _expr(Expr, (text, template.prec, depth + 1, template.const))


def binop(left: Expr, op: str, right: Expr, prec: int) -> Expr:
    """``left op right`` for a left-associative operator of precedence ``prec``."""
    a = left.text if left.prec >= prec else f"({left.text})"
    b = right.text if right.prec > prec else f"({right.text})"
    return Expr(f"{a} {op} {b}", prec, max(left.depth, right.depth) + 1)


def escape(text: str) -> str:
    """``text`` as printable ASCII, every other character written as an escape.

    Used for labels in the readable view of the source; it reads the characters of
    a plain ``str`` copy, so a ``str`` subclass runs none of its own methods.
    """
    plain = str.__str__(text)
    out = []
    for ch in plain:
        code = ord(ch)
        if 32 <= code < 127 and ch != "\\":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


# --- one graph --------------------------------------------------------------------------


class SourceLines:
    """Generated code kept as lines, with the labels shown beside them on request
    (both code generators' results: :class:`Generated` and the batch one)."""

    lines: list[str]
    labels: dict[int, str]

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


@dataclass
class Generated(SourceLines):
    """The generated function of one trace and what the runtime needs to call it."""

    #: the executed source: compiler-written text only
    lines: list[str]
    #: line index (0-based, into ``lines``) -> label of the value that line computes
    labels: dict[int, str]
    namespace: dict[str, Any]
    #: leaves read by reference, in the order of the ``leaves`` argument
    live: list[Value]
    #: leaves whose gradients are returned, in the order they are returned
    grad_leaves: list[Value]
    #: index of the line where the backward pass starts (len(lines) if none)
    backward_line: int
    #: the aux items the generated function returns (the others are constants)
    aux_returned: list[int]
    n_nodes: int
    guards: list[Guard] = field(default_factory=list)


@dataclass(frozen=True)
class OpCode:
    """An op's code templates, read once, with what the planner asks of them."""

    forward: Template
    derivatives: tuple[Template, ...]
    #: fields the forward expression writes more than once
    twice: frozenset[str]
    #: fields the derivative expressions read (``out``: the node's own value)
    reads: frozenset[str]
    #: each derivative as the cheapest thing to use: a constant's Expr, the name of
    #: the field it passes through, or the template to fill
    derivative_plan: tuple[Expr | str | Template, ...]


def _op_code(name: str) -> OpCode | None:
    op = ops.OPS.get(name)
    if op is None or op.code_forward is None or op.code_derivatives is None:
        return None
    fwd = read_template(op.code_forward)
    derivs = tuple(read_template(t) for t in op.code_derivatives)
    return OpCode(
        fwd,
        derivs,
        frozenset(n for n, k in fwd.uses.items() if k > 1),
        frozenset(n for d in derivs for n in d.uses),
        tuple(d.passthrough or d.fixed or d for d in derivs),
    )


def _toposort_many(roots: list[Value]) -> list[Value]:
    """The nodes of every root's graph, each once: the first root's graph in
    ``toposort`` order, then each later root's nodes not seen yet."""
    order: list[Value] = toposort(roots[0])
    if len(roots) == 1:
        return order  # the common case: no aux output, no guard
    order = list(order)
    seen: set[Value] = set(order)
    for r in roots[1:]:
        if r in seen:
            continue
        for node in toposort(r):
            if node not in seen:
                seen.add(node)
                order.append(node)
    return order


class NameTable:
    """The generated code's namespace: fresh names, constants and the op table's
    functions bound under a name. Both code generators write with it (this module's
    ``_Writer`` and :mod:`engine.batch_codegen`'s)."""

    namespace: dict[str, Any]
    generic: dict[tuple[str, str], str]
    n_names: int

    def fresh(self, prefix: str) -> str:
        """A namespace name not taken yet (by an op's ``code_names`` either)."""
        while True:
            name = f"{prefix}{self.n_names}"
            self.n_names += 1
            if name not in self.namespace:
                return name

    def const(self, x: Any) -> Expr:
        """A number as generated code: a literal, or a name bound in the namespace."""
        if type(x) is float and x - x == 0.0:
            text = float.__repr__(x)
            return Expr(text, UNARY if x < 0 or text.startswith("-") else ATOM, const=x)
        name = self.fresh("_k")
        self.namespace[name] = x
        return Expr(name, ATOM, const=x if type(x) is float else None)

    def ref(self, op_name: str, kind: str) -> str:
        """The namespace name under which the op table's forward or derivative is called."""
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


class _Writer(NameTable):
    """Writes the forward pass, the guards and the backward pass of one trace.

    Three steps: decide which nodes get a variable (the rest are inlined into the one
    expression that uses them), write the forward pass with each guard as soon as its
    operands exist, write the backward pass.
    """

    def __init__(
        self,
        root: Value,
        aux: list[Any],
        guards: list[Guard],
        inputs: list[Value],
        input_grads: bool,
        backward: bool,
    ) -> None:
        self.namespace: dict[str, Any] = {}
        for op in ops.OPS.values():
            self.namespace.update(op.code_names)
        self.generic: dict[tuple[str, str], str] = {}
        self.n_names = 0
        self.lines: list[str] = []
        self.labels: dict[int, str] = {}
        self.root = root
        self.guards = guards
        guard_nodes = [v for g in guards for v in (g.x, g.other) if isinstance(v, Value)]
        self.roots = [root, *(a for a in aux if isinstance(a, Value)), *guard_nodes]
        self.order = _toposort_many(self.roots)
        self.input_index = {x: i for i, x in enumerate(inputs)}
        # every computed node (in order) -> (its place in the order, its parents, its op's
        # templates, its constant parameter or None): one lookup gives a node's all
        self.nodes: dict[Value, tuple[int, tuple[Value, ...], OpCode | None, Any]] = {}
        self.fields: dict[Value, dict[str, Expr]] = {}
        codes: dict[str, OpCode | None] = {}
        # leaves: inputs are x0, x1, ...; every other leaf (parameters, constants) is
        # read by reference, p0, p1, ...
        self.live: list[Value] = []
        self.expr: dict[Value, Expr] = {}
        expr, nodes = self.expr, self.nodes
        for i, node in enumerate(self.order):
            parents = node.parents
            if not parents:  # a leaf
                if node in self.input_index:
                    expr[node] = Expr(f"x{self.input_index[node]}")
                else:
                    expr[node] = Expr(f"p{len(self.live)}")
                    self.live.append(node)
                continue
            name = node.op
            if name in codes:
                code = codes[name]
            else:
                code = codes[name] = _op_code(name)
            nodes[node] = (i, parents, code, node.param if len(parents) == 1 else None)
        self.checked: list[Value] = []
        self.needs_var = self._plan_variables(backward)
        self.header(inputs)
        self._write_forward()
        self.aux_returned = [i for i, a in enumerate(aux) if isinstance(a, Value)]
        self.aux_exprs = [self.expr[aux[i]].text for i in self.aux_returned]
        self.grads: list[tuple[Value, str]] = []
        self.input_grad_vars: list[str] = ["0.0"] * len(inputs) if input_grads else []
        self.backward_line = len(self.lines)
        if backward:
            wanted: set[Value] = set(self.live)
            if input_grads:
                wanted.update(inputs)
            self._write_backward(wanted)
        returns = [
            self.expr[root].text,
            "(" + "".join(f"{e}, " for e in self.aux_exprs) + ")",
            "(" + "".join(f"{g}, " for _, g in self.grads) + ")",
            "(" + "".join(f"{g}, " for g in self.input_grad_vars) + ")",
        ]
        self.lines.append(f"    return {', '.join(returns)}")

    # --- planning -----------------------------------------------------------------

    def _plan_variables(self, backward: bool) -> set[Value]:
        """The nodes that need a variable: outputs, guard operands, values used twice,
        values a derivative reads, and values checked for finiteness."""
        consumers: dict[Value, int] = {}
        needs_var: set[Value] = set(self.roots)
        checked: dict[Value, None] = {}
        get = consumers.get
        # per op: whether operand x, operand y and the node itself need a variable, and
        # whether the operands are checked (worked out once per op, not once per node)
        plans: dict[int, tuple[bool, bool, bool, bool]] = {}
        for node, (_, parents, code, _) in self.nodes.items():
            for q in parents:
                consumers[q] = get(q, 0) + 1
            if code is None:
                needs_var.update(parents)
                needs_var.add(node)
                checked.update(dict.fromkeys(parents))
                continue
            plan = plans.get(id(code))
            if plan is None:
                reads = code.reads if backward else frozenset()
                # an op that can turn inf/nan into a finite number (relu, tanh, ...) has
                # its operands checked: eager would have raised where one overflowed
                check = not code.forward.strict
                # an operand written twice in the expression is computed once, in a
                # variable; so is one a derivative reads, and one that is checked
                plan = plans[id(code)] = (
                    check or "x" in code.twice or "x" in reads,
                    check or "y" in code.twice or "y" in reads,
                    check,
                    "out" in reads,
                )
            var_x, var_y, check, var_out = plan
            if var_x:
                needs_var.add(parents[0])
            if var_y and len(parents) == 2:
                needs_var.add(parents[1])
            if check:
                checked.update(dict.fromkeys(parents))
            if var_out:
                needs_var.add(node)
        needs_var.update(q for q, c in consumers.items() if c > 1)
        self.checked = [q for q in checked if q not in self.input_index]
        return needs_var

    # --- pieces -------------------------------------------------------------------

    def header(self, inputs: list[Value]) -> None:
        self.lines.append("def forward_backward(inputs, leaves):")
        if inputs:
            self.lines.append(f"    {''.join(f'x{i}, ' for i in range(len(inputs)))}= inputs")
        if self.live:
            self.lines.append(f"    {''.join(f'p{i}, ' for i in range(len(self.live)))}= leaves")

    # --- the forward pass -----------------------------------------------------------

    def _write_forward(self) -> None:
        """One line per node with a variable; every other node is inlined."""
        emit = self.lines.append
        # guards grouped by the position after which both their operands exist
        due: dict[int, list[int]] = {}
        for k, g in enumerate(self.guards):
            operands = [v for v in (g.x, g.other) if isinstance(v, Value) and v in self.nodes]
            at = max((self.nodes[v][0] for v in operands), default=-1)
            due.setdefault(at, []).append(k)
        self._write_guards(due.get(-1, ()))
        emit("    # forward: one line per value that is needed later")
        needs_var = self.needs_var
        expr = self.expr
        saved = self.fields
        for node, (i, parents, code, param) in self.nodes.items():
            # the operands: the parents' code and the constant parameter
            if len(parents) == 2:
                fields = {"x": expr[parents[0]], "y": expr[parents[1]]}
            elif param is not None:
                fields = {"x": expr[parents[0]], "p": self.const(param)}
            else:
                fields = {"x": expr[parents[0]]}
            if code is None or code.reads:
                saved[node] = fields  # the backward pass reads the same operands
            if code is not None:
                e = fill(code.forward, fields)
            else:
                args = ", ".join(fields[n].text for n in ("x", "y", "p") if n in fields)
                e = Expr(f"{self.ref(node.op, 'forward')}({args})", ATOM, 1)
            if e.depth > MAX_DEPTH or node in needs_var:
                var = f"v{i}"
                if node.label:
                    self.labels[len(self.lines)] = node.label
                emit(f"    {var} = {e.text}")
                expr[node] = _expr(Expr, (var, ATOM, 0, None))
            else:
                expr[node] = e
            if i in due:
                self._write_guards(due[i])
        if self.checked:
            # eager raises where a value overflows; a sum of the values an op could
            # have absorbed is non-finite if any of them is (or, rarely, if the sum
            # itself overflows: then the runtime asks eager evaluation, which agrees)
            self._sum("_finite", [self.expr[q] for q in self.checked])
            emit(f"    if _finite - _finite != 0.0: return {NON_FINITE}")

    def _write_guards(self, which: Any) -> None:
        for k in which:
            g = self.guards[k]
            left = self.expr[g.x]
            right = self.expr[g.other] if isinstance(g.other, Value) else self.const(g.other)
            test = f"{left.text} {g.op} {right.text}"
            # the branch the trace took is kept only while the comparison comes out the same
            self.lines.append(f"    if {'not ' if g.result else ''}{test}: return {k}")

    # --- the backward pass ----------------------------------------------------------

    def generic_derivatives(self, node: Value) -> list[Expr]:
        """d(node)/d(parent) of an op without templates: a line calling its rule."""
        fields = self.fields.pop(node)
        fields["out"] = self.expr[node]
        d_fn = self.ref(node.op, "derivative")
        k = self.nodes[node][0]
        x = fields["x"].text
        out = fields["out"].text
        if "y" in fields:
            self.lines.append(f"    d{k}a, d{k}b = {d_fn}({x}, {fields['y'].text}, {out})")
            return [Expr(f"d{k}a"), Expr(f"d{k}b")]
        param = f", {fields['p'].text}" if "p" in fields else ""
        self.lines.append(f"    d{k} = {d_fn}({x}, {out}{param})")
        return [Expr(f"d{k}")]

    def _write_backward(self, wanted: set[Value]) -> None:
        """The chain rule, adding the same contributions in the order backward() does."""
        # only nodes that lead to a leaf whose gradient is wanted get a gradient
        leads: set[Value] = set(wanted)
        for node, (_, parents, _, _) in self.nodes.items():
            for q in parents:
                if q in leads:
                    leads.add(node)
                    break
        self.lines.append("    # backward: the chain rule, from the output down")
        one = Expr("1.0", ATOM, const=1.0)
        contributions: dict[Value, list[Expr]] = {self.root: [one]}
        nodes = self.nodes
        saved = self.fields
        expr = self.expr
        for node in reversed(self.order):
            terms = contributions.pop(node, None)
            if terms is None or node not in leads:
                continue
            info = nodes.get(node)
            if info is None:  # a leaf
                if node in wanted:
                    var = f"g{self.expr[node].text}"
                    self._sum(var, terms)
                    if node in self.input_index:
                        self.input_grad_vars[self.input_index[node]] = var
                    else:
                        self.grads.append((node, var))
                continue
            if len(terms) == 1 and terms[0].prec == ATOM:
                g = terms[0]  # passed through unchanged (an add or identity): no new line
            else:
                g = _expr(Expr, (f"g{info[0]}", ATOM, 0, None))
                self._sum(g.text, terms)
            _, parents, code, _ = info
            if code is None:
                plan: Any = self.generic_derivatives(node)
            else:
                plan = code.derivative_plan
                if code.reads:  # (an add's derivatives are constants: it keeps no fields)
                    fields = saved.pop(node)
                    fields["out"] = expr[node]
            for q, d in zip(parents, plan):
                if q not in leads:
                    continue
                if type(d) is str:
                    d = fields[d]
                elif type(d) is Template:
                    d = fill(d, fields)
                dc = d.const
                if dc is not None and dc == 1.0:
                    term = g
                elif dc is not None and dc == -1.0:
                    term = Expr(f"-{g.text}", UNARY) if g.prec >= UNARY else Expr(f"-({g.text})")
                elif g.const is not None and g.const == 1.0:
                    term = d
                elif g.prec >= MUL and d.prec > MUL:  # the common case, written directly
                    term = _expr(Expr, (f"{g.text} * {d.text}", MUL, 0, None))
                else:
                    term = binop(g, "*", d, MUL)
                to_q = contributions.get(q)
                if to_q is None:
                    contributions[q] = [term]
                else:
                    to_q.append(term)

    def _sum(self, var: str, terms: list[Expr]) -> None:
        """``var = t1 + t2 + ...``, left to right (the order backward() adds them)."""
        emit = self.lines.append
        if len(terms) == 1:
            emit(f"    {var} = {terms[0].text}")
            return
        for start in range(0, len(terms), MAX_TERMS):
            chunk = terms[start : start + MAX_TERMS]
            # left-associative: the first term needs ADD, every later one more than ADD
            texts = (
                [var]
                if start
                else [chunk[0].text if chunk[0].prec >= ADD else f"({chunk[0].text})"]
            )
            texts.extend(
                t.text if t.prec > ADD else f"({t.text})" for t in (chunk if start else chunk[1:])
            )
            emit(f"    {var} = {' + '.join(texts)}")


def generate(
    root: Value,
    aux: list[Any],
    guards: list[Guard],
    inputs: list[Value],
    *,
    input_grads: bool,
    backward: bool,
) -> Generated:
    """Write the function ``forward_backward(inputs, leaves)`` for one traced graph.

    It returns ``(output, aux values, leaf gradients, input gradients)``, or an int:
    the index of the first guard that came out differently, or :data:`NON_FINITE`.
    """
    # The writer makes a few small containers per node and no reference cycles; the
    # collector, run every few hundred of them, would walk the whole traced graph each
    # time (it doubled the time to write an MLP step). Paused here, put back as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        w = _Writer(root, aux, guards, inputs, input_grads, backward)
    finally:
        if collecting:
            gc.enable()
    return Generated(
        lines=w.lines,
        labels=w.labels,
        namespace=w.namespace,
        live=w.live,
        grad_leaves=[v for v, _ in w.grads],
        backward_line=w.backward_line,
        aux_returned=w.aux_returned,
        n_nodes=len(w.order),
        guards=guards,
    )
