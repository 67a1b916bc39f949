"""The Scarf HTTP client: typed endpoints, streamed exports, retries, typed errors.

Imports httpx and the standard library only; it knows nothing of Dagster.
"""

from scarf_etl.client.client import ScarfClient
from scarf_etl.client.errors import (
    AttemptRecord,
    IncompleteDownloadError,
    InvalidExportError,
    ScarfAuthError,
    ScarfBadRequestError,
    ScarfError,
    ScarfForbiddenError,
    ScarfNotFoundError,
    ScarfRedirectError,
    ScarfResponseError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.client.exports import Download, ExportKind, ExportRequest
from scarf_etl.client.models import (
    LibraryType,
    MemberRole,
    Organization,
    OrganizationMember,
    OrganizationUpsert,
    Package,
    PackageDomain,
    PackagePermission,
    PackagePermissionSet,
    PackageRoute,
    PackageUpsert,
    PermissionLevel,
)
from scarf_etl.client.settings import ClientSettings

__all__ = [
    "AttemptRecord",
    "ClientSettings",
    "Download",
    "ExportKind",
    "ExportRequest",
    "IncompleteDownloadError",
    "InvalidExportError",
    "LibraryType",
    "MemberRole",
    "Organization",
    "OrganizationMember",
    "OrganizationUpsert",
    "Package",
    "PackageDomain",
    "PackagePermission",
    "PackagePermissionSet",
    "PackageRoute",
    "PackageUpsert",
    "PermissionLevel",
    "ScarfAuthError",
    "ScarfBadRequestError",
    "ScarfClient",
    "ScarfError",
    "ScarfForbiddenError",
    "ScarfNotFoundError",
    "ScarfRedirectError",
    "ScarfResponseError",
    "ScarfRetriesExhaustedError",
]
