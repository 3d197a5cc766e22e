"""The step-through's picture: the graph drawn once by Graphviz, then shown step by step.

:func:`draw_steps` lays the graph of a :class:`viz.steps.Steps` out once with
``dot`` (as :func:`viz.to_dot` draws it, clusters included) and tags the SVG so that
a step can be shown by changing text and classes only, never the layout:

* each value box is ``<g id="v-n3" class="node value">``, its data and grad numbers
  ``<text id="v-n3-data">`` and ``<text id="v-n3-grad">``; each op node is
  ``<g id="v-n3-op">``; each arrow has ``data-src``/``data-dst`` (ids of the nodes).

The state at step ``k`` follows one rule (:func:`state`), which the page's
script implements too: a node's data is known from its forward step on, its grad
from its backward step on. A box whose data is not known yet is ``pending`` (faded,
its numbers ``?``); one whose grad is not known yet is ``nograd`` (dashed, grad
``?``): "not reached yet" never looks like a grad of 0. The step's own node is
``current``; the nodes it reads (forward: its operands; backward: its uses) are
``used``, with their arrows ``active``.

:func:`frames` writes that state into one standalone SVG per step, with the step's
formula as a caption, for slides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.dom import minidom

from viz.dot import Fmt, graph_to_dot, number_formatter
from viz.render import render_dot
from viz.steps import BackwardStep, ForwardStep, Steps

__all__ = ["CSS", "PENDING", "StepState", "SvgDrawing", "draw_steps", "frames", "state"]

#: What an unknown number shows.
PENDING = "?"

#: The classes' looks, shared by the page and the frames.
CSS = """
.node.value.pending, .node.op.pending { opacity: 0.28; }
.node.value.nograd > path { stroke-dasharray: 4 3; }
.node.value.nograd text.grad { fill: #94a3b8; font-style: italic; }
.node.value.pending text.data, .node.value.pending text.grad { fill: #94a3b8; }
.node.used > path, .node.used > ellipse, .node.used > polygon {
  stroke: #2563eb; stroke-width: 2.2px; stroke-dasharray: none; }
.node.current > path, .node.current > ellipse, .node.current > polygon {
  stroke: #f59e0b; stroke-width: 4px; fill: #fef9c3; stroke-dasharray: none; }
.node.value.current text.grad.known { font-weight: bold; }
.edge.active > path { stroke: #f59e0b; stroke-width: 2.5px; }
.edge.active > polygon { stroke: #f59e0b; fill: #f59e0b; }
"""


@dataclass(frozen=True)
class StepState:
    """Which class each drawn element carries at one step (ids as in the SVG)."""

    phase: str
    known_data: frozenset[str]
    known_grad: frozenset[str]
    current: str
    used: frozenset[str]
    active_edges: frozenset[tuple[str, str]]


def state(steps: Steps, index: int) -> StepState:
    """The state at step ``index``: the rule the page's script follows too."""
    phase = steps.phase(index)
    step = steps.steps[index]
    n_forward = len(steps.forward)
    known_data = frozenset(s.node for s in steps.forward[: min(index + 1, n_forward)])
    known_grad = frozenset(s.node for s in steps.backward[: max(index + 1 - n_forward, 0)])
    if phase == "forward":
        assert isinstance(step, ForwardStep)
        used = frozenset(step.inputs)
        edges = frozenset((i, step.node + "_op") for i in step.inputs)
        if step.inputs:
            edges |= {(step.node + "_op", step.node)}
    else:
        assert isinstance(step, BackwardStep)
        used = frozenset(t.use for t in step.terms) | {t.use + "_op" for t in step.terms}
        edges = frozenset((step.node, t.use + "_op") for t in step.terms)
    return StepState(phase, known_data, known_grad, step.node, used, edges)


@dataclass(frozen=True)
class SvgDrawing:
    """The tagged SVG (markup without an XML declaration) and each node's numbers as
    drawn (``data``/``grad``: node id → formatted text)."""

    svg: str
    data: dict[str, str]
    grad: dict[str, str]


def _root(doc: minidom.Document) -> minidom.Element:
    svg = doc.documentElement
    if svg is None or svg.tagName != "svg":
        raise RuntimeError("Graphviz's output is not an SVG document")
    return svg


def _text(node: minidom.Element) -> str:
    return "".join(c.data for c in node.childNodes if isinstance(c, minidom.Text))


def _set_text(doc: minidom.Document, node: minidom.Element, text: str) -> None:
    for c in list(node.childNodes):
        node.removeChild(c)
    node.appendChild(doc.createTextNode(text))


def _add_class(node: minidom.Element, *names: str) -> None:
    classes = node.getAttribute("class").split()
    classes += [n for n in names if n not in classes]
    node.setAttribute("class", " ".join(classes))


def _parse(svg: bytes) -> minidom.Document:
    """Graphviz's SVG without its comments (they hold node names) and DOCTYPE: inline SVG
    in HTML needs neither. User text in the SVG is escaped (``&lt;``), so every ``<!``
    left in it is Graphviz's own."""
    text = re.sub(rb"<!--.*?-->", b"", svg, flags=re.DOTALL)
    text = re.sub(rb"<!DOCTYPE[^>]*>", b"", text)
    return minidom.parseString(text)


def draw_steps(steps: Steps, *, rankdir: str = "LR", fmt: Fmt = "{:.4g}") -> SvgDrawing:
    """Lay ``steps.graph`` out once with Graphviz and tag it (see the module doc).

    Needs the ``dot`` program (:class:`viz.GraphvizNotFoundError` otherwise).
    """
    number = number_formatter(fmt)
    source = graph_to_dot(steps.graph, rankdir=rankdir, fmt=number)
    doc = _parse(render_dot(source, "svg"))
    svg = _root(doc)
    values = {n.id: n for n in steps.graph.nodes}
    data: dict[str, str] = {}
    grad: dict[str, str] = {}
    for g in svg.getElementsByTagName("g"):
        kind = g.getAttribute("class")
        titles = g.getElementsByTagName("title")
        title = _text(titles[0]) if titles else ""
        if kind == "node" and title in values:
            node = values[title]
            texts = g.getElementsByTagName("text")
            want = (number(node.data), number(node.grad))
            got = (_text(texts[-3]), _text(texts[-1])) if len(texts) >= 4 else None
            if got != want:
                raise RuntimeError(
                    f"the drawing of {title} does not end with its data and grad rows "
                    f"(expected {want}, found {got}): viz.dot's box layout changed"
                )
            g.setAttribute("id", f"v-{title}")
            _add_class(g, "value")
            texts[-3].setAttribute("id", f"v-{title}-data")
            _add_class(texts[-3], "data")
            texts[-1].setAttribute("id", f"v-{title}-grad")
            _add_class(texts[-1], "grad")
            data[title], grad[title] = want
        elif kind == "node" and title.endswith("_op") and title[:-3] in values:
            g.setAttribute("id", f"v-{title[:-3]}-op")
            _add_class(g, "op")
        elif kind == "edge":
            src, sep, dst = title.partition("->")
            if not sep:
                raise RuntimeError(f"unexpected edge title {title!r} in Graphviz's SVG")
            g.setAttribute("data-src", src)
            g.setAttribute("data-dst", dst)
        elif kind == "graph" and titles:
            g.removeChild(titles[0])  # Graphviz's "%3": a useless tooltip
    missing = set(values) - set(data)
    if missing:
        raise RuntimeError(f"Graphviz's SVG has no box for {sorted(missing)}")
    svg.setAttribute("class", "steps-graph")
    return SvgDrawing(svg.toxml(), data, grad)


def _apply(doc: minidom.Document, drawing: SvgDrawing, st: StepState) -> None:
    """Write the state ``st`` into a parsed copy of the drawing."""
    for g in doc.getElementsByTagName("g"):
        gid = g.getAttribute("id")
        classes = g.getAttribute("class").split()
        if "value" in classes:
            node = gid[2:]
            texts = {t.getAttribute("id"): t for t in g.getElementsByTagName("text")}
            known_data = node in st.known_data
            known_grad = node in st.known_grad
            _set_text(doc, texts[f"{gid}-data"], drawing.data[node] if known_data else PENDING)
            _set_text(doc, texts[f"{gid}-grad"], drawing.grad[node] if known_grad else PENDING)
            if known_grad:
                _add_class(texts[f"{gid}-grad"], "known")
            extra = [] if known_data else ["pending"]
            if known_data and not known_grad:
                extra.append("nograd")
            if node == st.current:
                extra.append("current")
            if node in st.used:
                extra.append("used")
            _add_class(g, *extra)
        elif "op" in classes:
            node = gid[2:-3]
            extra = [] if node in st.known_data else ["pending"]
            if node + "_op" in st.used:
                extra.append("used")
            if node == st.current and st.phase == "forward":
                extra.append("current")  # the op being computed
            _add_class(g, *extra)
        elif "edge" in classes:
            edge = (g.getAttribute("data-src"), g.getAttribute("data-dst"))
            if edge in st.active_edges:
                _add_class(g, "active")


def _caption(doc: minidom.Document, lines: list[str]) -> None:
    """Grow the picture at the bottom and write ``lines`` there."""
    svg = _root(doc)
    x0, y0, w, h = (float(v) for v in svg.getAttribute("viewBox").split())
    line_height = 16.0
    extra = line_height * len(lines) + 10
    svg.setAttribute("viewBox", f"{x0:g} {y0:g} {w:g} {h + extra:g}")
    svg.setAttribute("height", f"{h + extra:g}pt")
    for i, line in enumerate(lines):
        t = doc.createElement("text")
        t.setAttribute("x", f"{x0 + 8:g}")
        t.setAttribute("y", f"{y0 + h + line_height * (i + 1):g}")
        t.setAttribute("font-family", "DejaVu Sans Mono,Menlo,Consolas,monospace")
        t.setAttribute("font-size", "12")
        t.setAttribute("fill", "#0f172a" if i == 0 else "#b45309")
        t.appendChild(doc.createTextNode(line))
        svg.appendChild(t)


def frames(steps: Steps, drawing: SvgDrawing, fmt: Fmt = "{:.4g}") -> list[str]:
    """One standalone SVG document per step: the state written in, the step's formula
    and numbers as a caption, the looks (:data:`CSS`) in an embedded ``<style>``."""
    number = number_formatter(fmt)
    out = []
    lines = steps.lines(number)
    for index in range(len(steps)):
        doc = minidom.parseString(drawing.svg)
        _apply(doc, drawing, state(steps, index))
        svg = _root(doc)
        style = doc.createElement("style")
        style.appendChild(doc.createTextNode(CSS))
        svg.insertBefore(style, svg.firstChild)
        phase = steps.phase(index)
        formula, numbers = lines[index]
        head = f"step {index + 1} of {len(steps)} ({phase} pass): {formula}"
        _caption(doc, [head, numbers])
        out.append('<?xml version="1.0" encoding="UTF-8"?>\n' + svg.toxml() + "\n")
    return out
