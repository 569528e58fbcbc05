"""Scratch space that a killed process cannot leave behind for good.

Every process that analyses or stages recordings (the flow, a Dask worker) keeps its temporary
files — the 16 kHz audio, fetched object-store copies, staged Parquet with words and patient ids
— in its own folder ``<tmp>/mfer-work/<pid>-<random>/``, on which it holds an ``flock`` for its
whole life. The kernel drops that lock when the process ends, however it ends (``kill -9``
included). The next process to ask for scratch space on the machine removes every folder whose
lock nobody holds any more: temp and staging space is reclaimed on the next start.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

WORK_DIR_NAME = "mfer-work"
LOCK_NAME = ".owner.lock"
NEW_PREFIX = ".new-"
NEW_GRACE_S = 3600.0  # 1 h: a folder still being created is left alone this long

_held: tuple[int, Path, object] | None = None  # (pid, folder, open lock file) of this process


def root() -> Path:
    """``<system temp>/mfer-work``: the parent of every process's scratch folder."""
    return Path(tempfile.gettempdir()) / WORK_DIR_NAME


def reclaim() -> list[Path]:
    """Remove the scratch folders of processes that have ended; returns what was removed."""
    removed = []
    base = root()
    if not base.is_dir():
        return removed
    for folder in base.iterdir():
        if not folder.is_dir() or folder.is_symlink() or (_held and folder == _held[1]):
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


def process_dir() -> Path:
    """This process's scratch folder (created, locked and the stale ones reclaimed on first use)."""
    global _held
    if _held is None or _held[0] != os.getpid():  # first use, or a forked child
        reclaim()
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        new = root() / f"{NEW_PREFIX}{name}"  # locked before it gets the name reclaim() looks at
        new.mkdir(parents=True, mode=0o700)
        fh = open(new / LOCK_NAME, "a")  # noqa: SIM115 - held open for the life of the process
        fcntl.flock(fh, fcntl.LOCK_EX)
        folder = new.rename(root() / name)
        _held = (os.getpid(), folder, fh)
    return _held[1]


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder inside this process's scratch folder (removed on exit as usual, and by
    :func:`reclaim` if the process is killed first)."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=process_dir())
