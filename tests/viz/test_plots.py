"""Plots: decision boundary and training curves (matplotlib, the optional extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import Value, is_grad_enabled
from nn import MLP, History, make_moons, train
from viz import plot_decision_boundary, plot_nudge, plot_training_curves

matplotlib = pytest.importorskip("matplotlib", reason="the plots need matplotlib (chainrule[plot])")
from matplotlib.figure import Figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


class _Linear:
    """score = x0 - x1, counting its calls and checking it runs without a graph."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: list[float]) -> Value:
        assert not is_grad_enabled(), "the model must be evaluated under engine.no_grad()"
        self.calls += 1
        return Value(x[0]) - Value(x[1])


def test_decision_boundary_writes_a_png(tmp_path: Path) -> None:
    model = _Linear()
    X = [[1.0, 0.0], [0.0, 1.0], [2.0, 0.5], [-1.0, 1.0]]
    y = [1, 0, 1, 0]
    path = tmp_path / "boundary.png"
    fig = plot_decision_boundary(model, X, y, path, resolution=12)
    assert isinstance(fig, Figure)
    assert path.read_bytes().startswith(PNG)
    assert model.calls == 12 * 12 + len(X)  # the grid, then the points for the accuracy
    assert fig.axes[0].get_title() == "decision boundary (accuracy 100%)"
    assert [p.name for p in tmp_path.iterdir()] == ["boundary.png"]


def test_decision_boundary_of_a_trained_mlp(tmp_path: Path) -> None:
    X, y = make_moons(30, noise=0.1, seed=0)
    model = MLP(2, [8, 1], seed=0)
    train(model, X, y, loss="hinge", lr=0.5, steps=5, seed=0)
    params_before = [p.data for p in model.parameters()]
    grads_before = [p.grad for p in model.parameters()]
    fig = plot_decision_boundary(model, X, y, tmp_path / "moons.svg", resolution=10, title="t")
    assert fig.axes[0].get_title() == "t"
    assert (tmp_path / "moons.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert [p.data for p in model.parameters()] == params_before  # plotting changes nothing
    assert [p.grad for p in model.parameters()] == grads_before


def test_decision_boundary_into_given_axes_and_with_several_outputs() -> None:
    fig = Figure()
    ax = fig.add_subplot()

    def three_classes(x: list[float]) -> list[Value]:
        return [Value(x[0]), Value(x[1]), Value(-x[0] - x[1])]

    X = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
    out = plot_decision_boundary(three_classes, X, [0, 1, 2], ax=ax, resolution=8)
    assert out is fig
    assert ax.get_title() == "decision boundary (accuracy 100%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1", "class 2"]


def test_decision_boundary_threshold() -> None:
    def probability(x: list[float]) -> Value:
        return Value(x[0]).sigmoid()

    X, y = [[-2.0, 0.0], [2.0, 0.0]], [0, 1]
    fig = plot_decision_boundary(probability, X, y, resolution=4, threshold=0.5)
    assert fig.axes[0].get_title().endswith("(accuracy 100%)")
    fig = plot_decision_boundary(probability, X, y, resolution=4)  # threshold 0: all class 1
    assert fig.axes[0].get_title().endswith("(accuracy 50%)")


def test_decision_boundary_checks_its_input() -> None:
    model = _Linear()
    with pytest.raises(ValueError, match="2 labels"):
        plot_decision_boundary(model, [[0.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match="2-D points"):
        plot_decision_boundary(model, [[0.0, 1.0, 2.0]], [0])
    with pytest.raises(ValueError, match="integer class label"):
        plot_decision_boundary(model, [[0.0, 1.0]], [0.5])
    with pytest.raises(ValueError, match="empty"):
        plot_decision_boundary(model, [], [])
    with pytest.raises(ValueError, match="resolution"):
        plot_decision_boundary(model, [[0.0, 1.0]], [0], resolution=1)
    with pytest.raises(TypeError, match="resolution"):
        plot_decision_boundary(model, [[0.0, 1.0]], [0], resolution=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return a Value"):
        plot_decision_boundary(lambda x: "yes", [[0.0, 1.0]], [0], resolution=2)
    assert model.calls == 0


def test_training_curves(tmp_path: Path) -> None:
    history = History(loss=[1.0, 0.5, 0.25, 0.01, 0.001], accuracy=[0.5, 0.7, 0.9, 1.0, 1.0])
    path = tmp_path / "curves.png"
    fig = plot_training_curves(history, path)
    assert path.read_bytes().startswith(PNG)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log"  # the loss spans three decades
    assert list(loss_ax.lines[0].get_ydata()) == history.loss
    assert list(acc_ax.lines[0].get_ydata()) == [50.0, 70.0, 90.0, 100.0, 100.0]
    assert acc_ax.get_title() == "accuracy (final 100%)"


def test_training_curves_from_a_dict_and_without_accuracy() -> None:
    fig = plot_training_curves({"loss": [3.0, 2.0, 1.5]})
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="no loss"):
        plot_training_curves(History())
    with pytest.raises(TypeError, match="numbers"):
        plot_training_curves({"loss": ["a"]})


def test_missing_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[plot\]'"):
        plot_training_curves({"loss": [1.0]})
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[plot\]'"):
        plot_decision_boundary(_Linear(), [[0.0, 1.0]], [0], resolution=2)


def test_importing_viz_does_not_import_matplotlib() -> None:
    code = "import sys, viz, viz.cli; assert 'matplotlib' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_nudge_plot(tmp_path: Path) -> None:
    from nn import nudge

    model = MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=3)
    n = nudge(model, "layers.1.neurons.0.w.0", [0.5, -1.0], 1, "binary_cross_entropy")
    fig = plot_nudge(n, tmp_path / "nudge.png", title="t")
    assert (tmp_path / "nudge.png").read_bytes().startswith(PNG)
    left, right = fig.axes
    curve, tangent = left.get_lines()
    assert list(curve.get_xdata()) == n.thetas and list(curve.get_ydata()) == n.losses
    (x0, x1), (y0, y1) = tangent.get_xdata(), tangent.get_ydata()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(n.grad, rel=1e-12)  # slope = the gradient
    (errors,) = right.get_lines()
    assert list(errors.get_xdata()) == n.epsilons
    assert list(errors.get_ydata()) == [
        e if e > 0 else min(x for x in n.errors if x > 0) / 10 for e in n.errors
    ]
    assert right.get_xscale() == right.get_yscale() == "log"
    with pytest.raises(TypeError, match=r"what nn\.nudge returns"):
        plot_nudge(model)
