"""The digits demo's pictures: the confusion matrix (counts and plot) and the digit grid."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from viz.plots import confusion_matrix, plot_confusion_matrix, plot_digits

PNG = b"\x89PNG\r\n\x1a\n"
RED = (220 / 255, 38 / 255, 38 / 255, 1.0)  # viz.plots.WRONG_COLOR


@st.composite
def labelled(draw: st.DrawFn) -> tuple[list[int], list[int], int]:
    k = draw(st.integers(1, 12))
    n = draw(st.integers(1, 60))
    labels = st.lists(st.integers(0, k - 1), min_size=n, max_size=n)
    return draw(labels), draw(labels), k


@given(labelled())
def test_confusion_matrix_counts_add_up(case: tuple[list[int], list[int], int]) -> None:
    true, predicted, k = case
    counts = confusion_matrix(true, predicted, n_classes=k)
    assert len(counts) == k and all(len(row) == k for row in counts)
    assert sum(map(sum, counts)) == len(true)  # every sample counted once
    per_true, per_predicted = Counter(true), Counter(predicted)
    assert [sum(row) for row in counts] == [per_true[i] for i in range(k)]  # rows: true class
    assert [sum(col) for col in zip(*counts, strict=True)] == [per_predicted[j] for j in range(k)]
    right = sum(t == p for t, p in zip(true, predicted, strict=True))
    assert sum(counts[i][i] for i in range(k)) == right
    assert counts == [
        [sum(t == i and p == j for t, p in zip(true, predicted, strict=True)) for j in range(k)]
        for i in range(k)
    ]


def test_confusion_matrix_example_and_size() -> None:
    import numpy as np

    # two 0s (one taken for a 1), a 1, a 2 taken for a 0
    assert confusion_matrix([0, 0, 1, 2], [0, 1, 1, 0]) == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    # a class nobody has still gets its row and column; numpy integers are labels too
    assert confusion_matrix(np.array([1]), [np.int64(1)], n_classes=3) == [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
    ]


@pytest.mark.parametrize(
    ("true", "predicted", "n_classes", "error", "message"),
    [
        ([0, 1], [0], None, ValueError, "2 true labels but 1 predicted"),
        ([], [], None, ValueError, "no labels"),
        ([0, -1], [0, 0], None, ValueError, r"true\[1\] must be a class index >= 0"),
        ([0, 1], [0, 1.0], None, TypeError, r"predicted\[1\] must be an int"),
        ([True], [0], None, TypeError, r"true\[0\] must be an int"),
        ([0, 5], [0, 1], 3, ValueError, "n_classes is 3, but a label 5 occurs"),
    ],
)
def test_confusion_matrix_refuses_bad_labels(true, predicted, n_classes, error, message) -> None:
    with pytest.raises(error, match=message):
        confusion_matrix(true, predicted, n_classes)


def test_plot_confusion_matrix_shows_every_nonzero_count(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    predicted = [0, 0, 2, 1, 1, 2, 2, 0, 2]
    path = tmp_path / "confusion.png"
    fig = plot_confusion_matrix(true, predicted, path)
    assert path.read_bytes().startswith(PNG)
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]  # no temporary left
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    counts = confusion_matrix(true, predicted)
    expected = {(i, j): c for i, row in enumerate(counts) for j, c in enumerate(row) if c}
    assert {ij: int(t.get_text()) for ij, t in cells.items()} == expected  # zeros blank
    assert ax.get_title() == "confusion matrix: 7 of 9 right (77.8%)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert ax.images[0].get_array().tolist() == counts  # rows true, columns predicted


def test_plot_digits_marks_the_wrong_ones(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    images = [[(i + p) % 17 for p in range(64)] for i in range(7)]
    true = [0, 1, 2, 3, 4, 5, 6]
    predicted = [0, 7, 2, 3, 9, 5, 6]
    path = tmp_path / "digits.png"
    fig = plot_digits(images, predicted, true, path, cols=4)
    assert path.read_bytes().startswith(PNG)
    assert [p.name for p in tmp_path.iterdir()] == ["digits.png"]
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0", "7 (true 1)", "2", "3", "9 (true 4)", "5", "6"]
    wrong = [t != p for t, p in zip(true, predicted, strict=True)]
    assert [t.get_color() == "#dc2626" for t in ax.texts] == wrong
    assert [tuple(f.get_edgecolor()) == RED for f in ax.patches] == wrong  # one frame each
    assert fig.get_suptitle() == "predicted labels of 7 images: 2 wrong (red)"
    # the tiles: 2 rows of 4 (the last empty), each image scaled to 0..1 inside its frame
    mosaic = ax.images[0].get_array()
    for k, frame in enumerate(ax.patches):
        x, y = (round(v + 0.5) for v in frame.get_xy())
        assert (frame.get_width(), frame.get_height()) == (8, 8)
        tile = mosaic[y : y + 8, x : x + 8]
        values = images[k]
        expected = [(v - min(values)) / (max(values) - min(values)) for v in values]
        assert tile.flatten().tolist() == expected
    assert len({round(f.get_xy()[1]) for f in ax.patches}) == 2  # two rows
    assert mosaic.mask.sum() == mosaic.size - 7 * 64  # all but the tiles is background


def test_plot_digits_without_true_labels_and_as_rows() -> None:
    pytest.importorskip("matplotlib")
    image = [[0, 16, 0], [16, 0, 16], [0, 16, 0]]  # a 3×3 image given as rows
    fig = plot_digits([image, [[5] * 3] * 3], [4, 1])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["4", "1"]
    assert fig.get_suptitle() == "predicted labels of 2 images"
    tiles = ax.images[0].get_array()
    x, y = (round(v + 0.5) for v in ax.patches[0].get_xy())
    assert tiles[y : y + 3, x : x + 3].tolist() == [[v / 16 for v in row] for row in image]
    x, y = (round(v + 0.5) for v in ax.patches[1].get_xy())
    assert tiles[y : y + 3, x : x + 3].tolist() == [[0.0] * 3] * 3  # a blank image stays blank


@pytest.mark.parametrize(
    ("images", "predicted", "true", "error", "message"),
    [
        ([], [], None, ValueError, "no images"),
        ([[0.0] * 64], [1, 2], None, ValueError, "1 images but 2 predicted"),
        ([[0.0] * 64], [1], [1, 2], ValueError, "1 images but 2 true"),
        ([[0.0] * 63], [1], None, ValueError, r"images\[0\] has 63 numbers"),
        ([[[0.0, 1.0], [0.0]]], [1], None, ValueError, "rectangle"),
        ([[["a"]]], [1], None, TypeError, "real numbers"),
        ([[0.0] * 64], [-3], None, ValueError, "class index"),
        ([[0.0] * 64] * 201, [0] * 201, None, ValueError, "at most 200"),
        (
            [[0.0] * 64, [0.0] * 16],
            [0, 0],
            None,
            ValueError,
            r"images\[1\] is 4×4 but images\[0\] is 8×8",
        ),
    ],
)
def test_plot_digits_refuses_bad_input(images, predicted, true, error, message) -> None:
    with pytest.raises(error, match=message):
        plot_digits(images, predicted, true)


def test_training_curves_per_epoch() -> None:
    pytest.importorskip("matplotlib")
    from viz.plots import plot_training_curves

    fig = plot_training_curves({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}, xlabel="epoch")
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch", "epoch"]
    assert plot_training_curves({"loss": [1.0]}).axes[0].get_xlabel() == "step"  # the default
