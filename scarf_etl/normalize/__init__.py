"""Raw Scarf exports -> typed polars frames. Pure: no network, no Dagster, no writes.

One job per module: `parsing` (export text -> typed values), `_csv_lines` (physical lines of a
CSV: line numbers, field counts, raw text), `_rejects` (the CSV reader's rejected records ->
reasons), `_staging` (one event CSV -> its staging parquet and rejected records, via DuckDB's
CSV reader), `events` (a day's event CSVs -> the lake partition file and rejected rows),
`aggregates` (a day's NDJSON aggregates), `results` (the error and stats
they report). Dependencies flow one way: events and aggregates use the shared modules.
"""

from scarf_etl.normalize.aggregates import (
    NormalizedAggregates,
    normalize_aggregate_files,
    normalize_aggregates,
)
from scarf_etl.normalize.events import (
    EventNormalizer,
    NormalizedEvents,
    RawEventFile,
    empty_events_frame,
    normalize_events,
    read_event_header,
)
from scarf_etl.normalize.parsing import column_name, parse_utc_time
from scarf_etl.normalize.results import NormalizeError, NormalizeStats

__all__ = [
    "EventNormalizer",
    "NormalizeError",
    "NormalizeStats",
    "NormalizedAggregates",
    "NormalizedEvents",
    "RawEventFile",
    "column_name",
    "empty_events_frame",
    "normalize_aggregate_files",
    "normalize_aggregates",
    "normalize_events",
    "parse_utc_time",
    "read_event_header",
]
