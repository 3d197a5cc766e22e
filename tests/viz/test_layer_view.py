"""The layer view: one box per layer with a, z, δ, forward and backward arrows between."""

from __future__ import annotations

import re

import pytest

from nn import MLP, WORKED_EXAMPLES, walk_through_step
from viz.layer_view import draw_layer_view, layer_view_dot, render_layer_view

from .helpers import run_dot, svg_node_texts


@pytest.fixture(scope="module")
def board():
    return WORKED_EXAMPLES["backprop-by-hand"].walk_through()


def edges(dot: str) -> list[str]:
    return [line.strip() for line in dot.splitlines() if "->" in line]


def test_one_box_per_layer_with_its_vectors(board) -> None:
    dot = layer_view_dot(board, digits=4)
    for name in ("a0", "a1", "a2", "loss"):
        assert re.search(rf"^  {name} \[", dot, re.M), name
    assert "a3 [" not in dot
    layer1 = next(line for line in dot.splitlines() if line.startswith("  a1 ["))
    s = board.layers[0]
    for values in (s.z[0], s.a[0], s.grad_a[0], s.fprime[0], s.delta[0]):
        for v in values:
            assert f">{v:.4g}<" in layer1
    assert "layer 1 · sigmoid · 2 → 3" in layer1
    assert "loss J = 0.7109" in dot


def test_forward_and_backward_arrows_between_layers(board) -> None:
    es = edges(layer_view_dot(board))
    forward = [e for e in es if 'dir="back"' not in e]
    backward = [e for e in es if 'dir="back"' in e]
    assert [e.split(" [")[0] for e in forward] == ["a0 -> a1", "a1 -> a2", "a2 -> loss"]
    assert [e.split(" [")[0] for e in backward] == ["a0 -> a1", "a1 -> a2", "a2 -> loss"]
    assert "z² = W²a¹<BR/>a² = sigmoid(z²)" in forward[1]
    # what bprop of layer 2 returns: ∂J/∂a¹ = (W²)ᵀδ² = [-0.1018, 0.1781, -0.07632]
    assert "∂J/∂a¹ = (W²)ᵀδ²<BR/>= [-0.1018, 0.1781, -0.07632&#93;" in backward[1]
    assert "∂J/∂a² = [-2.036&#93;" in backward[2]


def test_a_batch_shows_the_chosen_example() -> None:
    model = MLP(2, [2, 1], seed=0)
    step = walk_through_step(model, [[1.0, 2.0], [0.5, -1.0]], [0.0, 1.0])
    dot = layer_view_dot(step, example=1, digits=6)
    assert "example 2 of 2 (batch convention)" in dot
    assert f">{step.layers[0].z[1][0]:.6g}<" in dot
    assert f">{step.layers[0].z[0][0]:.6g}<" not in dot
    with pytest.raises(ValueError, match="example must be an int from 0 to 1"):
        layer_view_dot(step, example=2)


def test_bad_arguments(board) -> None:
    with pytest.raises(TypeError, match="walkthrough record"):
        layer_view_dot(MLP(2, [1], seed=0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="digits"):
        layer_view_dot(board, digits=0)
    with pytest.raises(ValueError, match="rankdir"):
        layer_view_dot(board, rankdir="up")


def test_draw_layer_view_has_the_same_body(board) -> None:
    pytest.importorskip("graphviz")
    g = draw_layer_view(board)
    assert "".join(g.body) in layer_view_dot(board)


@pytest.mark.needs_dot
def test_graphviz_draws_it(board, tmp_path) -> None:
    nodes = svg_node_texts(run_dot(layer_view_dot(board)))
    assert set(nodes) == {"a0", "a1", "a2", "loss"}
    assert "δ²" in nodes["a2"] and "-0.5088" in nodes["a2"]
    path = render_layer_view(board, tmp_path / "layers.svg")
    assert path.read_bytes().startswith(b"<?xml")
    dot_path = render_layer_view(board, tmp_path / "layers.dot")
    assert dot_path.read_text(encoding="utf-8") == layer_view_dot(board)


def test_example_takes_any_integer_and_refuses_bool_and_float() -> None:
    np = pytest.importorskip("numpy")
    model = MLP(2, [2, 1], seed=0)
    step = walk_through_step(model, [[1.0, 2.0], [0.5, -1.0]], [0.0, 1.0])
    assert layer_view_dot(step, example=np.int64(1)) == layer_view_dot(step, example=1)
    for bad in (True, 1.0):
        with pytest.raises(TypeError, match="example must be an int"):
            layer_view_dot(step, example=bad)
