from multimodal_fer_schemas.ddl import tables_markdown

print(tables_markdown(), end="")
