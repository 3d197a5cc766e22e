"""engine.codegen: templates read as data, and every op of the table replayed exactly.

The per-op test runs over ``engine.ops.BUILTIN_NAMES``, so a new op in the table is
covered without a new row here: at fixed points (kinks and domain edges included)
the compiled value and gradients equal eager evaluation bit for bit, and equal
central differences where the op is smooth.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest

from engine import Value, compile
from engine import ops as ops_module
from engine.codegen import ADD, ATOM, LOWEST, MUL, UNARY, Expr, fill, generate, read_template
from engine.ops import OPS, Op, register

# --- templates are read with ast, not by looking at characters --------------------------


@pytest.mark.parametrize(
    ("text", "prec"),
    [
        ("({x} if {x} > 0.0 else 0.0)", ATOM),
        ("{x} if {x} > 0.0 else 0.0", LOWEST),
        ("1.0 - {out} * {out}", ADD),
        ("1.0-{out}*{out}", ADD),
        ("(1.0 + {x}) * (2.0 + {x})", MUL),
        ("_tanh({x})", ATOM),
        ("-_sin({x})", UNARY),
        ("{x}*{y}", MUL),
    ],
)
def test_a_templates_precedence_comes_from_its_syntax_tree(text, prec):
    assert read_template(text).prec == prec


def test_what_an_operand_needs_in_each_place():
    t = read_template("1.0 / {x} + _f({y}, {p})")
    assert t.need == {"x": MUL + 1, "y": LOWEST, "p": LOWEST}
    assert read_template("-{x}").need == {"x": UNARY}
    assert read_template("{x} * {x}").uses == {"x": 2}
    assert read_template("1.0").const == 1.0 and read_template("-1.0").const == -1.0
    assert read_template("{y}").passthrough == "y"
    assert read_template("{x} + {y}").strict and not read_template("_f({x})").strict
    with pytest.raises(ValueError, match="unknown field"):
        read_template("{z} + 1.0")
    with pytest.raises(ValueError, match="one Python expression"):
        read_template("{x} +")


def test_fill_puts_each_operand_in_every_place_of_its_field():
    # fill formats a numbered copy of the template (the fields in the order of .slots);
    # a field used twice, fields out of order and a literal brace all come out right
    sq = read_template("{x} * {x} + {y}")
    assert sq.positional == "{0} * {0} + {1}"
    x, y = Expr("v1"), Expr("p2 * x3", MUL, 1)
    assert fill(sq, {"x": x, "y": y}) == Expr("v1 * v1 + p2 * x3", ADD, 2)
    late = read_template("_f({y}, {x}) ** {p}")
    assert fill(late, {"x": x, "y": y, "p": Expr("-2.0", UNARY)}).text == (
        "_f(p2 * x3, v1) ** -2.0"
    )
    braces = read_template("len({{{x}}})")
    assert braces.positional == "len({{{0}}})"
    assert fill(braces, {"x": Expr("v1")}).text == "len({v1})"
    # two fields written once each are joined directly (the text around them kept)
    assert read_template("{x} + {y}").around == ("", " + ", "")
    swapped = fill(read_template("_f({y}, {x})"), {"x": x, "y": y})
    assert swapped == Expr("_f(p2 * x3, v1)", ATOM, 2)
    low = {"x": Expr("a + b", ADD, 1), "y": Expr("c - d", ADD, 3)}
    assert fill(read_template("{x} * {y}"), low) == Expr("(a + b) * (c - d)", MUL, 4)
    assert fill(read_template("{x} - {y}"), low).text == "a + b - (c - d)"
    # an operand that binds less tightly than its place needs gets parentheses
    assert fill(sq, {"x": Expr("a + b", ADD, 1), "y": y}).text == "(a + b) * (a + b) + p2 * x3"


def _quad(x: float) -> float:
    return (1.0 + x) * (2.0 + x)


def _d_quad(x: Any, out: Any) -> Any:
    return (2.0 + x) + (1.0 + x)


@pytest.fixture
def spaceless_op() -> Iterator[Op]:
    """An op whose templates fool text tricks: a product in parentheses on both
    ends (not an atom) and a derivative written without spaces (not an atom either)."""
    op = register(
        Op(
            "codegen_test_quad",
            1,
            _quad,
            _d_quad,
            printed="quad({x})",
            code_forward="(1.0 + {x}) * (2.0 + {x})",
            code_derivatives=("(2.0+{x})+(1.0+{x})",),
        )
    )
    yield op
    del OPS[op.name]


def test_templates_that_fool_text_tricks_replay_exactly(spaceless_op):
    def f(x, y):
        q = x._apply1(spaceless_op)
        return y * q * x

    compiled = compile(f, input_grads=True)
    compiled(0.3, 0.7)
    for x, y in itertools.product([0.1, 0.3, 0.7, 1.1, 2.9], [0.2, 0.7, 1.3, 3.1]):
        xs = [Value(x), Value(y)]
        out = f(*xs)
        out.backward()
        assert compiled(x, y) == (out.data, (xs[0].grad, xs[1].grad))


def test_the_generated_record_keeps_its_structure():
    w = Value(0.5, label="weight_label")
    x = Value(2.0)
    out = (w * x).tanh() + w
    gen = generate(out, [], [], [x], input_grads=True, backward=True)
    assert gen.lines[gen.backward_line].startswith("    # backward")
    assert gen.live == [w] and gen.grad_leaves == [w]
    assert "weight_label" not in gen.view()  # a leaf has no line, so no comment
    assert list(gen.labels.values()) == []  # only labelled computed values have one
    out.label = "out_label"
    gen = generate(out, [], [], [x], input_grads=True, backward=True)
    assert list(gen.labels.values()) == ["out_label"]
    assert "out_label" not in gen.source  # labels live beside the code, not in it
    assert gen.view().count("# out_label") == 1


def test_aux_outputs_and_guards_outside_the_outputs_graph_are_written_too():
    # the output, each aux Value and each guard operand is a root of the writer's walk:
    # one not reached from the output is computed all the same
    def f(x, y):
        out = x * 2.0
        if y * 3.0 > 0.0:  # a guard on a node the output does not depend on
            out = out + 1.0
        return out, [x + y, y.exp()]  # aux Values outside the output's graph

    compiled = compile(f, has_aux=True, input_grads=True)
    for x, y in [(1.5, 0.5), (-2.0, 0.25), (0.75, 2.0)]:
        assert compiled(x, y) == ((x * 2.0 + 1.0, [x + y, math.exp(y)]), (2.0, 0.0))
    assert "if not " in compiled.source  # the guard is checked in the generated code


# --- every op of the table, compiled = eager, bit for bit ------------------------------

POINTS = [-2.5, -1.0, -0.25, 0.0, 0.25, 1.0, 2.0, 3.5]
PAIRS = list(itertools.product([-1.5, 0.0, 0.5, 2.0], repeat=2))  # ties included
PARAMS = [3.0, 2.0, 0.5, -1.0, 0.0, 0.2]
#: Central differences in float64 with a step h = 1e-6 * max(1, |x|): the truncation
#: error is h² |f'''| / 6 <= 1e-12 |f'''| and the rounding error about
#: 2.2e-16 |f| / h <= 2.2e-10 |f|; at these points |f| and |f'''| stay below 1e3
#: (exp(3.5) = 33, x**3 at 3.5 = 43, 1/x**4 at 0.25 = 256), so both terms are below
#: 1e-6 relative to max(1, |f'|). A wrong rule is off by far more.
RTOL = 1e-6


def _apply(op: Op, xs: list[Value], param: Any) -> Value:
    if op.arity == 2:
        return xs[0]._apply2(xs[1], op)
    return xs[0]._apply1(op, param) if op.has_param else xs[0]._apply1(op)


def _forward(op: Op, point: list[float], param: Any) -> float:
    if op.arity == 2:
        return op.forward(*point)
    return op.forward(point[0], param) if op.has_param else op.forward(point[0])


def _numeric(op: Op, point: list[float], param: Any, i: int) -> float | None:
    """d/d(point[i]) by central differences, or None at a kink or a domain edge."""
    h = 1e-6 * max(1.0, abs(point[i]))

    def at(delta: float) -> float:
        p = list(point)
        p[i] += delta
        return _forward(op, p, param)

    try:
        f0, fp, fm = at(0.0), at(h), at(-h)
    except (ArithmeticError, ValueError):
        return None
    right, left = (fp - f0) / h, (f0 - fm) / h
    if abs(right - left) > 1e-3 * max(1.0, abs(right)):  # one-sided slopes differ
        return None
    return (fp - fm) / (2 * h)


def _eager(op: Op, point: list[float], param: Any, c: Value) -> Any:
    c.grad = 0.0
    xs = [Value(v) for v in point]
    try:
        out = _apply(op, xs, param) * c
        out.backward()
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)
    return out.data, tuple(x.grad for x in xs), c.grad


def _compiled(fn: Any, point: list[float], c: Value) -> Any:
    c.grad = 0.0
    try:
        value, grads = fn(*point)
    except (ArithmeticError, ValueError) as e:
        return type(e), str(e)
    return value, grads, c.grad


def _bits(result: Any) -> Any:
    """Numbers as their exact text (so -0.0 and 0.0 differ), errors as they are."""
    if isinstance(result[0], type):
        return result
    value, grads, cg = result
    return (value.hex(), tuple(g.hex() for g in grads), cg.hex())


@pytest.mark.parametrize("name", sorted(ops_module.BUILTIN_NAMES))
def test_every_op_compiles_to_eagers_numbers_and_the_true_derivative(name):
    op = OPS[name]
    points = PAIRS if op.arity == 2 else [(x,) for x in POINTS]
    params = PARAMS if op.has_param else [None]
    checked = 0
    for param in params:
        c = Value(1.5, label="c")

        def f(*xs: Value, param: Any = param, c: Value = c) -> Value:
            return _apply(op, list(xs), param) * c

        compiled = compile(f, input_grads=True)
        traced = False
        for point in points:
            expected = _eager(op, list(point), param, c)
            if not traced and not isinstance(expected[0], type):
                compiled.trace(*point)  # traced at the first point eager accepts
                traced = True
                if op.code_forward is not None:
                    assert re.search(r"_f\d+\(", compiled.source) is None  # the template is used
            if not traced:
                continue
            got = _compiled(compiled, list(point), c)
            assert _bits(got) == _bits(expected), (name, point, param)
            if isinstance(expected[0], type):
                continue
            _, grads, _ = expected
            for i in range(op.arity):
                numeric = _numeric(op, list(point), param, i)
                if numeric is None:
                    continue
                analytic = grads[i] / 1.5
                assert abs(analytic - numeric) <= RTOL * max(1.0, abs(numeric)), (
                    name,
                    point,
                    param,
                    analytic,
                    numeric,
                )
                checked += 1
    assert checked > 0  # the op was compared with central differences somewhere
