"""The DuckDB warehouse: DDL from ``schemas/``, views from ``warehouse/*.sql``, Parquet staging, one loader.

Workers write one Parquet file per table per recording (:func:`write_staged`); a single writer
(:func:`load_recording`) moves a recording's files into DuckDB in one transaction, replacing
whatever an earlier version of the same recording had left, so a rerun changes nothing and a
half-loaded session is never visible.
"""

from __future__ import annotations

import contextlib
import json
import time
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
    """Open the warehouse (creating tables and views unless read-only)."""
    import duckdb

    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}: run `mfer run BUCKET --db {db_path}` first")
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=read_only)
    if not read_only:
        init_db(con)
    return con


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
            data[c.name] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
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
        now = datetime.now()
        con.execute(
            """INSERT INTO patients (patient_id, site, trial_arm, first_loaded_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (patient_id) DO UPDATE SET
                 site = COALESCE(excluded.site, patients.site),
                 trial_arm = COALESCE(excluded.trial_arm, patients.trial_arm)""",
            [patient, s.get("site"), s.get("trial_arm"), now])
        con.execute("DELETE FROM quarantine WHERE source_uri = ?", [s["source_uri"]])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return str(sha)


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

    with run_lock(db_path):
        con = connect(db_path)
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
