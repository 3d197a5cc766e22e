"""engine.trace: arguments taken apart and put back, iteratively; what a trace records."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Value
from engine.trace import flatten_args, flatten_aux, rebuild_aux, run

nested = st.recursive(
    st.floats(-1e6, 1e6, allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple),
    max_leaves=12,
)


@given(st.lists(nested, max_size=3).map(tuple))
def test_arguments_come_back_in_their_shape(args):
    flat, sig = flatten_args(args)
    seen = []
    t = run(lambda *a: (seen.append(a), Value(1.0))[1], flat, sig, has_aux=False)
    assert len(t.inputs) == len(flat)

    def numbers(obj):
        if isinstance(obj, Value):
            return obj.data
        return type(obj)(numbers(o) for o in obj) if isinstance(obj, (list, tuple)) else obj

    assert numbers(seen[0]) == args


def test_signatures_are_flat_so_deep_nesting_hashes_and_compares():
    deep: list = [1.0]
    for _ in range(10_000):
        deep = [deep]
    flat, sig = flatten_args((deep,))
    assert flat == [1.0] and all(type(t) is int for t in sig)
    assert {sig: 1}[flatten_args((deep,))[1]] == 1


def test_numbers_are_checked_and_named():
    assert flatten_args((Fraction(1, 4), [2, Value(3.0)]))[0] == [0.25, 2.0, 3.0]
    with pytest.raises(TypeError, match=r"args\[1\]\[0\] is str"):
        flatten_args((1.0, ["a"]))
    with pytest.raises(TypeError, match=r"args\[0\] is bool"):
        flatten_args((True,))
    with pytest.raises(ValueError, match=r"args\[0\] is too large"):
        flatten_args((10**400,))


def test_a_shared_list_is_fine_a_cycle_is_not():
    row = [1.0, 2.0]
    assert flatten_args(([row, row],))[0] == [1.0, 2.0, 1.0, 2.0]
    t: tuple = (1.0, [])
    t[1].append(t)
    with pytest.raises(ValueError, match=r"args\[0\]\[1\]\[0\] contains itself"):
        flatten_args((t,))


def test_aux_round_trip_deep_and_cyclic():
    aux = {"a": [1, (Value(2.0), 3.5)], "b": {}}
    items, shape = flatten_aux(aux)
    values = [x.data if isinstance(x, Value) else x for x in items]
    assert rebuild_aux(shape, values) == {"a": [1.0, (2.0, 3.5)], "b": {}}
    deep: list = [Value(1.0)]
    for _ in range(5_000):
        deep = [deep]
    items, shape = flatten_aux(deep)
    assert len(items) == 1
    rebuilt = rebuild_aux(shape, [7.0])
    for _ in range(5_000):
        rebuilt = rebuilt[0]
    assert rebuilt == [7.0]
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="contains itself"):
        flatten_aux(loop)


def test_a_trace_records_comparisons_with_their_operands():
    def f(x, y):
        h = x * y
        if h > 1.0 and x <= y:
            return h
        return -h

    t = run(f, [2.0, 3.0], flatten_args((2.0, 3.0))[1], has_aux=False)
    assert [(g.op, g.result) for g in t.guards] == [(">", True), ("<=", True)]
    assert t.guards[0].x is t.root and t.guards[0].other == 1.0
    assert t.guards[1].x is t.inputs[0] and t.guards[1].other is t.inputs[1]
    assert "test_trace.py" in t.guards[0].where
