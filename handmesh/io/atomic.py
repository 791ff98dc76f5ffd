"""Atomic file and directory writes: a crash never leaves a half-written file behind.

Every write goes to a hidden temp file (``.<name>.*.tmp``) beside its target, is flushed to disk
(``fsync``), renamed over the target, and the directory entry is flushed too, so neither a killed
process nor a power loss leaves an empty or partial file under the target's name.
``remove_stale_temps`` deletes the temp files a killed run left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

OLD_DIR_SUFFIX = ".old"


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# tempfile creates private files (0o600) and directories (0o700); what we publish gets the modes a
# plain open() / mkdir() would give, so others sharing the experiment directory can read it
_UMASK = _process_umask()
_FILE_MODE = 0o666 & ~_UMASK
_DIR_MODE = 0o777 & ~_UMASK


TEMP_SUFFIX = ".tmp"


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync directories; the rename is still atomic
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temp file in the same directory, flush it to disk, then
    rename it to ``path`` (and flush the directory entry)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE)
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def atomic_append_text(path: str | os.PathLike, text: str) -> None:
    """Append by rewriting the whole (small) file atomically."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic_write_text(path, old + text)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def new_temp_dir(next_to: str | os.PathLike) -> Path:
    """An empty temp directory beside ``next_to`` (same file system, so renames are atomic)."""
    next_to = Path(next_to)
    next_to.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{next_to.name}.", suffix=TEMP_SUFFIX, dir=next_to.parent)
    os.chmod(tmp, _DIR_MODE)
    return Path(tmp)


def replace_dir(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move the complete directory ``src`` to ``dst``, replacing an existing ``dst``.

    The old ``dst`` is first renamed to ``dst + OLD_DIR_SUFFIX``; a crash between the two renames
    leaves that complete copy, which :func:`recover_dir` puts back.
    """
    src, dst = Path(src), Path(dst)
    old = dst.with_name(dst.name + OLD_DIR_SUFFIX)
    if old.exists():
        shutil.rmtree(old)
    fsync_path(src)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    fsync_path(dst.parent)
    if old.exists():
        shutil.rmtree(old)


def recover_dir(dst: str | os.PathLike) -> Path:
    """``dst``, restored from the copy :func:`replace_dir` set aside if a crash left only that."""
    dst = Path(dst)
    old = dst.with_name(dst.name + OLD_DIR_SUFFIX)
    if not dst.exists() and old.exists():
        try:
            os.replace(old, dst)
        except FileNotFoundError:  # another process (e.g. a torchrun rank) recovered it first
            if not dst.exists():
                raise
    return dst


def copy_dir_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy directory ``src`` to a new name ``dst`` (replacing it) through a temp directory."""
    tmp = new_temp_dir(dst)
    shutil.copytree(src, tmp, dirs_exist_ok=True)
    replace_dir(tmp, dst)


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Delete the hidden ``.*.tmp`` files and folders a killed writer left in ``directory``
    (not recursive). Call only when no other process writes there. Returns what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [
        p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)
    ]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale
