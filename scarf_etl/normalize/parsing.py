"""Export text -> typed polars values: column names, UTC timestamps, booleans, numbers and
stable digests. Expressions only: nothing here reads a file."""

from __future__ import annotations

import hashlib
import re
from typing import Final

import polars as pl

from scarf_etl.schemas import EVENT_COLUMNS, EVENT_KEY_COLUMNS

_BOOLEAN_TEXT: Final = {
    "true": True,
    "t": True,
    "1": True,
    "yes": True,
    "false": False,
    "f": False,
    "0": False,
    "no": False,
}
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


def _parse_boolean(text: pl.Expr) -> pl.Expr:
    # when/is_in rather than replace_strict: the streaming engine has no replace, and falls
    # back to materializing the whole day for it.
    word = text.str.strip_chars().str.to_lowercase()
    true_words = [k for k, v in _BOOLEAN_TEXT.items() if v]
    false_words = [k for k, v in _BOOLEAN_TEXT.items() if not v]
    return (
        pl.when(word.is_in(true_words))
        .then(pl.lit(True))
        .when(word.is_in(false_words))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


def _typed_column(name: str, text: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
    """(typed value, reason expression or None) for one known export column."""
    dtype = EVENT_COLUMNS[name]
    if name == "time":
        parsed = parse_utc_time(text)
        reason = (
            pl.when(text.is_null())
            .then(pl.lit("time: missing"))
            .when(parsed.is_null())
            .then(pl.lit("time: not a timestamp"))
        )
        return parsed, reason
    if dtype == pl.Float64:
        parsed = text.str.strip_chars().cast(pl.Float64, strict=False)
    elif dtype == pl.Boolean:
        parsed = _parse_boolean(text)
    else:
        return text, None
    kind = "a number" if dtype == pl.Float64 else "a boolean"
    return parsed, pl.when(text.is_not_null() & parsed.is_null()).then(
        pl.lit(f"{name}: not {kind}")
    )


def _stable_digest(series: pl.Series) -> pl.Series:
    # polars' own hash is not stable across versions; event ids must be.
    return pl.Series(
        [hashlib.blake2b(value.encode(), digest_size=16).hexdigest() for value in series],
        dtype=pl.String,
    )
