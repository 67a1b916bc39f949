"""A body that is not the export never replaces a file; Download.rows counts data rows."""

from __future__ import annotations

import traceback
from datetime import timedelta
from pathlib import Path

import pytest

from scarf_etl.client import (
    ClientSettings,
    ExportKind,
    ExportRequest,
    InvalidExportError,
    ScarfClient,
    ScarfError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.client.export_check import CsvCheck, InvalidBody, NdjsonCheck, body_check_for
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DATA_START, DEMO_ORG, DEMO_TOKEN

DAY = DATA_START + timedelta(days=4)
PREVIOUS = b"the previous, good export\n"


def client_for(emulator: EmulatorServer, **settings: float) -> ScarfClient:
    options: dict[str, float] = {"max_attempts": 3, **settings}
    config = ClientSettings(v1_url=emulator.v1_url, v2_url=emulator.v2_url, **options)  # type: ignore[arg-type]
    return ScarfClient(DEMO_TOKEN, config, sleep=lambda _: None)


def request_for(emulator: EmulatorServer, kind: ExportKind, dest: Path) -> ExportRequest:
    package_id = emulator.package_ids(DEMO_ORG)[0] if kind == "package_events" else None
    return ExportRequest(kind, DEMO_ORG, DAY, DAY + timedelta(1), dest, package_id=package_id)


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(vars(error))


CASES = [
    ("package_events", "empty", "the body is empty"),
    ("package_events", "html", "the body is an HTML page (HTTP 200)"),
    ("package_events", "json_error", "the body is a JSON error: export temporarily unavailable"),
    ("package_events", "no_time_column", "no `time` column in the header: 'id,type,package"),
    ("owner_package_events", "html", "the body is an HTML page (HTTP 200)"),
    ("pixel_events", "json_error", "the body is a JSON error: export temporarily unavailable"),
    ("aggregates", "html", "the body is an HTML page (HTTP 200)"),
    ("aggregates", "json_error", "the body is a JSON error: export temporarily unavailable"),
]


@pytest.mark.parametrize(("kind", "fault", "reason"), CASES)
def test_a_bad_body_is_retried_then_refused_and_dest_is_untouched(
    emulator: EmulatorServer, tmp_path: Path, kind: ExportKind, fault: str, reason: str
) -> None:
    emulator.faults.body_fault_always = True
    emulator.faults.body_fault = fault  # type: ignore[assignment]
    dest = tmp_path / "export.data"
    dest.write_bytes(PREVIOUS)
    request = request_for(emulator, kind, dest)
    with client_for(emulator) as client, pytest.raises(InvalidExportError) as caught:
        client.download(request)

    error = caught.value
    assert isinstance(error, ScarfRetriesExhaustedError) and isinstance(error, ScarfError)
    assert reason in error.message
    assert request.describe() in error.message
    assert error.url is not None and error.url in error.message
    assert error.url.startswith(emulator.url) and DEMO_TOKEN not in error_text(error)
    assert [h.outcome for h in error.history] == ["InvalidExport"] * 3
    assert [r.status for r in emulator.requests] == [200, 200, 200]
    assert dest.read_bytes() == PREVIOUS
    assert names_in(tmp_path) == ["export.data"]  # no temp file left


@pytest.mark.parametrize("kind", ["package_events", "aggregates"])
def test_bad_bodies_then_a_good_one(
    emulator: EmulatorServer, tmp_path: Path, kind: ExportKind
) -> None:
    clean = tmp_path / "clean"
    with client_for(emulator) as client:
        expected = client.download(request_for(emulator, kind, clean))
    emulator.reset()
    emulator.faults.body_fault_first = 2
    emulator.faults.body_fault = "html"
    dest = tmp_path / "export.data"
    dest.write_bytes(PREVIOUS)
    with client_for(emulator) as client:
        download = client.download(request_for(emulator, kind, dest))
    assert download.attempts == 3
    assert dest.read_bytes() == clean.read_bytes()
    assert download.rows == expected.rows > 0
    assert names_in(tmp_path) == ["clean", "export.data"]


def test_an_empty_aggregates_body_is_a_day_without_data(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.faults.body_fault_always = True
    emulator.faults.body_fault = "empty"
    dest = tmp_path / "aggregates.ndjson"
    dest.write_bytes(PREVIOUS)
    with client_for(emulator) as client:
        download = client.download(request_for(emulator, "aggregates", dest))
    assert (download.rows, download.bytes, download.attempts) == (0, 0, 1)
    assert dest.read_bytes() == b""


def test_rows_match_the_export(emulator: EmulatorServer, tmp_path: Path) -> None:
    with client_for(emulator) as client:
        events = client.download(request_for(emulator, "package_events", tmp_path / "e.csv"))
        aggregates = client.download(request_for(emulator, "aggregates", tmp_path / "a.ndjson"))
    package_id = emulator.package_ids(DEMO_ORG)[0]
    assert events.rows == emulator.expected_events(DEMO_ORG, package_id, DAY).height > 0
    lines = (tmp_path / "a.ndjson").read_text().splitlines()
    assert aggregates.rows == len(lines) > 0


def test_a_truncated_body_passes_but_rows_show_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    # Well-formed, matching Content-Length: nothing on the wire tells. Download.rows is what
    # lets the caller compare with the previous fetch.
    with client_for(emulator) as client:
        full = client.download(request_for(emulator, "owner_package_events", tmp_path / "full"))
        emulator.faults.body_fault_first = 1
        emulator.faults.body_fault = "truncated"
        short = client.download(request_for(emulator, "owner_package_events", tmp_path / "short"))
    assert short.attempts == 1
    assert 0 < short.rows < full.rows
    assert short.bytes < full.bytes


def test_a_50_mb_field_is_one_row(emulator: EmulatorServer, tmp_path: Path) -> None:
    with client_for(emulator) as client:
        clean = client.download(request_for(emulator, "package_events", tmp_path / "clean.csv"))
        emulator.faults.body_fault_first = 1
        emulator.faults.body_fault = "huge_field"
        huge = client.download(request_for(emulator, "package_events", tmp_path / "huge.csv"))
    assert huge.bytes > 50_000_000 and huge.rows == clean.rows


# ---- the checks on their own: chunk boundaries, quoting, odd line endings ------------------


def feed(check: CsvCheck | NdjsonCheck, body: bytes, *, step: int, content_type: str = "") -> int:
    for start in range(0, len(body), step):
        check.feed(body[start : start + step])
    return check.finish(content_type)


CSV_BODY = (
    b'id,time,user_agent\n1,2024-01-01T00:00:00Z,"Mozilla/5.0 (X11, Linux)"\n'
    b'2,2024-01-01T00:00:01Z,"a ""quoted"" word"\n3,2024-01-01T00:00:02Z,plain'
)


@pytest.mark.parametrize("step", [1, 2, 7, 1000])
def test_csv_rows_are_newlines_after_the_header_plus_a_last_row_without_one(step: int) -> None:
    assert feed(CsvCheck(), CSV_BODY, step=step) == 3
    assert feed(CsvCheck(), CSV_BODY + b"\n", step=step) == 3
    assert feed(CsvCheck(), CSV_BODY.replace(b"\n", b"\r\n"), step=step) == 3
    assert feed(CsvCheck(), b"\xef\xbb\xbfid,Time\r\n", step=step) == 0  # header only
    # Documented limit: a newline inside a quoted field counts as a row boundary.
    assert feed(CsvCheck(), b'id,time\n1,"two\nlines"\n', step=step) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is empty"),
        (b"  \n", "the body is empty"),
        (b"<!DOCTYPE html><html></html>", "the body is an HTML page"),
        (b'{"detail": "token expired"}', "the body is a JSON error: token expired"),
        (b'["not", "csv"]', "the body is JSON, not CSV"),
        (b"id,timestamp\n1,2\n", "no `time` column in the header: 'id,timestamp'"),
    ],
)
def test_csv_refusals(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidBody, match=reason.replace("(", r"\(")):
        feed(CsvCheck(), body, step=3)


def test_a_csv_served_as_html_is_refused() -> None:
    with pytest.raises(InvalidBody, match="HTML page"):
        feed(CsvCheck(), b"id,time\n", step=4, content_type="text/html; charset=utf-8")


NDJSON_BODY = b'{"date": "2024-01-01", "breakdown": "total"}\n\n  {"a": 1}\r\n{"b": 2}'


@pytest.mark.parametrize("step", [1, 5, 1000])
def test_ndjson_rows_are_non_blank_lines(step: int) -> None:
    assert feed(NdjsonCheck(), NDJSON_BODY, step=step) == 3
    assert feed(NdjsonCheck(), b"\n" + NDJSON_BODY + b"\n\n", step=step) == 3
    assert feed(NdjsonCheck(), b"", step=step) == 0
    assert feed(NdjsonCheck(), b"\n \n", step=step) == 0


def long_ndjson(blank_every: int) -> bytes:
    """400 aggregate lines; with blank_every, a blank line after every that many."""
    return b"".join(
        b'{"date": "2024-01-01", "breakdown": "country", "n": %d}\n' % i
        + (b"\n" if blank_every and i % blank_every == 0 else b"")
        for i in range(400)
    )


@pytest.mark.parametrize("blank_every", [0, 7])
@pytest.mark.parametrize("step", [3, 64, 999, 65536])
def test_ndjson_long_bodies_count_the_same_in_any_chunking(step: int, blank_every: int) -> None:
    body = long_ndjson(blank_every)
    assert feed(NdjsonCheck(), body, step=step) == 400
    lines = body.split(b"\n")
    number = 301 + (299 // blank_every + 1 if blank_every else 0)  # row 300, far from the head
    assert lines[number - 1].endswith(b'"n": 300}')
    lines[number - 1] = b"  not json at all, " + b"x" * 300
    with pytest.raises(
        InvalidBody, match=f"line {number} is not a JSON object: 'not json at all, x{{183}}'$"
    ):
        feed(NdjsonCheck(), b"\n".join(lines), step=step)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>sign in</body></html>\n", "the body is an HTML page"),
        (b'{"error": "rate limited"}\n', "the body is a JSON error: rate limited"),
        (b'{"message": "boom", "code": "x"}', "the body is a JSON error: boom"),
        (b'{"date": "2024-01-01"}\n[1, 2]\n', "line 2 is not a JSON object: '\\[1, 2\\]'"),
        (b'{"date": "2024-01-01", \n', "line 1 does not parse as a JSON object"),
        (b'"just a string"\n', "line 1 is not a JSON object"),
    ],
)
def test_ndjson_refusals(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidBody, match=reason):
        feed(NdjsonCheck(), body, step=2)


def test_each_kind_gets_its_check() -> None:
    assert isinstance(body_check_for("aggregates"), NdjsonCheck)
    kinds: list[ExportKind] = ["package_events", "owner_package_events", "pixel_events"]
    assert all(isinstance(body_check_for(kind), CsvCheck) for kind in kinds)
