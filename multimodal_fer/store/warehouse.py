"""Opening the warehouse: read-write with every table (``schemas/``) and view (``warehouse/*.sql``) created,
or read-only for the SQL surface (``mfer sql``, ``status``, ``report``), where only one query at a time runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pandas as pd

from multimodal_fer_schemas import TABLES, create_table_sql

#: The package whose data files are the views (the repository's ``warehouse/`` folder).
VIEWS_PACKAGE = "multimodal_fer_warehouse"


#: Given when a file is opened, before DuckDB reads it: a file of another kind (SQLite, ...) must not make DuckDB
#: download or load the extension that would read it (``READ_ONLY_SETTINGS`` only apply once it is open).
OPEN_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


DUCKDB_MAGIC = (8, b"DUCK")  # (offset, bytes) of the magic in the header of every DuckDB database file


def open_duckdb(db_path: str | Path, *, read_only: bool = False):
    """``duckdb.connect`` with :data:`OPEN_CONFIG`: the one way this package opens a DuckDB file.

    Raises
    ------
    ValueError
        If ``db_path`` holds something other than a DuckDB database (a SQLite file, a CSV, ...):
        DuckDB would otherwise look for an extension to read it.
    """
    import duckdb

    path = Path(db_path)
    if path.is_file() and path.stat().st_size > 0:
        offset, magic = DUCKDB_MAGIC
        with open(path, "rb") as fh:
            if fh.read(offset + len(magic))[offset:] != magic:
                raise ValueError(f"{path} is not a DuckDB database: give the warehouse file (or a new path) as --db")
    return duckdb.connect(str(path), read_only=read_only, config=dict(OPEN_CONFIG))


@contextlib.contextmanager
def transaction(con) -> Iterator[None]:
    """The block's statements as one transaction: ``COMMIT`` at its end, ``ROLLBACK`` (and the error
    again) if anything in it raises, so that either every change lands or none does."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def connect(db_path: str | Path, *, read_only: bool = False):
    """Open the warehouse: read-write (creating tables and views), or read-only through :func:`connect_readonly`."""
    if read_only:
        return connect_readonly(db_path)
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = open_duckdb(db_path)
    try:
        check_is_warehouse(con, db_path)  # never add the warehouse's tables to another database
        init_db(con)
    except BaseException:
        con.close()
        raise
    return con


def check_is_warehouse(con, db_path: str | Path) -> None:
    """Raise ``ValueError`` if the open database holds tables but no ``sessions`` table: another program's
    DuckDB file (given as --db by mistake), not a warehouse, nor a new empty one."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if tables and "sessions" not in tables:
        raise ValueError(f"{db_path} is a DuckDB database but not a warehouse (no sessions table): check --db")


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


class QueryTimeout(TimeoutError):
    """A query stopped by :func:`query` after its time limit."""


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
        If DuckDB cannot open it (a writer holds it, ...).
    ValueError
        If the file is not a DuckDB database, or not a warehouse (:func:`check_is_warehouse`).
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}: run `mfer run BUCKET --db {db_path}` first")
    con = open_duckdb(db_path, read_only=True)
    try:
        if _setting(con, "lock_configuration"):  # already open and locked here
            if _setting(con, "enable_external_access"):
                raise RuntimeError(f"{db_path} is already open in this process with external access on")
        else:
            for statement in READ_ONLY_SETTINGS:
                con.execute(statement)
        check_is_warehouse(con, db_path)
    except BaseException:
        con.close()
        raise
    return con


def _statement_name(text: str, kind: str) -> str:
    """How a refusal names a statement: its first keyword, with DuckDB's type where that differs
    (``INSTALL`` is a ``LOAD`` statement to DuckDB, ``PRAGMA memory_limit = …`` a ``SET``)."""
    words = text.split(None, 1)
    first = words[0].upper() if words and words[0].isalpha() else ""
    return kind if first in ("", kind) else f"{first} (a {kind} statement)"


def _setting(con, name: str):
    """The current value of one DuckDB setting."""
    row = con.execute(f"SELECT current_setting('{name}')").fetchone()
    assert row is not None  # a SELECT of one value has one row
    return row[0]


@contextlib.contextmanager
def interrupt_after(con, timeout_s: float | None) -> Iterator[threading.Event]:
    """Interrupt what ``con`` runs once ``timeout_s`` seconds have passed (``None`` or 0: never), until the block
    ends; yields an event that is set when the limit did it (so that a Ctrl-C is told apart from a time-out)."""
    fired = threading.Event()
    if not timeout_s:
        yield fired
        return

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def query(
    db_path: str | Path, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None
) -> pd.DataFrame:
    """Run exactly one read-only query (the text as given) on a :func:`connect_readonly` connection.

    Parameters
    ----------
    max_rows : int, optional
        Fetch at most this many rows plus one (the extra row says the result was cut); ``None``: all.
        A query over every frame of a large warehouse then costs the rows shown, not the whole table.
    timeout_s : float, optional
        Stop the query after this many seconds (DuckDB's interrupt, :func:`interrupt_after`) and raise
        :class:`QueryTimeout`; ``None`` or 0: no limit.

    Raises
    ------
    QueryRefused
        If ``sql`` holds no statement, more than one, or one that is not a query (COPY, SET, CALL, ...).
    QueryTimeout
        If it ran longer than ``timeout_s``.
    duckdb.Error
        DuckDB's own error: a syntax error, a refused file access, a write to the read-only file, ...
    """
    import duckdb

    con = connect_readonly(db_path)
    try:
        statements = con.extract_statements(sql)
        kinds = [s.type.name for s in statements]
        if len(kinds) != 1:
            raise QueryRefused(
                f"expected exactly one query, got {len(kinds)} statements" + (f" ({', '.join(kinds)})" if kinds else "")
            )
        if kinds[0] not in QUERY_STATEMENT_TYPES:
            raise QueryRefused(
                "only a read-only query (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE) runs here, "
                f"not {_statement_name(statements[0].query, kinds[0])}"
            )
        with interrupt_after(con, timeout_s) as timed_out:
            rel = con.sql(sql)
            try:
                return (rel if max_rows is None else rel.limit(max_rows + 1)).df()
            except duckdb.InterruptException as exc:
                if not timed_out.is_set():  # interrupted otherwise (Ctrl-C): DuckDB's own error
                    raise
                raise QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped") from exc
    finally:
        con.close()


HARD_STOP_S = 5.0  # seconds past the time limit after which a query DuckDB's interrupt has not stopped is killed


def query_bounded(db_path: str | Path, sql: str, *, max_rows: int | None = None, timeout_s: float) -> pd.DataFrame:
    """:func:`query` in a child process, so that ``timeout_s`` holds for any query.

    DuckDB's interrupt stops a query between chunks of rows; one inside a single long computation (a
    string function over a huge value) runs on past it. The child is killed :data:`HARD_STOP_S` seconds
    after the limit (also on Ctrl-C here), and its memory goes with it.

    Raises
    ------
    QueryTimeout
        If the query ran longer than ``timeout_s`` (stopped by DuckDB, or killed).
    QueryRefused, duckdb.Error
        As :func:`query`, raised again here.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")  # nothing to re-import; the parent holds no connection to share
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_query_child, args=(send, str(db_path), sql, max_rows, timeout_s), daemon=True)
    child.start()
    send.close()
    try:
        if not recv.poll(timeout_s + HARD_STOP_S):
            raise QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped")
        ok, value = recv.recv()
    except EOFError:
        raise MemoryError("the query's process ended without an answer (out of memory?)") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
    if ok:
        return value
    raise value


def _query_child(send, db_path: str, sql: str, max_rows: int | None, timeout_s: float) -> None:
    """:func:`query_bounded`'s child: the result, or the error, sent back once."""
    try:
        answer = (True, query(db_path, sql, max_rows=max_rows, timeout_s=timeout_s))
    except Exception as exc:  # noqa: BLE001 - every error goes back to the parent, which raises it
        answer = (False, exc)
    try:
        send.send(answer)
    except Exception as exc:  # noqa: BLE001 - an error that cannot be pickled goes back as its text
        send.send((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}" if not answer[0] else str(exc))))
    send.close()


def view_sql() -> dict[str, str]:
    """``{view name: SELECT …}`` from ``warehouse/v_*.sql`` (one object per file), read as package data."""
    files = resources.files(VIEWS_PACKAGE)
    found = sorted((f.name, f) for f in files.iterdir() if f.name.startswith("v_") and f.name.endswith(".sql"))
    return {name.removesuffix(".sql"): f.read_text(encoding="utf-8") for name, f in found}


def init_db(con) -> None:
    """Create every table (``schemas/``) and view (``warehouse/``); idempotent."""
    for t in TABLES.values():
        con.execute(create_table_sql(t))
        have = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema()",
                [t.name],
            ).fetchall()
        }
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
