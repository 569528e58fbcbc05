from schemas.ddl import tables_markdown

print(tables_markdown(), end="")
