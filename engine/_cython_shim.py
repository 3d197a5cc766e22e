"""What ``engine.value`` and ``engine.backward`` use of the ``cython`` module, when
Cython is not installed (it is needed only to *build* the compiled modules).

Those two files are plain Python that Cython can also compile (its "pure Python
mode"): a few decorators there tell the compiler how to type things, and ``.pxd``
files beside them declare the C layout of ``Value``. Run as Python, the decorators
do nothing, and ``compiled`` is False. (With Cython installed, ``import cython``
gives Cython's own stand-in, which does the same.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["compiled", "cclass", "annotation_typing", "trashcan"]

T = TypeVar("T")

compiled = False  # True only inside a module Cython compiled


def annotation_typing(enabled: bool) -> Callable[[T], T]:
    """Compiled: read this function's annotations as C types. Here: nothing."""

    def keep(f: T) -> T:
        return f

    return keep


def trashcan(enabled: bool) -> Callable[[T], T]:
    """Compiled: free chains of nodes with a loop, not recursion. Here: nothing
    (CPython does that for every Python class)."""
    return annotation_typing(enabled)


def cclass(cls: T) -> T:
    """Compiled: make this class a C type (fields declared in the .pxd). Here: nothing."""
    return cls
