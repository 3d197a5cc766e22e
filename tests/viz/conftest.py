"""The viz tests: rendering tests (``needs_dot``) skip themselves when Graphviz is absent."""

from __future__ import annotations

import shutil

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_dot") and shutil.which("dot") is None:
        pytest.skip("the Graphviz 'dot' program is not installed (apt-get install graphviz)")
