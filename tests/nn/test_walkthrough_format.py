"""The walkthrough's text and Markdown: labelled, aligned, rounded to the digits asked."""

from __future__ import annotations

import re

import pytest

from nn import MLP, WORKED_EXAMPLES, walk_through_step
from nn.walkthrough_format import PARTS, fmt, sup


@pytest.fixture(scope="module")
def board():
    return WORKED_EXAMPLES["backprop-by-hand"].walk_through()


@pytest.fixture(scope="module")
def two():
    return WORKED_EXAMPLES["two-two-two"].walk_through()


def test_fmt_and_superscripts() -> None:
    assert fmt(0.5124973964842103) == "0.512497"
    assert fmt(0.5124973964842103, 3) == "0.512"
    assert fmt(-0.0) == "0"
    assert fmt(0.05000000000000002) == "0.05"
    assert sup(12) == "¹²"


def test_text_shows_every_stage_with_blackboard_labels(board) -> None:
    text = board.to_text()
    for label in ["z¹", "a¹", "z²", "δ²", "δ¹", "∂J/∂W²", "∂J/∂W¹", "W¹ ←", "W² ←", "ŷ", "η = 0.1"]:
        assert label in text, label
    order = [
        text.index(s)
        for s in ["1. Forward pass", "2. Backward pass", "3. Update", "4. Forward pass again"]
    ]
    assert order == sorted(order)
    # the backward pass goes from the last layer to the first
    backward = text[text.index("2. Backward pass") : text.index("3. Update")]
    assert backward.index("Layer 2") < backward.index("Layer 1")


def test_text_numbers_have_the_requested_significant_digits(board) -> None:
    text = board.to_text()
    assert "0.512497" in text and "0.491178" in text and "-0.508822" in text
    assert "prediction ŷ = 0.491178" in text and "loss J = 0.710949" in text
    assert "loss J = 0.689647" in text
    short = board.to_text(digits=3)
    assert "0.512" in short and "0.491" in short and "0.711" in short and "0.502" in short
    assert "0.512497" not in short


def test_text_matrices_and_tables_are_aligned(board) -> None:
    lines = board.to_text().splitlines()
    # the three rows of W¹: same length, brackets in the same columns
    rows = [line for line in lines if re.search(r"\[ +-?0\.\d+ +-?0\.\d+ \]$", line)][:3]
    assert len(rows) == 3
    assert len({len(r) for r in rows}) == 1
    assert len({r.index("[") for r in rows}) == 1
    # a table: header and rows right-aligned to the same width
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("neuron"))
    table = lines[start : start + 4]
    assert len({len(line) for line in table}) == 1


def test_text_says_when_biases_are_frozen(two, board) -> None:
    assert "biases are not updated" in two.to_text()
    assert "b¹ =" in two.to_text() and "∂J/∂b²" in two.to_text()
    assert "b¹ ←" not in two.to_text()
    assert "no bias" in board.to_text()


def test_markdown_has_latex_matrices_and_tables(board, two) -> None:
    md = board.to_markdown()
    assert md.startswith("## One training step")
    w1 = r"\begin{bmatrix} 0.15 & 0.2 \\ -0.25 & 0.1 \\ 0.05 & -0.15 \end{bmatrix}"
    assert f"$$W^{{[1]}} = {w1}$$" in md
    assert "| neuron | $z^{[1]}$ | $a^{[1]}$ |" in md
    assert "|---:|---:|---:|" in md
    assert r"\frac{\partial J}{\partial W^{[2]}}" in md
    for heading in [
        "### 1. Forward pass",
        "### 2. Backward pass",
        "### 3. Update",
        "### 4. Forward pass again",
    ]:
        assert heading in md
    assert md.count(r"\begin{bmatrix}") == md.count(r"\end{bmatrix}")
    assert "Biases are not updated." in two.to_markdown()
    assert "$y = [0.01, 0.99]$" in two.to_markdown()


def test_batch_rendering_labels_examples() -> None:
    step = walk_through_step(MLP(2, [2, 1], seed=0), [[1.0, 2.0], [0.5, -1.0]], [0.0, 1.0])
    text = step.to_text()
    assert "example 2: x = [0.5  -1]" in text
    assert "z¹ (ex. 1)" in text and "example  neuron" in text
    assert "Σᵢ δ¹ (a⁰)ᵀ" in text and "Batch convention" in text
    assert "(ex. 2)" in step.to_markdown()


def test_str_is_the_text(board) -> None:
    assert str(board) == board.to_text()


@pytest.mark.parametrize("digits", [0, 18, 2.5, True])
def test_bad_digits(board, digits) -> None:
    with pytest.raises(ValueError, match="digits must be an int from 1 to 17"):
        board.to_text(digits)
    with pytest.raises(ValueError, match="digits"):
        board.to_markdown(digits)


def test_the_backward_pass_shows_the_bprop_interface(board) -> None:
    """2-3-1: bprop of layer 2 receives ∂J/∂a² = −1/ŷ and returns ∂J/∂a¹ = (W²)ᵀ δ²
    (the layer-level text's figures: −2.035921 and [−0.101764, 0.178088, −0.076323])."""
    text = board.to_text(part="backward")
    assert "bprop receives ∂J/∂a²; returns ∂J/∂W² and ∂J/∂a¹" in text
    assert "∂J/∂a²    f'(z²)  δ² = ∂J/∂a² ⊙ f'(z²)" in text
    assert "-2.03592" in text
    assert "input  ∂J/∂a¹ = (W²)ᵀ δ²" in text
    for v in ("-0.101764", "0.178088", "-0.0763233"):
        assert v in text
    assert "∂J/∂a⁰ = (W¹)ᵀ δ¹" in text
    md = board.to_markdown(part="backward")
    assert r"$\partial J / \partial a^{[1]}$" in md and "$f'(z^{[2]})$" in md


def test_one_part_at_a_time(board) -> None:
    whole = board.to_text(digits=4)
    parts = {p: board.to_text(digits=4, part=p) for p in PARTS}
    heading = whole.split("\n\n1. Forward")[0]
    for name, text in parts.items():
        assert text.startswith(heading)
        assert text[len(heading) :].strip() in whole, name
    assert "2. Backward" not in parts["forward"] and "1. Forward" not in parts["backward"]
    assert "3. Update" in parts["update"] and "4. Forward pass again" in parts["after"]
    assert "### 3. Update" in board.to_markdown(part="update")
    assert "### 1." not in board.to_markdown(part="update")
    with pytest.raises(ValueError, match="part must be"):
        board.to_text(part="loss")


def test_digits_apply_everywhere(board) -> None:
    assert "-2.036" in board.to_text(digits=4) and "-2.03592" not in board.to_text(digits=4)
    assert "-2.0359219" in board.to_text(digits=8)
