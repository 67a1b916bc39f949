"""Export text -> names and values: the warehouse name of a header cell, and UTC timestamps as
a polars expression (event files are typed by DuckDB's CSV reader, which accepts the same
spellings; see events.py). Nothing here reads a file."""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from scarf_etl.schemas import EVENT_KEY_COLUMNS

# Ends of `time` values meaning UTC; any other numeric offset is converted to UTC.
_UTC_SUFFIX: Final = r"(?i)\s*(Z|UTC|GMT)$"
_OFFSET_SUFFIX: Final = r"[+-]\d{2}:?\d{2}$"
# Header cells that would collide with the columns the pipeline adds get this prefix.
_RESERVED_PREFIX: Final = "export_"


def column_name(header_cell: str, position: int) -> str:
    """The snake_case warehouse name of an export header cell."""
    cell = header_cell.strip().lstrip("\ufeff")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cell).lower()
    name = re.sub(r"[^0-9a-z]+", "_", snake).strip("_")
    if not name:
        return f"column_{position + 1}"
    if name[0].isdigit():
        name = f"c_{name}"
    if name in EVENT_KEY_COLUMNS:
        return _RESERVED_PREFIX + name
    return name


def parse_utc_time(text: pl.Expr) -> pl.Expr:
    """ISO-like timestamp text -> Datetime(us, UTC); null where it does not parse.

    Accepts `T` or a space, an optional fraction, `Z`, `+00:00`, ` UTC` or no zone (UTC), and
    converts other offsets to UTC.
    """
    cleaned = (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[T ]", "${1} ")
        .str.replace(_UTC_SUFFIX, "+00:00")
    )
    with_zone = (
        pl.when(cleaned.str.contains(_OFFSET_SUFFIX)).then(cleaned).otherwise(cleaned + "+00:00")
    )
    return with_zone.str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False
    )
