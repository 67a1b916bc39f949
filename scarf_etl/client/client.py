"""ScarfClient: a typed method per endpoint of the Scarf API, and streamed exports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from scarf_etl.client._constants import MAX_LIST_PAGES
from scarf_etl.client.errors import ScarfAuthError, ScarfResponseError
from scarf_etl.client.export_check import body_check_for
from scarf_etl.client.exports import Download, ExportRequest, export_location
from scarf_etl.client.models import (
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
)
from scarf_etl.client.paging import next_page, page_items
from scarf_etl.client.settings import ClientSettings
from scarf_etl.client.transport import Transport

M = TypeVar("M")


def _seg(value: str) -> str:
    return quote(value, safe="")


class ScarfClient:
    """Talks to the Scarf API with one pooled connection set; use it as a context manager.

    Every method raises `ScarfAuthError` (401), `ScarfForbiddenError` (403),
    `ScarfNotFoundError` (404), `ScarfBadRequestError` (400) at once, and
    `ScarfRetriesExhaustedError` when 429/5xx/network failures outlast `max_attempts`.
    Other statuses raise `ScarfError`; unreadable bodies `ScarfResponseError`.
    """

    def __init__(
        self,
        token: str,
        settings: ClientSettings = ClientSettings(),  # noqa: B008 - frozen, so sharing is safe
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token or not token.strip():
            # Fail before any (billable) call rather than send an empty credential.
            raise ScarfAuthError(
                "No Scarf API token given: set SCARF_API_TOKEN to the token from your Scarf "
                "account page."
            )
        self.settings = settings
        self._v1 = settings.v1_url.rstrip("/")
        self._transport = Transport(token.strip(), settings, sleep=sleep)

    def __repr__(self) -> str:
        return f"ScarfClient(v1_url={self._v1!r}, v2_url={self.settings.v2_url!r})"

    __str__ = __repr__

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    # -- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        params: dict[str, str] | None = None,
        body: object = None,
        idempotent: bool = True,
    ) -> Any:
        return self._transport.request_json(
            method,
            f"{self._v1}{path}",
            subject=subject,
            params=params,
            body=body,
            idempotent=idempotent,
        )

    def _iter_list(self, path: str, *, subject: str) -> Iterator[Any]:
        """Every row of a list endpoint, following the server's paging if it pages."""
        url = f"{self._v1}{path}"
        params: dict[str, str] = {}
        for _ in range(MAX_LIST_PAGES):
            body = self._transport.request_json("GET", url, subject=subject, params=params)
            yield from page_items(body)
            following = next_page(body, params)
            if following is None:
                return
            if following.url is not None:
                url = _same_origin(url, following.url)
                params = {}
            else:
                params = following.params
        raise ScarfResponseError(f"{subject}: still paging after {MAX_LIST_PAGES} pages")

    def _list(self, model: Callable[[Any], M], path: str, *, subject: str) -> list[M]:
        return [model(row) for row in self._iter_list(path, subject=subject)]

    def _one(self, model: Callable[[Any], M], body: Any, *, subject: str) -> M:
        if not isinstance(body, dict):
            raise ScarfResponseError(f"{subject}: expected a JSON object in the response")
        return model(body)

    # -- organizations --------------------------------------------------------------------

    def get_organization(self, name: str) -> Organization:
        """GET /organizations/{name}. Raises ScarfNotFoundError if there is no such org."""
        subject = f"organization {name!r}"
        body = self._call("GET", f"/organizations/{_seg(name)}", subject=subject)
        return self._one(Organization.from_json, body, subject=subject)

    def create_organization(self, upsert: OrganizationUpsert) -> Organization:
        """POST /organizations; the token's user becomes its owner. Not retried after 5xx."""
        subject = f"new organization {upsert.name!r}"
        body = self._call(
            "POST", "/organizations", subject=subject, body=upsert.to_json(), idempotent=False
        )
        return self._one(Organization.from_json, body, subject=subject)

    def update_organization(self, name: str, upsert: OrganizationUpsert) -> Organization:
        """PUT /organizations/{name}; `upsert` is the whole organization, its name the new one."""
        subject = f"organization {name!r}"
        path = f"/organizations/{_seg(name)}"
        body = self._call("PUT", path, subject=subject, body=upsert.to_json())
        return self._one(Organization.from_json, body, subject=subject)

    def list_organization_packages(self, name: str) -> list[Package]:
        """GET /organizations/{name}/packages, every page."""
        return self._list(
            Package.from_json,
            f"/organizations/{_seg(name)}/packages",
            subject=f"packages of organization {name!r}",
        )

    def create_organization_package(self, organization: str, upsert: PackageUpsert) -> Package:
        """POST /organizations/{organization}/packages. Not retried after 5xx."""
        subject = f"new package {upsert.name!r} of organization {organization!r}"
        path = f"/organizations/{_seg(organization)}/packages"
        body = self._call("POST", path, subject=subject, body=upsert.to_json(), idempotent=False)
        return self._one(Package.from_json, body, subject=subject)

    def list_organization_members(self, name: str) -> list[OrganizationMember]:
        """GET /organizations/{name}/users, every page."""
        return self._list(
            OrganizationMember.from_json,
            f"/organizations/{_seg(name)}/users",
            subject=f"members of organization {name!r}",
        )

    def upsert_organization_member(
        self, organization: str, username: str, role: MemberRole
    ) -> OrganizationMember:
        """POST /organizations/{organization}/users: add `username` or change their role."""
        subject = f"member {username!r} of organization {organization!r}"
        payload = {"username": username, "role": role}
        # An upsert lands in the same state however often it is sent, so retrying is safe.
        body = self._call(
            "POST", f"/organizations/{_seg(organization)}/users", subject=subject, body=payload
        )
        if body is None:
            return OrganizationMember(organization, username, role)
        return self._one(OrganizationMember.from_json, body, subject=subject)

    def remove_organization_member(self, organization: str, username: str) -> None:
        """DELETE /organizations/{organization}/users/{username}."""
        self._call(
            "DELETE",
            f"/organizations/{_seg(organization)}/users/{_seg(username)}",
            subject=f"member {username!r} of organization {organization!r}",
        )

    # -- packages -------------------------------------------------------------------------

    def list_packages(self) -> list[Package]:
        """GET /packages: every package the token's user can see, every page."""
        return self._list(Package.from_json, "/packages", subject="packages of the token's user")

    def get_package(self, id_or_name: str, package_type: str | None = None) -> Package:
        """GET /packages/{id_or_name}; `package_type` picks among same-named packages."""
        subject = f"package {id_or_name!r}"
        params = {"packageType": package_type} if package_type else None
        body = self._call("GET", f"/packages/{_seg(id_or_name)}", subject=subject, params=params)
        return self._one(Package.from_json, body, subject=subject)

    def create_package(self, upsert: PackageUpsert) -> Package:
        """POST /packages, owned by the token's user. Not retried after 5xx."""
        subject = f"new package {upsert.name!r}"
        body = self._call(
            "POST", "/packages", subject=subject, body=upsert.to_json(), idempotent=False
        )
        return self._one(Package.from_json, body, subject=subject)

    def update_package(self, package_id: str, upsert: PackageUpsert) -> Package:
        """PUT /packages/{package_id}; `upsert` is the whole package.

        `upsert.library_type` is never sent: Scarf fixes it at creation, so the package keeps
        its type and one upsert can serve both create and update.
        """
        subject = f"package {package_id!r}"
        payload = replace(upsert, library_type=None).to_json()
        body = self._call("PUT", f"/packages/{_seg(package_id)}", subject=subject, body=payload)
        return self._one(Package.from_json, body, subject=subject)

    def delete_package(self, package_id: str) -> None:
        """DELETE /packages/{package_id}."""
        self._call("DELETE", f"/packages/{_seg(package_id)}", subject=f"package {package_id!r}")

    def get_package_permissions(self, package_id: str) -> list[PackagePermission]:
        """GET /packages/{package_id}/permissions, every page."""
        return self._list(
            PackagePermission.from_json,
            f"/packages/{_seg(package_id)}/permissions",
            subject=f"permissions of package {package_id!r}",
        )

    def set_package_permissions(
        self,
        package_id: str,
        permissions: PackagePermissionSet | Sequence[PackagePermissionSet],
    ) -> None:
        """POST /packages/{package_id}/permissions with one or many PackagePermissionSetV1."""
        payload: object
        if isinstance(permissions, PackagePermissionSet):
            payload = permissions.to_json()
        else:
            payload = [permission.to_json() for permission in permissions]
        # Setting a level is idempotent: repeating it after a lost answer changes nothing.
        self._call(
            "POST",
            f"/packages/{_seg(package_id)}/permissions",
            subject=f"permissions of package {package_id!r}",
            body=payload,
        )

    # -- file and python package routing ---------------------------------------------------

    def list_package_routes(self, package_id: str) -> list[PackageRoute]:
        """GET /packages/{package_id}/routes, every page."""
        return self._list(
            PackageRoute.from_json,
            f"/packages/{_seg(package_id)}/routes",
            subject=f"routes of package {package_id!r}",
        )

    def create_package_route(
        self, package_id: str, outgoing_url: str, template_path: str
    ) -> PackageRoute:
        """POST /packages/{package_id}/routes. Not retried after 5xx."""
        subject = f"new route of package {package_id!r}"
        body = self._call(
            "POST",
            f"/packages/{_seg(package_id)}/routes",
            subject=subject,
            body={"outgoingUrl": outgoing_url, "templatePath": template_path},
            idempotent=False,
        )
        return self._one(PackageRoute.from_json, body, subject=subject)

    def delete_package_route(self, package_id: str, route_id: str) -> None:
        """DELETE /packages/{package_id}/routes/{route_id}."""
        self._call(
            "DELETE",
            f"/packages/{_seg(package_id)}/routes/{_seg(route_id)}",
            subject=f"route {route_id!r} of package {package_id!r}",
        )

    def list_package_domains(self, package_id: str) -> list[PackageDomain]:
        """GET /packages/{package_id}/domains, every page."""
        return self._list(
            PackageDomain.from_json,
            f"/packages/{_seg(package_id)}/domains",
            subject=f"domains of package {package_id!r}",
        )

    def create_package_domain(self, package_id: str, name: str) -> PackageDomain:
        """POST /packages/{package_id}/domains. Not retried after 5xx."""
        subject = f"new domain {name!r} of package {package_id!r}"
        body = self._call(
            "POST",
            f"/packages/{_seg(package_id)}/domains",
            subject=subject,
            body={"name": name},
            idempotent=False,
        )
        return self._one(PackageDomain.from_json, body, subject=subject)

    def delete_package_domain(self, package_id: str, domain_id: str) -> None:
        """DELETE /packages/{package_id}/domains/{domain_id}."""
        self._call(
            "DELETE",
            f"/packages/{_seg(package_id)}/domains/{_seg(domain_id)}",
            subject=f"domain {domain_id!r} of package {package_id!r}",
        )

    # -- exports --------------------------------------------------------------------------

    def download(self, request: ExportRequest) -> Download:
        """Stream one export to `request.dest`: the file is complete and checked, or untouched.

        The body must look like its kind (a CSV header with a `time` column; NDJSON objects, or
        nothing) before it replaces `dest`; one that does not is retried, and raises
        `InvalidExportError` if the last attempt fails the check too. A redirect to another
        host that then refuses the token raises `ScarfRedirectError`. Raises the typed errors
        above; a 403 with code `not-a-pro-member` (v3: any 403) means
        data export is not on the owner's plan.
        """
        url, params = export_location(
            request,
            v1_url=self.settings.v1_url,
            v2_url=self.settings.v2_url,
            v3_url=self.settings.v3_url,
        )
        fetched = self._transport.download(
            url,
            params,
            request.dest,
            subject=f"export {request.describe()}",
            body_check=lambda: body_check_for(request.kind),
        )
        return Download(
            request=request,
            path=request.dest,
            bytes=fetched.bytes,
            rows=fetched.rows,
            content_type=fetched.content_type,
            attempts=fetched.attempts,
            url=fetched.url,
            scarf_headers=fetched.scarf_headers,
        )

    def download_all(self, requests: Sequence[ExportRequest]) -> list[Download]:
        """Download many exports, at most `settings.max_concurrency` at a time.

        Results are in input order. On the first failure, exports not yet started are
        skipped, those in flight finish (each file complete or absent), and that first error
        is raised.
        """
        if not requests:
            return []
        workers = min(self.settings.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scarf-export") as pool:
            futures = [pool.submit(self.download, request) for request in requests]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = _first_failure(futures, done)
            if failed is not None:
                for future in pending:
                    future.cancel()  # not started yet: spare the billable call
                wait(pending)
                raise failed
        return [future.result() for future in futures]


def _first_failure(
    futures: Sequence[Future[Download]], done: set[Future[Download]]
) -> BaseException | None:
    for future in futures:
        if future in done and not future.cancelled() and future.exception() is not None:
            return future.exception()
    return None


def _same_origin(current: str, following: str) -> str:
    """Resolve a `next` link, refusing one that would carry the token to another host."""
    base = httpx.URL(current)
    target = base.join(following)
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        raise ScarfResponseError(
            f"the server's next-page link points to another host ({target.host}); not followed"
        )
    return str(target)
