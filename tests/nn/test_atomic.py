"""nn.atomic: regular files replaced atomically, devices/FIFOs written in place, links kept.

The same checks run through every writer built on the helper: ``write_atomic`` itself,
``viz.render.write_atomic`` (the CLI's ``-o``) and ``Module.save``. Nothing here touches
a real device: FIFOs, sockets and (as root) a character device are made in tmp_path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nn import Neuron
from nn.atomic import atomic_path, write_atomic
from viz.render import write_atomic as render_write_atomic

ROOT = Path(__file__).resolve().parents[2]


def _save_module(path: str | os.PathLike[str], data: bytes) -> None:
    """Module.save as a writer of ``data``: a module whose state file is that text."""
    del data
    Neuron(1, seed=0).save(path)


def _expected(writer: Callable[..., None], data: bytes) -> bytes:
    """What ``writer`` puts in the file for ``data`` (Module.save writes its own text)."""
    if writer is _save_module:
        return (json.dumps(_state_document(), indent=1) + "\n").encode()
    return data


def _state_document() -> dict[str, object]:
    return {
        "format": "chainrule.state_dict",
        "version": 1,
        "module": "Neuron",
        "parameters": Neuron(1, seed=0).state_dict(),
    }


WRITERS = {
    "write_atomic": write_atomic,
    "viz.render.write_atomic": render_write_atomic,
    "Module.save": _save_module,
}


@pytest.fixture(params=list(WRITERS))
def writer(request: pytest.FixtureRequest) -> Callable[..., None]:
    return WRITERS[request.param]  # type: ignore[return-value]


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


# --- regular files ----------------------------------------------------------------------


def test_new_and_replaced_regular_files(tmp_path: Path, writer) -> None:
    path = tmp_path / "out.json"
    writer(path, b"first")
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    writer(path, b"second")
    assert path.read_bytes() == _expected(writer, b"second")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_path_replaces_only_when_the_block_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt"  # savefig reads the suffix
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert _temp_files(tmp_path) == []


def test_text_is_written_as_utf8_and_other_data_refused(tmp_path: Path) -> None:
    write_atomic(tmp_path / "t.txt", "∂y/∂x")
    assert (tmp_path / "t.txt").read_bytes() == "∂y/∂x".encode()
    with pytest.raises(TypeError, match="bytes or str, not int"):
        write_atomic(tmp_path / "n.txt", 3)  # type: ignore[arg-type]
    assert not (tmp_path / "n.txt").exists()


# --- symlinks, FIFOs, sockets, devices, directories ------------------------------------


def test_a_symlink_is_followed_and_kept(tmp_path: Path, writer) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "data.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    writer(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == _expected(writer, b"new")
    assert _temp_files(tmp_path) == [] and _temp_files(real_dir) == []


def test_a_dangling_symlink_gets_its_target_created(tmp_path: Path, writer) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "later.json")
    writer(link, b"new")
    assert link.is_symlink()
    assert (tmp_path / "later.json").read_bytes() == _expected(writer, b"new")


@pytest.mark.parametrize("through_link", [False, True], ids=["fifo", "symlink-to-fifo"])
def test_a_fifo_is_written_in_place_never_replaced(tmp_path: Path, writer, through_link) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    path = fifo
    if through_link:
        path = tmp_path / "link"
        path.symlink_to(fifo)
    # a reader that is already there, so the writer's open() does not block
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        writer(path, b"through the pipe")
        try:
            got = os.read(reader, 1 << 16)
        except BlockingIOError:
            got = b""
    finally:
        os.close(reader)
    assert got == _expected(writer, b"through the pipe")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    if through_link:
        assert path.is_symlink()
    assert _temp_files(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_character_device_is_written_in_place_never_replaced(tmp_path: Path, writer) -> None:
    """A private null device (major 1, minor 3) made in tmp_path, like ``-o /dev/null``."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:  # a container without CAP_MKNOD
        pytest.skip("cannot make device nodes here")
    link = tmp_path / "stdout-like"
    link.symlink_to(node)
    writer(node, b"discarded")
    writer(link, b"discarded")
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert link.is_symlink()
    assert _temp_files(tmp_path) == []


def test_a_socket_is_refused_with_its_name(tmp_path: Path, writer) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(OSError, match="socket") as info:
            writer(path, b"x")
        assert info.value.filename == str(path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert _temp_files(tmp_path) == []


def test_a_directory_is_refused_with_its_name(tmp_path: Path, writer) -> None:
    with pytest.raises(IsADirectoryError) as info:
        writer(tmp_path, b"x")
    assert info.value.filename == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- errors name the user's path ----------------------------------------------------------


def test_a_missing_directory_names_the_path_not_a_temp_file(writer) -> None:
    with pytest.raises(FileNotFoundError) as info:
        writer("/nonexistent/x.json", b"x")
    text = str(info.value)
    assert "/nonexistent/x.json" in text and ".tmp" not in text
    assert "does not exist" in text


def test_module_save_error_names_the_users_path() -> None:
    """The issue's case: the message named /nonexistent/.x.json.29f1cf4e3257.tmp."""
    with pytest.raises(FileNotFoundError) as info:
        Neuron(2, seed=0).save("/nonexistent/x.json")
    assert info.value.filename == "/nonexistent/x.json"
    assert ".tmp" not in str(info.value)


@pytest.mark.parametrize("step", ["os.replace", "os.fsync"])
def test_a_failed_rename_or_flush_names_the_target(tmp_path: Path, monkeypatch, step) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def fail(*args: object) -> None:
        # as the real call fails: naming the temporary file (and the target)
        names = [a for a in args if isinstance(a, (str, os.PathLike))]
        raise PermissionError(errno.EACCES, "Permission denied", *names)

    monkeypatch.setattr(os, step.removeprefix("os."), fail)
    with pytest.raises(PermissionError) as info:
        write_atomic(path, b"new")
    monkeypatch.undo()
    assert info.value.filename == str(path) and info.value.filename2 is None
    assert ".tmp" not in str(info.value)
    assert path.read_bytes() == b"old"
    assert _temp_files(tmp_path) == []


# --- temporary files left by a killed writer --------------------------------------------


KILLED_WRITER = """
import os, signal, sys
from nn.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_mid_write_leaves_a_temp_file_the_next_write_removes(
    tmp_path: Path, writer
) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"intact")
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, check=False, timeout=120
    )
    assert done.returncode == -9
    assert path.read_bytes() == b"intact"
    assert len(_temp_files(tmp_path)) == 1  # what kill -9 leaves
    writer(path, b"next")
    assert path.read_bytes() == _expected(writer, b"next")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_only_unlocked_temp_files_of_the_same_target_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "g.svg"
    stale = tmp_path / ".g.svg.0123456789ab.tmp.svg"  # a dead writer's
    busy = tmp_path / ".g.svg.ba9876543210.tmp.svg"  # a live writer's, locked
    other_target = tmp_path / ".h.svg.0123456789ab.tmp.svg"
    not_a_temp = tmp_path / ".g.svg.backup"
    for p in (stale, busy, other_target, not_a_temp):
        p.write_bytes(b"x")
    fd = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write_atomic(path, b"<svg/>")
        assert not stale.exists()
        assert busy.exists() and other_target.exists() and not_a_temp.exists()
    finally:
        os.close(fd)
    assert path.read_bytes() == b"<svg/>"


def test_a_symlink_or_fifo_named_like_a_temp_file_is_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("keep")
    trap = tmp_path / ".g.svg.0123456789ab.tmp.svg"
    trap.symlink_to(victim)
    fifo = tmp_path / ".g.svg.ba9876543210.tmp.svg"
    os.mkfifo(fifo)  # opening it to read would block without O_NONBLOCK

    class Hung(Exception):  # not an OSError (TimeoutError is one), which the cleanup skips
        pass

    def hung(signum: int, frame: object) -> None:
        raise Hung("the stale-file cleanup blocked opening a FIFO")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        write_atomic(tmp_path / "g.svg", b"<svg/>")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert trap.is_symlink() and victim.read_text() == "keep"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_temp_files_of_earlier_saves_without_a_suffix_are_removed(tmp_path: Path) -> None:
    """Module.save used to name its temporary files ``.x.json.<hex>.tmp``."""
    old = tmp_path / ".m.json.29f1cf4e3257.tmp"
    old.write_text("{")
    Neuron(1, seed=0).save(tmp_path / "m.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
