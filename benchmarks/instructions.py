"""Instructions per op, counted by valgrind: ``python -m benchmarks.instructions``.

On a shared machine the wall-clock ratios of ``make bench`` swing by +-20% from run
to run. An instruction count does not: the same interpreter, program and inputs give
the same count, whatever else the machine is doing. So this is the measure to judge a
small change to the engine by (run it before and after). It is not time: a program
that misses the cache more runs slower at the same count (micrograd does, which is
why its wall-clock ratios are larger than its instruction ratios).

Each workload runs twice under ``valgrind --tool=callgrind`` at two sizes, and the
difference is divided by the difference in ops (or steps), so start-up, imports and
set-up cancel. The sizes are the wall-clock benchmark's, with default GC settings.

chainrule is counted in the installed build (compiled where a C compiler was there at
install); ``CHAINRULE_PURE=1 python -m benchmarks.instructions`` counts the pure-Python
build (the runs inherit the variable). The header says which.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.workloads import (
    CHAIN_OPS,
    MLP_POINTS,
    WIDE_TERMS,
    _model,
    deep,
    eager_step,
    moons,
    value_class,
)

# workload -> (small size, large size, ops per unit of size, unit)
SIZES: dict[str, tuple[int, int, int, str]] = {
    "chain": (2, CHAIN_OPS, 1, "op"),
    "chain_numbers": (2, CHAIN_OPS, 1, "op"),
    "wide": (1, WIDE_TERMS, 2, "op"),  # each term is a * and a +
    "mlp": (1, 3, 1, "step"),  # two steps: a full collection may fall in either
}
ENGINES = ("chainrule", "micrograd")


def run(engine: str, workload: str, size: int) -> None:
    """The workload at ``size`` (ops, terms or steps), forward and backward."""
    V = value_class(engine)

    def chain() -> None:
        a, b = (0.999, 0.001) if workload == "chain_numbers" else (V(0.999), V(0.001))
        y = V(0.5)
        for _ in range(size // 2):
            y = y * a
            y = y + b
        y.backward()

    def wide() -> None:
        rng = random.Random(0)
        xs = [V(rng.uniform(-1, 1)) for _ in range(WIDE_TERMS)]  # the same set-up at any size
        ys = [V(rng.uniform(-1, 1)) for _ in range(WIDE_TERMS)]
        s = xs[0] * ys[0]
        for i in range(1, size):
            s = s + xs[i] * ys[i]
        s.backward()

    def mlp() -> None:
        X, Y = moons(MLP_POINTS)
        model = _model(engine)
        params = model.parameters()
        for _ in range(size):
            eager_step(model, params, X, Y, V)

    body = {"chain": chain, "chain_numbers": chain, "wide": wide, "mlp": mlp}[workload]
    if engine == "micrograd":
        deep(body)  # its recursive backward needs the room
    else:
        body()


def count(engine: str, workload: str, size: int) -> int:
    """Instructions executed by a fresh ``python`` running the workload at ``size``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--run",
                engine,
                workload,
                str(size),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run {engine}/{workload}/{size} failed:\n{proc.stderr}")
    return int(match.group(1))


def per_unit(engine: str, workload: str) -> float:
    small, large, ops, _ = SIZES[workload]
    return (count(engine, workload, large) - count(engine, workload, small)) / (
        (large - small) * ops
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--run", nargs=3, metavar=("ENGINE", "WORKLOAD", "SIZE"), help="internal")
    parser.add_argument(
        "--workloads",
        default=",".join(SIZES),
        help=f"comma-separated subset of {', '.join(SIZES)} (default: all)",
    )
    args = parser.parse_args(argv)
    if args.run:
        engine, workload, size = args.run
        run(engine, workload, int(size))
        return 0
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    workloads = args.workloads.split(",")
    unknown = [w for w in workloads if w not in SIZES]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    jobs = [(e, w) for w in workloads for e in ENGINES]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results: dict[tuple[str, str], Any] = dict(
            zip(jobs, pool.map(lambda job: per_unit(*job), jobs))
        )
    import engine

    build = "compiled" if engine.COMPILED else "pure-Python"
    print(
        "\ninstructions per op (per step for mlp), counted by callgrind; "
        f"chainrule: {build} build\n"
    )
    print(f"{'workload':14s}  {'chainrule':>12s}  {'micrograd':>12s}  ratio")
    for w in workloads:
        c, m = results[("chainrule", w)], results[("micrograd", w)]
        print(f"{w:14s}  {c:12,.0f}  {m:12,.0f}  {m / c:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
