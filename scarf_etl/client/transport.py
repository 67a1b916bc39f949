"""One pooled httpx.Client, the retry loop around every call, and atomic streamed downloads."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from scarf_etl.client import _constants as c
from scarf_etl.client._secret import Redactor
from scarf_etl.client.errors import (
    AttemptRecord,
    IncompleteDownloadError,
    ScarfError,
    ScarfResponseError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.client.responses import TransientFailure, check_response, read_capped
from scarf_etl.client.retry import next_wait
from scarf_etl.client.settings import ClientSettings

logger = logging.getLogger("scarf_etl.client")

T = TypeVar("T")

# Network failures after which the same request may well succeed.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Failures before any byte of the request reached the server.
_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Fetched:
    """A completed download: what was written and how many attempts it took."""

    bytes: int
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
            # httpx drops the Authorization header on a redirect to another host.
            follow_redirects=True,
        )

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def close(self) -> None:
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
            check_response(response, response.content, subject=subject, redactor=self._redactor)
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
            method, self._display_url(url, params), attempt, idempotent=idempotent
        )[0]

    def download(self, url: str, params: dict[str, str], dest: Path, *, subject: str) -> Fetched:
        """Stream a GET body into `dest` atomically, with retries. Memory stays bounded."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        shown = self._display_url(url, params)

        def attempt() -> tuple[int, str, tuple[tuple[str, str], ...]]:
            return self._download_once(url, params, dest, subject=subject)

        (written, content_type, scarf_headers), attempts = self._with_retries(
            "GET", shown, attempt, idempotent=True
        )
        return Fetched(
            bytes=written,
            content_type=content_type,
            url=shown,
            attempts=attempts,
            scarf_headers=scarf_headers,
        )

    def _download_once(
        self, url: str, params: dict[str, str], dest: Path, *, subject: str
    ) -> tuple[int, str, tuple[tuple[str, str], ...]]:
        # The temp file sits beside dest so os.replace is a same-filesystem atomic rename.
        fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                with self._network_errors(), self._http.stream("GET", url, params=params) as resp:
                    if resp.status_code >= 400:
                        body = read_capped(resp)
                        check_response(resp, body, subject=subject, redactor=self._redactor)
                    written = 0
                    for chunk in resp.iter_bytes():
                        out.write(chunk)
                        written += len(chunk)
                    self._verify_complete(resp, subject)
                    content_type = resp.headers.get("content-type", "")
                    scarf_headers = tuple(
                        (name.lower(), value)
                        for name, value in resp.headers.items()
                        if name.lower().startswith("x-scarf-")
                    )
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, dest)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_directory(dest.parent)
        return written, content_type, scarf_headers

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
    def _network_errors(self) -> Iterator[None]:
        """Turn httpx's transient network errors into TransientFailure."""
        try:
            yield
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
        self, method: str, shown_url: str, attempt: Callable[[], T], *, idempotent: bool
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
                self._sleep(wait)
        outcomes = ", ".join(record.outcome for record in history)
        raise ScarfRetriesExhaustedError(
            self._redactor.scrub(
                f"{method} {shown_url}: gave up after {len(history)} attempts ({outcomes}). "
                "Scarf kept failing with transient errors: re-run later, or raise max_attempts "
                "or backoff_max in ClientSettings."
            ),
            history=tuple(history),
            url=shown_url,
        )

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


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable; some platforms cannot open folders, which is fine."""
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
