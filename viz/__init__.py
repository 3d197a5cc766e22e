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
``viz.render(y, "graph.svg")`` writes a picture. The plots
(``viz.plot_decision_boundary``, ``viz.plot_training_curves``) need matplotlib
(``pip install 'chainrule[plot]'``), which is imported only when they are called.
``viz.step_through(y)`` records the forward and backward pass node by node and
shows them as a page to step through (``.save("steps.html")``, inline in Jupyter,
``.save_frames(dir)`` for slides).
"""

from viz.dot import draw_dot, to_dot
from viz.graph import DEFAULT_MAX_NODES, Edge, Graph, Node, collect
from viz.plots import plot_decision_boundary, plot_training_curves
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
    "plot_decision_boundary",
    "plot_training_curves",
    "render",
    "to_dot",
    "StepThrough",
    "step_through",
]
