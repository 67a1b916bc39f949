"""What to export (ExportRequest), what came back (Download), and which URL serves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

ExportKind = Literal["aggregates", "package_events", "owner_package_events", "pixel_events"]
ApiVersion = Literal["v1", "v2", "v3"]

# The breakdowns v3 serves with `rollup=daily`, one per request.
V3_BREAKDOWNS: Final = (
    "by-total",
    "by-country",
    "by-company",
    "by-platform",
    "by-version",
    "by-client",
    "by-variable",
    "by-cloudprovider",
)
# v3 refuses a longer window; checked here so a bad request costs no billable call.
V3_MAX_WINDOW_DAYS: Final = 366
# Response headers v3 sends with the window it actually served (end exclusive, as asked).
EFFECTIVE_START_HEADER: Final = "x-scarf-effective-start-date"
EFFECTIVE_END_HEADER: Final = "x-scarf-effective-end-date"


@dataclass(frozen=True)
class ExportRequest:
    """One export window `[start, end)` of one kind, to be written to `dest`."""

    kind: ExportKind
    owner: str
    start: date  # inclusive
    end: date  # exclusive
    dest: Path  # final file path; parent folders are created
    package_id: str | None = None  # package_events only
    owner_kind: Literal["organization", "user"] = "organization"  # v1 aggregates only
    # None picks the kind's historical default: v2 for events (Scarf ended v1 exports in
    # 2023), the page's v1 endpoint for aggregates. Today's aggregates are `api="v3"`.
    api: ApiVersion | None = None
    breakdown: str | None = None  # v3 aggregates only: one of V3_BREAKDOWNS

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"empty window: start {self.start} must be before end {self.end}")
        if self.kind == "package_events" and not self.package_id:
            raise ValueError("package_events needs a package_id")
        if self.kind != "package_events" and self.package_id is not None:
            raise ValueError(f"{self.kind} takes no package_id")
        if not self.owner:
            raise ValueError("owner is empty")
        if self.api is None:
            object.__setattr__(self, "api", "v1" if self.kind == "aggregates" else "v2")
        if self.kind == "owner_package_events" and self.api != "v2":
            raise ValueError("owner_package_events exists on the v2 API only")
        if self.kind == "aggregates":
            self._check_aggregates()
        elif self.api not in ("v1", "v2"):
            raise ValueError(f"{self.kind} is exported by the v1 or v2 API, not {self.api}")
        elif self.breakdown is not None:
            raise ValueError(f"{self.kind} takes no breakdown")

    def _check_aggregates(self) -> None:
        if self.api == "v1":
            if self.breakdown is not None:
                raise ValueError("v1 aggregates take no breakdown: one export holds them all")
            return
        if self.api != "v3":
            raise ValueError(f"aggregates are exported by the v1 or v3 API, not {self.api}")
        if self.breakdown not in V3_BREAKDOWNS:
            raise ValueError(
                f"v3 aggregates need one breakdown of {', '.join(V3_BREAKDOWNS)}, "
                f"not {self.breakdown!r}"
            )
        days = (self.end - self.start).days
        if days > V3_MAX_WINDOW_DAYS:
            raise ValueError(
                f"v3 aggregates cover at most {V3_MAX_WINDOW_DAYS} days per request; "
                f"[{self.start}, {self.end}) has {days}"
            )

    def describe(self) -> str:
        """A short human name for messages, e.g. "package_events of acme/1234 for 2024-01-01"."""
        who = f"{self.owner}/{self.package_id}" if self.package_id else self.owner
        what = f"{self.kind} {self.breakdown}" if self.breakdown else self.kind
        return f"{what} of {who} for [{self.start}, {self.end})"


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
    # The response's `X-Scarf-*` headers (lower-case names), e.g. v3's effective window.
    scarf_headers: tuple[tuple[str, str], ...] = ()

    @property
    def start(self) -> date:
        return self.request.start

    @property
    def end(self) -> date:
        return self.request.end

    @property
    def effective_window(self) -> tuple[date, date] | None:
        """The `[start, end)` the server says it served (v3), or None if it did not say.

        Raises ValueError when the headers are present but not dates.
        """
        headers = dict(self.scarf_headers)
        start, end = headers.get(EFFECTIVE_START_HEADER), headers.get(EFFECTIVE_END_HEADER)
        if start is None or end is None:
            return None
        return date.fromisoformat(start[:10]), date.fromisoformat(end[:10])


def _seg(value: str) -> str:
    return quote(value, safe="")


def export_location(
    request: ExportRequest, *, v1_url: str, v2_url: str, v3_url: str | None = None
) -> tuple[str, dict[str, str]]:
    """The URL and query parameters that serve `request` (`v3_url` is needed for v3 only)."""
    v1, v2 = v1_url.rstrip("/"), v2_url.rstrip("/")
    v1_window = {"startDate": request.start.isoformat(), "endDate": request.end.isoformat()}
    v2_window = {"start_date": request.start.isoformat(), "end_date": request.end.isoformat()}
    # v1 CSV paths end in a file name the server ignores; name it after the window.
    file_name = _seg(f"{request.kind}-{request.start}-{request.end}") + ".csv"
    owner = _seg(request.owner)

    if request.kind == "aggregates":
        if request.api == "v3":
            if v3_url is None:
                raise ValueError("v3 aggregates need the v3 root URL (SCARF_API_V3_URL)")
            assert request.breakdown is not None  # checked in ExportRequest
            params = {**v2_window, "rollup": "daily", "breakdown": request.breakdown}
            params["format"] = "ndjson"
            return f"{v3_url.rstrip('/')}/insights/{owner}/aggregations/export", params
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
