"""Every export scarf-etl copies, declared once. The raw, lake and warehouse layers and the
Dagster assets read these declarations instead of branching on dataset names: adding an export
is one entry here plus its normalizer (and its request in `store/raw.py`'s plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import polars as pl

from scarf_etl.schemas import AGGREGATE_COLUMNS, EVENT_TABLE_COLUMNS


@dataclass(frozen=True)
class Dataset:
    name: str  # the raw folder, the lake folder and the warehouse table: data/raw/<name>/...
    description: str
    date_column: str  # the warehouse column holding the row's UTC day
    columns: Mapping[str, pl.DataType]  # the warehouse table's typed columns
    file_format: Literal["csv", "ndjson"]  # what the API sends
    per_package: bool  # one export request per package (else one per owner)

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
)
PACKAGE_EVENTS: Final = Dataset(
    name="package_events",
    description="Package download events (CSV, one export per package)",
    date_column="event_date",
    columns=EVENT_TABLE_COLUMNS,
    file_format="csv",
    per_package=True,
)
PIXEL_EVENTS: Final = Dataset(
    name="pixel_events",
    description="Documentation pixel view events (CSV)",
    date_column="event_date",
    columns=EVENT_TABLE_COLUMNS,
    file_format="csv",
    per_package=False,
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
