"""Turning a failed HTTP response into either a transient failure or a typed, permanent error."""

from __future__ import annotations

import json

import httpx

from scarf_etl.client._constants import RETRYABLE_STATUSES
from scarf_etl.client._secret import Redactor
from scarf_etl.client.errors import (
    ScarfAuthError,
    ScarfBadRequestError,
    ScarfError,
    ScarfForbiddenError,
    ScarfNotFoundError,
)
from scarf_etl.client.retry import parse_retry_after

# Error bodies are read only this far: enough for any JSON message, bounded for a broken proxy.
ERROR_BODY_LIMIT = 16 * 1024
NOT_A_PRO_MEMBER = "not-a-pro-member"


class TransientFailure(Exception):
    """An attempt failed in a way another attempt may not. Internal to the retry loop."""

    def __init__(
        self,
        outcome: str,
        status_code: int | None,
        detail: str,
        retry_after: float | None = None,
        *,
        safe_to_repeat: bool = False,
    ) -> None:
        super().__init__(outcome)
        self.outcome = outcome  # "HTTP 503" or an exception type name
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after
        # True when the server cannot have acted on the request (429, nothing sent), so even
        # a non-idempotent POST may be repeated.
        self.safe_to_repeat = safe_to_repeat


def read_capped(response: httpx.Response) -> bytes:
    """Up to ERROR_BODY_LIMIT bytes of a (possibly streamed) body."""
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer.extend(chunk)
        if len(buffer) >= ERROR_BODY_LIMIT:
            break
    return bytes(buffer[:ERROR_BODY_LIMIT])


def is_v3_error(body: bytes) -> bool:
    """True for v3's error shape, `{"detail": ...}` (v1 answers text, v2 `{message, code}`)."""
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return False
    return isinstance(data, dict) and "detail" in data and "message" not in data


def server_message(body: bytes) -> tuple[str, str | None]:
    """The server's message and code from a v1 text, v2 `{message, code}` or v3 `{detail}` body."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500], None
    if isinstance(data, dict):
        message = data.get("message") or data.get("detail") or data.get("error") or text
        code = data.get("code")
        return str(message)[:500], None if code is None else str(code)
    return text[:500], None


def check_response(
    response: httpx.Response, body: bytes, *, subject: str, redactor: Redactor
) -> None:
    """Return if the response succeeded; raise TransientFailure or a typed ScarfError if not."""
    status = response.status_code
    if status < 400:
        return
    message, code = server_message(body)
    message = redactor.scrub(message)
    url = redactor.scrub(str(response.request.url))
    said = f" Scarf said: {message}" if message else ""

    if status in RETRYABLE_STATUSES:
        raise TransientFailure(
            outcome=f"HTTP {status}",
            status_code=status,
            detail=message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            safe_to_repeat=status == 429,
        )
    if is_v3_error(body) and status in (403, 404):
        error_type, text = _v3_permanent_error(status, subject, message, said)
    else:
        error_type, text = _permanent_error(status, code, subject, message, said)
    raise error_type(text, status_code=status, code=code, server_message=message, url=url)


def _v3_permanent_error(
    status: int, subject: str, message: str, said: str
) -> tuple[type[ScarfError], str]:
    """v3's `{"detail": ...}` refusals, which carry no code: the status says what to fix."""
    if status == 403:
        return ScarfForbiddenError, (
            f"The Scarf plan has no aggregation exports for {subject} (HTTP 403 from the v3 "
            f"API): ask Scarf to enable aggregation exports for this owner, or check that the "
            f"token's account may export its data.{said}"
        )
    if "organization" in message.lower():
        return ScarfNotFoundError, (
            f"Scarf's v3 API found no such organization for {subject} (HTTP 404): the owner "
            f"slug is case-sensitive on v3 (v2 is not), so set SCARF_OWNER exactly as Scarf "
            f"spells the organization, e.g. `Dapr` rather than `dapr`.{said}"
        )
    return ScarfNotFoundError, (
        f"Scarf's v3 API found nothing for {subject} (HTTP 404): check SCARF_API_V3_URL and "
        f"the owner; the owner slug is case-sensitive on v3.{said}"
    )


def _permanent_error(
    status: int, code: str | None, subject: str, message: str, said: str
) -> tuple[type[ScarfError], str]:
    """The error class and a message saying what to do, for a status not worth retrying."""
    if status == 401:
        return ScarfAuthError, (
            f"Scarf rejected the API token for {subject} (HTTP 401): check that SCARF_API_TOKEN "
            f"holds a valid token from your Scarf account page.{said}"
        )
    if status == 403 and code == NOT_A_PRO_MEMBER:
        return ScarfForbiddenError, (
            f"Data export is not on the Scarf plan for {subject} (HTTP 403 "
            f"{NOT_A_PRO_MEMBER}): exports need the Scarf Professional plan; ask Scarf "
            f"support to enable it for this owner, or export an owner that has it.{said}"
        )
    if status == 403:
        return ScarfForbiddenError, (
            f"The token has no access to {subject} (HTTP 403): use a token of an account that "
            f"is a member or admin of it.{said}"
        )
    if status == 404:
        return ScarfNotFoundError, (
            f"Scarf found no {subject} (HTTP 404): check the owner and package names or ids, "
            f"and that the token's account can see them.{said}"
        )
    if status == 400:
        return ScarfBadRequestError, (
            f"Scarf refused the request for {subject} (HTTP 400{' ' + code if code else ''}): "
            f"{message or 'no reason given'}. Fix what the message names: for an export, the "
            f"date window (YYYY-MM-DD, start before end, at most 366 days); for a write, the "
            f"payload's field."
        )
    return ScarfError, f"Scarf answered HTTP {status} for {subject}; not retried.{said}"
