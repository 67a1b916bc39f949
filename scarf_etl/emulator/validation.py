"""Request validation per the v1 page: each violation is a 400 whose message names the field."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scarf_etl.emulator import world
from scarf_etl.emulator.errors import bad_request

_DOCKER_PATH_PART = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the request body must be JSON") from None


def json_object(raw: bytes) -> dict[str, Any]:
    body = json_body(raw)
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def required_text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{field} is required and must be a non-empty string")
    return value


def optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{field} must be a string")
    return value


def one_of(
    body: dict[str, Any], field: str, allowed: tuple[str, ...], *, required: bool
) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if value not in allowed:
        raise bad_request(f"{field} must be one of {', '.join(allowed)}")
    return str(value)


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def optional_url(body: dict[str, Any], field: str) -> str | None:
    value = optional_text(body, field)
    if value is not None and not is_url(value):
        raise bad_request(f"{field} must be a valid http(s) URL")
    return value


@dataclass(frozen=True)
class OrganizationUpsert:
    name: str
    description: str
    website: str | None
    billing_email: str


def organization_upsert(body: dict[str, Any]) -> OrganizationUpsert:
    name = required_text(body, "name")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise bad_request("name may contain only lowercase letters, digits and '-'")
    description = optional_text(body, "description")
    if description is None:
        raise bad_request("description is required")
    website = optional_url(body, "website")
    billing_email = required_text(body, "billingEmail")
    if not _EMAIL.fullmatch(billing_email):
        raise bad_request("billingEmail must be an email address")
    return OrganizationUpsert(name, description, website, billing_email)


@dataclass(frozen=True)
class PackageUpsert:
    name: str
    short_description: str
    long_description: str | None
    website: str | None
    library_type: str | None
    backend_url: str | None
    public_url: str | None
    repository_url: str | None


def package_upsert(body: dict[str, Any], current_library_type: str | None = None) -> PackageUpsert:
    """Validate a PackageUpsertV1; pass `current_library_type` when updating."""
    name = required_text(body, "name")
    short_description = required_text(body, "shortDescription")
    library_type = one_of(body, "libraryType", world.LIBRARY_TYPES, required=False)
    if current_library_type is not None and library_type not in (None, current_library_type):
        raise bad_request("libraryType cannot be changed after the package is created")
    effective_type = library_type or current_library_type
    backend_url = optional_text(body, "backendUrl")
    public_url = optional_text(body, "publicUrl")
    if (backend_url is not None or public_url is not None) and effective_type != "docker":
        field = "backendUrl" if backend_url is not None else "publicUrl"
        raise bad_request(f"{field} is only allowed for docker packages")
    if backend_url is not None:
        _check_docker_backend(backend_url)
    if public_url is not None:
        if backend_url is None:
            raise bad_request("publicUrl needs a backendUrl to match")
        if not is_url(public_url) or _path_parts(public_url) != _path_parts(backend_url):
            raise bad_request("publicUrl must be a valid URL with backendUrl's path parts")
    repository_url = optional_text(body, "repositoryURL")
    if repository_url is not None:
        if effective_type != "pypi":
            raise bad_request("repositoryURL is only allowed for python (pypi) packages")
        if not is_url(repository_url):
            raise bad_request("repositoryURL must be a valid http(s) URL")
    return PackageUpsert(
        name=name,
        short_description=short_description,
        long_description=optional_text(body, "longDescription"),
        website=optional_url(body, "website"),
        library_type=effective_type,
        backend_url=backend_url,
        public_url=public_url,
        repository_url=repository_url,
    )


def _path_parts(url: str) -> list[str]:
    return [part for part in urlsplit(url).path.split("/") if part]


def _check_docker_backend(url: str) -> None:
    parts = _path_parts(url) if is_url(url) else []
    if not parts or not all(_DOCKER_PATH_PART.fullmatch(p) for p in parts):
        raise bad_request(
            "backendUrl must be a valid URL with at least one path component, each matching "
            "[a-z0-9]+(?:[._-][a-z0-9]+)*"
        )


def member_upsert(body: dict[str, Any]) -> tuple[str, str]:
    username = required_text(body, "username")
    role = one_of(body, "role", world.ROLES, required=True)
    assert role is not None
    return username, role


def permission_sets(raw: bytes) -> list[tuple[str, str]]:
    """A single PackagePermissionSetV1 or an array of them, as (userQuery, permissionLevel)."""
    body = json_body(raw)
    items = body if isinstance(body, list) else [body]
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_request("each permission must be a JSON object")
        query = required_text(item, "userQuery")
        level = one_of(item, "permissionLevel", world.PERMISSION_LEVELS, required=True)
        assert level is not None
        result.append((query, level))
    return result


def route_create(body: dict[str, Any]) -> tuple[str, str]:
    outgoing = required_text(body, "outgoingUrl")
    if not is_url(outgoing):
        raise bad_request("outgoingUrl must be a valid http(s) URL")
    template = required_text(body, "templatePath")
    if not template.startswith("/"):
        raise bad_request("templatePath must start with '/'")
    return outgoing, template


def domain_create(body: dict[str, Any]) -> str:
    name = required_text(body, "name").lower()
    if not _DOMAIN.fullmatch(name):
        raise bad_request("name must be a full domain name such as get.example.com")
    return name


def export_window(
    start: str | None,
    end: str | None,
    *,
    start_field: str,
    end_field: str,
    today: datetime.date,
    max_days: int | None = None,
) -> list[datetime.date]:
    """The days of [start, end); v2 passes both, v1 defaults to the 30 days before today.
    Longer than `max_days` (or the emulator's general limit) is `range-too-long`."""
    end_day = _date(end, end_field) if end is not None else today
    if start is not None:
        start_day = _date(start, start_field)
    else:
        start_day = end_day - datetime.timedelta(days=30)
    if end_day <= start_day:
        raise bad_request(f"{end_field} must be after {start_field}", "invalid-date-range")
    days = (end_day - start_day).days
    limit = world.MAX_WINDOW_DAYS if max_days is None else min(max_days, world.MAX_WINDOW_DAYS)
    if days > limit:
        raise bad_request(
            f"the window {start_field}..{end_field} spans {days} days; at most {limit} are allowed",
            "range-too-long",
        )
    return [start_day + datetime.timedelta(days=i) for i in range(days)]


def required_dates(start: str | None, end: str | None) -> tuple[str, str]:
    for field, value in (("start_date", start), ("end_date", end)):
        if value is None:
            raise bad_request(f"{field} is required (YYYY-MM-DD)", "invalid-date")
    assert start is not None and end is not None
    return start, end


def _date(value: str, field: str) -> datetime.date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise bad_request(f"{field} must be a date in YYYY-MM-DD format", "invalid-date")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{field} is not a valid date", "invalid-date") from None
