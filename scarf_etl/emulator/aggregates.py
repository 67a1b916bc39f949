"""AggregateV1 rows of one package and day, computed from that day's events with polars."""

from __future__ import annotations

import datetime

import polars as pl

from scarf_etl.emulator.events import EventSource

# (breakdown, {AggregateV1 field: event column}, row filter, library types it applies to)
_BREAKDOWNS: tuple[tuple[str, dict[str, str], pl.Expr, tuple[str | None, ...] | None], ...] = (
    (
        "company",
        {"company_name": "origin_company", "company_domain": "origin_domain"},
        pl.col("origin_connection_type") == "business",
        None,
    ),
    (
        "cloud_provider",
        {"cloud_provider_name": "origin_company", "cloud_provider_domain": "origin_domain"},
        pl.col("origin_connection_type") == "hosting",
        None,
    ),
    ("country", {"country": "origin_country"}, pl.col("origin_country") != "", None),
    ("platform", {"platform": "platform"}, pl.col("platform") != "", None),
    ("version", {"version": "version"}, pl.col("version") != "", ("docker",)),
    ("client", {"client": "_client", "client_version": "_client_version"}, pl.lit(True), None),
)


def aggregate_rows(
    frame: pl.DataFrame, source: EventSource, day: datetime.date
) -> list[dict[str, object]]:
    """Every breakdown for (package, day), `total` first; key order and row order are fixed."""
    base = {"date": day.isoformat(), "package": source.id}
    rows: list[dict[str, object]] = [
        {
            "breakdown": "total",
            **base,
            "total": frame.height,
            "unique_total": frame["origin_id"].n_unique(),
        }
    ]
    for breakdown, fields, keep, library_types in _BREAKDOWNS:
        if library_types is not None and source.library_type not in library_types:
            continue
        grouped = _count(frame.filter(keep), fields)
        rows.extend({"breakdown": breakdown, **base, **row} for row in grouped)
    if source.library_type == "other":
        variables = (
            frame.filter(pl.col("variables") != "")
            .select(pl.col("variables").cast(pl.String).str.split("&").alias("pair"))
            .explode("pair")
            .select(
                pl.col("pair").str.split_exact("=", 1).struct.rename_fields(["variable", "value"])
            )
            .unnest("pair")
        )
        grouped = _count(variables, {"variable": "variable", "value": "value"})
        rows.extend({"breakdown": "variable", **base, **row} for row in grouped)
    return rows


def _count(frame: pl.DataFrame, fields: dict[str, str]) -> list[dict[str, object]]:
    """Rows of {field: value, ..., "total": n}, empty text as null, ordered by the keys."""
    keys = list(fields)
    counted = (
        frame.select(pl.col(column).cast(pl.String).alias(name) for name, column in fields.items())
        .group_by(keys)
        .len("total")
        .sort(keys, nulls_last=True)
        .with_columns(pl.col(k).replace("", None) for k in keys)
    )
    return [
        {**{k: row[k] for k in keys}, "total": row["total"]}
        for row in counted.iter_rows(named=True)
    ]
