"""Which build of ``engine.value`` and ``engine.backward`` runs: ``COMPILED``.

The install compiles those two files with Cython where a C compiler is there
(setup.py), leaving the compiled modules beside the ``.py`` files, and Python's
import prefers them. ``CHAINRULE_PURE=1`` in the environment runs the Python
source anyway (to step through it with pdb, or to compare the builds): this module,
imported first by :mod:`engine`, then loads the two source files itself, before
anything imports them. It also imports ``engine.value`` before ``engine.backward``:
compiled, the second needs the first's ``Value`` type when it is imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["COMPILED", "load_pure_modules"]

_HERE = Path(__file__).parent


def load_pure_modules() -> None:
    """Import engine/backward.py and engine/value.py from source (backward first:
    value imports it); a no-op for a module already imported."""
    package = sys.modules["engine"]
    for name in ("backward", "value"):
        full = f"engine.{name}"
        if full in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(full, _HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[full]
            raise
        setattr(package, name, module)


if os.environ.get("CHAINRULE_PURE", "") not in ("", "0"):
    load_pure_modules()

from engine import value as _value  # noqa: E402 (after the pure modules, if asked for)

COMPILED: bool = _value.COMPILED
