"""Check the README's "chainrule and micrograd" table against micrograd 0.1.0 as installed.

Each row of the table's micrograd column is written here verbatim, next to a check that
runs micrograd 0.1.0 (``pip install micrograd==0.1.0``, the ``bench`` extra) and returns
what it saw. The script fails (exit status 1) if the README's micrograd column is not
exactly these cells, or if micrograd does not behave as a cell says.

    python -m benchmarks.micrograd_table
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
VERSION = "0.1.0"
SECTION = "## chainrule and micrograd"


def readme_rows(text: str | None = None) -> dict[str, str]:
    """The table's rows: first cell (what) → micrograd's cell, as written in the README."""
    text = README.read_text(encoding="utf-8") if text is None else text
    start = text.index(SECTION)
    rows: dict[str, str] = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1]
    return rows


def _raises(fn: Callable[[], Any]) -> type[BaseException] | None:
    try:
        fn()
    except BaseException as e:
        return type(e)
    return None


def check_ops() -> str:
    from micrograd.engine import Value

    x = Value(2.0)
    assert (x + 1).data == 3 and (x * 3).data == 6 and (x**3).data == 8
    assert (x - 1).data == 1 and (x / 4).data == 0.5  # through + * ** internally
    assert Value(-1.0).relu().data == 0
    assert _raises(lambda: x ** Value(2.0)) is AssertionError  # "only int/float powers"
    methods = {a for a in dir(Value) if not a.startswith("_")}
    assert methods == {"backward", "relu"}, methods  # the only named operation is relu
    for op in ("tanh", "exp", "log", "sigmoid", "sin", "abs"):
        assert _raises(lambda op=op: getattr(x, op)()) is AttributeError, op
    return "+ - * / and ** with a number exponent, relu; no tanh, exp, log"


def check_depth() -> str:
    from micrograd.engine import Value

    def error(n: int) -> type[BaseException] | None:
        y = Value(1.0)
        for _ in range(n):
            y = y * 1.0
        return _raises(y.backward)

    lo, hi = 1, 5000
    assert error(lo) is None and error(hi) is RecursionError
    while hi - lo > 1:  # the deepest chain that backpropagates
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if error(mid) is None else (lo, mid)
    assert 900 <= lo < 1000 and error(hi) is RecursionError, lo
    return f"deepest chain that backpropagates: {lo} ops (RecursionError beyond)"


def check_second_backward() -> str:
    from micrograd.engine import Value

    x = Value(3.0)
    y = (x * x) * 2.0  # d/dx = 4x = 12
    y.backward()
    first = x.grad
    y.backward()
    assert first == 12.0 and x.grad != 2 * first, (first, x.grad)
    return f"after two backward(): x.grad = {x.grad} (twice the first pass is {2 * first})"


def check_bad_input() -> str:
    from micrograd.engine import Value

    z = (Value(-2.0) ** 0.5).data
    assert isinstance(z, complex), z
    assert _raises(lambda: Value(2.0) * "a") is TypeError  # Python's own error
    assert _raises(lambda: Value(1.0) / 0) is ZeroDivisionError
    return f"(-2) ** 0.5 = {z}; Value * 'a' -> TypeError from Python"


def _has_none_of(*names: str) -> None:
    import micrograd
    import micrograd.engine
    import micrograd.nn

    found = [n for m in (micrograd, micrograd.engine, micrograd.nn) for n in names if hasattr(m, n)]
    assert found == [], found
    assert not any(hasattr(micrograd.engine.Value, n) for n in names)


def check_higher() -> str:
    _has_none_of("grad", "hessian", "gradients", "create_graph")
    return "no grad, hessian or create_graph anywhere in the package"


def check_gradcheck() -> str:
    _has_none_of("gradcheck", "numerical_grad", "gradgradcheck")
    return "no gradcheck or numerical_grad"


def check_networks() -> str:
    from micrograd.nn import MLP

    assert isinstance(MLP(2, [16, 16, 1])([1.0, 2.0]).data, float)  # the usual shape works
    error = _raises(lambda: MLP(2, [16, 1, 1])([1.0, 2.0]))
    assert error is TypeError, error
    return "MLP(2, [16, 1, 1])([1.0, 2.0]) -> TypeError (a one-neuron layer returns a Value)"


def check_by_hand() -> str:
    _has_none_of("walk_through_step", "walkthrough")
    return "no walk-through"


def check_pictures() -> str:
    import pkgutil

    import micrograd

    modules = sorted(m.name for m in pkgutil.iter_modules(micrograd.__path__))
    assert modules == ["engine", "nn"], modules
    return f"the package has only {', '.join(modules)} (the graphviz snippet is in a notebook)"


def check_speed() -> str:
    return "nothing to check: the Speed section measures it (make bench)"


#: The README's micrograd cells, verbatim, each with the check that proves it.
CELLS: dict[str, tuple[str, Callable[[], str]]] = {
    "ops": ("`+ - * /`, `**` (number exponent), relu", check_ops),
    "graph depth": ("recursive: fails near 1,000 nested ops", check_depth),
    "second `backward()`": (
        "re-sends accumulated grads through intermediates",
        check_second_backward,
    ),
    "bad input": (
        "Python's own errors, complex numbers from `(-2) ** 0.5`",
        check_bad_input,
    ),
    "higher derivatives": ("—", check_higher),
    "gradient checking": ("—", check_gradcheck),
    "networks": ("`MLP` (crashes on `MLP(2, [16, 1, 1])`)", check_networks),
    "one step by hand": ("—", check_by_hand),
    "pictures": ("a graphviz snippet in a notebook", check_pictures),
    "speed": ("—", check_speed),
}


def main() -> int:
    """Check every cell; print one line per row; the exit status (0: all hold)."""
    try:
        installed = metadata.version("micrograd")
    except metadata.PackageNotFoundError:
        print(f"micrograd is not installed: pip install micrograd=={VERSION} (the bench extra)")
        return 2
    if installed != VERSION:
        print(f"micrograd {installed} is installed; the table is about {VERSION}")
        return 2
    failures = 0
    rows = readme_rows()
    if set(rows) != set(CELLS):
        print(f"README rows {sorted(rows)} are not the checked rows {sorted(CELLS)}")
        failures += 1
    for what, (cell, check) in CELLS.items():
        written = rows.get(what)
        if written != cell:
            print(f"NO   {what}: the README says {written!r}, checked is {cell!r}")
            failures += 1
            continue
        try:
            seen = check()
        except AssertionError as e:
            print(f"NO   {what}: {cell!r} does not hold for micrograd {VERSION}: {e!r}")
            failures += 1
            continue
        print(f"yes  {what}: {cell}   [{seen}]")
    print(f"{len(CELLS) - failures} of {len(CELLS)} cells hold for micrograd {VERSION}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
