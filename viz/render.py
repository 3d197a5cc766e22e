"""Rendering DOT to a file with the Graphviz ``dot`` program, atomically.

The picture is made in memory (``dot`` reads the text on stdin and writes the
image on stdout), written to a temporary file in the target directory and moved
into place with ``os.replace``: a failure at any step leaves no partial file and
leaves an existing file at ``path`` untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from engine import Value
from nn.atomic import atomic_path, write_atomic
from viz.dot import to_dot

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "GraphvizError",
    "GraphvizNotFoundError",
    "atomic_path",
    "find_dot",
    "render",
    "render_dot",
    "write_atomic",
]

#: What :func:`render` writes; ``"dot"`` is the DOT text itself (no Graphviz needed).
FORMATS = ("svg", "png", "pdf", "dot")

INSTALL_HINT = (
    "install Graphviz: 'sudo apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS) or 'conda install graphviz'"
)

#: Seconds a single ``dot`` run may take before it is stopped.
DOT_TIMEOUT = 120


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not installed (or not on PATH)."""

    def __init__(self) -> None:
        super().__init__(
            "the Graphviz 'dot' program was not found on PATH, so the graph cannot be "
            f"rendered; {INSTALL_HINT}. The DOT text works without it: viz.to_dot(root) "
            "or render(..., format='dot')"
        )


class GraphvizError(RuntimeError):
    """``dot`` ran but failed; the message carries what it printed."""


def find_dot() -> str:
    """The path of the ``dot`` program, or :class:`GraphvizNotFoundError`."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError()
    return path


def _format_of(path: Path, format: str | None) -> str:
    if format is None:
        suffix = path.suffix.lower().lstrip(".")
        if suffix == "gv":
            suffix = "dot"
        if suffix not in FORMATS:
            raise ValueError(
                f"cannot tell the format from {str(path)!r}; give a path ending in "
                f"{', '.join('.' + f for f in FORMATS)} or pass format="
            )
        return suffix
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    return format


def render_dot(source: str, format: str) -> bytes:
    """Run ``dot -T<format>`` on DOT ``source`` and return the image bytes."""
    if format not in FORMATS or format == "dot":
        raise ValueError(f"format must be one of svg, png, pdf, got {format!r}")
    dot = find_dot()
    try:
        done = subprocess.run(
            [dot, f"-T{format}", *(["-Gdpi=144"] if format == "png" else [])],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"dot did not finish within {DOT_TIMEOUT} s; draw a smaller graph"
        ) from None
    if done.returncode < 0:  # killed by a signal: dot crashed (or was killed)
        raise GraphvizError(
            f"dot -T{format} crashed ({_signal_name(-done.returncode)}) on a graph of "
            f"{source.count(chr(10))} lines of DOT; draw a smaller graph"
        )
    if done.returncode != 0 or not done.stdout:
        message = _first_lines(done.stderr) or f"exit status {done.returncode}"
        raise GraphvizError(f"dot -T{format} failed: {message}")
    return done.stdout


#: How much of ``dot``'s stderr an error message keeps.
ERROR_LINES = 5
ERROR_CHARS = 500


def _first_lines(stderr: bytes) -> str:
    """The first ``ERROR_LINES`` lines of ``stderr`` (at most ``ERROR_CHARS``), marked if cut."""
    whole = stderr.strip()
    lines = whole[: ERROR_CHARS * 4].decode("utf-8", "replace").splitlines()
    kept = "\n".join(lines[:ERROR_LINES])[:ERROR_CHARS]
    if len(kept.encode("utf-8")) < len(whole):
        kept += f" [... {len(whole):,} bytes of messages from dot in all]"
    return kept


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name}, signal {number}"
    except ValueError:
        return f"signal {number}"


def render(
    root: Value,
    path: str | os.PathLike[str],
    format: str | None = None,
    **options: Any,
) -> Path:
    """Draw ``root``'s graph into ``path`` as svg, png, pdf (or the DOT text).

    The format comes from ``format`` or else from the file's suffix. ``options``
    are those of :func:`viz.to_dot` (``rankdir``, ``show_edge_grads``, ``fmt``,
    ``module``, ...). Raises :class:`GraphvizNotFoundError` (saying how to install
    Graphviz) when ``dot`` is missing; on any failure no file is written or
    changed. Returns the path written.
    """
    target = Path(path)
    fmt = _format_of(target, format)
    source = to_dot(root, **options)
    data = source.encode("utf-8") if fmt == "dot" else render_dot(source, fmt)
    write_atomic(target, data)
    return target
