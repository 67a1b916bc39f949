"""Fault knobs for the emulator's requests, and who gets which fault.

Refusals (429, 5xx, a slow first byte) hit export requests (aggregates and event CSVs), or with
`scope="all"` every authenticated request; body faults (cut-offs, odd rows) are export-only.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Literal

FaultScope = Literal["exports", "all"]


@dataclass
class Faults:
    """Mutable knobs; tests change them between requests.

    When several "first N" counters are set they apply in turn: 429s first, then 5xx, then
    cut-off bodies.

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

    def snapshot(self) -> Faults:
        """A copy, so knobs changed mid-stream affect later requests only."""
        return dataclasses.replace(self, extra_columns=tuple(self.extra_columns))


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

    def reset(self) -> None:
        with self._lock:
            self._rate_limited = self._server_errors = self._cut_offs = 0

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
