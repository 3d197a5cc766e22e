"""The main job of ``chainrule demo``: train on moons or on the 8×8 digits, then write plots.

:func:`run_demo` (``--data moons``, the default) is micrograd's demo with chainrule's
pieces: ``MLP(2, [16, 16, 1])`` (relu hidden layers, a raw score out), 100 moons points
with noise 0.1, the hinge loss with an L2 penalty of 1e-4, SGD with the learning rate
decaying linearly from 1.0 to 0.1; it writes the decision boundary, the training curves
and the graph of one neuron.

:func:`run_digits_demo` (``--data digits``) trains ``MLP(64, [32, 10])`` on the 8×8
handwritten digits with batch replay (``nn.train(compile="batch")``: the model is still
written on scalars, each mini-batch runs as numpy arrays), softmax cross-entropy and
Adam, and writes test digits with their predicted labels and the confusion matrix.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "DIGITS_BATCH_SIZE",
    "DIGITS_EPOCHS",
    "MOONS_STEPS",
    "NOISE",
    "N_POINTS",
    "RESOLUTION",
    "neuron_graph",
    "run_demo",
    "run_digits_demo",
]

MOONS_STEPS = 100
N_POINTS = 100
NOISE = 0.1
SIZES = [16, 16, 1]
#: Fewest steps for which the demo compiles its training step (tracing ~ 10 eager steps).
COMPILE_FROM_STEPS = 20
#: Grid points per side of the decision-boundary plot (each is one forward pass).
RESOLUTION = 60


def neuron_graph(model: Any, x: list[float]) -> Any:
    """The first hidden neuron of ``model`` on input ``x``, after backward from it.

    The inputs are leaves labelled ``x0``, ``x1``; the model's grads are zeroed
    first, so the grads drawn are d(neuron output)/d(node) for this one input.
    """
    from engine import Value

    model.zero_grad()
    inputs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    out = model.layers[0].neurons[0](inputs)
    out.label = "a"  # the neuron's activation
    out.backward()
    return out


def _pick_input(model: Any, X: list[list[float]]) -> list[float]:
    """A data point on which the first neuron is active (nonzero grads), else X[0]."""
    from engine import no_grad

    neuron = model.layers[0].neurons[0]
    with no_grad():
        for row in X:
            if neuron(row).data > 0:
                return row
    return X[0]


def run_demo(
    steps: int = MOONS_STEPS,
    seed: int = 0,
    out: Path = Path("out"),
    stream: TextIO | None = None,
    progress: bool | None = None,
    compile: bool = True,
) -> int:
    """Train, print the loss and accuracy, write the files; the exit status (0).

    With ``compile`` (the default) the training step is traced once and replayed by
    ``engine.compile`` when there are at least ``COMPILE_FROM_STEPS`` steps: tracing
    costs about ten eager steps, each replay a small fraction of one, and the numbers
    are the same.
    """
    from nn import MLP, evaluate, linear_decay, make_moons, train
    from viz.plots import plot_decision_boundary, plot_training_curves, require_matplotlib
    from viz.render import INSTALL_HINT, GraphvizNotFoundError, render

    def say(text: str = "") -> None:
        print(text, file=stream or sys.stdout, flush=True)

    X, y = make_moons(N_POINTS, noise=NOISE, seed=seed)
    model = MLP(2, SIZES, seed=seed)
    say(
        f"Training MLP(2, {SIZES}) ({len(model.parameters())} parameters) on {N_POINTS} moons "
        f"points for {steps} steps (seed {seed}): hinge loss, L2 1e-4, SGD lr 1.0 -> 0.1"
    )
    compiled = compile and steps >= COMPILE_FROM_STEPS
    started = time.perf_counter()
    history = train(
        model,
        X,
        y,
        loss="hinge",
        l2=1e-4,
        lr=linear_decay(1.0, 0.1, steps),
        steps=steps,
        seed=seed,
        progress=progress,
        compile=compiled,
    )
    how = "compiled once, then replayed" if compiled else "eager"
    say(f"trained in {time.perf_counter() - started:.1f} s ({how})")
    marks = sorted({0, *range(steps // 10 - 1, steps, max(1, steps // 10)), steps - 1} - {-1})
    say(f"{'step':>6}  {'loss':>9}  {'accuracy':>8}")
    for k in marks:
        say(f"{k + 1:>6}  {history.loss[k]:>9.4f}  {history.accuracy[k]:>8.0%}")
    loss, accuracy = evaluate(model, X, y, loss="hinge")
    say(
        f"after training: loss {loss:.4f} (without L2), accuracy {accuracy:.0%} "
        f"on the {N_POINTS} points"
    )

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    notes: list[str] = []
    try:
        require_matplotlib()
    except ImportError as e:
        notes.append(f"no plots: {e}")
    else:
        plot_decision_boundary(
            model,
            X,
            y,
            out / "decision_boundary.png",
            resolution=RESOLUTION,
            title=f"MLP(2, {SIZES}) on moons after {steps} steps",
        )
        plot_training_curves(history, out / "training_curves.png")
        written += [out / "decision_boundary.png", out / "training_curves.png"]

    x = _pick_input(model, X)
    neuron = neuron_graph(model, x)
    title = f"layers.0.neurons.0 at x = ({x[0]:.3g}, {x[1]:.3g}): grads of its output"
    options: dict[str, Any] = {"module": model, "show_edge_grads": True, "title": title}
    try:
        written.append(render(neuron, out / "neuron.svg", **options))
    except GraphvizNotFoundError:
        dot_path = render(neuron, out / "neuron.dot", **options)
        written.append(dot_path)
        notes.append(
            f"the Graphviz 'dot' program is missing, so the graph was written as DOT text "
            f"({dot_path}). To get the picture, {INSTALL_HINT}, then run: "
            f"dot -Tsvg {dot_path} -o {out / 'neuron.svg'}"
        )
    say("wrote " + ", ".join(str(p) for p in written))
    for note in notes:
        say(f"note: {note}")
    return 0


# --- digits -------------------------------------------------------------------------------

DIGITS_SIZES = [32, 10]
DIGITS_EPOCHS = 20
DIGITS_BATCH_SIZE = 32
#: Adam's learning rate for the digits demo.
DIGITS_LR = 0.01
#: The share of the 1,797 images held out for the test (360 of them).
DIGITS_TEST_SIZE = 0.2
#: The digits' largest pixel intensity (4×4 blocks of a 32×32 bitmap, counted: 0..16).
PIXEL_MAX = 16
#: Test digits drawn in digits_predictions.png: every wrong one (up to half of them), then
#: the first right ones, in test-set order.
SHOWN_DIGITS = 50


def argmax(scores: Any) -> int:
    """The index of the largest score (the first one on a tie)."""
    values = [float(v) for v in scores]
    return max(range(len(values)), key=values.__getitem__)


def pick_shown(true: list[int], predicted: list[int], count: int = SHOWN_DIGITS) -> list[int]:
    """Indices of the test digits to draw: the wrong ones first (at most half of ``count``),
    then the first right ones, each group in test-set order."""
    wrong = [i for i, (t, p) in enumerate(zip(true, predicted, strict=True)) if t != p]
    right = [i for i, (t, p) in enumerate(zip(true, predicted, strict=True)) if t == p]
    shown = wrong[: count // 2]
    return shown + right[: count - len(shown)]


def _epoch_rows(history: Any, n: int, batch_size: int, epochs: int) -> list[tuple[float, float]]:
    """(loss, accuracy) of each epoch: the step values averaged with the batch sizes as weights
    (the last batch of an epoch may be smaller), so an epoch's figure is over its n samples."""
    per_epoch = -(-n // batch_size)
    sizes = [batch_size] * (per_epoch - 1) + [n - batch_size * (per_epoch - 1)]
    rows = []
    for e in range(epochs):
        k = slice(e * per_epoch, (e + 1) * per_epoch)
        loss = sum(w * v for w, v in zip(sizes, history.loss[k], strict=True)) / n
        accuracy = sum(w * v for w, v in zip(sizes, history.accuracy[k], strict=True)) / n
        rows.append((loss, accuracy))
    return rows


def run_digits_demo(
    epochs: int = DIGITS_EPOCHS,
    batch_size: int = DIGITS_BATCH_SIZE,
    seed: int = 0,
    out: Path = Path("out"),
    stream: TextIO | None = None,
    progress: bool | None = None,
) -> int:
    """Train MLP(64, [32, 10]) on the 8×8 digits with batch replay; print, plot; the status (0).

    The pixels are scaled from 0..16 to 0..1; the 1,797 images are split 80/20 (seeded)
    into a training and a test set. Training: softmax cross-entropy, Adam (lr
    ``DIGITS_LR``), mini-batches of ``batch_size`` reshuffled every epoch, each step
    replayed over the batch as numpy arrays (``nn.train(compile="batch")``). Writes
    ``digits_predictions.png``, ``digits_confusion.png`` and ``digits_training.png``
    into ``out``.
    """
    from nn import MLP, Adam, evaluate, load_digits, predict, train, train_test_split
    from viz.plots import (
        confusion_matrix,
        plot_confusion_matrix,
        plot_digits,
        plot_training_curves,
        require_matplotlib,
    )

    def say(text: str = "") -> None:
        print(text, file=stream or sys.stdout, flush=True)

    pixels, y = load_digits()
    X = [[v / PIXEL_MAX for v in row] for row in pixels]  # intensities 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(X, y, DIGITS_TEST_SIZE, seed=seed)
    model = MLP(len(X[0]), DIGITS_SIZES, init="fan_in", seed=seed)
    n = len(X_train)
    size = min(batch_size, n)
    say(
        f"Training MLP({len(X[0])}, {DIGITS_SIZES}) ({len(model.parameters())} parameters) on "
        f"{n} 8x8 digits ({len(X_test)} held out for the test) for {epochs} epochs "
        f"(seed {seed}): softmax cross-entropy, Adam lr {DIGITS_LR}, mini-batches of {size}, "
        "batch replay"
    )
    started = time.perf_counter()
    history = train(
        model,
        X_train,
        y_train,
        loss="cross_entropy",
        optimizer=Adam(model.parameters(), lr=DIGITS_LR),
        epochs=epochs,
        batch_size=size,
        seed=seed,
        progress=progress,
        compile="batch",
    )
    steps = len(history)
    say(f"trained in {time.perf_counter() - started:.1f} s ({steps} steps, traced once)")
    say(f"{'epoch':>6}  {'loss':>9}  {'accuracy':>8}   (on the training batches)")
    rows = _epoch_rows(history, n, size, epochs)
    for e, (loss, accuracy) in enumerate(rows):
        if e < 3 or (e + 1) % 5 == 0 or e == epochs - 1:
            say(f"{e + 1:>6}  {loss:>9.4f}  {accuracy:>8.1%}")
    test_loss, _ = evaluate(model, X_test, y_test, loss="cross_entropy")
    predicted = [argmax(p) for p in predict(model, X_test)]
    true = [int(t) for t in y_test]
    counts = confusion_matrix(true, predicted, n_classes=DIGITS_SIZES[-1])
    right = sum(counts[k][k] for k in range(len(counts)))
    say(
        f"test set: loss {test_loss:.4f}, accuracy {right / len(true):.1%} "
        f"({right} of {len(true)} right)"
    )

    out.mkdir(parents=True, exist_ok=True)
    try:
        require_matplotlib()
    except ImportError as e:
        say(f"note: no plots: {e}")
        return 0
    shown = pick_shown(true, predicted)
    wrong = len(true) - right
    drawn_wrong = sum(true[i] != predicted[i] for i in shown)
    which = f"all {wrong} wrong" if drawn_wrong == wrong else f"{drawn_wrong} of the {wrong} wrong"
    written = [out / "digits_predictions.png", out / "digits_confusion.png"]
    plot_digits(
        [X_test[i] for i in shown],
        [predicted[i] for i in shown],
        [true[i] for i in shown],
        written[0],
        title=f"{len(shown)} of the {len(true)} test digits with their predicted labels: "
        f"{which} first (red), then right ones",
    )
    plot_confusion_matrix(
        true,
        predicted,
        written[1],
        n_classes=DIGITS_SIZES[-1],
        title=f"test set: {right} of {len(true)} right ({right / len(true):.1%})",
    )
    written.append(out / "digits_training.png")
    plot_training_curves(
        {"loss": [r[0] for r in rows], "accuracy": [r[1] for r in rows]},
        written[-1],
        title=f"MLP(64, {DIGITS_SIZES}) on the digits: mean over each epoch's batches",
        xlabel="epoch",
    )
    say("wrote " + ", ".join(str(p) for p in written))
    return 0
