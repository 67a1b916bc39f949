"""Every export scarf-etl copies, declared once. The raw, lake and warehouse layers and the
Dagster assets read these declarations instead of branching on dataset names: adding an export
is one entry here plus its normalizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import polars as pl

from scarf_etl.client.exports import V3_BREAKDOWNS, ApiVersion, ExportKind
from scarf_etl.schemas import AGGREGATE_COLUMNS, EVENT_TABLE_COLUMNS


@dataclass(frozen=True)
class Requests:
    """How one API generation serves a dataset: what one request covers, split by day here.

    - "day": one request per day (v1 aggregates);
    - "window": up to SCARF_EXPORT_WINDOW_DAYS days, halved when Scarf answers range-too-long
      (event exports);
    - "range": up to a year (v3 aggregates), one request per breakdown."""

    span: Literal["day", "window", "range"]
    breakdowns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    name: str  # the raw folder, the lake folder and the warehouse table: data/raw/<name>/...
    description: str
    date_column: str  # the warehouse column holding the row's UTC day
    columns: Mapping[str, pl.DataType]  # the warehouse table's typed columns
    file_format: Literal["csv", "ndjson"]  # what the API sends
    per_package: bool  # one export request per package (else one per owner)
    export: ExportKind  # the client's export it comes from
    # By API generation (SCARF_EVENTS_API / SCARF_AGGREGATES_API), today's first.
    requests: Mapping[ApiVersion, Requests]

    @property
    def owner_file_name(self) -> str:
        """The raw file of an owner-wide export (datasets not fetched per package)."""
        return f"{self.name}.{self.file_format}"

    @property
    def is_events(self) -> bool:
        """One row per event (CSV exports), as opposed to pre-aggregated counts."""
        return self.file_format == "csv"


AGGREGATES: Final = Dataset(
    name="aggregates",
    description="Downloads and views per package and day by breakdown (v3 or v1 NDJSON)",
    date_column="date",
    columns=AGGREGATE_COLUMNS,
    file_format="ndjson",
    per_package=False,
    export="aggregates",
    requests={"v3": Requests("range", V3_BREAKDOWNS), "v1": Requests("day")},
)
PACKAGE_EVENTS: Final = Dataset(
    name="package_events",
    description="Package download events (CSV, one export per package)",
    date_column="event_date",
    columns=EVENT_TABLE_COLUMNS,
    file_format="csv",
    per_package=True,
    export="package_events",
    requests={"v2": Requests("window"), "v1": Requests("window")},
)
PIXEL_EVENTS: Final = Dataset(
    name="pixel_events",
    description="Documentation pixel view events (CSV)",
    date_column="event_date",
    columns=EVENT_TABLE_COLUMNS,
    file_format="csv",
    per_package=False,
    export="pixel_events",
    requests={"v2": Requests("window"), "v1": Requests("window")},
)
DATASETS: Final = (AGGREGATES, PACKAGE_EVENTS, PIXEL_EVENTS)
_BY_NAME: Final = {dataset.name: dataset for dataset in DATASETS}


def dataset(name: str) -> Dataset:
    """The declaration of `name`; ValueError for anything else (names come from a closed set)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; expected one of {', '.join(_BY_NAME)}"
        ) from None
