"""Data-quality suites (Great Expectations), derived from ``schemas/``.

For every column of a table: it exists; it is not NULL if the schema says so; numbers are in
the schema's range; strings are in the schema's set of allowed values. For the table: the
primary key is unique, and every group of probability columns sums to 1 in each row (or is all
NULL). Suites run on pandas frames (the GE SQL path on DuckDB returns empty metrics, see
docs/data-quality.md) over the warehouse tables after every load and in CI.

Before a recording is loaded, :func:`check_frame` applies the same expectations, derived from
the same schema, as vectorised pandas checks: Great Expectations costs about 0.5 s per table
per call, which would be a fixed 4 s on every recording; the check costs milliseconds. A test
holds the two to the same verdicts.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

import pandas as pd

from multimodal_fer_schemas import TABLES, Table

PROB_SUM_TOLERANCE = 1e-3  # probabilities must sum to 1 ± this

#: Views that carry a fact table's rows with who, when and where (``warehouse/v_*.sql``): view -> base table.
FACT_VIEWS: dict[str, str] = {
    "v_emotion_windows": "emotion_windows",
    "v_utterances": "utterances",
    "v_frames": "frames",
    "v_session_context": "sessions",
}
#: Columns a fact view joins from ``sessions`` that must never be NULL (a row without them is an orphan).
FACT_VIEW_KEYS = ("patient_id", "session_id")


@dataclass(frozen=True)
class QualityReport:
    table: str
    n_rows: int
    n_expectations: int
    failures: tuple[str, ...]  # one readable line per failed expectation

    @property
    def success(self) -> bool:
        return not self.failures


def _sum_column(group: tuple[str, ...]) -> str:
    return "__sum_" + group[0].rsplit("_", 1)[0]


@functools.lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    except Exception:  # noqa: BLE001 - progress bars are cosmetic
        pass
    asset = ctx.data_sources.add_pandas("mfer").add_dataframe_asset("frame")
    return gx, asset.add_batch_definition_whole_dataframe("whole")


def expectations(table_name: str) -> list[tuple[str, dict]]:
    """Every expectation of a table, derived from its schema: ``(type, kwargs)`` in GE's names.

    The one definition both :func:`build_suite` (Great Expectations) and :func:`check_frame`
    (pandas) apply.
    """
    t: Table = TABLES[table_name]
    out: list[tuple[str, dict]] = []
    for c in t.columns:
        out.append(("expect_column_to_exist", {"column": c.name}))
        if not c.nullable:
            out.append(("expect_column_values_to_not_be_null", {"column": c.name}))
        if c.min is not None or c.max is not None:
            out.append(
                ("expect_column_values_to_be_between", {"column": c.name, "min_value": c.min, "max_value": c.max})
            )
        if c.allowed is not None:
            out.append(("expect_column_values_to_be_in_set", {"column": c.name, "value_set": list(c.allowed)}))
    if len(t.primary_key) == 1:
        out.append(("expect_column_values_to_be_unique", {"column": t.primary_key[0]}))
    else:
        out.append(("expect_compound_columns_to_be_unique", {"column_list": list(t.primary_key)}))
    for group in t.probability_groups:
        out.append(
            (
                "expect_column_values_to_be_between",
                {
                    "column": _sum_column(group),
                    "min_value": 1 - PROB_SUM_TOLERANCE,
                    "max_value": 1 + PROB_SUM_TOLERANCE,
                },
            )
        )
    return out


@functools.cache
def build_suite(table_name: str):
    """The expectation suite of one table (cached)."""
    gx, _ = _context()
    suite = gx.ExpectationSuite(name=f"{table_name}_suite")
    for kind, kwargs in expectations(table_name):
        cls = getattr(gx.expectations, "".join(w.capitalize() for w in kind.split("_")))
        suite.add_expectation(cls(**kwargs))
    return suite


def _describe(result) -> str:
    cfg = result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    col = kwargs.pop("column", None)
    r = result.result or {}
    detail = ""
    if r.get("unexpected_count"):
        detail = f": {r['unexpected_count']} unexpected value(s), e.g. {r.get('partial_unexpected_list', [])[:3]}"
    elif r.get("observed_value") is not None:
        detail = f": observed {r['observed_value']}"
    what = f"{col}: " if col else ""
    if col and col.startswith("__sum_"):
        what = f"row sums of {col[6:]}_*: "
    return f"{what}{cfg.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())}){detail}"


def validate_frame(table_name: str, df: pd.DataFrame) -> QualityReport:
    """Validate a table's rows with its suite."""
    _, batch_definition = _context()
    t = TABLES[table_name]
    frame = df.copy()
    for group in t.probability_groups:
        present = [c for c in group if c in frame.columns]
        if len(present) == len(group):
            block = frame[list(group)].apply(pd.to_numeric, errors="coerce")
            frame[_sum_column(group)] = block.sum(axis=1, min_count=len(group))  # NULL when any is NULL
        else:
            frame[_sum_column(group)] = float("nan")
    suite = build_suite(table_name)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite)
    failures = tuple(_describe(r) for r in result.results if not r.success)
    return QualityReport(table_name, len(df), len(suite.expectations), failures)


def validate_warehouse(con, tables: tuple[str, ...] | None = None, *, run_id: str | None = None) -> list[QualityReport]:
    """Validate warehouse tables (read through DuckDB into pandas).

    With ``run_id``, the per-recording tables are validated on the rows of the recordings that
    run loaded (so the cost and memory of the check after each batch do not grow with the
    warehouse; DuckDB's primary keys keep the whole tables unique); the small run-level tables
    are validated whole. Without it, every row of every table (``mfer validate``, CI). Either way
    the fact views (:data:`FACT_VIEWS`) are checked whole by :func:`validate_view` (counts, cheap).
    """
    from multimodal_fer_schemas.tables import PER_RECORDING

    names = tables or tuple(TABLES)
    reports = []
    for name in names:
        if name in FACT_VIEWS:
            reports.append(validate_view(con, name))
            continue
        if run_id is not None and name in PER_RECORDING:
            df = con.execute(
                f"SELECT * FROM {name} WHERE recording_sha256 IN "
                "(SELECT recording_sha256 FROM sessions WHERE run_id = ?)",
                [run_id],
            ).df()
        else:
            df = con.sql(f"SELECT * FROM {name}").df()
        reports.append(validate_frame(name, df))
    if tables is None:
        reports += [validate_view(con, v) for v in FACT_VIEWS]
    return reports


def validate_view(con, view: str) -> QualityReport:
    """A fact view (:data:`FACT_VIEWS`) holds exactly its base table's rows, each with its patient and session.

    Fewer or more rows than the base table would mean the join lost or duplicated rows; a NULL
    ``patient_id`` or ``session_id`` means a row whose recording has no session (an orphan).
    """
    base = FACT_VIEWS[view]
    n_view = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
    n_base = con.execute(f"SELECT count(*) FROM {base}").fetchone()[0]
    failures = []
    if n_view != n_base:
        failures.append(f"row count: expect_table_row_count_to_equal({base}={n_base}): observed {n_view}")
    for col in FACT_VIEW_KEYS:
        n_null = con.execute(f"SELECT count(*) FROM {view} WHERE {col} IS NULL").fetchone()[0]
        if n_null:
            failures.append(f"{col}: expect_column_values_to_not_be_null: {n_null} unexpected value(s)")
    return QualityReport(view, n_view, 1 + len(FACT_VIEW_KEYS), tuple(failures))


def check_frame(table_name: str, df: pd.DataFrame) -> QualityReport:
    """The suite's expectations (:func:`expectations`) as vectorised pandas checks: same schema,
    same verdicts, milliseconds instead of seconds.

    Used on every recording's rows before they are loaded; :func:`validate_frame` (Great
    Expectations) runs on the warehouse. Failure lines name the column and the expectation type
    as :func:`validate_frame` does.
    """
    t: Table = TABLES[table_name]
    frame = df.copy()
    for group in t.probability_groups:
        if all(c in frame.columns for c in group):
            frame[_sum_column(group)] = (
                frame[list(group)].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=len(group))
            )  # NULL when any is NULL
    specs = expectations(table_name)
    failures: list[str] = []
    for kind, kw in specs:
        col = kw.get("column")
        what = f"row sums of {col[6:]}_*: " if col and col.startswith("__sum_") else (f"{col}: " if col else "")
        if col is not None and col not in frame.columns:
            if kind == "expect_column_to_exist" or col.startswith("__sum_"):
                failures.append(f"{what}{kind}: column missing")
            continue
        values = frame[col] if col is not None else pd.Series(dtype=object)  # read by the column expectations only
        if kind == "expect_column_to_exist":
            bad = None
        elif kind == "expect_column_values_to_not_be_null":
            bad = values.isna()
        elif kind == "expect_column_values_to_be_between":
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numbers.isna()  # not a number at all
            if kw["min_value"] is not None:
                bad |= numbers < kw["min_value"]
            if kw["max_value"] is not None:
                bad |= numbers > kw["max_value"]
        elif kind == "expect_column_values_to_be_in_set":
            bad = values.notna() & ~values.isin(kw["value_set"])
        elif kind == "expect_column_values_to_be_unique":
            bad = values.duplicated(keep=False) & values.notna()
        elif kind == "expect_compound_columns_to_be_unique":
            key = kw["column_list"]
            bad = frame.duplicated(subset=key, keep=False) if all(k in frame.columns for k in key) else None
        else:
            raise ValueError(f"no pandas check for {kind}")
        if bad is not None and bad.any():
            args = ", ".join(f"{k}={v}" for k, v in kw.items() if k not in ("column", "value_set"))
            failures.append(f"{what}{kind}({args}): {int(bad.sum())} unexpected value(s)")
    return QualityReport(table_name, len(df), len(specs), tuple(failures))
