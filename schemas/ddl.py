"""DuckDB DDL and Arrow schemas derived from :mod:`schemas.tables`."""

from __future__ import annotations

import pyarrow as pa

from multimodal_fer_schemas.tables import TABLES, Table

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


def tables_markdown(con, views: dict[str, str]) -> str:
    """``docs/tables.md``: every table and view and their columns, generated from the schemas and the views'
    SQL (kept in sync by a test). ``con``: a DuckDB connection holding the tables and ``views``
    (``{name: SELECT …}``); ``scripts/tables_doc.py`` makes both with the run-time store."""
    lines = [
        "# Warehouse tables",
        "",
        (
            "Generated from `schemas/tables.py` and `warehouse/v_*.sql` by "
            "`python -m scripts.tables_doc > docs/tables.md`; do not edit by hand."
        ),
        "Every number describes *expressed* emotion, not a person's inner state.",
        "",
    ]
    for t in TABLES.values():
        lines += [
            f"## `{t.name}`",
            "",
            t.description,
            "",
            f"Primary key: `{', '.join(t.primary_key)}`",
            "",
            "| column | type | null | valid values | description |",
            "|---|---|---|---|---|",
        ]
        for c in t.columns:
            valid = ""
            if c.allowed is not None:
                valid = ", ".join(c.allowed)
            elif c.min is not None or c.max is not None:
                valid = f"[{'' if c.min is None else c.min}, {'' if c.max is None else c.max}]"
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {valid} | {c.description} |")
        if t.probability_groups:
            lines += [
                "",
                "Each row's probabilities sum to 1 (or are all NULL): "
                + "; ".join(f"`{g[0].rsplit('_', 1)[0]}_*`" for g in t.probability_groups)
                + ".",
            ]
        lines.append("")
    return "\n".join(lines + views_markdown(con, views))


#: Descriptions of view columns computed in SQL (the others are described by the table they come from).
VIEW_COLUMNS: dict[str, str] = {
    "session_index": "1 = the patient's first session (by recorded_at, else processed_at)",
    "baseline_valence": "Mean valence of the patient's first two sessions (the patient's own baseline)",
    "valence_change": "valence_mean - baseline_valence",
    "valence_rolling3": "Mean valence over this and the two previous sessions",
    "arousal_change": "arousal_mean - the baseline's",
    "expressivity_change": "expressivity_mean - the baseline's",
    "speaking_share": "speaking_time_s / duration_s",
    "speaking_share_change": "speaking_share - the baseline's",
    "valence_trend_per_session": "Least-squares slope of valence_mean per session, over all the patient's sessions",
    "n_sessions": "Number of sessions of the patient",
    "flag_sustained_negative_shift": "Session >= 3 and the last three sessions all > 0.15 below baseline valence",
    "flag_falling_engagement": "Session >= 3 and speaking share 0.2 or expressivity 0.15 below baseline",
}


def _read_tables(sql: str) -> list[str]:
    """Tables a view reads (``from X`` / ``join X``), in order of first appearance."""
    import re

    found = [a or b for a, b in re.findall(r"\bfrom\s+(\w+)|\bjoin\s+(\w+)", sql, flags=re.IGNORECASE)]
    return [n for i, n in enumerate(found) if n in TABLES and n not in found[:i]]


def _describe_column(name: str, read: list[str]) -> str:
    """A view column's description: its own (:data:`VIEW_COLUMNS`), else that of the first table it reads."""
    if name in VIEW_COLUMNS:
        return VIEW_COLUMNS[name]
    for t in [TABLES[n] for n in read] + list(TABLES.values()):
        if name in t.column_names:
            return f"{t.column(name).description} (`{t.name}`)"
    return ""


def _collapse(columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Replace a whole wide table's columns, in order, by one line that names the table."""
    names = [c for c, _ in columns]
    for t in TABLES.values():
        block = list(t.column_names)
        if len(block) < 10:
            continue
        for i in range(len(names) - len(block) + 1):
            if names[i : i + len(block)] == block:
                return columns[:i] + [(f"… every column of `{t.name}`", "")] + columns[i + len(block) :]
    return columns


def views_markdown(con, views: dict[str, str]) -> list[str]:
    """The views of ``warehouse/v_*.sql``: their leading comment, and their columns as DuckDB binds them
    in ``con``."""
    lines = ["# Views", "", "Defined in `warehouse/v_*.sql` (one view per file); columns as DuckDB binds them.", ""]
    for name, sql in views.items():
        comment = " ".join(ln.removeprefix("--").strip() for ln in _leading_comment(sql))
        columns = _collapse([(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()])
        lines += [f"## `{name}`", "", comment, "", "| column | type | description |", "|---|---|---|"]
        read = _read_tables(sql)
        lines += [
            f"| {c if c.startswith('…') else f'`{c}`'} | {typ} | {_describe_column(c, read) if typ else ''} |"
            for c, typ in columns
        ]
        lines.append("")
    return lines


def _leading_comment(sql: str) -> list[str]:
    out = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        out.append(line)
    return out
