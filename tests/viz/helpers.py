"""Helpers for the viz tests: run the real ``dot`` and read its SVG back."""

from __future__ import annotations

import os
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SVG = "{http://www.w3.org/2000/svg}"


def run_dot(source: str, fmt: str = "svg") -> bytes:
    """``dot -T<fmt>`` on ``source``; fails the test on any error or warning from dot."""
    done = subprocess.run(
        ["dot", f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert done.stderr == b"", done.stderr.decode("utf-8", "replace")
    return done.stdout


def svg_node_texts(svg: bytes) -> dict[str, list[str]]:
    """Each drawn node's id (its <title>) → the texts written inside it, in order."""
    root = ET.fromstring(svg)
    nodes = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            title = g.find(f"{SVG}title")
            assert title is not None and title.text is not None
            nodes[title.text] = [t.text or "" for t in g.findall(f"{SVG}text")]
    return nodes


def svg_graph_title(svg: bytes) -> list[str]:
    """The texts of the graph's own label (its caption)."""
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "graph":
            return [t.text or "" for t in g.findall(f"{SVG}text")]
    return []


def fake_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, script: str) -> None:
    """Put a ``dot`` that runs ``script`` (sh) first on PATH."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    dot = bin_dir / "dot"
    dot.write_text("#!/bin/sh\n" + script + "\n")
    dot.chmod(dot.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
