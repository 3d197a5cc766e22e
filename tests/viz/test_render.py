"""Rendering to files: formats, atomic writes, a missing or failing Graphviz."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine import Value
from tests.viz.helpers import fake_dot
from viz import GraphvizError, GraphvizNotFoundError, render, to_dot
from viz.render import atomic_path, find_dot, render_dot, write_atomic

MAGIC = {"svg": b"<?xml", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def _graph() -> Value:
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    y = (x * w).tanh()
    y.backward()
    return y


def _hide_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make ``dot`` unfindable: PATH holds only an empty directory."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_render_each_format(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"graph.{fmt}"
    assert render(_graph(), path) == path
    assert path.read_bytes().startswith(MAGIC[fmt])
    other = tmp_path / "no-suffix"
    render(_graph(), other, format=fmt)
    assert other.read_bytes().startswith(MAGIC[fmt])
    assert _leftovers(tmp_path) == []


@pytest.mark.needs_dot
def test_render_passes_the_drawing_options(tmp_path: Path) -> None:
    path = tmp_path / "g.svg"
    render(_graph(), path, show_edge_grads=True, fmt=".2f", title="my title")
    texts = [t.text for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert "my title" in texts and "∂ -3.00" in texts and "-3.00" in texts


def test_dot_format_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_dot(monkeypatch, tmp_path)
    y = _graph()
    path = tmp_path / "graph.dot"
    render(y, path)
    assert path.read_text(encoding="utf-8") == to_dot(y)
    render(y, tmp_path / "graph.gv")
    assert (tmp_path / "graph.gv").read_text(encoding="utf-8") == to_dot(y)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell the format"):
        render(_graph(), tmp_path / "graph.gif")
    with pytest.raises(ValueError, match="format must be one of"):
        render(_graph(), tmp_path / "graph.svg", format="gif")
    with pytest.raises(ValueError, match="svg, png, pdf"):
        render_dot("digraph {}", "dot")
    assert list(tmp_path.iterdir()) == []


def test_missing_graphviz_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide_dot(monkeypatch, tmp_path)
    with pytest.raises(GraphvizNotFoundError) as info:
        find_dot()
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in message
    assert isinstance(info.value, RuntimeError)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(GraphvizNotFoundError):
        render(_graph(), out / "graph.svg")
    assert list(out.iterdir()) == []  # no partial file, no temporary file


def test_missing_graphviz_leaves_an_existing_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "graph.png"
    path.write_bytes(b"the old picture")
    _hide_dot(monkeypatch, tmp_path)
    with pytest.raises(GraphvizNotFoundError):
        render(_graph(), path)
    assert path.read_bytes() == b"the old picture"


def test_failing_dot_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a dot that writes half a picture and then fails
    script = "printf 'half a pict'; echo 'Error: out of memory' >&2; exit 3"
    fake_dot(monkeypatch, tmp_path, script)
    out = tmp_path / "out"
    out.mkdir()
    old = out / "graph.svg"
    old.write_bytes(b"the old picture")
    with pytest.raises(GraphvizError, match="out of memory"):
        render(_graph(), old)
    assert old.read_bytes() == b"the old picture"
    with pytest.raises(GraphvizError):
        render(_graph(), out / "new.svg")
    assert sorted(p.name for p in out.iterdir()) == ["graph.svg"]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render(_graph(), tmp_path / "nope" / "graph.dot")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    path = tmp_path / "graph.dot"
    render(_graph(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_crashed_dot_is_named_as_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dot(monkeypatch, tmp_path, "cat >/dev/null; kill -SEGV $$")
    with pytest.raises(GraphvizError, match=r"crashed \(SIGSEGV, signal 11\).*smaller graph"):
        render_dot(to_dot(_graph()), "png")


def test_dots_messages_are_kept_to_their_first_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "cat >/dev/null; yes 'Warning: w' | head -n 500000 >&2; exit 1"
    fake_dot(monkeypatch, tmp_path, script)
    with pytest.raises(GraphvizError) as info:
        render_dot(to_dot(_graph()), "svg")
    message = str(info.value)
    assert message.startswith("dot -Tsvg failed: Warning: w\nWarning: w")
    assert message.count("Warning: w") == 5 and len(message) < 600
    assert "5,499,999 bytes of messages from dot in all" in message
