"""Nodes and the garbage collector (engine/value.pxd explains the rule).

Compiled, a node that can only point at numbers, exact strings and untracked nodes
is untracked by the collector (it cannot be part of a reference cycle), and one with
a tracked parent stays tracked. These tests check both halves, that the fields that
could carry an object refuse one, and that nothing leaks: a cycle through a Value
is collected, a long chain is freed, training does not grow memory.
"""

from __future__ import annotations

import copy
import gc
import pickle
import tracemalloc
import weakref

import pytest

import engine
from engine import Value, dot

compiled_only = pytest.mark.skipif(
    not engine.COMPILED,
    reason="pure build: CPython's collector watches every Python object (nothing to untrack)",
)


class Named(Value):
    """A Python subclass: its instances have a __dict__, so they can hold anything."""


def _made_by_every_path() -> dict[str, Value]:
    x, w = Value(0.5, label="x"), Value(-1.5)
    y = x * w + 2.0
    nodes = {
        "a leaf": x,
        "x * w": x * w,
        "x + 2.0": x + 2.0,
        "2.0 * x (a constant on the left)": 2.0 * x,
        "-x": -x,
        "tanh (a unary op of the table)": x.tanh(),
        "x ** 3 (a parametrised op)": x**3,
        "max (a binary op of the table)": x.max(w),
        "dot": dot([w, w], [x, 1.0]),
        "detach": y.detach(),
        "copy.copy": copy.copy(y),
        "copy.deepcopy": copy.deepcopy(y),
        "pickle": pickle.loads(pickle.dumps(y)),
    }
    with engine.no_grad():
        nodes["a result under no_grad"] = x * w
    return nodes


@compiled_only
def test_nodes_of_values_only_are_not_watched_by_the_collector() -> None:
    tracked = [name for name, v in _made_by_every_path().items() if gc.is_tracked(v)]
    assert tracked == []
    deep = copy.deepcopy(dot([Value(1.0)] * 3, [Value(2.0)] * 3))
    assert not any(gc.is_tracked(v) for v in engine.toposort(deep))


@compiled_only
def test_a_node_with_a_tracked_parent_is_tracked_and_so_are_its_descendants() -> None:
    s, x = Named(2.0), Value(3.0)
    assert gc.is_tracked(s)
    made = {
        "s * x": s * x,
        "x + s": x + s,
        "-s": -s,
        "s.tanh()": s.tanh(),
        "x.max(s)": x.max(s),
        "dot([x], [s])": dot([x], [s]),
        "dot([s, x], [x, x]) (the sum too)": dot([s, x], [x, x]),
        "(s * x).exp() + x (a grandchild)": (s * x).exp() + x,
        "copy.copy(s * x)": copy.copy(s * x),
    }
    untracked = [name for name, v in made.items() if not gc.is_tracked(v)]
    assert untracked == []
    assert not gc.is_tracked(x * x)  # a node of plain Values beside them is not


def test_a_cycle_through_a_value_is_collected() -> None:
    """The documented answer: a Value's own fields cannot close a cycle (below), and a
    cycle through a subclass instance's __dict__ is the collector's to find, in both
    builds, also through the untracked-looking nodes made from it."""
    s = Named(1.0)
    x = Value(2.0)
    s.children = [s * x, (s * x).tanh() + x]  # s -> list -> child -> s
    gone = weakref.ref(s)
    del s
    gc.collect()
    assert gone() is None
    assert x.data == 2.0


def test_no_field_of_a_value_can_hold_an_object_that_leads_back_to_it() -> None:
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(TypeError, match="Value grad must be a real number or None, not list"):
        x.grad = [y]  # type: ignore[assignment]

    class Tag(str):
        pass

    tag = Tag("w")
    tag.node = y  # type: ignore[attr-defined]
    x.label = tag
    z = Value(3.0, label=tag)
    assert type(x.label) is str and type(z.label) is str  # a copy, not the subclass
    assert x.label == z.label == "w"
    with pytest.raises(TypeError, match="already made"):
        y.__setstate__((1.0, 0.0, None, "+", y, y, 1.0, 1.0))  # a node its own parent
    assert y.parents == (x, y.parents[1]) and y.parents[1] is not y


@compiled_only
@pytest.mark.parametrize("field", ["_grad", "_label", "_a", "_b"])
def test_compiled_the_private_fields_are_readonly_from_python(field: str) -> None:
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(AttributeError, match="not writable"):
        setattr(y, field, y)


@compiled_only
def test_compiled_op_takes_an_exact_str_only() -> None:
    class Tag(str):
        pass

    y = Value(1.0) * 2.0
    with pytest.raises(TypeError, match="Expected str, got Tag"):
        y.op = Tag("*")
    assert y.op == "*"


def _train(steps: int, w: list[Value], xs: list[list[float]], ys: list[float]) -> float:
    loss = None
    for _ in range(steps):
        loss = Value(0.0)
        for x, t in zip(xs, ys):
            h = [dot(w[i : i + 2], x, w[6 + i // 2]).tanh() for i in (0, 2, 4)]
            out = dot(w[9:12], h, w[12])
            loss = loss + (out - t) ** 2
        for p in w:
            p.grad = 0.0
        loss.backward()
        for p in w:
            p.data -= 0.01 * p.grad
    assert loss is not None
    return loss.data


def test_a_thousand_training_steps_do_not_grow_memory() -> None:
    """The issue's leak check: after a warm-up, 1,000 more steps of a small network
    (three tanh neurons, eight samples: ~200 nodes a step) leave the traced memory
    where it was. A node kept alive per step would add >= 96 * 200 * 1,000 bytes."""
    w = [Value(0.1 * (i % 5) - 0.2) for i in range(13)]
    xs = [[(i % 4) / 4.0, (i // 4) / 2.0] for i in range(8)]
    ys = [1.0 if i % 3 else -1.0 for i in range(8)]
    gc.collect()
    tracemalloc.start()
    try:
        first = _train(50, w, xs, ys)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        last = _train(1_000, w, xs, ys)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert last < first  # it trained
    assert grown < 20_000, f"{grown} bytes more after 1,000 steps"


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_a_subclass_instance_on_the_right_of_an_operator(op: str) -> None:
    """Compiled, ``x + s`` asks ``s.__radd__`` first: it must not ask it again."""
    import operator

    f = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
    f["**"] = operator.pow
    x, s = Value(3.0), Named(2.0)
    out = f[op](x, s)
    assert out.data == f[op](3.0, 2.0)
    assert f[op](2.0, s).data == f[op](2.0, 2.0)
