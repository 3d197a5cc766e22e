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


# --- issue 12: getting started ----------------------------------------------------------------

ROOT = README.parent


def _first_screen() -> str:
    text = README.read_text(encoding="utf-8")
    return text[: text.index("## Two commands")]


def test_the_first_screen_takes_a_newcomer_into_the_projects_environment() -> None:
    first = _first_screen()
    assert len(first.splitlines()) <= 45  # a screen, give or take
    for step in ("git clone", "make demo", "make shell", ".venv/bin/python", "make notebook"):
        assert step in first, step
    assert "#troubleshooting" in first and "\n## Troubleshooting\n" in README.read_text("utf-8")


@pytest.mark.parametrize(
    ("target", "command"),
    [("shell", ".venv/bin/python -q"), ("notebook", ".venv/bin/jupyter notebook notebooks/")],
)
def test_make_shell_and_notebook_run_on_the_venv(target: str, command: str) -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert command in done.stdout


def test_installing_is_quiet_by_configuration() -> None:
    """setuptools warns about a TOML-table license and about an editable install that
    needs an import hook (packages not declared with their folder): neither is here.
    (An actual ``pip install -e .`` printed nothing but pip's own lines when checked.)"""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '\nlicense = "MIT"\n' in text
    assert 'package-dir = { "" = "." }' in text
    assert 'requires = ["setuptools>=77", "Cython>=3.0,<4"]' in text  # SPDX: 77


@pytest.mark.parametrize(
    ("shadow", "statement", "package"),
    [
        ("engine.py", "import nn", "engine"),
        ("nn.py", "import viz", "nn"),
        ("engine/__init__.py", "import viz", "engine"),
    ],
)
def test_a_students_engine_py_is_named_and_the_readme_says_what_to_do(
    tmp_path, shadow: str, statement: str, package: str
) -> None:
    import os
    import subprocess
    import sys

    file = tmp_path / shadow
    file.parent.mkdir(exist_ok=True)
    file.write_text("class Value:  # micrograd's\n    pass\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", statement],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: chainrule's ")
    assert f"finds another {package!r} first: {file}" in last
    assert "rename it" in last
    troubleshooting = README.read_text(encoding="utf-8").split("## Troubleshooting")[1]
    assert "another 'engine' first" in troubleshooting and "my_engine.py" in troubleshooting


# --- issue 12: the micrograd table ------------------------------------------------------------


def test_the_readmes_micrograd_column_is_the_checked_one() -> None:
    from benchmarks.micrograd_table import CELLS, readme_rows

    assert readme_rows() == {what: cell for what, (cell, _) in CELLS.items()}


def test_every_micrograd_cell_holds_for_micrograd_as_installed(capsys) -> None:
    pytest.importorskip("micrograd")
    from benchmarks.micrograd_table import main

    code = main()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "10 of 10 cells hold for micrograd 0.1.0" in out


def test_the_batch_replay_example_runs_and_matches_eager(capsys) -> None:
    """The README's vmap example: its printed loss is the mean of the eager hinge losses
    (checked on the first 40 samples, replayed the same way)."""
    np = pytest.importorskip("numpy")
    text = README.read_text(encoding="utf-8")
    match = re.search(r"### Batch replay.*?```python\n(.*?)```", text, re.S)
    assert match, "the README lost its batch replay example"
    namespace: dict = {}
    exec(compile(match.group(1), str(README), "exec"), namespace)  # our own README
    X, t = namespace["X"], namespace["t"]
    printed = capsys.readouterr().out.split()
    assert float(printed[1]) == namespace["model"].parameters()[0].grad
    eager = [namespace["sample_loss"](x, y).data for x, y in zip(X[:40], t[:40])]
    assert namespace["step"](np.array(X[:40]), np.array(t[:40])) == pytest.approx(
        sum(eager) / 40, rel=1e-12
    )
    assert float(printed[0]) == pytest.approx(namespace["loss"], abs=5e-7)
