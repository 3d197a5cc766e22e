"""DOT text for a computation graph: the "draw" half of walk-then-draw.

Every value is a rounded box with its label, ``data`` and ``grad``; every op is a
small node of its own between its operands and its result, so ``x * x`` shows two
arrows into one ``×``. Text from the user (labels, parameter names, formatted
numbers) goes into Graphviz's HTML-like labels through :func:`html_text`, which
escapes ``& < > "`` and backslashes, turns newlines into line breaks and shows any
other control character as a visible escape, so any label yields valid DOT (a
property test feeds random text through the real ``dot`` and reads it back).

Nothing here runs the Graphviz program: :func:`to_dot` returns a string and
:func:`draw_dot` a ``graphviz.Digraph`` (which Jupyter renders inline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import Value
from viz.graph import DEFAULT_MAX_NODES, Graph, GroupBy, Node, collect

if TYPE_CHECKING:
    import graphviz

__all__ = ["draw_dot", "graph_to_dot", "html_text", "number_formatter", "op_text", "to_dot"]

Fmt = str | Callable[[float], str]

RANKDIRS = ("LR", "TB", "RL", "BT")

FONT = "Helvetica,Arial,sans-serif"

# Colours (fill, border) by role; the grad is written in GRAD_COLOR throughout.
STYLE = {
    "value": ("#f8fafc", "#94a3b8"),
    "input": ("#e0f2fe", "#0284c7"),
    "parameter": ("#fef3c7", "#d97706"),
    "constant": ("#f1f5f9", "#cbd5e1"),
    "root": ("#dcfce7", "#16a34a"),
    "op": ("#ede9fe", "#7c3aed"),
    "group": ("#fff7ed", "#ea580c"),
}
GRAD_COLOR = "#b91c1c"
MUTED = "#64748b"

# How an op is written in its node; unlisted ops are written by name.
OP_SYMBOLS = {"+": "+", "*": "×", "neg": "−", "pow": "**", "identity": "id"}


def html_text(text: str) -> str:
    """``text`` as the content of an HTML-like Graphviz label, shown verbatim.

    ``& < > " ]`` become entities and a backslash is doubled (Graphviz reads
    escapes such as ``\\N``, the node's name, even in HTML labels); a newline
    becomes ``<BR/>`` and a tab four spaces; any other unprintable character
    (control codes, lone surrogates, format marks) is shown as a Python-style
    escape such as ``\\x07``. The result is always well-formed and every
    character of ``text`` is visible in the picture.
    """
    out = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "]":  # dot 2.43 rejects a label text made only of "]" characters
            out.append("&#93;")
        elif ch == "\\":  # Graphviz reads \N, \G, \l ... even in HTML labels; \\ is one \
            out.append("\\\\")
        elif ch == "\n":
            out.append("<BR/>")
        elif ch == "\t":
            out.append("    ")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            # '\x07', '\u200b', '\ud800' (its backslash doubled, as above)
            out.append(ascii(ch)[1:-1].replace("\\", "\\\\"))
    return "".join(out)


#: With ``show_edge_grads``, in a graph where a value is used more than this many times
#: the arrows carry their numbers as ``xlabel`` (placed after the layout, may overlap)
#: rather than ``label`` (laid out with the graph): dot 2.43 takes more than five minutes
#: to lay out x*x*...*x (50 x's) with labels, under a second for 16.
MAX_LABELLED_USES = 16

#: Longest text (label, name, title, formatted number) drawn in full, in characters.
#: Graphviz refuses an HTML-like label longer than 16,384 bytes; a text is cut to this
#: many characters with a visible note of its full length, so any text gives valid DOT.
MAX_TEXT = 200


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text``, or its first ``limit`` characters and ``… (N characters)`` if longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def label_text(text: str) -> str:
    """:func:`html_text` of :func:`clip`: user text as it goes into a label."""
    return html_text(clip(text))


def _colored(html: str, color: str) -> str:
    """``html`` in ``color``; empty stays empty (Graphviz refuses an empty ``<FONT>``)."""
    return f'<FONT COLOR="{color}">{html}</FONT>' if html else ""


def number_formatter(fmt: Fmt) -> Callable[[float], str]:
    """A function float → str from ``"{:.4g}"``, ``".4g"`` or a callable.

    ``-0`` is written ``0``. A format that cannot format a float raises ValueError.
    """
    if callable(fmt):
        user = fmt
    elif isinstance(fmt, str):
        template = fmt if "{" in fmt else "{:" + fmt + "}"

        def user(x: float) -> str:
            return template.format(x)

        try:
            template.format(-1.5)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(
                f"fmt {fmt!r} cannot format a float ({e}); use e.g. '{{:.4g}}', '.3f' or a callable"
            ) from None
    else:
        raise TypeError(f"fmt must be a format string or a callable, not {type(fmt).__name__}")

    def formatted(x: float) -> str:
        s = user(0.0 if x == 0.0 else x)
        if not isinstance(s, str):
            raise TypeError(f"fmt returned {type(s).__name__} ({s!r}) for {x!r}, not a str")
        return s

    formatted(-1.5)  # a callable that returns something else fails now, not mid-drawing
    return formatted


def op_text(op: str, param: float | None, fmt: Callable[[float], str]) -> str:
    """How an op node reads: ``×``, ``**2``, ``leaky_relu 0.2``, ``tanh``."""
    if op == "**" and param is not None:
        return "**" + fmt(param)
    text = OP_SYMBOLS.get(op, op)
    return text if param is None else f"{text} {fmt(param)}"


@dataclass(frozen=True)
class _Options:
    rankdir: str
    show_edge_grads: bool
    fmt: Callable[[float], str]
    collapse: bool
    module_name: str


def _role(node: Node, root: str) -> str:
    if node.id == root:
        return "root"
    if node.name is not None:
        return "parameter"
    if node.is_leaf:
        return "input" if node.label else "constant"
    return "value"


def _title(node: Node) -> str:
    """The bold first line of a value box: its label, else its short parameter name."""
    if node.label:
        return node.label
    if node.name is not None:
        if node.cluster and node.name.startswith(node.cluster + "."):
            return node.name[len(node.cluster) + 1 :]
        return node.name
    return ""


def _row(key: str, value: str, color: str | None = None) -> str:
    val = label_text(value)
    if color:
        val = _colored(val, color)
        key_html = _colored(key, color)
    else:
        key_html = _colored(key, MUTED)
    return (
        f'<TR><TD ALIGN="LEFT">{key_html}</TD><TD WIDTH="4"></TD><TD ALIGN="RIGHT">{val}</TD></TR>'
    )


def _table(title: str, rows: list[str], title_color: str | None = None) -> str:
    head = ""
    if title:
        text = f"<B>{label_text(title)}</B>"
        if title_color:
            text = _colored(text, title_color)
        head = f'<TR><TD COLSPAN="3">{text}</TD></TR>'
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + head
        + "".join(rows)
        + "</TABLE>>"
    )


def _value_line(node: Node, root: str, opts: _Options) -> str:
    fill, border = STYLE[_role(node, root)]
    rows = [_row("data", opts.fmt(node.data)), _row("grad", opts.fmt(node.grad), GRAD_COLOR)]
    width = ', penwidth="1.6"' if node.id == root else ""
    return (
        f'{node.id} [shape="box", style="rounded,filled", fillcolor="{fill}", '
        f'color="{border}"{width}, label={_table(_title(node), rows)}]'
    )


def _op_line(node: Node, opts: _Options) -> str:
    fill, border = STYLE["op"]
    text = op_text(node.op, node.param, opts.fmt)
    shape = "circle" if len(text) <= 2 else "ellipse"
    return (
        f'{node.id}_op [shape="{shape}", style="filled", fillcolor="{fill}", color="{border}", '
        f'fontsize="11", margin="0.02", width="0.3", height="0.3", '
        f"label=<{label_text(text) or ' '}>]"
    )


EDGE_NOTE = "∂ on an arrow: the local derivative ∂(result)/∂(operand)"


def _graph_label(title: str | None, opts: _Options, edge_labels: bool) -> str:
    """The graph's caption: the title, and a key to the arrows' numbers if shown."""
    parts = []
    if title:
        parts.append(label_text(title))
    if edge_labels:
        parts.append(f'<FONT POINT-SIZE="10" COLOR="{MUTED}">{html_text(EDGE_NOTE)}</FONT>')
    if not parts:
        return ""
    return f', label=<{"<BR/>".join(parts)}>, labelloc="t", fontsize="14"'


def _header(opts: _Options, title: str | None, edge_labels: bool) -> list[str]:
    lines = [
        f'graph [rankdir="{opts.rankdir}", fontname="{FONT}", nodesep="0.25", ranksep="0.35"'
        + _graph_label(title, opts, edge_labels)
        + "]",
        f'node [fontname="{FONT}", fontsize="11", margin="0.08,0.04"]',
        f'edge [fontname="{FONT}", fontsize="9", color="#475569", arrowsize="0.6"]',
    ]
    return lines


def _cluster_title(name: str, module_name: str) -> str:
    return name if name else module_name


def graph_to_dot(
    graph: Graph,
    *,
    rankdir: str = "LR",
    show_edge_grads: bool = False,
    fmt: Fmt = "{:.4g}",
    collapse: bool = False,
    module_name: str = "module",
    title: str | None = None,
) -> str:
    """DOT text for a :class:`~viz.graph.Graph` already walked by :func:`viz.graph.collect`."""
    _check_title(title)
    opts = _options(rankdir, show_edge_grads, fmt, collapse, module_name)
    return "digraph {\n" + "".join(_body(graph, opts, title)) + "}\n"


def _check_title(title: Any) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, not {type(title).__name__} ({title!r})")


def _options(
    rankdir: str, show_edge_grads: bool, fmt: Fmt, collapse: bool, module_name: str
) -> _Options:
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if not isinstance(show_edge_grads, bool):
        raise TypeError(f"show_edge_grads must be a bool, not {type(show_edge_grads).__name__}")
    if not isinstance(collapse, bool):
        raise TypeError(f"collapse must be a bool, not {type(collapse).__name__}")
    return _Options(rankdir, show_edge_grads, number_formatter(fmt), collapse, module_name)


def _body(graph: Graph, opts: _Options, title: str | None) -> list[str]:
    """The lines between ``digraph {`` and ``}``, each ending with a newline."""
    collapse = opts.collapse and bool(graph.clusters)
    edge_labels = opts.show_edge_grads and not collapse and bool(graph.edges)
    lines = [f"\t{line}\n" for line in _header(opts, title, edge_labels)]
    if collapse:
        lines += _collapsed(graph, opts)
        return lines

    by_cluster: dict[str | None, list[str]] = {}
    for node in graph.nodes:
        block = by_cluster.setdefault(node.cluster, [])
        block.append(_value_line(node, graph.root, opts))
        if not node.is_leaf:
            block.append(_op_line(node, opts))
    lines += [f"\t{line}\n" for line in by_cluster.pop(None, [])]
    for i, name in enumerate(graph.clusters):
        border = STYLE["group"][1]
        label = label_text(_cluster_title(name, opts.module_name)) or " "
        lines.append(f"\tsubgraph cluster_{i} {{\n")
        lines.append(
            f'\t\tgraph [label=<<B>{label}</B>>, style="rounded,dashed", color="{border}", '
            f'fontcolor="{border}", fontsize="10", labeljust="l", labelloc="b"]\n'
        )
        lines += [f"\t\t{line}\n" for line in by_cluster.get(name, [])]
        lines.append("\t}\n")

    for node in graph.nodes:
        if not node.is_leaf:
            lines.append(f"\t{node.id}_op -> {node.id}\n")
    uses: dict[str, int] = {}
    for edge in graph.edges:
        uses[edge.src] = uses.get(edge.src, 0) + 1
    # An arrow's label is a node of the layout: in a graph where one value is used many
    # times (x*x*...*x) dot would take minutes; there labels are placed after the layout.
    key = "label" if max(uses.values(), default=0) <= MAX_LABELLED_USES else "xlabel"
    for edge in graph.edges:
        attrs = ""
        if opts.show_edge_grads:
            text = label_text(opts.fmt(edge.local_grad))
            attrs = f' [{key}=<<FONT COLOR="{MUTED}">∂ {text}</FONT>>]'
        lines.append(f"\t{edge.src} -> {edge.dst}_op{attrs}\n")
    return lines


def _collapsed(graph: Graph, opts: _Options) -> list[str]:
    """One box per cluster; nodes outside clusters drawn as usual."""
    lines: list[str] = []
    cluster_id = {name: f"c{i}" for i, name in enumerate(graph.clusters)}
    members: dict[str, list[Node]] = {name: [] for name in graph.clusters}
    cluster_of = {}
    for node in graph.nodes:
        cluster_of[node.id] = node.cluster
        if node.cluster is None:
            lines.append(f"\t{_value_line(node, graph.root, opts)}\n")
            if not node.is_leaf:
                lines.append(f"\t{_op_line(node, opts)}\n")
        else:
            members[node.cluster].append(node)

    # A cluster's outputs: its nodes used outside it (or the root).
    used_outside = {e.src for e in graph.edges if cluster_of[e.src] != cluster_of[e.dst]}
    fill, border = STYLE["group"]
    for name in graph.clusters:
        nodes = members[name]
        outputs = [n for n in nodes if n.id in used_outside or n.id == graph.root]
        n_params = sum(n.name is not None for n in nodes)
        rows = [
            f'<TR><TD COLSPAN="3"><FONT COLOR="{MUTED}">{len(nodes)} nodes, '
            f"{n_params} parameters</FONT></TD></TR>"
        ]
        if len(outputs) > 1:
            rows.append(
                f'<TR><TD COLSPAN="3"><FONT COLOR="{MUTED}">{len(outputs)} outputs</FONT></TD></TR>'
            )
        if len(outputs) == 1:
            rows += [
                _row("data", opts.fmt(outputs[0].data)),
                _row("grad", opts.fmt(outputs[0].grad), GRAD_COLOR),
            ]
        title = _cluster_title(name, opts.module_name)
        lines.append(
            f'\t{cluster_id[name]} [shape="box", style="rounded,filled", fillcolor="{fill}", '
            f'color="{border}", label={_table(title, rows, border)}]\n'
        )

    def drawn(node_id: str, as_target: bool) -> str:
        c = cluster_of[node_id]
        if c is not None:
            return cluster_id[c]
        return f"{node_id}_op" if as_target else node_id

    seen: set[tuple[str, str]] = set()
    for node in graph.nodes:
        if node.cluster is None and not node.is_leaf:
            lines.append(f"\t{node.id}_op -> {node.id}\n")
    for edge in graph.edges:
        if cluster_of[edge.src] is not None and cluster_of[edge.src] == cluster_of[edge.dst]:
            continue  # inside one box
        pair = (drawn(edge.src, False), drawn(edge.dst, True))
        if pair not in seen:
            seen.add(pair)
            lines.append(f"\t{pair[0]} -> {pair[1]}\n")
    return lines


def _module_name(module: Any) -> str:
    return type(module).__name__ if module is not None else "module"


def _dot_body(
    root: Value,
    rankdir: str,
    show_edge_grads: bool,
    fmt: Fmt,
    module: Any,
    group_by: GroupBy,
    collapse: bool,
    max_nodes: int | None,
    title: str | None,
) -> list[str]:
    _check_title(title)
    opts = _options(rankdir, show_edge_grads, fmt, collapse, _module_name(module))
    graph = collect(root, module=module, group_by=group_by, max_nodes=max_nodes)
    return _body(graph, opts, title)


def to_dot(
    root: Value,
    *,
    rankdir: str = "LR",
    show_edge_grads: bool = False,
    fmt: Fmt = "{:.4g}",
    module: Any = None,
    group_by: GroupBy = "neuron",
    collapse: bool = False,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    title: str | None = None,
) -> str:
    """The DOT text of ``root``'s computation graph (no Graphviz program needed).

    ``rankdir`` is the direction of the arrows (``"LR"`` or ``"TB"``; ``"RL"``,
    ``"BT"`` too); ``show_edge_grads`` writes each operand's local derivative
    ∂(result)/∂(operand) on its arrow; ``fmt`` formats every number (a format such
    as ``"{:.4g}"`` or ``".3f"``, or a callable). With ``module`` (anything with
    ``named_parameters()``, e.g. an ``nn.MLP``) the nodes of each neuron (or layer,
    ``group_by="layer"``) are drawn inside a labelled frame, and ``collapse=True``
    draws each such group as a single box. Graphs with more than ``max_nodes``
    values raise ValueError (None: no limit); ``title`` is written above the graph.

    >>> from engine import Value
    >>> print(to_dot(Value(2.0, label="x") * 3).splitlines()[0])
    digraph {
    """
    body = _dot_body(
        root, rankdir, show_edge_grads, fmt, module, group_by, collapse, max_nodes, title
    )
    return "digraph {\n" + "".join(body) + "}\n"


def draw_dot(
    root: Value,
    *,
    rankdir: str = "LR",
    show_edge_grads: bool = False,
    fmt: Fmt = "{:.4g}",
    module: Any = None,
    group_by: GroupBy = "neuron",
    collapse: bool = False,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    title: str | None = None,
) -> graphviz.Digraph:
    """:func:`to_dot` as a ``graphviz.Digraph``, which Jupyter shows inline.

    Same options as :func:`to_dot`; ``draw_dot(root).source == to_dot(root)``.
    Building it needs no Graphviz program; showing or rendering it does.
    """
    import graphviz

    body = _dot_body(
        root, rankdir, show_edge_grads, fmt, module, group_by, collapse, max_nodes, title
    )
    return graphviz.Digraph(body=body)
