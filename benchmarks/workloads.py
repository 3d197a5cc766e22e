"""One measurement of one engine on one workload, in this (fresh) process.

Run as ``python -m benchmarks.workloads ENGINE WORKLOAD``; prints one JSON object.
ENGINE is ``chainrule`` (the installed build: compiled where a C compiler was there),
``chainrule-pure`` (the pure-Python modules, as with ``CHAINRULE_PURE=1``),
``chainrule-compiled`` (``engine.compile``'s replay), ``floats`` or ``micrograd``.
The orchestrator (``python -m benchmarks``) starts a fresh process for every
measurement, so no engine sees another's heap or garbage-collector state. Python's
default GC settings are left alone: users run with them.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

CHAIN_OPS = 100_000  # ops in the chain workload (alternating * and +)
WIDE_TERMS = 100_000  # products in the wide workload
MEMORY_NODES = 100_000
MLP_POINTS = 100
ALPHA = 1e-4


def value_class(engine: str) -> type:
    if engine.startswith("chainrule"):
        from engine import Value

        return Value
    if engine == "micrograd":
        from micrograd.engine import Value

        return Value  # type: ignore[no-any-return]
    raise ValueError(f"unknown engine {engine!r}")


def deep(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with room for micrograd's recursive graph walk (chainrule needs none)."""
    result: list[Any] = []
    error: list[BaseException] = []
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000_000)
    threading.stack_size(1024 * 1024 * 1024)

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as e:
            error.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    sys.setrecursionlimit(old)
    if error:
        raise error[0]
    return result[0]


def _chain(engine: str, a: Any, b: Any) -> dict[str, float]:
    """y = ((x * a) + b) * a + b ...: CHAIN_OPS cheap ops, then backward."""
    V = value_class(engine)

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        y = V(0.5)
        for _ in range(CHAIN_OPS // 2):
            y = y * a
            y = y + b
        t1 = time.perf_counter()
        y.backward()
        t2 = time.perf_counter()
        return {
            "forward_s": t1 - t0,
            "backward_s": t2 - t1,
            "ns_per_op": (t2 - t0) / CHAIN_OPS * 1e9,
        }

    return deep(run) if engine == "micrograd" else run()


def chain(engine: str) -> dict[str, float]:
    """The chain with Value operands a = 0.999, b = 0.001 made once."""
    V = value_class(engine)
    return _chain(engine, V(0.999), V(0.001))


def chain_numbers(engine: str) -> dict[str, float]:
    """The chain written with plain numbers, as users write it: y * 0.999 + 0.001.

    Each op also turns its number into a constant node, in both engines.
    """
    return _chain(engine, 0.999, 0.001)


def wide(engine: str) -> dict[str, float]:
    """s = a0*b0 + a1*b1 + ... (WIDE_TERMS products), then backward."""
    V = value_class(engine)
    rng = random.Random(0)
    xs = [V(rng.uniform(-1, 1)) for _ in range(WIDE_TERMS)]
    ys = [V(rng.uniform(-1, 1)) for _ in range(WIDE_TERMS)]
    n_ops = 2 * WIDE_TERMS - 1

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        s = xs[0] * ys[0]
        for i in range(1, WIDE_TERMS):
            s = s + xs[i] * ys[i]
        t1 = time.perf_counter()
        s.backward()
        t2 = time.perf_counter()
        return {"forward_s": t1 - t0, "backward_s": t2 - t1, "ns_per_op": (t2 - t0) / n_ops * 1e9}

    return deep(run) if engine == "micrograd" else run()


def memory(engine: str) -> dict[str, float]:
    """tracemalloc bytes per node of a MEMORY_NODES-node graph (the chain workload's)."""
    V = value_class(engine)
    a, b = V(0.999), V(0.001)
    x = V(0.5)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = x
    for _ in range(MEMORY_NODES // 2):
        y = y * a
        y = y + b
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"bytes_per_node": (after - before) / MEMORY_NODES, "alive": y.data}


def depth(engine: str) -> dict[str, float]:
    """The deepest chain whose backward() succeeds under the default recursion limit."""
    V = value_class(engine)

    def ok(n: int) -> bool:
        y = V(0.5)
        for _ in range(n):
            y = y * 1.0
        try:
            y.backward()
            return True
        except RecursionError:
            return False

    if engine.startswith("chainrule"):
        n = 1_000_000
        return {"max_depth": n if ok(n) else 0, "tested_up_to": n}
    lo, hi = 1, 2
    while ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return {"max_depth": lo, "tested_up_to": hi}


def moons(n: int, noise: float = 0.1, seed: int = 1) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles, labels -1/+1 (self-contained: same data for every engine)."""
    rng = random.Random(seed)
    X, Y = [], []
    for i in range(n):
        t = math.pi * rng.random()
        if i % 2:
            x, y, label = math.cos(t), math.sin(t), -1.0
        else:
            x, y, label = 1 - math.cos(t), 0.5 - math.sin(t), 1.0
        X.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        Y.append(label)
    return X, Y


def _model(engine: str) -> Any:
    if engine.startswith("chainrule"):
        from nn.layers import MLP

        return MLP(2, [16, 16, 1], seed=1337)
    from micrograd.nn import MLP as MicroMLP

    random.seed(1337)
    return MicroMLP(2, [16, 16, 1])


def demo_loss(model: Any, inputs: list[list[Any]], Y: list[float]) -> Any:
    """micrograd's demo loss: SVM max-margin loss averaged over the batch + L2."""
    scores = [model(x) for x in inputs]
    losses = [(1 + -yi * si).relu() for yi, si in zip(Y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def eager_step(
    model: Any, params: list[Any], X: list[list[float]], Y: list[float], V: type
) -> None:
    """One eager step of micrograd's demo: forward, zero_grad, backward, SGD (lr 0.1)."""
    loss = demo_loss(model, [[V(x) for x in row] for row in X], Y)
    model.zero_grad()
    loss.backward()
    for p in params:
        p.data -= 0.1 * p.grad


def mlp(engine: str) -> dict[str, float]:
    """micrograd's demo training step on MLP_POINTS moons points: seconds per step."""
    X, Y = moons(MLP_POINTS)
    steps = 2 if engine == "micrograd" else 10
    if engine == "floats":
        from benchmarks.handwritten import step as float_step

        rng = random.Random(1337)
        layers = []
        for nin, nout in ((2, 16), (16, 16), (16, 1)):
            layers.append(
                ([[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)], [0.0] * nout)
            )
        float_step(layers, X, Y, 0.1)
        t0 = time.perf_counter()
        for _ in range(steps):
            float_step(layers, X, Y, 0.1)
        return {"s_per_step": (time.perf_counter() - t0) / steps}

    V = value_class(engine)
    model = _model(engine)
    params = model.parameters()
    compile_s = 0.0
    if engine == "chainrule-compiled":
        from engine import compile as compile_fn

        compiled = compile_fn(lambda Xb, Yb: demo_loss(model, Xb, Yb))
        t0 = time.perf_counter()
        compiled.trace(X, Y)
        compile_s = time.perf_counter() - t0

        def one_step() -> None:
            for p in params:
                p.grad = 0.0
            compiled(X, Y)
            for p in params:
                p.data -= 0.1 * p.grad
    else:

        def one_step() -> None:
            eager_step(model, params, X, Y, V)

    one_step()  # warm-up (and, compiled, the first replay)
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    result = {"s_per_step": (time.perf_counter() - t0) / steps}
    if compile_s:
        result["compile_s"] = compile_s
    return result


def compile_memory(engine: str) -> dict[str, float]:
    """Peak traced memory while compiling the MLP step, next to the eager graph's size."""
    from engine import compile as compile_fn

    X, Y = moons(MLP_POINTS)
    model = _model("chainrule")
    V = value_class("chainrule")
    tracemalloc.start()
    loss = demo_loss(model, [[V(x) for x in row] for row in X], Y)
    eager_graph = tracemalloc.get_traced_memory()[0]
    del loss
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    compiled = compile_fn(lambda Xb, Yb: demo_loss(model, Xb, Yb))
    compiled.trace(X, Y)
    peak = tracemalloc.get_traced_memory()[1] - base
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {
        "eager_graph_mb": eager_graph / 1e6,
        "compile_peak_mb": peak / 1e6,
        "kept_mb": kept / 1e6,
    }


WORKLOADS = {
    "chain": chain,
    "chain_numbers": chain_numbers,
    "wide": wide,
    "mlp": mlp,
    "memory": memory,
    "depth": depth,
    "compile_memory": compile_memory,
}


def main(argv: list[str]) -> None:
    engine, workload = argv
    if engine.endswith("-pure"):  # the pure-Python build, even where a compiled one exists
        os.environ["CHAINRULE_PURE"] = "1"  # (read when engine is first imported, below)
    result = WORKLOADS[workload](engine.removesuffix("-pure"))
    if engine.startswith("chainrule"):
        import engine as chainrule_engine

        result["compiled"] = chainrule_engine.COMPILED
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
