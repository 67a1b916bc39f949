"""SQL text for the places DuckDB binds no parameters (COPY and read_csv options, ATTACH,
identifiers): values and names quoted, never pasted in raw."""

from __future__ import annotations


def sql_literal(value: str | None) -> str:
    """A SQL string literal ('it''s'); None is NULL."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier ("a ""b"" c")."""
    return '"' + name.replace('"', '""') + '"'
