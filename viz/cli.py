"""The ``chainrule`` command: run the demo, draw and check expressions, explain backprop.

``main(argv)`` returns the exit status: 0 when all went well, 1 when the work was
done but the answer is "no" (``check`` found a disagreement) or a picture could not
be made, 2 for bad usage. Every error is one line on stderr (an expression error
adds the expression with a caret under the offending part), never a traceback.
Heavy imports (nn, matplotlib, Graphviz) happen inside the commands, so
``chainrule --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from viz.expr import FUNCTIONS, Expression, ExpressionError, normalize_name, parse

__all__ = ["UsageError", "build_parser", "main"]

PROG = "chainrule"

EXAMPLES = ("backprop-by-hand", "two-two-two")


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``chainrule graph: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --- NAME=VALUE ----------------------------------------------------------------------


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["x=2", "w=-3"]`` → ``{"x": 2.0, "w": -3.0}``, or a UsageError naming the item."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = normalize_name(name.strip())
        if not sep:
            raise UsageError(f"expected NAME=VALUE, got {item!r}")
        if not name.isidentifier():
            raise UsageError(f"{name!r} in {item!r} is not a valid variable name")
        if name in FUNCTIONS:
            raise UsageError(f"{name!r} is a function name; choose another variable name")
        if name in values:
            raise UsageError(f"{name!r} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"the value of {name!r} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise UsageError(f"the value of {name!r} must be a finite number, got {text!r}")
        values[name] = value
    return values


def _expression(text: str, assignments: Sequence[str]) -> tuple[Expression, dict[str, float]]:
    values = parse_assignments(assignments)
    try:
        expr = parse(text, variables=values)
    except ExpressionError as e:
        raise UsageError(str(e), e.caret()) from None
    if not expr.variables:
        raise UsageError(
            "the expression has no variables, so there is nothing to differentiate; "
            "use names such as x and give them values (x=2)"
        )
    unused = [name for name in values if name not in expr.variables]
    if unused:
        raise UsageError(f"{', '.join(repr(u) for u in unused)} not used in {text!r}")
    return expr, values


def _evaluate_values(expr: Expression, values: dict[str, float]) -> tuple[Any, list[Any]]:
    """The expression's root Value and the leaf Values, one per variable, labelled."""
    from engine import Value, as_value

    leaves = [Value(values[name], label=name) for name in expr.variables]
    try:
        out = expr.evaluate(dict(zip(expr.variables, leaves, strict=True)))
    except ExpressionError as e:
        raise UsageError(str(e), e.caret()) from None
    return as_value(out), leaves


def _num(x: float) -> str:
    return f"{x:.10g}"


def _at(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={_num(v)}" for k, v in values.items())


# --- graph ------------------------------------------------------------------------------


def _output_path(args: argparse.Namespace) -> tuple[Path, str]:
    from viz.render import FORMATS

    fmt = args.format
    if args.output is None:
        fmt = fmt or "svg"
        return Path(f"graph.{fmt}"), fmt
    path = Path(args.output)
    if fmt is None:
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            raise UsageError(
                f"cannot tell the format from {args.output!r}; use a name ending in "
                ".svg, .png, .pdf or .dot, or pass --format"
            )
        fmt = suffix
    if path.is_dir():
        raise UsageError(f"{args.output!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"the directory of {args.output!r} does not exist")
    return path, fmt


def cmd_graph(args: argparse.Namespace) -> int:
    """Evaluate, backprop, print the gradients and write the diagram."""
    from viz.dot import to_dot
    from viz.render import (
        INSTALL_HINT,
        GraphvizError,
        GraphvizNotFoundError,
        render_dot,
        write_atomic,
    )

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be between 1 and 17, got {args.digits}")
    expr, values = _expression(args.expr, args.assignments)
    path, fmt = _output_path(args)
    out, leaves = _evaluate_values(expr, values)
    out.backward()
    print(f"{args.expr} = {_num(out.data)}   at {_at(values)}")
    for leaf in leaves:
        print(f"  d/d{leaf.label} = {_num(leaf.grad)}")
    try:
        source = to_dot(
            out,
            rankdir=args.rankdir,
            show_edge_grads=args.edge_grads,
            fmt=f"{{:.{args.digits}g}}",
            title=args.expr,
            max_nodes=None,  # bounded by the expression's length
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        data = source.encode("utf-8") if fmt == "dot" else render_dot(source, fmt)
    except GraphvizNotFoundError:
        fallback = path.with_suffix(".dot")
        write_atomic(fallback, source.encode("utf-8"))
        print(
            f"{PROG} graph: the Graphviz 'dot' program is missing, so {path} was not drawn; "
            f"wrote the DOT text to {fallback} instead. To get the picture, {INSTALL_HINT}, "
            f"then run: dot -T{fmt} {fallback} -o {path}",
            file=sys.stderr,
        )
        return 1
    except GraphvizError as e:
        print(f"{PROG} graph: {e}", file=sys.stderr)
        return 1
    write_atomic(path, data)
    print(f"wrote {path}")
    return 0


# --- check ------------------------------------------------------------------------------


def _gradcheck_defaults() -> dict[str, float]:
    """eps, atol and rtol as engine.gradcheck has them (one source of truth)."""
    import inspect

    from engine import gradcheck

    params = inspect.signature(gradcheck).parameters
    return {k: params[k].default for k in ("eps", "atol", "rtol")}


def cmd_check(args: argparse.Namespace) -> int:
    """Analytic (backprop) and numeric (central differences) derivatives side by side."""
    from engine import Value, as_value, gradients, numerical_grad

    eps, atol, rtol = args.eps, args.atol, args.rtol
    for name, v in (("--eps", eps), ("--atol", atol), ("--rtol", rtol)):
        if not math.isfinite(v) or v < 0 or (name == "--eps" and not 0 < v < 1):
            allowed = "in (0, 1)" if name == "--eps" else ">= 0"
            raise UsageError(f"{name} must be a finite number {allowed}, got {v!r}")
    expr, values = _expression(args.expr, args.assignments)
    out, leaves = _evaluate_values(expr, values)
    analytic = gradients(out, leaves)
    names = list(expr.variables)
    point = [values[n] for n in names]

    rows = []
    for i, name in enumerate(names):

        def f(v: Value, i: int = i) -> Value:
            env: dict[str, Any] = {n: Value(x) for n, x in zip(names, point, strict=True)}
            env[names[i]] = v
            return as_value(expr.evaluate(env))

        try:
            (numeric,) = numerical_grad(f, point[i], eps=eps)
        except ValueError as e:
            cause = e.__cause__ if e.__cause__ is not None else e
            raise UsageError(
                f"cannot take central differences in {name} at {name}={_num(point[i])} "
                f"with eps={eps:g}: {cause}; move the point away from the edge of the "
                "domain or use a smaller --eps"
            ) from None
        diff = abs(analytic[i] - numeric)
        tol = atol + rtol * abs(numeric)
        rows.append((name, analytic[i], numeric, diff, tol, diff <= tol))

    print(f"{args.expr} = {_num(out.data)}   at {_at(values)}")
    width = max(8, *(len(r[0]) + 5 for r in rows))
    print(f"{'':{width}}  {'analytic':>18}  {'numeric':>18}  {'|diff|':>9}  {'tolerance':>9}")
    for name, a, n, diff, tol, ok in rows:
        mark = "ok" if ok else "MISMATCH"
        print(f"{'d/d' + name:{width}}  {a:>18.10g}  {n:>18.10g}  {diff:>9.2e}  {tol:>9.2e}"
              f"  {mark}")
    bad = [r[0] for r in rows if not r[5]]
    rule = (f"|analytic - numeric| <= atol + rtol*|numeric|, "
            f"atol={atol:g}, rtol={rtol:g}, eps={eps:g}")
    if bad:
        print(
            f"{len(bad)} of {len(rows)} derivatives disagree ({rule}). At a kink (relu, abs "
            "at 0) central differences average the two one-sided slopes, so this is expected there."
        )
        return 1
    print(f"all {len(rows)} derivatives agree ({rule})")
    return 0


# --- explain ----------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the walkthrough of one training iteration of a worked example."""
    import textwrap

    from nn import WORKED_EXAMPLES

    example = WORKED_EXAMPLES[args.example]
    record = example.walk_through()
    if args.format == "markdown":
        print(f"# {example.title}\n\n{example.summary}\n\n{record.to_markdown()}")
    else:
        print(f"{example.title}\n\n{textwrap.fill(example.summary, 88)}\n\n{record.to_text()}")
    return 0


# --- demo -------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Train MLP(2, [16, 16, 1]) on moons and write the plots and a graph of one neuron."""
    from viz.demo import run_demo

    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} is a file, not a directory")
    return run_demo(steps=args.steps, seed=args.seed, out=out, compile=not args.eager)


# --- steps ------------------------------------------------------------------------------


def cmd_steps(args: argparse.Namespace) -> int:
    """Write the step-through page of an expression (and, with --frames, one SVG per step)."""
    from viz.render import INSTALL_HINT, GraphvizError, GraphvizNotFoundError
    from viz.step_page import step_through

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be between 1 and 17, got {args.digits}")
    path = Path(args.output)
    if path.is_dir():
        raise UsageError(f"{args.output!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"the directory of {args.output!r} does not exist")
    frames = Path(args.frames) if args.frames is not None else None
    if frames is not None and frames.exists() and not frames.is_dir():
        raise UsageError(f"--frames {args.frames!r} is a file, not a directory")
    if frames is not None and not frames.parent.is_dir():
        raise UsageError(f"the directory holding --frames {args.frames!r} does not exist")
    expr, values = _expression(args.expr, args.assignments)
    out, _leaves = _evaluate_values(expr, values)
    if "out" not in values and not out.label:
        out.label = "out"  # a name for the formulas: grad(out) = 1
    try:
        steps = step_through(
            out,
            rankdir=args.rankdir,
            fmt=f"{{:.{args.digits}g}}",
            title=args.expr,
            max_nodes=None,  # bounded by the expression's length
        )
        steps.save(path)
        written = steps.save_frames(frames) if frames is not None else []
    except GraphvizNotFoundError:
        print(
            f"{PROG} steps: the Graphviz 'dot' program is missing; the page draws the graph "
            f"with it. To get it, {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 1
    except GraphvizError as e:
        print(f"{PROG} steps: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # a path that is not a regular file
        raise UsageError(str(e)) from None
    n_fwd, n_bwd = len(steps.steps.forward), len(steps.steps.backward)
    print(f"wrote {path}: {n_fwd} forward and {n_bwd} backward steps; open it in a browser "
          "and step with the arrow keys")
    if frames is not None:
        print(f"wrote {len(written)} frames to {frames}/ ({written[0].name} ...)")
    return 0


def _add_steps_parser(sub: Any) -> None:
    steps = _subparser(
        sub,
        "steps",
        "step through the forward and backward pass in a browser page",
        "Evaluate EXPR at the given values and write one self-contained HTML page (no\n"
        "server, no internet) that steps through the forward pass node by node, then the\n"
        "backward pass in the order backward() finishes each node, with the chain rule\n"
        "written out with numbers at every step. Arrow keys step, space plays.",
        "example:\n"
        '  chainrule steps "tanh(x*w + b)" x=2 w=-3 b=6.88 -o steps.html\n'
        '  chainrule steps "x*y + sin(x)" x=1 y=2 --frames frames/   # one SVG per step',
    )
    add = steps.add_argument
    add("expr", metavar="EXPR", help=_EXPR_HELP)
    add("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    add("-o", "--output", default="steps.html", metavar="PATH",
        help="the page to write (default steps.html)")
    add("--frames", metavar="DIR", help="also write one SVG per step into DIR (for slides)")
    add("--rankdir", choices=("LR", "TB"), default="LR", help="left to right (default) or top down")
    add("--digits", type=int, default=4, metavar="D",
        help="significant digits shown, 1 to 17 (default 4; the exact value is shown too)")
    steps.set_defaults(run=cmd_steps)


# --- the parser -------------------------------------------------------------------------


def _subparser(
    sub: Any, name: str, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


_EXPR_HELP = (
    "an expression in the variables, e.g. 'tanh(x*w + b)': numbers, names, + - * / **, "
    "parentheses and the functions " + ", ".join(FUNCTIONS)
)


def build_parser() -> argparse.ArgumentParser:
    """The ``chainrule`` argument parser with its four subcommands."""
    parser = _Parser(
        prog=PROG,
        description="chainrule: a scalar autodiff engine for learning, teaching and "
        "checking backpropagation.",
        epilog="examples:\n"
        "  chainrule demo\n"
        '  chainrule graph "tanh(x*w + b)" x=2 w=-3 b=6.88 -o graph.svg\n'
        '  chainrule check "sin(x) * y" x=1 y=2\n'
        "  chainrule explain --example two-two-two\n\n"
        "'chainrule COMMAND --help' explains each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = _subparser(
        sub,
        "demo",
        "train a small network on the moons data and write plots and a graph",
        "Train MLP(2, [16, 16, 1]) on 100 moons points (hinge loss, L2 1e-4, SGD with the\n"
        "learning rate decaying from 1.0 to 0.1), print the loss and accuracy, and write\n"
        "into DIR: decision_boundary.png, training_curves.png and neuron.svg (the graph of\n"
        "one neuron with its grads; neuron.dot when Graphviz is not installed).",
        "example:\n  chainrule demo --steps 100 --seed 0 --out out/",
    )
    add = demo.add_argument
    add("--steps", type=int, default=100, metavar="N", help="training steps (default 100)")
    add("--seed", type=int, default=0, metavar="S", help="seed of the data and weights (default 0)")
    add("--out", default="out", metavar="DIR", help="output directory (default out/)")
    add(
        "--eager",
        action="store_true",
        help="run every step eagerly (by default the step is compiled once, with "
        "engine.compile, when there are enough steps for it to pay off)",
    )
    demo.set_defaults(run=cmd_demo)

    graph = _subparser(
        sub,
        "graph",
        "draw the computation graph of an expression with its grads",
        "Evaluate EXPR at the given values, run backward, print every variable's gradient\n"
        "and draw the graph: each value with its data and grad, each op as a small node.",
        "example:\n"
        '  chainrule graph "tanh(x*w + b)" x=2 w=-3 b=6.88 -o graph.svg\n'
        '  chainrule graph "log(x) * y**2" x=3 y=0.5 --format png --edge-grads\n\n'
        "An expression starting with '-' needs '--' before it: chainrule graph -- \"-x*y\" x=1 y=2",
    )
    add = graph.add_argument
    add("expr", metavar="EXPR", help=_EXPR_HELP)
    add("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    add("-o", "--output", metavar="PATH", help="the file to write (default graph.svg)")
    add("--format", choices=("svg", "png", "pdf", "dot"), help="default: from PATH, else svg")
    add("--rankdir", choices=("LR", "TB"), default="LR", help="left to right (default) or top down")
    add("--edge-grads", action="store_true", help="write each local derivative on its arrow")
    add("--digits", type=int, default=4, metavar="D",
        help="significant digits in the diagram, 1 to 17 (default 4)")
    graph.set_defaults(run=cmd_graph)

    defaults = _gradcheck_defaults()
    check = _subparser(
        sub,
        "check",
        "compare backprop's derivatives with central differences",
        "Print each variable's derivative from backprop (analytic) and from central\n"
        "differences (f(x+eps) - f(x-eps)) / 2eps (numeric), side by side. The exit status is\n"
        "1 when any pair differs by more than atol + rtol*|numeric| (engine.gradcheck's rule).",
        "example:\n"
        '  chainrule check "sin(x) * y" x=1 y=2\n'
        '  chainrule check "relu(x)" x=0        # a kink: they disagree, exit status 1',
    )
    add = check.add_argument
    add("expr", metavar="EXPR", help=_EXPR_HELP)
    add("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    for flag, what in (("eps", "step of the differences"), ("atol", "absolute tolerance"),
                       ("rtol", "relative tolerance")):
        add(f"--{flag}", type=float, default=defaults[flag],
            help=f"{what} (default {defaults[flag]:g})")
    check.set_defaults(run=cmd_check)

    explain = _subparser(
        sub,
        "explain",
        "walk through one training iteration of a worked example",
        "Print one complete training iteration of a worked example with its numbers: the\n"
        "forward pass layer by layer, the loss, the error delta = dJ/dz of every layer, the\n"
        "weight gradients, the update, and the forward pass again.\n\n"
        "  backprop-by-hand  a 2-3-1 sigmoid network, binary cross-entropy, learning rate 0.1\n"
        "  two-two-two       a 2-2-2 sigmoid network, squared error, learning rate 0.5",
        "example:\n  chainrule explain --example two-two-two --format markdown",
    )
    add = explain.add_argument
    add("--example", choices=EXAMPLES, default=EXAMPLES[0], help="default: backprop-by-hand")
    add("--format", choices=("text", "markdown"), default="text", help="default: text")
    explain.set_defaults(run=cmd_explain)
    _add_steps_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command with ``argv`` (default ``sys.argv[1:]``); the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        print(f"{PROG}: error: choose a command: demo, graph, check or explain "
              f"(see '{PROG} --help')", file=sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        if e.detail:
            print(e.detail, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`chainrule explain | head`)
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes
        return 1
    except OSError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
