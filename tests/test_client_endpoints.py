"""Every v1 endpoint through ScarfClient, against the emulator over a real socket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scarf_etl.client import (
    ClientSettings,
    OrganizationUpsert,
    PackagePermissionSet,
    PackageUpsert,
    ScarfAuthError,
    ScarfBadRequestError,
    ScarfClient,
    ScarfForbiddenError,
    ScarfNotFoundError,
)
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import (
    DEMO_ORG,
    DEMO_TOKEN,
    DEMO_USER,
    MEMBER_TOKEN,
    MEMBER_USER,
    OUTSIDER_TOKEN,
)


def client_for(emulator: EmulatorServer, token: str = DEMO_TOKEN) -> ScarfClient:
    settings = ClientSettings(v1_url=emulator.v1_url, v2_url=emulator.v2_url, max_attempts=2)
    return ScarfClient(token, settings, sleep=lambda _: None)


def test_organization_reads(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        org = client.get_organization(DEMO_ORG)
        packages = client.list_organization_packages(DEMO_ORG)
        members = client.list_organization_members(DEMO_ORG)
    assert org.name == DEMO_ORG and org.billing_email and org.created_at.tzinfo is not None
    assert sorted(p.uuid for p in packages) == sorted(emulator.package_ids(DEMO_ORG))
    assert all(p.owner == DEMO_ORG for p in packages)
    assert {m.username: m.role for m in members}[DEMO_USER] == "owner"
    assert {m.organization_name for m in members} == {DEMO_ORG}


def test_package_reads(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        mine = client.list_packages()
        by_name = {(p.name, p.library_type): p for p in mine}
        cli = by_name[("acme-cli", "docker")]
        assert client.get_package(cli.uuid) == cli
        # Two packages share the name acme-sdk; the type picks one.
        assert client.get_package("acme-sdk", "pypi").library_type == "pypi"
        assert client.get_package("acme-sdk", "npm").uuid == by_name[("acme-sdk", "npm")].uuid
        permissions = client.get_package_permissions(cli.uuid)
        installer = by_name[("acme-installer", "other")]
        routes = client.list_package_routes(installer.uuid)
        domains = client.list_package_domains(installer.uuid)
    assert {p.username: p.permission_level for p in permissions}[MEMBER_USER] == "member"
    assert [r.template_path for r in routes] == ["/installer/{version}/{platform}/{arch}"]
    assert [d.name for d in domains] == ["get.acme-labs.example"]


def test_organization_writes(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        org = OrganizationUpsert("new-org", "A new org", "pay@new.example")
        created = client.create_organization(org)
        assert created.name == "new-org" and created.website is None
        updated = client.update_organization(
            "new-org", replace(org, description="Changed", website="https://n")
        )
        assert (updated.description, updated.website) == ("Changed", "https://n")
        package = client.create_organization_package(
            "new-org", PackageUpsert("tool", "A tool", library_type="npm")
        )
        assert (package.owner, package.library_type) == ("new-org", "npm")
        assert [p.uuid for p in client.list_organization_packages("new-org")] == [package.uuid]
        member = client.upsert_organization_member("new-org", MEMBER_USER, "admin")
        assert (member.username, member.role) == (MEMBER_USER, "admin")
        roles = {m.username: m.role for m in client.list_organization_members("new-org")}
        assert roles[MEMBER_USER] == "admin"
        client.remove_organization_member("new-org", MEMBER_USER)
        remaining = client.list_organization_members("new-org")
        assert MEMBER_USER not in {m.username for m in remaining}


def test_package_writes(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        upsert = PackageUpsert("my-files", "Some files", library_type="other")
        package = client.create_package(upsert)
        assert package.owner == DEMO_USER
        renamed = client.update_package(
            package.uuid, replace(upsert, short_description="Better files", website="https://f")
        )
        assert (renamed.short_description, renamed.website) == ("Better files", "https://f")
        # Scarf refuses a changed libraryType, so the client leaves it out of an update.
        retyped = client.update_package(package.uuid, replace(upsert, library_type="npm"))
        assert retyped.library_type == "other"

        client.set_package_permissions(package.uuid, PackagePermissionSet(MEMBER_USER, "member"))
        client.set_package_permissions(
            package.uuid,
            [
                PackagePermissionSet(MEMBER_USER, "admin"),
                PackagePermissionSet("eve-outsider", "blocked"),
            ],
        )
        levels = {
            p.username: p.permission_level for p in client.get_package_permissions(package.uuid)
        }
        assert levels[MEMBER_USER] == "admin" and levels["eve-outsider"] == "blocked"

        route = client.create_package_route(package.uuid, "https://dl.example/{v}.zip", "/f/{v}")
        assert client.list_package_routes(package.uuid) == [route]
        client.delete_package_route(package.uuid, route.id)
        assert client.list_package_routes(package.uuid) == []

        domain = client.create_package_domain(package.uuid, "files.example")
        assert client.list_package_domains(package.uuid) == [domain]
        client.delete_package_domain(package.uuid, domain.id)
        assert client.list_package_domains(package.uuid) == []

        client.delete_package(package.uuid)
        with pytest.raises(ScarfNotFoundError):
            client.get_package(package.uuid)


def requests_to(emulator: EmulatorServer, fragment: str) -> int:
    return sum(1 for r in emulator.requests if fragment in r.path)


def test_permanent_errors_fail_after_one_request(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client, pytest.raises(ScarfNotFoundError) as missing:
        client.get_organization("no-such-org")
    assert "no-such-org" in str(missing.value) and missing.value.status_code == 404
    assert requests_to(emulator, "no-such-org") == 1

    with client_for(emulator, "wrong-token") as client, pytest.raises(ScarfAuthError) as denied:
        client.get_organization(DEMO_ORG)
    assert "SCARF_API_TOKEN" in str(denied.value)

    with client_for(emulator, MEMBER_TOKEN) as client, pytest.raises(ScarfForbiddenError):
        client.update_organization(DEMO_ORG, OrganizationUpsert(DEMO_ORG, "x", "x@y"))

    with client_for(emulator) as client, pytest.raises(ScarfBadRequestError) as bad:
        client.upsert_organization_member(DEMO_ORG, MEMBER_USER, "emperor")  # type: ignore[arg-type]
    assert bad.value.server_message and bad.value.server_message in str(bad.value)

    with client_for(emulator, OUTSIDER_TOKEN) as client, pytest.raises(ScarfNotFoundError):
        client.list_organization_members(DEMO_ORG)
    assert all(r.status in {200, 400, 401, 403, 404} for r in emulator.requests)
    assert len(emulator.requests) == 5  # one request per failure, none retried
