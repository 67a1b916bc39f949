"""Client settings: where the API lives and how patiently to talk to it."""

from __future__ import annotations

from dataclasses import dataclass

from scarf_etl.client import _constants as c
from scarf_etl.client._version import __version__


@dataclass(frozen=True)
class ClientSettings:
    """Endpoints, timeouts, retry policy and concurrency. Holds no secret, so it is safe to log."""

    v1_url: str = c.DEFAULT_V1_URL
    v2_url: str = c.DEFAULT_V2_URL
    v3_url: str = c.DEFAULT_V3_URL
    connect_timeout: float = c.CONNECT_TIMEOUT_SECONDS
    read_timeout: float = c.READ_TIMEOUT_SECONDS
    max_attempts: int = c.MAX_ATTEMPTS
    backoff_initial: float = c.BACKOFF_INITIAL_SECONDS
    backoff_max: float = c.BACKOFF_MAX_SECONDS
    max_concurrency: int = c.MAX_CONCURRENCY
    user_agent: str = f"scarf-etl/{__version__}"
    retry_after_max: float = c.RETRY_AFTER_MAX_SECONDS
    notice_interval: float = c.NOTICE_INTERVAL_SECONDS
    progress_interval: float = c.PROGRESS_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if min(self.connect_timeout, self.read_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if self.backoff_initial < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ValueError("backoff and retry-after limits must not be negative")
        if min(self.notice_interval, self.progress_interval) <= 0:
            raise ValueError("notice_interval and progress_interval must be positive")
