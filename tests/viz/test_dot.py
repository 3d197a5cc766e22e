"""DOT text: value boxes, op nodes, options, clusters, and escaping checked by the real dot."""

from __future__ import annotations

import re

import graphviz
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine import Value
from nn import MLP
from tests.viz.helpers import run_dot, svg_graph_title, svg_node_texts
from viz import draw_dot, to_dot
from viz.dot import EDGE_NOTE, html_text, number_formatter, op_text


def _tanh_neuron() -> Value:
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.label = "y"
    y.backward()
    return y


def _defs(dot: str) -> dict[str, str]:
    """Node id → its definition line."""
    return dict(re.findall(r"^\t+(n\d+(?:_op)?|c\d+) \[(.*)\]$", dot, flags=re.M))


def _edges(dot: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\t(\w+) -> (\w+)(.*)$", dot, flags=re.M)


# --- escaping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("x", "x"),
        ("a < b > c", "a &lt; b &gt; c"),
        ('say "hi"', "say &quot;hi&quot;"),
        ("R&D", "R&amp;D"),
        ("{a|b}", "{a|b}"),
        ("]", "&#93;"),  # dot 2.43 rejects a text of only "]"s (found by the property test)
        ("back\\slash", "back\\\\slash"),
        ("\\N", "\\\\N"),
        ("two\nlines", "two<BR/>lines"),
        ("tab\t", "tab    "),
        ("bell\x07", "bell\\\\x07"),
        ("zero\u200bwidth", "zero\\\\u200bwidth"),
        ("lone \ud800", "lone \\\\ud800"),
        ("δ² = ∂J/∂z", "δ² = ∂J/∂z"),
        ("", ""),
    ],
)
def test_html_text(text: str, html: str) -> None:
    assert html_text(text) == html


def test_number_formatter() -> None:
    assert number_formatter("{:.4g}")(3.14159) == "3.142"
    assert number_formatter(".2f")(3.14159) == "3.14"
    assert number_formatter(lambda x: f"{x:+.1f}")(2.0) == "+2.0"
    assert number_formatter("{:.4g}")(-0.0) == "0"  # no "-0" in pictures
    with pytest.raises(ValueError, match="cannot format a float"):
        number_formatter("{:d}")
    with pytest.raises(ValueError, match="cannot format a float"):
        number_formatter("{0[1]}")
    with pytest.raises(TypeError, match="format string or a callable"):
        number_formatter(4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a str"):
        number_formatter(lambda x: x)  # type: ignore[arg-type, return-value]


def test_op_text() -> None:
    f = number_formatter("{:.4g}")
    assert op_text("*", None, f) == "×"
    assert op_text("+", None, f) == "+"
    assert op_text("neg", None, f) == "−"
    assert op_text("**", 2.0, f) == "**2"
    assert op_text("**", -1.0, f) == "**-1"
    assert op_text("leaky_relu", 0.2, f) == "leaky_relu 0.2"
    assert op_text("tanh", None, f) == "tanh"
    assert op_text("my_custom_op", None, f) == "my_custom_op"


# --- structure ---------------------------------------------------------------------------


def test_every_value_is_a_box_every_op_a_small_node() -> None:
    dot = to_dot(_tanh_neuron())
    assert dot.startswith("digraph {\n") and dot.endswith("}\n")
    defs = _defs(dot)
    boxes = {k: v for k, v in defs.items() if not k.endswith("_op")}
    ops = {k: v for k, v in defs.items() if k.endswith("_op")}
    assert len(boxes) == 6 and len(ops) == 3
    assert all('shape="box", style="rounded,filled"' in v for v in boxes.values())
    assert sorted(re.search(r"label=<(.*)>$", v).group(1) for v in ops.values()) == [
        "+",
        "tanh",
        "×",
    ]
    assert all('shape="circle"' in v or 'shape="ellipse"' in v for v in ops.values())
    # one arrow from each op to its result, one from each operand to the op
    edges = _edges(dot)
    assert sum(src.endswith("_op") for src, _, _ in edges) == 3
    assert sum(dst.endswith("_op") for _, dst, _ in edges) == 5


def test_boxes_show_label_data_and_grad() -> None:
    y = _tanh_neuron()
    w = y.parents[0].parents[0].parents[1]
    assert w.label == "w"
    defs = _defs(to_dot(y))
    w_box = next(v for v in defs.values() if "<B>w</B>" in v)
    assert ">data<" in w_box and ">-3<" in w_box
    assert ">grad<" in w_box and f">{w.grad:.4g}<" in w_box and f"{w.grad:.4g}" == "1.002"
    root = defs["n5"]  # the root is the last of the six values
    assert "<B>y</B>" in root and 'penwidth="1.6"' in root
    assert sum('penwidth="1.6"' in v for v in defs.values()) == 1
    unlabelled = [v for k, v in defs.items() if not k.endswith("_op") and "<B>" not in v]
    assert len(unlabelled) == 2  # x*w and x*w + b


def test_number_format_option() -> None:
    y = _tanh_neuron()
    assert ">0.7064<" in to_dot(y)
    assert ">0.706419<" in to_dot(y, fmt="{:.6g}")
    assert ">0.71<" in to_dot(y, fmt=".2f")
    assert ">(0.7064)<" in to_dot(y, fmt=lambda v: f"({v:.4f})")
    with pytest.raises(ValueError, match="cannot format"):
        to_dot(y, fmt="{:s}")


def test_direction_option() -> None:
    y = _tanh_neuron()
    assert 'rankdir="LR"' in to_dot(y)
    assert 'rankdir="TB"' in to_dot(y, rankdir="TB")
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(y, rankdir="diagonal")


def test_edge_grads_option() -> None:
    y = _tanh_neuron()
    plain = to_dot(y)
    assert "∂" not in plain
    labelled = to_dot(y, show_edge_grads=True)
    labels = re.findall(r"-> \w+_op \[label=<.*?∂ ([^<]*)</FONT>>\]", labelled)
    assert sorted(labels) == sorted(["-3", "2", "1", "1", f"{1 - y.data**2:.4g}"])
    assert html_text(EDGE_NOTE) in labelled
    with pytest.raises(TypeError, match="show_edge_grads"):
        to_dot(y, show_edge_grads="yes")  # type: ignore[arg-type]


def test_title() -> None:
    dot = to_dot(_tanh_neuron(), title="tanh(x*w + b) <demo>")
    assert 'label=<tanh(x*w + b) &lt;demo&gt;>, labelloc="t"' in dot


def test_draw_dot_is_a_digraph_of_the_same_text() -> None:
    y = _tanh_neuron()
    g = draw_dot(y)
    assert isinstance(g, graphviz.Digraph)
    assert g.source == to_dot(y)
    options = {"rankdir": "TB", "show_edge_grads": True, "fmt": ".3f", "title": "t"}
    assert draw_dot(y, **options).source == to_dot(y, **options)


# --- clusters ----------------------------------------------------------------------------


def _mlp_loss() -> tuple[MLP, Value]:
    model = MLP(2, [3, 1], seed=1)
    score = model([Value(0.5, label="x0"), Value(-1.0, label="x1")])
    loss = (1 - score).relu()
    loss.backward()
    return model, loss  # type: ignore[return-value]


def test_clusters_are_subgraphs_with_short_parameter_names() -> None:
    model, loss = _mlp_loss()
    dot = to_dot(loss, module=model)
    assert dot.count("subgraph cluster_") == 4
    for name in ("layers.0.neurons.0", "layers.0.neurons.2", "layers.1.neurons.0"):
        assert f"<B>{name}</B>" in dot
    assert "<B>w.0</B>" in dot and "<B>b</B>" in dot  # names relative to the neuron
    assert "layers.0.neurons.0.w.0" not in dot
    layer_dot = to_dot(loss, module=model, group_by="layer")
    assert layer_dot.count("subgraph cluster_") == 2
    assert "<B>neurons.1.w.0</B>" in layer_dot


def test_collapse_draws_one_box_per_cluster() -> None:
    model, loss = _mlp_loss()
    dot = to_dot(loss, module=model, collapse=True)
    defs = _defs(dot)
    boxes = [k for k in defs if k.startswith("c")]
    assert len(boxes) == 4
    # hidden: w.0 w.1 b, two products, two sums, relu; output: 3 weights, b, 3 + 3
    assert dot.count("8 nodes, 3 parameters") == 3 and dot.count("10 nodes, 4 parameters") == 1
    assert "subgraph" not in dot
    edges = [(a, b) for a, b, _ in _edges(dot)]
    assert len(edges) == len(set(edges))  # each crossing drawn once
    # x0 and x1 feed the three hidden neurons, which feed the output neuron
    assert sum(a.startswith("c") and b.startswith("c") for a, b in edges) == 3
    by_layer = to_dot(loss, module=model, group_by="layer", collapse=True)
    assert "3 outputs" in by_layer
    assert "24 nodes, 9 parameters" in by_layer


def test_collapse_without_a_module_changes_nothing() -> None:
    y = _tanh_neuron()
    assert to_dot(y, collapse=True) == to_dot(y)


# --- Graphviz reads it back ---------------------------------------------------------------


@pytest.mark.needs_dot
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"rankdir": "TB", "show_edge_grads": True, "title": 'a \\N <title> & "more"'},
        {"module": "mlp"},
        {"module": "mlp", "group_by": "layer", "show_edge_grads": True},
        {"module": "mlp", "collapse": True},
        {"module": "mlp", "group_by": "layer", "collapse": True, "rankdir": "TB"},
    ],
)
def test_dot_accepts_the_output(options: dict) -> None:
    model, loss = _mlp_loss()
    if options.get("module") == "mlp":
        options = {**options, "module": model}
    svg = run_dot(to_dot(loss, **options))
    texts = svg_node_texts(svg)
    assert texts  # every node drawn
    if "title" in options:
        assert svg_graph_title(svg)[0] == options["title"]


def _visible(text: str) -> str:
    """What a label should read as once drawn, whitespace aside (see html_text)."""
    out = []
    for ch in text:
        if ch == " " or ch == "\n" or ch == "\t" or ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def _no_space(text: str) -> str:
    return "".join(text.split())  # dot turns runs of spaces into no-break spaces


@pytest.mark.needs_dot
@settings(max_examples=60)  # one dot run (~20 ms) per example, several labels each
@given(
    labels=st.lists(st.text(max_size=24), min_size=1, max_size=4),
    title=st.text(max_size=24),
)
@example(labels=["]"], title="]]")
@example(labels=["\\N", "a\\", "\n\n", "\x00\ud800"], title="\\G <b> & {c|d}")
def test_any_label_text_survives_a_round_trip_through_dot(labels: list[str], title: str) -> None:
    leaves = [Value(float(i), label=label) for i, label in enumerate(labels)]
    root = leaves[0]
    for leaf in leaves[1:]:
        root = root + leaf
    svg = run_dot(to_dot(root, title=title or None))
    texts = svg_node_texts(svg)
    drawn: dict[str, list[str]] = {}  # the data written in a box → the labels above it
    for node_id, node_texts in texts.items():
        if node_id.endswith("_op"):
            continue
        # [label lines..., "data", value, "grad", value]
        assert node_texts[-4] == "data" and node_texts[-2] == "grad"
        drawn.setdefault(node_texts[-3], []).append("".join(node_texts[:-4]))
    for i, label in enumerate(labels):
        assert _no_space(_visible(label)) in [_no_space(t) for t in drawn[f"{float(i):.4g}"]]
    if title.strip():
        assert _no_space("".join(svg_graph_title(svg))) == _no_space(_visible(title))


# --- issue 13 item 12: any text gives DOT that dot accepts -----------------------------------


def _small(label: str = "x") -> Value:
    x = Value(2.0, label=label)
    y = (x * 3.0).tanh()
    y.backward()
    return y


def test_a_long_label_is_cut_visibly() -> None:
    from viz.dot import MAX_TEXT

    dot = to_dot(_small("é" * 20_000), title="t" * 5_000)
    assert "é" * MAX_TEXT + "… (20,000 characters)" in dot
    assert "t" * MAX_TEXT + "… (5,000 characters)" in dot
    assert "é" * (MAX_TEXT + 1) not in dot
    assert max(len(line.encode("utf-8")) for line in dot.splitlines()) < 16_384


@pytest.mark.needs_dot
@pytest.mark.parametrize(
    "options",
    [
        {"fmt": lambda v: ""},
        {"fmt": lambda v: "", "show_edge_grads": True},
        {"fmt": lambda v: " "},
        {"fmt": lambda v: "9" * 20_000, "show_edge_grads": True},
        {"title": "\U000e0001" * 20_000},
        {"title": ""},
    ],
)
def test_empty_and_huge_texts_give_dot_that_dot_accepts(options: dict) -> None:
    run_dot(to_dot(_small("\x01" * 20_000), **options))


def test_title_must_be_a_str() -> None:
    with pytest.raises(TypeError, match=r"title must be a str or None, not int \(123\)"):
        to_dot(_small(), title=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title must be a str"):
        draw_dot(_small(), title=["a"])  # type: ignore[arg-type]


def test_edge_numbers_leave_the_layout_when_a_value_is_used_many_times() -> None:
    """dot takes minutes over labelled arrows when one value fans out (x*x*...*x)."""
    from viz.dot import MAX_LABELLED_USES

    def product(n: int) -> str:
        x = Value(1.001, label="x")
        y = x
        for _ in range(n - 1):
            y = y * x
        y.backward()
        return to_dot(y, show_edge_grads=True)

    few, many = product(MAX_LABELLED_USES), product(MAX_LABELLED_USES + 1)
    assert " [label=<" in few and "xlabel" not in few
    assert " [xlabel=<" in many and " [label=<" not in many
