"""The MLP training step written by hand with plain floats: the speed floor.

micrograd's demo step (MLP(2, [16, 16, 1]), relu hidden layers, linear output, SVM
hinge loss averaged over the batch + 1e-4 L2 penalty, SGD) with the backward pass
derived on paper. The compiled replay of chainrule must come within 1.5x of this.
"""

from __future__ import annotations


def step(layers: list[tuple[list[list[float]], list[float]]], X, Y, lr: float, alpha: float = 1e-4):
    """One step in place on ``layers`` (a list of (W, b), W out x in). Returns the loss."""
    n_layers = len(layers)
    grads = [([[0.0] * len(W[0]) for _ in W], [0.0] * len(b)) for W, b in layers]
    total = 0.0
    inv_n = 1.0 / len(X)
    for x, y in zip(X, Y):
        # forward, keeping each layer's input and pre-activation
        acts = [x]
        zs = []
        a = x
        for li, (W, b) in enumerate(layers):
            z = [sum(wi * ai for wi, ai in zip(row, a)) + bi for row, bi in zip(W, b)]
            zs.append(z)
            a = [v if v > 0.0 else 0.0 for v in z] if li < n_layers - 1 else z
            acts.append(a)
        margin = 1.0 - y * a[0]
        if margin > 0.0:
            total += margin
            delta = [-y * inv_n]
        else:
            continue
        # backward: delta = dJ/dz of the current layer
        for li in range(n_layers - 1, -1, -1):
            W, _ = layers[li]
            gW, gb = grads[li]
            a_in = acts[li]
            for j, dj in enumerate(delta):
                if dj != 0.0:
                    row = gW[j]
                    for k, ak in enumerate(a_in):
                        row[k] += dj * ak
                    gb[j] += dj
            if li:
                z_prev = zs[li - 1]
                delta = [
                    sum(W[j][k] * delta[j] for j in range(len(delta))) if z_prev[k] > 0.0 else 0.0
                    for k in range(len(a_in))
                ]
    reg = 0.0
    for (W, b), (gW, gb) in zip(layers, grads):
        for row, grow in zip(W, gW):
            for k, w in enumerate(row):
                reg += w * w
                grow[k] += 2.0 * alpha * w
                row[k] = w - lr * grow[k]
        for k, bk in enumerate(b):
            reg += bk * bk
            gb[k] += 2.0 * alpha * bk
            b[k] = bk - lr * gb[k]
    return total * inv_n + alpha * reg
