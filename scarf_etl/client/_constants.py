"""Every network knob of the Scarf client, named in one place."""

from __future__ import annotations

DEFAULT_V1_URL = "https://scarf.sh/api/v1"
DEFAULT_V2_URL = "https://api.scarf.sh/v2"
DEFAULT_V3_URL = "https://api.scarf.sh/v3"

# Scarf builds an export before its first byte, so reads wait far longer than connects.
CONNECT_TIMEOUT_SECONDS = 10.0
# Also the stall limit of a download: httpx has one read timeout per request, so a server that
# sends nothing for this long, before the first byte or between two bytes, has stalled; the
# attempt fails and is retried like a 5xx.
READ_TIMEOUT_SECONDS = 120.0
WRITE_TIMEOUT_SECONDS = 30.0
# Waiting for a pooled connection; our own semaphore keeps this from triggering in normal use.
POOL_TIMEOUT_SECONDS = 60.0

MAX_ATTEMPTS = 5
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
# A server asking for a longer pause than this gets this much: a job should fail and be
# re-run later rather than hang for an hour on one header.
RETRY_AFTER_MAX_SECONDS = 120.0

MAX_CONCURRENCY = 4

# No wait is silent for longer than this: a retry pause, a slow first byte or a stalled body
# logs a line (logger "scarf_etl.client", INFO) at least this often.
NOTICE_INTERVAL_SECONDS = 15.0
# A healthy long download logs its progress at most this often.
PROGRESS_INTERVAL_SECONDS = 10.0

# Statuses worth another attempt: the server may answer differently next time.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

DOWNLOAD_CHUNK_BYTES = 64 * 1024

# A paged list endpoint that keeps answering "more" after this many pages is broken,
# not large: stop rather than loop (and bill) forever.
MAX_LIST_PAGES = 10_000
