"""``gradients``: derivatives of one output with respect to chosen inputs.

The shape of PyTorch's ``torch.autograd.grad``. Unlike ``Value.backward()`` it
touches no ``.grad`` field: the result is returned.

With ``create_graph=True`` each op's derivative rule (:mod:`engine.ops`) is called
on the node's parents as Values, so every returned gradient is itself a Value with
a graph, ready to be differentiated again (second and higher derivatives).

The walk reads each node's public ``.parents`` and ``.local_grads`` (and ``.param``,
the constant a parametrised op's rule needs), in :func:`engine.backward.toposort`'s
order: the order in which ``backward()`` adds, so the floats agree to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine import value as _value
from engine.backward import toposort
from engine.ops import lookup
from engine.value import Value

__all__ = ["gradients"]


def _as_inputs(inputs: Value | Sequence[Value]) -> tuple[Value, ...]:
    if isinstance(inputs, Value):
        return (inputs,)
    try:
        items = tuple(inputs)
    except TypeError:
        raise TypeError(
            f"inputs must be a Value or a sequence of Values, not {type(inputs).__name__}"
        ) from None
    for i, x in enumerate(items):
        if not isinstance(x, Value):
            raise TypeError(f"inputs[{i}] must be a Value, not {type(x).__name__} ({x!r})")
    return items


def _times(g: Any, d: Any) -> Any:
    """g * d, without building a node for a constant local derivative of 1."""
    if type(d) is float and d == 1.0:
        return g
    return g * d


def gradients(
    output: Value, inputs: Value | Sequence[Value], create_graph: bool = False
) -> tuple[Any, ...]:
    """d(output)/d(x) for each x in ``inputs``.

    Returns a tuple of floats, or of Values carrying their own graph when
    ``create_graph`` is true. An input the output does not depend on gets 0
    (as in JAX; PyTorch would raise without ``allow_unused``).
    """
    if not isinstance(output, Value):
        raise TypeError(f"output must be a Value, not {type(output).__name__} ({output!r})")
    if not create_graph:
        _value.trace_event("gradients() as floats")
    xs = _as_inputs(inputs)
    order = toposort(output)
    grads: dict[Value, Any] = {output: 1.0}
    get = grads.get
    for node in reversed(order):
        g = get(node)
        parents = node.parents
        if g is None or not parents:
            continue
        if create_graph:
            # the rule's second argument: the second parent, or the op's constant
            y = parents[1] if len(parents) == 2 else node.param
            locals_ = lookup(node.op).local_derivatives(parents[0], y, node)
        else:
            locals_ = node.local_grads
        for parent, d in zip(parents, locals_):
            if type(d) is float and d == 0.0:
                continue
            contribution = _times(g, d)
            old = get(parent)
            if old is not None:
                grads[parent] = old + contribution
            elif create_graph:
                grads[parent] = contribution
            else:  # a float sum starts at 0.0, as backward()'s does (0.0 + -0.0 is 0.0)
                grads[parent] = 0.0 + contribution
    result: list[Any] = []
    for x in xs:
        g = grads.get(x, 0.0)
        if create_graph and not isinstance(g, Value):
            g = Value(g)
        elif not create_graph:
            g = float(g)
            if g - g != 0.0:
                name = repr(x.label) if x.label else f"input {len(result)}"
                raise OverflowError(
                    f"gradients(): d(output)/d({name}) comes out as {g!r}: a product of "
                    "local derivatives overflows float64; scale the output down"
                )
        result.append(g)
    return tuple(result)
