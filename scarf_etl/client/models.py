"""Typed records mirroring the V1 models of the Scarf API page, with snake_case attributes.

`from_json` takes the decoded JSON object and ignores keys it does not know, since Scarf adds
fields over time. A missing required field raises `ScarfResponseError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self

from scarf_etl.client.errors import ScarfResponseError

PermissionLevel = Literal["blocked", "default", "member", "admin"]
MemberRole = Literal["member", "admin", "owner"]


def _required(data: dict[str, Any], key: str, model: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise ScarfResponseError(f"{model} from Scarf lacks the field {key!r}") from None


def _text(data: dict[str, Any], key: str, model: str) -> str:
    return str(_required(data, key, model))


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _timestamp(data: dict[str, Any], key: str, model: str) -> datetime:
    raw = _text(data, key, model)
    try:
        parsed = datetime.fromisoformat(raw.replace(" UTC", "+00:00"))
    except ValueError:
        raise ScarfResponseError(f"{model}.{key} is not a timestamp: {raw[:40]!r}") from None
    # Scarf's timestamps are UTC; a value without an offset is read as UTC, never local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _object(data: object, model: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScarfResponseError(f"expected a JSON object for {model}, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Organization:
    """OrganizationV1."""

    name: str
    description: str
    billing_email: str
    created_at: datetime
    updated_at: datetime
    website: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "OrganizationV1"
        data = _object(data, m)
        return cls(
            name=_text(data, "name", m),
            description=_text(data, "description", m),
            billing_email=_text(data, "billingEmail", m),
            created_at=_timestamp(data, "createdAt", m),
            updated_at=_timestamp(data, "updatedAt", m),
            website=_optional_text(data, "website"),
        )


@dataclass(frozen=True)
class OrganizationMember:
    """OrganizationMemberV1."""

    organization_name: str
    username: str
    role: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "OrganizationMemberV1"
        data = _object(data, m)
        return cls(
            organization_name=_text(data, "organizationName", m),
            username=_text(data, "username", m),
            role=_text(data, "role", m),
        )


@dataclass(frozen=True)
class Package:
    """PackageV1."""

    uuid: str
    owner: str
    name: str
    short_description: str
    created_at: datetime
    long_description: str | None = None
    website: str | None = None
    library_type: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "PackageV1"
        data = _object(data, m)
        return cls(
            uuid=_text(data, "uuid", m),
            owner=_text(data, "owner", m),
            name=_text(data, "name", m),
            short_description=_text(data, "shortDescription", m),
            created_at=_timestamp(data, "createdAt", m),
            long_description=_optional_text(data, "longDescription"),
            website=_optional_text(data, "website"),
            library_type=_optional_text(data, "libraryType"),
        )


@dataclass(frozen=True)
class PackagePermission:
    """PackagePermissionGetV1."""

    username: str
    permission_level: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "PackagePermissionGetV1"
        data = _object(data, m)
        return cls(
            username=_text(data, "username", m),
            permission_level=_text(data, "permissionLevel", m),
        )


@dataclass(frozen=True)
class PackagePermissionSet:
    """PackagePermissionSetV1: grant `permission_level` to the user found by `user_query`."""

    user_query: str  # an email or a username
    permission_level: PermissionLevel

    def to_json(self) -> dict[str, str]:
        return {"userQuery": self.user_query, "permissionLevel": self.permission_level}


@dataclass(frozen=True)
class PackageRoute:
    """PackageRouteV1."""

    id: str
    outgoing_url: str
    template_path: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "PackageRouteV1"
        data = _object(data, m)
        return cls(
            id=_text(data, "id", m),
            outgoing_url=_text(data, "outgoingUrl", m),
            template_path=_text(data, "templatePath", m),
        )


@dataclass(frozen=True)
class PackageDomain:
    """PackageDomainV1."""

    id: str
    name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        m = "PackageDomainV1"
        data = _object(data, m)
        return cls(id=_text(data, "id", m), name=_text(data, "name", m))
