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
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from engine.checks import is_finite
from viz.expr import FUNCTIONS, Expression, ExpressionError, normalize_name, parse
from viz.graph import DEFAULT_MAX_NODES

__all__ = ["UsageError", "build_parser", "main"]

PROG = "chainrule"

EXAMPLES = ("backprop-by-hand", "two-two-two")

#: The steps ``chainrule explain --step`` shows one at a time (nn.walkthrough's PARTS; kept
#: here so that ``--help`` imports nothing of nn; a test pins the two together).
STEPS = ("forward", "backward", "update", "after")


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``chainrule graph: error: ... (see --help)``.

    In a command that takes an expression (a positional argument ``expr``), an
    argument that starts with ``-`` but is none of the command's options, such as
    ``-x*y``, is the expression (argparse alone would call it an unknown option).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _parse_optional(self, arg_string: str) -> Any:
        result = super()._parse_optional(arg_string)  # type: ignore[misc]
        if result is None or arg_string.startswith("--"):
            return result
        # (action, option, explicit_arg) before Python 3.12, a list of such tuples after
        first = result[0] if isinstance(result, list) else result
        takes_expression = any(a.dest == "expr" for a in self._get_positional_actions())
        if first[0] is None and takes_expression:
            return None  # not an option of this command: a positional (the expression)
        return result


def version() -> str:
    """chainrule's version as installed (``pip install -e .`` records it)."""
    from importlib import metadata

    try:
        return metadata.version("chainrule")
    except metadata.PackageNotFoundError:
        return "(not installed: run 'pip install -e .' in the repository)"


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
        if not is_finite(value):
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


def _gradients(expr: Expression, out: Any, leaves: list[Any]) -> list[float]:
    """d(out)/d(leaf) for each leaf, without changing any grad; overflow is a UsageError."""
    from engine import gradients

    try:
        return list(gradients(out, leaves))
    except OverflowError as e:
        raise UsageError(_overflow_message(expr.text, out.data, e)) from None


def _overflow_message(text: str, data: float, error: Exception) -> str:
    return f"{text} = {_num(data)} is finite, but its gradient is not: {_one_line(str(error))}"


def _one_line(text: str) -> str:
    """``text`` on one line (an engine message may span several)."""
    return " ".join(text.split()) or "(no message)"


def _num(x: float) -> str:
    return f"{x:.10g}"


def _at(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={_num(v)}" for k, v in values.items())


# --- graph ------------------------------------------------------------------------------


def _output_path(args: argparse.Namespace) -> tuple[Path | None, str]:
    """Where the picture goes (None: standard output, for ``-o -``) and its format."""
    from viz.render import FORMATS

    fmt = args.format
    if args.output is None:
        fmt = fmt or "svg"
        return Path(f"graph.{fmt}"), fmt
    if args.output == "-":
        fmt = fmt or "svg"
        if fmt in ("png", "pdf") and sys.stdout.isatty():
            raise UsageError(
                f"not writing {fmt.upper()} bytes to a terminal; redirect the output "
                f"(-o - > graph.{fmt}) or give a file name"
            )
        return None, fmt
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


def _write_stdout(data: bytes) -> None:
    """``data`` to standard output as bytes (a picture piped on: ``-o -``)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (rare): text formats only
        sys.stdout.write(data.decode("utf-8"))
    else:
        buffer.write(data)
        buffer.flush()


def cmd_graph(args: argparse.Namespace) -> int:
    """Evaluate, backprop, print the gradients and write the diagram."""
    from viz.dot import to_dot
    from viz.graph import count_nodes
    from viz.render import (
        INSTALL_HINT,
        GraphvizError,
        GraphvizNotFoundError,
        render_dot,
        write_atomic,
    )

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be between 1 and 17, got {args.digits}")
    if args.max_nodes < 1:
        raise UsageError(f"--max-nodes must be at least 1, got {args.max_nodes}")
    expr, values = _expression(args.expr, args.assignments)
    path, fmt = _output_path(args)
    out, leaves = _evaluate_values(expr, values)
    n_nodes = count_nodes(out, args.max_nodes)
    if n_nodes > args.max_nodes:
        raise UsageError(
            f"the graph of this expression has more than --max-nodes={args.max_nodes} values, "
            "too many to draw readably (and Graphviz may take minutes); draw a part of it, or "
            "pass a larger --max-nodes. For a network, group the nodes per neuron or layer "
            "with viz.render(..., module=model, group_by='layer', collapse=True)"
        )
    try:
        out.backward()
    except OverflowError as e:  # every grad is left as it was
        raise UsageError(_overflow_message(args.expr, out.data, e)) from None
    report = sys.stderr if path is None else sys.stdout  # -o -: stdout is the picture
    print(f"{args.expr} = {_num(out.data)}   at {_at(values)}", file=report)
    for leaf in leaves:
        print(f"  d/d{leaf.label} = {_num(leaf.grad)}", file=report)
    try:
        source = to_dot(
            out,
            rankdir=args.rankdir,
            show_edge_grads=args.edge_grads,
            fmt=f"{{:.{args.digits}g}}",
            title=args.expr,
            max_nodes=None,  # counted above
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        data = source.encode("utf-8") if fmt == "dot" else render_dot(source, fmt)
    except GraphvizNotFoundError:
        if path is None:
            print(
                f"{PROG} graph: the Graphviz 'dot' program is missing, so no {fmt} was "
                f"drawn; {INSTALL_HINT}, or pass --format dot for the DOT text",
                file=sys.stderr,
            )
            return 1
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
        print(f"{PROG} graph: {_one_line(str(e))}", file=sys.stderr)
        return 1
    if path is None:
        _write_stdout(data)
        return 0
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


def _floats(text: str, what: str) -> list[float]:
    """``"1,-2.5"`` → ``[1.0, -2.5]``, or a UsageError naming ``what``."""
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"{what} must be numbers separated by commas, got {text!r}") from None
        if not math.isfinite(value):
            raise UsageError(f"{what} must be finite numbers, got {text!r}")
        out.append(value)
    return out


_PARAMETER = re.compile(r"layers\.(\d+)\.neurons\.(\d+)\.(?:w\.(\d+)|b)")


def _load_mlp(path: str, activation: str, output_activation: str) -> Any:
    """The MLP saved by ``Module.save`` at ``path`` (its shape read from the parameter names)."""
    import json

    from nn import ACTIVATIONS, MLP

    for flag, act in (("--activation", activation), ("--output-activation", output_activation)):
        if act not in ACTIVATIONS:
            raise UsageError(f"{flag} must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"--model {path!r}: no such file") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--model {path!r} is not a JSON file saved by Module.save: {e}") from None
    params = document.get("parameters") if isinstance(document, dict) else None
    if not isinstance(params, dict) or not params:
        raise UsageError(f"--model {path!r} is not a parameter file saved by Module.save")
    shape: dict[int, dict[int, set[int | None]]] = {}
    for name in params:
        m = _PARAMETER.fullmatch(str(name))
        if m is None:
            raise UsageError(
                f"--model {path!r}: parameter {name!r} is not an MLP's "
                "(layers.L.neurons.I.w.J or layers.L.neurons.I.b)"
            )
        layer, neuron, w = int(m[1]), int(m[2]), m[3]
        shape.setdefault(layer, {}).setdefault(neuron, set()).add(None if w is None else int(w))
    weights, biases = [], []
    for li in range(len(shape)):
        neurons = shape.get(li)
        if neurons is None or sorted(neurons) != list(range(len(neurons))):
            raise UsageError(
                f"--model {path!r}: the neurons of layer {li} are not numbered 0, 1, ..."
            )
        nin = max(len([j for j in ws if j is not None]) for ws in neurons.values())
        weights.append([[0.0] * nin for _ in neurons])
        biases.append([0.0] * len(neurons) if None in neurons[0] else None)
    try:
        model = MLP.from_weights(
            weights, biases, activation=activation, output_activation=output_activation
        )
        model.load(path)  # validates every name and number; a mismatch changes nothing
    except (TypeError, ValueError) as e:
        raise UsageError(f"--model {path!r}: {e}") from None
    return model


def _model_problem(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, str]:
    """(model, inputs, targets, loss, title) from --example or --model/--input/--target."""
    from nn import WORKED_EXAMPLES
    from nn.walkthrough import LOSS_FUNCTIONS

    if args.model is None:
        if args.input or args.target:
            raise UsageError("--input and --target go with --model (a saved model)")
        example = WORKED_EXAMPLES[args.example]
        return example.model(), example.x, example.y, example.loss, example.title
    if args.example is not None:
        raise UsageError("give either --example or --model, not both")
    if not args.input or not args.target:
        raise UsageError("--model needs --input X1,X2,... and --target Y (once per example)")
    if len(args.input) != len(args.target):
        raise UsageError(
            f"give one --target per --input: got {len(args.input)} inputs and "
            f"{len(args.target)} targets"
        )
    model = _load_mlp(args.model, args.activation, args.output_activation)
    rows = [_floats(text, "--input") for text in args.input]
    for row in rows:
        if len(row) != model.nin:
            raise UsageError(f"the model takes {model.nin} inputs, --input has {len(row)}")
    targets: list[Any] = []
    for text in args.target:
        t = _floats(text, "--target")
        targets.append(t[0] if len(t) == 1 else t)
    if args.loss not in LOSS_FUNCTIONS:
        raise UsageError(f"--loss must be one of {', '.join(LOSS_FUNCTIONS)}, got {args.loss!r}")
    batch = len(rows) > 1
    title = f"{args.model}: MLP {'-'.join(str(n) for n in [model.nin, *model.nouts])}"
    return model, rows if batch else rows[0], targets if batch else targets[0], args.loss, title


def _check_model(args: argparse.Namespace) -> int:
    """``check --example`` / ``check --model``: every parameter against central differences."""
    from nn import gradcheck_module

    model, inputs, targets, loss, title = _model_problem(args)
    try:
        result = gradcheck_module(
            model,
            inputs,
            targets,
            loss=loss,
            eps=args.eps,
            atol=args.atol,
            rtol=args.rtol,
            raise_on_failure=False,
        )
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(title)
    print(result.to_text(), end="")
    return 0 if result.ok else 1


def cmd_check(args: argparse.Namespace) -> int:
    """Analytic (backprop) and numeric (central differences) derivatives side by side."""
    from engine import Value, as_value, numerical_grad

    eps, atol, rtol = args.eps, args.atol, args.rtol
    for name, v in (("--eps", eps), ("--atol", atol), ("--rtol", rtol)):
        if not is_finite(v) or v < 0 or (name == "--eps" and not 0 < v < 1):
            allowed = "in (0, 1)" if name == "--eps" else ">= 0"
            raise UsageError(f"{name} must be a finite number {allowed}, got {v!r}")
    if args.example is not None or args.model is not None:
        if args.expr is not None:
            raise UsageError("give an expression, or --example/--model, not both")
        return _check_model(args)
    if args.expr is None:
        raise UsageError("give an expression to check (or --example NAME, or --model FILE)")
    expr, values = _expression(args.expr, args.assignments)
    out, leaves = _evaluate_values(expr, values)
    analytic = _gradients(expr, out, leaves)
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
            advice = (
                "f changes by more than float64 holds over 2*eps; try a larger --eps or a "
                "smaller expression"
                if "overflows" in str(cause)
                else "move the point away from the edge of the domain or use a smaller --eps"
            )
            raise UsageError(
                f"cannot take central differences in {name} at {name}={_num(point[i])} "
                f"with eps={eps:g}: {_one_line(str(cause))}; {advice}"
            ) from None
        if not is_finite(numeric):
            raise UsageError(
                f"the central difference in {name} at {name}={_num(point[i])} with eps={eps:g} "
                f"is {numeric}: f changes by more than float64 holds over 2*eps; try a "
                "larger --eps or a smaller expression"
            )
        diff = abs(analytic[i] - numeric)
        tol = atol + rtol * abs(numeric)
        rows.append((name, analytic[i], numeric, diff, tol, diff <= tol))

    print(f"{args.expr} = {_num(out.data)}   at {_at(values)}")
    width = max(8, *(len(r[0]) + 5 for r in rows))
    print(f"{'':{width}}  {'analytic':>18}  {'numeric':>18}  {'|diff|':>9}  {'tolerance':>9}")
    for name, a, n, diff, tol, ok in rows:
        mark = "ok" if ok else "MISMATCH"
        print(
            f"{'d/d' + name:{width}}  {a:>18.10g}  {n:>18.10g}  {diff:>9.2e}  {tol:>9.2e}  {mark}"
        )
    bad = [r[0] for r in rows if not r[5]]
    rule = (
        f"|analytic - numeric| <= atol + rtol*|numeric|, atol={atol:g}, rtol={rtol:g}, eps={eps:g}"
    )
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
    """Print the walkthrough of one training iteration, whole or one part at a time."""
    import textwrap

    from nn import WORKED_EXAMPLES, walk_through_step

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be between 1 and 17, got {args.digits}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr >= 0):
        raise UsageError(f"--lr must be a finite number >= 0, got {args.lr!r}")
    if args.model is None:
        name = args.example or EXAMPLES[0]
        if args.input or args.target:
            raise UsageError("--input and --target go with --model (a saved model)")
        example = WORKED_EXAMPLES[name]
        title, summary = example.title, example.summary
        model, x, y, loss = example.model(), example.x, example.y, example.loss
        lr, update_biases, loss_name = example.lr, example.update_biases, example.loss_name
        if args.lr is not None:
            lr = args.lr
    else:
        model, x, y, loss, title = _model_problem(args)
        summary = (
            f"One gradient-descent step on the saved model {args.model} (hidden layers "
            f"{args.activation}, output {args.output_activation}), loss {args.loss}."
        )
        lr = 0.1 if args.lr is None else args.lr
        update_biases, loss_name = True, None
    try:
        record = walk_through_step(
            model,
            x,
            y,
            loss=loss,
            lr=lr,
            update_biases=update_biases,
            loss_name=loss_name,
            convention=args.convention,
        )
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None
    drawn = args.layer_view is None or _write_layer_view(record, args.layer_view, args.digits)
    markdown = args.format == "markdown"
    parts: list[str | None] = [args.step] if args.step else list(STEPS) if args.pause else [None]
    for i, part in enumerate(parts):
        if markdown:
            body = record.to_markdown(args.digits, part)
            text = f"# {title}\n\n{summary}\n\n{body}" if i == 0 else body.split("\n\n", 1)[1]
        else:
            body = record.to_text(args.digits, part)
            head = f"{title}\n\n{textwrap.fill(summary, 88)}\n\n"
            text = head + body if i == 0 else body.split("\n\n", 1)[1]
        print(text, end="")
        if args.pause and i < len(parts) - 1:
            print(f"\n[Enter: step {i + 2} of {len(parts)}, {parts[i + 1]}]", flush=True)
            if not sys.stdin.readline():  # end of input: show the rest without waiting
                args.pause = False
            print()
    return 0 if drawn else 1  # as chainrule graph: a picture asked for and not drawn is 1


def _write_layer_view(record: Any, path_text: str, digits: int) -> bool:
    """Draw the layer view to ``path_text``; False (said on stderr) when it was not drawn."""
    from viz.layer_view import render_layer_view
    from viz.render import FORMATS, INSTALL_HINT, GraphvizError, GraphvizNotFoundError

    path = Path(path_text)
    if path.suffix.lower().lstrip(".") not in (*FORMATS, "gv"):
        raise UsageError(
            f"--layer-view {path_text!r}: cannot tell the format; give a path ending in "
            ".svg, .png, .pdf or .dot"
        )
    if not path.parent.is_dir():
        raise UsageError(f"the directory of --layer-view {path_text!r} does not exist")
    try:
        render_layer_view(record, path, digits=min(digits, 6))
    except ValueError as e:
        raise UsageError(f"--layer-view: {e}") from None
    except GraphvizNotFoundError:
        fallback = path.with_suffix(".dot")
        render_layer_view(record, fallback, digits=min(digits, 6))
        print(
            f"{PROG} explain: the Graphviz 'dot' program is missing; wrote {fallback} "
            f"instead ({INSTALL_HINT})",
            file=sys.stderr,
        )
        return False
    except GraphvizError as e:
        print(f"{PROG} explain: {e}", file=sys.stderr)
        return False
    print(f"wrote {path}", file=sys.stderr)
    return True


# --- demo -------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Train on moons, MLP(2, [16, 16, 1]), or on the 8×8 digits, MLP(64, [32, 10]); plot."""
    from viz.demo import DIGITS_BATCH_SIZE, DIGITS_EPOCHS, MOONS_STEPS, run_demo, run_digits_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} is a file, not a directory")
    if args.data == "moons":
        for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
            if value is not None:
                raise UsageError(
                    f"{option} is for --data digits; the moons demo trains full-batch for --steps"
                )
        steps = MOONS_STEPS if args.steps is None else args.steps
        if steps < 1:
            raise UsageError(f"--steps must be at least 1, got {steps}")
        return run_demo(steps=steps, seed=args.seed, out=out, compile=not args.eager)
    if args.steps is not None:
        raise UsageError("--steps is for --data moons; the digits demo trains for --epochs")
    if args.eager:
        raise UsageError(
            "--eager is for --data moons; the digits demo trains with batch replay "
            "(engine.vmap): eager, it would take many minutes"
        )
    epochs = DIGITS_EPOCHS if args.epochs is None else args.epochs
    batch_size = DIGITS_BATCH_SIZE if args.batch_size is None else args.batch_size
    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    return run_digits_demo(epochs=epochs, batch_size=batch_size, seed=args.seed, out=out)


# --- steps ------------------------------------------------------------------------------


def cmd_steps(args: argparse.Namespace) -> int:
    """Write the step-through page of an expression (and, with --frames, one SVG per step)."""
    from viz.render import INSTALL_HINT, GraphvizError, GraphvizNotFoundError
    from viz.step_page import step_through

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be between 1 and 17, got {args.digits}")
    path = None if args.output == "-" else Path(args.output)  # -o -: standard output
    if path is not None and path.is_dir():
        raise UsageError(f"{args.output!r} is a directory; give a file name")
    if path is not None and not path.parent.is_dir():
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
        if path is None:
            _write_stdout(steps.to_html().encode("utf-8"))
        else:
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
        print(f"{PROG} steps: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except ValueError as e:  # a path that is not a regular file
        raise UsageError(str(e)) from None
    n_fwd, n_bwd = len(steps.steps.forward), len(steps.steps.backward)
    report = sys.stderr if path is None else sys.stdout  # -o -: stdout is the page
    print(
        f"wrote {'the page to standard output' if path is None else path}: {n_fwd} forward "
        f"and {n_bwd} backward steps; open it in a browser and step with the arrow keys",
        file=report,
    )
    if frames is not None:
        print(f"wrote {len(written)} frames to {frames}/ ({written[0].name} ...)", file=report)
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
    add(
        "-o",
        "--output",
        default="steps.html",
        metavar="PATH",
        help="the page to write (default steps.html; - for standard output)",
    )
    add("--frames", metavar="DIR", help="also write one SVG per step into DIR (for slides)")
    add("--rankdir", choices=("LR", "TB"), default="LR", help="left to right (default) or top down")
    add(
        "--digits",
        type=int,
        default=4,
        metavar="D",
        help="significant digits shown, 1 to 17 (default 4; the exact value is shown too)",
    )
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


def _model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --input, --target, --loss and the activations (check and explain)."""
    add = parser.add_argument
    add("--model", metavar="FILE", help="a model saved with Module.save (an nn.MLP's parameters)")
    add(
        "--input",
        action="append",
        metavar="X1,X2,...",
        help="an input vector for --model; repeat for a batch (write --input=-1,2 when "
        "it starts with a minus)",
    )
    add(
        "--target",
        action="append",
        metavar="Y",
        help="its target (a number, or Y1,Y2,... for several outputs); one per --input",
    )
    add(
        "--loss",
        default="mse_loss",
        metavar="NAME",
        help="the loss for --model: mse_loss (default), binary_cross_entropy, "
        "binary_cross_entropy_with_logits, cross_entropy or hinge_loss",
    )
    add(
        "--activation",
        default="relu",
        metavar="F",
        help="the hidden layers' activation of --model (default relu, as nn.MLP's)",
    )
    add(
        "--output-activation",
        default="linear",
        metavar="F",
        help="the last layer's activation of --model (default linear, as nn.MLP's)",
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
    parser.add_argument(
        "--version",
        action="version",
        version=f"{PROG} {version()}",
        help="print chainrule's version and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = _subparser(
        sub,
        "demo",
        "train a small network (moons, or the 8x8 digits) and write plots",
        "--data moons (the default): train MLP(2, [16, 16, 1]) on 100 moons points (hinge\n"
        "loss, L2 1e-4, SGD with the learning rate decaying from 1.0 to 0.1), print the loss\n"
        "and accuracy, and write into DIR: decision_boundary.png, training_curves.png and\n"
        "neuron.svg (the graph of one neuron with its grads; neuron.dot without Graphviz).\n\n"
        "--data digits: train MLP(64, [32, 10]) on the 8x8 handwritten digits (1,797 images,\n"
        "80% for training, 20% held out for the test) with batch replay (the model is\n"
        "written on scalars, each mini-batch runs as numpy arrays: engine.vmap), softmax\n"
        "cross-entropy and Adam, print the loss and accuracy per epoch and on the test set,\n"
        "and write into DIR: digits_predictions.png (test digits with their predicted\n"
        "labels, the wrong ones in red), digits_confusion.png and digits_training.png.",
        "example:\n  chainrule demo --steps 100 --seed 0 --out out/\n"
        "  chainrule demo --data digits --epochs 20 --batch-size 32",
    )
    add = demo.add_argument
    add(
        "--data",
        choices=("moons", "digits"),
        default="moons",
        help="the data set (default moons)",
    )
    add("--steps", type=int, metavar="N", help="moons: training steps (default 100)")
    add(
        "--epochs",
        type=int,
        metavar="E",
        help="digits: passes over the training set (default 20)",
    )
    add("--batch-size", type=int, metavar="B", help="digits: mini-batch size (default 32)")
    add("--seed", type=int, default=0, metavar="S", help="seed of the data and weights (default 0)")
    add("--out", default="out", metavar="DIR", help="output directory (default out/)")
    add(
        "--eager",
        action="store_true",
        help="moons: run every step eagerly (by default the step is compiled once, with "
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
        "An expression may start with '-' (chainrule graph -x*y x=1 y=2); if it reads like one\n"
        "of the options, put '--' before it: chainrule graph -- -o*x o=1 x=2\n\n"
        "'-o -' writes the picture to standard output (the gradients then go to stderr):\n"
        '  chainrule graph "x*y" x=1 y=2 -o - > graph.svg',
    )
    add = graph.add_argument
    add("expr", metavar="EXPR", help=_EXPR_HELP)
    add("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    add("-o", "--output", metavar="PATH", help="the file to write (default graph.svg)")
    add("--format", choices=("svg", "png", "pdf", "dot"), help="default: from PATH, else svg")
    add("--rankdir", choices=("LR", "TB"), default="LR", help="left to right (default) or top down")
    add("--edge-grads", action="store_true", help="write each local derivative on its arrow")
    add(
        "--digits",
        type=int,
        default=4,
        metavar="D",
        help="significant digits in the diagram, 1 to 17 (default 4)",
    )
    add(
        "--max-nodes",
        type=int,
        default=DEFAULT_MAX_NODES,
        metavar="N",
        help=f"refuse to draw more than N values (default {DEFAULT_MAX_NODES}, as viz.to_dot)",
    )
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
        '  chainrule check "relu(x)" x=0        # a kink: they disagree, exit status 1\n'
        "  chainrule check --example backprop-by-hand   # every weight of the network\n"
        "  chainrule check --model model.json --input 0.5,-1 --target 1 \\\n"
        "      --loss binary_cross_entropy --output-activation sigmoid\n\n"
        "With --example or --model, every parameter of the network (layers.0.neurons.1.w.0\n"
        "...) is nudged by +-h, h = eps*max(1, |value|), and the loss's central difference is\n"
        "compared with backprop's gradient (nn.gradcheck_module).",
    )
    add = check.add_argument
    add("expr", metavar="EXPR", nargs="?", help=_EXPR_HELP)
    add("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each variable")
    for flag, what in (
        ("eps", "step of the differences"),
        ("atol", "absolute tolerance"),
        ("rtol", "relative tolerance"),
    ):
        add(
            f"--{flag}",
            type=float,
            default=defaults[flag],
            help=f"{what} (default {defaults[flag]:g})",
        )
    add("--example", choices=EXAMPLES, help="check every parameter of a worked example's network")
    _model_options(check)
    check.set_defaults(run=cmd_check)

    explain = _subparser(
        sub,
        "explain",
        "walk through one training iteration of a worked example",
        "Print one complete training iteration of a worked example with its numbers: the\n"
        "forward pass layer by layer, the loss, the error delta = dJ/dz of every layer, the\n"
        "weight gradients, the update, and the forward pass again.\n\n"
        "  backprop-by-hand  a 2-3-1 sigmoid network, binary cross-entropy, learning rate 0.1\n"
        "  two-two-two       a 2-2-2 sigmoid network, squared error, learning rate 0.5\n\n"
        "or of your own saved model (Module.save) on your examples: --model FILE with one\n"
        "--input and one --target per example.",
        "example:\n  chainrule explain --example two-two-two --format markdown\n"
        "  chainrule explain --step backward --digits 4\n"
        "  chainrule explain --pause\n"
        "  chainrule explain --model model.json --activation sigmoid \\\n"
        "      --output-activation sigmoid --input 0,1 --target 1 --input 1,1 --target 0 \\\n"
        "      --loss mse_loss --convention per-example",
    )
    add = explain.add_argument
    add("--example", choices=EXAMPLES, help="default: backprop-by-hand")
    add("--format", choices=("text", "markdown"), default="text", help="default: text")
    add(
        "--digits",
        type=int,
        default=6,
        metavar="D",
        help="significant digits of every number, 1 to 17 (default 6)",
    )
    add("--step", choices=STEPS, help="show only this step (after the heading)")
    add(
        "--pause",
        action="store_true",
        help="show one step at a time, waiting for Enter between them",
    )
    add(
        "--convention",
        choices=("batch", "per-example"),
        default="batch",
        help="a batch's per-example delta: dJ/dz of the batch loss (with the mean's 1/n), "
        "or the delta-rule derivation's delta_i without 1/n (default batch)",
    )
    add("--lr", type=float, metavar="ETA", help="learning rate (default: the example's, or 0.1)")
    add("--layer-view", metavar="PATH", help="also draw the network as layers (svg, png, pdf, dot)")
    _model_options(explain)
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
        print(
            f"{PROG}: error: choose a command: demo, graph, check or explain (see '{PROG} --help')",
            file=sys.stderr,
        )
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
    except ArithmeticError as e:  # a value is finite but its gradient overflows, ...
        print(f"{PROG} {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
