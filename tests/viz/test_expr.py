"""The whitelist expression parser of ``chainrule graph`` / ``chainrule check``."""

from __future__ import annotations

import ast
import builtins
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine import Value, functional, gradients
from engine.ops import builtins as table_ops
from engine.testing import Expression as RandomExpression
from engine.testing import expressions
from tests.strategies import small_floats
from viz.expr import CONSTANTS, FUNCTIONS, MAX_LENGTH, ExpressionError, parse


def _number(v: object) -> float:
    """An expression's value: a Value's data, or a constant expression's float."""
    return v.data if isinstance(v, Value) else float(v)  # type: ignore[arg-type]


# --- what is accepted ------------------------------------------------------------------


def test_variables_in_order_of_first_appearance() -> None:
    assert parse("tanh(x*w + b) + x").variables == ("x", "w", "b")


def test_evaluates_like_the_engine() -> None:
    x, w, b = Value(2.0), Value(-3.0), Value(6.88)
    out = parse("tanh(x*w + b)").evaluate({"x": x, "w": w, "b": b})
    assert isinstance(out, Value)
    assert out.data == (Value(2.0) * Value(-3.0) + Value(6.88)).tanh().data
    out.backward()
    assert w.grad == pytest.approx((1 - math.tanh(0.88) ** 2) * 2.0, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + 2", 5.0),
        ("x - 2", 1.0),
        ("2 - x", -1.0),
        ("x * 2", 6.0),
        ("x / 2", 1.5),
        ("1 / x", 1 / 3),
        ("x ** 2", 9.0),
        ("2 ** x", 8.0),
        ("-x", -3.0),
        ("+x", 3.0),
        ("-(x - 5) * 2", 4.0),
        ("x ** -1", 1 / 3),
        ("(x + 1) * (x - 1)", 8.0),
        ("2 * 3 + x", 9.0),
        ("leaky_relu(-x, 0.2)", -0.6),
        ("leaky_relu(-x)", -0.03),
        ("abs(-x)", 3.0),
        ("exp(x)", math.exp(3.0)),
        ("log(x)", math.log(3.0)),
        ("sqrt(x)", math.sqrt(3.0)),
        ("tanh(x)", math.tanh(3.0)),
        ("sigmoid(x)", 1 / (1 + math.exp(-3.0))),
        ("relu(x)", 3.0),
        ("softplus(x)", math.log1p(math.exp(3.0))),
        ("sin(x)", math.sin(3.0)),
        ("cos(x)", math.cos(3.0)),
        ("1_000 * x", 3000.0),
        ("1e-3 * x", 0.003),
    ],
)
def test_arithmetic_and_functions(text: str, expected: float) -> None:
    out = parse(text).evaluate({"x": Value(3.0)})
    assert _number(out) == pytest.approx(expected, rel=1e-15)


def test_the_functions_and_constants_are_exactly_the_engines() -> None:
    # Every op of the table is spelled in the expression language: a function by name,
    # or one of the operators + - * / ** (- is negation, and subtraction x + (-y)).
    operators = {"+", "-", "*", "/", "**"}
    named = {op.cli for op in table_ops() if op.cli not in operators}
    assert set(FUNCTIONS) == named
    assert {"max", "abs", "atan", "leaky_relu", "exp"} <= set(FUNCTIONS)
    for op in table_ops():
        assert op.cli in FUNCTIONS or op.cli in operators, op.name
        if op.cli in FUNCTIONS:
            assert FUNCTIONS[op.cli] is getattr(functional, op.function)
    assert dict(CONSTANTS) == {"pi": math.pi, "e": math.e} == dict(functional.CONSTANTS)


@pytest.mark.parametrize(
    "op", [op for op in table_ops() if op.cli in FUNCTIONS], ids=lambda op: op.name
)
def test_every_function_records_its_op(op) -> None:
    args = ", ".join(["x", "y"][: op.arity] + (["0.2"] if op.has_param else []))
    out = parse(f"{op.cli}({args})").evaluate({"x": Value(0.7), "y": Value(0.4)})
    assert isinstance(out, Value) and out.op == op.name
    assert out.data == op.forward(*[0.7, 0.4][: op.arity], *([0.2] if op.has_param else []))


def test_max_pi_and_e() -> None:
    assert parse("max(x, 2)")(x=3.0) == 3.0
    out = parse("max(x, y)").evaluate({"x": Value(1.0), "y": Value(2.0)})
    assert out.op == "max" and out.data == 2.0
    assert parse("pi * x")(x=2.0) == 2 * math.pi
    assert parse("e ** x")(x=1.0) == math.e
    assert parse("sin(pi)").variables == ()
    with pytest.raises(ExpressionError, match="e is a constant"):
        parse("e * x", variables=["e", "x"])


def test_plain_variables_work_without_values_too() -> None:
    assert parse("x * 2 + 1")(x=3.0) == 7.0


def test_known_variables_are_checked_at_parse_time() -> None:
    with pytest.raises(ExpressionError, match="unknown name 'y'") as info:
        parse("x + y", variables=["x"])
    assert info.value.start == 4


def test_missing_value_at_evaluation() -> None:
    with pytest.raises(ExpressionError, match="no value given for 'y'"):
        parse("x + y").evaluate({"x": Value(1.0)})


# Spelling out an engine.testing DAG as text duplicates shared sub-expressions, so the
# text's graph is a tree where the DAG shares nodes; each path performs the same float
# operations in the same order, so the values are identical.
_TEMPLATES = {
    "add": "({a} + {b})",
    "sub": "({a} - {b})",
    "mul": "({a} * {b})",
    "div": "({a} / (1 + {b} * {b}))",
    "neg": "(-{a})",
    "square": "({a} * {a})",
    "tanh": "tanh({a})",
    "sigmoid": "sigmoid({a})",
    "softplus": "softplus({a})",
    "sin": "sin({a})",
    "cos": "cos({a})",
    "add_const": "({a} + 0.5)",
    "rmul_const": "(1.5 * {a})",
}


def _as_text(expr: RandomExpression) -> str:
    slots = [f"x{i}" for i in range(expr.n_inputs)]
    for op, i, j in expr.steps:
        slots.append(_TEMPLATES[op].format(a=slots[i], b=slots[j]))
    return slots[-1]


@given(expressions(n_inputs=3, max_steps=6), small_floats, small_floats, small_floats)
def test_random_expressions_round_trip(
    expr: RandomExpression, a: float, b: float, c: float
) -> None:
    text = _as_text(expr)
    assume(len(text) <= MAX_LENGTH)
    xs = [Value(a), Value(b), Value(c)]
    ys = [Value(a), Value(b), Value(c)]
    parsed = parse(text)
    env = {f"x{i}": v for i, v in enumerate(xs)}
    out = parsed.evaluate({k: env[k] for k in parsed.variables})
    direct = expr(*ys)
    assert _number(out) == _number(direct)
    if isinstance(out, Value) and isinstance(direct, Value):
        g_text = gradients(out, xs)
        g_direct = gradients(direct, ys)
        # Same derivatives, summed in a different order (tree vs DAG): a few ulps of
        # the largest term; inputs in [-2, 2] and six smooth steps keep terms below ~1e3.
        for gt, gd in zip(g_text, g_direct, strict=True):
            assert gt == pytest.approx(gd, rel=1e-12, abs=1e-12)


# --- what is refused: injection attempts and everything else outside the whitelist -------

INJECTIONS = [
    ("__import__('os')", "unknown function '__import__'", 0),
    ("__import__('os').system('ls')", "attribute access", 16),
    ("x.__class__", "attribute access", 1),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access", 25),
    ("x.__class__.__mro__", "attribute access", 11),
    ("open('/etc/passwd')", "unknown function 'open'", 0),
    ("eval('1')", "unknown function 'eval'", 0),
    ("exec('import os')", "unknown function 'exec'", 0),
    ("compile('1', '', 'eval')", "unknown function 'compile'", 0),
    ("globals()", "unknown function 'globals'", 0),
    ("getattr(x, 'data')", "unknown function 'getattr'", 0),
    ("lambda: 0", "lambda", 0),
    ("(lambda: 0)()", "only the functions", 1),
    ("[c for c in 'ab']", "comprehensions", 0),
    ("(c for c in 'ab')", "comprehensions", 0),
    ("{c: 1 for c in 'ab'}", "comprehensions", 0),
    ("x[0]", "indexing", 0),
    ("x[1:2]", "indexing", 0),
    ("exp(x=1)", "keyword arguments", 4),
    ("exp(*x)", "* arguments", 4),
    ("'os'", "not str", 0),
    ("b'os'", "not bytes", 0),
    ("f'{x}'", "strings are not allowed", 0),
    ("True + x", "not bool", 0),
    ("None", "not NoneType", 0),
    ("...", "not ellipsis", 0),
    ("1j * x", "complex", 0),
    ("x if x else 1", "conditional", 0),
    ("x < 1", "comparisons", 0),
    ("x and 1", "'and' / 'or'", 0),
    ("(x := 1)", "assignment", 1),
    ("[x]", "lists", 0),
    ("(x, 1)", "tuples", 0),
    ("{x}", "sets", 0),
    ("{}", "dicts", 0),
    ("x @ x", "'@'", 0),
    ("x // 2", "'//'", 0),
    ("x % 2", "'%'", 0),
    ("x | 1", "'|'", 0),
    ("~x", "'~'", 0),
    ("not x", "'not'", 0),
    ("foo(x)", "unknown function 'foo'", 0),
    ("exp", "exp is a function", 0),
    ("log(x, 2)", "exactly 1 argument", 0),
    ("max(x)", "max takes exactly 2 arguments, got 1", 0),
    ("leaky_relu(x, 0.1, 2)", "leaky_relu takes 1 or 2 arguments", 0),
    ("leaky_relu(x, x)", "last argument of leaky_relu is a constant", 14),
    ("x ** 1e6", "exponent 1e+06 is too large", 5),
    ("x ** -5000", "too large", 5),
    ("1e999 * x", "too large for a float", 0),
    ("import os", "invalid syntax", 0),
    ("x = 1", "invalid syntax", 2),
    ("x +", "invalid syntax", None),
]


@pytest.mark.parametrize(("text", "message", "column"), INJECTIONS)
def test_refused(text: str, message: str, column: int | None) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    error = info.value
    assert message in str(error)
    if column is not None:
        assert error.start == column, (error.start, str(error))
        assert f"(column {column + 1})" in str(error)
        caret = error.caret().splitlines()
        assert caret[0] == "  " + text
        assert caret[1].index("^") == 2 + column


def test_caret_marks_the_whole_offending_part() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("1 + __import__('os').system('ls')")
    assert info.value.caret() == (
        "  1 + __import__('os').system('ls')\n                      ^^^^^^^"
    )


def test_caret_uses_characters_not_bytes() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("é + x.y")  # ast's offsets count UTF-8 bytes; é is two
    assert info.value.start == 5
    assert info.value.caret().splitlines()[1] == "       ^^"


def test_caret_of_a_long_expression_shows_a_window() -> None:
    text = "x + " * 100 + "x.y"
    with pytest.raises(ExpressionError) as info:
        parse(text)
    line, marks = info.value.caret().splitlines()
    assert len(line) < 90
    assert line[marks.index("^") :].startswith(".y")


def test_too_long_and_multiline_and_empty() -> None:
    with pytest.raises(ExpressionError, match="too long"):
        parse("x+" * MAX_LENGTH + "x")
    with pytest.raises(ExpressionError, match="one line"):
        parse("x\n+ 1")
    with pytest.raises(ExpressionError, match="empty"):
        parse("   ")
    with pytest.raises(TypeError):
        parse(b"x")  # type: ignore[arg-type]


def test_deep_nesting_is_refused_or_evaluated_without_recursion() -> None:
    with pytest.raises(ExpressionError, match="invalid syntax"):
        parse("(" * 300 + "x" + ")" * 300)  # the parser's own limit
    deep = parse("-" * 900 + "x")  # 900 nested unary minus: walked iteratively
    assert _number(deep.evaluate({"x": Value(2.0)})) == 2.0


# --- evaluation errors point at the part that failed -------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "message", "column"),
    [
        ("1 + log(x)", 0.0, "log(0.0) is undefined", 4),
        ("sqrt(x) * 2", -1.0, "sqrt(-1.0) is undefined", 0),
        ("1 / (x - x)", 1.0, "division by zero", 0),
        ("exp(x) + 1", 1000.0, "overflows", 0),
        ("(-8) ** 0.5 + x", 1.0, "not a real number", 0),
        ("1e200 * 1e200 + x", 1.0, "overflows", 0),
        ("9 ** 9 ** 9 + x", 1.0, "overflows", 0),
        ("x ** 0.5", -4.0, "not a real number", 0),
    ],
)
def test_domain_errors(text: str, value: float, message: str, column: int) -> None:
    expr = parse(text)
    with pytest.raises(ExpressionError) as info:
        expr.evaluate({"x": Value(value)})
    assert message in str(info.value)
    assert info.value.start == column


# --- nothing is ever compiled to code or executed ---------------------------------------


def test_never_compiles_code_or_calls_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = builtins.compile

    def ast_only(source, filename, mode, flags=0, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("compiled to code")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "compile", ast_only)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    out = parse("tanh(x*w + b) ** 2 / sqrt(abs(w))").evaluate(
        {"x": Value(2.0), "w": Value(-3.0), "b": Value(6.88)}
    )
    assert _number(out) == pytest.approx(math.tanh(0.88) ** 2 / math.sqrt(3.0), rel=1e-15)
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('echo hacked')")


@settings(max_examples=200)
@given(text=st.text(max_size=60))
def test_any_text_is_either_an_expression_or_an_expression_error(text: str) -> None:
    try:
        expr = parse(text)
    except ExpressionError:
        return
    for name in expr.variables:
        assert name.isidentifier() and name not in FUNCTIONS


@pytest.mark.parametrize("text", ["x*1and 2", "x is 1", "'\\d'", "1if x else 2"])
def test_python_warnings_about_the_text_stay_inside_parse(text: str) -> None:
    """Python warns while parsing these (SyntaxWarning, DeprecationWarning): the whitelist's
    one clear error is all the user sees, and under ``-W error`` the error is the same."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ExpressionError) as plain:
            parse(text)
    assert seen == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ExpressionError) as strict:
            parse(text)
    assert str(strict.value) == str(plain.value)
