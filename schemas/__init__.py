"""The single source of every warehouse table's columns.

The DuckDB DDL (:func:`schemas.ddl.create_table_sql`), the Parquet writers
(:func:`schemas.arrow_schema`) and the data-quality suites (``multimodal_fer.quality``) are all
derived from :data:`schemas.tables.TABLES`.
"""

from multimodal_fer_schemas.ddl import arrow_schema, create_table_sql  # noqa: F401
from multimodal_fer_schemas.tables import TABLES, Column, Table, table  # noqa: F401
