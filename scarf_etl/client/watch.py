"""No silent waits: what a download is doing while it takes long, on the client's logger.

One watchdog thread per client keeps an eye on every download in flight and logs "still
downloading ..." for one that received nothing for `notice_interval`, repeated that often while
the silence lasts (before the first byte as well as mid-body). The streaming loop itself logs
progress at most every `progress_interval`. One shared thread, not one per download, so that a
download costs no thread start and join.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from scarf_etl.client.settings import ClientSettings

logger = logging.getLogger("scarf_etl.client")


def seconds(value: float) -> str:
    """A duration for a log line: whole seconds from 10 s up, else one decimal."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


class DownloadWatch:
    """One download's bytes so far and when the last one came. A context manager: watched by
    its Watchdog from enter to exit."""

    def __init__(self, subject: str, settings: ClientSettings, watchdog: Watchdog) -> None:
        self.subject = subject
        self.bytes = 0
        self._watchdog = watchdog
        self._notice = settings.notice_interval
        self._progress = settings.progress_interval
        self._read_timeout = settings.read_timeout
        now = watchdog.clock()
        self._started = self._last_byte = self._last_progress = now
        self._last_notice = float("-inf")

    def __enter__(self) -> DownloadWatch:
        self._watchdog.add(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._watchdog.remove(self)

    def first_byte(self) -> None:
        """The response headers arrived: the server is sending."""
        self._last_byte = self._watchdog.clock()

    def advance(self, received: int) -> None:
        now = self._watchdog.clock()
        self.bytes += received
        self._last_byte = now
        if now - self._last_progress >= self._progress:
            self._last_progress = now
            logger.info(
                "downloading %s: %s so far after %s s",
                self.subject,
                megabytes(self.bytes),
                seconds(now - self._started),
            )

    def stall_detail(self) -> str:
        """What to say when the read timeout ended the attempt."""
        return (
            f"Scarf stopped sending {self.subject}: no bytes for {seconds(self._read_timeout)} s "
            f"after {megabytes(self.bytes)} (the read timeout)"
        )

    def notice_due(self) -> float:
        """When the next "still downloading" line is due, if no byte comes before."""
        return max(self._last_byte, self._last_notice) + self._notice

    def quiet_notice(self, now: float) -> str | None:
        """The "still downloading" line if one is due at `now` (and mark it said)."""
        silent = now - self._last_byte
        if silent < self._notice or now - self._last_notice < self._notice:
            return None
        self._last_notice = now
        return (
            f"still downloading {self.subject}: {megabytes(self.bytes)} so far, "
            f"no bytes for {seconds(silent)} s"
        )


class Watchdog:
    """The thread that logs quiet downloads; started on the first download, stopped by close()."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._changed = threading.Condition()
        self._watched: set[DownloadWatch] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, subject: str, settings: ClientSettings) -> DownloadWatch:
        return DownloadWatch(subject, settings, self)

    def add(self, watch: DownloadWatch) -> None:
        with self._changed:
            self._watched.add(watch)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="scarf-download-watchdog", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def remove(self, watch: DownloadWatch) -> None:
        with self._changed:
            self._watched.discard(watch)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._closed:
                    return
                now = self.clock()
                lines = [line for w in self._watched if (line := w.quiet_notice(now)) is not None]
            # Logged outside the lock: a slow log handler must not hold up downloads.
            for line in lines:
                logger.info("%s", line)
            with self._changed:
                if self._closed:
                    return
                # Computed and waited on under one hold of the lock, so a download added
                # meanwhile (add() notifies under the lock) is never missed.
                due = min((w.notice_due() for w in self._watched), default=None)
                self._changed.wait(None if due is None else max(0.0, due - self.clock()))
