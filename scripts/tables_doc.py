"""``docs/tables.md`` from the schemas and the warehouse views::

    python -m scripts.tables_doc > docs/tables.md

(``tests/test_schemas.py`` checks that the committed file is what this prints.) Lives outside
``schemas/`` because the views are created by the run-time store, and ``schemas`` must not import
``multimodal_fer``.
"""

from __future__ import annotations


def tables_doc() -> str:
    """The text of ``docs/tables.md``."""
    import duckdb

    from multimodal_fer import store
    from multimodal_fer_schemas.ddl import tables_markdown

    con = duckdb.connect(":memory:")
    try:
        store.init_db(con)
        return tables_markdown(con, store.view_sql())
    finally:
        con.close()


if __name__ == "__main__":
    print(tables_doc(), end="")
