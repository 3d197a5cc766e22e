"""engine.testing: the public hypothesis strategies themselves."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from engine import Value, gradgradcheck
from engine.ops import OPS, lookup
from engine.testing import SMOOTH_OPS
from tests.strategies import DOMAINS, Expression, domain, expressions, floats, small_floats

# Where the ops stop being differentiable (kinks, edges of the domain): DOMAINS keeps
# 1e-3 away from them.
EDGES = {"relu": 0.0, "leaky_relu": 0.0, "abs": 0.0, "log": 0.0, "sqrt": 0.0}


@given(floats(-1.5, 2.5))
def test_floats_are_bounded_and_finite(x: float) -> None:
    assert math.isfinite(x)
    assert -1.5 <= x <= 2.5


def test_every_domain_is_an_op() -> None:
    assert set(DOMAINS) <= set(OPS)
    for name in DOMAINS:
        assert lookup(name).arity == 1


@pytest.mark.parametrize("name", sorted(DOMAINS))
@given(data=st.data())
def test_domains_stay_inside_the_differentiable_region(name: str, data: st.DataObject) -> None:
    x = data.draw(domain(name), label="x")
    op = lookup(name)
    # The op and its derivative are defined at x and at the central-difference points.
    for t in (x - 1e-6, x, x + 1e-6):
        args = (t, 0.01) if op.has_param else (t,)
        out = op.forward(*args)
        assert math.isfinite(out)
        (d,) = op.local_derivatives(t, 0.01 if op.has_param else None, out)
        assert math.isfinite(d)
    if name in EDGES:
        assert abs(x - EDGES[name]) >= 1e-3


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
