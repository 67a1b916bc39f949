"""The cause of a failure in the project's own words: Dagster wraps every exception a step
raises in its own ("Error occurred while executing op ..."), and users read the last lines."""

from __future__ import annotations

from dagster_shared.error import SerializableErrorInfo

# Dagster's wrappers around the real error: skipped to reach the cause.
_WRAPPER_PREFIXES = ("Dagster", "ExceptionGroup")


def root_cause(error: SerializableErrorInfo) -> str:
    """The innermost non-Dagster error's message, e.g.
    "ScarfAuthError: Scarf rejected the API token (HTTP 401): check that SCARF_API_TOKEN ..."."""
    current = error
    while (current.cls_name or "").startswith(_WRAPPER_PREFIXES) and current.cause is not None:
        current = current.cause
    if (current.cls_name or "").startswith(_WRAPPER_PREFIXES) and current.context is not None:
        current = current.context
    message = current.message.strip()
    # "scarf_etl.client.errors.ScarfAuthError: ..." reads better as "ScarfAuthError: ...".
    qualified, separator, rest = message.partition(": ")
    if separator and current.cls_name and qualified.endswith(f".{current.cls_name}"):
        return f"{current.cls_name}: {rest}"
    return message
