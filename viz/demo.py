"""The main job of ``chainrule demo``: train on moons, then write plots and a graph.

micrograd's demo, with chainrule's pieces: ``MLP(2, [16, 16, 1])`` (relu hidden
layers, a raw score out), 100 moons points with noise 0.1, the hinge loss with an
L2 penalty of 1e-4, SGD with the learning rate decaying linearly from 1.0 to 0.1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["NOISE", "N_POINTS", "RESOLUTION", "neuron_graph", "run_demo"]

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
    steps: int = 100,
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
