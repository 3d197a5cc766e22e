"""The step-through's SVG: drawn once, tagged, and one frame per step (needs Graphviz)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine import Value
from nn import MLP
from viz.step_svg import PENDING, draw_steps, frames, state
from viz.steps import record_steps

SVG = "{http://www.w3.org/2000/svg}"

pytestmark = pytest.mark.needs_dot


def _neuron() -> Value:
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.label = "y"
    return y


def _groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g")}


def _text(root: ET.Element, element_id: str) -> str:
    (t,) = [t for t in root.iter(f"{SVG}text") if t.get("id") == element_id]
    return t.text or ""


def test_every_box_is_tagged_with_its_numbers() -> None:
    s = record_steps(_neuron())
    drawing = draw_steps(s)
    root = ET.fromstring(drawing.svg)
    groups = _groups(drawing.svg)
    for node in s.graph.nodes:
        g = groups[f"v-{node.id}"]
        assert "value" in (g.get("class") or "").split()
        assert _text(root, f"v-{node.id}-data") == drawing.data[node.id] == f"{node.data:.4g}"
        assert _text(root, f"v-{node.id}-grad") == drawing.grad[node.id] == f"{node.grad:.4g}"
        if not node.is_leaf:
            assert "op" in (groups[f"v-{node.id}-op"].get("class") or "").split()
    edges = [
        (g.get("data-src"), g.get("data-dst"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge"
    ]
    assert ("n2", "n3_op") in edges and ("n3_op", "n3") in edges
    assert "<!--" not in drawing.svg and "<!DOCTYPE" not in drawing.svg


def test_state_follows_the_passes() -> None:
    s = record_steps(_neuron())
    first = state(s, 0)
    assert first.phase == "forward" and first.known_data == {"n0"} and not first.known_grad
    mul = state(s, 3)  # n3 = x * w
    assert mul.current == "n3" and mul.used == {"n1", "n2"}
    assert mul.active_edges == {("n1", "n3_op"), ("n2", "n3_op"), ("n3_op", "n3")}
    last_forward = state(s, len(s.forward) - 1)
    assert len(last_forward.known_data) == len(s.forward) and not last_forward.known_grad
    grad_n3 = state(s, len(s.forward) + 3)  # grad(n3), from its one use n4
    assert grad_n3.phase == "backward" and grad_n3.current == "n3"
    assert grad_n3.known_grad == {"n5", "n4", "n0", "n3"}
    assert grad_n3.used == {"n4", "n4_op"} and grad_n3.active_edges == {("n3", "n4_op")}


def test_frames_show_unknown_numbers_as_pending_and_a_zero_grad_as_zero() -> None:
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    y = (x * w).relu() + Value(1.0, label="b")  # relu at -6: grads 0 behind it
    s = record_steps(y)
    drawing = draw_steps(s)
    docs = frames(s, drawing)
    assert len(docs) == len(s) == 12
    order = [st.node for st in s.backward]
    for k, doc in enumerate(docs):
        assert doc.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        root = ET.fromstring(doc.encode("utf-8"))
        st = state(s, k)
        for node in s.graph.nodes:
            g = next(g for g in root.iter(f"{SVG}g") if g.get("id") == f"v-{node.id}")
            classes = set((g.get("class") or "").split())
            data = _text(root, f"v-{node.id}-data")
            grad = _text(root, f"v-{node.id}-grad")
            assert data == (drawing.data[node.id] if node.id in st.known_data else PENDING)
            assert grad == (drawing.grad[node.id] if node.id in st.known_grad else PENDING)
            assert ("pending" in classes) == (node.id not in st.known_data)
            assert ("nograd" in classes) == (
                node.id in st.known_data and node.id not in st.known_grad
            )
            assert ("current" in classes) == (node.id == st.current)
        captions = [t.text for t in root.findall(f"{SVG}text")]  # the svg's own children
        assert captions[0].startswith(f"step {k + 1} of 12 ({s.phase(k)} pass): ")
    # At the end, the zero grads show as 0 and nothing is pending.
    end = ET.fromstring(docs[-1].encode("utf-8"))
    zero = [n for n in s.graph.nodes if n.grad == 0.0]
    assert {s.names[n.id] for n in zero} >= {"x", "w"}
    for n in zero:
        assert _text(end, f"v-{n.id}-grad") == "0"
    # Mid-way through the backward pass, x (not reached) is "?", not 0.
    k = len(s.forward) + order.index(zero[0].id) - 1
    mid = ET.fromstring(docs[k].encode("utf-8"))
    assert _text(mid, f"v-{zero[0].id}-grad") == PENDING


def test_networks_keep_their_clusters() -> None:
    model = MLP(2, [2, 1], seed=0)
    out = model([Value(0.5, label="x1"), Value(-1.0, label="x2")])
    drawing = draw_steps(record_steps(out, module=model))
    root = ET.fromstring(drawing.svg)
    clusters = [g for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"]
    assert len(clusters) == 3
    labels = {"".join(t.itertext()) for c in clusters for t in c.iter(f"{SVG}text")}
    assert labels == {"layers.0.neurons.0", "layers.0.neurons.1", "layers.1.neurons.0"}


def test_a_hostile_label_stays_text() -> None:
    evil = "</script><script>alert(1)</script> & <b>\u2028"
    y = Value(1.0, label=evil) * 2.0
    s = record_steps(y)
    drawing = draw_steps(s)
    assert "<script" not in drawing.svg and "<b>" not in drawing.svg
    root = ET.fromstring(drawing.svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert any(evil.split("\u2028")[0] in t for t in texts)
