"""The build: compile engine/value.py and engine/backward.py with Cython where it can.

Everything else is in pyproject.toml. Those two files are the engine's hot path and
are plain Python that Cython can compile (with engine/value.pxd and
engine/backward.pxd declaring the C types). Where Cython and a C compiler are
there, the package gets the compiled modules beside the .py files, and ``import
engine`` uses them; where either is missing, or the compile fails, the package is
pure Python and works the same, only slower. One line says which.
``engine.COMPILED`` tells at run time; ``CHAINRULE_PURE=1`` in the environment runs
the pure modules even where compiled ones exist.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
MODULES = ["engine.value", "engine.backward"]


def say(message: str) -> None:
    print(f"chainrule: {message}", file=sys.stderr, flush=True)


def _remove_stale(build: build_ext) -> None:
    """A compiled module left by an earlier build would shadow the .py files: remove
    it from the build folder and, for an in-place or editable build, from the source
    tree, where the package is imported from."""
    folders = [Path(build.build_lib)]
    if build.inplace or getattr(build, "editable_mode", False):
        folders.append(HERE)
    for name in MODULES:
        for folder in folders:
            path = folder / build.get_ext_filename(name)
            if path.is_file():
                path.unlink()


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python instead of failing the install."""

    def run(self) -> None:
        if os.environ.get("CHAINRULE_PURE_BUILD", "") not in ("", "0"):
            why = "CHAINRULE_PURE_BUILD is set"
        else:
            why = self._compile()
            if why is None:
                say("compiled build: engine.value and engine.backward compiled with Cython")
                return
        _remove_stale(self)
        say(f"pure-Python build ({why}); everything works, the eager engine is slower")

    def _compile(self) -> str | None:
        """Compile the extensions; None, or why not."""
        try:
            from Cython.Build import cythonize
        except ImportError:
            return "Cython is not installed"
        try:
            translated = cythonize(
                extensions(),
                compiler_directives={
                    "language_level": 3,
                    # annotations are for type checkers; only functions marked
                    # @cython.annotation_typing(True) have theirs read as C types
                    "annotation_typing": False,
                    "binding": True,  # functions keep a signature and __doc__ (doctests)
                    "embedsignature": True,
                },
                build_dir="build/cython",
                quiet=True,
            )
            for ext, c_ext in zip(self.extensions, translated):
                ext.sources = c_ext.sources  # the generated C files
            super().run()
        except Exception as error:  # no compiler, no headers, a Cython error ...
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return f"compiling failed: {first if len(first) <= 160 else first[:157] + '...'}"
        return None

    def get_outputs(self) -> list[str]:
        return [path for path in super().get_outputs() if os.path.exists(path)]


def extensions() -> list[Any]:
    """The modules build_ext may compile (their sources: the .py files)."""
    return [Extension(name, [name.replace(".", "/") + ".py"]) for name in MODULES]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
