"""engine.vmap's fast paths give the answers of the plain ones.

Each fast path here is checked against a reference that does not use it: the guards'
one quick test per point against each guard checked in order, sample by sample.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import TraceError, Value, batch_codegen, dot, vmap
from engine.batch import _GuardMiss, _repeat

# --- guards: one quick test per point, each guard in order only when it fails -----------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: every number here, their products and sums are exact in float64: the replay's matrix
#: products and eager's loops give the same numbers, so a comparison cannot tip over
GRID = [-1.0, -0.0, 0.0, 0.5, 1.0, 2.0]


@st.composite
def guarded(draw: Any) -> dict[str, Any]:
    m = draw(st.integers(1, 4))
    kinds = st.sampled_from(["const", "const_left", "value", "mid", "scalar", "layer"])
    guards = draw(
        st.lists(
            st.tuples(
                kinds,
                st.integers(0, m - 1),
                st.integers(0, m - 1),
                st.sampled_from(sorted(COMPARE)),
                st.sampled_from(GRID),
            ),
            min_size=1,
            max_size=10,
        )
    )
    n = draw(st.integers(1, 12))
    rows = draw(st.lists(st.lists(st.sampled_from(GRID), min_size=m, max_size=m), min_size=n))
    weights = draw(st.lists(st.sampled_from(GRID), min_size=3 * (m + 1), max_size=3 * (m + 1)))
    return {"m": m, "guards": guards, "x": rows[:n] if len(rows) >= n else rows, "w": weights}


def guard_program(spec: dict[str, Any]) -> tuple[Callable[..., Any], Callable[..., list[bool]]]:
    """``f``: a loss that makes the spec's comparisons on Values (each one a guard), and
    ``results``: the comparisons' results on one sample, evaluated eagerly."""
    m = spec["m"]
    w = [Value(v) for v in spec["w"]]
    layer = [(w[j * (m + 1) : j * (m + 1) + m], w[j * (m + 1) + m]) for j in range(3)]

    def compare(x: list[Any]) -> tuple[list[bool], Value]:
        zs = [dot(ws, x, b) for ws, b in layer]  # one layer: its rows are one matrix
        out = []
        for kind, i, j, op, c in spec["guards"]:
            cmp = COMPARE[op]
            if kind == "const":
                out.append(bool(cmp(x[i], c)))
            elif kind == "const_left":  # c < x: recorded as x > c
                out.append(bool(cmp(c, x[i])))
            elif kind == "value":
                out.append(bool(cmp(x[i], x[j])))
            elif kind == "mid":
                out.append(bool(cmp(x[i] * 2.0 + w[0], c)))
            elif kind == "scalar":
                out.append(bool(cmp(w[j], c)))
            else:
                out.append(bool(cmp(zs[i % 3], c)))
        loss = sum(zs, Value(0.0)) + sum((wi * xi for wi, xi in zip(w, x)), Value(0.0))
        return out, loss

    def f(x: list[Any]) -> Value:
        return compare(x)[1]

    def results(row: list[float]) -> list[bool]:
        return compare([Value(v) for v in row])[0]

    return f, results


def outcome(g: Any, x: np.ndarray) -> tuple[int, int] | None:
    """None when the call passes, else (guard, sample) of the refusal."""
    try:
        g(x)
    except TraceError as e:
        miss = e.__context__
        assert isinstance(miss, _GuardMiss)
        assert str(e).startswith(f"sample {miss.sample}: the comparison ")
        return miss.k, miss.sample
    return None


@given(guarded())
def test_grouped_guards_refuse_exactly_what_guards_one_by_one_refuse(spec: dict[str, Any]) -> None:
    """The quick test per point must neither pass a batch that a guard refuses nor
    change which guard and which sample are named: the same as each guard checked on
    its own (the replay without the quick tests), and that sample is the first to miss
    that guard."""
    f, results = guard_program(spec)
    x = np.array(spec["x"], dtype=np.float64).reshape(len(spec["x"]), spec["m"])
    table = [results(list(row)) for row in x]  # table[i][k]: guard k on sample i
    got = outcome(vmap(f, strict=True), x)  # traced on sample 0: any other is refused
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch_codegen._Writer, "_guards_quick", lambda self, which: [])
        plain = vmap(f, strict=True)
        want = outcome(plain, x)
        assert "if not (" not in plain.trace(x).source
    assert got == want
    missed = [k for k in range(len(table[0])) if any(row[k] != table[0][k] for row in table)]
    if got is None:
        assert not missed
    else:
        k, i = got
        assert k in missed
        assert i == min(j for j, row in enumerate(table) if row[k] != table[0][k])


@pytest.mark.parametrize("kind", ["const", "const_left", "mid", "layer"])
@pytest.mark.parametrize("op", sorted(COMPARE))
def test_each_comparison_either_way_with_ties(kind: str, op: str) -> None:
    """Every comparison with the traced result True and False, against samples below,
    equal to and above the number: refused exactly when a guard checked alone refuses."""
    for x0, x1, x2 in itertools.product([-1.0, 0.0, 1.0], repeat=3):
        spec = {"m": 1, "guards": [(kind, 0, 0, op, 0.0)], "x": [[x0], [x1], [x2]], "w": [1.0] * 6}
        if kind == "mid":  # x * 2 + w0 against 0
            spec["w"] = [0.0] * 6
        f, results = guard_program(spec)
        x = np.array(spec["x"])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(batch_codegen._Writer, "_guards_quick", lambda self, which: [])
            want = outcome(vmap(f, strict=True), x)
        assert outcome(vmap(f, strict=True), x) == want, (x0, x1, x2)
        missed = any(results([v])[0] != results([x0])[0] for v in (x1, x2))
        assert (want is not None) == missed


def test_guards_on_rows_of_one_matrix_are_one_reduction() -> None:
    """nn's one-hot range checks (0 <= t <= 1 per class): two reductions over the
    targets' rows, not one test per class; a bad class in the middle is still named."""

    def f(x: list[Any], t: list[Any]) -> Value:
        for tk in t:
            if not (tk >= 0.0 and tk <= 1.0):  # as nn.cross_entropy checks a target
                raise ValueError("target outside [0, 1]")
        return sum((a * b for a, b in zip(x, t)), Value(0.0))

    x = np.ones((5, 4))
    t = np.eye(4)[[0, 1, 2, 3, 0]]
    g = vmap(f)
    g(x, t)
    src = g.source
    assert src.count(".min() >= 0.0") == 1 and src.count(".max() <= 1.0") == 1, src
    t[3, 2] = 1.5
    with pytest.raises(TraceError, match=r"^sample 3: the comparison a Value <= 1.0 was True"):
        g(x, t)


# --- max over a layer's rows: the winners where m equals the max, argmax on a tie --------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("ties", ["none", "some", "all"])
def test_max_over_a_layer_matches_eager_with_and_without_ties(reverse: bool, ties: str) -> None:
    """Neurons 0 and 1 differ only in the weight of x[2]: a sample with x[2] = 0 ties
    them (exactly, in eager and in the matrix product alike), and eager's chain of max
    nodes passes the gradient to the one that comes first in the chain. Neurons 2 and 3
    (bias -100) never win."""
    rng = np.random.default_rng(12)
    w = [[Value(float(v)) for v in rng.uniform(-1, 1, 3)] for _ in range(4)]
    w[1][0], w[1][1] = Value(w[0][0].data), Value(w[0][1].data)
    b = [Value(0.25), Value(0.25), Value(-100.0), Value(-100.0)]
    params = [v for j in range(4) for v in (*w[j], b[j])]

    def f(x: list[Any]) -> Value:
        zs = [dot(w[j], x, b[j]) for j in range(4)]
        if reverse:
            zs.reverse()
        m = zs[0]
        for z in zs[1:]:
            m = m.max(z)
        return m * 2.0

    x = rng.normal(size=(16, 3))
    if ties == "all":
        x[:, 2] = 0.0
    elif ties == "some":
        x[::3, 2] = 0.0
    g = vmap(f)
    r = g.per_sample(x)
    assert "_max_rows(" in g.source
    for i, row in enumerate(x):
        for p in params:
            p.grad = 0.0
        out = f([Value(float(v)) for v in row])
        out.backward()
        assert r.losses[i] == pytest.approx(out.data, rel=1e-13, abs=1e-15)
        for k, p in enumerate(params):
            got = r.grads[p][i] if p in r.grads else 0.0
            assert got == pytest.approx(p.grad, rel=1e-13, abs=1e-15), (i, k)


# --- the arguments: read where they lie when float64 and C-contiguous ----------------------


def ce_mlp(seed: int) -> tuple[list[Value], Callable[..., Any]]:
    """A relu layer, a softmax cross-entropy over 4 classes against a one-hot target."""
    rng = np.random.default_rng(seed)
    layers = [
        [([Value(float(v)) for v in rng.uniform(-1, 1, nin)], Value(0.1)) for _ in range(nout)]
        for nin, nout in ((5, 6), (6, 4))
    ]
    params = [v for layer in layers for ws, b in layer for v in (*ws, b)]

    def f(x: list[Any], t: list[Any]) -> Any:
        a = [dot(ws, x, b).relu() for ws, b in layers[0]]
        zs = [dot(ws, a, b) for ws, b in layers[1]]
        m = zs[0]
        for z in zs[1:]:
            m = m.max(z)
        shifted = [z - m for z in zs]
        log_s = sum((d.exp() for d in shifted), Value(0.0)).log()
        for tk in t:
            if not (tk >= 0.0 and tk <= 1.0):
                raise ValueError("target outside [0, 1]")
        return -dot(t, [d - log_s for d in shifted]), zs

    return params, f


def test_arguments_are_read_in_place_and_never_written() -> None:
    """Float64 C-contiguous arguments are the replay's inputs as they are (no copy), as
    read-only views: every call (reduced, per sample, forward only) leaves them as they
    were, and a write through what the generated code gets is refused by numpy."""
    _, f = ce_mlp(1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 5))
    t = np.eye(4)[rng.integers(0, 4, 30)]
    kept = (x.copy(), t.copy())
    g = vmap(f, has_aux=True)
    inputs, shapes, n = g._arrays((x, t))
    assert (shapes, n) == (((5,), (4,)), 30)
    assert np.shares_memory(inputs[0], x) and np.shares_memory(inputs[1], t)
    np.testing.assert_array_equal(inputs[0], x.T)
    for mat in inputs:
        assert not mat.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            mat[0, 0] = 7.0
    g(x, t)
    g.per_sample(x, t)
    vmap(lambda a, b: f(a, b)[1], backward=False)(x, t)
    for mine, before in zip((x, t), kept):
        np.testing.assert_array_equal(mine, before)
        assert mine.flags.writeable  # the caller's own flags are left alone


@pytest.mark.parametrize(
    "make, kept",
    [
        (lambda x: np.asfortranarray(x), True),  # float64, not C-contiguous
        (lambda x: np.repeat(x, 2, axis=1)[:, ::2], True),  # a strided view
        (lambda x: x.astype(np.float32), False),  # another dtype: converted (a new array)
        (lambda x: x.tolist(), False),  # nested lists: converted
    ],
)
def test_other_arguments_are_copied(make: Callable[[Any], Any], kept: bool) -> None:
    """Anything else is read from a copy (float64: into an array kept for the next call
    of this shape; another dtype: numpy's conversion), and gives the numbers of the
    same data as a float64 C-contiguous array."""
    params, f = ce_mlp(3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 5))
    t = np.eye(4)[rng.integers(0, 4, 12)]
    arg = make(x)
    want = np.asarray(arg, dtype=np.float64)  # (float32 rounds x: compare with its numbers)
    g = vmap(f, has_aux=True)
    first, _, _ = g._arrays((arg, t))
    again, _, _ = g._arrays((arg, t))
    if isinstance(arg, np.ndarray):
        assert not np.shares_memory(first[0], arg)
    assert np.shares_memory(first[0], again[0]) == kept
    np.testing.assert_array_equal(first[0], want.T)
    r = g.per_sample(arg, t)
    for p in params:
        p.grad = 0.0
    ref = vmap(f, has_aux=True).per_sample(np.ascontiguousarray(want), t)
    np.testing.assert_array_equal(r.losses, ref.losses)
    for p in params:
        np.testing.assert_array_equal(r.grads[p], ref.grads[p])


def test_a_layer_over_numbers_of_two_arguments() -> None:
    """A layer whose inputs are numbers of two arguments (no one matrix holds them: they
    are stacked), a product of rows of one argument with rows of another, reversed."""
    rng = np.random.default_rng(5)
    ws = [[Value(float(v)) for v in rng.uniform(-1, 1, 4)] for _ in range(3)]
    bs = [Value(0.5), Value(-0.25), Value(0.0)]
    params = [v for j in range(3) for v in (*ws[j], bs[j])]

    def f(x: list[Any], y: Any, t: list[Any]) -> Value:
        zs = [dot(ws[j], [*x, y], bs[j]).tanh() for j in range(3)]
        return dot(t[::-1], zs) + dot(x[1:], t[:2])

    x, y, t = rng.normal(size=(9, 3)), rng.normal(size=9), rng.normal(size=(9, 3))
    g = vmap(f)
    r = g.per_sample(x, y, t)
    assert "_matmul(" in g.source and "_stack(" in g.source
    for i in range(9):
        for p in params:
            p.grad = 0.0
        out = f(
            [Value(float(v)) for v in x[i]], Value(float(y[i])), [Value(float(v)) for v in t[i]]
        )
        out.backward()
        assert r.losses[i] == pytest.approx(out.data, rel=1e-13)
        for p in params:
            assert r.grads[p][i] == pytest.approx(p.grad, rel=1e-12, abs=1e-15)


# --- a sum's gradient repeated over its rows: a view, as np.broadcast_to gives it -------


@pytest.mark.parametrize(
    "g",
    [
        -1.0,  # a number
        np.float64(2.5),
        np.arange(6.0),  # an array (N,)
        np.arange(12.0)[::2],  # strided: np.broadcast_to itself
        np.arange(6.0).reshape(1, 6),  # another shape: np.broadcast_to itself
    ],
)
def test_repeat_is_broadcast_to(g: Any) -> None:
    out = _repeat(g, 3, 6.0)
    want = np.broadcast_to(g, (3, 6))
    assert out.shape == want.shape and out.dtype == np.float64
    np.testing.assert_array_equal(out, want)
    assert not out.flags.writeable
    if isinstance(g, np.ndarray) and g.ndim == 1:
        assert np.shares_memory(out, g)  # a view, not a copy


# --- the arguments' numbers must be finite: one BLAS sum of squares, exact on alarm --------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 3, None), (1, 0, 2), (1, 6, 0), (2, 5, 1)])
def test_a_non_finite_argument_is_named(bad: float, where: tuple[int, int, int | None]) -> None:
    k, i, j = where
    w = Value(0.5)

    def f(a: Any, b: list[Any], c: list[Any]) -> Value:
        return w * a + dot(b, c)

    args = [np.linspace(-1, 1, 7), np.ones((7, 3)), np.ones((7, 3))]
    args[k][(i,) if j is None else (i, j)] = bad
    g = vmap(f)
    at = f"[{i}]" if j is None else rf"\[{i}, \.\.\.\] \(number {j} of it\)"
    at = at.replace("[", r"\[").replace("]", r"\]") if j is None else at
    with pytest.raises(ValueError, match=rf"^sample {i}: argument {k}{at} is {bad!r}; every"):
        g(*args)
    assert w.grad == 0.0


def test_huge_finite_arguments_are_not_refused() -> None:
    """1e200² overflows the sum of squares: the exact check then finds every number
    finite, and the call goes on."""
    w = Value(1e-300)
    g = vmap(lambda a: w * a)
    assert g(np.array([1e200, -1e200, 3e200])) == pytest.approx(1e-100)
