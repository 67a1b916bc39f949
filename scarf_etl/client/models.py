"""Typed records mirroring the V1 models of the Scarf API page, with snake_case attributes.

Read models (`from_json`) take the decoded JSON object and ignore keys they do not know, since
Scarf adds fields over time; a missing required field raises `ScarfResponseError`. Request
models (`to_json`) emit the page's camelCase names and leave out fields that are None.
Each attribute maps to the camelCase form of its name unless its `json_key` metadata says
otherwise, so a model is declared once, as its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, Field, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from scarf_etl.client.errors import ScarfResponseError

PermissionLevel = Literal["blocked", "default", "member", "admin"]
MemberRole = Literal["member", "admin", "owner"]
LibraryType = Literal["docker", "npm", "hackage", "pypi", "other"]


def _required(data: dict[str, Any], key: str, model: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise ScarfResponseError(f"{model} from Scarf lacks the field {key!r}") from None


def _text(data: dict[str, Any], key: str, model: str) -> str:
    return str(_required(data, key, model))


def _optional_text(data: dict[str, Any], key: str, model: str) -> str | None:
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


# How a read model's attribute is parsed, by its annotation (a string under postponed
# evaluation of annotations).
_READERS: dict[str, Callable[[dict[str, Any], str, str], Any]] = {
    "str": _text,
    "str | None": _optional_text,
    "datetime": _timestamp,
}


def _json_key(attribute: Field[Any]) -> str:
    explicit = attribute.metadata.get("json_key")
    if explicit is not None:
        return str(explicit)
    head, *rest = attribute.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _reader(model: str, attribute: Field[Any]) -> Callable[[dict[str, Any], str, str], Any]:
    try:
        return _READERS[str(attribute.type)]
    except KeyError:
        raise TypeError(f"{model}.{attribute.name}: no JSON reader for {attribute.type}") from None


class _ReadModel:
    """Mixin for frozen dataclasses built from a V1 response object."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    _api_name: ClassVar[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Raises ScarfResponseError if `data` is not an object or lacks a required field."""
        model = cls._api_name
        data = _object(data, model)
        values = {a.name: _reader(model, a)(data, _json_key(a), model) for a in fields(cls)}
        return cls(**values)


class _RequestModel:
    """Mixin for frozen dataclasses sent as a V1 request body."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def to_json(self) -> dict[str, Any]:
        """The request body: the page's camelCase names, fields that are None left out."""
        values = ((_json_key(a), getattr(self, a.name)) for a in fields(self))
        return {key: value for key, value in values if value is not None}


# -- read models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Organization(_ReadModel):
    """OrganizationV1."""

    _api_name: ClassVar[str] = "OrganizationV1"

    name: str
    description: str
    billing_email: str
    created_at: datetime
    updated_at: datetime
    website: str | None = None


@dataclass(frozen=True)
class OrganizationMember(_ReadModel):
    """OrganizationMemberV1."""

    _api_name: ClassVar[str] = "OrganizationMemberV1"

    organization_name: str
    username: str
    role: str


@dataclass(frozen=True)
class Package(_ReadModel):
    """PackageV1."""

    _api_name: ClassVar[str] = "PackageV1"

    uuid: str
    owner: str
    name: str
    short_description: str
    created_at: datetime
    long_description: str | None = None
    website: str | None = None
    library_type: str | None = None


@dataclass(frozen=True)
class PackagePermission(_ReadModel):
    """PackagePermissionGetV1."""

    _api_name: ClassVar[str] = "PackagePermissionGetV1"

    username: str
    permission_level: str


@dataclass(frozen=True)
class PackageRoute(_ReadModel):
    """PackageRouteV1."""

    _api_name: ClassVar[str] = "PackageRouteV1"

    id: str
    outgoing_url: str
    template_path: str


@dataclass(frozen=True)
class PackageDomain(_ReadModel):
    """PackageDomainV1."""

    _api_name: ClassVar[str] = "PackageDomainV1"

    id: str
    name: str


# -- request models -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationUpsert(_RequestModel):
    """OrganizationUpsertV1: the whole organization, for create and update alike."""

    name: str
    description: str
    billing_email: str
    website: str | None = None


@dataclass(frozen=True)
class PackageUpsert(_RequestModel):
    """PackageUpsertV1: the whole package, for create and update alike.

    `backend_url`/`public_url` are for docker packages, `repository_url` for pypi ones.
    """

    name: str
    short_description: str
    _: KW_ONLY
    long_description: str | None = None
    website: str | None = None
    library_type: LibraryType | None = None
    backend_url: str | None = None
    public_url: str | None = None
    # The page spells this one key with a capital URL, unlike backendUrl and publicUrl.
    repository_url: str | None = field(default=None, metadata={"json_key": "repositoryURL"})


@dataclass(frozen=True)
class PackagePermissionSet(_RequestModel):
    """PackagePermissionSetV1: grant `permission_level` to the user found by `user_query`."""

    user_query: str  # an email or a username
    permission_level: PermissionLevel
