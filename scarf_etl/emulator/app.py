"""The Starlette app: v1 routes under /api/v1, v2 event exports under /v2, Bearer auth.

Handlers are thin: validation is in `validation`, the access rule in `state`, bodies in
`csv_export`. Refusal faults reach export requests, or every request under `scope="all"`;
body faults reach exports only (see `faults`).
"""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from scarf_etl.emulator import v3_aggregates, validation, world
from scarf_etl.emulator.csv_export import AggregateExport, CsvExport
from scarf_etl.emulator.errors import ApiError, bad_request, not_found
from scarf_etl.emulator.events import V1_COLUMNS, V2_COLUMNS, EventCache, EventSource
from scarf_etl.emulator.faults import BodyFault, FaultCounter, Faults, Verdict, hostile_packages
from scarf_etl.emulator.state import OrganizationRecord, PackageRecord, Store

CSV_TYPE = "text/csv; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
# What the html body fault serves: a page like a login wall or a proxy's error page.
HTML_FAULT_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in - Scarf</title></head>"
    "<body><h1>Please sign in</h1></body></html>\n"
)
JSON_FAULT_ERROR = {"error": "export temporarily unavailable, please retry"}


# How long `reset()` waits for requests still being answered (a slow first byte is under 1 s).
RESET_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class RequestRecord:
    """One served request, as tests inspect it (no headers: they would carry the token)."""

    method: str
    path: str
    query: str
    status: int


class Emulator:
    """Everything one emulator instance holds: the store, the events, the faults, the log."""

    def __init__(self, *, seed: int, events_per_day: int, faults: Faults | None = None) -> None:
        self.store = Store()
        self.events = EventCache(seed, events_per_day)
        self.faults = faults if faults is not None else Faults()
        self.fault_counter = FaultCounter()
        self.requests: list[RequestRecord] = []
        self.in_flight = InFlight()

    def reset(self) -> None:
        # A request a client gave up on (a timeout) may still be finishing on the server; let it
        # land in this test's log rather than the next one's.
        self.in_flight.wait_idle(RESET_WAIT_SECONDS)
        self.store.reset()
        self.faults = Faults()
        self.fault_counter.reset()
        self.requests.clear()

    def owner_packages(self, owner: str) -> list[PackageRecord]:
        """All of `owner`'s packages in export order, regardless of who asks."""
        with self.store.lock:
            return sorted(
                (p for p in self.store.packages.values() if p.owner == owner),
                key=lambda p: (p.name, p.library_type or "", p.uuid),
            )


Handler = Callable[[Request], Awaitable[Response]]


def build_app(emulator: Emulator) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving `emulator`, wrapped so every request lands in `emulator.requests`."""
    api = _Api(emulator)
    v1 = "/api/v1"

    def json_route(path: str, method: str, endpoint: Handler) -> Route:
        return Route(path, api.with_refusals(endpoint), methods=[method])

    def export_route(path: str, endpoint: Handler) -> Route:
        # Export handlers take their refusals in `admit_export`, which also hands them the
        # body faults in force.
        return Route(path, endpoint, methods=["GET"])

    org = f"{v1}/organizations/{{org}}"
    pkg = f"{v1}/packages/{{pkg}}"
    routes = [
        json_route(f"{v1}/organizations", "POST", api.create_organization),
        json_route(org, "GET", api.get_organization),
        json_route(org, "PUT", api.update_organization),
        json_route(f"{org}/packages", "GET", api.list_org_packages),
        json_route(f"{org}/packages", "POST", api.create_org_package),
        json_route(f"{org}/users", "GET", api.list_members),
        json_route(f"{org}/users", "POST", api.upsert_member),
        json_route(f"{org}/users/{{username}}", "DELETE", api.remove_member),
        json_route(f"{v1}/packages", "GET", api.list_packages),
        json_route(f"{v1}/packages", "POST", api.create_package),
        json_route(pkg, "GET", api.get_package),
        json_route(pkg, "PUT", api.update_package),
        json_route(pkg, "DELETE", api.delete_package),
        json_route(f"{pkg}/permissions", "GET", api.get_permissions),
        json_route(f"{pkg}/permissions", "POST", api.set_permissions),
        json_route(f"{pkg}/routes", "GET", api.list_routes),
        json_route(f"{pkg}/routes", "POST", api.create_route),
        json_route(f"{pkg}/routes/{{item}}", "DELETE", api.delete_route),
        json_route(f"{pkg}/domains", "GET", api.list_domains),
        json_route(f"{pkg}/domains", "POST", api.create_domain),
        json_route(f"{pkg}/domains/{{item}}", "DELETE", api.delete_domain),
        export_route(f"{org}/aggregates", api.org_aggregates),
        export_route(f"{v1}/users/{{username}}/aggregates", api.user_aggregates),
        # `pkg:path`: a package id holding "/" (hostile_package_ids) arrives percent-decoded.
        export_route(
            f"{v1}/packages/{{owner}}/{{pkg:path}}/events/{{filename}}", api.v1_package_events
        ),
        export_route(f"{v1}/pixels/events/{{filename}}", api.v1_pixel_events),
        export_route("/v2/packages/{owner}/events", api.v2_owner_events),
        export_route("/v2/packages/{owner}/aggregates", api.v2_aggregates),
        export_route("/v2/packages/{owner}/{pkg:path}/events", api.v2_package_events),
        export_route("/v2/tracking-pixels/{owner}/events", api.v2_pixel_events),
        export_route(v3_aggregates.ROUTE, api.v3_aggregates),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return _RequestLog(app, emulator.requests, emulator.in_flight)


class InFlight:
    """How many HTTP requests the server is still handling, readable from other threads."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout=timeout)


class _RequestLog:
    """ASGI wrapper appending a RequestRecord once each response starts (cut-offs included),
    and counting requests in flight."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        log: list[RequestRecord],
        in_flight: InFlight,
    ) -> None:
        self.app = app
        self.log = log
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.log.append(
                    RequestRecord(
                        scope["method"],
                        scope["path"],
                        scope["query_string"].decode("latin-1"),
                        message["status"],
                    )
                )
            await send(message)

        self.in_flight.enter()
        try:
            await self.app(scope, receive, logging_send)
        finally:
            self.in_flight.leave()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer", **exc.headers} if exc.status == 401 else exc.headers
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, status_code=exc.status_code)


class ExportResponse(Response):
    """A streamed export; optionally with Content-Length, and optionally faulty: cut off
    halfway (the connection dropped), truncated mid-row (a short body with a matching
    Content-Length), or stalled after some bytes."""

    def __init__(
        self,
        chunks: Callable[[], Iterator[bytes]],
        media_type: str,
        *,
        content_length: bool,
        cut_off: bool,
        truncate: bool = False,
        stall_after: int | None = None,
        stall_seconds: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(media_type=media_type, headers=headers)
        self._chunks = chunks
        self._content_length = content_length
        self._cut_off = cut_off
        self._truncate = truncate
        self._stall_after = stall_after
        self._stall_seconds = stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        total = 0
        if self._content_length or self._cut_off or self._truncate:
            # A second pass over the (cached) frames: memory stays bounded, only CPU is spent.
            total = await run_in_threadpool(lambda: sum(len(c) for c in self._chunks()))
        end = None
        if self._truncate:
            end = await run_in_threadpool(_mid_row_cut, self._chunks, total // 2)
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        if self._content_length or end is not None:
            headers.append((b"content-length", str(total if end is None else end).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        limit = total // 2 if self._cut_off else None
        stall_at = self._stall_after
        sent = 0

        async def send_body(body: bytes) -> None:
            nonlocal sent, stall_at
            if stall_at is not None and sent + len(body) >= stall_at:
                head, body = body[: stall_at - sent], body[stall_at - sent :]
                if head:
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                    sent += len(head)
                await asyncio.sleep(self._stall_seconds)
                stall_at = None
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
                sent += len(body)

        async for chunk in iterate_in_threadpool(self._chunks()):
            if end is not None and sent + len(chunk) >= end:
                await send_body(chunk[: end - sent])
                break
            if limit is not None and sent + len(chunk) >= limit:
                await send_body(chunk[: limit - sent])
                # Returning without the final message makes uvicorn drop the connection.
                return
            await send_body(chunk)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _mid_row_cut(chunks: Callable[[], Iterator[bytes]], target: int) -> int:
    """An offset near `target` that falls strictly inside a row, so the short body ends with
    part of a row rather than a whole one."""
    offset = 0
    for chunk in chunks():
        if offset + len(chunk) > target:
            at = target - offset
            line_start = chunk.rfind(b"\n", 0, at) + 1
            line_end = chunk.find(b"\n", at)
            line_end = len(chunk) if line_end < 0 else line_end
            if line_end - line_start >= 2:
                return offset + (line_start + line_end) // 2
        offset += len(chunk)
        if offset > target + (1 << 20):
            break
    return target


class _Api:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.store = emulator.store

    # ---- helpers --------------------------------------------------------------------------

    def user(self, request: Request) -> world.User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = self.store.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            message = "missing Bearer token" if not header else "invalid or unknown token"
            raise ApiError(401, f"unauthorized: {message}")
        return user

    async def body(self, request: Request) -> dict[str, Any]:
        return validation.json_object(await request.body())

    def json(self, payload: object, status: int = 200) -> Response:
        return JSONResponse(payload, status_code=status)

    # ---- organizations --------------------------------------------------------------------

    async def create_organization(self, request: Request) -> Response:
        user = self.user(request)
        upsert = validation.organization_upsert(await self.body(request))
        with self.store.lock:
            if upsert.name in self.store.organizations or upsert.name in self.store.users:
                raise bad_request(f"name {upsert.name!r} is already taken")
            now = self.store.tick()
            org = OrganizationRecord(
                upsert.name,
                upsert.description,
                upsert.website,
                upsert.billing_email,
                data_export=False,
                created_at=now,
                updated_at=now,
            )
            self.store.organizations[org.name] = org
            self.store.memberships[(org.name, user.username)] = "owner"
        return self.json(org.to_json(), 201)

    async def get_organization(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.visible_organization(user.username, request.path_params["org"])
        return self.json(org.to_json())

    async def update_organization(self, request: Request) -> Response:
        user = self.user(request)
        name = request.path_params["org"]
        self.store.writable_organization(user.username, name)
        upsert = validation.organization_upsert(await self.body(request))
        with self.store.lock:
            org = self.store.writable_organization(user.username, name)
            if upsert.name != name:
                if upsert.name in self.store.organizations or upsert.name in self.store.users:
                    raise bad_request(f"name {upsert.name!r} is already taken")
                self._rename_owner(name, upsert.name)
            org.name, org.description = upsert.name, upsert.description
            org.website, org.billing_email = upsert.website, upsert.billing_email
            org.updated_at = self.store.tick()
        return self.json(org.to_json())

    def _rename_owner(self, old: str, new: str) -> None:
        store = self.store
        store.organizations[new] = store.organizations.pop(old)
        store.memberships = {
            (new if org == old else org, user): role
            for (org, user), role in store.memberships.items()
        }
        for package in store.packages.values():
            if package.owner == old:
                package.owner = new

    async def list_org_packages(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.visible_organization(user.username, request.path_params["org"])
        faults = self.emulator.faults.snapshot()
        packages = self.owner_packages(user.username, org.name, faults)
        return self.json([p.to_json() for p in packages])

    async def create_org_package(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.writable_organization(user.username, request.path_params["org"])
        return await self._create_package(request, org.name)

    async def list_members(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.visible_organization(user.username, request.path_params["org"])
        with self.store.lock:
            members = sorted(
                (u, r) for (o, u), r in self.store.memberships.items() if o == org.name
            )
        return self.json([_member(org.name, u, r) for u, r in members])

    async def upsert_member(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.writable_organization(user.username, request.path_params["org"])
        username, role = validation.member_upsert(await self.body(request))
        with self.store.lock:
            if username not in self.store.users:
                raise bad_request(f"username {username!r} does not match any user")
            if self._would_lose_last_owner(org.name, username, role):
                raise bad_request("role: an organization must keep at least one owner")
            created = (org.name, username) not in self.store.memberships
            self.store.memberships[(org.name, username)] = role
        return self.json(_member(org.name, username, role), 201 if created else 200)

    async def remove_member(self, request: Request) -> Response:
        user = self.user(request)
        org = self.store.writable_organization(user.username, request.path_params["org"])
        username = request.path_params["username"]
        with self.store.lock:
            if (org.name, username) not in self.store.memberships:
                raise not_found(f"member {username!r}")
            if self._would_lose_last_owner(org.name, username, None):
                raise bad_request("username: cannot remove the last owner of the organization")
            del self.store.memberships[(org.name, username)]
        return Response(status_code=204)

    def _would_lose_last_owner(self, org: str, username: str, new_role: str | None) -> bool:
        owners = {u for (o, u), r in self.store.memberships.items() if o == org and r == "owner"}
        return owners == {username} and new_role != "owner"

    # ---- packages -------------------------------------------------------------------------

    async def list_packages(self, request: Request) -> Response:
        user = self.user(request)
        packages = self.store.visible_packages(user.username)
        faults = self.emulator.faults.snapshot()
        for owner in self.store.owners_visible_to(user.username):
            packages += hostile_packages(faults, owner)
        return self.json([p.to_json() for p in packages])

    async def create_package(self, request: Request) -> Response:
        user = self.user(request)
        return await self._create_package(request, user.username)

    async def _create_package(self, request: Request, owner: str) -> Response:
        upsert = validation.package_upsert(await self.body(request))
        with self.store.lock:
            self._check_unique_name(owner, upsert.name, upsert.library_type, None)
            package = PackageRecord(
                uuid=self.store.mint_id("package"),
                owner=owner,
                name=upsert.name,
                short_description=upsert.short_description,
                library_type=upsert.library_type,
                created_at=self.store.tick(),
                long_description=upsert.long_description,
                website=upsert.website,
                backend_url=upsert.backend_url,
                public_url=upsert.public_url,
                repository_url=upsert.repository_url,
            )
            self.store.packages[package.uuid] = package
        return self.json(package.to_json(), 201)

    def _check_unique_name(
        self, owner: str, name: str, library_type: str | None, uuid: str | None
    ) -> None:
        for other in self.store.packages.values():
            same = other.owner == owner and other.name == name
            if same and other.library_type == library_type and other.uuid != uuid:
                raise bad_request(
                    f"name {name!r} is already used by another {library_type} package"
                )

    async def get_package(self, request: Request) -> Response:
        user = self.user(request)
        package_type = request.query_params.get("packageType")
        if package_type is not None and package_type not in world.LIBRARY_TYPES:
            raise bad_request(f"packageType must be one of {', '.join(world.LIBRARY_TYPES)}")
        package = self.store.visible_package(
            user.username, request.path_params["pkg"], package_type
        )
        return self.json(package.to_json())

    async def update_package(self, request: Request) -> Response:
        user = self.user(request)
        package = self.store.writable_package(user.username, request.path_params["pkg"])
        body = await self.body(request)
        with self.store.lock:
            upsert = validation.package_upsert(body, current_library_type=package.library_type)
            self._check_unique_name(package.owner, upsert.name, package.library_type, package.uuid)
            package.name, package.short_description = upsert.name, upsert.short_description
            package.long_description, package.website = upsert.long_description, upsert.website
            package.backend_url, package.public_url = upsert.backend_url, upsert.public_url
            package.repository_url = upsert.repository_url
        return self.json(package.to_json())

    async def delete_package(self, request: Request) -> Response:
        user = self.user(request)
        with self.store.lock:
            package = self.store.writable_package(user.username, request.path_params["pkg"])
            del self.store.packages[package.uuid]
            for key in [k for k in self.store.permissions if k[0] == package.uuid]:
                del self.store.permissions[key]
        return Response(status_code=204)

    async def get_permissions(self, request: Request) -> Response:
        user = self.user(request)
        package = self.store.visible_package(user.username, request.path_params["pkg"])
        return self.json(self._permissions(package))

    async def set_permissions(self, request: Request) -> Response:
        user = self.user(request)
        package = self.store.writable_package(user.username, request.path_params["pkg"])
        changes = validation.permission_sets(await request.body())
        with self.store.lock:
            resolved = []
            for query, level in changes:
                target = self.store.find_user(query)
                if target is None:
                    raise bad_request(f"userQuery {query!r} does not match any user")
                resolved.append((target.username, level))
            for username, level in resolved:
                self.store.permissions[(package.uuid, username)] = level
        return self.json(self._permissions(package))

    def _permissions(self, package: PackageRecord) -> list[dict[str, str]]:
        with self.store.lock:
            held = sorted(
                (u, lvl) for (p, u), lvl in self.store.permissions.items() if p == package.uuid
            )
        return [{"username": u, "permissionLevel": lvl} for u, lvl in held]

    # ---- routes and domains ---------------------------------------------------------------

    def _package_with(
        self, request: Request, feature: str, types: tuple[str, ...], write: bool
    ) -> PackageRecord:
        user = self.user(request)
        pkg = request.path_params["pkg"]
        package = (
            self.store.writable_package(user.username, pkg)
            if write
            else self.store.visible_package(user.username, pkg)
        )
        if package.library_type not in types:
            raise bad_request(
                f"libraryType {package.library_type!r} has no {feature}; "
                f"only {' and '.join(types)} packages do"
            )
        return package

    async def list_routes(self, request: Request) -> Response:
        package = self._package_with(request, "routes", ("other",), write=False)
        return self.json([_route(r) for r in package.routes])

    async def create_route(self, request: Request) -> Response:
        package = self._package_with(request, "routes", ("other",), write=True)
        outgoing, template = validation.route_create(await self.body(request))
        with self.store.lock:
            if any(r[2] == template for r in package.routes):
                raise bad_request(f"templatePath {template!r} already has a route")
            route = (self.store.mint_id("route"), outgoing, template)
            package.routes.append(route)
        return self.json(_route(route), 201)

    async def delete_route(self, request: Request) -> Response:
        package = self._package_with(request, "routes", ("other",), write=True)
        return self._delete_item(package.routes, request.path_params["item"], "route")

    async def list_domains(self, request: Request) -> Response:
        package = self._package_with(request, "domains", ("other", "pypi"), write=False)
        return self.json([_domain(d) for d in package.domains])

    async def create_domain(self, request: Request) -> Response:
        package = self._package_with(request, "domains", ("other", "pypi"), write=True)
        name = validation.domain_create(await self.body(request))
        with self.store.lock:
            if any(d[1] == name for p in self.store.packages.values() for d in p.domains):
                raise bad_request(f"name {name!r} is already used by a package domain")
            domain = (self.store.mint_id("domain"), name)
            package.domains.append(domain)
        return self.json(_domain(domain), 201)

    async def delete_domain(self, request: Request) -> Response:
        package = self._package_with(request, "domains", ("other", "pypi"), write=True)
        return self._delete_item(package.domains, request.path_params["item"], "domain")

    def _delete_item(self, items: list[Any], item_id: str, what: str) -> Response:
        with self.store.lock:
            for i, item in enumerate(items):
                if item[0] == item_id:
                    del items[i]
                    return Response(status_code=204)
        raise not_found(f"{what} {item_id!r}")

    # ---- refusal faults -------------------------------------------------------------------

    def with_refusals(self, endpoint: Handler) -> Handler:
        """`endpoint` behind auth and, under `scope="all"`, the refusal faults."""

        async def guarded(request: Request) -> Response:
            # Auth first, as for exports: an unauthenticated call gets its 401 and uses no fault.
            self.user(request)
            faults = self.emulator.faults.snapshot()
            if faults.scope == "all":
                await self.refuse(faults)
            return await endpoint(request)

        return guarded

    async def admit_export(self, request: Request) -> tuple[world.User, Faults]:
        """Auth, then the refusal faults; returns the faults in force for this export."""
        user = self.user(request)
        faults = self.emulator.faults.snapshot()
        if faults.redirect_exports_to:
            target = faults.redirect_exports_to.rstrip("/") + request.url.path
            if request.url.query:
                target += "?" + request.url.query
            raise ApiError(307, "this export moved", headers={"Location": target})
        await self.refuse(faults)
        return user, faults

    async def refuse(self, faults: Faults) -> None:
        """Wait out slow_first_byte, then raise the 429 or 5xx this request is due, if any."""
        if faults.slow_first_byte > 0:
            await asyncio.sleep(faults.slow_first_byte)
        verdict = self.emulator.fault_counter.admit(faults)
        if verdict is Verdict.RATE_LIMITED:
            raise ApiError(
                429, "rate limit exceeded, retry later", headers={"Retry-After": faults.retry_after}
            )
        if verdict is Verdict.SERVER_ERROR:
            raise ApiError(faults.server_error_status, "upstream error, try again")

    # ---- exports --------------------------------------------------------------------------

    def window(
        self, request: Request, *, v2: bool, max_days: int | None = None
    ) -> list[datetime.date]:
        """The export's days; `max_days` (the max_event_window_days knob) refuses longer
        windows with `range-too-long`."""
        q = request.query_params
        today = datetime.datetime.now(datetime.UTC).date()
        if v2:
            start, end = validation.required_dates(q.get("start_date"), q.get("end_date"))
            return validation.export_window(
                start,
                end,
                start_field="start_date",
                end_field="end_date",
                today=today,
                max_days=max_days,
            )
        return validation.export_window(
            q.get("startDate"),
            q.get("endDate"),
            start_field="startDate",
            end_field="endDate",
            today=today,
            max_days=max_days,
        )

    def csv_response(
        self,
        sources: list[EventSource],
        days: list[datetime.date],
        columns: tuple[str, ...],
        faults: Faults,
        filename: str | None = None,
    ) -> Response:
        body_fault = self.emulator.fault_counter.take_body_fault(faults, csv=True)
        export = CsvExport(
            self.emulator.events,
            [(s, d) for d in days for s in sources],
            columns,
            end_day=days[-1] + datetime.timedelta(days=1),
            faults=faults,
            huge_user_agent=faults.huge_field_bytes if body_fault == "huge_field" else 0,
            rename_time=body_fault == "no_time_column",
        )
        headers = (
            {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else None
        )
        return self.export_response(export.chunks, CSV_TYPE, faults, body_fault, headers)

    async def v3_aggregates(self, request: Request) -> Response:
        """Auth and refusal faults first (as every export), then owner, window and body;
        errors in v3's own shape."""
        try:
            user, faults = await self.admit_export(request)
        except ApiError as error:
            raise v3_aggregates.V3Error(
                error.status, error.message, headers=error.headers
            ) from None
        answer = v3_aggregates.answer(
            self.store,
            self.emulator.events,
            user.username,
            request.path_params["owner"],
            request.query_params,
            faults,
        )
        if answer.as_json:
            return JSONResponse(answer.json_body(), headers=answer.headers)
        # Body faults (empty, HTML, a JSON error with 200, truncated) as on every other export.
        body_fault = self.emulator.fault_counter.take_body_fault(faults, csv=False)
        return self.export_response(
            answer.export.chunks, NDJSON_TYPE, faults, body_fault, headers=answer.headers
        )

    def aggregates_response(
        self,
        packages: list[PackageRecord],
        days: list[datetime.date],
        faults: Faults,
        *,
        v2_names: bool,
    ) -> Response:
        body_fault = self.emulator.fault_counter.take_body_fault(faults, csv=False)
        export = AggregateExport(
            self.emulator.events,
            [(p.source(), d) for d in days for p in packages],
            end_day=days[-1] + datetime.timedelta(days=1),
            faults=faults,
            v2_names=v2_names,
        )
        return self.export_response(export.chunks, NDJSON_TYPE, faults, body_fault)

    def export_response(
        self,
        chunks: Callable[[], Iterator[bytes]],
        media_type: str,
        faults: Faults,
        body_fault: BodyFault | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The export's body as the faults in force shape it; a body fault replaces a cut-off."""
        if body_fault == "empty":
            return Response(b"", media_type=media_type, headers=headers)
        if body_fault == "html":
            return HTMLResponse(HTML_FAULT_PAGE)
        if body_fault == "json_error":
            return JSONResponse(JSON_FAULT_ERROR)
        truncate = body_fault == "truncated"
        return ExportResponse(
            chunks,
            media_type,
            content_length=not faults.omit_content_length,
            cut_off=not truncate and self.emulator.fault_counter.take_cut_off(faults),
            truncate=truncate,
            stall_after=faults.stall_body_after_bytes,
            stall_seconds=faults.stall_seconds,
            headers=headers,
        )

    def owner_packages(self, username: str, owner: str, faults: Faults) -> list[PackageRecord]:
        """The packages `username` exports of `owner`, hostile_package_ids included."""
        return self.store.exportable_packages(username, owner) + hostile_packages(faults, owner)

    def owner_package(
        self, username: str, owner: str, package_id: str, faults: Faults
    ) -> PackageRecord:
        for hostile in hostile_packages(faults, owner):
            if hostile.uuid == package_id:
                return hostile
        package = self.store.visible_package(username, package_id)
        if package.owner != owner:
            raise not_found(f"package {package_id!r} of {owner!r}")
        return package

    async def v1_package_events(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        owner = request.path_params["owner"]
        self.store.export_owner(user.username, owner)
        package = self.owner_package(user.username, owner, request.path_params["pkg"], faults)
        days = self.window(request, v2=False, max_days=faults.max_event_window_days)
        return self.csv_response(
            [package.source()], days, V1_COLUMNS, faults, request.path_params["filename"]
        )

    async def v1_pixel_events(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        sources: list[EventSource] = []
        refused: ApiError | None = None
        for owner in self.store.owners_visible_to(user.username):
            try:
                self.store.export_owner(user.username, owner)
            except ApiError as error:
                refused = refused or error
                continue
            sources.extend(self.store.pixel_sources(owner))
        if not sources and refused is not None:
            raise refused
        days = self.window(request, v2=False, max_days=faults.max_event_window_days)
        return self.csv_response(sources, days, V1_COLUMNS, faults, request.path_params["filename"])

    async def v2_package_events(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        owner = request.path_params["owner"]
        self.store.export_owner(user.username, owner)
        package = self.owner_package(user.username, owner, request.path_params["pkg"], faults)
        days = self.window(request, v2=True, max_days=faults.max_event_window_days)
        return self.csv_response([package.source()], days, V2_COLUMNS, faults)

    async def v2_owner_events(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        owner = request.path_params["owner"]
        self.store.export_owner(user.username, owner)
        packages = self.owner_packages(user.username, owner, faults)
        days = self.window(request, v2=True, max_days=faults.max_event_window_days)
        return self.csv_response([p.source() for p in packages], days, V2_COLUMNS, faults)

    async def v2_pixel_events(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        owner = request.path_params["owner"]
        self.store.export_owner(user.username, owner)
        days = self.window(request, v2=True, max_days=faults.max_event_window_days)
        return self.csv_response(self.store.pixel_sources(owner), days, V2_COLUMNS, faults)

    async def org_aggregates(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        org = request.path_params["org"]
        if org not in self.store.organizations:
            raise not_found(f"organization {org!r}")
        return self.owner_aggregates(request, user.username, org, faults, v2=False)

    async def user_aggregates(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        username = request.path_params["username"]
        if username != user.username:
            raise not_found(f"user {username!r}")
        return self.owner_aggregates(request, user.username, username, faults, v2=False)

    async def v2_aggregates(self, request: Request) -> Response:
        user, faults = await self.admit_export(request)
        owner = request.path_params["owner"]
        return self.owner_aggregates(request, user.username, owner, faults, v2=True)

    def owner_aggregates(
        self, request: Request, username: str, owner: str, faults: Faults, *, v2: bool
    ) -> Response:
        """The aggregates of `owner`'s packages, once the owner is known to exist."""
        self.store.export_owner(username, owner)
        packages = self.owner_packages(username, owner, faults)
        return self.aggregates_response(packages, self.window(request, v2=v2), faults, v2_names=v2)


def _member(org: str, username: str, role: str) -> dict[str, str]:
    return {"organizationName": org, "username": username, "role": role}


def _route(route: tuple[str, str, str]) -> dict[str, str]:
    return {"id": route[0], "outgoingUrl": route[1], "templatePath": route[2]}


def _domain(domain: tuple[str, str]) -> dict[str, str]:
    return {"id": domain[0], "name": domain[1]}
