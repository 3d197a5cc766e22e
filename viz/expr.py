"""Arithmetic expressions typed by a user, parsed against a whitelist (never ``eval``).

``parse("tanh(x*w + b)")`` reads the text with ``ast.parse(mode="eval")`` and then
checks every node of the tree: only numbers, variable names, ``+ - * / **``,
unary ``-``/``+``, parentheses and calls by plain name of the engine's functions
(:data:`FUNCTIONS`) pass. Anything else (attribute access, ``__import__('os')``,
lambdas, comprehensions, subscripts, keywords, strings, comparisons, ...) raises
:class:`ExpressionError`, which names the offending part and its column and can
draw a caret under it. Nothing is ever compiled or executed: :meth:`Expression.evaluate`
walks the checked tree itself, iteratively, calling only the whitelisted functions.
"""

from __future__ import annotations

import ast
import math
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import Value, functional, operators, ops

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Expression",
    "ExpressionError",
    "normalize_name",
    "parse",
]

Scalar = Value | float

#: The functions an expression may call, each by plain name: exactly the engine's,
#: read from the op table (each op's ``cli`` name and its engine.functional function).
#: The operators ``+ - * / **`` are the table's other ops.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    op.cli: getattr(functional, op.function)
    for op in ops.builtins()
    if op.cli is not None and op.function is not None and op.cli.isidentifier()
}

#: The named constants an expression may use: exactly the engine's (``pi``, ``e``).
CONSTANTS: Mapping[str, float] = functional.CONSTANTS

_FUNCTION_OPS: dict[str, ops.Op] = {
    op.cli: op for op in ops.builtins() if op.cli is not None and op.cli.isidentifier()
}

#: Longest expression accepted, in characters.
MAX_LENGTH = 1000

_CARET_WIDTH = 72

#: Largest |p| allowed as a literal exponent in ``x ** p`` (beyond it any base
#: other than about 1 over- or underflows float64).
MAX_EXPONENT = 1024.0

_BINARY: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}

_REFUSED: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing and slicing are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Starred: "* arguments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


class ExpressionError(ValueError):
    """An expression that is not allowed, or cannot be evaluated, with where.

    ``str(error)`` is one line naming the problem and its column; :meth:`caret`
    shows the expression with ``^`` under the offending part.
    """

    def __init__(self, message: str, text: str, start: int | None = None, end: int | None = None):
        self.message = message
        self.text = text
        self.start = start
        self.end = end
        where = f" (column {start + 1})" if start is not None else ""
        super().__init__(f"{message}{where}")

    def caret(self, indent: str = "  ") -> str:
        """The expression and a line of ``^`` under the offending part ('' if unknown)."""
        if self.start is None or not self.text or "\n" in self.text:
            return ""
        start = self.start
        end = self.end if self.end is not None and self.end > start else start + 1
        text = self.text
        if len(text) > _CARET_WIDTH:  # show a window around the offending part
            lo = max(0, start - _CARET_WIDTH // 3)
            hi = min(len(text), lo + _CARET_WIDTH)
            head = "..." if lo > 0 else ""
            tail = "..." if hi < len(text) else ""
            text = head + text[lo:hi] + tail
            start, end = start - lo + len(head), min(end, hi) - lo + len(head)
        return f"{indent}{text}\n{indent}{' ' * start}{'^' * max(1, end - start)}"


def normalize_name(name: str) -> str:
    """A variable name as Python's parser sees it (NFKC-normalised)."""
    return unicodedata.normalize("NFKC", name)


def _is_number(node: ast.expr) -> bool:
    """A numeric literal, possibly signed: ``2``, ``-0.5``, ``+3``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    )


def _literal_value(node: ast.expr) -> float:
    if isinstance(node, ast.UnaryOp):
        v = _literal_value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    return float(node.value)  # type: ignore[attr-defined, arg-type]


def _children(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its tree and the variables it uses."""

    text: str
    tree: ast.Expression
    variables: tuple[str, ...]

    def _span(self, node: ast.AST) -> tuple[int | None, int | None]:
        return _span(self.text, node)

    def error(self, message: str, node: ast.AST) -> ExpressionError:
        """An :class:`ExpressionError` pointing at ``node``."""
        start, end = self._span(node)
        return ExpressionError(message, self.text, start, end)

    def evaluate(self, env: Mapping[str, Scalar]) -> Scalar:
        """The expression's value with each variable taken from ``env``.

        Variables given as Values give a Value recorded in their graph. Domain
        errors (``log(0)``, division by zero, overflow) raise ExpressionError
        pointing at the part that failed.
        """
        missing = [name for name in self.variables if name not in env]
        if missing:
            raise ExpressionError(
                f"no value given for {', '.join(repr(m) for m in missing)}", self.text
            )
        values: list[Scalar] = []
        stack: list[tuple[ast.expr, bool]] = [(self.tree.body, False)]
        while stack:
            node, ready = stack.pop()
            if not ready:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(_children(node)))
                continue
            try:
                values.append(self._apply(node, values, env))
            except (ValueError, ZeroDivisionError, OverflowError) as e:
                if isinstance(e, ExpressionError):
                    raise
                raise self.error(str(e), node) from None
        return values[0]

    def __call__(self, **env: Scalar) -> Scalar:
        """``expr(x=2.0, w=Value(-3.0))``: :meth:`evaluate` with keyword arguments."""
        return self.evaluate(env)

    def _apply(self, node: ast.expr, values: list[Scalar], env: Mapping[str, Scalar]) -> Scalar:
        """Compute ``node`` from its children's values, popped off ``values``."""
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # a finite int or float (parse)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:  # parse() never makes a constant's name a variable
                return CONSTANTS[node.id]
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            v = values.pop()
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            right = values.pop()
            left = values.pop()
            return _finite(_binary(type(node.op), left, right))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise TypeError(f"unchecked node {type(node).__name__}: build Expressions with parse()")
        n = len(node.args)
        args = values[len(values) - n :]
        del values[len(values) - n :]
        return _finite(FUNCTIONS[node.func.id](*args))


def _finite(v: Scalar) -> Scalar:
    if isinstance(v, float) and not math.isfinite(v):
        raise OverflowError("the result overflows float64")
    return v


def _binary(op: type, left: Scalar, right: Scalar) -> Scalar:
    both_floats = isinstance(left, float) and isinstance(right, float)
    if op is ast.Add:
        return left + right
    if op is ast.Sub:
        return left - right
    if op is ast.Mult:
        return left * right
    if op is ast.Div:
        if both_floats:
            return operators.div(left, right)  # type: ignore[arg-type]
        return left / right
    # op is ast.Pow
    if both_floats:
        return operators.power(left, right)  # type: ignore[arg-type]  # never complex
    return left**right


def _char_offset(text: str, byte_offset: int) -> int:
    """ast's column (a UTF-8 byte offset) as a character offset into ``text``."""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))


def _span(text: str, node: ast.AST) -> tuple[int | None, int | None]:
    start = getattr(node, "col_offset", None)
    end = getattr(node, "end_col_offset", None)
    if start is None:
        return None, None
    s = _char_offset(text, start)
    e = _char_offset(text, end) if end is not None else None
    if isinstance(node, ast.Attribute):  # point at ".name", not at what precedes it
        dot_at = _char_offset(text, node.value.end_col_offset or start)  # type: ignore[arg-type]
        s = dot_at
    return s, e


def parse(text: str, variables: Iterable[str] | None = None) -> Expression:
    """Check ``text`` against the whitelist and return an :class:`Expression`.

    With ``variables``, a name that is neither one of them nor a function is
    refused here, pointing at it; without, every such name is a variable.
    """
    if not isinstance(text, str):
        raise TypeError(f"an expression must be a str, not {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the expression is empty", text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH})", text
        )
    for i, ch in enumerate(text):
        if not ch.isprintable():
            shown = "".join(c if c.isprintable() else " " for c in text)
            raise ExpressionError(
                f"unexpected character {ch!r}; an expression is one line of text", shown, i, i + 1
            )
    allowed = None if variables is None else {normalize_name(v) for v in variables}
    try:
        with warnings.catch_warnings():
            # Python warns about some texts it will parse ("1and 2", "x is 1", "'\\d'")
            # straight onto stderr; the whitelist below refuses them with a clear message.
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        col = (e.offset - 1) if e.offset and e.lineno == 1 else None
        raise ExpressionError(f"invalid syntax: {e.msg}", text, col) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply", text) from None

    found: dict[str, None] = {}
    stack: list[ast.AST] = [tree.body]
    while stack:
        node = stack.pop()
        _check(node, text, allowed, found)
        stack.extend(reversed(_children(node)))  # type: ignore[arg-type]
    return Expression(text, tree, tuple(found))


def _check(node: ast.AST, text: str, allowed: set[str] | None, found: dict[str, None]) -> None:
    """Raise ExpressionError unless ``node`` itself is on the whitelist."""

    def refuse(message: str, where: ast.AST = node) -> ExpressionError:
        start, end = _span(text, where)
        return ExpressionError(message, text, start, end)

    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "complex numbers" if isinstance(v, complex) else type(v).__name__
            raise refuse(f"only real numbers are allowed as constants, not {kind} ({v!r})")
        try:
            f = float(v)
        except OverflowError:
            raise refuse("this number is too large for a float") from None
        if not math.isfinite(f):
            raise refuse("this number is too large for a float")
        return
    if isinstance(node, ast.Name):
        name = node.id
        if name in FUNCTIONS:
            raise refuse(f"{name} is a function: call it, as in {name}(x)")
        if name in CONSTANTS:
            if allowed is not None and name in allowed:
                raise refuse(
                    f"{name} is a constant ({CONSTANTS[name]!r}); give the variable another name"
                )
            return
        if allowed is not None and name not in allowed:
            given = ", ".join(sorted(allowed)) or "none"
            raise refuse(
                f"unknown name {name!r} (variables given: {given}; give it as {name}=VALUE)"
            )
        found.setdefault(name, None)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            symbol = "not" if isinstance(node.op, ast.Not) else "~"
            raise refuse(f"the operator {symbol!r} is not allowed (only unary - and +)")
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            names = {
                ast.FloorDiv: "//",
                ast.Mod: "%",
                ast.MatMult: "@",
                ast.LShift: "<<",
                ast.RShift: ">>",
                ast.BitOr: "|",
                ast.BitAnd: "&",
                ast.BitXor: "^",
            }
            symbol = names.get(type(node.op), type(node.op).__name__)
            raise refuse(f"the operator {symbol!r} is not allowed (only + - * / **)")
        if isinstance(node.op, ast.Pow) and _is_number(node.right):
            p = _literal_value(node.right)
            if abs(p) > MAX_EXPONENT:
                raise refuse(
                    f"the exponent {p:g} is too large (|p| <= {MAX_EXPONENT:g})", node.right
                )
        return
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                raise refuse("attribute access is not allowed", func)
            raise refuse(f"only the functions {', '.join(FUNCTIONS)} may be called, by name", func)
        if func.id not in FUNCTIONS:
            raise refuse(f"unknown function {func.id!r} (allowed: {', '.join(FUNCTIONS)})", func)
        if node.keywords:
            raise refuse("keyword arguments are not allowed", node.keywords[0])
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise refuse("* arguments are not allowed", arg)
        _check_arguments(_FUNCTION_OPS[func.id], node, refuse)
        return
    raise refuse(_REFUSED.get(type(node), f"{type(node).__name__} is not allowed in an expression"))


def _check_arguments(op: ops.Op, node: ast.Call, refuse: Callable[..., ExpressionError]) -> None:
    """The call's arguments against the op's arity: its inputs, and a constant (a
    number) after them if it takes one (optional when it has a default)."""
    name = op.cli
    n = len(node.args)
    if op.has_param:
        low = op.arity if op.param_default is not None else op.arity + 1
        high = op.arity + 1
        if not low <= n <= high:
            counts = f"{low} or {high}" if low != high else f"exactly {high}"
            raise refuse(f"{name} takes {counts} arguments (x, then a number), got {n}")
        if n == high and not _is_number(node.args[-1]):
            raise refuse(
                f"the last argument of {name} is a constant: it must be a number, "
                f"as in {name}(x, 0.2)",
                node.args[-1],
            )
    elif n != op.arity:
        plural = "argument" if op.arity == 1 else "arguments"
        raise refuse(f"{name} takes exactly {op.arity} {plural}, got {n}")
