"""Data-quality suites (Great Expectations), derived from ``schemas/``.

For every column of a table: it exists; it is not NULL if the schema says so; numbers are in
the schema's range; strings are in the schema's set of allowed values. For the table: the
primary key is unique, and every group of probability columns sums to 1 in each row (or is all
NULL). Suites run on pandas frames (the GE SQL path on DuckDB returns empty metrics, see
docs/data-quality.md), per recording before loading, and over whole warehouse tables.
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


def validate_warehouse(con, tables: tuple[str, ...] | None = None) -> list[QualityReport]:
    """Validate whole warehouse tables (read through DuckDB into pandas)."""
    names = tables or tuple(TABLES)
    return [validate_frame(name, con.sql(f"SELECT * FROM {name}").df()) for name in names]
