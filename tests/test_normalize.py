"""Normalization of raw event CSVs and aggregate NDJSON, on real files in tmp_path."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from scarf_etl.normalize import (
    NormalizeError,
    RawEventFile,
    normalize_aggregates,
    normalize_events,
    parse_utc_time,
)
from scarf_etl.schemas import EVENT_COLUMNS

DAY = date(2026, 11, 1)
V2_HEADER = list(EVENT_COLUMNS)
V1_HEADER = [
    "type", "package", "version", "time", "referer", "user_agent", "variables", "origin_id",
    "origin_latitude", "origin_longitude", "origin_country", "origin_city", "origin_postal",
    "origin_company", "origin_domain", "origin_connection_type",
]  # fmt: skip


def event(**fields: str) -> dict[str, str]:
    base = {
        "id": "e1", "type": "file-download", "package": "pkg", "version": "1.0",
        "time": "2026-11-01T13:45:12Z", "user_agent": "curl/8", "origin_latitude": "48.8",
        "origin_longitude": "2.3", "origin_country": "FR", "origin_company": "Acme",
        "dnt": "false", "confidence": "0.9", "mtc_quota_exceeded": "true",
    }  # fmt: skip
    return base | fields


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def run(
    files: list[RawEventFile], day: date = DAY
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    labels = [f.path.name for f in files]
    result = normalize_events(
        files, table="package_events", day=day, owner="me", source_labels=labels
    )
    counts = result.counts.collect().row(0, named=True)
    return result.rows.collect(), result.rejected, counts


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T13:45:12Z",
        "2026-11-01 13:45:12",
        "2026-11-01T13:45:12.000000Z",
        "2026-11-01T13:45:12+00:00",
        "2026-11-01 13:45:12 UTC",
        "2026-11-01T15:45:12+02:00",
        "2026-11-01T12:15:12-0130",
    ],
)
def test_time_formats_parse_to_the_same_utc_instant(text: str) -> None:
    parsed = pl.select(parse_utc_time(pl.lit(text))).item()
    assert parsed == datetime(2026, 11, 1, 13, 45, 12, tzinfo=UTC)


def test_fraction_is_kept_to_the_microsecond() -> None:
    parsed = pl.select(parse_utc_time(pl.lit("2026-11-01T13:45:12.123456Z"))).item()
    assert parsed == datetime(2026, 11, 1, 13, 45, 12, 123456, tzinfo=UTC)


def test_types_and_empty_strings(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(referer="", dnt="TRUE")])
    rows, rejected, _ = run([RawEventFile(path, "pk-1")])
    assert rejected.is_empty()
    row = rows.row(0, named=True)
    assert rows.schema["time"] == pl.Datetime("us", "UTC")
    assert rows.schema["origin_latitude"] == pl.Float64
    assert rows.schema["dnt"] == pl.Boolean
    assert row["origin_latitude"] == pytest.approx(48.8)
    assert row["dnt"] is True and row["mtc_quota_exceeded"] is True
    assert row["referer"] is None and row["pixel"] is None
    assert row["event_id"] == "e1" and row["package_id"] == "pk-1" and row["owner"] == "me"
    assert row["event_date"] == DAY
    assert "id" not in rows.columns


def test_quoted_commas_quotes_newlines_and_non_ascii_survive(tmp_path: Path) -> None:
    agent = 'Mozilla, "quoted"\nsecond line ü 日本'
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(user_agent=agent), event(id="e2")])
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rejected.is_empty()
    assert rows["user_agent"].to_list() == [agent, "curl/8"]


def test_unknown_column_is_kept_as_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [*V2_HEADER, "New Field"], [event(**{"New Field": "x"})])
    result = normalize_events(
        [RawEventFile(path, None)], table="pixel_events", day=DAY, owner="me", source_labels=["a"]
    )
    assert result.extra_columns == ("new_field",)
    assert result.rows.collect()["new_field"].to_list() == ["x"]


def test_v1_order_and_v2_order_give_the_same_rows(tmp_path: Path) -> None:
    v1_only = {"id": "", "dnt": "", "confidence": "", "mtc_quota_exceeded": ""}
    rows = [event(**v1_only), event(**v1_only, time="2026-11-01 01:00:00")]
    v2 = write_csv(tmp_path / "v2.csv", [h for h in V2_HEADER if h != "id"], rows)
    v1 = write_csv(tmp_path / "v1.csv", V1_HEADER, rows)
    v2_rows, _, _ = run([RawEventFile(v2, "pk")])
    v1_rows, _, _ = run([RawEventFile(v1, "pk")])
    shared = [c for c in v1_rows.columns if c in V1_HEADER or c == "event_id"]
    assert v1_rows.select(shared).equals(v2_rows.select(shared))


def test_identical_rows_without_id_get_distinct_stable_ids(tmp_path: Path) -> None:
    header = [h for h in V2_HEADER if h != "id"]
    path = write_csv(tmp_path / "a.csv", header, [event(), event(), event(version="2")])
    first, _, counts = run([RawEventFile(path, "pk")])
    again, _, _ = run([RawEventFile(path, "pk")])
    ids = first["event_id"].to_list()
    assert len(set(ids)) == 3 and counts["rejected"] == 0
    assert again["event_id"].to_list() == ids


def test_duplicates_across_files_are_dropped(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", V2_HEADER, [event(), event(), event(id="e2")])
    b = write_csv(tmp_path / "b.csv", V2_HEADER, [event(id="e2"), event(id="e3")])
    rows, _, counts = run([RawEventFile(a, "pk"), RawEventFile(b, "pk")])
    assert rows["event_id"].to_list() == ["e1", "e2", "e3"]
    assert counts["kept"] - rows.height == 2


def test_rows_outside_the_window_are_dropped_and_counted(tmp_path: Path) -> None:
    rows_in = [
        event(id="before", time="2026-10-31T23:59:59Z"),
        event(id="first", time="2026-11-01T00:00:00Z"),
        event(id="next-day", time="2026-11-02T00:00:00Z"),
        event(id="offset", time="2026-11-02T01:00:00+02:00"),
    ]
    path = write_csv(tmp_path / "a.csv", V2_HEADER, rows_in)
    rows, _, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["first", "offset"]
    assert counts["out_of_window"] == 2


def test_malformed_rows_are_rejected_with_reason_and_raw_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        V2_HEADER,
        [
            event(id="ok"),
            event(id="badtime", time="yesterday"),
            event(id="badlat", origin_latitude="north"),
            event(id="badbool", dnt="maybe"),
            event(id="notime", time=""),
        ],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write("short,file-download,pkg\n")
        handle.write(",".join(["long"] + ["x"] * 30) + "\n")
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["ok"]
    assert counts == {"rows_in": 7, "rejected": 6, "out_of_window": 0, "kept": 1}
    reasons = dict(
        zip(rejected["line_number"].to_list(), rejected["reason"].to_list(), strict=True)
    )
    assert reasons[3] == "time: not a timestamp"
    assert reasons[4] == "origin_latitude: not a number"
    assert reasons[5] == "dnt: not a boolean"
    assert reasons[6] == "time: missing"
    assert reasons[7].startswith("wrong field count: expected 24, got 3")
    assert "too many fields" in reasons[8] or "wrong field count" in reasons[8]
    raw = dict(zip(rejected["line_number"].to_list(), rejected["raw_line"].to_list(), strict=True))
    assert raw[7] == "short,file-download,pkg"
    assert raw[3].startswith("badtime,file-download,pkg,,1.0,yesterday")
    assert set(rejected["source_file"].to_list()) == {"a.csv"}


def test_rejected_multiline_record_keeps_all_its_lines(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        V2_HEADER,
        [event(user_agent="a\nb"), event(id="x", user_agent="c\nd", time="never")],
    )
    _, rejected, _ = run([RawEventFile(path, None)])
    assert rejected["line_number"].to_list() == [4]
    assert rejected["raw_line"].item().count("\n") == 1


def test_empty_and_header_only_files_are_empty_days(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = write_csv(tmp_path / "h.csv", V2_HEADER, [])
    rows, rejected, counts = run([RawEventFile(empty, "a"), RawEventFile(header_only, "b")])
    assert rows.height == 0 and rejected.height == 0 and counts["rows_in"] == 0
    assert rows.schema["time"] == pl.Datetime("us", "UTC")


def test_html_error_page_fails_naming_the_file(tmp_path: Path) -> None:
    page = tmp_path / "pkg-1.csv"
    page.write_text("<!DOCTYPE html>\n<html><body>Bad gateway</body></html>\n")
    with pytest.raises(NormalizeError, match=r"pkg-1\.csv"):
        run([RawEventFile(page, None)])


def write_ndjson(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


TOTAL = {"date": "2026-11-01", "package": "p1", "breakdown": "total"}
# v2 spelling of `package`
COUNTRY = {"date": "2026-11-01", "artifact": "p1", "breakdown": "country"}


def test_aggregates_are_typed_and_unknown_fields_tolerated(tmp_path: Path) -> None:
    path = write_ndjson(
        tmp_path / "agg.ndjson",
        [
            {**TOTAL, "total": 7, "unique_total": 3},
            {**COUNTRY, "total": "4", "country": "FR", "newField": {"a": 1}},
            {**TOTAL, "total": 7, "unique_total": 3},
            {**TOTAL, "date": "2026-11-02", "total": 1},
            {**TOTAL, "total": "many"},
            "not json at all",
        ],
    )  # fmt: skip
    result = normalize_aggregates(path, day=DAY, owner="me", label="agg.ndjson")
    rows = result.rows
    assert rows.schema["date"] == pl.Date and rows.schema["total"] == pl.Int64
    assert rows["total"].to_list() == [7, 4]
    assert rows["package"].to_list() == ["p1", "p1"]
    assert rows["new_field"].to_list() == [None, '{"a": 1}']
    assert (result.rows_in, result.duplicates, result.out_of_window) == (6, 1, 1)
    assert result.rejected["reason"].to_list() == ["total: not an integer", "not JSON"]
    assert result.rejected["line_number"].to_list() == [5, 6]


def test_aggregates_html_page_fails(tmp_path: Path) -> None:
    page = write_ndjson(tmp_path / "agg.ndjson", ["<html>", "<body>oops</body>"])
    with pytest.raises(NormalizeError, match=r"agg\.ndjson"):
        normalize_aggregates(page, day=DAY, owner="me", label="agg")


def test_quoted_empty_fields_are_null_like_unquoted_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(V2_HEADER)
    writer.writerow([event(referer="", origin_latitude="").get(name, "") for name in V2_HEADER])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rejected.is_empty()
    row = rows.row(0, named=True)
    assert row["referer"] is None and row["pixel"] is None and row["origin_latitude"] is None


def test_line_numbers_count_the_newlines_of_earlier_multiline_records(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        V2_HEADER,
        [event(user_agent="a\nb\nc"), event(id="e2", user_agent="d\ne"), event(id="e3")],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write("short,file-download\n")
        handle.write("\n")
    write_rows = [event(id="e4", time="soon"), event(id="e5", user_agent="f\ng", time="x")]
    with path.open("a", encoding="utf-8") as handle:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in write_rows:
            writer.writerow([row.get(name, "") for name in V2_HEADER])
        handle.write(buffer.getvalue())
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["e1", "e2", "e3"]
    assert counts == {"rows_in": 6, "rejected": 3, "out_of_window": 0, "kept": 3}
    found = {line: (reason, raw) for _, _, _, _, line, reason, raw in rejected.iter_rows()}
    # header 1, e1 2-4, e2 5-6, e3 7, short 8, blank 9, e4 10, e5 11-12
    assert sorted(found) == [8, 10, 11]
    assert found[8][0].startswith("wrong field count: expected 24, got 2")
    assert found[8][1] == "short,file-download"
    assert found[10][0] == "time: not a timestamp" and found[10][1].startswith("e4,")
    assert found[11][1].count("\n") == 1 and found[11][1].startswith("e5,")
