"""The two builds of engine.value and engine.backward: compiled (Cython, where a C
compiler was there at install) and pure Python (``CHAINRULE_PURE=1``, or no compiler).

``make test`` runs the whole suite against both; these tests check what ties them
together: the same numbers to the bit, the switch, and the pure build's independence
from Cython.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import _cython_shim

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"


def run_python(code: str, *, pure: bool) -> str:
    """Run ``code`` in a fresh interpreter (CHAINRULE_PURE set or not); its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "CHAINRULE_PURE"}
    if pure:
        env["CHAINRULE_PURE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# Every op of Value, number operands on both sides, dot(), a second backward() that
# accumulates, gradients(), a pickled copy, no_grad, and three SGD steps of the
# benchmark's MLP: every number printed exactly (float.hex).
WORKLOAD = r"""
import copy, json, pickle, random
import engine
from engine import Value, dot, gradients, no_grad
from benchmarks.workloads import _model, eager_step, moons

rng = random.Random(7)
xs = [Value(rng.uniform(0.1, 2.0), label=f"x{i}") for i in range(6)]
out = []
def take(*vs):
    out.extend(v.data for v in vs)

acc = xs[0]
for step in range(40):
    a, b = rng.choice(xs), rng.choice(xs)
    c = rng.uniform(-1.5, 1.5)
    ys = [a + b, a * b, a - b, a / b, -a, a ** 2.5, a ** b, 2.0 ** a, c + a, c * a,
          c - a, c / a, a.exp(), a.log(), a.sqrt(), a.tanh(), a.sigmoid(), a.relu(),
          (a - 1.0).relu(), a.leaky_relu(0.3), a.softplus(), a.sin(), a.cos(), a.atan(),
          a.max(b), abs(a - b), a.identity(), a * 3 + 1, dot(xs, xs[::-1], start=c)]
    take(*ys)
    acc = acc * 0.5 + sum(y * 0.01 for y in ys) * 0.1
    acc = acc.tanh() + dot(xs[:3], [c, 2, a])
acc.backward()
acc.backward(0.5)
take(acc)
grads = [x.grad for x in xs]
grads += list(gradients(acc, xs))
copied = pickle.loads(pickle.dumps(acc))
copied.backward()
grads.append(copied.grad)
deep = copy.deepcopy(acc)
deep.backward(2.0)
grads.append(deep.grad)
with no_grad():
    take(dot(xs, xs), xs[0] * xs[1] + xs[2])

X, Y = moons(40)
model = _model("chainrule")
params = model.parameters()
for _ in range(3):
    eager_step(model, params, X, Y, Value)
grads += [p.grad for p in params]
take(*params)
print(json.dumps({"compiled": engine.COMPILED, "data": [float(v).hex() for v in out],
                  "grads": [float(g).hex() for g in grads]}))
"""


@pytest.mark.skipif(not engine.COMPILED, reason="one build only: nothing compiled to compare")
def test_both_builds_give_the_same_values_and_gradients_to_the_bit() -> None:
    compiled = json.loads(run_python(WORKLOAD, pure=False))
    pure = json.loads(run_python(WORKLOAD, pure=True))
    assert (compiled["compiled"], pure["compiled"]) == (True, False)
    assert len(pure["data"]) > 1000 and len(pure["grads"]) > 300
    assert compiled["data"] == pure["data"]
    assert compiled["grads"] == pure["grads"]


def test_chainrule_pure_runs_the_python_source() -> None:
    code = (
        "import engine, engine.value as v, engine.backward as b, engine.mode, engine.trace\n"
        "slots = type(v.Value.__dict__['__slots__']).__name__\n"
        "print(engine.COMPILED, v.__file__, b.__file__, slots)\n"
        "import sys; print(sys.modules['engine.value'] is engine.value is v)"
    )
    first, second = run_python(code, pure=True).splitlines()
    compiled, value_file, backward_file, slots = first.split()
    assert compiled == "False"
    assert value_file == str(ENGINE / "value.py")
    assert backward_file == str(ENGINE / "backward.py")
    assert slots == "tuple"  # a Python class with slots, not the C type
    assert second == "True"


def test_engine_compiled_says_which_modules_run() -> None:
    suffix = Path(engine.value.__file__ or "").suffix
    assert engine.COMPILED is (suffix != ".py")
    assert engine.COMPILED is engine.value.COMPILED
    assert suffix in (".py", ".so", ".pyd")
    if os.environ.get("CHAINRULE_PURE", "") not in ("", "0"):
        assert not engine.COMPILED


@pytest.mark.skipif(not engine.COMPILED, reason="pure-Python build: nothing compiled")
def test_the_compiled_modules_are_newer_than_their_source() -> None:
    """A compiled module older than value.py would run the old code: rebuild
    (``make`` does, when the sources change)."""
    for name in ("value", "backward"):
        built = Path(getattr(engine, name).__file__).stat().st_mtime
        for source in (ENGINE / f"{name}.py", ENGINE / f"{name}.pxd"):
            assert source.stat().st_mtime <= built, f"{source.name} changed since the build"


def _cython_names_used_by_python(path: Path) -> set[str]:
    """``cython.X`` read when the module runs as Python (not inside ``if
    cython.compiled:``, which Python never enters)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "cython.compiled"
        for n in ast.walk(node)
    }
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "cython"
        and id(node) not in skipped
    }


@pytest.mark.parametrize("name", ["value", "backward"])
def test_the_stand_in_has_everything_the_python_run_uses(name: str) -> None:
    used = _cython_names_used_by_python(ENGINE / f"{name}.py")
    assert used <= set(_cython_shim.__all__), used - set(_cython_shim.__all__)
    for attr in used:
        assert hasattr(_cython_shim, attr)
    assert _cython_shim.compiled is False
    marker = object()
    for decorator in ("cclass", "trashcan", "annotation_typing"):
        f: Any = getattr(_cython_shim, decorator)
        assert (f(marker) if decorator == "cclass" else f(True)(marker)) is marker


def test_the_pure_build_runs_without_cython() -> None:
    """Cython is a build dependency: with ``import cython`` failing, the pure modules
    take the stand-in and compute as always."""
    code = (
        "import sys\n"
        "class NoCython:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'cython' or name.startswith('Cython'):\n"
        "            raise ImportError('no Cython here')\n"
        "sys.meta_path.insert(0, NoCython())\n"
        "import engine, engine.value\n"
        "from engine import Value\n"
        "x = Value(3.0); y = (x * x + 1.0).tanh() - x / 2; y.backward()\n"
        "print(engine.value.cython.__name__, engine.COMPILED, y.data.hex(), x.grad.hex())\n"
    )
    shim, compiled, data, grad = run_python(code, pure=True).split()
    assert shim == "engine._cython_shim" and compiled == "False"
    x = engine.Value(3.0)
    y = (x * x + 1.0).tanh() - x / 2
    y.backward()
    assert (data, grad) == (y.data.hex(), x.grad.hex())


def test_the_build_compiles_only_the_two_engine_modules() -> None:
    """setup.py names value.py and backward.py, each with its .pxd beside it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    modules = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "MODULES"
    )
    assert ast.literal_eval(modules) == ["engine.value", "engine.backward"]
    for name in ("value", "backward"):
        assert (ENGINE / f"{name}.pxd").is_file()


def test_value_offers_the_same_attributes_in_both_builds() -> None:
    """The same names (less what only a Python class lists: ``__module__``,
    ``__annotations__``; Value.__module__ is the same), read-only properties, and
    no new attributes (slots, or a C struct)."""
    code = (
        "import json\n"
        "from engine import Value\n"
        "v = Value(2.0) * 3.0\n"
        "skip = {'__slots__', '__module__', '__annotations__'}\n"
        "names = sorted(n for n in dir(Value) if n not in skip)\n"
        "def refused(name):\n"
        "    try:\n"
        "        setattr(v, name, ())\n"
        "    except AttributeError:\n"
        "        return True\n"
        "    return False\n"
        "ro = [refused(n) for n in ('parents', 'local_grads', 'param', 'is_leaf', 'extra')]\n"
        "print(json.dumps([names, ro, Value.__module__, Value.__array_ufunc__]))"
    )
    pure = json.loads(run_python(code, pure=True))
    here = json.loads(run_python(code, pure=False))
    assert pure == here
    assert pure[1] == [True] * 5 and pure[2:] == ["engine.value", None]
