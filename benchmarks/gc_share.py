"""How much of chainrule's eager time is the garbage collector's: ``python -m benchmarks.gc_share``.

Builds the benchmark chain (100,000 ops) and micrograd's demo MLP step with Python's
default GC settings, timing every collection with ``gc.callbacks``, and prints the
share of the forward pass (and of the step) spent collecting. It explains what is
left between the eager engine and the speed targets of ``make bench``. It measures
the installed build (``CHAINRULE_PURE=1`` for the pure one) and says which.
"""

from __future__ import annotations

import gc
import time

import engine
from benchmarks.workloads import CHAIN_OPS, _model, eager_step, moons
from engine import Value


class _CollectorClock:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1


def main() -> None:
    print(f"chainrule: {'compiled' if engine.COMPILED else 'pure-Python'} build")
    clock = _CollectorClock()
    gc.callbacks.append(clock)
    try:
        a, b = Value(0.999), Value(0.001)
        t0 = time.perf_counter()
        y = Value(0.5)
        for _ in range(CHAIN_OPS // 2):
            y = y * a
            y = y + b
        forward = time.perf_counter() - t0
        print(
            f"chain forward: {forward / CHAIN_OPS * 1e9:.0f} ns/op, of which GC "
            f"{clock.seconds / CHAIN_OPS * 1e9:.0f} ns/op ({clock.seconds / forward:.0%}); "
            f"collections by generation {clock.collections}"
        )
        t0 = time.perf_counter()
        y.backward()
        print(f"chain backward: {(time.perf_counter() - t0) / CHAIN_OPS * 1e9:.0f} ns/op")
        del y
        X, Y = moons(100)
        model = _model("chainrule")
        params = model.parameters()
        steps = 5
        clock.seconds, clock.collections = 0.0, [0, 0, 0]
        t0 = time.perf_counter()
        for _ in range(steps):
            eager_step(model, params, X, Y, Value)
        total = time.perf_counter() - t0
        print(
            f"MLP step: {total / steps * 1e3:.1f} ms, of which GC "
            f"{clock.seconds / steps * 1e3:.1f} ms ({clock.seconds / total:.0%})"
        )
    finally:
        gc.callbacks.remove(clock)


if __name__ == "__main__":
    main()
