"""Tracing for ``engine.compile``: arguments in, one eager run recorded, outputs out.

Three jobs, all iterative (a 5,000-deep argument list works, and a list that
contains itself is refused with an error instead of a RecursionError):

* :func:`flatten_args` turns a call's arguments (numbers, Values, nested lists and
  tuples of them) into the flat list of input numbers and a *signature*: a flat tuple
  of tokens describing the nesting. Calls with the same signature share traces.
* :func:`run` calls the function once on fresh input Values with a trace hook
  installed (``engine.value.set_trace_hook``), and returns a :class:`Trace`: the
  inputs, the output node, the aux output, every comparison made on a Value (the
  *guards*, with both operands as graph nodes and the result seen) and the other
  reads of a Value's number that the graph cannot follow (``float()``, ``detach()``,
  ``no_grad()``, ``gradients()`` as floats).
* :func:`flatten_aux` / :func:`rebuild_aux` take an aux output apart and put the
  replay's numbers back into the same shape.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine import value as _value
from engine.checks import is_real, to_float
from engine.value import Value

__all__ = [
    "TraceWarning",
    "TraceError",
    "Guard",
    "Trace",
    "flatten_args",
    "rebuild_args",
    "flatten_aux",
    "rebuild_aux",
    "run",
]


class TraceWarning(UserWarning):
    """Python code read a Value's number while tracing; the replay keeps that number."""


class TraceError(RuntimeError):
    """Raised instead of :class:`TraceWarning` (and when a guard fails) with ``strict=True``."""


# Signature tokens: a number, the start of a list / tuple / dict, the end of one.
NUMBER, LIST, TUPLE, DICT, END = 0, 1, 2, 3, 4

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def _path(frames: list[list[Any]]) -> str:
    """``args[0][3]``: where the item being read sits (for error messages)."""
    return "args" + "".join(f"[{frame[1] - 1}]" for frame in frames)


def flatten_args(args: tuple[Any, ...]) -> tuple[list[float], tuple[int, ...]]:
    """The numbers in ``args`` (in order) and the signature of their nesting.

    A Value is read as its number. Every number must be real and finite: a NaN or an
    infinity is refused here, naming where it was (``args[1][0] must be finite``).
    """
    flat: list[float] = []
    sig: list[int] = []
    push_number = flat.append
    token = sig.append
    open_ids: set[int] = {id(args)}
    # frames of [sequence, index of the next item]
    frames: list[list[Any]] = [[args, 0]]
    while frames:
        frame = frames[-1]
        seq, i = frame
        if i == len(seq):
            frames.pop()
            open_ids.discard(id(seq))
            if frames:
                token(END)
            continue
        obj = seq[i]
        frame[1] = i + 1
        kind = type(obj)
        if kind is float:
            if obj - obj != 0.0:
                raise ValueError(f"{_path(frames)} must be finite, got {obj!r}")
            push_number(obj)
            token(NUMBER)
        elif kind is list or kind is tuple or isinstance(obj, (list, tuple)):
            if id(obj) in open_ids:
                raise ValueError(
                    f"{_path(frames)} contains itself: compiled functions take numbers or "
                    "nested lists/tuples of numbers without cycles"
                )
            open_ids.add(id(obj))
            token(LIST if isinstance(obj, list) else TUPLE)
            frames.append([obj, 0])
        elif isinstance(obj, Value):
            push_number(obj.data)
            token(NUMBER)
        elif is_real(obj):
            push_number(to_float(obj, _path(frames)))
            token(NUMBER)
        else:
            raise TypeError(
                f"compiled functions take numbers or (nested) lists/tuples of numbers; "
                f"{_path(frames)} is {type(obj).__name__}"
            )
    return flat, tuple(sig)


def rebuild_args(sig: tuple[int, ...], items: list[Value]) -> list[Any]:
    """The argument list of ``sig`` with ``items`` in the places of its numbers."""
    root: list[Any] = []
    stack: list[list[Any]] = [root]
    kinds: list[int] = [LIST]
    pos = 0
    for t in sig:
        if t == NUMBER:
            stack[-1].append(items[pos])
            pos += 1
        elif t == END:
            done = stack.pop()
            if kinds.pop() == TUPLE:
                stack[-1][-1] = tuple(done)
        else:
            new: list[Any] = []
            stack[-1].append(new)
            stack.append(new)
            kinds.append(t)
    return root


def flatten_aux(obj: Any) -> tuple[list[Any], tuple[Any, ...]]:
    """The items of an aux output (Values, and numbers as floats) and its shape.

    Dicts keep their keys in the shape; a container that contains itself is refused.
    """
    items: list[Any] = []
    shape: list[Any] = []
    open_ids: set[int] = set()
    # frames of [iterator over the children, the container]
    frames: list[tuple[Any, Any]] = []
    pending: list[Any] = [obj]
    while True:
        if pending:
            item = pending.pop()
        else:
            if not frames:
                break
            it, container = frames[-1]
            nxt = next(it, _DONE)
            if nxt is _DONE:
                frames.pop()
                open_ids.discard(id(container))
                shape.append(END)
                continue
            item = nxt
        if isinstance(item, Value):
            items.append(item)
            shape.append(NUMBER)
        elif is_real(item):
            items.append(to_float(item, "an aux output number", finite=False))
            shape.append(NUMBER)
        elif isinstance(item, (list, tuple, dict)):
            if id(item) in open_ids:
                raise ValueError("the aux output contains itself")
            open_ids.add(id(item))
            if isinstance(item, dict):
                keys = tuple(item)
                shape.append(DICT)
                shape.append(keys)
                frames.append((iter([item[k] for k in keys]), item))
            else:
                shape.append(LIST if isinstance(item, list) else TUPLE)
                frames.append((iter(item), item))
        else:
            raise TypeError(
                "aux output may hold Values, numbers, lists, tuples and dicts, "
                f"not {type(item).__name__}"
            )
    return items, tuple(shape)


_DONE = object()


def rebuild_aux(shape: tuple[Any, ...], values: list[float]) -> Any:
    """The aux output of ``shape`` with ``values`` in the places of its items."""
    holder: list[Any] = []
    stack: list[Any] = [holder]
    keys_stack: list[Any] = [None]
    kinds: list[int] = [LIST]
    pos = 0
    i = 0
    n = len(shape)
    while i < n:
        t = shape[i]
        i += 1
        if t == NUMBER:
            stack[-1].append(values[pos])
            pos += 1
        elif t == END:
            done = stack.pop()
            kind = kinds.pop()
            keys = keys_stack.pop()
            built: Any = done
            if kind == TUPLE:
                built = tuple(done)
            elif kind == DICT:
                built = dict(zip(keys, done))
            stack[-1][-1] = built
        else:
            new: list[Any] = []
            stack[-1].append(new)
            stack.append(new)
            kinds.append(t)
            if t == DICT:
                keys_stack.append(shape[i])
                i += 1
            else:
                keys_stack.append(None)
    return holder[0]


# --- one traced run -------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A comparison seen while tracing: ``x op other`` gave ``result``.

    ``other`` is a Value (a node of the graph) or a float. The replay evaluates both
    sides for its own inputs and checks that the comparison comes out the same.
    """

    x: Value
    op: str
    other: Value | float
    result: bool
    where: str

    def describe(self) -> str:
        other = "a Value" if isinstance(self.other, Value) else repr(self.other)
        return f"a Value {self.op} {other} was {self.result} at {self.where}"


@dataclass
class Trace:
    """What one eager run of the traced function did."""

    inputs: list[Value]
    root: Value
    aux_items: list[Any]
    aux_shape: tuple[Any, ...] | None
    guards: list[Guard] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def _caller() -> str:
    """The first frame outside the engine: where the user's code did something."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_ENGINE_DIR):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


class _Recorder:
    """The trace hook (see ``engine.value.set_trace_hook``) installed while tracing."""

    def __init__(self) -> None:
        self.guards: list[Guard] = []
        self.events: list[str] = []

    def compare(self, x: Value, op: str, other: Any, result: bool) -> None:
        if not isinstance(other, Value):
            # the comparison has accepted it as a real number; an int beyond float64
            # (10**400) compares with every finite float as the infinity of its sign
            try:
                other = float(other)
            except OverflowError:
                other = math.inf if other > 0 else -math.inf
        self.guards.append(Guard(x, op, other, bool(result), _caller()))

    def event(self, what: str) -> None:
        event = f"{what} at {_caller()}"
        if event not in self.events:
            self.events.append(event)


def run(f: Callable[..., Any], flat: list[float], sig: tuple[int, ...], has_aux: bool) -> Trace:
    """Run ``f`` once, eagerly, on new input Values holding ``flat``; record it.

    The engine's own errors (a domain error, an overflow) come out of here unchanged:
    this *is* eager evaluation.
    """
    inputs = [Value(x) for x in flat]
    args = rebuild_args(sig, inputs)
    recorder = _Recorder()
    previous = _value.set_trace_hook(recorder)
    try:
        result = f(*args)
    finally:
        _value.set_trace_hook(previous)
    aux_items: list[Any] = []
    aux_shape: tuple[Any, ...] | None = None
    if has_aux:
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("with has_aux=True, f must return a pair (output, aux)")
        result, aux = result
        aux_items, aux_shape = flatten_aux(aux)
    if not isinstance(result, Value) and not is_real(result):
        raise TypeError(f"f must return a scalar Value, not {type(result).__name__}")
    root = result if isinstance(result, Value) else Value(to_float(result, "f's output"))
    return Trace(inputs, root, aux_items, aux_shape, recorder.guards, recorder.events)
