"""The daily schedule asks for one run covering yesterday and the trailing refresh window."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from scarf_etl.analysis.views import ANALYSIS_VIEWS
from scarf_etl.definitions import defs
from scarf_etl.defs.analysis_assets import REPORT_KEY, USER_AGENTS_KEY, view_key
from scarf_etl.defs.partitions import daily_partitions
from scarf_etl.defs.schedules import RANGE_END_TAG, RANGE_START_TAG, daily_schedule
from scarf_etl.schemas import DIMENSION_TABLES


def evaluate(at: dt.datetime) -> dg.RunRequest:
    context = dg.build_schedule_context(scheduled_execution_time=at)
    result = daily_schedule(context)
    assert isinstance(result, dg.RunRequest)
    return result


def test_loads_yesterday_and_three_days_before_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCARF_REFRESH_DAYS", raising=False)
    request = evaluate(dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC))
    assert request.tags[RANGE_START_TAG] == "2026-11-23"
    assert request.tags[RANGE_END_TAG] == "2026-11-26"


def test_refresh_window_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCARF_REFRESH_DAYS", "0")
    request = evaluate(dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC))
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2026-11-26",
        "2026-11-26",
    )
    monkeypatch.setenv("SCARF_REFRESH_DAYS", "three")
    with pytest.raises(ValueError, match="SCARF_REFRESH_DAYS"):
        evaluate(dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC))


def test_window_never_starts_before_the_first_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCARF_REFRESH_DAYS", "30")
    request = evaluate(dt.datetime(2024, 1, 5, 6, 0, tzinfo=dt.UTC))
    assert request.tags[RANGE_START_TAG] == "2024-01-01"
    assert request.tags[RANGE_END_TAG] == "2024-01-04"


def test_every_asset_backfills_in_one_run() -> None:
    """Daily facts share the daily partitions; the whole-warehouse snapshots (dimensions, the
    analysis, the report) have none; all take a partition range in one run."""
    graph = defs.resolve_asset_graph()
    unpartitioned = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
        if node.partitions_def is None:
            unpartitioned.add(key)
        else:
            assert node.partitions_def == daily_partitions, key
    snapshots = {dg.AssetKey(["scarf", table]) for table in DIMENSION_TABLES}
    snapshots |= {view_key(view.name) for view in ANALYSIS_VIEWS}
    snapshots |= {USER_AGENTS_KEY, REPORT_KEY}
    assert unpartitioned == snapshots
