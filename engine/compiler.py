"""``engine.compile``: trace a computation once, replay it as straight-line Python.

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
the graph (:mod:`engine.trace`). That graph is written out as one Python function
(:mod:`engine.codegen`): the forward pass as one assignment per node that anything
needs later, the backward pass as the chain rule, one line per gradient, in the very
order ``Value.backward()`` would add them (so values and gradients match eager
evaluation to the last bit). This module runs it on every later call.

* Inputs are the numbers in the arguments: new numbers each call.
* Leaves ``f`` reaches that are not inputs (the model's parameters, captured
  constants) are read by reference on every call, so an optimizer that changes
  ``p.data`` between calls is seen, and their ``.grad`` accumulates as with
  ``backward()``. Intermediate nodes do not exist in the replay, so they get no grad.
* Piecewise ops (relu, abs, leaky_relu, ...) are written as conditional
  expressions: each call takes the branch of *its* inputs.
* Python control flow on a comparison of Values (``if x > 0:``) is guarded: the
  comparison is recorded with both sides as graph nodes, and every call checks that
  it comes out the same for the new inputs. When one does not, ``f`` is traced again
  for the new branch (up to :data:`MAX_TRACES` traces per argument structure; calls
  beyond that run eagerly, with a :class:`TraceWarning`), or, with ``strict=True``,
  a :class:`TraceError` says which comparison changed.
* Other reads of a Value's number (``round(v)``, ``f"{v:.3f}"``, ``detach()``, a ``no_grad()``
  block, ``gradients()`` as floats) are frozen at the traced number: they are
  reported with a :class:`TraceWarning` naming the source line (``strict=True``
  makes it an error); reading ``v.data`` directly cannot be detected.
* Errors are eager's: when the replay meets a domain error, an overflow or a
  non-finite number anywhere, ``f`` is run eagerly on the same inputs, which raises
  the engine's own error naming the op (or, if it does not, its numbers are returned).
* A Value passed as an argument is read as a number (an input); a non-leaf node
  that ``f`` captures from outside is recomputed from its leaves on every call.
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Callable
from typing import Any

from engine import codegen, trace
from engine.trace import TraceError, TraceWarning
from engine.value import Value

__all__ = ["compile", "CompiledFunction", "TraceWarning", "TraceError", "MAX_TRACES"]

#: Traces kept per argument structure (one per branch combination seen), as
#: torch.compile bounds its recompiles; calls matching none of them run eagerly.
MAX_TRACES = 8

_FILENAME = "<chainrule compiled>"


class Program:
    """One compiled trace: the generated function and what it reads and writes."""

    def __init__(self, t: trace.Trace, input_grads: bool, backward: bool) -> None:
        gen = codegen.generate(
            t.root, t.aux_items, t.guards, t.inputs, input_grads=input_grads, backward=backward
        )
        self.generated = gen
        self.guards = t.guards
        self.events = t.events
        self.live = gen.live
        self.grad_leaves = gen.grad_leaves
        self.n_nodes = gen.n_nodes
        self.backward_line = gen.backward_line
        self.aux_shape = t.aux_shape
        self.aux_returned = gen.aux_returned
        self.aux_constants = [a if not isinstance(a, Value) else 0.0 for a in t.aux_items]
        namespace = gen.namespace
        # our own generated source (codegen writes every character of it), never user text
        exec(builtins.compile(gen.source, _FILENAME, "exec"), namespace)
        self.fn = namespace["forward_backward"]

    @property
    def source(self) -> str:
        """The generated source, with labels as comments."""
        return self.generated.view()

    def call(self, flat: list[float]) -> Any:
        """The generated function's result: a tuple, a guard index, or NON_FINITE;
        None if it raised (a domain error, a division by zero, an overflow)."""
        try:
            return self.fn(flat, [v.data for v in self.live])
        except (ArithmeticError, ValueError):
            return None

    def finish(self, result: tuple[Any, ...]) -> tuple[float, Any, tuple[float, ...]] | None:
        """Apply a successful replay: check every number, then add the gradients.

        None (and nothing changed) if a number is not finite: eager would have raised.
        """
        out, aux, grads, in_grads = result
        total = out + sum(aux) + sum(grads) + sum(in_grads)
        if total - total != 0.0 and not all(
            x - x == 0.0 for part in ((out,), aux, grads, in_grads) for x in part
        ):
            return None
        for v, g in zip(self.grad_leaves, grads):
            v.grad += g
        aux_value = None
        if self.aux_shape is not None:
            values = list(self.aux_constants)
            for i, x in zip(self.aux_returned, aux):
                values[i] = x
            aux_value = trace.rebuild_aux(self.aux_shape, values)
        # 0.0 + g: eager sums start at 0.0, which turns a -0.0 gradient into 0.0
        return out, aux_value, tuple(0.0 + g for g in in_grads)


def _eager(t: trace.Trace, input_grads: bool, backward: bool) -> tuple[float, Any, Any]:
    """The call's result from the traced graph itself: eager evaluation, ``backward()``
    included, so an overflowing gradient raises the engine's own error (with every
    grad left as it was) and the captured leaves' grads accumulate as eager's do."""
    in_grads: tuple[float, ...] = ()
    if backward:
        t.root.backward()
        if input_grads:
            in_grads = tuple(x.grad for x in t.inputs)
    aux_value = None
    if t.aux_shape is not None:
        values = [a.data if isinstance(a, Value) else a for a in t.aux_items]
        aux_value = trace.rebuild_aux(t.aux_shape, values)
    return t.root.data, aux_value, in_grads


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
        # per argument structure, its traces, the one that ran last first
        self._programs: dict[tuple[int, ...], list[Program]] = {}
        self._last: Program | None = None
        self._warned_full = False
        self.__name__ = getattr(f, "__name__", "compiled")
        self.__doc__ = getattr(f, "__doc__", None)

    def __repr__(self) -> str:
        n = sum(len(p) for p in self._programs.values())
        return f"<compiled {codegen.escape(str(self.__name__))}: {n} trace(s)>"

    def _new_program(self, t: trace.Trace) -> Program:
        if t.events:
            message = (
                "Python code read a Value's number while tracing; the compiled code keeps "
                "the number seen then:\n  " + "\n  ".join(t.events)
            )
            if self.strict:
                raise TraceError(message)
            warnings.warn(message, TraceWarning, stacklevel=4)
        return Program(t, self.input_grads, self.backward)

    def trace(self, *args: Any) -> Program:
        """Trace and compile for the structure of ``args`` (done on first call anyway)."""
        flat, sig = trace.flatten_args(args)
        programs = self._programs.setdefault(sig, [])
        if not programs:
            programs.append(self._new_program(trace.run(self.f, flat, sig, self.has_aux)))
        self._last = programs[0]
        return programs[0]

    def __call__(self, *args: Any) -> Any:
        flat, sig = trace.flatten_args(args)
        out, aux, in_grads = self._run(flat, sig)
        result: Any = (out, aux) if self.has_aux else out
        if self.input_grads:
            return result, in_grads
        return result

    def _run(self, flat: list[float], sig: tuple[int, ...]) -> tuple[float, Any, Any]:
        programs = self._programs.setdefault(sig, [])
        missed: tuple[Program, int] | None = None
        # a trace whose guards all held but whose numbers eager would refuse
        refused = False
        for k, program in enumerate(programs):
            r = program.call(flat)
            if type(r) is tuple:
                done = program.finish(r)
                if done is not None:
                    if k:
                        programs.insert(0, programs.pop(k))
                    self._last = program
                    return done
                refused = True
                break
            if r is None:
                continue  # raised before every guard was checked: try the others
            if r == codegen.NON_FINITE:
                refused = True
                break
            missed = (program, r)
        # No trace fits: run f eagerly. It raises the engine's own error if there is one.
        t = trace.run(self.f, flat, sig, self.has_aux)
        if refused:
            return _eager(t, self.input_grads, self.backward)
        if self.strict and programs:
            reason = (
                f"the comparison {missed[0].guards[missed[1]].describe()}, and differs now"
                if missed is not None
                else "a comparison made while tracing comes out differently now"
            )
            raise TraceError(f"strict=True: {reason}; compile without strict to trace each branch")
        if len(programs) >= MAX_TRACES:
            if not self._warned_full:
                self._warned_full = True
                warnings.warn(
                    f"{self.__name__}: more than {MAX_TRACES} branch combinations for one "
                    "argument structure; calls that match none of the kept traces run eagerly",
                    TraceWarning,
                    stacklevel=3,
                )
            return _eager(t, self.input_grads, self.backward)
        program = self._new_program(t)
        r = program.call(flat)
        done = program.finish(r) if type(r) is tuple else None
        if done is None:
            # eager does not agree with this replay (it raises in backward, or the
            # replay overflowed where eager did not): eager's answer stands
            return _eager(t, self.input_grads, self.backward)
        programs.insert(0, program)
        self._last = program
        return done

    @property
    def source(self) -> str:
        """The generated Python of the latest trace (trace or call first), each
        labelled value's label shown as a comment."""
        if self._last is None:
            raise RuntimeError(
                "nothing traced yet: call the compiled function once, or .trace(*args)"
            )
        return self._last.source

    @property
    def control_flow(self) -> list[str]:
        """Frozen reads of a Value's number (``float()``, ``detach()``, ...) seen while
        tracing, latest trace."""
        return [] if self._last is None else list(self._last.events)

    @property
    def guards(self) -> list[str]:
        """The comparisons on Values the latest trace is guarded by, described."""
        return [] if self._last is None else [g.describe() for g in self._last.guards]


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
    ``(result, input_grads)``. ``strict=True`` refuses frozen reads of a Value's
    number while tracing and a changed comparison (a new branch) at a call, instead
    of warning and tracing again. ``.source`` shows the generated code.
    """
    if input_grads and not backward:
        raise ValueError(
            "input_grads=True needs backward=True (gradients come from the backward pass)"
        )
    return CompiledFunction(f, has_aux, input_grads, backward, strict)
