"""Event files that are broken in the ways real downloads break: each gives rejected rows with a
reason and line number, or a NormalizeError naming the file; never an internal error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from test_normalize import V2_HEADER, event, run, write_csv

from scarf_etl.normalize import NormalizeError, RawEventFile
from scarf_etl.normalize._csv_lines import PROBE_WINDOW_BYTES, long_lines
from scarf_etl.normalize._rejects import MAX_REJECT_ERRORS
from scarf_etl.store.lake import (
    build_events_partition,
    lake_partition_file,
    rejected_partition_file,
)

DAY = date(2026, 11, 1)


def test_a_50_mb_field_is_a_rejected_row_with_its_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(id="before")])
    huge = event(id="huge", user_agent="x" * (50 * 1024 * 1024))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join(huge.get(name, "") for name in V2_HEADER) + "\n")
    write_rows = [event(id="after")]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join(write_rows[0].get(name, "") for name in V2_HEADER) + "\n")
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["before", "after"]
    assert counts == {"rows_in": 3, "rejected": 1, "out_of_window": 0, "kept": 2}
    assert rejected["line_number"].to_list() == [3]
    assert rejected["reason"].item().startswith("record longer than")
    raw = rejected["raw_line"].item()
    assert raw.startswith("huge,file-download") and len(raw) < 100_000


def test_the_longest_line_the_probe_lets_through_is_rejected_by_the_reader(
    tmp_path: Path,
) -> None:
    # Just under two probe windows, straddling window boundaries without covering a window: the
    # probe cannot see it, so the CSV reader must reject it (not drop it) within its buffer.
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(id="first")])
    # Rows of at most 1 MiB up to one byte past the first window boundary.
    pads: list[dict[str, str]] = []
    size = path.stat().st_size
    while size < PROBE_WINDOW_BYTES + 1:
        bare = len(_csv_line(event(id=f"pad{len(pads)}", user_agent="")))
        fill = min(1 << 20, PROBE_WINDOW_BYTES + 1 - size - bare)
        pads.append(event(id=f"pad{len(pads)}", user_agent="p" * fill))
        size += bare + fill
    assert size == PROBE_WINDOW_BYTES + 1
    long = event(id="long", user_agent="x" * (2 * PROBE_WINDOW_BYTES - 2_000))
    with path.open("a", encoding="utf-8") as handle:
        for row in (*pads, long, event(id="last")):
            handle.write(_csv_line(row))
    assert long_lines(path) == []  # the reader, not the probe, meets it
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["first", *(p["id"] for p in pads), "last"]
    kept = len(pads) + 2
    assert counts == {"rows_in": kept + 1, "rejected": 1, "out_of_window": 0, "kept": kept}
    assert rejected["line_number"].to_list() == [len(pads) + 3]  # header, first, pads, long
    assert rejected["reason"].item().startswith("record longer than")
    assert rejected["raw_line"].item().startswith("long,")


def _csv_line(row: dict[str, str]) -> str:
    return ",".join(row.get(name, "") for name in V2_HEADER) + "\n"


def test_a_file_cut_mid_row_rejects_its_last_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(id="e1"), event(id="e2")])
    text = path.read_text()
    path.write_text(text[: text.rindex("FR,")])  # cut inside the last row, no newline
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["e1"]
    assert counts["rows_in"] == 2 and counts["rejected"] == 1
    assert rejected["line_number"].to_list() == [3]
    assert rejected["reason"].item().startswith("wrong field count: expected 24, got")
    assert rejected["raw_line"].item().startswith("e2,")


def test_a_file_cut_inside_a_quoted_field_rejects_the_rest(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv", V2_HEADER, [event(id="e1"), event(id="e2", user_agent='a "b" c')]
    )
    text = path.read_text()
    path.write_text(text[: text.rindex('"a ') + 3])  # an open quote, then the end of the file
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["e1"]
    assert rejected["line_number"].to_list() == [3]
    assert "quoted field is not closed" in rejected["reason"].item()


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "export not ready", "status": 503}\n',
        b"<!DOCTYPE html>\n<html><body>Bad gateway</body></html>\n",
        b"   \n",
    ],
)
def test_a_body_that_is_not_a_csv_fails_naming_the_file(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "pkg-7.csv"
    path.write_bytes(body)
    with pytest.raises(NormalizeError, match=r"pkg-7\.csv"):
        run([RawEventFile(path, None)])


def test_an_empty_file_among_others_is_an_empty_part_of_the_day(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    full = write_csv(tmp_path / "full.csv", V2_HEADER, [event()])
    rows, rejected, counts = run([RawEventFile(empty, None), RawEventFile(full, None)])
    assert rows.height == 1 and rejected.is_empty() and counts["rows_in"] == 1


def test_bytes_that_are_not_utf8_reject_their_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(id="e1")])
    bad = ",".join(event(id="e2", user_agent="AGENT").get(n, "") for n in V2_HEADER)
    with path.open("ab") as handle:
        handle.write(bad.encode().replace(b"AGENT", b"\xff\xfe") + b"\n")
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["e1"]
    assert rejected["line_number"].to_list() == [3]
    assert rejected["reason"].item() == "not UTF-8 text"


def test_crlf_line_ends_and_a_missing_id(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    lines = [",".join(V2_HEADER)] + [
        ",".join(row.get(n, "") for n in V2_HEADER)
        for row in [event(id="e1"), event(id=" "), event(id="e3", time="never")]
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    rows, rejected, counts = run([RawEventFile(path, None)])
    assert rows["event_id"].to_list() == ["e1"]
    assert counts == {"rows_in": 3, "rejected": 2, "out_of_window": 0, "kept": 1}
    found = dict(zip(rejected["line_number"], rejected["reason"], strict=True))
    assert found == {3: "id: missing", 4: "time: not a timestamp"}
    assert rejected["raw_line"].to_list()[1].startswith("e3,") and "\r" not in "".join(
        rejected["raw_line"]
    )


def test_identical_id_less_rows_across_files_keep_one_copy_each(tmp_path: Path) -> None:
    header = [h for h in V2_HEADER if h != "id"]
    a = write_csv(tmp_path / "a.csv", header, [event(), event(), event(version="2")])
    b = write_csv(tmp_path / "b.csv", header, [event(), event(version="2"), event(version="3")])
    rows, _, counts = run([RawEventFile(a, "pk"), RawEventFile(b, "pk")])
    ids = rows["event_id"].to_list()
    # a: X, X-1, Y; b: X (dup of a's), Y (dup), Z
    assert len(ids) == len(set(ids)) == 4
    assert ids[1] == ids[0] + "-1"
    assert counts["kept"] - rows.height == 2


def test_lake_partition_of_a_broken_day_holds_every_good_row_once(tmp_path: Path) -> None:
    rows_in = [event(id=f"e{i}") for i in range(50)] + [event(id="e7"), event(id="bad", dnt="?")]
    path = write_csv(tmp_path / "p.csv", V2_HEADER, rows_in)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('e99,file-download,"never closed\n')
    stats = build_events_partition(
        [RawEventFile(path, "pk")], table="package_events", day=DAY, owner="me", data_dir=tmp_path
    )
    assert (stats.rows_in, stats.duplicates, stats.rejected, stats.rows_out) == (53, 1, 2, 50)
    lake = pl.read_parquet(lake_partition_file(tmp_path, "package_events", DAY))
    assert lake["event_id"].to_list() == [f"e{i}" for i in range(50)]
    rejected = pl.read_parquet(rejected_partition_file(tmp_path, "package_events", DAY))
    assert rejected["line_number"].to_list() == [53, 54]
    assert rejected["reason"].to_list()[0] == "dnt: not a boolean"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T13:45:12Z",
        "2026-11-01 13:45:12",
        "2026-11-01T13:45:12.000000Z",
        "2026-11-01 13:45:12.000+00:00",
        "2026-11-01 13:45:12 UTC",
        "2026-11-01T15:45:12+02:00",
        "2026-11-01T12:15:12-0130",
    ],
)
def test_every_time_spelling_reaches_the_lake_as_the_same_utc_instant(
    tmp_path: Path, text: str
) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(time=text)])
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rejected.is_empty()
    assert rows["time"].item() == datetime(2026, 11, 1, 13, 45, 12, tzinfo=UTC)
    assert rows["event_date"].item() == DAY


def test_booleans_and_numbers_in_their_usual_spellings(tmp_path: Path) -> None:
    spellings = [("TRUE", True), ("f", False), ("1", True), ("no", False), ("yes", True)]
    path = write_csv(
        tmp_path / "a.csv",
        V2_HEADER,
        [
            event(id=f"e{i}", dnt=text, origin_latitude=" 48.5 ", confidence="1e-1")
            for i, (text, _) in enumerate(spellings)
        ],
    )
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rejected.is_empty()
    assert rows["dnt"].to_list() == [value for _, value in spellings]
    assert rows["origin_latitude"].to_list() == [48.5] * len(spellings)
    assert rows["confidence"].to_list() == [0.1] * len(spellings)


def test_a_padded_boolean_is_rejected_not_guessed(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", V2_HEADER, [event(dnt=" yes ")])
    rows, rejected, _ = run([RawEventFile(path, None)])
    assert rows.is_empty()
    assert rejected.select("line_number", "reason").row(0) == (2, "dnt: not a boolean")


def test_v1_and_v2_files_of_one_day_share_one_partition(tmp_path: Path) -> None:
    v1_header = [h for h in V2_HEADER if h != "id"] + ["campaign"]
    v1 = write_csv(tmp_path / "v1.csv", v1_header, [event(campaign="c1"), event(campaign="c1")])
    v2 = write_csv(tmp_path / "v2.csv", V2_HEADER, [event(id="e1"), event(id="e1")])
    stats = build_events_partition(
        [RawEventFile(v1, "pk"), RawEventFile(v2, "pk")],
        table="package_events",
        day=DAY,
        owner="me",
        data_dir=tmp_path,
    )
    assert (stats.rows_in, stats.duplicates, stats.rejected, stats.rows_out) == (4, 1, 0, 3)
    assert stats.extra_columns == ("campaign",)
    lake = pl.read_parquet(lake_partition_file(tmp_path, "package_events", DAY))
    by_id = dict(zip(lake["event_id"], lake["campaign"], strict=True))
    assert by_id["e1"] is None
    hashed = sorted(i for i in by_id if i != "e1")
    assert hashed[1] == hashed[0] + "-1" and by_id[hashed[0]] == "c1"
    assert lake.schema["time"] == pl.Datetime("us", "UTC") and set(lake["owner"]) == {"me"}


def test_a_file_of_nothing_but_bad_rows_fails_naming_it(tmp_path: Path) -> None:
    rows = [event(id=f"e{i}", time="never") for i in range(MAX_REJECT_ERRORS + 10)]
    path = write_csv(tmp_path / "pkg-9.csv", V2_HEADER, rows)
    with pytest.raises(NormalizeError, match=r"pkg-9\.csv: 50,000 or more values"):
        run([RawEventFile(path, None)])


def _lines(count: int, prefix: str, **fields: str) -> str:
    template = ",".join(event(id="{id}", **fields).get(name, "") for name in V2_HEADER)
    return "".join(template.replace("{id}", f"{prefix}{i}") + "\n" for i in range(count))


def test_records_the_csv_reader_loses_fail_the_day_not_vanish(tmp_path: Path) -> None:
    """DuckDB 1.5's reader drops 11,570 of the 45,000 bad rows after 300,000 good ones, neither
    reading nor rejecting them: the day must fail naming the file and the shortfall."""
    path = tmp_path / "pkg-dense.csv"
    path.write_text(
        ",".join(V2_HEADER) + "\n" + _lines(300_000, "g") + _lines(45_000, "b", dnt="maybe")
    )
    with pytest.raises(NormalizeError, match=r"pkg-dense\.csv: .* of its 345,000 records; "):
        build_events_partition(
            [RawEventFile(path, "pk")],
            table="package_events",
            day=DAY,
            owner="me",
            data_dir=tmp_path,
        )
    assert not lake_partition_file(tmp_path, "package_events", DAY).exists()


def test_bad_rows_in_small_runs_are_all_accounted_for(tmp_path: Path) -> None:
    """The check costs a line count, not a failure, where the reader kept every record: bad
    rows spread through the file, a record over two lines and a blank line among them."""
    quoted = event(id="two-lines", user_agent="first line\nsecond line")
    path = tmp_path / "pkg-spread.csv"
    path.write_text(
        ",".join(V2_HEADER)
        + "\n"
        + _lines(20_000, "g")
        + _lines(50, "b", dnt="maybe")
        + "\n"
        + ",".join(f'"{quoted[n]}"' if n in quoted else "" for n in V2_HEADER)
        + "\n"
        + _lines(20_000, "h")
    )
    stats = build_events_partition(
        [RawEventFile(path, "pk")], table="package_events", day=DAY, owner="me", data_dir=tmp_path
    )
    assert (stats.rows_out, stats.rejected) == (40_001, 50)


def _four_files(tmp_path: Path, clean: bool) -> list[RawEventFile]:
    """A day of four packages' files: duplicates within and across files, an unknown column in
    one, a header-only file; unless `clean`, also a bad value, a missing id, a row of the next
    day and an unreadable time."""
    a_rows = [event(id="e1"), event(id="e2", version="from-a")]
    if not clean:
        a_rows += [
            event(id="bad", dnt="?"),
            event(id=""),
            event(id="late", time="2026-11-02T00:00:01Z"),
            event(id="notime", time="yesterday"),
        ]
    b_rows = [event(id="e3", new_field="y")]
    if not clean:
        b_rows = [event(id="e2", version="from-b", new_field="x"), *b_rows, event(id="e3")]
    paths = [
        write_csv(tmp_path / "a.csv", V2_HEADER, a_rows),
        write_csv(tmp_path / "b.csv", [*V2_HEADER, "new_field"], b_rows),
        write_csv(tmp_path / "c.csv", V2_HEADER, []),
        write_csv(tmp_path / "d.csv", V2_HEADER, [event(id="e4", time="2026-11-01T23:59:59Z")]),
    ]
    return [RawEventFile(path, f"p{i}") for i, path in enumerate(paths, start=1)]


@pytest.mark.parametrize("clean", [False, True])
def test_a_day_of_several_packages_keeps_first_copies_in_file_order(
    tmp_path: Path, clean: bool
) -> None:
    rows, rejected, counts = run(_four_files(tmp_path, clean))
    assert rows["event_id"].to_list() == ["e1", "e2", "e3", "e4"]
    assert rows["version"].to_list()[1] == "from-a"  # the first copy, across files
    assert rows["package_id"].to_list() == ["p1", "p1", "p2", "p4"]
    assert rows["new_field"].to_list() == [None, None, "y", None]
    if clean:
        assert counts == {"rows_in": 4, "rejected": 0, "out_of_window": 0, "kept": 4}
        assert rejected.is_empty()
    else:
        assert counts == {"rows_in": 10, "rejected": 3, "out_of_window": 1, "kept": 6}
        assert rejected.select("source_file", "line_number", "reason").rows() == [
            ("a.csv", 4, "dnt: not a boolean"),
            ("a.csv", 5, "id: missing"),
            ("a.csv", 7, "time: not a timestamp"),
        ]


def test_a_broken_file_among_several_packages_fails_the_day_naming_it(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", V2_HEADER, [event()])
    broken = tmp_path / "broken.csv"
    control = "".join(chr(code) for code in range(1, 32))
    broken.write_text(",".join(V2_HEADER) + "\n" + control * 50 + "\n", encoding="utf-8")
    with pytest.raises(NormalizeError, match=r"^broken\.csv: cannot be read as an event CSV"):
        run([RawEventFile(good, "p1"), RawEventFile(broken, "p2")])


def _with_wide_record(tmp_path: Path, fields: int) -> Path:
    path = write_csv(tmp_path / "wide.csv", V2_HEADER, [event(id="before")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join(["1"] * fields) + "\n")
        handle.write(",".join(event(id="after").get(name, "") for name in V2_HEADER) + "\n")
    return path


def test_a_record_of_thirty_thousand_fields_is_one_rejected_row(tmp_path: Path) -> None:
    """The CSV reader records an error per extra field, each with the record's text."""
    rows, rejected, counts = run([RawEventFile(_with_wide_record(tmp_path, 30_000), "pk")])
    assert rows["event_id"].to_list() == ["before", "after"]
    assert rejected.select("line_number", "reason").rows() == [
        (3, "wrong field count: expected 24, got 30000")
    ]
    assert counts == {"rows_in": 3, "rejected": 1, "out_of_window": 0, "kept": 2}


def test_a_record_that_exhausts_the_readers_memory_fails_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(NormalizeError, match=r"^wide\.csv: reading this [\d,]+-byte file exhaus"):
        run([RawEventFile(_with_wide_record(tmp_path, 50_000), "pk")])
