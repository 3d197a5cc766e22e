"""Topological order and the eager backward pass.

Both walks are iterative, with an explicit stack, so a graph's depth is limited by
memory, not by Python's recursion limit (micrograd's recursive walk fails near
1,000 nested ops; a 1,000,000-op chain works here).

The backward pass is Kahn's algorithm in two passes: the first reaches every node
and counts the consumers of the shared ones, the second applies the chain rule,
``parent.grad += node.grad * local``, handing a node on once every consumer has
given it its share. Every node already holds its local derivatives as numbers
(recorded by the op when it ran), so the second pass is one generic loop.

A second ``backward()`` must add exactly the same amounts again, to leaves and
intermediates alike. Propagating ``node.grad`` directly would re-send an
intermediate's *accumulated* grad (micrograd triples on the second call), so a pass
starts every node's grad at 0, propagates, and then adds back what each node held
before (only the non-zero ones are saved).

``toposort`` returns the order backward() works in, so ``gradients()`` and
``engine.compile`` add the same numbers in the same order and agree to the bit.

:func:`backward_reference` is the specification: ten readable lines (HIPS
autograd's ``backward_pass`` is the model) that read only the public ``.parents``
and ``.local_grads``. The fast :func:`backward` must give exactly its gradients,
bit for bit, when both add in the same order (the default): a test runs both on
random graphs. Everything else in :func:`backward` is an optimization (marks in the
grad fields instead of a dict, a chain walked without the stack) or a safeguard
(refusing a junk grad, catching an overflow, putting every grad back on failure).

This module imports nothing of ``engine.value`` at run time (the type only, under
``TYPE_CHECKING``), so ``engine.value`` can import it at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.checks import is_real, to_float

if TYPE_CHECKING:
    from engine.value import Value

__all__ = ["toposort", "backward", "backward_reference"]


def toposort(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each once, parents before children, root last.

    The order is the one :func:`backward` works in (read back to front): leaves
    first, then every other node in the reverse of the order in which backward()
    passes its gradient on. ``gradients()`` and ``engine.compile`` follow it too, so
    all three add the same numbers in the same order and agree to the last bit.
    """
    # pass 1: reach every node, count the consumers of each non-leaf (per edge)
    leaves: list[Value] = []
    uses: dict[Value, int] = {}
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        if node._a is None:
            leaves.append(node)
            continue
        for p in (node._a,) if node._b is None else (node._a, node._b):
            if p._a is not None:
                uses[p] = uses.get(p, 0) + 1
            if p not in seen:
                seen.add(p)
                stack.append(p)
    if root._a is None:
        return leaves
    # pass 2: the order of backward()'s second pass, without the arithmetic
    # (typed Any: every node here is a non-leaf, whose ``_a`` is a Value, an invariant
    # of the walk that the slots' declared types cannot say)
    done: list[Value] = []
    cur: Any = root
    while cur is not None:
        done.append(cur)
        nxt = None
        for p in (cur._a,) if cur._b is None else (cur._a, cur._b):
            if p._a is None:
                continue
            left = uses[p] - 1
            uses[p] = left
            if left == 0:
                if nxt is None:
                    nxt = p
                else:
                    stack.append(p)
        if nxt is None and stack:
            nxt = stack.pop()
        cur = nxt
    done.reverse()
    return leaves + done


def backward_reference(
    root: Value, gradient: float = 1.0, order: Sequence[Value] | None = None
) -> None:
    """What :func:`backward` does, written plainly: its specification.

    Walk the graph from the root back to the leaves (``order`` is any topological
    order of ``root``'s graph, root last; by default :func:`toposort`'s, the order
    backward() adds in), apply the chain rule ``grad[parent] += grad[node] * local``
    into a dict that starts empty (this pass's amounts only), then add each amount to
    the node's ``.grad`` (a grad of None or 0 counts as none yet). Floating-point
    addition is not associative, so another order may differ in the last bits.
    """
    grads = {root: float(gradient)}
    for node in reversed(toposort(root) if order is None else order):
        g = grads.get(node, 0.0)
        for parent, local in zip(node.parents, node.local_grads):
            grads[parent] = grads.get(parent, 0.0) + g * local
    for node, g in grads.items():
        node.grad = node.grad + g if node.grad else g


class _Mark(float):
    """A float 0.0 compared by identity: what *this* pass knows about a node."""

    __slots__ = ()


def _old_grad(node: Value, g: object) -> float | None:
    """A grad found before the pass that is not 0: a number to add back, or None
    (no grad yet, which counts as 0). Anything else is refused."""
    if type(g) is float or g is None:  # the usual case first: no message is built
        return g
    if not is_real(g):
        raise TypeError(f"backward(): the grad of {node!r} is {g!r}, not a number")
    return to_float(g, f"backward(): the grad of {node!r}", finite=False)


def backward(root: Value, gradient: float = 1.0) -> None:
    """Accumulate d(root)/d(node) * ``gradient`` into ``node.grad`` for every node.

    A grad of None counts as 0 (PyTorch's ``zero_grad(set_to_none=True)`` habit).
    If anything fails part-way (even KeyboardInterrupt), every grad is put back.
    """
    # A real number (a numpy scalar or a Fraction too), finite: inf or nan would poison
    # every grad silently, and an int beyond float's range gets a message naming it.
    if root is None:  # (compiled, a Value argument may be None: refused here)
        raise TypeError("backward() takes a Value, not None")
    seed = to_float(gradient, "backward() gradient")
    # Two passes over the graph (Kahn's algorithm), because this is the hot path.
    # Pass 1 reaches every node and marks it in its grad field instead of in a set:
    # ``once`` for a node with one consumer so far, ``shared`` (its consumers counted
    # in ``uses``) for more, ``leaf`` for a leaf. The old grad of a node is saved (when
    # non-zero) to be added back at the end. Pass 2 applies the chain rule from the
    # root down; a node passes its gradient on once all its consumers have passed
    # theirs to it. The marks are float 0.0 made for this call, so the chain rule adds
    # into them directly, and marks of earlier passes mean nothing.
    # Both passes walk a chain without touching the stack: the next node is the
    # parent ``a`` when it is ready; the stack holds only side branches.
    once = _Mark()
    shared = _Mark()
    leaf = _Mark()
    uses: dict[Value, int] = {}
    saved: list[tuple[Value, float | None]] = []
    leaves: list[Value] = []
    keep = leaves.append
    stack: list[Value] = []
    push = stack.append
    pop = stack.pop
    walked = False
    # Typed Any: a non-leaf's ``_a`` and a binary node's ``_b`` are Values, invariants
    # of the graph that the slots' declared types cannot say.
    node: Any
    a: Any
    b: Any
    try:
        m = root._grad
        if m != 0.0:
            saved.append((root, _old_grad(root, m)))
        root._grad = once
        node = root
        while True:  # pass 1
            a = node._a
            if a is not None:
                b = node._b
                if b is not None:  # a binary op
                    m = b._grad
                    if m is leaf:
                        pass
                    elif m is once:
                        b._grad = shared
                        uses[b] = 2
                    elif m is shared:
                        uses[b] += 1
                    else:  # reached for the first time
                        if m != 0.0:  # (None and junk too: _old_grad sorts them)
                            saved.append((b, _old_grad(b, m)))
                        if b._a is None:
                            b._grad = leaf
                            keep(b)
                        else:
                            b._grad = once
                            push(b)
                m = a._grad
                if m is leaf:
                    pass
                elif m is once:
                    a._grad = shared
                    uses[a] = 2
                elif m is shared:
                    uses[a] += 1
                else:
                    if m != 0.0:
                        saved.append((a, _old_grad(a, m)))
                    if a._a is None:
                        a._grad = leaf
                        keep(a)
                    else:
                        a._grad = once
                        node = a
                        continue
            if not stack:
                break
            node = pop()
        walked = True
        root._grad = seed
        node = root if root._a is not None else None
        while node is not None:  # pass 2: the chain rule, parent.grad += grad * local
            g = node._grad
            a = node._a
            m = a._grad  # (the mark, compared by identity; pg: its number)
            pg = m
            a._grad = pg + g * node._da
            if m is once:
                nxt = a
            elif a._a is None:
                nxt = None
            else:
                left = uses[a] - 1
                uses[a] = left
                nxt = None if left else a
            b = node._b
            if b is not None:  # a binary op
                m = b._grad
                pg = m
                b._grad = pg + g * node._db
                if m is once:
                    if nxt is None:
                        nxt = b
                    else:
                        push(b)
                elif b._a is not None:
                    left = uses[b] - 1
                    uses[b] = left
                    if not left:
                        if nxt is None:
                            nxt = b
                        else:
                            push(b)
            node = nxt if nxt is not None else pop() if stack else None
        # An overflow anywhere leaves an inf (or, times a zero local derivative, a NaN)
        # that flows on into every leaf behind it, so checking the leaves finds it (a
        # cost per leaf, not per node: networks have few leaves for their nodes).
        for node in leaves:
            g = node._grad
            if g - g != 0.0:
                raise _overflowed(node, g)
        for node, old in saved:
            if old is not None:
                g = node._grad + old
                if g - g != 0.0:
                    raise _overflowed(node, g, old)
                node._grad = g
    except BaseException:
        _put_back(root, saved, walked, (once, shared, leaf))
        raise


def _overflowed(node: Value, g: float, old: float = 0.0) -> ArithmeticError:
    name = f"{node.label!r}" if node.label else "a leaf" if node._a is None else "a node"
    if old - old != 0.0:  # the grad held inf or nan before the pass: not an overflow
        return ArithmeticError(
            f"backward(): the grad of {name} (data {node.data!r}) was {old!r} before this "
            "pass (assigned by hand?); grads must be finite. Every grad is left as it "
            "was; reset it (v.grad = 0.0 or Module.zero_grad())"
        )
    return OverflowError(
        f"backward(): the gradient of {name} (data {node.data!r}) comes out as {g!r}: a "
        "product of local derivatives overflows float64. Every grad is left as it was; "
        "scale the output (or the seed gradient) down"
    )


def _put_back(
    root: Value, saved: list[tuple[Value, float | None]], walked: bool, marks: tuple[_Mark, ...]
) -> None:
    """Undo a failed pass: every node it reached gets its grad from before (a grad
    equal to 0, such as -0.0 or the int 0, comes back as 0.0).

    Once pass 1 is over, every node of the graph was reached; before that, exactly
    the nodes carrying a mark were, and each of them leads back to the root through
    marked nodes.
    """
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        g = node.grad
        if not walked and not any(g is m for m in marks):
            continue
        node.grad = 0.0
        for p in (node._a,) if node._b is None else (node._a, node._b):
            if p is not None and p not in seen:
                seen.add(p)
                stack.append(p)
    for node, old in saved:
        node.grad = old  # type: ignore[assignment]  # None too, as the user had it
