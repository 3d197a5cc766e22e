"""Mutation check of the op table: break each derivative rule in turn, see the suite fail.

    python -m tests.mutate                 # every mutant, two at a time
    python -m tests.mutate --ops /,atan    # some ops only
    python -m tests.mutate --jobs 1 --kinds rule-scale

Not part of ``make test``: each mutant is one pytest run of ``tests/engine`` (stopping
at the first failure) in a fresh subprocess, with one entry of the op table
(``engine.ops``) patched before any test module is imported:

* ``rule-scale k``: partial derivative k of the rule multiplied by 1.01;
* ``rule-shift``: 0.1 added to every partial of the rule;
* ``template-scale k``: the code template of partial k (what ``engine.compile``
  generates) multiplied by 1.01.

The patch replaces the entry's field in place (the entry is one object, shared by
``Value``, ``engine.functional``, the compiler and ``gradients``) and the rule's
module name (``ops.d_exp``), so a test that only checks which function the table
holds cannot be what catches it. Every mutant must make some test fail; the table
printed at the end says which test caught each one. Exit status 1 if any survived.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Test files run first (the per-op tests catch most mutants in seconds), then the rest.
FIRST = ["tests/engine/test_ops.py", "tests/engine/test_compiler.py"]
KINDS = ("rule-scale", "rule-shift", "template-scale")


@dataclass(frozen=True)
class Mutant:
    """One broken rule: which op, how, and which partial derivative (None: all)."""

    op: str
    kind: str
    partial: int | None

    def describe(self) -> str:
        what = {
            "rule-scale": "rule d{k} * 1.01",
            "rule-shift": "rule + 0.1",
            "template-scale": "code d{k} * 1.01",
        }[self.kind]
        return what.format(k="xy"[self.partial] if self.partial is not None else "")


def mutants(op_names: list[str] | None, kinds: tuple[str, ...]) -> list[Mutant]:
    """Every mutant of the built-in ops (optionally of some ops and kinds only)."""
    from engine.ops import builtins

    found = []
    for op in builtins():
        if op_names is not None and op.name not in op_names:
            continue
        if op.derivative is None:
            continue
        for k in range(op.arity):
            if "rule-scale" in kinds:
                found.append(Mutant(op.name, "rule-scale", k))
        if "rule-shift" in kinds:
            found.append(Mutant(op.name, "rule-shift", None))
        if "template-scale" in kinds and op.code_derivatives is not None:
            for k in range(op.arity):
                found.append(Mutant(op.name, "template-scale", k))
    return found


# --- inside the subprocess ----------------------------------------------------------


def _patch(mutant: Mutant) -> None:
    """Break the table entry ``mutant.op`` in place, as ``mutant`` says."""
    from engine import ops

    op = ops.lookup(mutant.op)
    if mutant.kind == "template-scale":
        assert op.code_derivatives is not None and mutant.partial is not None
        templates = list(op.code_derivatives)
        templates[mutant.partial] = f"({templates[mutant.partial]}) * 1.01"
        object.__setattr__(op, "code_derivatives", tuple(templates))
        return
    rule = op.derivative
    assert rule is not None
    k = mutant.partial
    binary = op.arity == 2

    def broken(d: Any) -> Any:
        return d * 1.01 if mutant.kind == "rule-scale" else d + 0.1

    def mutated(*args: Any) -> Any:
        d = rule(*args)
        if not binary:
            return broken(d)
        return tuple(broken(p) if k is None or i == k else p for i, p in enumerate(d))

    mutated.__name__ = mutated.__qualname__ = rule.__name__
    mutated.__doc__ = rule.__doc__
    object.__setattr__(op, "derivative", mutated)
    for name, value in list(vars(ops).items()):
        if value is rule:
            setattr(ops, name, mutated)


class _FirstFailure:
    """A pytest plugin that remembers the first failing test."""

    def __init__(self) -> None:
        self.nodeid: str | None = None

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and self.nodeid is None:
            self.nodeid = report.nodeid

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and self.nodeid is None:
            self.nodeid = f"(collecting {report.nodeid})"


def run_one(mutant_json: str, out_path: str, tests: list[str]) -> None:
    """Subprocess entry point: patch, run pytest, write the first failure to ``out_path``."""
    import pytest

    mutant = Mutant(**json.loads(mutant_json))
    _patch(mutant)
    plugin = _FirstFailure()
    args = ["-x", "-q", "-p", "no:cacheprovider", "--tb=no", "--no-header", *tests]
    status = pytest.main(args, plugins=[plugin])
    Path(out_path).write_text(json.dumps({"status": int(status), "caught_by": plugin.nodeid}))


# --- the driver ---------------------------------------------------------------------


def _default_tests() -> list[str]:
    """tests/engine's files, :data:`FIRST` first (given one by one: pytest drops a file
    that is also inside a directory argument, and would run it in directory order)."""
    first = [t for t in FIRST if (ROOT / t.split("::")[0]).exists()]
    rest = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "engine").glob("test_*.py"))
    return first + [t for t in rest if t not in first]


def _run(mutant: Mutant, tests: list[str]) -> tuple[Mutant, bool, str, float]:
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as f:
        out_path = f.name
    code = (
        "import sys; from tests.mutate import run_one; "
        "run_one(sys.argv[1], sys.argv[2], sys.argv[3:])"
    )
    start = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(mutant.__dict__), out_path, *tests],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            check=False,
        )
        try:
            result = json.loads(Path(out_path).read_text() or "{}")
        except json.JSONDecodeError:
            result = {}
    finally:
        os.unlink(out_path)
    seconds = time.monotonic() - start
    if not result:
        return mutant, False, "(the pytest run did not finish)", seconds
    caught = result["status"] != 0 and result["caught_by"] is not None
    return mutant, caught, result["caught_by"] or "-", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--ops", help="comma-separated op names (default: every built-in op)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"some of {', '.join(KINDS)}")
    parser.add_argument("--jobs", type=int, default=2, help="pytest runs at a time (default 2)")
    parser.add_argument(
        "--tests", nargs="*", help="test files, in order (default: tests/engine, per-op first)"
    )
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    op_names = args.ops.split(",") if args.ops else None
    todo = mutants(op_names, kinds)
    if not todo:
        parser.error("no mutants to run")
    tests = args.tests or _default_tests()
    print(f"{len(todo)} mutants, pytest -x on {' '.join(tests)}, {args.jobs} at a time")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda m: _run(m, tests), todo))
    width = max(len(m.op) for m in todo)
    print(f"\n{'op':<{width}}  {'mutant':<18} caught  seconds  caught by")
    for mutant, caught, by, seconds in results:
        print(
            f"{mutant.op:<{width}}  {mutant.describe():<18} {'yes' if caught else 'NO ':<6}"
            f"  {seconds:7.1f}  {by}"
        )
    survived = [m for m, caught, _, _ in results if not caught]
    print(f"\n{len(results) - len(survived)} of {len(results)} mutants caught")
    for m in survived:
        print(f"SURVIVED: {m.op} {m.describe()}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
