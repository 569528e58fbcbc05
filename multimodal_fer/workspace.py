"""Scratch space that a killed process cannot leave behind for good.

Every process that analyses or stages recordings (the flow, a Dask worker) keeps its temporary
files — the 16 kHz audio, fetched object-store copies, staged Parquet with words and patient ids
— in its own folder ``<tmp>/mfer-work/<pid>-<random>/``, on which it holds an ``flock`` for its
whole life. The kernel drops that lock when the process ends, however it ends (``kill -9``
included). The next process to ask for scratch space on the machine removes every folder whose
lock nobody holds any more: temp and staging space is reclaimed on the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TextIO

WORK_DIR_NAME = "mfer-work"
LOCK_NAME = ".owner.lock"
NEW_PREFIX = ".new-"
NEW_GRACE_S = 3600.0  # 1 h: a folder still being created is left alone this long

_held: tuple[int, Path, object] | None = None  # (pid, folder, open lock file) of this process


def root() -> Path:
    """``<system temp>/mfer-work``: the parent of every process's scratch folder."""
    return Path(tempfile.gettempdir()) / WORK_DIR_NAME


def reclaim(base: Path | None = None, *, prefix: str = "") -> list[Path]:
    """Remove the folders under ``base`` (default :func:`root`) whose names start with ``prefix`` and
    whose owner process has ended; returns what was removed."""
    removed: list[Path] = []
    base = base or root()
    if not base.is_dir():
        return removed
    for folder in base.iterdir():
        name = folder.name.removeprefix(NEW_PREFIX)
        if not name.startswith(prefix) or not folder.is_dir() or folder.is_symlink() or (_held and folder == _held[1]):
            continue
        if folder.name.startswith(NEW_PREFIX) and time.time() - folder.stat().st_mtime < NEW_GRACE_S:
            continue  # another process is creating it right now
        try:
            with open(folder / LOCK_NAME, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it: its owner is gone
        except BlockingIOError:
            continue  # a live process's folder
        except OSError:
            pass  # no lock file (killed while creating it) or unreadable: the folder is stale
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _locked_folder(base: Path, name: str) -> tuple[Path, TextIO]:
    """Create ``base/name`` with its lock held by this process (locked before it gets the name
    :func:`reclaim` looks at)."""
    new = base / f"{NEW_PREFIX}{name}"
    new.mkdir(parents=True, mode=0o700)
    fh = open(new / LOCK_NAME, "a")  # noqa: SIM115 - held open while the folder is in use
    fcntl.flock(fh, fcntl.LOCK_EX)
    return new.rename(base / name), fh


@contextlib.contextmanager
def owned_dir(base: Path, name: str, *, prefix: str):
    """A folder ``base/name`` that this process owns for the ``with`` block and removes after it; one left
    by a killed owner is removed by the next ``owned_dir`` with the same ``prefix`` under ``base`` (e.g. a
    run's staging folder in a shared ``--staging`` folder). Only names starting with ``prefix`` are touched."""
    reclaim(base, prefix=prefix)
    folder, fh = _locked_folder(base, name)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        fh.close()


def process_dir() -> Path:
    """This process's scratch folder (created, locked and the stale ones reclaimed on first use)."""
    global _held
    if _held is None or _held[0] != os.getpid():  # first use, or a forked child
        reclaim()
        folder, fh = _locked_folder(root(), f"{os.getpid()}-{uuid.uuid4().hex[:8]}")  # held for the process's life
        _held = (os.getpid(), folder, fh)
    return _held[1]


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder inside this process's scratch folder (removed on exit as usual, and by
    :func:`reclaim` if the process is killed first)."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=process_dir())
