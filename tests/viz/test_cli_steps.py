"""``chainrule steps``: the step-through page of an expression from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.viz.helpers import fake_dot
from viz.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


NEURON = ("tanh(x*w + b)", "x=2", "w=-3", "b=6.88")


@pytest.mark.needs_dot
def test_steps_writes_the_page_and_frames(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    page, frames = tmp_path / "steps.html", tmp_path / "frames"
    code, out, err = run(capsys, "steps", *NEURON, "-o", str(page), "--frames", str(frames))
    assert (code, err) == (0, "")
    assert f"wrote {page}: 6 forward and 6 backward steps" in out
    assert "wrote 12 frames" in out
    text = page.read_text(encoding="utf-8")
    assert "tanh(x*w + b)" in text  # the title
    assert '"formula":"grad(out) = ∂out/∂out  (the seed)"' in text  # the root is named out
    assert sorted(p.name for p in frames.iterdir()) == [f"step_{i:03d}.svg" for i in range(1, 13)]


@pytest.mark.needs_dot
def test_digits_and_rankdir(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "p.html"
    assert run(capsys, "steps", *NEURON, "-o", str(page), "--digits", "8")[0] == 0
    assert "0.70641932" in page.read_text(encoding="utf-8")
    assert run(capsys, "steps", "x*y", "x=1", "y=2", "-o", str(page), "--rankdir", "TB")[0] == 0


def test_a_variable_named_out_keeps_the_root_unnamed(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import viz.step_page

    seen = []
    real = viz.step_page.step_through

    def spy(root, **kw):  # type: ignore[no-untyped-def]
        seen.append(root.label)
        return real(root, **kw)

    monkeypatch.setattr(viz.step_page, "step_through", spy)
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot: the page is not written
    code, _out, err = run(capsys, "steps", "out*2", "out=3", "-o", str(tmp_path / "p.html"))
    assert seen == [""] and code == 1
    assert "Graphviz 'dot' program is missing" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("x*", "x=1"), "invalid syntax"),
        (("__import__('os')",), ""),
        (("x", "x=1", "--digits", "0"), "--digits must be between 1 and 17"),
        (("x", "x=1", "-o", "/no/such/dir/p.html"), "directory of '/no/such/dir/p.html'"),
        (("x", "y=1"), ""),
    ],
)
def test_bad_usage_is_one_line_and_status_2(capsys, argv, message) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "steps", *argv)
    assert code == 2 and out == ""
    assert err.startswith("chainrule steps: error: ")
    assert message in err


def test_output_that_is_a_directory_or_frames_that_is_a_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "steps", "x*2", "x=1", "-o", str(tmp_path))
    assert code == 2 and "is a directory" in err
    f = tmp_path / "f"
    f.write_text("")
    code, _, err = run(
        capsys, "steps", "x*2", "x=1", "-o", str(tmp_path / "p.html"), "--frames", str(f)
    )
    assert code == 2 and "is a file, not a directory" in err


@pytest.mark.needs_dot
def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The page goes through nn.atomic: a FIFO is written in place (this test hung once
    the policy changed, as nothing read the pipe). A reader is there first, so the
    writer's open() does not block; the page (~16 kB) fits the pipe's buffer."""
    import os
    import stat

    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        code, out, err = run(capsys, "steps", "x*2", "x=1", "-o", str(fifo))
        got = b""
        while chunk := os.read(reader, 1 << 16):
            got += chunk
    finally:
        os.close(reader)
    assert (code, err) == (0, "") and f"wrote {fifo}" in out
    assert got.startswith(b"<!DOCTYPE html>") and got.rstrip().endswith(b"</html>")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.html"]


def test_help_lists_steps(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["steps", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--frames DIR" in out and 'chainrule steps "tanh(x*w + b)"' in out


@pytest.mark.needs_dot
def test_output_dash_writes_the_page_to_stdout(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsysbinary, monkeypatch
) -> None:
    """-o - is standard output, as for chainrule graph; it wrote a file named '-'."""
    monkeypatch.chdir(tmp_path)
    code = main(["steps", "x*2", "x=1", "-o", "-"])
    out, err = capsysbinary.readouterr()
    assert code == 0
    assert out.startswith(b"<!DOCTYPE html>") and out.rstrip().endswith(b"</html>")
    assert b"wrote" not in out and b"backward steps" not in out  # the report went to stderr
    assert b"3 forward and 3 backward steps" in err
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_a_failing_dot_is_one_error_line(capsys, tmp_path: Path, monkeypatch) -> None:
    fake_dot(
        monkeypatch, tmp_path, "cat >/dev/null; printf 'Error: one\\nError: two\\n' >&2; exit 1"
    )
    code, out, err = run(capsys, "steps", "x*y", "x=1", "y=2", "-o", str(tmp_path / "s.html"))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and "Error: one" in err and "Error: two" in err
    assert not (tmp_path / "s.html").exists()
