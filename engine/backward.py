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
starts every node's grad at 0, propagates, and then adds back what each node held
before (only the non-zero ones are saved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.value import Value

__all__ = ["toposort", "backward"]


def toposort(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each once, parents before children, root last."""
    order: list[Value] = []
    append = order.append
    seen = {root}
    stack = [root]
    push = stack.append
    pop = stack.pop
    # Depth-first: the top node stays on the stack until all its parents are emitted.
    # A node is marked when pushed; a marked parent of the top node is always already
    # emitted (were it still on the stack below, the graph would have a cycle).
    while stack:
        node = stack[-1]
        a = node._a
        if a is not None:
            if a not in seen:
                seen.add(a)
                push(a)
                continue
            if node._db is not None:
                b = node._b
                if b not in seen:
                    seen.add(b)
                    push(b)
                    continue
        pop()
        append(node)
    return order


def backward(root: Value, gradient: float = 1.0) -> None:
    """Accumulate d(root)/d(node) * ``gradient`` into ``node.grad`` for every node."""
    if isinstance(gradient, bool) or not isinstance(gradient, (int, float)):
        raise TypeError(f"backward() gradient must be a number, not {gradient!r}")
    if gradient - gradient != 0:  # inf or nan would poison every grad silently
        raise ValueError(f"backward() gradient must be finite, got {gradient!r}")
    # The same walk as toposort(), fused with the bookkeeping of this pass, because
    # it is the hot path: instead of a set of visited nodes, a node's grad field is
    # the mark (None while it waits on the stack, ``done`` once emitted), and its old
    # grad is saved (when non-zero) to be added back after the pass. ``done`` is a
    # float 0.0 object made for this call, so marks of earlier passes mean nothing.
    done = float("0")
    saved: list[tuple[Value, float]] = []
    order: list[Value] = []
    append = order.append
    stack = [root]
    push = stack.append
    pop = stack.pop
    g = root.grad
    if g:
        saved.append((root, g))
    root.grad = None  # type: ignore[assignment]
    try:
        while stack:
            node = stack[-1]
            a = node._a
            if a is not None:
                g = a.grad
                if g is not None and g is not done:
                    if g:
                        saved.append((a, g))
                    if a._a is None:  # a leaf is done at once: it passes nothing on,
                        a.grad = done  # so it needs no place in the order
                    else:
                        a.grad = None
                        push(a)
                        continue
                if node._db is not None:
                    b = node._b
                    g = b.grad
                    if g is not None and g is not done:
                        if g:
                            saved.append((b, g))
                        if b._a is None:
                            b.grad = done
                        else:
                            b.grad = None
                            push(b)
                            continue
            pop()
            node.grad = done
            append(node)
    except BaseException:  # e.g. KeyboardInterrupt: leave no node marked
        for node in order + stack:
            node.grad = 0.0
        for node, old in saved:
            node.grad = old
        raise
    # the chain rule: each node passes its gradient to its parents, times the local
    # derivative its op recorded when it ran (``order`` holds no leaf but the root)
    root.grad = float(gradient)
    if root._a is None:
        order.pop()
    for node in reversed(order):
        a = node._a
        g = node.grad
        a.grad += g * node._da
        db = node._db
        if db is not None:
            node._b.grad += g * db
    for node, old in saved:
        node.grad += old
