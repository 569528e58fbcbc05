"""The DuckDB warehouse: DDL from ``schemas/``, views from ``warehouse/*.sql``, Parquet staging, one loader.

Workers write one Parquet file per table per recording (:func:`write_staged`); a single writer
(:func:`load_recording`) moves a recording's files into DuckDB in one transaction, replacing
whatever an earlier version of the same recording had left, so a rerun changes nothing and a
half-loaded session is never visible.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import TABLES, arrow_schema, create_table_sql
from schemas.tables import PER_RECORDING

from multimodal_fer.paths import REPO_DIR

VIEWS_DIR = REPO_DIR / "warehouse"


def connect(db_path: str | Path, *, read_only: bool = False):
    """Open the warehouse: read-write (creating tables and views), or read-only through :func:`connect_readonly`."""
    import duckdb

    if read_only:
        return connect_readonly(db_path)
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    init_db(con)
    return con


#: Run on every read-only connection, in this order: the last one locks the others, so that a
#: query cannot turn them back on (``SET``, ``RESET`` and ``PRAGMA`` of any setting are refused).
READ_ONLY_SETTINGS = (
    "SET enable_external_access = false",  # no file but the warehouse: COPY TO, EXPORT, ATTACH, read_*, glob
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)

#: The statement types ``mfer sql`` runs (SELECT includes WITH, FROM-first, VALUES, TABLE, SHOW, DESCRIBE,
#: SUMMARIZE and the read-only PRAGMAs such as ``table_info``, which DuckDB rewrites to a SELECT).
QUERY_STATEMENT_TYPES = ("SELECT",)


class QueryRefused(ValueError):
    """A text given to :func:`query` that is not exactly one read-only query."""


def connect_readonly(db_path: str | Path):
    """Open the warehouse read-only, with no access to anything but its own file.

    After the file is opened read-only, :data:`READ_ONLY_SETTINGS` switch off external access (no
    other file can be read, written or attached), extension installing and loading, then lock the
    configuration. DuckDB keeps one database instance per file and process, so the settings hold for
    every connection to this file in this process until the last one is closed.

    Raises
    ------
    FileNotFoundError
        If there is no warehouse at ``db_path``.
    duckdb.Error
        If DuckDB cannot open it (not a DuckDB file, a writer holds it, ...).
    """
    import duckdb

    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}: run `mfer run BUCKET --db {db_path}` first")
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        if con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:  # already open and locked here
            if con.execute("SELECT current_setting('enable_external_access')").fetchone()[0]:
                raise RuntimeError(f"{db_path} is already open in this process with external access on")
        else:
            for statement in READ_ONLY_SETTINGS:
                con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def query(db_path: str | Path, sql: str) -> pd.DataFrame:
    """Run exactly one read-only query (the text as given) on a :func:`connect_readonly` connection.

    Raises
    ------
    QueryRefused
        If ``sql`` holds no statement, more than one, or one that is not a query (COPY, SET, CALL, ...).
    duckdb.Error
        DuckDB's own error: a syntax error, a refused file access, a write to the read-only file, ...
    """
    con = connect_readonly(db_path)
    try:
        kinds = [s.type.name for s in con.extract_statements(sql)]
        if len(kinds) != 1:
            raise QueryRefused(f"expected exactly one query, got {len(kinds)} statements"
                               + (f" ({', '.join(kinds)})" if kinds else ""))
        if kinds[0] not in QUERY_STATEMENT_TYPES:
            raise QueryRefused(f"only a read-only query (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE) runs here, "
                               f"not {kinds[0]}")
        return con.sql(sql).df()
    finally:
        con.close()


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

    lock_path = Path(f"{db_path}.lock")
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


def working_path(db_path: str | Path) -> Path:
    """The private working copy a run writes (``<db>.next``), published over ``db_path`` at its end."""
    return Path(f"{db_path}.next")


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
    db_path = Path(db_path)
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
    import duckdb

    if Path(f"{db_path}.wal").exists():
        con = duckdb.connect(str(db_path))  # DuckDB replays the WAL; the checkpoint writes it into the file
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
    import duckdb

    if not work.exists():
        raise FileNotFoundError(f"the working copy {work} is gone; {db_path} is unchanged")
    con = duckdb.connect(str(work))  # a connection left open in this process would be shared, not blocked
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = Path(f"{work}.wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{wal} was not checkpointed (a connection to the working copy is still open?); "
                           f"{db_path} is unchanged")
    wal.unlink(missing_ok=True)
    _fsync(work)
    os.replace(work, db_path)
    _fsync(db_path.parent)


def view_sql() -> dict[str, str]:
    """``{view name: SELECT …}`` from ``warehouse/v_*.sql`` (one object per file)."""
    return {p.stem: p.read_text() for p in sorted(VIEWS_DIR.glob("v_*.sql"))}


def init_db(con) -> None:
    """Create every table (``schemas/``) and view (``warehouse/``); idempotent."""
    for t in TABLES.values():
        con.execute(create_table_sql(t))
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema()",
            [t.name]).fetchall()}
        for c in t.columns:  # a warehouse made by an older version gains the new (nullable) columns
            if c.name not in have and c.nullable:
                con.execute(f"ALTER TABLE {t.name} ADD COLUMN {c.name} {c.type}")
    pending = view_sql()
    while pending:  # views may depend on each other: create until no progress
        progress = False
        for name, sql in list(pending.items()):
            try:
                con.execute(f"CREATE OR REPLACE VIEW {name} AS\n{sql.strip().rstrip(';')}")
                del pending[name]
                progress = True
            except Exception as exc:  # noqa: BLE001 - a view whose dependency is not there yet
                last = exc
        if not progress:
            raise RuntimeError(f"cannot create views {sorted(pending)}: {last}")


def conform(table_name: str, df: pd.DataFrame) -> pa.Table:
    """Align a DataFrame to a table's schema: same columns, order and types.

    Raises
    ------
    ValueError
        On columns the schema does not know, or a missing non-nullable column (in a non-empty frame).
    """
    t = TABLES[table_name]
    unknown = set(df.columns) - set(t.column_names)
    if unknown:
        raise ValueError(f"{table_name}: columns not in the schema: {sorted(unknown)}")
    data = {}
    for c in t.columns:
        if c.name not in df.columns:
            if not c.nullable and len(df):
                raise ValueError(f"{table_name}: required column {c.name!r} is missing")
            data[c.name] = [None] * len(df)
            continue
        values = df[c.name]
        if c.type in ("DOUBLE",):
            values = pd.to_numeric(values, errors="raise").astype("float64")
            data[c.name] = [None if (v is None or np.isnan(v)) else float(v) for v in values]
        elif c.type == "TIMESTAMP":
            data[c.name] = [None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in values]
        elif c.type in ("INTEGER", "BIGINT"):
            data[c.name] = [None if v is None or pd.isna(v) else int(v) for v in values]
        elif c.type == "BOOLEAN":
            data[c.name] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else bool(v) for v in values]
        else:
            data[c.name] = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in values]
    return pa.Table.from_pydict(data, schema=arrow_schema(t))


def write_staged(staged_dir: Path, table_name: str, rows: pd.DataFrame | pa.Table) -> Path:
    """Write one table's rows of one recording as Parquet (``<staged_dir>/<table>.parquet``)."""
    staged_dir.mkdir(parents=True, exist_ok=True)
    path = staged_dir / f"{table_name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(rows if isinstance(rows, pa.Table) else conform(table_name, rows), tmp)
    tmp.replace(path)
    return path


def read_staged(staged_dir: Path, table_name: str) -> pd.DataFrame:
    return pq.read_table(staged_dir / f"{table_name}.parquet").to_pandas()


def loaded_versions(con) -> dict[str, str]:
    """``{recording_sha256: pipeline_version}`` of every loaded session."""
    return dict(con.execute("SELECT recording_sha256, pipeline_version FROM sessions").fetchall())


def quarantined_keys(con, pipeline_version: str) -> set[tuple[str, str | None]]:
    """``(source_uri, recording_sha256)`` already quarantined by this pipeline version."""
    rows = con.execute("SELECT source_uri, recording_sha256 FROM quarantine WHERE pipeline_version = ?", [pipeline_version]).fetchall()
    return {(u, s) for u, s in rows}


def load_recording(con, staged_dir: Path, *, run_id: str) -> str:
    """Load one staged recording in one transaction; returns its sha256.

    Rows of the same recording (any version) and of an older recording of the same
    ``patient_id/session_id`` are replaced; the quarantine entries of the same source are
    cleared. Either all tables change or none does.
    """
    session = read_staged(staged_dir, "sessions")
    if len(session) != 1:
        raise ValueError(f"{staged_dir}: sessions.parquet must hold exactly one row, has {len(session)}")
    s = session.iloc[0]
    sha, patient, session_id = s["recording_sha256"], s["patient_id"], s["session_id"]
    con.execute("BEGIN TRANSACTION")
    try:
        old = [r[0] for r in con.execute(
            "SELECT recording_sha256 FROM sessions WHERE recording_sha256 = ? OR (patient_id = ? AND session_id = ?)",
            [sha, patient, session_id]).fetchall()]
        for name in PER_RECORDING:
            for o in set(old) | {sha}:
                con.execute(f"DELETE FROM {name} WHERE recording_sha256 = ?", [o])
        for name in PER_RECORDING:
            path = staged_dir / f"{name}.parquet"
            if not path.exists():
                continue
            cols = ", ".join(f'"{c}"' for c in TABLES[name].column_names)
            if name == "sessions":
                con.execute(f"INSERT INTO sessions ({cols}) SELECT * REPLACE (? AS run_id) FROM read_parquet(?)", [run_id, str(path)])
            else:
                con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM read_parquet(?)", [str(path)])
        _upsert_patient(con, f"SELECT patient_id, site, trial_arm FROM read_parquet('{_sql_text(staged_dir / 'sessions.parquet')}')")
        con.execute("DELETE FROM quarantine WHERE source_uri = ?", [s["source_uri"]])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return str(sha)


def _sql_text(value) -> str:
    """A string literal's body for SQL (single quotes doubled)."""
    return str(value).replace("'", "''")


def _upsert_patient(con, select_sql: str, params: list | None = None) -> None:
    """Insert the patients that ``select_sql`` (patient_id, site, trial_arm) names, or update their site and
    arm; a missing (NULL) site or arm never overwrites a known one."""
    con.execute(
        f"""INSERT INTO patients (patient_id, site, trial_arm, first_loaded_at)
            SELECT patient_id, site, trial_arm, now()::TIMESTAMP FROM ({select_sql})
            ON CONFLICT (patient_id) DO UPDATE SET
              site = COALESCE(excluded.site, patients.site),
              trial_arm = COALESCE(excluded.trial_arm, patients.trial_arm)""", params or [])


def quarantine(con, *, source_uri: str, stage: str, reason: str, error_type: str, pipeline_version: str,
               run_id: str, recording_sha256: str | None = None, patient_id: str | None = None,
               session_id: str | None = None) -> None:
    """Record a recording that could not be processed (replacing an earlier entry of the same version)."""
    row = pd.DataFrame([{
        "source_uri": source_uri, "recording_sha256": recording_sha256, "patient_id": patient_id,
        "session_id": session_id, "stage": stage, "reason": reason[:2000], "error_type": error_type,
        "pipeline_version": pipeline_version, "quarantined_at": datetime.now(), "run_id": run_id,
    }])
    arrow = conform("quarantine", row)  # validates the row against the schema
    con.register("_q", arrow)
    try:
        con.execute("INSERT OR REPLACE INTO quarantine SELECT * FROM _q")
    finally:
        con.unregister("_q")


def audit(con, *, action: str, source_uri: str, run_id: str, pipeline_version: str, model_versions: str,
          recording_sha256: str | None = None, target_uri: str | None = None, n_rows: int | None = None) -> None:
    """Append one audit event (who/what processed which recording with which models, or exported what)."""
    import getpass
    import socket
    import uuid

    row = pd.DataFrame([{"event_id": uuid.uuid4().hex, "at": datetime.now(), "action": action,
                         "recording_sha256": recording_sha256, "source_uri": source_uri, "run_id": run_id,
                         "os_user": getpass.getuser(), "host": socket.gethostname(),
                         "pipeline_version": pipeline_version, "model_versions": model_versions,
                         "target_uri": target_uri, "n_rows": n_rows}])
    con.register("_a", conform("audit", row))
    try:
        cols = ", ".join(f'"{c}"' for c in TABLES["audit"].column_names)
        con.execute(f"INSERT INTO audit ({cols}) SELECT {cols} FROM _a")
    finally:
        con.unregister("_a")


def record_export(db_path: str | Path, *, source_uri: str, target_uri: str, n_rows: int) -> None:
    """Record one ``mfer export`` in the audit table (the one place exports are written down).

    ``source_uri``: what was exported (``table:NAME``, ``view:NAME``, ``query:SQL``); ``target_uri``: where.
    """
    import uuid

    from multimodal_fer import __version__

    with publishing(db_path) as work:  # waits for a run in progress; readers are never blocked
        con = connect(work)
        try:
            audit(con, action="exported", source_uri=source_uri, run_id=f"export-{uuid.uuid4().hex[:12]}",
                  pipeline_version=f"mfer-{__version__}", model_versions="{}", target_uri=target_uri, n_rows=n_rows)
        finally:
            con.close()


def record_run(con, row: dict) -> None:
    arrow = conform("runs", pd.DataFrame([row]))
    con.register("_r", arrow)
    try:
        con.execute("INSERT OR REPLACE INTO runs SELECT * FROM _r")
    finally:
        con.unregister("_r")


def model_versions_json(versions: dict[str, str]) -> str:
    return json.dumps(versions, sort_keys=True)


@dataclass(frozen=True)
class Location:
    """Where a loaded recording's rows say it is."""

    patient_id: str
    session_id: str
    source_uri: str
    pipeline_version: str


def loaded_locations(con) -> dict[str, Location]:
    """``{recording_sha256: Location}`` of every loaded session."""
    rows = con.execute("SELECT recording_sha256, patient_id, session_id, source_uri, pipeline_version FROM sessions")
    return {sha: Location(p, s, u, v) for sha, p, s, u, v in rows.fetchall()}


def known_objects(con) -> dict[str, tuple[int, str, str]]:
    """``{source_uri: (size_bytes, modified, recording_sha256)}``: what each object was when last hashed."""
    rows = con.execute("SELECT source_uri, size_bytes, modified, recording_sha256 FROM objects").fetchall()
    return {u: (int(n), m, sha) for u, n, m, sha in rows}


def remember_objects(con, rows: list[dict], *, run_id: str) -> None:
    """Record (or update) the hash of each object read in this run: ``source_uri, size_bytes, modified,
    recording_sha256`` per row."""
    if not rows:
        return
    frame = pd.DataFrame(rows).assign(hashed_at=datetime.now(), run_id=run_id)
    con.register("_o", conform("objects", frame))
    try:
        con.execute("INSERT OR REPLACE INTO objects SELECT * FROM _o")
    finally:
        con.unregister("_o")


def rehome(con, sha: str, *, patient_id: str, session_id: str, source_uri: str, recorded_at=None, site=None,
           trial_arm=None, clinician_id=None) -> Location:
    """Move a loaded recording to the patient and session of the folder it now lies in (one transaction).

    The analysis does not change, only where it belongs: its ``sessions`` row takes the new ids,
    URI and (where given) manifest metadata; an older recording loaded at the new place is
    replaced, as a new recording there would replace it; the new place's quarantine entries are
    cleared. Returns where it was.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        old = con.execute("SELECT patient_id, session_id, source_uri, pipeline_version FROM sessions "
                          "WHERE recording_sha256 = ?", [sha]).fetchone()
        if old is None:
            raise KeyError(f"recording {sha[:12]} is not loaded")
        stale = [r[0] for r in con.execute("SELECT recording_sha256 FROM sessions WHERE patient_id = ? AND session_id = ? "
                                           "AND recording_sha256 <> ?", [patient_id, session_id, sha]).fetchall()]
        for name in PER_RECORDING:
            for other in stale:
                con.execute(f"DELETE FROM {name} WHERE recording_sha256 = ?", [other])
        con.execute("""UPDATE sessions SET patient_id = ?, session_id = ?, source_uri = ?,
                         recorded_at = COALESCE(?, recorded_at), site = COALESCE(?, site),
                         trial_arm = COALESCE(?, trial_arm), clinician_id = COALESCE(?, clinician_id)
                       WHERE recording_sha256 = ?""",
                    [patient_id, session_id, source_uri, recorded_at, site, trial_arm, clinician_id, sha])
        _upsert_patient(con, "SELECT ?::VARCHAR AS patient_id, ?::VARCHAR AS site, ?::VARCHAR AS trial_arm",
                        [patient_id, site, trial_arm])
        con.execute("DELETE FROM quarantine WHERE source_uri = ?", [source_uri])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return Location(*old)


class SettingsMismatch(ValueError):
    """A run whose settings disagree with what the warehouse was built with."""


PSEUDONYM_SETTING = "pseudonym_key_fingerprint"
ALIAS_PATTERN = "^p_[0-9a-f]{16}$"  # a patient pseudonym (multimodal_fer.pseudonyms)


def agree_pseudonyms(con, fingerprint: str, *, record: bool = True) -> None:
    """Refuse a run whose pseudonym key (by fingerprint; ``'none'`` without a key) is not the one
    the warehouse was built with, so raw ids and pseudonyms, or two keys' pseudonyms, never mix.

    The first run records its fingerprint (``record``). A warehouse from before fingerprints were
    recorded is judged by its patient ids: all pseudonyms (a key was used) or none (no key).

    Raises
    ------
    SettingsMismatch
        With a message that says which key the warehouse needs.
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    row = (con.execute("SELECT value FROM settings WHERE name = ?", [PSEUDONYM_SETTING]).fetchone()
           if "settings" in tables else None)
    if row is not None:
        if row[0] != fingerprint:
            raise SettingsMismatch(_mismatch(row[0], fingerprint))
        return
    n, aliases = (con.execute("SELECT count(*), count(*) FILTER (WHERE regexp_matches(patient_id, ?)) FROM sessions",
                              [ALIAS_PATTERN]).fetchone() if "sessions" in tables else (0, 0))
    have = None if n == 0 else "pseudonymised" if aliases == n else "none" if aliases == 0 else "mixed"
    if have not in (None, "none" if fingerprint == "none" else "pseudonymised"):
        raise SettingsMismatch(_mismatch(have, fingerprint))
    if record:
        con.execute("INSERT INTO settings VALUES (?, ?, ?)", [PSEUDONYM_SETTING, fingerprint, datetime.now()])


def check_pseudonyms(db_path: str | Path, fingerprint: str) -> None:
    """:func:`agree_pseudonyms` on the published warehouse, read-only (nothing to check when there is none yet):
    lets a command refuse a mismatched key in one line before a run starts."""
    if Path(db_path).exists():
        con = connect(db_path, read_only=True)
        try:
            agree_pseudonyms(con, fingerprint, record=False)
        finally:
            con.close()


def _mismatch(have: str, want: str) -> str:
    if have == "none":
        return ("this warehouse stores patient and session ids as they are; a run with MFER_PSEUDONYM_KEY would mix "
                "them with pseudonyms: use a new warehouse (--db) for pseudonymised data")
    if want == "none":
        return ("this warehouse stores pseudonymised ids; set MFER_PSEUDONYM_KEY to the key it was built with "
                "(a run without it would store raw ids beside the pseudonyms)")
    return ("MFER_PSEUDONYM_KEY is not the key this warehouse was built with (its pseudonyms would not match): "
            "set the original key, or use a new warehouse (--db)")
