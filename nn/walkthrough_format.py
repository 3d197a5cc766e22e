"""Rendering a :class:`~nn.walkthrough.StepWalkthrough` as plain text or Markdown.

Text uses the blackboard's notation with superscript layer numbers (z¹, a¹, δ²,
∂J/∂W¹), a table per layer with one row per neuron (vectors are columns in the math),
and matrices drawn row by row with aligned columns. Markdown uses LaTeX matrices
(``bmatrix``) and Markdown tables, with the layer in brackets (z^{[1]}) so that it is
not read as a power.
"""

from __future__ import annotations

import textwrap
from typing import Any, Protocol

__all__ = ["PARTS", "fmt", "to_markdown", "to_text"]

#: The steps of an iteration that ``part=`` selects, in order.
PARTS = ("forward", "backward", "update", "after")

Matrix = list[list[float]]


# What this module reads of a record (read-only, as the record is frozen). It is typed by
# these protocols, not by importing nn.walkthrough (which imports this module): no import
# runs both ways.
class LayerStep(Protocol):
    """The fields of :class:`nn.walkthrough.LayerStep` read here."""

    @property
    def index(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def weights(self) -> Matrix: ...
    @property
    def biases(self) -> list[float] | None: ...
    @property
    def z(self) -> Matrix: ...
    @property
    def a(self) -> Matrix: ...
    @property
    def grad_a(self) -> Matrix: ...
    @property
    def fprime(self) -> Matrix: ...
    @property
    def delta(self) -> Matrix: ...
    @property
    def grad_inputs(self) -> Matrix: ...
    @property
    def grad_weights(self) -> Matrix: ...
    @property
    def grad_biases(self) -> list[float] | None: ...
    @property
    def new_weights(self) -> Matrix: ...
    @property
    def new_biases(self) -> list[float] | None: ...

    @property
    def nin(self) -> int: ...
    @property
    def nout(self) -> int: ...


class StepWalkthrough(Protocol):
    """The fields of :class:`nn.walkthrough.StepWalkthrough` read here."""

    @property
    def inputs(self) -> Matrix: ...
    @property
    def targets(self) -> Any: ...
    @property
    def batch(self) -> bool: ...
    @property
    def loss_name(self) -> str: ...
    @property
    def lr(self) -> float: ...
    @property
    def update_biases(self) -> bool: ...
    @property
    def prediction_before(self) -> Any: ...
    @property
    def loss_before(self) -> float: ...
    @property
    def prediction_after(self) -> Any: ...
    @property
    def loss_after(self) -> float: ...
    @property
    def convention(self) -> str: ...

    @property
    def layers(self) -> list[Any]: ...
    @property
    def architecture(self) -> str: ...
    @property
    def loss_change(self) -> float: ...
    @property
    def convention_note(self) -> str: ...


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def sup(n: int | str) -> str:
    """``n`` in superscript digits: sup(12) == '¹²'."""
    return str(n).translate(_SUPERSCRIPT)


def fmt(v: float, digits: int = 6) -> str:
    """``v`` with ``digits`` significant digits, no trailing zeros, never '-0'."""
    return f"{v + 0.0:.{digits}g}"


def _check_digits(digits: Any) -> int:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"digits must be an int from 1 to 17, got {digits!r}")
    return digits


def _check_part(part: Any) -> None:
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be None or one of {', '.join(PARTS)}, got {part!r}")


def _vector(values: list[float], digits: int, sep: str = "  ") -> str:
    return "[" + sep.join(fmt(v, digits) for v in values) + "]"


def _prediction(p: Any, digits: int, sep: str = "  ") -> str:
    """A prediction: a number, a vector, or (a batch) a list of those."""
    if isinstance(p, list):
        if p and isinstance(p[0], list):
            return ", ".join(_vector(q, digits, sep) for q in p)
        return _vector(p, digits, sep)
    return fmt(p, digits)


def _target(t: Any, sep: str = "  ") -> str:
    """A target as given: numbers as written (an int label stays an int)."""
    if isinstance(t, (list, tuple)):
        return "[" + sep.join(_target(v, sep) for v in t) + "]"
    return fmt(t) if isinstance(t, float) else str(t)


# --- plain text -------------------------------------------------------------------------


def _matrix_block(rows: list[list[float]], digits: int) -> list[str]:
    """A matrix as lines ``[ a  b ]`` with right-aligned columns."""
    cells = [[fmt(v, digits) for v in row] for row in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    return [
        "[ " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " ]"
        for row in cells
    ]


def _hjoin(parts: list[list[str] | str]) -> list[str]:
    """Blocks of lines side by side; a plain string is an operator on the middle row."""
    height = max(len(p) if isinstance(p, list) else 1 for p in parts)
    middle = (height - 1) // 2
    columns = []
    for p in parts:
        if isinstance(p, str):
            block = [" " * len(p)] * height
            block[middle] = p
        else:
            width = max(len(s) for s in p)
            top = (height - len(p)) // 2
            block = [" " * width] * height
            for i, s in enumerate(p):
                block[top + i] = s.ljust(width)
        columns.append(block)
    return ["".join(col[i] for col in columns).rstrip() for i in range(height)]


def _table(headers: list[str], columns: list[list[str]], indent: str) -> list[str]:
    """Right-aligned columns under their headers."""
    widths = [max(len(h), *(len(c) for c in col)) for h, col in zip(headers, columns, strict=True)]
    lines = [indent + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    for i in range(len(columns[0])):
        lines.append(
            indent + "  ".join(col[i].rjust(w) for col, w in zip(columns, widths, strict=True))
        )
    return lines


def _per_example(
    step: StepWalkthrough, name: str, values: list[list[float]], digits: int
) -> tuple[list[str], list[list[str]]]:
    """Headers and columns for one per-example quantity (one column per example)."""
    headers, columns = [], []
    for n, ex in enumerate(values):
        headers.append(f"{name} (ex. {n + 1})" if step.batch else name)
        columns.append([fmt(v, digits) for v in ex])
    return headers, columns


def _layer_forward(step: StepWalkthrough, s: LayerStep, digits: int) -> list[str]:
    k = sup(s.index)
    bias = "no bias" if s.biases is None else "with bias"
    lines = [f"Layer {s.index}: {s.nin} → {s.nout}, {s.activation}, {bias}"]
    blocks: list[list[str] | str] = [f"  W{k} = ", _matrix_block(s.weights, digits)]
    if s.biases is not None:
        blocks += [f"    b{k} = ", _matrix_block([[b] for b in s.biases], digits)]
    lines += _hjoin(blocks)
    headers, columns = ["neuron"], [[str(i + 1) for i in range(s.nout)]]
    a_name = f"a{k}" if step.batch else f"a{k} = {s.activation}(z{k})"
    for name, values in ((f"z{k}", s.z), (a_name, s.a)):
        h, c = _per_example(step, name, values, digits)
        headers += h
        columns += c
    lines += _table(headers, columns, "  ")
    return lines


def _long_table(
    step: StepWalkthrough, key: str, count: int, named: list[tuple[str, Matrix]], digits: int
) -> list[str]:
    """One row per (example, neuron): the per-example quantities of a batch, stacked."""
    headers = (["example"] if step.batch else []) + [key] + [name for name, _ in named]
    columns: list[list[str]] = [[] for _ in headers]
    for n in range(len(step.inputs)):
        for i in range(count):
            cells = ([str(n + 1)] if step.batch else []) + [str(i + 1)]
            cells += [fmt(values[n][i], digits) for _, values in named]
            for col, cell in zip(columns, cells, strict=True):
                col.append(cell)
    return _table(headers, columns, "  ")


def _layer_backward(step: StepWalkthrough, s: LayerStep, digits: int) -> list[str]:
    k = sup(s.index)
    prev = sup(s.index - 1)
    lines = [
        f"Layer {s.index}  (bprop receives ∂J/∂a{k}; returns ∂J/∂W{k}"
        + (f", ∂J/∂b{k}" if s.grad_biases is not None else "")
        + f" and ∂J/∂a{prev})"
    ]
    named = [
        (f"∂J/∂a{k}", s.grad_a),
        (f"f'(z{k})", s.fprime),
        (f"δ{k} = ∂J/∂a{k} ⊙ f'(z{k})", s.delta),
    ]
    lines += _long_table(step, "neuron", s.nout, named, digits)
    per_example = step.batch and step.convention == "per-example"
    mean = "1/n Σᵢ " if per_example else ("Σᵢ " if step.batch else "")
    blocks: list[list[str] | str] = [
        f"  ∂J/∂W{k} = {mean}δ{k} (a{prev})ᵀ = ",
        _matrix_block(s.grad_weights, digits),
    ]
    if s.grad_biases is not None:
        blocks += [
            f"    ∂J/∂b{k} = {mean}δ{k} = ",
            _matrix_block([[g] for g in s.grad_biases], digits),
        ]
    lines += _hjoin(blocks)
    lines += _long_table(
        step, "input", s.nin, [(f"∂J/∂a{prev} = (W{k})ᵀ δ{k}", s.grad_inputs)], digits
    )
    return lines


def _layer_update(step: StepWalkthrough, s: LayerStep, digits: int) -> list[str]:
    k = sup(s.index)
    eta = fmt(step.lr, digits)
    lines = _hjoin(
        [
            f"  W{k} ← ",
            _matrix_block(s.weights, digits),
            f" − {eta} · ",
            _matrix_block(s.grad_weights, digits),
            " = ",
            _matrix_block(s.new_weights, digits),
        ]
    )
    if (
        step.update_biases
        and s.biases is not None
        and s.new_biases is not None
        and s.grad_biases is not None
    ):
        lines += _hjoin(
            [
                f"  b{k} ← ",
                _matrix_block([[b] for b in s.biases], digits),
                f" − {eta} · ",
                _matrix_block([[g] for g in s.grad_biases], digits),
                " = ",
                _matrix_block([[b] for b in s.new_biases], digits),
            ]
        )
    return lines


def _header(step: StepWalkthrough, digits: int) -> list[str]:
    acts = ", ".join(s.activation for s in step.layers)
    title = f"One training step of an MLP {step.architecture} ({acts}), worked through"
    lines = [title, "=" * len(title)]
    lines.append(f"loss: {step.loss_name}    learning rate η = {fmt(step.lr, digits)}")
    if step.batch:
        for n, row in enumerate(step.inputs):
            target = _target(step.targets[n])
            lines.append(f"example {n + 1}: x = {_vector(row, digits)}    target y = {target}")
    else:
        lines.append(
            f"input x = a⁰ = {_vector(step.inputs[0], digits)}    target y = "
            f"{_target(step.targets)}"
        )
    return lines


def _text_forward(step: StepWalkthrough, digits: int) -> list[str]:
    L = len(step.layers)
    out = [f"1. Forward pass:  zˡ = Wˡ aˡ⁻¹ + bˡ,  aˡ = f(zˡ),  ŷ = a{sup(L)}", ""]
    for s in step.layers:
        out += _layer_forward(step, s, digits)
        out.append("")
    out.append(f"prediction ŷ = {_prediction(step.prediction_before, digits)}")
    out.append(f"loss J = {fmt(step.loss_before, digits)}")
    return out


def _text_backward(step: StepWalkthrough, digits: int) -> list[str]:
    out = [
        "2. Backward pass, layer by layer from the output (bprop): layer l receives ∂J/∂aˡ,",
        "   makes δˡ = ∂J/∂zˡ = ∂J/∂aˡ ⊙ f'(zˡ), and returns ∂J/∂Wˡ = δˡ (aˡ⁻¹)ᵀ, ∂J/∂bˡ = δˡ",
        "   and ∂J/∂aˡ⁻¹ = (Wˡ)ᵀ δˡ, which the layer below receives. Every number is read",
        "   from the engine's gradients (x, z and a nodes) and local derivatives (f').",
        *textwrap.wrap(step.convention_note, 88, initial_indent="   ", subsequent_indent="   "),
        "",
    ]
    for s in reversed(step.layers):
        out += _layer_backward(step, s, digits)
        out.append("")
    return out[:-1]


def _text_update(step: StepWalkthrough, digits: int) -> list[str]:
    frozen = "" if step.update_biases else "; biases are not updated"
    out = [
        f"3. Update:  Wˡ ← Wˡ − η ∂J/∂Wˡ,  bˡ ← bˡ − η ∂J/∂bˡ  (η = {fmt(step.lr, digits)}"
        f"{frozen})",
        "",
    ]
    for s in step.layers:
        out += _layer_update(step, s, digits)
        out.append("")
    return out[:-1]


def _text_after(step: StepWalkthrough, digits: int) -> list[str]:
    change = step.loss_change
    return [
        "4. Forward pass again, with the new weights",
        f"prediction ŷ = {_prediction(step.prediction_after, digits)}"
        f"    (before: {_prediction(step.prediction_before, digits)})",
        f"loss J = {fmt(step.loss_after, digits)}    (before: {fmt(step.loss_before, digits)},"
        f" change {fmt(change, digits)}: {'down' if change < 0 else 'not down'})",
    ]


_TEXT_PARTS = {
    "forward": _text_forward,
    "backward": _text_backward,
    "update": _text_update,
    "after": _text_after,
}


def to_text(step: StepWalkthrough, digits: int = 6, part: str | None = None) -> str:
    """The whole iteration as aligned plain text, or its heading and one ``part``."""
    digits = _check_digits(digits)
    _check_part(part)
    out = _header(step, digits)
    for name in PARTS if part is None else (part,):
        out.append("")
        out += _TEXT_PARTS[name](step, digits)
    return "\n".join(out) + "\n"


# --- Markdown ---------------------------------------------------------------------------


def _bmatrix(rows: list[list[float]], digits: int) -> str:
    body = r" \\ ".join(" & ".join(fmt(v, digits) for v in row) for row in rows)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def _md_table(headers: list[str], columns: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" for _ in headers) + "|"]
    for i in range(len(columns[0])):
        lines.append("| " + " | ".join(col[i] for col in columns) + " |")
    return lines


def _md_header(step: StepWalkthrough, digits: int) -> list[str]:
    eta = fmt(step.lr, digits)
    acts = ", ".join(s.activation for s in step.layers)
    out = [
        f"## One training step of an MLP {step.architecture} ({acts}), worked through",
        "",
        f"Loss: `{step.loss_name}`, learning rate $\\eta = {eta}$.",
        "",
    ]
    if step.batch:
        for n, row in enumerate(step.inputs):
            out.append(
                f"- example {n + 1}: $x = {_bmatrix([[v] for v in row], digits)}$, "
                f"target $y = {_target(step.targets[n], ', ')}$"
            )
    else:
        out.append(
            f"Input $x = a^{{[0]}} = {_bmatrix([[v] for v in step.inputs[0]], digits)}$, "
            f"target $y = {_target(step.targets, ', ')}$."
        )
    return out


def _md_forward(step: StepWalkthrough, digits: int) -> list[str]:
    L = len(step.layers)
    out = [
        "### 1. Forward pass",
        "",
        f"$z^{{[l]}} = W^{{[l]}} a^{{[l-1]}} + b^{{[l]}}$, $a^{{[l]}} = f(z^{{[l]}})$, "
        f"$\\hat y = a^{{[{L}]}}$",
        "",
    ]
    for s in step.layers:
        k = s.index
        bias = "no bias" if s.biases is None else "with bias"
        out += [f"**Layer {k}** ({s.nin} → {s.nout}, {s.activation}, {bias})", ""]
        formula = f"$$W^{{[{k}]}} = {_bmatrix(s.weights, digits)}"
        if s.biases is not None:
            formula += f", \\quad b^{{[{k}]}} = {_bmatrix([[b] for b in s.biases], digits)}"
        out += [formula + "$$", ""]
        headers, columns = ["neuron"], [[str(i + 1) for i in range(s.nout)]]
        for name, values in ((f"$z^{{[{k}]}}$", s.z), (f"$a^{{[{k}]}}$", s.a)):
            h, c = _per_example(step, name, values, digits)
            headers += h
            columns += c
        out += [*_md_table(headers, columns), ""]
    out += [
        f"Prediction $\\hat y = {_prediction(step.prediction_before, digits, ', ')}$, "
        f"loss $J = {fmt(step.loss_before, digits)}$.",
    ]
    return out


def _md_backward(step: StepWalkthrough, digits: int) -> list[str]:
    per_example = step.batch and step.convention == "per-example"
    mean = r"\frac{1}{n} \sum_i " if per_example else (r"\sum_i " if step.batch else "")
    out = [
        "### 2. Backward pass",
        "",
        r"Layer by layer from the output (bprop): layer $l$ receives "
        r"$\partial J / \partial a^{[l]}$, makes "
        r"$\delta^{[l]} = \partial J / \partial z^{[l]} = \partial J / \partial a^{[l]} "
        r"\odot f'(z^{[l]})$ and returns "
        rf"$\partial J / \partial W^{{[l]}} = {mean}\delta^{{[l]}} (a^{{[l-1]}})^T$, "
        rf"$\partial J / \partial b^{{[l]}} = {mean}\delta^{{[l]}}$ and "
        r"$\partial J / \partial a^{[l-1]} = (W^{[l]})^T \delta^{[l]}$, which the layer "
        r"below receives. Every number is read from the engine's gradients and local "
        r"derivatives. " + step.convention_note,
        "",
    ]
    for s in reversed(step.layers):
        k = s.index
        out += [f"**Layer {k}**", ""]
        headers, columns = ["neuron"], [[str(i + 1) for i in range(s.nout)]]
        for name, values in (
            (f"$\\partial J / \\partial a^{{[{k}]}}$", s.grad_a),
            (f"$f'(z^{{[{k}]}})$", s.fprime),
            (f"$\\delta^{{[{k}]}}$", s.delta),
        ):
            h, c = _per_example(step, name, values, digits)
            headers += h
            columns += c
        if s.grad_biases is not None:
            headers.append(f"$\\partial J / \\partial b^{{[{k}]}}$")
            columns.append([fmt(v, digits) for v in s.grad_biases])
        out += [*_md_table(headers, columns), ""]
        out += [
            f"$$\\frac{{\\partial J}}{{\\partial W^{{[{k}]}}}} = "
            f"{_bmatrix(s.grad_weights, digits)}$$",
            "",
        ]
        h, c = _per_example(
            step, f"$\\partial J / \\partial a^{{[{k - 1}]}}$", s.grad_inputs, digits
        )
        out += [*_md_table(["input", *h], [[str(j + 1) for j in range(s.nin)], *c]), ""]
    return out[:-1]


def _md_update(step: StepWalkthrough, digits: int) -> list[str]:
    eta = fmt(step.lr, digits)
    frozen = " Biases are not updated." if not step.update_biases else ""
    out = [
        "### 3. Update",
        "",
        f"$W^{{[l]}} \\leftarrow W^{{[l]}} - \\eta \\, \\partial J / \\partial W^{{[l]}}$ "
        f"with $\\eta = {eta}$.{frozen}",
        "",
    ]
    for s in step.layers:
        k = s.index
        out += [
            f"$$W^{{[{k}]}} \\leftarrow {_bmatrix(s.weights, digits)} - {eta} "
            f"{_bmatrix(s.grad_weights, digits)} = {_bmatrix(s.new_weights, digits)}$$",
            "",
        ]
        if (
            step.update_biases
            and s.biases is not None
            and s.new_biases is not None
            and s.grad_biases is not None
        ):
            col = [[b] for b in s.biases]
            out += [
                f"$$b^{{[{k}]}} \\leftarrow {_bmatrix(col, digits)} - {eta} "
                f"{_bmatrix([[g] for g in s.grad_biases], digits)} = "
                f"{_bmatrix([[b] for b in s.new_biases], digits)}$$",
                "",
            ]
    return out[:-1]


def _md_after(step: StepWalkthrough, digits: int) -> list[str]:
    return [
        "### 4. Forward pass again",
        "",
        f"Prediction $\\hat y = {_prediction(step.prediction_after, digits, ', ')}$ "
        f"(before: ${_prediction(step.prediction_before, digits, ', ')}$), "
        f"loss $J = {fmt(step.loss_after, digits)}$ (before: ${fmt(step.loss_before, digits)}$, "
        f"change ${fmt(step.loss_change, digits)}$).",
    ]


_MD_PARTS = {
    "forward": _md_forward,
    "backward": _md_backward,
    "update": _md_update,
    "after": _md_after,
}


def to_markdown(step: StepWalkthrough, digits: int = 6, part: str | None = None) -> str:
    """The iteration as Markdown, matrices in LaTeX (``$$\\begin{bmatrix}...``).

    The whole of it, or the heading and one ``part`` (see :data:`PARTS`).
    """
    digits = _check_digits(digits)
    _check_part(part)
    out = _md_header(step, digits)
    for name in PARTS if part is None else (part,):
        out.append("")
        out += _MD_PARTS[name](step, digits)
    return "\n".join(out) + "\n"
