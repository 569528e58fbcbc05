"""DuckDB DDL and Arrow schemas derived from :mod:`schemas.tables`."""

from __future__ import annotations

import pyarrow as pa

from schemas.tables import TABLES, Table

_ARROW = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def create_table_sql(t: Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table (NOT NULL and PRIMARY KEY included)."""
    cols = [f'    "{c.name}" {c.type}{"" if c.nullable else " NOT NULL"}' for c in t.columns]
    cols.append(f"    PRIMARY KEY ({', '.join(t.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {t.name} (\n" + ",\n".join(cols) + "\n);"


def all_ddl() -> str:
    return "\n\n".join(create_table_sql(t) for t in TABLES.values()) + "\n"


def arrow_schema(t: Table) -> pa.Schema:
    """The Parquet/Arrow schema of a table: same names, order and nullability."""
    return pa.schema([pa.field(c.name, _ARROW[c.type], nullable=c.nullable) for c in t.columns])


def tables_markdown() -> str:
    """``docs/tables.md``: every table and column, generated from the schemas (kept in sync by a test)."""
    lines = ["# Warehouse tables", "",
             "Generated from `schemas/tables.py` by `python -m schemas > docs/tables.md`; do not edit by hand.",
             "Every number describes *expressed* emotion, not a person's inner state.", ""]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", t.description, "", f"Primary key: `{', '.join(t.primary_key)}`", "",
                  "| column | type | null | valid values | description |", "|---|---|---|---|---|"]
        for c in t.columns:
            valid = ""
            if c.allowed is not None:
                valid = ", ".join(c.allowed)
            elif c.min is not None or c.max is not None:
                valid = f"[{'' if c.min is None else c.min}, {'' if c.max is None else c.max}]"
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {valid} | {c.description} |")
        if t.probability_groups:
            lines += ["", "Each row's probabilities sum to 1 (or are all NULL): "
                      + "; ".join(f"`{g[0].rsplit('_', 1)[0]}_*`" for g in t.probability_groups) + "."]
        lines.append("")
    return "\n".join(lines)
