"""What to export (ExportRequest), what came back (Download), and which URL serves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import quote

ExportKind = Literal["aggregates", "package_events", "owner_package_events", "pixel_events"]


@dataclass(frozen=True)
class ExportRequest:
    """One export window `[start, end)` of one kind, to be written to `dest`."""

    kind: ExportKind
    owner: str
    start: date  # inclusive
    end: date  # exclusive
    dest: Path  # final file path; parent folders are created
    package_id: str | None = None  # package_events only
    owner_kind: Literal["organization", "user"] = "organization"  # aggregates only
    # Events default to v2 (Scarf ended v1 in 2023); aggregates only exist on v1.
    api: Literal["v1", "v2"] = "v2"

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"empty window: start {self.start} must be before end {self.end}")
        if self.kind == "package_events" and not self.package_id:
            raise ValueError("package_events needs a package_id")
        if self.kind != "package_events" and self.package_id is not None:
            raise ValueError(f"{self.kind} takes no package_id")
        if self.kind == "owner_package_events" and self.api == "v1":
            raise ValueError("owner_package_events exists on the v2 API only")
        if not self.owner:
            raise ValueError("owner is empty")

    def describe(self) -> str:
        """A short human name for messages, e.g. "package_events of acme/1234 for 2024-01-01"."""
        who = f"{self.owner}/{self.package_id}" if self.package_id else self.owner
        return f"{self.kind} of {who} for [{self.start}, {self.end})"


@dataclass(frozen=True)
class Download:
    """A complete export on disk."""

    request: ExportRequest
    path: Path
    bytes: int
    # Data rows: CSV records after the header (newlines outside quoted fields, plus a last row
    # without a final newline); NDJSON non-blank lines. 0 for a header-only CSV or empty NDJSON.
    rows: int
    content_type: str
    attempts: int
    url: str  # the URL fetched; never carries the token

    @property
    def start(self) -> date:
        return self.request.start

    @property
    def end(self) -> date:
        return self.request.end


def _seg(value: str) -> str:
    return quote(value, safe="")


def export_location(
    request: ExportRequest, *, v1_url: str, v2_url: str
) -> tuple[str, dict[str, str]]:
    """The URL and query parameters that serve `request`."""
    v1, v2 = v1_url.rstrip("/"), v2_url.rstrip("/")
    v1_window = {"startDate": request.start.isoformat(), "endDate": request.end.isoformat()}
    v2_window = {"start_date": request.start.isoformat(), "end_date": request.end.isoformat()}
    # v1 CSV paths end in a file name the server ignores; name it after the window.
    file_name = _seg(f"{request.kind}-{request.start}-{request.end}") + ".csv"
    owner = _seg(request.owner)

    if request.kind == "aggregates":
        collection = "organizations" if request.owner_kind == "organization" else "users"
        return f"{v1}/{collection}/{owner}/aggregates", v1_window
    if request.kind == "package_events":
        assert request.package_id is not None  # checked in ExportRequest
        package = _seg(request.package_id)
        if request.api == "v1":
            return f"{v1}/packages/{owner}/{package}/events/{file_name}", v1_window
        return f"{v2}/packages/{owner}/{package}/events", v2_window
    if request.kind == "owner_package_events":
        return f"{v2}/packages/{owner}/events", v2_window
    if request.api == "v1":
        return f"{v1}/pixels/events/{file_name}", v1_window
    return f"{v2}/tracking-pixels/{owner}/events", v2_window
