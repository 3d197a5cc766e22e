"""Topological order and the eager backward pass.

Both walks are iterative, with an explicit stack, so a graph's depth is limited by
memory, not by Python's recursion limit (micrograd's recursive walk fails near
1,000 nested ops; a 1,000,000-op chain works here).

The backward pass is one generic loop: every node already holds its local
derivatives as numbers (recorded by the op when it ran), so the chain rule is
``parent.grad += node.grad * local``.

A second ``backward()`` must add exactly the same amounts again, to leaves and
intermediates alike. Propagating ``node.grad`` directly would re-send an
intermediate's *accumulated* grad (micrograd triples on the second call), so a pass
first sets every node's grad to 0, propagates, and then adds back what each node
held before. When nothing was held (the common case) the last step is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.value import Value

__all__ = ["toposort", "backward"]

_MARK = object()  # on the stack: "the node below me has had all its parents emitted"


def toposort(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each once, parents before children, root last."""
    order: list[Value] = []
    append = order.append
    expanded: set[Value] = set()
    stack: list[object] = [root]
    pop = stack.pop
    push = stack.append
    # A node is marked when it is expanded, not when it is pushed: a node reached
    # twice before its expansion sits on the stack twice and the second copy is
    # skipped; marking at push time would let a child be emitted before it.
    while stack:
        node = pop()
        if node is _MARK:
            append(pop())  # type: ignore[arg-type]
            continue
        if node in expanded:
            continue
        expanded.add(node)  # type: ignore[arg-type]
        push(node)
        push(_MARK)
        a = node._a  # type: ignore[attr-defined]
        if a is not None:
            if a not in expanded:
                push(a)
            if node._db is not None:  # type: ignore[attr-defined]
                b = node._b  # type: ignore[attr-defined]
                if b not in expanded:
                    push(b)
    return order


def backward(root: Value, gradient: float = 1.0) -> None:
    """Accumulate d(root)/d(node) * ``gradient`` into ``node.grad`` for every node."""
    if isinstance(gradient, bool) or not isinstance(gradient, (int, float)):
        raise TypeError(f"backward() gradient must be a number, not {gradient!r}")
    order = toposort(root)
    before = [node.grad for node in order]
    for node in order:
        node.grad = 0.0
    root.grad = float(gradient)
    for node in reversed(order):
        a = node._a
        if a is None:
            continue
        g = node.grad
        a.grad += g * node._da
        db = node._db
        if db is not None:
            node._b.grad += g * db
    if any(before):
        for node, old in zip(order, before):
            node.grad += old
