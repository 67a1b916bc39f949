"""One pooled httpx.Client, the retry loop around every call, and atomic streamed downloads."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import httpx

from scarf_etl.client import _constants as c
from scarf_etl.client._secret import Redactor
from scarf_etl.client.errors import (
    AttemptRecord,
    IncompleteDownloadError,
    InvalidExportError,
    ScarfError,
    ScarfRedirectError,
    ScarfResponseError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.client.export_check import BodyCheck, InvalidBody
from scarf_etl.client.responses import TransientFailure, check_response, read_capped
from scarf_etl.client.retry import next_wait
from scarf_etl.client.settings import ClientSettings
from scarf_etl.client.watch import DownloadWatch, Watchdog, seconds

logger = logging.getLogger("scarf_etl.client")

T = TypeVar("T")

# Network failures after which the same request may well succeed.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Failures before any byte of the request reached the server.
_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The outcome recorded for an attempt whose 200 body was not the export.
INVALID_EXPORT = "InvalidExport"


@dataclass(frozen=True)
class Fetched:
    """A completed download: what was written and how many attempts it took."""

    bytes: int
    rows: int
    content_type: str
    url: str
    attempts: int
    scarf_headers: tuple[tuple[str, str], ...] = ()  # the response's X-Scarf-* headers


class Transport:
    """Sends requests with retries, caps requests in flight, streams exports to disk."""

    def __init__(
        self,
        token: str,
        settings: ClientSettings,
        *,
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._redactor = Redactor(token)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._api_origins = _api_origins(settings)
        self._watchdog = Watchdog()
        headers = {"User-Agent": settings.user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=c.WRITE_TIMEOUT_SECONDS,
                pool=c.POOL_TIMEOUT_SECONDS,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency,
                max_keepalive_connections=settings.max_concurrency,
            ),
            verify=True,
            # httpx drops the Authorization header on a redirect to another host; the request
            # hook makes sure of it, and `_refuse_cross_host_refusal` explains the 401 that
            # follows.
            follow_redirects=True,
            event_hooks={"request": [self._keep_token_home]},
        )

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def close(self) -> None:
        self._watchdog.close()
        self._http.close()

    def request_json(
        self,
        method: str,
        url: str,
        *,
        subject: str,
        params: dict[str, str] | None = None,
        body: object = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one JSON call with retries; return the decoded body (None when empty)."""

        def attempt() -> Any:
            with self._network_errors():
                response = self._http.request(method, url, params=params, json=body)
            self._check(response, response.content, subject=subject)
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                raise ScarfResponseError(
                    f"Scarf answered {method} for {subject} with a body that is not JSON",
                    status_code=response.status_code,
                    url=self._display_url(url, params),
                ) from None

        return self._with_retries(
            method, self._display_url(url, params), attempt, subject=subject, idempotent=idempotent
        )[0]

    def download(
        self,
        url: str,
        params: dict[str, str],
        dest: Path,
        *,
        subject: str,
        body_check: Callable[[], BodyCheck],
    ) -> Fetched:
        """Stream a GET body into `dest` atomically, with retries. Memory stays bounded.

        Each attempt's body goes to a temp file beside `dest` and through a fresh `body_check()`;
        only a complete body the check accepts replaces `dest`. A rejected body is retried like
        a 5xx and, if the last attempt is rejected too, raises InvalidExportError.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        shown = self._display_url(url, params)

        def attempt() -> tuple[int, int, str, tuple[tuple[str, str], ...]]:
            return self._download_once(url, params, dest, subject=subject, check=body_check())

        (written, rows, content_type, scarf_headers), attempts = self._with_retries(
            "GET", shown, attempt, subject=subject, idempotent=True, dest=dest
        )
        return Fetched(
            bytes=written,
            rows=rows,
            content_type=content_type,
            url=shown,
            attempts=attempts,
            scarf_headers=scarf_headers,
        )

    def _download_once(
        self, url: str, params: dict[str, str], dest: Path, *, subject: str, check: BodyCheck
    ) -> tuple[int, int, str, tuple[tuple[str, str], ...]]:
        # The temp file sits beside dest so os.replace is a same-filesystem atomic rename.
        fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        temp = Path(temp_name)
        watch = self._watchdog.watch(subject, self._settings)
        try:
            with watch, os.fdopen(fd, "wb") as out:
                with (
                    self._network_errors(watch),
                    self._http.stream("GET", url, params=params) as resp,
                ):
                    watch.first_byte()
                    if resp.status_code >= 400:
                        self._check(resp, read_capped(resp), subject=subject)
                    for chunk in resp.iter_bytes():
                        out.write(chunk)
                        check.feed(chunk)
                        watch.advance(len(chunk))
                    self._verify_complete(resp, subject)
                    content_type = resp.headers.get("content-type", "")
                    scarf_headers = tuple(
                        (name.lower(), value)
                        for name, value in resp.headers.items()
                        if name.lower().startswith("x-scarf-")
                    )
                out.flush()
                os.fsync(out.fileno())
            try:
                rows = check.finish(content_type)
            except InvalidBody as invalid:
                raise TransientFailure(
                    outcome=INVALID_EXPORT,
                    status_code=resp.status_code,
                    detail=self._redactor.scrub(str(invalid)),
                ) from None
            os.replace(temp, dest)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_directory(dest.parent)
        return watch.bytes, rows, content_type, scarf_headers

    def _check(self, response: httpx.Response, body: bytes, *, subject: str) -> None:
        """Raise for a failed response; first, say so when a redirect led to another host."""
        if response.status_code >= 400:
            self._refuse_cross_host_refusal(response, subject)
        check_response(response, body, subject=subject, redactor=self._redactor)

    def _refuse_cross_host_refusal(self, response: httpx.Response, subject: str) -> None:
        if not response.history or response.status_code not in (401, 403):
            return
        asked = response.history[0].request.url
        if _origin(asked) == _origin(response.url):
            return
        shown = self._redactor.scrub(str(asked))
        # Only the host is quoted: a redirect target may carry signed query parameters.
        host = self._redactor.scrub(_netloc(response.url))
        raise ScarfRedirectError(
            f"Scarf redirected {shown} ({subject}) to another host ({host}); the token is not "
            f"sent there, so that host refused the request (HTTP {response.status_code}). If "
            f"{host} is where the Scarf API now lives, point SCARF_API_URL / SCARF_API_V2_URL "
            "(ClientSettings v1_url / v2_url) at it so the token goes there directly; otherwise "
            "check the configured API URLs for a typo or a proxy in the way.",
            status_code=response.status_code,
            url=shown,
        )

    def _keep_token_home(self, request: httpx.Request) -> None:
        """Refuse to send the token to any origin other than the configured API URLs."""
        if "authorization" in request.headers and _origin(request.url) not in self._api_origins:
            raise ScarfRedirectError(
                f"refusing to send the Scarf token to {_netloc(request.url)}, which is not one "
                "of the configured API URLs (ClientSettings v1_url / v2_url)",
                url=self._redactor.scrub(str(request.url.copy_with(query=None))),
            )

    def _verify_complete(self, response: httpx.Response, subject: str) -> None:
        declared = response.headers.get("content-length")
        # Compared on the wire: Content-Length counts encoded bytes when gzip is in play.
        if declared is not None and declared.isdigit():
            received = response.num_bytes_downloaded
            if received != int(declared):
                raise IncompleteDownloadError(
                    f"{subject}: body ended after {received} of {declared} bytes",
                    status_code=response.status_code,
                )

    @contextlib.contextmanager
    def _network_errors(self, watch: DownloadWatch | None = None) -> Iterator[None]:
        """Turn httpx's transient network errors into TransientFailure."""
        try:
            yield
        except httpx.ReadTimeout as exc:
            if watch is None:
                raise TransientFailure(
                    outcome=type(exc).__name__,
                    status_code=None,
                    detail=self._redactor.scrub(str(exc)),
                ) from None
            raise TransientFailure(
                outcome=type(exc).__name__, status_code=None, detail=watch.stall_detail()
            ) from None
        except _TRANSIENT_ERRORS as exc:
            raise TransientFailure(
                outcome=type(exc).__name__,
                status_code=None,
                detail=self._redactor.scrub(str(exc)),
                safe_to_repeat=isinstance(exc, _UNSENT_ERRORS),
            ) from None
        except IncompleteDownloadError as exc:
            raise TransientFailure(
                outcome=type(exc).__name__, status_code=exc.status_code, detail=str(exc)
            ) from None

    def _with_retries(
        self,
        method: str,
        shown_url: str,
        attempt: Callable[[], T],
        *,
        subject: str,
        idempotent: bool,
        dest: Path | None = None,
    ) -> tuple[T, int]:
        settings = self._settings
        history: list[AttemptRecord] = []
        for number in range(1, settings.max_attempts + 1):
            try:
                with self._slots:
                    return attempt(), number
            except TransientFailure as failure:
                if not idempotent and not failure.safe_to_repeat:
                    raise ScarfError(
                        f"{method} {shown_url} failed with {failure.outcome} "
                        f"({failure.detail or 'no detail'}); not retried because the server "
                        "may have applied it: check the current state before trying again.",
                        status_code=failure.status_code,
                        url=shown_url,
                    ) from None
                last = number == settings.max_attempts
                wait = None if last else self._wait(number, failure.retry_after)
                history.append(
                    AttemptRecord(
                        attempt=number,
                        outcome=failure.outcome,
                        status_code=failure.status_code,
                        detail=failure.detail,
                        wait=wait,
                    )
                )
                if wait is None:
                    break
                logger.info(
                    "Scarf %s %s: %s on attempt %d of %d; retrying in %.2fs",
                    method,
                    shown_url,
                    failure.outcome,
                    number,
                    settings.max_attempts,
                    wait,
                )
                reason = "Retry-After" if failure.retry_after is not None else "backoff"
                self._pause(wait, reason=reason, next_attempt=number + 1, subject=subject)
        outcomes = ", ".join(record.outcome for record in history)
        final = history[-1]
        if final.outcome == INVALID_EXPORT:
            kept = f"{dest} was left as it was" if dest is not None else "nothing was written"
            raise InvalidExportError(
                self._redactor.scrub(
                    f"Scarf answered {subject} ({shown_url}) with HTTP {final.status_code} but "
                    f"not a usable export: {final.detail}. Gave up after {len(history)} attempts "
                    f"({outcomes}); {kept}. Re-run later; if it persists, the API URL may point "
                    "at a proxy or login page rather than the Scarf API, or Scarf is failing: "
                    "report the request to Scarf support."
                ),
                history=tuple(history),
                url=shown_url,
            )
        raise ScarfRetriesExhaustedError(
            self._redactor.scrub(
                f"{method} {shown_url}: gave up after {len(history)} attempts ({outcomes}); "
                f"the last: {final.detail or 'no detail'}. Scarf kept failing with transient "
                "errors: re-run later, or raise max_attempts or backoff_max in ClientSettings."
            ),
            history=tuple(history),
            url=shown_url,
        )

    def _pause(self, wait: float, *, reason: str, next_attempt: int, subject: str) -> None:
        """Sleep `wait` seconds; a wait longer than notice_interval says so that often."""
        interval = self._settings.notice_interval
        remaining = wait
        while remaining > 1e-9:
            if wait > interval:
                logger.info(
                    "waiting for %s: %s s left before attempt %d/%d of %s",
                    reason,
                    seconds(remaining),
                    next_attempt,
                    self._settings.max_attempts,
                    subject,
                )
            step = min(remaining, interval)
            self._sleep(step)
            remaining -= step

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        s = self._settings
        return next_wait(
            attempt,
            retry_after,
            initial=s.backoff_initial,
            maximum=s.backoff_max,
            retry_after_max=s.retry_after_max,
            rng=self._rng,
        )

    def _display_url(self, url: str, params: dict[str, str] | None) -> str:
        full = httpx.URL(url, params=params) if params else httpx.URL(url)
        return self._redactor.scrub(str(full))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _netloc(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _api_origins(settings: ClientSettings) -> frozenset[tuple[str, str, int | None]]:
    """The origins of every API root in `settings` (any field named *_url)."""
    return frozenset(
        _origin(httpx.URL(getattr(settings, field.name)))
        for field in fields(settings)
        if field.name.endswith("_url")
    )


def fsync_directory(folder: Path) -> None:
    """Make a rename into `folder` durable; some platforms cannot open folders, which is fine.
    (The store's atomic writes use it too.)"""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
