"""The README's tour must run as printed, and say what it computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"## A tour in ten lines\n\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its tour"
    return match.group(1)


def test_the_tour_is_ten_lines_or_so() -> None:
    assert len(_tour().strip().splitlines()) <= 12


def test_the_tour_runs_and_its_comments_are_true(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_tour(), str(README), "exec"), namespace)  # our own README, not user text
    assert namespace["w"].grad == pytest.approx(1.0019434875)
    assert namespace["y"].op == "tanh"
    out = capsys.readouterr().out
    assert "1.0019" in out and "prediction ŷ = 0.501753" in out
    assert (tmp_path / "graph.svg").exists() or not _has_dot()


def _has_dot() -> bool:
    import shutil

    return shutil.which("dot") is not None
