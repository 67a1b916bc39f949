"""The client's exceptions: one small hierarchy, each message saying what to do next.

Messages are built by the client after scrubbing the token out of anything the server or the
network sent back, so they are safe to log and show.
"""

from __future__ import annotations

from dataclasses import dataclass


class ScarfError(Exception):
    """Base of every error the Scarf client raises."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        server_message: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.server_message = server_message
        self.url = url

    def __str__(self) -> str:
        return self.message


class ScarfAuthError(ScarfError):
    """401: the token is missing or invalid."""


class ScarfForbiddenError(ScarfError):
    """403: the token has no access, or data export is not on the plan (`not-a-pro-member`;
    on v3, any 403: the plan has no aggregation exports)."""


class ScarfNotFoundError(ScarfError):
    """404: the owner, package or route does not exist, or the token cannot see it. On v3
    the owner slug is case-sensitive, so a miscapitalized owner is a 404 too."""


class ScarfBadRequestError(ScarfError):
    """400: the server refused the window or payload; `server_message` says why."""


class ScarfResponseError(ScarfError):
    """The server answered, but not in a shape the client understands."""


class IncompleteDownloadError(ScarfError):
    """A body ended before its declared length. Retried; seen by callers only inside history."""


@dataclass(frozen=True)
class AttemptRecord:
    """What one attempt ended with, and how long the client waited before the next one."""

    attempt: int
    outcome: str  # "HTTP 503", or the exception type such as "ReadTimeout"
    status_code: int | None
    detail: str
    wait: float | None  # None for the last attempt


class ScarfRetriesExhaustedError(ScarfError):
    """Every attempt failed with a transient error; `history` has one entry per attempt."""

    # Defaults let pickle rebuild it from (message,) and then restore the attributes.
    def __init__(
        self, message: str, *, history: tuple[AttemptRecord, ...] = (), url: str | None = None
    ) -> None:
        last_status = history[-1].status_code if history else None
        super().__init__(message, status_code=last_status, url=url)
        self.history = history


class InvalidExportError(ScarfRetriesExhaustedError):
    """Every attempt (or the last) got HTTP 200 with a body that is not the export: empty, an
    HTML page, a JSON error, or a CSV without a `time` column. The destination file was left as
    it was; `history` has one entry per attempt."""


class ScarfRedirectError(ScarfError):
    """Scarf redirected a request to another host, which refused it because the token is (by
    design) not sent there. Not retried: the configured API URL needs changing."""
