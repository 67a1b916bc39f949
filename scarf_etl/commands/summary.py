"""What a person wants to see after a load: rows per warehouse table, and a couple of answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scarf_etl.store.warehouse import Warehouse, open_warehouse

EXAMPLE_QUERIES: dict[str, str] = {
    "Downloads per package per day": """
        SELECT d.event_date, d.package_name, p.library_type, d.downloads, d.unique_origins
        FROM scarf.downloads_per_package_per_day AS d
        LEFT JOIN scarf.packages AS p ON p.uuid = d.package_id
        ORDER BY d.event_date DESC, d.downloads DESC
        LIMIT 10
    """,
    "Top companies by events": """
        SELECT company, domain, events, packages
        FROM scarf.top_companies
        ORDER BY events DESC
        LIMIT 5
    """,
}


def table_row_counts(target: Warehouse | Path) -> list[tuple[str, int]]:
    """Rows per base table of schema `scarf`, read-only (safe beside a running load)."""
    warehouse = open_warehouse(target)
    if not warehouse.exists():
        return []
    with warehouse.reader() as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'scarf' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        return [
            (name, int(connection.execute(f'SELECT count(*) FROM scarf."{name}"').fetchone()[0]))  # type: ignore[index]
            for (name,) in tables
        ]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def run_example_queries(target: Warehouse | Path) -> str:
    parts: list[str] = []
    with open_warehouse(target).reader() as connection:
        for title, sql in EXAMPLE_QUERIES.items():
            cursor = connection.execute(sql)
            headers = [column[0] for column in cursor.description or []]
            parts.append(
                f"{title}:\n{' '.join(sql.split())}\n{format_table(headers, cursor.fetchall())}"
            )
    return "\n\n".join(parts)
