"""Parquet staging and the one loader: workers write one Parquet file per table per recording
(:func:`write_staged`); :func:`load_recording` moves them into DuckDB in one transaction. Also the
quarantine, the audit trail and the runs table."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from multimodal_fer.store.publish import publishing
from multimodal_fer.store.warehouse import connect, transaction
from multimodal_fer_schemas import TABLES, arrow_schema
from multimodal_fer_schemas.tables import PER_RECORDING


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
    data: dict[str, list] = {}
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
    """Write one table's rows of one recording as Parquet (``<staged_dir>/<table>.parquet``).

    ``staged_dir`` is created, its parent (the run's staging folder) never: once a stopped run has removed
    that folder, a worker still finishing a recording cannot bring its rows (ids, transcripts) back to disk.
    """
    staged_dir.mkdir(exist_ok=True)
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


MAX_REASON = 2000  # characters of a quarantine reason that are stored


def quarantined_keys(con, pipeline_version: str) -> dict[tuple[str, str | None], str]:
    """``{(source_uri, recording_sha256): reason}`` of what this pipeline version already quarantined."""
    rows = con.execute(
        "SELECT source_uri, recording_sha256, reason FROM quarantine WHERE pipeline_version = ?", [pipeline_version]
    ).fetchall()
    return {(u, s): r for u, s, r in rows}


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
    with transaction(con):
        old = recordings_where(
            con, "recording_sha256 = ? OR (patient_id = ? AND session_id = ?)", [sha, patient, session_id]
        )
        delete_recordings(con, set(old) | {sha})
        for name in PER_RECORDING:
            path = staged_dir / f"{name}.parquet"
            if not path.exists():
                continue
            cols = ", ".join(f'"{c}"' for c in TABLES[name].column_names)
            if name == "sessions":
                con.execute(
                    f"INSERT INTO sessions ({cols}) SELECT * REPLACE (? AS run_id) FROM read_parquet(?)",
                    [run_id, str(path)],
                )
            else:
                con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM read_parquet(?)", [str(path)])
        staged_sessions = _sql_text(staged_dir / "sessions.parquet")
        _upsert_patient(con, f"SELECT patient_id, site, trial_arm FROM read_parquet('{staged_sessions}')")
        clear_quarantine(con, s["source_uri"])
    return str(sha)


def recordings_where(con, condition: str, params: list) -> list[str]:
    """The ``recording_sha256`` of the sessions that match an SQL ``condition`` (with ``?`` parameters)."""
    return [r[0] for r in con.execute(f"SELECT recording_sha256 FROM sessions WHERE {condition}", params).fetchall()]


def delete_recordings(con, shas) -> None:
    """Delete every row of these recordings from every per-recording table (inside the caller's transaction)."""
    for name in PER_RECORDING:
        for sha in shas:
            con.execute(f"DELETE FROM {name} WHERE recording_sha256 = ?", [sha])


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
              trial_arm = COALESCE(excluded.trial_arm, patients.trial_arm)""",
        params or [],
    )


def quarantine(
    con,
    *,
    source_uri: str,
    stage: str,
    reason: str,
    error_type: str,
    pipeline_version: str,
    run_id: str,
    recording_sha256: str | None = None,
    patient_id: str | None = None,
    session_id: str | None = None,
) -> None:
    """Record a recording that could not be processed (replacing an earlier entry of the same version)."""
    row = pd.DataFrame(
        [
            {
                "source_uri": source_uri,
                "recording_sha256": recording_sha256,
                "patient_id": patient_id,
                "session_id": session_id,
                "stage": stage,
                "reason": reason[:MAX_REASON],
                "error_type": error_type,
                "pipeline_version": pipeline_version,
                "quarantined_at": datetime.now(),
                "run_id": run_id,
            }
        ]
    )
    arrow = conform("quarantine", row)  # validates the row against the schema
    con.register("_q", arrow)
    try:
        con.execute("INSERT OR REPLACE INTO quarantine SELECT * FROM _q")
    finally:
        con.unregister("_q")


def clear_quarantine(con, source_uri: str) -> int:
    """Remove the quarantine entries of ``source_uri`` (its problem is gone); how many there were."""
    (n,) = con.execute("DELETE FROM quarantine WHERE source_uri = ?", [source_uri]).fetchone()
    return int(n)


def audit(
    con,
    *,
    action: str,
    source_uri: str,
    run_id: str,
    pipeline_version: str,
    model_versions: str,
    recording_sha256: str | None = None,
    target_uri: str | None = None,
    n_rows: int | None = None,
) -> None:
    """Append one audit event (who/what processed which recording with which models, or exported what)."""
    import getpass
    import socket
    import uuid

    row = pd.DataFrame(
        [
            {
                "event_id": uuid.uuid4().hex,
                "at": datetime.now(),
                "action": action,
                "recording_sha256": recording_sha256,
                "source_uri": source_uri,
                "run_id": run_id,
                "os_user": getpass.getuser(),
                "host": socket.gethostname(),
                "pipeline_version": pipeline_version,
                "model_versions": model_versions,
                "target_uri": target_uri,
                "n_rows": n_rows,
            }
        ]
    )
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
            audit(
                con,
                action="exported",
                source_uri=source_uri,
                run_id=f"export-{uuid.uuid4().hex[:12]}",
                pipeline_version=f"mfer-{__version__}",
                model_versions="{}",
                target_uri=target_uri,
                n_rows=n_rows,
            )
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
