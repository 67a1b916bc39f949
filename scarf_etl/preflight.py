"""Pre-flight: what can be checked in seconds, before a run starts and before any export (a
billed call) is requested. Each refusal says which variable or argument to fix."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

from scarf_etl.client import (
    ClientSettings,
    ScarfAuthError,
    ScarfClient,
    ScarfError,
    ScarfNotFoundError,
)
from scarf_etl.partitions import partition_day, partitions_start
from scarf_etl.settings import PipelineSettings


class PreflightError(ValueError):
    """The configuration or the range cannot work; the message says what to fix."""


def newest_complete_day(now: dt.datetime | None = None) -> dt.date:
    """Yesterday in UTC: a partition is a complete UTC day."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date() - dt.timedelta(days=1)


def check_range(first: dt.date, last: dt.date, *, now: dt.datetime | None = None) -> None:
    if last < first:
        raise PreflightError(f"--to {last} is before --from {first}.")
    start = partition_day(partitions_start())
    if first < start:
        raise PreflightError(
            f"--from {first} is before the first daily partition, {start}. Load from {start} "
            "on, or move the start: set SCARF_PARTITIONS_START (e.g. "
            f"SCARF_PARTITIONS_START={first}) and restart `dagster dev` if it runs."
        )
    newest = newest_complete_day(now)
    if last > newest:
        raise PreflightError(
            f"--to {last} is not a complete UTC day yet: the newest day Scarf has closed is "
            f"{newest} (days end at midnight UTC). Use --to {newest} or earlier."
        )


def check_token_present(environ: dict[str, str] | None = None) -> str:
    token = (environ if environ is not None else os.environ).get("SCARF_API_TOKEN", "").strip()
    if not token:
        raise PreflightError(
            "SCARF_API_TOKEN is not set: copy your API token from the Scarf user account page "
            "(https://app.scarf.sh/user-account) into .env or the environment."
        )
    return token


def check_access(
    token: str, settings: PipelineSettings, report: Callable[[str], None] = print
) -> None:
    """One or two cheap calls: the token is accepted and the owner exists as its kind."""
    client_settings = ClientSettings(
        v1_url=settings.api_url, v2_url=settings.api_v2_url, v3_url=settings.api_v3_url
    )
    owner, kind = settings.owner, settings.owner_kind
    try:
        with ScarfClient(token, client_settings) as client:
            if kind == "organization":
                try:
                    client.get_organization(owner)
                except ScarfNotFoundError:
                    raise PreflightError(
                        f"Scarf has no organization {owner!r} that this token can see. Check "
                        "SCARF_OWNER (the organization's name as in its Scarf URL); if "
                        f"{owner!r} is a user account, set SCARF_OWNER_KIND=user."
                    ) from None
            else:
                client.list_packages()  # the token's own packages: accepted or not
                if _is_organization(client, owner):
                    raise PreflightError(
                        f"SCARF_OWNER_KIND=user, but {owner!r} is an organization: set "
                        "SCARF_OWNER_KIND=organization."
                    )
    except ScarfAuthError as error:
        raise PreflightError(str(error)) from None
    except ScarfError as error:
        raise PreflightError(f"pre-flight call to Scarf failed: {error}") from None
    report(f"pre-flight: token accepted, {kind} {owner!r} found")


def _is_organization(client: ScarfClient, name: str) -> bool:
    try:
        client.get_organization(name)
    except (ScarfNotFoundError, ScarfError):
        return False
    return True
