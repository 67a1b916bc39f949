"""Mutable in-memory store of the emulated account data, and who may see or change what.

Access rule (one place, applied by every handler):
- Organizations: a user sees the organizations they are a member of (any role). Anyone else
  gets 404 for the organization and everything under it. Changing an organization (update,
  create packages in it, upsert or remove members) needs role `admin` or `owner`; a `member`
  gets 403.
- Packages: a user sees a package if they own it, if they are `admin`/`owner` of the owning
  organization, or if they hold a non-`blocked` permission on it (this is how a `member` of an
  organization sees its packages). Anything else is 404, as if it did not exist.
- Changing a package (update, delete, permissions, routes, domains) needs ownership, the
  organization role `admin`/`owner`, or the package permission `admin`; others who can see it
  get 403.
- Exports: the owner (organization or user) must be visible (a member of the organization, or
  the user themself), else 404 `not-found`; the owner's plan must include data export, else
  403 `not-a-pro-member`. A `member` exports only the packages they can see.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field

from scarf_etl.emulator import world
from scarf_etl.emulator.errors import bad_request, forbidden, not_found
from scarf_etl.emulator.events import EventSource

_WRITE_ROLES = ("admin", "owner")


@dataclass
class OrganizationRecord:
    name: str
    description: str
    website: str | None
    billing_email: str
    data_export: bool
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "website": self.website,
            "billingEmail": self.billing_email,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
        }


@dataclass
class PackageRecord:
    uuid: str
    owner: str
    name: str
    short_description: str
    library_type: str | None
    created_at: datetime.datetime
    long_description: str | None = None
    website: str | None = None
    backend_url: str | None = None
    public_url: str | None = None
    repository_url: str | None = None
    routes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, outgoing, template)
    domains: list[tuple[str, str]] = field(default_factory=list)  # (id, name)

    def to_json(self) -> dict[str, object]:
        return {
            "uuid": self.uuid,
            "owner": self.owner,
            "name": self.name,
            "shortDescription": self.short_description,
            "createdAt": _iso(self.created_at),
            "longDescription": self.long_description,
            "website": self.website,
            "libraryType": self.library_type,
        }

    def source(self) -> EventSource:
        return EventSource(self.uuid, "package", self.name, self.library_type)


class Store:
    """All CRUD state; every public method takes the lock (handlers and tests use other threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        seed = world.seeded_world()
        with self.lock:
            # A logical clock: timestamps of changes are deterministic, one second apart.
            self._clock = world.SEEDED_AT
            self._minted = 0
            self.users = {u.username: u for u in seed.users}
            self.tokens = {u.token: u for u in seed.users}
            self.organizations = {
                o.name: OrganizationRecord(
                    o.name,
                    o.description,
                    o.website,
                    o.billing_email,
                    o.data_export,
                    world.SEEDED_AT,
                    world.SEEDED_AT,
                )
                for o in seed.organizations
            }
            self.memberships: dict[tuple[str, str], str] = {
                (org, user): role for org, user, role in seed.memberships
            }
            self.packages: dict[str, PackageRecord] = {}
            for p in seed.packages:
                self.packages[p.uuid] = PackageRecord(
                    p.uuid,
                    p.owner,
                    p.name,
                    p.short_description,
                    p.library_type,
                    world.SEEDED_AT,
                    p.long_description,
                    p.website,
                    p.backend_url,
                    p.public_url,
                    p.repository_url,
                )
            self.permissions: dict[tuple[str, str], str] = {
                (pkg, user): level for pkg, user, level in seed.permissions
            }
            for pkg, outgoing, template in seed.routes:
                self.packages[pkg].routes.append((self.mint_id("route"), outgoing, template))
            for pkg, name in seed.domains:
                self.packages[pkg].domains.append((self.mint_id("domain"), name))
            self.pixels = list(seed.pixels)

    # ---- clock and ids ------------------------------------------------------------------

    def tick(self) -> datetime.datetime:
        with self.lock:
            self._clock += datetime.timedelta(seconds=1)
            return self._clock

    def mint_id(self, kind: str) -> str:
        """A deterministic id: the nth id minted since the last reset."""
        with self.lock:
            self._minted += 1
            return world.stable_id("minted", kind, str(self._minted))

    # ---- identity and access ------------------------------------------------------------

    def user_for_token(self, token: str) -> world.User | None:
        return self.tokens.get(token)

    def find_user(self, query: str) -> world.User | None:
        """By username or email, as PackagePermissionSetV1.userQuery allows."""
        with self.lock:
            for user in self.users.values():
                if query in (user.username, user.email):
                    return user
        return None

    def role(self, organization: str, username: str) -> str | None:
        return self.memberships.get((organization, username))

    def visible_organization(self, username: str, name: str) -> OrganizationRecord:
        """The organization if `username` is a member; else 404."""
        with self.lock:
            org = self.organizations.get(name)
            if org is None or self.role(name, username) is None:
                raise not_found(f"organization {name!r}")
            return org

    def writable_organization(self, username: str, name: str) -> OrganizationRecord:
        """The organization if `username` may change it: 404 if unseen, 403 for a `member`."""
        with self.lock:
            org = self.visible_organization(username, name)
            if self.role(name, username) not in _WRITE_ROLES:
                raise forbidden(f"role 'member' may not change organization {name!r}")
            return org

    def can_see(self, username: str, package: PackageRecord) -> bool:
        if package.owner == username:
            return True
        if self.role(package.owner, username) in _WRITE_ROLES:
            return True
        level = self.permissions.get((package.uuid, username))
        return level is not None and level != "blocked"

    def can_change(self, username: str, package: PackageRecord) -> bool:
        return (
            package.owner == username
            or self.role(package.owner, username) in _WRITE_ROLES
            or self.permissions.get((package.uuid, username)) == "admin"
        )

    def visible_packages(self, username: str) -> list[PackageRecord]:
        with self.lock:
            return sorted(
                (p for p in self.packages.values() if self.can_see(username, p)),
                key=lambda p: (p.owner, p.name, p.library_type or "", p.uuid),
            )

    def visible_package(
        self, username: str, id_or_name: str, package_type: str | None = None
    ) -> PackageRecord:
        """By uuid, or by name (with `package_type` to pick among same-named ones); else 404."""
        with self.lock:
            package = self.packages.get(id_or_name)
            if package is not None and self.can_see(username, package):
                return package
            matches = [
                p
                for p in self.visible_packages(username)
                if p.name == id_or_name and (package_type is None or p.library_type == package_type)
            ]
            if not matches:
                raise not_found(f"package {id_or_name!r}")
            if len(matches) > 1:
                types = ", ".join(sorted(p.library_type or "none" for p in matches))
                raise bad_request(
                    f"several packages are named {id_or_name!r} ({types}): "
                    "pass packageType to choose one"
                )
            return matches[0]

    def writable_package(self, username: str, id_or_name: str) -> PackageRecord:
        with self.lock:
            package = self.visible_package(username, id_or_name)
            if not self.can_change(username, package):
                raise forbidden(f"no permission to change package {package.name!r}")
            return package

    def export_owner(self, username: str, owner: str) -> None:
        """Raise unless `username` may export `owner`'s data (404 unseen, 403 not on the plan)."""
        with self.lock:
            if owner in self.organizations:
                self.visible_organization(username, owner)
                enabled = self.organizations[owner].data_export
            elif owner == username:
                enabled = self.users[owner].data_export
            else:
                raise not_found(f"owner {owner!r}")
            if not enabled:
                raise forbidden(
                    f"data export is not part of {owner!r}'s plan", code="not-a-pro-member"
                )

    def exportable_packages(self, username: str, owner: str) -> list[PackageRecord]:
        with self.lock:
            return [p for p in self.visible_packages(username) if p.owner == owner]

    def pixel_sources(self, owner: str) -> list[EventSource]:
        with self.lock:
            return [EventSource(p.id, "pixel", p.name) for p in self.pixels if p.owner == owner]

    def owners_visible_to(self, username: str) -> list[str]:
        """The user themself, then their organizations, in name order."""
        with self.lock:
            orgs = sorted(org for org, user in self.memberships if user == username)
            return [username, *orgs]


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
