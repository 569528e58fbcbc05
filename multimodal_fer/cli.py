"""``mfer``'s library commands: query the warehouse, check its state, report, export, evaluate.

    mfer sql "SELECT ..." [--db ...]            query the warehouse (read-only)
    mfer status [--db ...]                      sessions, runs, quarantine, data quality
    mfer validate [--db ...]                    run the data-quality suites (exit 1 on failure)
    mfer evaluate KIND LABELS.csv [--root DIR] [--out metrics.json]
                                                KIND: face | voice | asr | text | av
                                                (face: [--face-crops] [--group-column subject])
                                                (face, voice: [--by COLUMN]...)
    mfer report [--db ...] [--out report] [--patient ID]
                                                cohort overview, patient and session pages (interactive HTML)
    mfer export [--db ...] (--table T | --view V | --query SQL) --out PATH [--format csv|parquet]
                [--per-patient] [--force]       rows to CSV / Parquet for R, SAS, Excel (audited)
    mfer ddl                                    the warehouse DDL generated from schemas/

The commands that start flows (``mfer run``, ``mfer serve``) live next to the flows, in
:mod:`multimodal_fer_flows.cli`, which is the ``mfer`` console script: it adds them to this parser
(:func:`main`'s ``commands``). This module never imports Prefect or the flows;
``python -m multimodal_fer.cli`` offers the library commands alone.

An error is one line on stderr (``mfer: error: ...``) and exit status 2 (1 means: done, but the data-quality
checks failed); ``mfer --debug COMMAND ...`` shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from multimodal_fer.config import DEFAULT_DB, Settings

SQL_TIMEOUT_S = 300.0  # seconds: mfer sql stops a query that runs longer (--timeout)
SQL_MAX_TIMEOUT_S = 86_400.0  # seconds: the longest --timeout of mfer sql and mfer export (a day)
EXPORT_TIMEOUT_S = 3600.0  # seconds: mfer export stops reading after this (--timeout)
PRINT_COLWIDTH = 60  # characters of a value mfer sql / status print (mfer export writes whole values)
SQL_MAX_ROWS = 10_000_000  # --max-rows at most: a terminal shows far fewer; mfer export writes any number

__all__ = ["DEFAULT_DB", "DISCLAIMER", "build_parser", "db_arg", "main"]
DISCLAIMER = (
    "multimodal-fer measures expressed emotion (what a face, a voice and words show), not a person's inner state."
)


def _print_df(df, *, max_rows: int = 40) -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows",
        max_rows,
        "display.max_columns",
        30,
        "display.width",
        200,
        "display.max_colwidth",
        PRINT_COLWIDTH,
    ):
        # to_string ignores display.max_colwidth: a 20 MB value would be printed whole
        print(df.to_string(index=False, max_rows=max_rows, max_colwidth=PRINT_COLWIDTH) if len(df) else "(no rows)")


def _check_timeout(seconds: float) -> None:
    if not 0 <= seconds <= SQL_MAX_TIMEOUT_S:  # False for NaN too
        raise ValueError(f"--timeout must be 0 (no time limit) to {SQL_MAX_TIMEOUT_S:g} seconds")


def cmd_sql(args) -> int:
    from multimodal_fer import store

    if not 1 <= args.max_rows <= SQL_MAX_ROWS:
        raise ValueError(f"--max-rows must be 1 to {SQL_MAX_ROWS:,} (more rows: mfer export)")
    _check_timeout(args.timeout)
    if args.timeout:
        df = store.query_bounded(args.db, args.query, max_rows=args.max_rows, timeout_s=args.timeout)
    else:
        df = store.query(args.db, args.query, max_rows=args.max_rows)
    _print_df(df.head(args.max_rows), max_rows=args.max_rows)
    if len(df) > args.max_rows:
        print(f"(first {args.max_rows} rows shown; the query has more: --max-rows N, or mfer export for all of them)")
    return 0


def cmd_status(args) -> int:
    from multimodal_fer import store
    from multimodal_fer_schemas import TABLES

    con = store.connect_readonly(args.db)
    try:
        print(f"warehouse {args.db}")
        for name in TABLES:
            print(f"  {name:<18} {con.execute(f'SELECT count(*) FROM {name}').fetchone()[0]:>8} rows")
        print("\nlast runs:")
        _print_df(
            con.sql(
                "SELECT run_id, started_at, n_discovered, n_skipped, n_loaded, n_quarantined "
                "FROM runs ORDER BY started_at DESC LIMIT 5"
            ).df()
        )
        print("\nquarantine:")
        _print_df(con.sql("SELECT source_uri, stage, reason FROM v_quarantine LIMIT 20").df())
    finally:
        con.close()
    return 0


def cmd_validate(args) -> int:
    from multimodal_fer import quality, store

    con = store.connect_readonly(args.db)
    try:
        reports = quality.validate_warehouse(con)
    finally:
        con.close()
    for r in reports:
        print(f"{r.table:<18} {r.n_rows:>8} rows {r.n_expectations:>4} expectations  {'ok' if r.success else 'FAILED'}")
        for f in r.failures:
            print(f"    - {f}")
    return 0 if all(r.success for r in reports) else 1


#: ``mfer evaluate KIND`` kinds whose report lists its ``files`` by path: ``--by COLUMN`` breaks them down
BREAKDOWN_KINDS = ("face", "voice")
#: ``mfer evaluate KIND`` → module whose ``run(labels_csv, *, root, out) -> dict`` evaluates it
EVALUATORS = {
    "face": "multimodal_fer.face.evaluate",
    "voice": "multimodal_fer.voice.evaluate",
    "asr": "multimodal_fer.text.evaluate_asr",
    "text": "multimodal_fer.text.evaluate",
    "av": "multimodal_fer.evaluate_av",
}


FACE_ONLY = ("face_crops", "group_column", "calibration_strength")  # `mfer evaluate` options of the face only


def cmd_evaluate(args) -> int:
    import importlib

    try:
        module = importlib.import_module(EVALUATORS[args.kind])
    except ModuleNotFoundError as exc:
        print(f"mfer: evaluation of {args.kind!r} is not available yet ({exc.name})", file=sys.stderr)
        return 2
    extra = {k: v for k in FACE_ONLY if (v := getattr(args, k)) is not None and v is not False}  # 0.0 is given
    for key in extra:
        if args.kind != "face":
            print(f"mfer: --{key.replace('_', '-')} applies to `mfer evaluate face` only", file=sys.stderr)
            return 2
    if "calibration_strength" in extra and not args.group_column:
        print("mfer: --calibration-strength needs --group-column (the sessions to calibrate)", file=sys.stderr)
        return 2
    if args.by and args.kind not in BREAKDOWN_KINDS:
        print(f"mfer: --by applies to `mfer evaluate {'|'.join(BREAKDOWN_KINDS)}` only", file=sys.stderr)
        return 2
    if args.out and Path(args.out).is_dir():  # found before minutes of scoring, not after
        print(f"mfer: --out {args.out} is a folder: give a file name for the JSON", file=sys.stderr)
        return 2
    if args.by:  # a missing column fails before minutes of scoring
        from multimodal_fer.evaluation import read_labels_csv

        read_labels_csv(args.labels, ["path", "label", *args.by])
    report = module.run(
        Path(args.labels),
        root=Path(args.root) if args.root else None,
        out=Path(args.out) if args.out else None,
        **extra,
    )
    if args.by:
        _add_breakdowns(report, args)
    return 0


def _add_breakdowns(report: dict, args) -> None:
    """``--by COLUMN``: the report's metrics per value of each column, printed and added to the JSON."""
    from multimodal_fer.evaluation import breakdown, print_breakdown, read_labels_csv, write_json
    from multimodal_fer.labels import EMOTIONS

    rows = read_labels_csv(args.labels, ["path", "label"])
    report["breakdown"] = {c: breakdown(report["files"], rows, c, EMOTIONS) for c in args.by}
    for column, table in report["breakdown"].items():
        print_breakdown(column, table)
    write_json(Path(args.out) if args.out else None, report)


def cmd_report(args) -> int:
    from multimodal_fer import store
    from multimodal_fer.report import build

    con = store.connect_readonly(args.db)
    try:
        done = build(con, Path(args.out), patient_id=args.patient)
    finally:
        con.close()
    print(
        f"wrote {done.index}: {done.n_patients} patients, {done.n_sessions} sessions in {done.seconds:.1f} s "
        "(open it in a browser; no network needed)"
    )
    return 0


def cmd_export(args) -> int:
    from multimodal_fer.export import ExportError, export

    _check_timeout(args.timeout)
    try:
        done = export(
            args.db,
            args.out,
            table=args.table,
            view=args.view,
            query=args.query,
            fmt=args.format,
            per_patient=args.per_patient,
            force=args.force,
            timeout_s=args.timeout,
        )
    except ExportError as exc:
        print(f"mfer export: {exc}", file=sys.stderr)
        return 2
    where = f"{len(done.files)} files in {done.out}" if args.per_patient else str(done.out)
    print(f"exported {done.n_rows} rows of {done.source} to {where} ({done.fmt}); recorded in the audit table")
    return 0


def cmd_ddl(args) -> int:
    from multimodal_fer_schemas.ddl import all_ddl

    print(all_ddl())
    return 0


def _export_parser(sub, db_arg) -> None:
    ex = sub.add_parser("export", help="a table, view or read-only query to CSV or Parquet (recorded in the audit)")
    db_arg(ex)
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", help="a warehouse table, e.g. session_summaries")
    what.add_argument("--view", help="a warehouse view, e.g. v_utterances")
    what.add_argument("--query", help="one SELECT statement")
    ex.add_argument("--out", required=True, help="file to write (with --per-patient: a folder, one file per patient)")
    ex.add_argument("--format", choices=("csv", "parquet"), help="default: parquet for .parquet/.pq, else csv")
    ex.add_argument("--per-patient", action="store_true", help="one file per patient_id into the --out folder")
    ex.add_argument("--force", action="store_true", help="replace an existing --out")
    ex.add_argument(
        "--timeout",
        type=float,
        default=EXPORT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"stop an export that reads longer than this (default {EXPORT_TIMEOUT_S:g}; 0: no limit)",
    )
    ex.set_defaults(func=cmd_export)


def db_arg(sp) -> None:
    """``--db``, defaulting to ``$MFER_DB`` (read by :class:`~multimodal_fer.config.Settings`)."""
    sp.add_argument("--db", default=Settings.from_env().db, help="DuckDB file (default %(default)s)")


#: adds subcommands to ``mfer``'s subparsers (``multimodal_fer_flows.cli`` adds ``run`` and ``serve``)
Commands = Callable[[argparse._SubParsersAction], None]


def _evaluate_parser(sub) -> None:
    """``mfer evaluate``: a shipped model on labelled files."""
    ev = sub.add_parser("evaluate", help="evaluate a shipped model on labelled files (prints a table, writes JSON)")
    ev.add_argument("kind", choices=sorted(EVALUATORS))
    ev.add_argument("labels", help="CSV: path,label (face, voice, av); path,transcript (asr); text,label (text)")
    ev.add_argument("--root", help="folder the CSV's paths are relative to (default: the CSV's folder)")
    ev.add_argument("--out", help="write the metrics as JSON here")
    ev.add_argument(
        "--face-crops",
        action="store_true",
        help="face: every image is a face crop (FER2013-style); score one without landmarks as a whole",
    )
    ev.add_argument(
        "--group-column",
        help="face: CSV column naming each image's person / session (e.g. subject); reports the plain and the "
        "per-session calibrated metrics side by side",
    )
    ev.add_argument(
        "--calibration-strength",
        type=float,
        metavar="S",
        help="face, with --group-column: share 0..1 of each person's offset the calibration removes "
        "(default the shipped 0, off; docs/face.md measured 1)",
    )
    ev.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="face, voice: also report the metrics per value of this CSV column (e.g. sex, age_band, skin_tone); "
        "repeatable",
    )
    ev.set_defaults(func=cmd_evaluate)


def build_parser(commands: Commands | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """``mfer``'s parser: ``commands`` (e.g. the flow commands) first, then the library commands."""
    p = argparse.ArgumentParser(
        prog="mfer",
        description=(description or (__doc__ or "").split("\n\n")[0]).replace("``", "") + " " + DISCLAIMER,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=None if commands else "run, serve: the mfer command (python -m multimodal_fer_flows.cli)",
    )
    p.add_argument("--debug", action="store_true", help="on an error, show the Python traceback (else one line)")
    sub = p.add_subparsers(dest="command", required=True)
    if commands is not None:
        commands(sub)

    s = sub.add_parser("sql", help="run a query on the warehouse (read-only)")
    s.add_argument("query")
    db_arg(s)
    s.add_argument("--max-rows", type=int, default=40, help="rows fetched and shown (default 40)")
    s.add_argument(
        "--timeout",
        type=float,
        default=SQL_TIMEOUT_S,
        help=f"stop the query after this many seconds (default {SQL_TIMEOUT_S:g}; 0: no limit)",
    )
    s.set_defaults(func=cmd_sql)

    st = sub.add_parser("status", help="tables, last runs and quarantine")
    db_arg(st)
    st.set_defaults(func=cmd_status)

    v = sub.add_parser("validate", help="run the data-quality suites over the warehouse")
    db_arg(v)
    v.set_defaults(func=cmd_validate)

    _evaluate_parser(sub)

    rp = sub.add_parser("report", help="cohort overview, patient and session pages (interactive HTML, offline)")
    db_arg(rp)
    rp.add_argument("--out", default="report", help="output folder (default %(default)s)")
    rp.add_argument("--patient", help="only this patient")
    rp.set_defaults(func=cmd_report)

    _export_parser(sub, db_arg)
    ddl = sub.add_parser("ddl", help="print the warehouse DDL generated from schemas/")
    ddl.set_defaults(func=cmd_ddl)
    return p


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors a user causes and can fix: bad options or input, a missing or busy file, a refused query.

    ``OSError`` covers ``FileNotFoundError``, ``PermissionError`` and ``TimeoutError``; ``ValueError``
    covers ``BucketError``, ``MediaError`` and ``QueryRefused``.
    """
    import duckdb

    return OSError, ValueError, duckdb.Error


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None, *, commands: Commands | None = None, description: str | None = None) -> int:
    """Run one subcommand; an error is one line on stderr (with ``--debug``: the traceback) and exit status 2.

    ``commands`` adds subcommands (see :func:`build_parser`). An expected error (:func:`_expected_errors`)
    shows its message; another one its type too, as a bug.
    """
    from multimodal_fer.env import apply_defaults

    apply_defaults()
    args = build_parser(commands, description).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `mfer ddl | head`: the reader has gone, nothing more to say (Python's recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("mfer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error is one readable line unless --debug
        if args.debug:
            raise
        if type(exc).__name__ == "InterruptException":  # DuckDB's, for Ctrl-C during a query
            print("mfer: interrupted", file=sys.stderr)
            return 130
        if isinstance(exc, _expected_errors()):
            print(f"mfer: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"mfer: error: {type(exc).__name__}: {_one_line(exc)} (mfer --debug ... shows the traceback)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
