"""engine.testing: the public hypothesis strategies themselves."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from engine import Value, gradgradcheck
from engine.ops import OPS, builtins, lookup
from engine.testing import SMOOTH_OPS, arguments
from tests.strategies import DOMAINS, Expression, domain, expressions, floats, small_floats


@given(floats(-1.5, 2.5))
def test_floats_are_bounded_and_finite(x: float) -> None:
    assert math.isfinite(x)
    assert -1.5 <= x <= 2.5


def test_every_domain_is_an_op_of_one_input() -> None:
    assert set(DOMAINS) <= set(OPS)
    for name in DOMAINS:
        assert lookup(name).arity == 1


@pytest.mark.parametrize("name", [op.name for op in builtins()])
@given(data=st.data())
def test_arguments_stay_inside_the_differentiable_region(name: str, data: st.DataObject) -> None:
    args = data.draw(arguments(name), label="args")
    op = lookup(name)
    assert len(args) == op.arity + (1 if op.has_param else 0)
    # The op and its derivative are defined at the draw and at the central-difference
    # points of each input (not of the constant).
    for k in range(op.arity):
        for t in (args[k] - 1e-6, args[k], args[k] + 1e-6):
            moved = (*args[:k], t, *args[k + 1 :])
            out = op.forward(*moved)
            assert math.isfinite(out)
            second = moved[1] if len(moved) > 1 else None
            for d in op.local_derivatives(moved[0], second, out):
                assert math.isfinite(d)
    # 1e-3 away from every kink and edge of the table
    for edge in op.edges:
        if op.arity == 1:
            assert abs(args[0] - edge[0]) >= 1e-3
    if op.domain_filter is not None:
        assert op.domain_filter(*args)


@pytest.mark.parametrize("name", sorted(DOMAINS))
@given(data=st.data())
def test_domain_draws_are_the_first_argument_of_arguments(name: str, data: st.DataObject) -> None:
    x = data.draw(domain(name), label="x")
    intervals = lookup(name).domain[0]
    assert any(lo <= x <= hi for lo, hi in intervals)


def test_unknown_domain_names_the_op() -> None:
    with pytest.raises(KeyError, match="no domain known for op 'frobnicate'"):
        domain("frobnicate")


# --- Expression ---------------------------------------------------------------------------


def test_expression_repr_prints_the_program() -> None:
    e = Expression(2, (("add", 0, 1), ("mul", 2, 0), ("sin", 3, 3)))
    assert repr(e) == ("Expression(x0, x1: t0 = add(x0, x1); t1 = mul(t0, x0); t2 = sin(t1, t1))")


def test_expression_evaluates_with_shared_subexpressions() -> None:
    # t0 = x0 * x1 is used twice; t1 = t0 + t0; t2 = t1 * t0 (the reused intermediate).
    e = Expression(2, (("mul", 0, 1), ("add", 2, 2), ("mul", 3, 2)))
    assert e(2.0, -3.0) == 72.0  # 2 (x y)² on floats
    x, y = Value(2.0), Value(-3.0)
    out = e(x, y)
    assert out.data == 72.0
    out.backward()
    assert (x.grad, y.grad) == (72.0, -48.0)  # 4 x y², 4 x² y


def test_expression_arity_is_checked() -> None:
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        Expression(2, (("add", 0, 1),))(1.0, 2.0, 3.0)


@given(expressions(n_inputs=2, max_steps=5))
def test_expressions_are_well_formed_dags(e: Expression) -> None:
    assert e.n_inputs == 2
    assert 1 <= len(e.steps) <= 5
    for k, (op, i, j) in enumerate(e.steps):
        assert op in SMOOTH_OPS
        assert 0 <= i < 2 + k and 0 <= j < 2 + k  # only earlier slots: acyclic


def test_expressions_generate_shared_subexpressions() -> None:
    def reuses_an_intermediate(e: Expression) -> bool:
        used = [i for _, i, j in e.steps[1:] for i in (i, j) if i >= e.n_inputs]
        return len(used) != len(set(used))

    e = find(expressions(), reuses_an_intermediate)
    assert reuses_an_intermediate(e)


@pytest.mark.parametrize("name", sorted(SMOOTH_OPS))
@given(small_floats, small_floats)
def test_smooth_ops_are_smooth(name: str, a: float, b: float) -> None:
    f = SMOOTH_OPS[name]
    assert gradgradcheck(f, a, b)


def test_importing_engine_does_not_import_hypothesis() -> None:
    code = (
        "import sys, engine\n"
        "assert 'hypothesis' not in sys.modules, 'engine imported hypothesis'\n"
        "import engine.testing\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root() -> str:
    import pathlib

    return str(pathlib.Path(__file__).resolve().parents[2])
