"""The examples in nn's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["nn", "nn.data", "nn.layers", "nn.losses", "nn.optim", "nn.seeding", "nn.walkthrough"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_every_public_name_is_exported_and_documented() -> None:
    import nn

    for name in nn.__all__:
        obj = getattr(nn, name)
        if callable(obj):
            assert obj.__doc__, f"nn.{name} has no docstring"
