"""The warehouse DDL (sql/create_tables.sql) and the polars schemas (schemas.py) describe the
same tables: a column added or retyped in one place only would fail here, not in a user's load."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from scarf_etl.schemas import AGGREGATE_COLUMNS, EVENT_TABLE_COLUMNS, EVENT_TABLES
from scarf_etl.store.warehouse import Warehouse

DUCKDB_TYPE_OF: dict[pl.DataType, str] = {
    pl.String(): "VARCHAR",
    pl.Float64(): "DOUBLE",
    pl.Boolean(): "BOOLEAN",
    pl.Int64(): "BIGINT",
    pl.Date(): "DATE",
    pl.Datetime("us", "UTC"): "TIMESTAMP WITH TIME ZONE",
}


def warehouse_columns(path: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return [
            (str(name), str(data_type))
            for name, data_type in connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'scarf' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
        ]


@pytest.mark.parametrize(
    ("table", "schema"),
    [*((table, EVENT_TABLE_COLUMNS) for table in EVENT_TABLES), ("aggregates", AGGREGATE_COLUMNS)],
)
def test_tables_match_the_polars_schemas(
    tmp_path: Path, table: str, schema: dict[str, pl.DataType]
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    expected = [(name, DUCKDB_TYPE_OF[dtype]) for name, dtype in schema.items()]
    assert sorted(warehouse_columns(warehouse.build_path, table)) == sorted(expected)
