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
``viz.plot_training_curves``, ``viz.plot_nudge``) need matplotlib
(``pip install 'chainrule[plot]'``), which is imported only when they are called.
``viz.step_through(y)`` records the forward and backward pass node by node and
shows them as a page to step through (``.save("steps.html")``, inline in Jupyter,
``.save_frames(dir)`` for slides).
``viz.layer_view_dot(record)`` draws a network as layers from a walkthrough record
(``viz.render_layer_view`` writes it, ``viz.draw_layer_view`` shows it in Jupyter).
"""

from viz.dot import draw_dot, to_dot
from viz.graph import DEFAULT_MAX_NODES, Edge, Graph, Node, collect
from viz.layer_view import draw_layer_view, layer_view_dot, render_layer_view
from viz.plots import plot_decision_boundary, plot_nudge, plot_training_curves
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
    "draw_dot",
    "draw_layer_view",
    "layer_view_dot",
    "plot_nudge",
    "render_layer_view",
    "plot_decision_boundary",
    "plot_training_curves",
    "render",
    "to_dot",
    "StepThrough",
    "step_through",
]
