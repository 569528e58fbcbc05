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

from schemas import TABLES, Table

PROB_SUM_TOLERANCE = 1e-3  # probabilities must sum to 1 ± this


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


@functools.lru_cache(maxsize=None)
def build_suite(table_name: str):
    """The expectation suite of one table (cached)."""
    gx, _ = _context()
    t: Table = TABLES[table_name]
    e = gx.expectations
    suite = gx.ExpectationSuite(name=f"{t.name}_suite")
    for c in t.columns:
        suite.add_expectation(e.ExpectColumnToExist(column=c.name))
        if not c.nullable:
            suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.min is not None or c.max is not None:
            suite.add_expectation(e.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min, max_value=c.max))
        if c.allowed is not None:
            suite.add_expectation(e.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.allowed)))
    if len(t.primary_key) == 1:
        suite.add_expectation(e.ExpectColumnValuesToBeUnique(column=t.primary_key[0]))
    else:
        suite.add_expectation(e.ExpectCompoundColumnsToBeUnique(column_list=list(t.primary_key)))
    for group in t.probability_groups:
        suite.add_expectation(e.ExpectColumnValuesToBeBetween(
            column=_sum_column(group), min_value=1 - PROB_SUM_TOLERANCE, max_value=1 + PROB_SUM_TOLERANCE))
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
    are validated whole. Without it, every row of every table (``mfer validate``, CI).
    """
    from schemas.tables import PER_RECORDING

    names = tables or tuple(TABLES)
    reports = []
    for name in names:
        if run_id is not None and name in PER_RECORDING:
            df = con.execute(f"SELECT * FROM {name} WHERE recording_sha256 IN "
                             "(SELECT recording_sha256 FROM sessions WHERE run_id = ?)", [run_id]).df()
        else:
            df = con.sql(f"SELECT * FROM {name}").df()
        reports.append(validate_frame(name, df))
    return reports


def check_frame(table_name: str, df: pd.DataFrame) -> QualityReport:
    """The suite's expectations as vectorised pandas checks (same schema, same verdicts, fast).

    Used on every recording's rows before they are loaded; :func:`validate_frame` (Great
    Expectations) runs on the warehouse. Failure lines name the column and the expectation type
    as :func:`validate_frame` does.
    """
    t: Table = TABLES[table_name]
    failures: list[str] = []
    n_expectations = 0

    def fail(col: str | None, kind: str, bad: pd.Series | None = None, detail: str = "") -> None:
        what = f"{col}: " if col else ""
        if bad is not None:
            detail = f": {int(bad.sum())} unexpected value(s)"
        failures.append(f"{what}{kind}{detail}")

    for c in t.columns:
        n_expectations += 1
        if c.name not in df.columns:
            fail(c.name, "expect_column_to_exist")
            n_expectations += (not c.nullable) + (c.min is not None or c.max is not None) + (c.allowed is not None)
            continue
        col = df[c.name]
        if not c.nullable:
            n_expectations += 1
            if col.isna().any():
                fail(c.name, "expect_column_values_to_not_be_null", col.isna())
        if c.min is not None or c.max is not None:
            n_expectations += 1
            values = pd.to_numeric(col, errors="coerce")
            bad = col.notna() & values.isna()  # not a number at all
            if c.min is not None:
                bad |= values < c.min
            if c.max is not None:
                bad |= values > c.max
            if bad.any():
                fail(c.name, f"expect_column_values_to_be_between(min_value={c.min}, max_value={c.max})", bad)
        if c.allowed is not None:
            n_expectations += 1
            bad = col.notna() & ~col.isin(list(c.allowed))
            if bad.any():
                fail(c.name, "expect_column_values_to_be_in_set", bad)
    n_expectations += 1
    key = [k for k in t.primary_key if k in df.columns]
    if len(key) == len(t.primary_key) and df.duplicated(subset=key).any():
        fail(key[0] if len(key) == 1 else None,
             "expect_column_values_to_be_unique" if len(key) == 1 else f"expect_compound_columns_to_be_unique({key})",
             df.duplicated(subset=key, keep=False))
    for group in t.probability_groups:
        n_expectations += 1
        if not all(c in df.columns for c in group):
            fail(f"row sums of {_sum_column(group)[6:]}_*", "expect_column_values_to_be_between", detail=": columns missing")
            continue
        sums = df[list(group)].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=len(group))
        bad = sums.notna() & ((sums < 1 - PROB_SUM_TOLERANCE) | (sums > 1 + PROB_SUM_TOLERANCE))
        if bad.any():
            fail(f"row sums of {_sum_column(group)[6:]}_*",
                 f"expect_column_values_to_be_between(min_value={1 - PROB_SUM_TOLERANCE}, "
                 f"max_value={1 + PROB_SUM_TOLERANCE})", bad)
    return QualityReport(table_name, len(df), n_expectations, tuple(failures))
