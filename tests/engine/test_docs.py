"""The examples in engine's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import engine

MODULES = ["engine"] + [f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_main_modules_have_examples() -> None:
    attempted = 0
    for name in ("engine", "engine.value", "engine.compiler", "engine.transforms", "engine.define"):
        attempted += doctest.testmod(importlib.import_module(name)).attempted
    assert attempted >= 10


def test_every_public_name_is_documented() -> None:
    for name in engine.__all__:
        obj = getattr(engine, name)
        if callable(obj):
            assert obj.__doc__, f"engine.{name} has no docstring"
