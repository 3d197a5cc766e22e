"""Step through backpropagation in a browser: one self-contained HTML page.

:func:`step_through` records the forward and backward pass of a graph
(:mod:`viz.steps`) and returns a :class:`StepThrough`, which

* writes one HTML file (:meth:`StepThrough.save`) that works offline, from disk: the
  graph drawn once by Graphviz as inline SVG (:mod:`viz.step_svg`), buttons and arrow
  keys to step back and forth, a play button, the current node highlighted and the
  step's formula written out with its numbers beside the graph. No CDN, no server,
  no external file: the styles, the script and the data are in the page;
* shows the same page inline in Jupyter (``_repr_html_``, in an iframe's ``srcdoc``);
* writes one SVG per step for slides (:meth:`StepThrough.save_frames`).

User text (labels, parameter names, the title) reaches the page only as escaped
text: inside the SVG as XML character data, in the HTML through ``html.escape``, and
in the data block as JSON with ``< > &`` and U+2028/U+2029 written as ``\\uXXXX``
escapes, so no label can end the ``<script>`` element; the script writes it with
``textContent``, never as markup.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

from engine import Value
from viz.dot import RANKDIRS, Fmt, number_formatter
from viz.graph import DEFAULT_MAX_NODES, GroupBy
from viz.render import INSTALL_HINT, GraphvizNotFoundError, write_atomic
from viz.step_svg import CSS, PENDING, SvgDrawing, draw_steps, frames, state
from viz.steps import BackwardStep, ForwardStep, Steps, record_steps

__all__ = ["StepThrough", "json_for_script", "step_through"]


def json_for_script(data: Any) -> str:
    """``data`` as JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e``, ``\\u0026`` (no ``</script>``
    or ``<!--`` can appear) and the line separators U+2028, U+2029 are escaped too.
    ``JSON.parse`` reads the same values back.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _note(steps: Steps, index: int) -> str:
    """A sentence on what step ``index`` does."""
    step = steps.steps[index]
    name = steps.names[step.node]
    if isinstance(step, ForwardStep):
        if not step.inputs:
            return f"{name} is a {step.kind}: its value is given."
        return f"forward pass: {name} is computed from its operands (highlighted in blue)."
    assert isinstance(step, BackwardStep)
    if not step.terms:
        return f"backward() starts at the output with the seed d{name}/d{name} = 1."
    uses = {t.use for t in step.terms}
    share = "its use has" if len(uses) == 1 else f"all {len(uses)} of its uses have"
    is_leaf = any(f.node == step.node and not f.inputs for f in steps.forward)
    leaf = " This is what backward() adds to its .grad." if is_leaf else ""
    return (
        f"backward pass: {share} passed their share, so grad({name}) is final: the sum of "
        f"grad(use) × the local derivative ∂use/∂{name} over each use.{leaf}"
    )


def _page_data(steps: Steps, drawing: SvgDrawing, fmt: Fmt) -> dict[str, Any]:
    number = number_formatter(fmt)
    items = []
    for i, (step, (formula, numbers)) in enumerate(
        zip(steps.steps, steps.lines(number), strict=True)
    ):
        st = state(steps, i)
        exact = step.data if isinstance(step, ForwardStep) else step.grad
        items.append(
            {
                "phase": st.phase,
                "node": step.node,
                "name": steps.names[step.node],
                "formula": formula,
                "numbers": numbers,
                "exact": repr(exact),
                "note": _note(steps, i),
                "used": sorted(st.used),
                "edges": sorted([list(e) for e in st.active_edges]),
            }
        )
    nodes = {n: {"data": drawing.data[n], "grad": drawing.grad[n]} for n in drawing.data}
    return {"steps": items, "nodes": nodes, "pending": PENDING, "forward": len(steps.forward)}


PAGE_CSS = """
:root { --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --accent: #f59e0b; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: var(--ink); background: #fff; }
header { padding: 12px 18px 6px; display: flex; align-items: baseline; gap: 14px;
  flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
header .expr { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 15px;
  color: #334155; background: #f1f5f9; padding: 2px 8px; border-radius: 6px; }
.controls { display: flex; align-items: center; gap: 6px; padding: 6px 18px 10px;
  border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.controls button { font: inherit; font-size: 14px; padding: 4px 12px; border-radius: 6px;
  border: 1px solid #cbd5e1; background: #f8fafc; cursor: pointer; }
.controls button:hover { background: #e2e8f0; }
.controls button:disabled { opacity: 0.4; cursor: default; }
#counter { margin-left: 10px; font-variant-numeric: tabular-nums; color: #334155; }
.phase { font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px;
  text-transform: uppercase; letter-spacing: 0.04em; }
.phase.forward { background: #dbeafe; color: #1d4ed8; }
.phase.backward { background: #fee2e2; color: #b91c1c; }
.keys { color: var(--muted); font-size: 12px; margin-left: auto; }
main { display: flex; gap: 0; align-items: stretch; height: calc(100vh - 96px); }
#graph { flex: 1 1 auto; padding: 14px; overflow: auto; min-width: 0; }
#graph .canvas { margin: 0 auto; }
#graph svg { width: 100%; height: auto; display: block; }
#panel { flex: 0 0 380px; width: 380px; min-width: 0; overflow: auto;
  border-left: 1px solid var(--line); padding: 14px 18px; background: #fcfcfd; }
#step-title { font-size: 13px; color: var(--muted); margin: 0 0 8px; font-weight: 500; }
.formula, .numbers { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 15px; line-height: 1.45; overflow-wrap: anywhere; white-space: pre-wrap; }
.formula { color: var(--ink); }
.numbers { color: #b45309; font-weight: 600; margin-top: 2px; }
.exact { font-size: 12px; color: var(--muted); margin-top: 6px; }
.exact span { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
#step-note { font-size: 13px; color: #334155; line-height: 1.45; margin: 10px 0 12px; }
#history { list-style: none; margin: 0; padding: 0; max-height: 300px; overflow: auto;
  border-top: 1px solid var(--line); font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12px; }
#history li { padding: 3px 6px; cursor: pointer; color: #94a3b8; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; border-radius: 4px; }
#history li.done { color: #475569; }
#history li.current { background: #fef3c7; color: var(--ink); font-weight: 600; }
#history li.sep { cursor: default; color: var(--muted); font-family: system-ui, sans-serif;
  font-weight: 600; padding-top: 8px; }
.legend { margin: 14px auto 0; font-size: 12px; color: var(--muted); display: flex;
  flex-wrap: wrap; gap: 6px 22px; justify-content: center; }
.legend b { display: inline-block; width: 14px; height: 10px; border-radius: 3px;
  margin-right: 6px; vertical-align: middle; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("steps-data").textContent);
  var steps = D.steps, n = steps.length, k = 0, timer = null;
  var fwd = {}, bwd = {};
  steps.forEach(function (s, i) { (s.phase === "forward" ? fwd : bwd)[s.node] = i; });
  function el(id) { return document.getElementById(id); }
  var edges = Array.prototype.slice.call(document.querySelectorAll("#graph g.edge"));
  var marked = [];
  var history = el("history"), items = [];
  steps.forEach(function (s, i) {
    if (i === 0 || i === D.forward) {
      var sep = document.createElement("li");
      sep.className = "sep";
      sep.textContent = i === 0 ? "forward pass" : "backward pass";
      history.appendChild(sep);
    }
    var li = document.createElement("li");
    li.textContent = (i + 1) + ". " + s.formula;
    li.addEventListener("click", function () { stop(); show(i); });
    history.appendChild(li);
    items.push(li);
  });
  function toggle(node, cls, on) { if (node) { node.classList.toggle(cls, on); } }
  function show(i) {
    k = Math.max(0, Math.min(n - 1, i));
    var s = steps[k];
    marked.forEach(function (node) { node.classList.remove("used", "current"); });
    marked = [];
    Object.keys(D.nodes).forEach(function (id) {
      var known = fwd[id] <= k, knownGrad = bwd[id] <= k;
      var g = el("v-" + id), op = el("v-" + id + "-op");
      el("v-" + id + "-data").textContent = known ? D.nodes[id].data : D.pending;
      var gt = el("v-" + id + "-grad");
      gt.textContent = knownGrad ? D.nodes[id].grad : D.pending;
      toggle(gt, "known", knownGrad);
      toggle(g, "pending", !known);
      toggle(g, "nograd", known && !knownGrad);
      toggle(op, "pending", !known);
    });
    function mark(node, cls) { if (node) { node.classList.add(cls); marked.push(node); } }
    s.used.forEach(function (id) {
      mark(/_op$/.test(id) ? el("v-" + id.slice(0, -3) + "-op") : el("v-" + id), "used");
    });
    mark(el("v-" + s.node), "current");
    var box = el("graph"), cur = el("v-" + s.node).getBoundingClientRect();
    var view = box.getBoundingClientRect();
    if (cur.left < view.left || cur.right > view.right) {
      box.scrollLeft += cur.left - view.left - (view.width - cur.width) / 2;
    }
    if (cur.top < view.top || cur.bottom > view.bottom) {
      box.scrollTop += cur.top - view.top - (view.height - cur.height) / 2;
    }
    if (s.phase === "forward") { mark(el("v-" + s.node + "-op"), "current"); }
    var active = {};
    s.edges.forEach(function (e) { active[e[0] + "->" + e[1]] = true; });
    edges.forEach(function (e) {
      toggle(e, "active", !!active[e.getAttribute("data-src") + "->" + e.getAttribute("data-dst")]);
    });
    el("counter").textContent = "step " + (k + 1) + " of " + n;
    var phase = el("phase");
    phase.textContent = s.phase + " pass";
    phase.className = "phase " + s.phase;
    el("step-title").textContent = s.phase === "forward"
      ? "computing " + s.name : "the gradient of " + s.name;
    el("step-formula").textContent = s.formula;
    el("step-numbers").textContent = s.numbers;
    el("step-exact").textContent = s.exact;
    el("step-note").textContent = s.note;
    document.body.setAttribute("data-step", String(k));
    document.body.setAttribute("data-node", s.node);
    items.forEach(function (li, j) {
      li.classList.toggle("current", j === k);
      li.classList.toggle("done", j < k);
    });
    var top = items[k].offsetTop - history.offsetTop;
    if (top < history.scrollTop || top > history.scrollTop + history.clientHeight - 24) {
      history.scrollTop = top - history.clientHeight / 2;
    }
    el("prev").disabled = el("first").disabled = k === 0;
    el("next").disabled = el("last").disabled = k === n - 1;
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    el("play").textContent = "\u25B6 play";
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (k === n - 1) { show(0); }
    el("play").textContent = "\u275A\u275A pause";
    timer = setInterval(function () {
      if (k >= n - 1) { stop(); } else { show(k + 1); }
    }, 1100);
  }
  el("first").addEventListener("click", function () { stop(); show(0); });
  el("prev").addEventListener("click", function () { stop(); show(k - 1); });
  el("next").addEventListener("click", function () { stop(); show(k + 1); });
  el("last").addEventListener("click", function () { stop(); show(n - 1); });
  el("play").addEventListener("click", play);
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var key = e.key;
    if (key === "ArrowRight" || key === "ArrowDown" || key === "PageDown") { stop(); show(k + 1); }
    else if (key === "ArrowLeft" || key === "ArrowUp" || key === "PageUp") { stop(); show(k - 1); }
    else if (key === "Home") { stop(); show(0); }
    else if (key === "End") { stop(); show(n - 1); }
    else if (key === " " || key === "p") { play(); }
    else { return; }
    e.preventDefault();
  });
  show(0);
})();
"""

LEGEND = (
    '<div class="legend">'
    '<div><b style="background:#fef9c3;border:2px solid #f59e0b"></b>this step\'s node</div>'
    '<div><b style="border:2px solid #2563eb"></b>what it is computed from</div>'
    '<div><b style="border:1px dashed #64748b"></b>grad ? : not reached yet '
    "(a reached grad of 0 shows 0)</div>"
    '<div><b style="background:#e2e8f0;opacity:.4"></b>not computed yet</div>'
    "</div>"
)


def _page(steps: Steps, drawing: SvgDrawing, fmt: Fmt, title: str) -> str:
    data = json_for_script(_page_data(steps, drawing, fmt))
    heading = html.escape(title)
    # Fit the graph to the window, but shrink it to no less than 3/4 of its size
    # (the numbers must stay readable; a larger graph scrolls instead) and grow it to
    # no more than 1.6 times.
    natural = _points(drawing.svg, "width") * 4 / 3  # pt to px
    min_width, max_width = round(0.75 * natural), round(1.6 * natural)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{heading} · backprop step by step</title>\n"
        f"<style>{PAGE_CSS}{CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>Backprop, step by step</h1><span class="expr">{heading}</span></header>\n'
        '<div class="controls">'
        '<button id="first" title="first step (Home)">\u00ab first</button>'
        '<button id="prev" title="one step back (\u2190)">\u25c0 back</button>'
        '<button id="play" title="play / pause (space)">\u25b6 play</button>'
        '<button id="next" title="one step on (\u2192)">next \u25b6</button>'
        '<button id="last" title="last step (End)">last \u00bb</button>'
        '<span id="counter"></span><span id="phase" class="phase"></span>'
        '<span class="keys">\u2190 \u2192 step, space plays</span></div>\n'
        f'<main><div id="graph"><div class="canvas" '
        f'style="min-width:{min_width}px;max-width:{max_width}px">'
        f"{drawing.svg}</div>{LEGEND}</div>\n"
        '<aside id="panel"><h2 id="step-title"></h2>'
        '<div id="step-formula" class="formula"></div>'
        '<div id="step-numbers" class="numbers"></div>'
        '<div class="exact">exact value: <span id="step-exact"></span></div>'
        '<p id="step-note"></p><ol id="history"></ol>'
        "</aside></main>\n"
        f'<script type="application/json" id="steps-data">{data}</script>\n'
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _points(svg: str, attribute: str) -> float:
    """The ``width`` or ``height`` Graphviz gave the picture, in points."""
    match = re.search(rf'<svg[^>]*\s{attribute}="([0-9.]+)pt"', svg)
    if match is None:
        raise RuntimeError(f"Graphviz's SVG has no {attribute} in points")
    return float(match.group(1))


class StepThrough:
    """A recorded forward and backward pass, ready to be shown (see the module doc).

    ``steps`` is the record (:class:`viz.steps.Steps`); ``len()`` is the number of
    steps. The page is drawn (Graphviz runs) the first time it is asked for.
    """

    def __init__(
        self, steps: Steps, *, rankdir: str = "LR", fmt: Fmt = "{:.4g}", title: str = ""
    ) -> None:
        if rankdir not in RANKDIRS:
            raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
        number_formatter(fmt)  # a bad format fails here, not when drawing
        self.steps = steps
        self.rankdir = rankdir
        self.fmt = fmt
        self.title = title or steps.names[steps.graph.root]
        self._drawing: SvgDrawing | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return (
            f"<StepThrough {self.title!r}: {len(self.steps.forward)} forward and "
            f"{len(self.steps.backward)} backward steps>"
        )

    def drawing(self) -> SvgDrawing:
        """The graph laid out once by Graphviz (needs ``dot``), tagged for stepping."""
        if self._drawing is None:
            self._drawing = draw_steps(self.steps, rankdir=self.rankdir, fmt=self.fmt)
        return self._drawing

    def to_text(self) -> str:
        """Every step as a line of text (no Graphviz needed)."""
        return self.steps.to_text(number_formatter(self.fmt))

    def to_html(self) -> str:
        """The self-contained page."""
        return _page(self.steps, self.drawing(), self.fmt, self.title)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` with :func:`nn.atomic.write_atomic` (a regular file
        is replaced atomically, a symlink followed, a device or FIFO written in place)."""
        target = Path(path)
        write_atomic(target, self.to_html().encode("utf-8"))
        return target

    def save_frames(self, directory: str | os.PathLike[str]) -> list[Path]:
        """One SVG per step, ``step_001.svg`` ..., into ``directory`` (made if missing,
        its parent must exist; other files in it are left alone). Returns the paths."""
        folder = Path(directory)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is not a directory")
        if not folder.parent.is_dir():
            raise FileNotFoundError(f"the parent of {str(folder)!r} does not exist")
        docs = frames(self.steps, self.drawing(), self.fmt)
        folder.mkdir(exist_ok=True)
        width = max(3, len(str(len(docs))))
        paths = []
        for i, doc in enumerate(docs):
            target = folder / f"step_{i + 1:0{width}d}.svg"
            write_atomic(target, doc.encode("utf-8"))
            paths.append(target)
        return paths

    def _repr_html_(self) -> str:
        """The page inside an iframe (Jupyter): click it, then use the arrow keys.

        Without Graphviz the steps are shown as text, with a note saying how to get
        the picture (a notebook keeps running).
        """
        try:
            drawing = self.drawing()
        except GraphvizNotFoundError:
            return (
                f"<p><b>No picture</b>: the Graphviz 'dot' program is missing "
                f"({html.escape(INSTALL_HINT)}). The steps as text:</p>"
                f"<pre>{html.escape(self.to_text())}</pre>"
            )
        height = int(min(900, max(520, _points(drawing.svg, "height") * 4 / 3 + 170)))
        return (
            f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
            f'style="width:100%;height:{height}px;border:1px solid #e2e8f0;border-radius:6px" '
            'sandbox="allow-scripts" title="backprop step by step"></iframe>'
        )


def step_through(
    root: Value,
    *,
    module: Any = None,
    group_by: GroupBy = "neuron",
    rankdir: str = "LR",
    fmt: Fmt = "{:.4g}",
    max_nodes: int | None = DEFAULT_MAX_NODES,
    title: str = "",
) -> StepThrough:
    """Record ``root``'s forward and backward pass, to be stepped through.

    Touches no ``.grad``: the recorded gradients are those one ``backward()`` would
    add, checked against :func:`engine.gradients`. ``module`` (e.g. an ``nn.MLP``)
    names the parameters and keeps each neuron (``group_by="layer"``: each layer) in a
    frame, as :func:`viz.to_dot` does; ``fmt`` formats the numbers shown (the exact
    value is shown too); ``title`` heads the page (default: the root's name).

    >>> from engine import Value
    >>> x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    >>> st = step_through((x * w).tanh())
    >>> len(st), x.grad
    (8, 0.0)
    >>> print(st.to_text().splitlines()[-1])
       8  grad(w) = grad(n2) × ∂n2/∂w  = 2.458e-05 × 2 = 4.915e-05
    """
    steps = record_steps(root, module=module, group_by=group_by, max_nodes=max_nodes)
    return StepThrough(steps, rankdir=rankdir, fmt=fmt, title=title)
