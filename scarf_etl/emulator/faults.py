"""Fault knobs for the emulator's requests, and who gets which fault.

Refusals (429, 5xx, a slow first byte) hit export requests (aggregates and event CSVs), or with
`scope="all"` every authenticated request; body faults (cut-offs, odd rows, bodies that are not
the export, stalls, redirects) are export-only.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from scarf_etl.emulator import world
from scarf_etl.emulator.events import EventSource
from scarf_etl.emulator.state import PackageRecord

FaultScope = Literal["exports", "all"]
# What a body fault serves with HTTP 200 instead of the export:
# - "empty": nothing (Content-Length 0);
# - "html": an HTML page as text/html, as a login page or a proxy's error page would be;
# - "json_error": `{"error": "..."}` as application/json;
# - "truncated": the export cut mid-row, with a Content-Length that matches the short body,
#   so the transfer itself looks complete;
# - "huge_field": the export with one row whose user_agent is `huge_field_bytes` long (event
#   CSVs only; aggregates are served unchanged and do not use up the counter);
# - "no_time_column": the event CSV with its `time` column named `timestamp` in the header
#   (event CSVs only, like huge_field).
BodyFault = Literal["empty", "html", "json_error", "truncated", "huge_field", "no_time_column"]
# Body faults that only event CSVs can carry.
CSV_ONLY_BODY_FAULTS = ("huge_field", "no_time_column")


@dataclass
class Faults:
    """Mutable knobs; tests change them between requests.

    When several "first N" counters are set they apply in turn: 429s first, then 5xx, then
    cut-off bodies. A body fault (body_fault_first / body_fault_always) replaces the body of an
    export that got past the refusals, and that export uses no cut-off.

    `scope` says which requests the refusal knobs (rate_limit_first with retry_after,
    server_error_first/server_error_status, slow_first_byte) reach: "exports" only, or "all"
    authenticated /api/v1 and /v2 requests, JSON calls included, sharing the same counters.
    The body knobs (cut_off_first, the row faults, omit_content_length) stay export-only.
    """

    rate_limit_first: int = 0
    retry_after: str = "1"
    server_error_first: int = 0
    server_error_status: int = 503
    slow_first_byte: float = 0.0
    cut_off_first: int = 0
    duplicate_rows: int = 0
    extra_columns: tuple[str, ...] = ()
    malformed_rows: int = 0
    out_of_window_rows: int = 0
    omit_content_length: bool = True
    scope: FaultScope = "exports"
    # Body faults: the first `body_fault_first` exports (or every one, with body_fault_always)
    # get `body_fault` instead of their body; see BodyFault.
    body_fault_first: int = 0
    body_fault: BodyFault = "empty"
    body_fault_always: bool = False
    huge_field_bytes: int = 50_000_000
    # A base URL such as "http://localhost:8765": every authenticated export answers 307 to the
    # same path and query there.
    redirect_exports_to: str | None = None
    # Every export sends this many body bytes, pauses `stall_seconds`, then sends the rest.
    stall_body_after_bytes: int | None = None
    stall_seconds: float = 2.0
    # Extra packages, with these ids, in the package lists of every owner (organization list,
    # the user's /packages); their exports answer like any package's. For testing that ids
    # such as "../../../../x" or "/abs/x" never become paths.
    hostile_package_ids: tuple[str, ...] = ()
    # Event exports (v1 and v2) whose window spans more days than this answer 400
    # `range-too-long`, as Scarf does past its own (undocumented) limit; None: the emulator's
    # general limit only.
    max_event_window_days: int | None = None

    def snapshot(self) -> Faults:
        """A copy, so knobs changed mid-stream affect later requests only."""
        return dataclasses.replace(
            self,
            extra_columns=tuple(self.extra_columns),
            hostile_package_ids=tuple(self.hostile_package_ids),
        )


class Verdict(Enum):
    """What the next refusable request gets."""

    RATE_LIMITED = "rate-limited"
    SERVER_ERROR = "server-error"
    PROCEED = "proceed"


class FaultCounter:
    """Counts the faults already served so "first N" knobs fire exactly N times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate_limited = 0
        self._server_errors = 0
        self._cut_offs = 0
        self._body_faults = 0

    def reset(self) -> None:
        with self._lock:
            self._rate_limited = self._server_errors = self._cut_offs = self._body_faults = 0

    def admit(self, faults: Faults) -> Verdict:
        """Decide whether a refusable request is refused (429, 5xx) or proceeds."""
        with self._lock:
            if self._rate_limited < faults.rate_limit_first:
                self._rate_limited += 1
                return Verdict.RATE_LIMITED
            if self._server_errors < faults.server_error_first:
                self._server_errors += 1
                return Verdict.SERVER_ERROR
            return Verdict.PROCEED

    def take_cut_off(self, faults: Faults) -> bool:
        """True if this (successful) export body must be cut off mid-stream."""
        with self._lock:
            if self._cut_offs < faults.cut_off_first:
                self._cut_offs += 1
                return True
            return False

    def take_body_fault(self, faults: Faults, *, csv: bool) -> BodyFault | None:
        """The body fault this (successful) export gets, if any; `csv` says if it is an event
        CSV (CSV_ONLY_BODY_FAULTS apply to those only)."""
        if faults.body_fault in CSV_ONLY_BODY_FAULTS and not csv:
            return None
        with self._lock:
            if faults.body_fault_always:
                return faults.body_fault
            if self._body_faults < faults.body_fault_first:
                self._body_faults += 1
                return faults.body_fault
            return None


@dataclass(frozen=True)
class _HostileSource(EventSource):
    """A package source whose id is not a uuid: the generator's seed key comes from a hash."""

    @property
    def key(self) -> int:
        return int(world.stable_id("hostile", self.id).replace("-", "")[:16], 16)


class _HostilePackage(PackageRecord):
    def source(self) -> EventSource:
        return _HostileSource(self.uuid, "package", self.name, self.library_type)


def hostile_packages(faults: Faults, owner: str) -> list[PackageRecord]:
    """`owner`'s extra packages under the hostile_package_ids knob, in knob order."""
    return [
        _HostilePackage(
            uuid=package_id,
            owner=owner,
            name=f"hostile-{i}",
            short_description="a package whose id is not a safe file name",
            library_type="npm",
            created_at=world.SEEDED_AT,
        )
        for i, package_id in enumerate(faults.hostile_package_ids)
    ]
