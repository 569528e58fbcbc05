"""The publish model: one writer at a time (:func:`run_lock`) writes a private working copy and renames it over
the published file (:func:`publishing`), so readers never block a run and never see half of one."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from multimodal_fer.store.warehouse import connect, open_duckdb


@contextlib.contextmanager
def run_lock(db_path: str | Path, *, timeout_s: float = 3600.0, poll_s: float = 1.0):
    """Hold ``<db>.lock`` for a whole run, so that two runs on one warehouse never overlap.

    A second run waits for the first to finish (up to ``timeout_s``), then finds its recordings
    already loaded. The lock is an ``flock`` on a file beside the database: it is released when
    the process ends, even if it is killed.

    Raises
    ------
    TimeoutError
        If another run holds the lock for longer than ``timeout_s``.
    """
    import fcntl

    lock_path = Path(f"{published_path(db_path)}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another run has held {lock_path} for more than {timeout_s:.0f} s") from None
                if not announced:
                    print(f"waiting for another run on {db_path} to finish ({lock_path})")
                    announced = True
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def published_path(db_path: str | Path) -> Path:
    """The file a ``--db`` path names: through symbolic links, so that a link and its target share one lock,
    one working copy and one published file (replacing the link itself would fork the warehouse)."""
    return Path(os.path.realpath(db_path))


def working_path(db_path: str | Path) -> Path:
    """The private working copy a run writes (``<db>.next``), published over ``db_path`` at its end."""
    return Path(f"{published_path(db_path)}.next")


@contextlib.contextmanager
def publishing(db_path: str | Path, *, timeout_s: float = 3600.0, poll_s: float = 1.0) -> Iterator[Path]:
    """Write the warehouse as a private working copy, then publish it over ``db_path`` in one rename.

    Readers (``mfer sql``, ``status``, ``report``, a DuckDB shell, a BI tool) only ever open
    ``db_path``; a writer never does, so a reader never blocks or breaks a run, and a run never
    changes the file under a reader. Under :func:`run_lock` (one writer at a time) the context:

    1. discards a working copy left by a killed run (``<db>.next`` and its WAL);
    2. copies ``db_path`` to the working copy, with its permission bits (or creates a new warehouse),
       and brings its tables and views up to date (:func:`init_db`);
    3. yields the working copy's path: every connection that writes (or reads) during the run opens it;
    4. on exit, normal or by an exception (each recording was its own committed transaction, so what
       was loaded is consistent), checkpoints it (no WAL), fsyncs it and ``os.replace``-s it over
       ``db_path``. A reader that has the old file open keeps reading the old state; the next one
       opens the new file.

    The cost is one full copy of the warehouse per run (and twice its size on disk while a reader
    holds the old file open). Any other write to the warehouse, however small (one row), goes
    through this context too: it pays the same copy, and waits for a run in progress (``timeout_s``)
    instead of being overwritten when that run publishes.

    Raises
    ------
    TimeoutError
        If another run holds the lock for longer than ``timeout_s``.
    duckdb.Error
        If the published file is not a readable warehouse, or the working copy cannot be checkpointed;
        nothing is published then, and ``db_path`` is unchanged.
    """
    db_path = published_path(db_path)
    work = working_path(db_path)
    with run_lock(db_path, timeout_s=timeout_s, poll_s=poll_s):
        _discard(work)
        try:
            _fold_wal(db_path)
            if db_path.exists():
                shutil.copyfile(db_path, work)
                shutil.copymode(db_path, work)  # the published file keeps its permissions (who may read it)
            connect(work).close()
        except BaseException:
            _discard(work)
            raise
        try:
            yield work
        finally:
            _publish(work, db_path)


def _discard(work: Path) -> None:
    for path in (work, Path(f"{work}.wal")):
        path.unlink(missing_ok=True)


def _fold_wal(db_path: Path) -> None:
    """Checkpoint a WAL left beside the published file by an older version that wrote it in place.

    This one-time step opens the published file read-write, so it fails (DuckDB's lock error) while
    a reader holds it open; the next run tries again.
    """
    if Path(f"{db_path}.wal").exists():
        con = open_duckdb(db_path)  # DuckDB replays the WAL; the checkpoint writes it into the file
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(work: Path, db_path: Path) -> None:
    """Checkpoint the working copy, make it durable and rename it over the published file."""
    if not work.exists():
        raise FileNotFoundError(f"the working copy {work} is gone; {db_path} is unchanged")
    con = open_duckdb(work)  # a connection left open in this process would be shared, not blocked
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = Path(f"{work}.wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(
            f"{wal} was not checkpointed (a connection to the working copy is still open?); {db_path} is unchanged"
        )
    wal.unlink(missing_ok=True)
    _fsync(work)
    os.replace(work, db_path)
    _fsync(db_path.parent)
