"""``mfer export``: a table, a view or a read-only query to CSV or Parquet — the sanctioned way out of the warehouse.

    mfer export --db W (--table NAME | --view NAME | --query SQL) --out PATH [--format csv|parquet]
                [--per-patient] [--force] [--timeout SECONDS]

Rows are read through a read-only connection and written from Python (pyarrow), never with
DuckDB's ``COPY``. Table and view names are checked against the warehouse's catalog; a query must
be one SELECT statement. The output goes only where the user points: an existing file or folder is
replaced only with ``--force`` (a folder only by a ``--per-patient`` export and when it holds nothing but
exported files; never a pipe, device or socket). Each export is recorded in the ``audit`` table (action
``exported``) with what was exported, where and how many rows, before the finished file is moved into place
from a hidden ``.mfer-export-*`` folder beside it (one left by a killed export is removed by the next).
An export that reads for longer than its time limit (``--timeout``, default an hour) is stopped by
DuckDB's interrupt: nothing is written and nothing is audited.
"""

from __future__ import annotations

import re
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet")
BATCH_ROWS = 100_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
EXPORT_PREFIX = ".mfer-export-"  # the hidden folder an export is written in, beside its --out


class ExportError(ValueError):
    """An export that cannot be done as asked (one readable line for the user)."""


@dataclass(frozen=True)
class Export:
    source: str  # what was exported: 'table:NAME', 'view:NAME' or 'query:SQL'
    out: Path
    fmt: str
    n_rows: int
    files: tuple[Path, ...]


def source_sql(con, *, table: str | None = None, view: str | None = None, query: str | None = None) -> tuple[str, str]:
    """``(source, SELECT …)`` of what to export; names are checked against the catalog, a query is one SELECT."""
    if sum(x is not None for x in (table, view, query)) != 1:
        raise ExportError("give exactly one of --table, --view, --query")
    if query is not None:
        import duckdb

        statements = duckdb.extract_statements(query)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise ExportError("--query must be exactly one SELECT statement")
        return f"query:{query.strip()}", query.strip().rstrip(";") + "\n"  # a trailing -- comment stays inside
    kind, name = ("table", table) if table is not None else ("view", view)
    catalog = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    )
    wanted = "BASE TABLE" if kind == "table" else "VIEW"
    names = sorted(n for n, t in catalog.items() if t == wanted)
    if name not in names:
        raise ExportError(f"no {kind} {name!r} in the warehouse; {kind}s: {', '.join(names)}")
    return f"{kind}:{name}", f'SELECT * FROM "{name}"'


def _fmt(out: Path, fmt: str | None) -> str:
    implied = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(out.suffix.lower())
    if fmt is None:
        return implied or "csv"
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}")
    if implied not in (None, fmt):
        raise ExportError(f"--format {fmt} but --out ends in {out.suffix}: a reader would take it for {implied}")
    return fmt


def _check_not_the_warehouse(out: Path, db: Path) -> None:
    """Refuse the warehouse itself and its own files (``<db>.wal``, ``<db>.lock``, ...), even with --force,
    by the name given as ``--db`` and by the file it links to."""
    target = out.resolve()
    for base in {db.absolute(), db.resolve()}:
        if target == base or (target.parent == base.parent and target.name.startswith(base.name + ".")):
            raise ExportError(f"{out} is the warehouse or one of its files: not writing there, even with --force")


def _check_target(out: Path, *, force: bool, per_patient: bool) -> None:
    """An existing ``out`` is replaced only with ``force``, and never when it is a folder a single file would
    replace, a folder holding anything but exports, or a pipe, device or socket."""
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent} is not a folder: create it first")
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise ExportError(f"{out} exists: pass --force to replace it")
    if out.is_symlink():
        return  # the link is replaced, never what it points to
    if out.is_dir() and not per_patient:
        raise ExportError(f"{out} is a folder: a one-file export never replaces a folder, even with --force")
    if out.is_dir() and any(p.suffix not in (".csv", ".parquet") or p.is_dir() for p in out.iterdir()):
        raise ExportError(f"{out} holds files that are not exports: not replacing it, even with --force")
    if not out.is_dir() and not out.is_file():
        raise ExportError(
            f"{out} is not a regular file (a pipe, device or socket): not replacing it, even with --force"
        )


def _write(reader: pa.RecordBatchReader, path: Path, fmt: str) -> int:
    """Stream batches to one file; returns the number of rows."""
    n = 0
    writer = pq.ParquetWriter(path, reader.schema) if fmt == "parquet" else pacsv.CSVWriter(path, reader.schema)
    try:
        for batch in reader:
            writer.write_batch(batch)
            n += batch.num_rows
    finally:
        writer.close()
    return n


def file_name(patient_id, fmt: str) -> str:
    """A patient's file name: the id where it is a safe name (ids and pseudonyms are), else escaped."""
    name = "(no patient)" if patient_id is None else str(patient_id)
    safe = _SAFE_NAME.sub("_", name)
    return f"{safe if safe == name and name and not name.startswith('.') else '_' + safe}.{fmt}"


def _write_per_patient(con, sql: str, folder: Path, fmt: str) -> tuple[int, list[Path]]:
    cols = [d[0] for d in con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description]
    if "patient_id" not in cols:
        raise ExportError("--per-patient needs a patient_id column (the fact views have one: v_emotion_windows, …)")
    folder.mkdir()
    n, files = 0, []
    ids = [r[0] for r in con.execute(f"SELECT DISTINCT patient_id FROM ({sql}) ORDER BY 1 NULLS LAST").fetchall()]
    for pid in ids:
        where, params = ("patient_id IS NULL", []) if pid is None else ("patient_id = ?", [pid])
        path = folder / file_name(pid, fmt)
        if path.exists():
            raise ExportError(f"two patient ids map to the file name {path.name}")
        reader = con.execute(f"SELECT * FROM ({sql}) WHERE {where}", params).to_arrow_reader(BATCH_ROWS)
        n += _write(reader, path, fmt)
        files.append(path)
    return n, files


@contextmanager
def _time_limit(con, timeout_s: float | None):
    """:func:`multimodal_fer.store.interrupt_after`, its interrupt turned into an :class:`ExportError`; one that the
    limit did not cause (Ctrl-C) passes through as it is."""
    import duckdb

    from multimodal_fer.store import interrupt_after

    with interrupt_after(con, timeout_s) as fired:
        try:
            yield
        except (duckdb.InterruptException, OSError) as exc:  # OSError: interrupted while Arrow streams the rows
            if not fired.is_set() or not (isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in str(exc)):
                raise
            raise ExportError(
                f"the export ran longer than {timeout_s:g} s and was stopped; nothing was written "
                "(--timeout SECONDS, 0 for no limit)"
            ) from exc


def _place(tmp: Path, out: Path) -> None:
    """Move the finished export into place (replacing the old one, which :func:`_check_target` allowed)."""
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)
    elif out.exists() or out.is_symlink():
        out.unlink()
    tmp.replace(out)


def export(
    db: str | Path,
    out: str | Path,
    *,
    table: str | None = None,
    view: str | None = None,
    query: str | None = None,
    fmt: str | None = None,
    per_patient: bool = False,
    force: bool = False,
    timeout_s: float | None = None,
) -> Export:
    """Export a table, view or query; returns what was written. Raises :class:`ExportError` on a refusal, and
    when reading took longer than ``timeout_s`` seconds (``None`` or 0: no limit)."""
    from multimodal_fer import store, workspace

    out = Path(out).absolute()
    fmt = _fmt(out, fmt)
    _check_not_the_warehouse(out, Path(db))
    _check_target(out, force=force, per_patient=per_patient)
    # written beside ``out`` first; a folder left by a killed export is removed by the next export there
    with workspace.owned_dir(out.parent, f"{EXPORT_PREFIX}{uuid.uuid4().hex[:12]}", prefix=EXPORT_PREFIX) as tmp_dir:
        tmp = Path(tmp_dir) / "export"
        con = store.connect(db, read_only=True)
        try:
            source, sql = source_sql(con, table=table, view=view, query=query)
            with _time_limit(con, timeout_s):
                if per_patient:
                    n, files = _write_per_patient(con, sql, tmp, fmt)
                else:
                    n, files = _write(con.execute(sql).to_arrow_reader(BATCH_ROWS), tmp, fmt), [tmp]
        finally:
            con.close()  # before the audit opens the warehouse for writing
        store.record_export(db, source_uri=source, target_uri=str(out), n_rows=n)
        _place(tmp, out)
    return Export(source, out, fmt, n, tuple(out / f.name for f in files) if per_patient else (out,))
