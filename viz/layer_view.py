"""A network drawn as layers: the layer-level picture of fprop and bprop, with numbers.

Where :func:`viz.to_dot` draws every scalar, this draws one box per layer, from a
walkthrough record (:func:`nn.walk_through_step`): the input a⁰ = x, then for each layer
l a table with one row per neuron — zˡ, aˡ, the ∂J/∂aˡ its bprop receives, f′(zˡ) and
δˡ — and at the end the loss J. Forward arrows (solid, blue) run left to right, labelled
with what fprop computes (zˡ = Wˡaˡ⁻¹ + bˡ, aˡ = f(zˡ)); backward arrows (dashed, red)
run right to left, labelled with the vector bprop returns (∂J/∂aˡ⁻¹ = (Wˡ)ᵀδˡ, with
its numbers).

Walk, then draw: :func:`layer_view_dot` returns DOT text (testable without Graphviz);
:func:`render_layer_view` writes it through viz's usual atomic render path, and
:func:`draw_layer_view` returns a ``graphviz.Digraph`` that Jupyter shows inline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.checks import to_int
from viz.dot import FONT, GRAD_COLOR, MUTED, RANKDIRS, STYLE, html_text, number_formatter

if TYPE_CHECKING:
    import graphviz

    from nn.walkthrough import StepWalkthrough

__all__ = ["draw_layer_view", "layer_view_dot", "render_layer_view"]

FORWARD_COLOR = "#1d4ed8"
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sup(n: int) -> str:
    return str(n).translate(_SUP)


def _cell(text: str, color: str | None = None, bold: bool = False, align: str = "RIGHT") -> str:
    body = html_text(text)
    if not body:
        return "<TD></TD>"
    if bold:
        body = f"<B>{body}</B>"
    if color:
        body = f'<FONT COLOR="{color}">{body}</FONT>'
    return f'<TD ALIGN="{align}">{body}</TD>'


def _table(title: str, header: list[tuple[str, str | None]], rows: list[list[str]]) -> str:
    """An HTML-like label: a bold title, a header row (with colours) and the rows."""
    width = len(header)
    head = "".join(_cell(h, c or MUTED) for h, c in header)
    body = "".join(
        "<TR>" + "".join(_cell(v, c) for v, (_, c) in zip(row, header, strict=True)) + "</TR>"
        for row in rows
    )
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
        f'<TR><TD COLSPAN="{width}"><B>{html_text(title)}</B></TD></TR>'
        f"<TR>{head}</TR>{body}</TABLE>>"
    )


def _vector(values: list[float], fmt: Any) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def _check_record(record: Any, example: Any) -> int:
    if not (hasattr(record, "layers") and hasattr(record, "inputs")):
        raise TypeError(
            "the layer view draws a walkthrough record (nn.walk_through_step(...) or "
            f"WORKED_EXAMPLES[name].walk_through()), not {type(record).__name__}"
        )
    n = len(record.inputs)
    example = to_int(example, "example")
    if not 0 <= example < n:
        raise ValueError(f"example must be an int from 0 to {n - 1}, got {example!r}")
    return example


def _body(record: StepWalkthrough, example: int, digits: int, rankdir: str) -> list[str]:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"digits must be an int from 1 to 17, got {digits!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    n = _check_record(record, example)
    fmt = number_formatter(f"{{:.{digits}g}}")
    L = len(record.layers)
    title = f"MLP {record.architecture}: forward (→) and backward (⇠) by layer"
    if record.batch:
        title += f", example {n + 1} of {len(record.inputs)} ({record.convention} convention)"
    lines = [
        f'graph [rankdir="{rankdir}", fontname="{FONT}", nodesep="0.3", ranksep="1.1", '
        f'label=<{html_text(title)}>, labelloc="t", fontsize="14"]',
        f'node [fontname="{FONT}", fontsize="11", shape="box", style="rounded,filled", '
        f'margin="0.1,0.06"]',
        f'edge [fontname="{FONT}", fontsize="10", arrowsize="0.7"]',
    ]
    x = record.inputs[n]
    fill, border = STYLE["input"]
    rows = [[f"x{str(j + 1).translate(_SUB)}", fmt(v)] for j, v in enumerate(x)]
    label = _table("input a⁰ = x", [("", None), ("a⁰", None)], rows)
    lines.append(f'a0 [fillcolor="{fill}", color="{border}", label={label}]')
    for s in record.layers:
        k = s.index
        sk = _sup(k)
        header: list[tuple[str, str | None]] = [
            ("neuron", None),
            (f"z{sk}", None),
            (f"a{sk}", None),
            (f"∂J/∂a{sk}", GRAD_COLOR),
            (f"f′(z{sk})", None),
            (f"δ{sk}", GRAD_COLOR),
        ]
        rows = [
            [
                str(i + 1),
                fmt(s.z[n][i]),
                fmt(s.a[n][i]),
                fmt(s.grad_a[n][i]),
                fmt(s.fprime[n][i]),
                fmt(s.delta[n][i]),
            ]
            for i in range(s.nout)
        ]
        fill, border = STYLE["value"] if k < L else STYLE["root"]
        name = f"layer {k} · {s.activation} · {s.nin} → {s.nout}"
        lines.append(
            f'a{k} [fillcolor="{fill}", color="{border}", label={_table(name, header, rows)}]'
        )
    fill, border = STYLE["group"]
    loss = f"loss J = {fmt(record.loss_before)}"
    lines.append(
        f'loss [fillcolor="{fill}", color="{border}", label=<<B>{html_text(loss)}</B><BR/>'
        f'<FONT POINT-SIZE="10" COLOR="{MUTED}">{html_text(record.loss_name)}</FONT>>]'
    )
    for s in record.layers:
        k = s.index
        sk, prev = _sup(k), _sup(k - 1)
        bias = f" + b{sk}" if s.biases is not None else ""
        fwd = f"z{sk} = W{sk}a{prev}{bias}\na{sk} = {s.activation}(z{sk})"
        lines.append(
            f'a{k - 1} -> a{k} [color="{FORWARD_COLOR}", fontcolor="{FORWARD_COLOR}", '
            f"label=<{html_text(fwd)}>]"
        )
        back = f"∂J/∂a{prev} = (W{sk})ᵀδ{sk}\n= {_vector(s.grad_inputs[n], fmt)}"
        lines.append(
            f'a{k - 1} -> a{k} [dir="back", style="dashed", color="{GRAD_COLOR}", '
            f'fontcolor="{GRAD_COLOR}", label=<{html_text(back)}>]'
        )
    last = record.layers[-1]
    sL = _sup(L)
    lines.append(
        f'a{L} -> loss [color="{FORWARD_COLOR}", fontcolor="{FORWARD_COLOR}", '
        f"label=<{html_text(f'J(a{sL}, y)')}>]"
    )
    back = f"∂J/∂a{sL} = {_vector(last.grad_a[n], fmt)}"
    lines.append(
        f'a{L} -> loss [dir="back", style="dashed", color="{GRAD_COLOR}", '
        f'fontcolor="{GRAD_COLOR}", label=<{html_text(back)}>]'
    )
    return lines


def layer_view_dot(
    record: StepWalkthrough, *, example: int = 0, digits: int = 4, rankdir: str = "LR"
) -> str:
    """DOT text of the layer view of a walkthrough record (no Graphviz program needed).

    ``example`` picks the example of a batch (from 0); ``digits`` the significant digits.

    >>> from nn import WORKED_EXAMPLES
    >>> layer_view_dot(WORKED_EXAMPLES["backprop-by-hand"].walk_through()).startswith("digraph")
    True
    """
    return (
        "digraph layers {\n"
        + "".join(f"  {line}\n" for line in _body(record, example, digits, rankdir))
        + "}\n"
    )


def draw_layer_view(
    record: StepWalkthrough, *, example: int = 0, digits: int = 4, rankdir: str = "LR"
) -> graphviz.Digraph:
    """The layer view as a ``graphviz.Digraph`` (shown inline by Jupyter)."""
    import graphviz

    body = [f"  {line}\n" for line in _body(record, example, digits, rankdir)]
    return graphviz.Digraph(name="layers", body=body)


def render_layer_view(
    record: StepWalkthrough,
    path: str | os.PathLike[str],
    format: str | None = None,
    **options: Any,
) -> Path:
    """Write the layer view to ``path`` (svg, png, pdf or dot; from the suffix by default).

    ``options`` are those of :func:`layer_view_dot`. Written atomically; raises
    :class:`viz.GraphvizNotFoundError` when ``dot`` is missing (format ``dot`` needs no
    Graphviz). Returns the path written.
    """
    from viz.render import _format_of, render_dot, write_atomic

    target = Path(path)
    fmt = _format_of(target, format)
    source = layer_view_dot(record, **options)
    data = source.encode("utf-8") if fmt == "dot" else render_dot(source, fmt)
    write_atomic(target, data)
    return target
