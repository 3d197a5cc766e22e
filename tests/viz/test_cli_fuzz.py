"""A fuzz test of the ``chainrule`` command, run in-process through ``viz.cli.main``.

Hypothesis builds command lines from a grammar of expression tokens (valid expressions,
token soup that is mostly invalid, raw text) with values, options and stray arguments,
and runs each in a fresh temporary working directory. Whatever it is given, the command
exits 0, 1 or 2, never prints a traceback, prints its errors as ``chainrule ...: error:``
lines, and writes no file but the one it was asked for (or, with Graphviz missing, the
DOT text next to it). Graphviz is hidden from PATH: the real ``dot`` is tested elsewhere,
and here it would make each example slow. The default profile is quick; ``CI=true``
selects the thorough ``ci`` profile (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from viz.cli import main
from viz.expr import FUNCTIONS

VARIABLES = ("x", "y", "w")

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e308", "1e-10", "0", "0.0", "1e300", "5e-324", "9**9**9", "1e999", "0x10"]),
)


def _expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(VARIABLES), numbers)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        call = st.tuples(st.sampled_from(sorted(FUNCTIONS)), inner).map(lambda t: f"{t[0]}({t[1]})")
        return st.one_of(binary, call, inner.map(lambda s: f"-{s}"))

    return st.recursive(leaf, extend, max_leaves=12)


TOKENS = [
    *VARIABLES,
    *FUNCTIONS,
    "+",
    "-",
    "*",
    "/",
    "**",
    "(",
    ")",
    ",",
    ".",
    "and",
    "1and",
    "is",
    "lambda",
    "__import__",
    "'os'",
    "[",
    "]",
    "{",
    "}",
    ":",
    "=",
    "if",
    "else",
    "@",
    "%",
    "//",
    "\\",
    "\n",
    "\t",
    "\x00",
    "é",
    "ｘ",
    "𝑥",
    "\u200b",
    "1e308",
    "0",
    "-",
    "--",
    "-o",
    "~",
]

token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)
expressions = st.one_of(_expressions(), token_soup, st.text(max_size=30))

assignment = st.one_of(
    st.tuples(st.sampled_from(VARIABLES), numbers).map("=".join),
    st.tuples(st.sampled_from(VARIABLES), st.text(max_size=8)).map("=".join),
    st.text(max_size=10),
)

options = st.sampled_from(
    [
        [],
        ["--edge-grads"],
        ["--rankdir", "TB"],
        ["--digits", "17"],
        ["--digits", "0"],
        ["--max-nodes", "3"],
        ["--eps", "1e-3"],
        ["--atol", "-1"],
        ["--rtol", "nan"],
        ["--bogus"],
        ["--format", "gif"],
        ["-h"],
    ]
)

outputs = st.sampled_from(
    [None, "-", "g.dot", "g.svg", "sub/g.dot", "missing/g.dot", "g.gif", ".", "../escape.dot"]
)


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], str | None]:
    command = draw(st.sampled_from(["graph", "check"]))
    argv = [command]
    expr = draw(expressions)
    if draw(st.booleans()):
        argv.append("--")
    argv.append(expr)
    argv += draw(st.lists(assignment, max_size=4))
    argv += draw(options)
    output = draw(outputs) if command == "graph" else None
    if output is not None:
        argv += ["-o", output]
    if command == "graph" and draw(st.booleans()):
        argv += ["--format", draw(st.sampled_from(["dot", "svg", "png"]))]
    return argv, output


@contextlib.contextmanager
def _in_directory(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
# what an attack on chainrule found (issue 13), kept as fixed examples
@example((["check", "1e308/sin(x)", "x=0.65"], None))
@example((["graph", "1e300*log(x)", "x=1e-10", "--format", "dot"], None))
@example((["graph", "x*1and 2", "x=1"], None))
@example((["graph", "-x*y", "x=1", "y=2", "-o", "-", "--format", "dot"], "-"))
@example((["check", "1e308*tanh(x*1e7)", "x=1e-6"], None))
def test_any_command_line_exits_0_1_or_2_without_a_traceback(
    case: tuple[list[str], str | None],
) -> None:
    argv, output = case
    with tempfile.TemporaryDirectory() as top:
        cwd = Path(top, "cwd")
        (cwd / "sub").mkdir(parents=True)
        empty_bin = Path(top, "bin")
        empty_bin.mkdir()
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        err = io.StringIO()
        path_before = os.environ.get("PATH", "")
        os.environ["PATH"] = str(empty_bin)  # no Graphviz: each example stays quick
        try:
            with (
                _in_directory(cwd),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                warnings.catch_warnings(record=True) as warned,
            ):
                warnings.simplefilter("always")  # outside pytest a warning goes to stderr
                code = main(argv)
        finally:
            os.environ["PATH"] = path_before
        assert [str(w.message) for w in warned] == [], argv
        stderr = err.getvalue()
        assert code in (0, 1, 2), (argv, code, stderr)
        assert "Traceback" not in stderr, (argv, stderr)
        if argv[:2] == ["graph", "-x*y"]:  # an expression may start with '-'
            assert code == 0, stderr
        if code == 2 and "usage:" not in stderr:
            first = stderr.splitlines()[0]
            assert first.startswith("chainrule") and ": error: " in first, (argv, stderr)

        written = _files(Path(top))
        allowed: set[Path] = set()
        if argv[0] == "graph" and output != "-":
            requested = Path(os.path.normpath(Path("cwd", output or "graph.svg")))
            allowed = {requested, requested.with_suffix(".dot")}
            if output is None:  # the default name follows --format
                allowed |= {Path("cwd", f"graph.{f}") for f in ("svg", "png", "dot", "pdf")}
        assert written <= allowed, (argv, written)
