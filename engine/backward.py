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


class _Mark(float):
    """A float 0.0 compared by identity: marks a node as reached by *this* pass."""

    __slots__ = ()


def _old_grad(node: Value, g: object) -> float:
    """A non-zero grad found before the pass, which must be a number to be kept."""
    if isinstance(g, bool) or not isinstance(g, (int, float)):
        raise TypeError(f"backward(): the grad of {node!r} is {g!r}, not a number")
    return g  # type: ignore[return-value]


def backward(root: Value, gradient: float = 1.0) -> None:
    """Accumulate d(root)/d(node) * ``gradient`` into ``node.grad`` for every node.

    A grad of None counts as 0 (PyTorch's ``zero_grad(set_to_none=True)`` habit).
    If anything fails part-way (even KeyboardInterrupt), every grad is put back.
    """
    if isinstance(gradient, bool) or not isinstance(gradient, (int, float)):
        raise TypeError(f"backward() gradient must be a number, not {gradient!r}")
    if gradient - gradient != 0:  # inf or nan would poison every grad silently
        raise ValueError(f"backward() gradient must be finite, got {gradient!r}")
    # The same walk as toposort(), fused with the bookkeeping of this pass, because
    # it is the hot path: instead of a set of visited nodes, a node's grad field is
    # the mark (``waiting`` while it is on the stack, ``done`` once emitted), and its
    # old grad is saved (when non-zero) to be added back after the pass. Both marks
    # are made for this call, so marks of earlier passes mean nothing; ``done`` is a
    # float 0.0, so that the chain rule below can add into it directly.
    waiting = _Mark()
    done = _Mark()
    saved: list[tuple[Value, float]] = []
    order: list[Value] = []
    append = order.append
    stack = [root]
    push = stack.append
    pop = stack.pop
    walked = False
    try:
        g = root.grad
        if g:
            saved.append((root, _old_grad(root, g)))
        root.grad = waiting  # type: ignore[assignment]
        while stack:
            node = stack[-1]
            a = node._a
            if a is not None:
                g = a.grad
                if g is not waiting and g is not done:
                    if g:
                        saved.append((a, _old_grad(a, g)))
                    if a._a is None:  # a leaf is done at once: it passes nothing on,
                        a.grad = done  # so it needs no place in the order
                    else:
                        a.grad = waiting
                        push(a)
                        continue
                if node._db is not None:
                    b = node._b
                    g = b.grad
                    if g is not waiting and g is not done:
                        if g:
                            saved.append((b, _old_grad(b, g)))
                        if b._a is None:
                            b.grad = done
                        else:
                            b.grad = waiting
                            push(b)
                            continue
            pop()
            node.grad = done
            append(node)
        walked = True
        # the chain rule: each node passes its gradient to its parents, times the
        # local derivative its op recorded when it ran (``order`` holds no leaf but
        # the root)
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
    except BaseException:
        _put_back(order + stack, saved, walked, (waiting, done))
        raise
    for node, old in saved:
        node.grad += old


def _put_back(
    reached: list[Value], saved: list[tuple[Value, float]], walked: bool, marks: tuple
) -> None:
    """Undo a failed pass: every node it reached gets its grad from before."""
    for node in reached:
        node.grad = 0.0
        parents = (node._a,) if node._db is None else (node._a, node._b)
        for p in parents:
            # a parent was reached if the walk finished, or if it carries a mark
            if p is not None and (walked or any(p.grad is m for m in marks)):
                p.grad = 0.0
    for node, old in saved:
        node.grad = old
