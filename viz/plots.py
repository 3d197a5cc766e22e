"""Plots with matplotlib (the optional ``plot`` extra): a decision boundary, training curves,
the loss against one nudged weight, a grid of images with their predicted labels, and a
confusion matrix (:func:`confusion_matrix` counts it without matplotlib).

matplotlib is imported inside the functions, never when :mod:`viz` is imported.
The figures are made with ``matplotlib.figure.Figure`` directly, not with pyplot:
no global backend is switched, no window opens, nothing is shown from library
code, and a figure written to a file is drawn by the Agg (or PDF/SVG) canvas.
In Jupyter the returned Figure displays inline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import Value, no_grad
from engine.checks import is_real, to_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "confusion_matrix",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_digits",
    "plot_nudge",
    "plot_training_curves",
    "require_matplotlib",
]

#: Point colours by class (a colour-blind-safe pair first, then more for more classes).
CLASS_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2")
REGION_COLORS = ("#dbeafe", "#ffedd5", "#dcfce7", "#f3e8ff", "#fee2e2", "#cffafe")


def require_matplotlib() -> None:
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "the plots need matplotlib, an optional extra: pip install 'chainrule[plot]' "
            "(or pip install matplotlib)"
        ) from e


def _new_figure(size: tuple[float, float]) -> Figure:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` to ``path`` (format from its suffix) via a temp file and a rename."""
    from viz.render import atomic_path

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=144, format=fmt)


def _points(X: Sequence[Sequence[float]], y: Sequence[Any]) -> tuple[list[list[float]], list[int]]:
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} points but y has {len(y)} labels")
    if not X:
        raise ValueError("X is empty: nothing to plot")
    rows = []
    for i, row in enumerate(X):
        if len(row) != 2:
            raise ValueError(
                f"a decision boundary needs 2-D points; X[{i}] has {len(row)} coordinates"
            )
        rows.append([float(row[0]), float(row[1])])
    labels = []
    for i, t in enumerate(y):
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t != int(t):
            raise ValueError(f"y[{i}] must be an integer class label, got {t!r}")
        labels.append(int(t))
    return rows, labels


def _classes(labels: list[int]) -> list[int]:
    classes = sorted(set(labels))
    if len(classes) > len(CLASS_COLORS):
        raise ValueError(f"at most {len(CLASS_COLORS)} classes can be drawn, got {len(classes)}")
    return classes


def _scores(model: Callable[[list[float]], Any], point: list[float]) -> list[float]:
    """The model's output at ``point`` as a list of floats (one entry per output)."""
    out = model(point)
    items = out if isinstance(out, (list, tuple)) else [out]
    scores = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (Value, int, float)):
            raise TypeError(
                f"the model must return a Value or a list of Values, not {type(v).__name__}"
            )
        scores.append(v.data if isinstance(v, Value) else float(v))
    if not scores:
        raise ValueError("the model returned an empty list")
    return scores


def _classify(scores: Sequence[float], threshold: float, negative: int, positive: int) -> int:
    """One score: ``positive`` above the threshold; several: the index of the largest."""
    if len(scores) == 1:
        return positive if scores[0] > threshold else negative
    return max(range(len(scores)), key=scores.__getitem__)


def plot_decision_boundary(
    model: Callable[[list[float]], Any],
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    path: str | os.PathLike[str] | None = None,
    ax: Axes | None = None,
    *,
    resolution: int = 60,
    threshold: float = 0.0,
    margin: float = 0.25,
    title: str | None = None,
) -> Figure:
    """The regions a 2-D classifier assigns to each class, with the data points on top.

    ``model`` maps ``[x0, x1]`` to one score (class ``max(y)`` where the score is
    above ``threshold``, class ``min(y)`` elsewhere: use 0 for raw scores, 0.5 for
    a sigmoid output) or to a list of scores (the class is the index of the
    largest). It is evaluated on a ``resolution`` × ``resolution`` grid under
    ``engine.no_grad()``, so no graph is built. Draws into ``ax`` if given, else
    into a new Figure; writes the figure to ``path`` if given (format from the
    suffix). Returns the Figure.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise TypeError(f"resolution must be an int, not {type(resolution).__name__}")
    if not 2 <= resolution <= 1000:
        raise ValueError(f"resolution must be from 2 to 1000, got {resolution}")
    points, labels = _points(X, y)
    classes = _classes(labels)
    negative, positive = (classes[0], classes[-1]) if len(classes) > 1 else (0, 1)
    require_matplotlib()
    import numpy as np

    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    pad_x = (max(xs) - min(xs)) * margin or 1.0
    pad_y = (max(ys) - min(ys)) * margin or 1.0
    gx = np.linspace(min(xs) - pad_x, max(xs) + pad_x, resolution)
    gy = np.linspace(min(ys) - pad_y, max(ys) + pad_y, resolution)
    with no_grad():
        grid = np.array([[_scores(model, [float(u), float(v)]) for u in gx] for v in gy])
        predicted = [_classify(_scores(model, p), threshold, negative, positive) for p in points]
    k_out = grid.shape[2]

    fig = _new_figure((5.5, 4.5)) if ax is None else ax.get_figure(root=True)
    if fig is None:
        raise ValueError("ax is not part of a figure: pass an Axes made by plt.subplots()")
    if ax is None:
        ax = fig.add_subplot()
    # Regions and boundaries come from contours of the scores themselves, which
    # interpolate between grid points: smooth curves, not a staircase of cells.
    if k_out == 1:
        regions = [(negative, threshold - grid[:, :, 0]), (positive, grid[:, :, 0] - threshold)]
    else:
        regions = []
        for k in range(k_out):
            others = np.delete(grid, k, axis=2).max(axis=2)
            regions.append((k, grid[:, :, k] - others))  # > 0 where class k wins
    for k, m in regions:
        top = float(m.max())
        if top > 0:
            color = REGION_COLORS[k % len(REGION_COLORS)]
            ax.contourf(gx, gy, m, levels=[0.0, top], colors=[color])
            if float(m.min()) < 0:
                ax.contour(gx, gy, m, levels=[0.0], colors="#334155", linewidths=1.2)
    for k in classes:
        px = [p[0] for p, t in zip(points, labels, strict=True) if t == k]
        py = [p[1] for p, t in zip(points, labels, strict=True) if t == k]
        ax.scatter(
            px,
            py,
            s=22,
            color=CLASS_COLORS[k % len(CLASS_COLORS)],
            edgecolors="white",
            linewidths=0.6,
            label=f"class {k}",
            zorder=3,
        )
    hits = sum(p == t for p, t in zip(predicted, labels, strict=True))
    ax.set_title(title or f"decision boundary (accuracy {hits / len(points):.0%})")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    if path is not None:
        _save(fig, path)
    return fig  # type: ignore[return-value]


def _series(history: Any, name: str) -> list[float]:
    values = history.get(name, []) if isinstance(history, dict) else getattr(history, name, [])
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"history.{name} must be a list of numbers") from None
    return out


def plot_training_curves(
    history: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    xlabel: str = "step",
) -> Figure:
    """Loss (log scale when it spans a wide range) and accuracy against the step.

    ``history`` is what ``nn.train`` returns (``.loss``, ``.accuracy`` lists), or a
    dict with those keys (e.g. one value per epoch, with ``xlabel="epoch"``); the
    accuracy panel is left out when there is none. Writes the figure to ``path`` if
    given; returns the Figure.
    """
    loss = _series(history, "loss")
    accuracy = _series(history, "accuracy")
    if not loss:
        raise ValueError("the history has no loss values: nothing to plot")
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure((9.0, 3.6) if accuracy else (5.0, 3.6))
    axes = fig.subplots(1, 2 if accuracy else 1, squeeze=False)[0]
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and epochs are whole
    steps = range(1, len(loss) + 1)
    ax = axes[0]
    ax.plot(steps, loss, color="#b91c1c", linewidth=1.6)
    positive = [v for v in loss if v > 0]
    if len(positive) == len(loss) and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.grid(True, alpha=0.3)
    if accuracy:
        ax = axes[1]
        ax.plot(
            range(1, len(accuracy) + 1), [100 * a for a in accuracy], color="#2563eb", linewidth=1.6
        )
        ax.set_ylim(0, 101)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"accuracy (final {accuracy[-1]:.0%})")
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig


def plot_nudge(
    nudge: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Two panels from an :func:`nn.nudge` result: what a gradient means, and how to check it.

    Left: the loss J against the parameter θ around its value, with the tangent line
    whose slope is backprop's ∂J/∂θ. Right: |finite-difference slope − ∂J/∂θ| against ε
    on log-log axes: the truncation error falls as ε² until rounding (∝ 1/ε) takes over.
    An error of exactly 0 is drawn at the bottom of the axis. Writes the figure to
    ``path`` if given; returns the Figure.
    """
    for attr in ("thetas", "losses", "tangent", "epsilons", "errors", "name", "grad"):
        if not hasattr(nudge, attr):
            raise TypeError(f"plot_nudge takes what nn.nudge returns, not {type(nudge).__name__}")
    fig = _new_figure((10.0, 3.8))
    left, right = fig.subplots(1, 2)
    thetas = nudge.thetas
    left.plot(thetas, nudge.losses, color="#0f172a", linewidth=1.8, label="J(θ)")
    lo, hi = thetas[0], thetas[-1]
    left.plot(
        [lo, hi],
        [nudge.tangent(lo), nudge.tangent(hi)],
        color="#b91c1c",
        linestyle="--",
        linewidth=1.4,
        label=f"tangent, slope ∂J/∂θ = {nudge.grad:.4g}",
    )
    left.scatter([nudge.value], [nudge.loss], color="#b91c1c", zorder=3, s=28)
    left.set_xlabel(f"θ = {nudge.name}")
    left.set_ylabel("loss J")
    left.set_title("nudge one weight, watch the loss")
    left.legend(loc="best", fontsize="small")
    left.grid(True, alpha=0.3)
    errors = nudge.errors
    positive = [e for e in errors if e > 0]
    floor = min(positive) / 10 if positive else 1e-17
    shown = [e if e > 0 else floor for e in errors]
    right.loglog(nudge.epsilons, shown, marker="o", color="#2563eb", linewidth=1.4)
    right.invert_xaxis()
    right.set_xlabel("ε (shrinking →)")
    right.set_ylabel("|(J(θ+ε) − J(θ−ε))/2ε − ∂J/∂θ|")
    right.set_title("finite differences: truncation, then rounding")
    right.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig


#: Most images :func:`plot_digits` draws in one figure (one small panel each).
MAX_IMAGES = 200
WRONG_COLOR = "#dc2626"


def _labels(values: Sequence[Any], what: str) -> list[int]:
    """Class labels as ints >= 0 (numpy integers too); an error naming the first bad one."""
    out = []
    for i, t in enumerate(values):
        k = to_int(t, f"{what}[{i}]")
        if k < 0:
            raise ValueError(f"{what}[{i}] must be a class index >= 0, got {k}")
        out.append(k)
    return out


def confusion_matrix(
    true: Sequence[Any], predicted: Sequence[Any], n_classes: int | None = None
) -> list[list[int]]:
    """``counts[i][j]``: how many samples of true class ``i`` were predicted as class ``j``.

    Labels are class indices 0, 1, ... (ints, numpy integers too). ``n_classes`` defaults
    to one more than the largest label seen; every row and column is there even when a
    class never occurs, so the matrix is square. Row ``i`` sums to the number of samples
    of class ``i``, the whole matrix to the number of samples, the diagonal to the
    number predicted right.

    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2])
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    t = _labels(true, "true")
    p = _labels(predicted, "predicted")
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predicted labels")
    if not t:
        raise ValueError("no labels: nothing to count")
    seen = max(max(t), max(p)) + 1
    k = seen if n_classes is None else to_int(n_classes, "n_classes")
    if k < seen:
        raise ValueError(f"n_classes is {k}, but a label {seen - 1} occurs")
    counts = [[0] * k for _ in range(k)]
    for a, b in zip(t, p, strict=True):
        counts[a][b] += 1
    return counts


def _image(row: Any, i: int) -> list[list[float]]:
    """One image as rows of floats: a flat sequence of n² numbers or a list of rows."""
    items = list(row)
    if items and all(is_real(v) for v in items):
        side = round(len(items) ** 0.5)
        if side * side != len(items):
            raise ValueError(
                f"images[{i}] has {len(items)} numbers: a flat image needs a square "
                "number of pixels (64 for 8×8), or give it as a list of rows"
            )
        return [[float(v) for v in items[r * side : (r + 1) * side]] for r in range(side)]
    rows = []
    for r in items:
        values = list(r)
        if not all(is_real(v) for v in values):
            raise TypeError(f"images[{i}] must hold real numbers (pixel intensities)")
        rows.append([float(v) for v in values])
    if not rows or any(len(r) != len(rows[0]) for r in rows) or not rows[0]:
        raise ValueError(f"images[{i}] must be a non-empty rectangle of pixels")
    return rows


def _scaled(image: list[list[float]]) -> list[list[float]]:
    """An image's pixels mapped to 0..1 (its own darkest pixel 1); a blank image stays 0."""
    lo = min(min(row) for row in image)
    hi = max(max(row) for row in image)
    span = hi - lo
    return [[(v - lo) / span if span > 0 else 0.0 for v in row] for row in image]


def plot_digits(
    images: Sequence[Any],
    predicted: Sequence[Any],
    true: Sequence[Any] | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    cols: int = 10,
    title: str | None = None,
) -> Figure:
    """Small images in a grid, each with its predicted label; wrong predictions in red.

    ``images`` are flat rows of n² pixel intensities (the 8×8 digits: 64 numbers, dark
    on light, each image scaled to its own range) or lists of rows, all of one size.
    Each image is labelled with its predicted class; with ``true`` labels, a wrong
    prediction reads ``7 (true 9)`` in red inside a red frame, and the default title
    counts the wrong ones. The grid is one picture on one Axes (tiles, labels and
    frames drawn into it), which keeps a figure of 50 images fast to draw. Writes the
    figure to ``path`` if given (format from the suffix); returns the Figure.
    """
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    if n > MAX_IMAGES:
        raise ValueError(f"at most {MAX_IMAGES} images fit one figure, got {n}")
    if len(predicted) != n:
        raise ValueError(f"{n} images but {len(predicted)} predicted labels")
    if true is not None and len(true) != n:
        raise ValueError(f"{n} images but {len(true)} true labels")
    cols = to_int(cols, "cols")
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    pixels = [_image(row, i) for i, row in enumerate(images)]
    h, w = len(pixels[0]), len(pixels[0][0])
    for i, image in enumerate(pixels):
        if (len(image), len(image[0])) != (h, w):
            raise ValueError(
                f"images[{i}] is {len(image)}×{len(image[0])} but images[0] is {h}×{w}: "
                "the images must all have one size"
            )
    guess = _labels(predicted, "predicted")
    truth = _labels(true, "true") if true is not None else None
    require_matplotlib()
    import numpy as np
    from matplotlib.patches import Rectangle

    cols = min(cols, n)
    rows = -(-n // cols)
    gap_x, gap_y = max(1, w // 4), max(2, (h * 3) // 5)  # room for the label above each tile
    step_x, step_y = w + gap_x, h + gap_y
    mosaic = np.full((rows * step_y, cols * step_x - gap_x), np.nan)  # NaN: background
    fig = _new_figure((0.95 * cols, 1.05 * rows + 0.5))
    ax = fig.add_subplot()
    wrong = 0
    for i, image in enumerate(pixels):
        top, left = (i // cols) * step_y + gap_y, (i % cols) * step_x
        mosaic[top : top + h, left : left + w] = _scaled(image)
        bad = truth is not None and truth[i] != guess[i]
        label = f"{guess[i]} (true {truth[i]})" if bad and truth is not None else str(guess[i])
        wrong += bad
        ax.text(
            left + w / 2 - 0.5,
            top - 0.9,
            label,
            ha="center",
            va="bottom",
            fontsize=8 if bad else 9,
            color=WRONG_COLOR if bad else "#0f172a",
        )
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                w,
                h,
                fill=False,
                edgecolor=WRONG_COLOR if bad else "#cbd5e1",
                linewidth=2.2 if bad else 0.8,
            )
        )
    ax.imshow(mosaic, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title is None:
        title = f"predicted labels of {n} images"
        if truth is not None:
            title += f": {wrong} wrong (red)" if wrong else ": all right"
    fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig


def plot_confusion_matrix(
    true: Sequence[Any],
    predicted: Sequence[Any],
    path: str | os.PathLike[str] | None = None,
    *,
    n_classes: int | None = None,
    title: str | None = None,
) -> Figure:
    """The :func:`confusion_matrix` of the labels as a table of counts, shaded by count.

    Rows are the true classes, columns the predicted ones: the diagonal holds the right
    answers, every other nonzero cell a kind of mistake (row 9, column 7: nines taken
    for sevens). Zeros are left blank. The default title gives the accuracy. Writes the
    figure to ``path`` if given; returns the Figure.
    """
    counts = confusion_matrix(true, predicted, n_classes)
    k = len(counts)
    total = sum(map(sum, counts))
    right = sum(counts[i][i] for i in range(k))
    fig = _new_figure((1.0 + 0.5 * max(k, 4), 0.6 + 0.5 * max(k, 4)))
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    top = max(max(row) for row in counts)
    for i in range(k):
        for j in range(k):
            c = counts[i][j]
            if c:
                dark = c > top / 2
                ax.text(
                    j,
                    i,
                    str(c),
                    ha="center",
                    va="center",
                    fontsize=8 if k > 6 else 10,
                    color="white" if dark else (WRONG_COLOR if i != j else "#0f172a"),
                )
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"confusion matrix: {right} of {total} right ({right / total:.1%})")
    fig.colorbar(image, ax=ax, shrink=0.8, label="count")
    if path is not None:
        _save(fig, path)
    return fig
