"""Raw Scarf exports -> typed polars frames. Pure: no network, no Dagster, no writes."""

from scarf_etl.normalize.events import (
    EventDayPlan,
    EventFilePlan,
    NormalizedAggregates,
    NormalizedEvents,
    NormalizeError,
    NormalizeStats,
    RawEventFile,
    column_name,
    empty_events_frame,
    finish_events,
    normalize_aggregates,
    normalize_events,
    parse_utc_time,
    plan_events,
    read_event_header,
)

__all__ = [
    "EventDayPlan",
    "EventFilePlan",
    "NormalizeError",
    "NormalizeStats",
    "NormalizedAggregates",
    "NormalizedEvents",
    "RawEventFile",
    "column_name",
    "empty_events_frame",
    "finish_events",
    "normalize_aggregates",
    "normalize_events",
    "parse_utc_time",
    "plan_events",
    "read_event_header",
]
