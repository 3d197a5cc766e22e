"""``engine.compile`` (this module): trace a computation once, replay it as straight-line Python.

>>> from engine import Value, compile
>>> w = Value(0.5, label="w")
>>> step = compile(lambda x, y: (w * x - y) ** 2)
>>> step(3.0, 1.0)          # traces on the first call, then runs the generated code
0.25
>>> w.grad                  # gradients accumulate into the captured leaves, as backward() does
3.0
>>> print(step.source)      # doctest: +SKIP
def forward_backward(inputs, leaves):
    ...

How it works. The first call with a given *structure* of arguments (numbers, or
nested lists/tuples of numbers) runs ``f`` eagerly on fresh input Values and records
the graph. That graph is then written out as one Python function: the forward pass
as one assignment per node that anything needs later, the backward pass as the
chain rule, one line per gradient, in the very order ``Value.backward()`` would
add them (so values and gradients match eager evaluation to the last bit). The
function is compiled once and replayed on every later call with new numbers.

* Inputs are the numbers in the arguments: new numbers each call.
* Leaves ``f`` reaches that are not inputs (the model's parameters, captured
  constants) are read by reference on every call, so an optimizer that changes
  ``p.data`` between calls is seen, and their ``.grad`` accumulates as with
  ``backward()``. Intermediate nodes do not exist in the replay, so they get no grad.
* Piecewise ops (relu, abs, leaky_relu, ...) are written as conditional
  expressions: each call takes the branch of *its* inputs.
* Python control flow that looked at values while tracing (``if x > 0:`` on a
  Value, ``float(v)``) is frozen at the branch taken then, and so is anything
  computed outside the graph: ``detach()``, a ``no_grad()`` block, ``gradients()``
  as floats. These are detected during tracing and reported with a
  :class:`TraceWarning` naming the source line (``strict=True`` makes it an error);
  reading ``v.data`` directly cannot be detected. A new argument structure traces
  again.
* A Value passed as an argument is read as a number (an input); a non-leaf node
  that ``f`` captures from outside is recomputed from its leaves on every call.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

from engine import ops
from engine import value as _value
from engine.backward import toposort
from engine.value import Value

__all__ = ["compile", "CompiledFunction", "TraceWarning", "TraceError"]


class TraceWarning(UserWarning):
    """Python control flow depended on a Value while tracing; it is frozen in the replay."""


class TraceError(RuntimeError):
    """Raised instead of :class:`TraceWarning` when compiling with ``strict=True``."""


# --- code templates ---------------------------------------------------------------
# Each op's generated code comes from its entry in the op table (engine.ops):
# ``code_forward``, ``code_derivatives`` and the functions they call, ``code_names``.
# Ops without templates (and user ops) call the op's forward and derivative rule.


def _template(op_name: str) -> tuple[str, tuple[str, ...]] | None:
    op = ops.OPS.get(op_name)
    if op is None or op.code_forward is None or op.code_derivatives is None:
        return None
    return op.code_forward, op.code_derivatives


def _namespace_base() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for op in ops.OPS.values():
        names.update(op.code_names)
    return names


_FILENAME = "<chainrule compiled>"
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
_MAX_DEPTH = 40
# operator precedence of generated expressions, loosest first
_LOWEST, _ADD, _MUL, _UNARY, _ATOM = range(
    5
)  # deepest inlined expression (Python's parser limits nesting)
_MAX_TERMS = 64  # terms per summation line (the compiler recurses on long sums)


# --- argument structure -----------------------------------------------------------


def _flatten(obj: Any, out: list[float], path: str) -> Any:
    """Append the numbers of ``obj`` to ``out``; return its structure signature."""
    if isinstance(obj, Value):
        out.append(obj.data)
        return None
    if isinstance(obj, (list, tuple)):
        return (
            type(obj).__name__,
            tuple(_flatten(o, out, f"{path}[{i}]") for i, o in enumerate(obj)),
        )
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise TypeError(
            f"compiled functions take numbers or (nested) lists/tuples of numbers; "
            f"{path} is {type(obj).__name__} ({obj!r})"
        )
    out.append(float(obj))
    return None


def _rebuild(sig: Any, leaves: list[Value], pos: list[int]) -> Any:
    if sig is None:
        v = leaves[pos[0]]
        pos[0] += 1
        return v
    kind, items = sig
    built = [_rebuild(s, leaves, pos) for s in items]
    return built if kind == "list" else tuple(built)


def _aux_flatten(obj: Any, out: list[Any]) -> Any:
    if isinstance(obj, Value) or (isinstance(obj, (int, float)) and not isinstance(obj, bool)):
        out.append(obj)
        return None
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_aux_flatten(o, out) for o in obj))
    if isinstance(obj, dict):
        keys = list(obj)
        return ("dict", tuple(keys), tuple(_aux_flatten(obj[k], out) for k in keys))
    raise TypeError(
        f"aux output may hold Values, numbers, lists, tuples and dicts, not {type(obj).__name__}"
    )


def _aux_rebuild(sig: Any, values: list[float], pos: list[int]) -> Any:
    if sig is None:
        v = values[pos[0]]
        pos[0] += 1
        return v
    if sig[0] == "dict":
        _, keys, items = sig
        return {k: _aux_rebuild(s, values, pos) for k, s in zip(keys, items)}
    kind, items = sig
    built = [_aux_rebuild(s, values, pos) for s in items]
    return built if kind == "list" else tuple(built)


# --- tracing ------------------------------------------------------------------------


class _ControlFlowRecorder:
    """Installed as ``engine.value._trace_hook`` while tracing."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def compare(self, x: Value, op: str, other: Any, result: bool) -> None:
        self.event(f"comparison {op!r} on a Value")

    def event(self, what: str) -> None:
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_filename.startswith(_ENGINE_DIR):
            frame = frame.f_back
        where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        event = f"{what} at {where}"
        if event not in self.events:
            self.events.append(event)


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


# --- code generation ----------------------------------------------------------------


class _Codegen:
    """Writes the forward and backward pass of one traced graph as Python source.

    Three steps: decide which nodes get a variable (the rest are inlined into the one
    expression that uses them), write the forward pass, write the backward pass.
    """

    def __init__(
        self, root: Value, aux: list[Value], inputs: list[Value], input_grads: bool, backward: bool
    ) -> None:
        self.namespace: dict[str, Any] = _namespace_base()
        self.generic: dict[str, str] = {}
        self.lines: list[str] = []
        self.root = root
        self.roots = [root, *(a for a in aux if isinstance(a, Value))]
        self.order = _toposort_many(self.roots)
        self.n_nodes = len(self.order)
        self.index = {node: i for i, node in enumerate(self.order)}
        self.input_index = {x: i for i, x in enumerate(inputs)}
        # leaves: inputs are x0, x1, ...; every other leaf (parameters, constants) is
        # read by reference, p0, p1, ...
        self.live: list[Value] = []
        self.name: dict[Value, str] = {}
        for node in self.order:
            if node._a is None:
                if node in self.input_index:
                    self.name[node] = f"x{self.input_index[node]}"
                else:
                    self.name[node] = f"p{len(self.live)}"
                    self.live.append(node)
        self.needs_var = self._plan_variables(backward)
        self.expr = self._write_forward()
        self.output_var = self.expr[root]
        self.aux_exprs = [self.expr[a] if isinstance(a, Value) else repr(float(a)) for a in aux]
        self.leaf_grads: list[str] = []
        self.input_grad_vars: list[str] = ["0.0"] * len(inputs) if input_grads else []
        if backward:
            wanted: set[Value] = set(self.live)
            if input_grads:
                wanted.update(inputs)
            self._write_backward(wanted)

    def _plan_variables(self, backward: bool) -> set[Value]:
        """The nodes that need a variable: outputs, values used twice or by a derivative."""
        consumers: dict[Value, int] = {}
        needs_var: set[Value] = set(self.roots)
        for node in self.order:
            a = node._a
            if a is None:
                continue
            parents = (a,) if node._db is None else (a, node._b)
            for q in parents:
                consumers[q] = consumers.get(q, 0) + 1
            template = _template(node.op)
            if template is None:
                needs_var.update(parents)
                needs_var.add(node)
                continue
            fwd, derivs = template
            # an operand written twice in the expression is computed once, in a variable
            if fwd.count("{x}") > 1:
                needs_var.add(a)
            if fwd.count("{y}") > 1:
                needs_var.add(node._b)
            if backward:
                for d in derivs:
                    if "{x}" in d:
                        needs_var.add(a)
                    if "{y}" in d:
                        needs_var.add(node._b)
                    if "{out}" in d:
                        needs_var.add(node)
        needs_var.update(q for q, c in consumers.items() if c > 1)
        return needs_var

    def _write_forward(self) -> dict[Value, str]:
        """One line per node with a variable; returns every node's name or expression."""
        expr: dict[Value, str] = dict(self.name)
        prec: dict[Value, int] = {}  # precedence of an inlined expression (names: _ATOM)
        depth: dict[Value, int] = {}
        emit = self.lines.append
        emit("    # forward: one line per value that is needed later")
        for node in self.order:
            a = node._a
            if a is None:
                continue
            b = node._b
            binary = node._db is not None
            op = node.op
            # + and * are most of every graph: written without format() and with only
            # the parentheses Python needs (both are left-associative, as eager is)
            if op == "+" or op == "*":
                p = _ADD if op == "+" else _MUL
                left = expr[a] if prec.get(a, _ATOM) >= p else f"({expr[a]})"
                right = expr[b] if prec.get(b, _ATOM) > p else f"({expr[b]})"
                text = f"{left} {op} {right}"
                d = 1 + max(depth.get(a, 0), depth.get(b, 0))
            elif op == "neg":
                text = f"-{expr[a]}" if prec.get(a, _ATOM) >= _UNARY else f"-({expr[a]})"
                p = _UNARY
                d = 1 + depth.get(a, 0)
            elif _template(op) is not None:
                fwd = _template(op)[0]  # type: ignore[index]
                text = fwd.format(
                    x=_operand(fwd, "{x}", expr[a]),
                    y=_operand(fwd, "{y}", expr[b]) if binary else "",
                    p="" if binary else repr(b),
                )
                p = _ATOM if fwd.endswith(")") and fwd[0] in "_(" else _LOWEST
                d = 1 + max(depth.get(a, 0), depth.get(b, 0) if binary else 0)
            else:
                f = self._ref(op, "forward")
                if binary:
                    text = f"{f}({expr[a]}, {expr[b]})"
                elif b is not None:
                    text = f"{f}({expr[a]}, {b!r})"
                else:
                    text = f"{f}({expr[a]})"
                p = _ATOM
                d = 1
            if node in self.needs_var or d > _MAX_DEPTH:
                var = f"v{self.index[node]}"
                # a label is user text: repr() keeps it a one-line comment
                comment = f"  # {node.label!r}" if node.label else ""
                emit(f"    {var} = {text}{comment}")
                expr[node] = var
            else:
                expr[node] = text
                prec[node] = p
                depth[node] = d
        return expr

    def _local_derivatives(self, node: Value) -> list[str]:
        """Expressions for d(node)/d(parent), one per parent (a call line if generic)."""
        expr = self.expr
        a, b = node._a, node._b
        binary = node._db is not None
        if node.op == "+":
            return ["1.0", "1.0"]
        if node.op == "*":
            return [expr[b], expr[a]]  # names: both factors are variables
        template = _template(node.op)
        if template is not None:
            return [
                t.format(
                    x=expr[a],
                    y=expr[b] if binary else "",
                    p="" if binary else repr(b),
                    out=expr[node],
                )
                for t in template[1]
            ]
        d_fn = self._ref(node.op, "derivative")
        k = self.index[node]
        if binary:
            self.lines.append(f"    d{k}a, d{k}b = {d_fn}({expr[a]}, {expr[b]}, {expr[node]})")
            return [f"d{k}a", f"d{k}b"]
        param = "" if b is None else f", {b!r}"
        self.lines.append(f"    d{k} = {d_fn}({expr[a]}, {expr[node]}{param})")
        return [f"d{k}"]

    def _write_backward(self, wanted: set[Value]) -> None:
        """The chain rule, adding the same contributions in the order backward() does."""
        # only nodes that lead to a leaf whose gradient is wanted get a gradient
        leads: set[Value] = set()
        for node in self.order:
            if node in wanted or (
                node._a is not None
                and (node._a in leads or (node._db is not None and node._b in leads))
            ):
                leads.add(node)
        self.lines.append("    # backward: the chain rule, from the output down")
        contributions: dict[Value, list[str]] = {self.root: ["1.0"]}
        for node in reversed(self.order):
            terms = contributions.pop(node, None)
            if terms is None or node not in leads:
                continue
            if node._a is None:
                if node in wanted:
                    gvar = f"g{self.name[node]}"
                    self._sum(gvar, terms)
                    if node in self.input_index:
                        self.input_grad_vars[self.input_index[node]] = gvar
                    else:
                        self.leaf_grads.append(gvar)
                continue
            if len(terms) == 1 and _is_atom(terms[0]):
                g = terms[0]  # passed through unchanged (an add or identity): no new line
            else:
                g = f"g{self.index[node]}"
                self._sum(g, terms)
            parents = (node._a,) if node._db is None else (node._a, node._b)
            for q, d in zip(parents, self._local_derivatives(node)):
                if q not in leads:
                    continue
                if d == "1.0":
                    term = g
                elif d == "-1.0":
                    term = f"-{g}"
                elif g == "1.0":
                    term = d if _is_atom(d) else f"({d})"
                else:
                    term = f"{g} * {d}" if _is_atom(d) else f"{g} * ({d})"
                contributions.setdefault(q, []).append(term)

    def _ref(self, op_name: str, kind: str) -> str:
        """The namespace name under which the op table's forward or derivative is called."""
        ref = self.generic.get(f"{op_name}/{kind}")
        if ref is None:
            ref = f"_{kind[0]}{len(self.generic)}"
            op = ops.lookup(op_name)
            self.namespace[ref] = op.forward if kind == "forward" else op.derivative
            if kind == "derivative" and op.derivative is None:
                raise NotImplementedError(f"no derivative rule for op {op_name!r}")
            self.generic[f"{op_name}/{kind}"] = ref
        return ref

    def _sum(self, var: str, terms: list[str]) -> None:
        """``var = t1 + t2 + ...``, left to right (the order backward() adds them)."""
        first = terms[:_MAX_TERMS]
        self.lines.append(f"    {var} = {' + '.join(first)}")
        for k in range(_MAX_TERMS, len(terms), _MAX_TERMS):
            self.lines.append(f"    {var} = {var} + {' + '.join(terms[k : k + _MAX_TERMS])}")


def _operand(template: str, placeholder: str, text: str) -> str:
    """``text`` ready to stand at ``placeholder``: parenthesized unless it is a name
    or a number, or the placeholder is a whole call argument already."""
    if _is_atom(text):
        return text
    for context in (f"({placeholder})", f"({placeholder},", f", {placeholder})"):
        if context in template:
            return text
    return f"({text})"


def _is_atom(s: str) -> bool:
    """True for a name, a number, a call or ``-name``: generated code puts spaces
    around every binary operator, so anything without a space is one operand."""
    return " " not in s


class _Program:
    """One compiled trace: the generated function and what it reads and writes."""

    def __init__(
        self,
        f: Callable[..., Any],
        flat: list[float],
        sig: Any,
        has_aux: bool,
        input_grads: bool,
        backward: bool,
        strict: bool,
    ) -> None:
        inputs = [Value(x) for x in flat]
        args = _rebuild(sig, inputs, [0])
        recorder = _ControlFlowRecorder()
        previous = _value.set_trace_hook(recorder)
        try:
            result = f(*args)
        finally:
            _value.set_trace_hook(previous)
        self.control_flow = recorder.events
        if recorder.events:
            message = (
                "Python control flow looked at Values while tracing; the compiled code keeps "
                "the branch taken for the traced inputs:\n  " + "\n  ".join(recorder.events)
            )
            if strict:
                raise TraceError(message)
            warnings.warn(message, TraceWarning, stacklevel=4)
        aux: Any = None
        if has_aux:
            if not isinstance(result, tuple) or len(result) != 2:
                raise TypeError("with has_aux=True, f must return a pair (output, aux)")
            result, aux = result
        if isinstance(result, bool) or not isinstance(result, (Value, int, float)):
            raise TypeError(f"f must return a scalar Value, not {type(result).__name__}")
        root = result if isinstance(result, Value) else Value(result)
        aux_items: list[Any] = []
        self.aux_sig = _aux_flatten(aux, aux_items) if has_aux else None
        gen = _Codegen(root, aux_items, inputs, input_grads, backward)
        self.live = gen.live
        self.n_nodes = gen.n_nodes
        returns = [gen.output_var, "(" + "".join(f"{e}, " for e in gen.aux_exprs) + ")"]
        returns.append("(" + "".join(f"{g}, " for g in gen.leaf_grads) + ")")
        returns.append("(" + "".join(f"{g}, " for g in gen.input_grad_vars) + ")")
        self.grad_leaves = [self.live[int(g[2:])] for g in gen.leaf_grads]
        self.n_inputs = len(inputs)
        header = ["def forward_backward(inputs, leaves):"]
        if inputs:
            header.append(f"    {''.join(f'x{i}, ' for i in range(len(inputs)))}= inputs")
        if self.live:
            header.append(f"    {''.join(f'p{i}, ' for i in range(len(self.live)))}= leaves")
        self.source = "\n".join([*header, *gen.lines, f"    return {', '.join(returns)}", ""])
        marker = "    # backward:"
        self.backward_line = next(
            (i for i, line in enumerate(self.source.splitlines(), 1) if line.startswith(marker)),
            len(self.source.splitlines()) + 1,
        )
        namespace = gen.namespace
        exec(compile_source(self.source), namespace)  # our own generated source, never user text
        self.fn = namespace["forward_backward"]
        self.has_aux = has_aux

    def run(self, flat: list[float]) -> tuple[float, Any, Any]:
        leaves = [v.data for v in self.live]
        try:
            out, aux, grads, in_grads = self.fn(flat, leaves)
        except ZeroDivisionError as e:
            if _generated_line(e) > self.backward_line:
                raise ValueError(
                    f"a derivative is infinite at these inputs ({e}); run f eagerly to see which op"
                ) from None
            raise ZeroDivisionError(
                f"{e} in the compiled forward pass; run f eagerly to see which op"
            ) from None
        # Eager ops raise on overflow; inlined + and * cannot, so check every number
        # that leaves the replay before anything is changed (nothing half-applied).
        for what, numbers in (
            ("output", (out,)),
            ("aux output", aux),
            ("gradient", grads),
            ("input gradient", in_grads),
        ):
            for x in numbers:
                if x - x != 0.0:
                    raise OverflowError(
                        f"the compiled function produced a non-finite {what} ({x!r}); "
                        "run f eagerly to find the op that overflowed"
                    )
        for v, g in zip(self.grad_leaves, grads):
            v.grad += g
        aux_value = _aux_rebuild(self.aux_sig, list(aux), [0]) if self.has_aux else None
        # 0.0 + g: eager sums start at 0.0, which turns a -0.0 gradient into 0.0
        return out, aux_value, tuple(0.0 + g for g in in_grads)


def _generated_line(error: BaseException) -> int:
    """The line of the generated function where ``error`` was raised (0 if none)."""
    line = 0
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def compile_source(source: str) -> Any:
    """Python's built-in ``compile`` (this module's ``compile`` shadows the name)."""
    import builtins

    return builtins.compile(source, _FILENAME, "exec")


class CompiledFunction:
    """A function traced and written out as straight-line Python (see :func:`compile`)."""

    def __init__(
        self,
        f: Callable[..., Any],
        has_aux: bool,
        input_grads: bool,
        backward: bool,
        strict: bool,
    ) -> None:
        if not callable(f):
            raise TypeError(f"compile() needs a callable, not {type(f).__name__}")
        self.f = f
        self.has_aux = has_aux
        self.input_grads = input_grads
        self.backward = backward
        self.strict = strict
        self._programs: dict[Any, _Program] = {}
        self._last: _Program | None = None
        self.__name__ = getattr(f, "__name__", "compiled")
        self.__doc__ = getattr(f, "__doc__", None)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {len(self._programs)} trace(s)>"

    def trace(self, *args: Any) -> _Program:
        """Trace and compile for the structure of ``args`` (done on first call anyway)."""
        flat: list[float] = []
        sig = _flatten(list(args), flat, "args")
        program = self._programs.get(sig)
        if program is None:
            program = _Program(
                self.f, flat, sig, self.has_aux, self.input_grads, self.backward, self.strict
            )
            self._programs[sig] = program
        self._last = program
        return program

    def __call__(self, *args: Any) -> Any:
        flat: list[float] = []
        sig = _flatten(list(args), flat, "args")
        program = self._programs.get(sig)
        if program is None:
            program = self.trace(*args)
        self._last = program
        out, aux, in_grads = program.run(flat)
        result: Any = out
        if self.has_aux:
            result = (out, aux)
        if self.input_grads:
            return result, tuple(in_grads)
        return result

    @property
    def source(self) -> str:
        """The generated Python of the latest trace (trace or call first)."""
        if self._last is None:
            raise RuntimeError(
                "nothing traced yet: call the compiled function once, or .trace(*args)"
            )
        return self._last.source

    @property
    def control_flow(self) -> list[str]:
        """Value comparisons / float() seen while tracing (frozen branches), latest trace."""
        return [] if self._last is None else list(self._last.control_flow)


def compile(
    f: Callable[..., Any],
    *,
    has_aux: bool = False,
    input_grads: bool = False,
    backward: bool = True,
    strict: bool = False,
) -> CompiledFunction:
    """Trace ``f`` on first call and replay it as generated straight-line Python.

    ``f`` takes numbers (or nested lists/tuples of numbers: a batch) and returns a
    scalar Value, or ``(value, aux)`` with ``has_aux=True`` where ``aux`` holds
    Values (returned as floats, e.g. predictions). Each call returns the output as a
    float and, unless ``backward=False``, accumulates d(output)/d(leaf) into the
    ``.grad`` of every leaf that ``f`` captured (parameters, constants).
    ``input_grads=True`` also returns the gradients with respect to the inputs:
    ``(result, input_grads)``. ``strict=True`` refuses value-dependent control flow
    instead of warning. ``.source`` shows the generated code.
    """
    if input_grads and not backward:
        raise ValueError(
            "input_grads=True needs backward=True (gradients come from the backward pass)"
        )
    return CompiledFunction(f, has_aux, input_grads, backward, strict)
