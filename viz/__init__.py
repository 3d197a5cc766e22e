"""chainrule's pictures and command line, built on :mod:`engine` and :mod:`nn`.

>>> from engine import Value
>>> import viz
>>> x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
>>> y = (x * w + b).tanh()
>>> y.backward()
>>> text = viz.to_dot(y, show_edge_grads=True)   # DOT text, no Graphviz program needed
>>> text.startswith("digraph {")
True

``viz.draw_dot(y)`` returns a ``graphviz.Digraph`` (shown inline by Jupyter) and
``viz.render(y, "graph.svg")`` writes a picture. The plots (``viz.plot_decision_boundary``,
``viz.plot_training_curves``, ``viz.plot_nudge``, ``viz.plot_digits``,
``viz.plot_confusion_matrix``) need matplotlib
(``pip install 'chainrule[plot]'``), which is imported only when they are called.
``viz.step_through(y)`` records the forward and backward pass node by node and
shows them as a page to step through (``.save("steps.html")``, inline in Jupyter,
``.save_frames(dir)`` for slides).
``viz.layer_view_dot(record)`` draws a network as layers from a walkthrough record
(``viz.render_layer_view`` writes it, ``viz.draw_layer_view`` shows it in Jupyter).
"""

# ruff: noqa: E402  (the check runs before the imports it protects)


def _check_not_shadowed(*names: str) -> None:
    """Refuse a module that hides one of chainrule's packages (a student's ``engine.py``).

    micrograd's files are ``engine.py`` and ``nn.py``; one of them in the working
    directory (or the script's folder) comes first on ``sys.path`` and would be
    imported in place of chainrule's package, failing later with a puzzling error.
    """
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            origin = getattr(module, "__file__", None)
        else:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
        expected = root / name / "__init__.py"
        if origin is not None and Path(origin).resolve() == expected:
            continue
        where = origin or "a folder without __init__.py"
        raise ImportError(
            f"chainrule's {__name__} needs chainrule's {name!r} package ({expected}), but "
            f"Python finds another {name!r} first: {where}. A file or folder named {name} in "
            "the working directory (or the script's folder) hides chainrule's; rename it "
            f"(e.g. {name}.py to my_{name}.py) or run Python from another directory."
        )


_check_not_shadowed("engine", "nn")

from viz.dot import draw_dot, to_dot
from viz.graph import DEFAULT_MAX_NODES, Edge, Graph, Node, collect
from viz.layer_view import draw_layer_view, layer_view_dot, render_layer_view
from viz.plots import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_digits,
    plot_nudge,
    plot_training_curves,
)
from viz.render import GraphvizError, GraphvizNotFoundError, render
from viz.step_page import StepThrough, step_through

__all__ = [
    "DEFAULT_MAX_NODES",
    "Edge",
    "Graph",
    "GraphvizError",
    "GraphvizNotFoundError",
    "Node",
    "collect",
    "confusion_matrix",
    "draw_dot",
    "draw_layer_view",
    "layer_view_dot",
    "plot_nudge",
    "render_layer_view",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_digits",
    "plot_training_curves",
    "render",
    "to_dot",
    "StepThrough",
    "step_through",
]
