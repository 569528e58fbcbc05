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
