"""Is a downloaded export what its kind promises? Checked while it streams, before it replaces
anything.

Scarf (or a proxy in front of it) sometimes answers an export with HTTP 200 and a body that is
not the export: nothing at all, a login or error page in HTML, or a JSON error object. Written
to disk, such a body would replace a good file and later read as "no rows". The checks here are
cheap: they keep only the head of the body, and count lines and check each line's first byte
with `bytes.count`, in C, so they run far faster than the network.
"""

from __future__ import annotations

import csv
import json
from typing import Protocol

from scarf_etl.client.exports import ExportKind

# How much of the body the checks keep: the CSV header, or the first NDJSON line.
HEAD_BYTES = 64 * 1024
# Longest excerpt of the server's body quoted in a message.
EXCERPT_CHARS = 200
# Keys that make a JSON object an error report rather than an aggregate row.
_ERROR_KEYS = ("error", "errors", "detail", "message")
_UTF8_BOM = b"\xef\xbb\xbf"


class InvalidBody(Exception):
    """The body is not a usable export; the message says what was wrong. Internal."""


class BodyCheck(Protocol):
    """Fed every chunk of one attempt's body, then asked for the verdict."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self, content_type: str) -> int:
        """The number of data rows; raises InvalidBody if the body is not a usable export."""
        ...


def body_check_for(kind: ExportKind) -> BodyCheck:
    """A fresh check for one attempt at an export of `kind`."""
    if kind == "aggregates":
        return NdjsonCheck()
    return CsvCheck()


class CsvCheck:
    """Event CSVs: a header naming a `time` column, then rows.

    Rows are counted as newlines, plus one for a last row without a final newline, minus the
    header. A quoted field holding a newline therefore counts as two rows: Scarf's exports
    have none, and counting in C keeps the check far faster than the network.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._newlines = 0
        self._last_byte = b"\n"
        self._bytes = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._bytes += len(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head.extend(chunk[: HEAD_BYTES - len(self._head)])
        self._newlines += chunk.count(b"\n")
        self._last_byte = chunk[-1:]

    def finish(self, content_type: str) -> int:
        head = _strip_bom(bytes(self._head)).lstrip()
        if self._bytes == 0 or not head:
            raise InvalidBody("the body is empty")
        _refuse_html(head, content_type)
        _refuse_json(head)
        header_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
        columns = next(csv.reader([header_line]), [])
        if "time" not in {column.strip().lower() for column in columns}:
            raise InvalidBody(f"no `time` column in the header: {header_line[:EXCERPT_CHARS]!r}")
        records = self._newlines + (0 if self._last_byte == b"\n" else 1)
        return max(0, records - 1)


class NdjsonCheck:
    """Aggregates: one JSON object per line; an empty body is a day with no data.

    Rows are the non-blank lines. Every one must start with `{`; the first must parse as a JSON
    object that is not an error report.
    """

    def __init__(self) -> None:
        self._first_line = bytearray()
        self._capturing = False  # inside the first non-blank line
        self._rows = 0
        self._line_has_content = False
        self._line_number = 1
        # The first line that does not start with `{`: its number and its head, for messages.
        self._bad_line: int | None = None
        self._bad_excerpt = bytearray()
        self._capturing_bad = False

    def feed(self, chunk: bytes) -> None:
        first_newline, last_newline = chunk.find(b"\n"), chunk.rfind(b"\n")
        if self._rows == 0 or first_newline == last_newline:
            # The head of the body (where the first line is kept), or at most one line end.
            self._feed_lines(chunk)
            return
        self._feed_lines(chunk[: first_newline + 1])  # ends the current line
        self._feed_whole_lines(chunk[first_newline + 1 : last_newline + 1])
        self._feed_lines(chunk[last_newline + 1 :])  # starts the next one

    def _feed_whole_lines(self, lines: bytes) -> None:
        """Lines that each end in a newline: when every one starts with `{`, two counts in C
        say so; otherwise (blank, indented or bad lines) they are looked at one by one."""
        count = lines.count(b"\n")
        if lines.count(b"\n{") + lines.startswith(b"{") != count:
            self._feed_lines(lines)
            return
        self._rows += count
        self._line_number += count

    def _feed_lines(self, chunk: bytes) -> None:
        for i, piece in enumerate(chunk.split(b"\n")):
            if i:  # the previous line ended
                self._end_line()
            if not self._line_has_content:
                piece = piece.lstrip(b" \t\r" + _UTF8_BOM)
                if not piece:
                    continue
                self._line_has_content = True
                self._capturing = self._rows == 0
                if piece[:1] != b"{" and self._bad_line is None:
                    self._bad_line = self._line_number
                    self._capturing_bad = True
            if self._capturing:
                self._first_line.extend(piece[: HEAD_BYTES - len(self._first_line)])
            if self._capturing_bad:
                self._bad_excerpt.extend(piece[: EXCERPT_CHARS - len(self._bad_excerpt)])

    def _end_line(self) -> None:
        if self._line_has_content:
            self._rows += 1
        self._line_has_content = self._capturing = self._capturing_bad = False
        self._line_number += 1

    def finish(self, content_type: str) -> int:
        rows = self._rows + (1 if self._line_has_content else 0)
        if rows == 0:
            return 0  # a day without downloads: Scarf sends nothing
        first = bytes(self._first_line).strip()
        _refuse_html(first, content_type)
        try:
            value = json.loads(first)
        except ValueError:
            value = None
        if isinstance(value, dict) and _is_error_report(value):
            raise InvalidBody(f"the body is a JSON error: {_error_detail(value)}")
        if self._bad_line is not None:
            excerpt = bytes(self._bad_excerpt).rstrip(b"\r").decode("utf-8", errors="replace")
            raise InvalidBody(f"line {self._bad_line} is not a JSON object: {excerpt!r}")
        # A first line that starts like an object but does not parse is one malformed row when
        # other rows follow (the lake keeps it aside as a rejected row); alone, it may be a cut
        # error body, so it is refused.
        malformed_row = value is None and first.startswith(b"{") and rows > 1
        if not isinstance(value, dict) and not malformed_row:
            excerpt = first[:EXCERPT_CHARS].decode("utf-8", errors="replace")
            raise InvalidBody(f"line 1 does not parse as a JSON object: {excerpt!r}")
        return rows


def _strip_bom(data: bytes) -> bytes:
    return data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data


def _refuse_html(head: bytes, content_type: str) -> None:
    start = head[:64].lstrip().lower()
    if content_type.lower().startswith("text/html") or start.startswith((b"<!doctype", b"<html")):
        raise InvalidBody("the body is an HTML page (HTTP 200)")


def _refuse_json(head: bytes) -> None:
    """A CSV never starts with `{` or `[`: such a body is a JSON answer, most likely an error."""
    if not head.startswith((b"{", b"[")):
        return
    try:
        value = json.loads(head)
    except ValueError:
        value = None
    if isinstance(value, dict):
        raise InvalidBody(f"the body is a JSON error: {_error_detail(value)}")
    excerpt = head[:EXCERPT_CHARS].decode("utf-8", errors="replace")
    raise InvalidBody(f"the body is JSON, not CSV: {excerpt!r}")


def _is_error_report(value: dict[str, object]) -> bool:
    # Aggregate rows always carry `breakdown` and `date`; an error report carries neither.
    has_error_key = any(key in value for key in _ERROR_KEYS)
    return has_error_key and "breakdown" not in value and "date" not in value


def _error_detail(value: dict[str, object]) -> str:
    for key in _ERROR_KEYS:
        if value.get(key):
            return str(value[key])[:EXCERPT_CHARS]
    return json.dumps(value)[:EXCERPT_CHARS]
