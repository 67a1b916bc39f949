"""Package endpoints: list, get (uuid, name, packageType), create, update, delete,
permissions, routes and domains, with the page's validation rules and access denials."""

import pytest

from scarf_etl.emulator.world import (
    ACME_CLI,
    ACME_HS,
    ACME_INSTALLER,
    ACME_SDK_NPM,
    ACME_SDK_PYPI,
    DEMO_DOTFILES,
    DEMO_TOKEN,
    DEMO_USER,
    HOBBY_GAME,
    MEMBER_TOKEN,
    MEMBER_USER,
    OUTSIDER_TOKEN,
    OUTSIDER_USER,
)

PACKAGE_FIELDS = {
    "uuid",
    "owner",
    "name",
    "shortDescription",
    "createdAt",
    "longDescription",
    "website",
    "libraryType",
}
DOCKER = {
    "name": "new-image",
    "shortDescription": "An image",
    "libraryType": "docker",
    "backendUrl": "https://ghcr.io/acme/new-image",
    "publicUrl": "https://docker.acme.example/acme/new-image",
}


@pytest.fixture
def demo(emulator_client):
    return emulator_client(DEMO_TOKEN)


@pytest.fixture
def member(emulator_client):
    return emulator_client(MEMBER_TOKEN)


def test_list_packages_shows_what_the_user_may_see(demo, member, emulator_client):
    mine = demo.get("/api/v1/packages").json()
    assert all(set(p) == PACKAGE_FIELDS for p in mine)
    assert {p["uuid"] for p in mine} >= {DEMO_DOTFILES.uuid, ACME_CLI.uuid, HOBBY_GAME.uuid}
    assert {p["uuid"] for p in member.get("/api/v1/packages").json()} == {
        ACME_CLI.uuid,
        ACME_SDK_NPM.uuid,
    }
    assert emulator_client(OUTSIDER_TOKEN).get("/api/v1/packages").json() == []


def test_get_package_by_uuid(demo):
    body = demo.get(f"/api/v1/packages/{ACME_CLI.uuid}").json()
    assert body["name"] == "acme-cli"
    assert body["libraryType"] == "docker"
    assert body["owner"] == "acme-labs"


def test_get_package_by_name_needs_package_type_when_ambiguous(demo):
    ambiguous = demo.get("/api/v1/packages/acme-sdk")
    assert ambiguous.status_code == 400
    assert "packageType" in ambiguous.json()["message"]
    pypi = demo.get("/api/v1/packages/acme-sdk", params={"packageType": "pypi"})
    assert pypi.json()["uuid"] == ACME_SDK_PYPI.uuid
    npm = demo.get("/api/v1/packages/acme-sdk", params={"packageType": "npm"})
    assert npm.json()["uuid"] == ACME_SDK_NPM.uuid
    assert demo.get("/api/v1/packages/acme-cli").json()["uuid"] == ACME_CLI.uuid
    bad_type = demo.get("/api/v1/packages/acme-sdk", params={"packageType": "rpm"})
    assert bad_type.status_code == 400


def test_invisible_packages_are_404(member, emulator_client):
    assert member.get(f"/api/v1/packages/{ACME_HS.uuid}").status_code == 404  # blocked
    assert member.get(f"/api/v1/packages/{ACME_INSTALLER.uuid}").status_code == 404
    outsider = emulator_client(OUTSIDER_TOKEN)
    assert outsider.get(f"/api/v1/packages/{ACME_CLI.uuid}").status_code == 404
    assert outsider.get("/api/v1/packages/no-such-package").status_code == 404


def test_create_package_for_the_user(emulator_client):
    eve = emulator_client(OUTSIDER_TOKEN)
    body = {
        "name": "eve-lib",
        "shortDescription": "Eve's",
        "libraryType": "pypi",
        "repositoryURL": "https://pypi.org/simple/",
        "website": "https://eve.example",
    }
    response = eve.post("/api/v1/packages", json=body)
    assert response.status_code == 201
    created = response.json()
    assert set(created) == PACKAGE_FIELDS
    assert (created["owner"], created["libraryType"]) == (OUTSIDER_USER, "pypi")
    assert eve.get(f"/api/v1/packages/{created['uuid']}").json() == created
    assert created["uuid"] in eve.get("/api/v1/packages").text


def test_create_docker_package_with_urls(demo):
    assert demo.post("/api/v1/packages", json=DOCKER).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shortDescription": "x"}, "name"),
        ({"name": "x"}, "shortDescription"),
        ({"name": "x", "shortDescription": "x", "libraryType": "rpm"}, "libraryType"),
        ({**DOCKER, "backendUrl": "https://ghcr.io"}, "backendUrl"),
        ({**DOCKER, "backendUrl": "https://ghcr.io/Acme/Image"}, "backendUrl"),
        ({**DOCKER, "backendUrl": "not a url"}, "backendUrl"),
        ({**DOCKER, "publicUrl": "https://docker.acme.example/other/path"}, "publicUrl"),
        ({**DOCKER, "libraryType": "npm"}, "backendUrl"),
        (
            {
                "name": "x",
                "shortDescription": "x",
                "libraryType": "pypi",
                "repositoryURL": "pypi.org/simple",
            },
            "repositoryURL",
        ),
        (
            {
                "name": "x",
                "shortDescription": "x",
                "libraryType": "npm",
                "repositoryURL": "https://pypi.org/simple/",
            },
            "repositoryURL",
        ),
        ({"name": "demo-dotfiles", "shortDescription": "dup", "libraryType": "npm"}, "name"),
    ],
)
def test_create_package_validation_names_the_field(demo, body, field):
    response = demo.post("/api/v1/packages", json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_same_name_with_another_library_type_is_allowed(demo):
    body = {"name": "demo-dotfiles", "shortDescription": "as pypi", "libraryType": "pypi"}
    assert demo.post("/api/v1/packages", json=body).status_code == 201


def test_update_package(demo):
    body = {
        "name": "acme-cli",
        "shortDescription": "Updated",
        "longDescription": "More",
        "libraryType": "docker",
    }
    response = demo.put(f"/api/v1/packages/{ACME_CLI.uuid}", json=body)
    assert response.status_code == 200
    assert response.json()["shortDescription"] == "Updated"
    assert demo.get(f"/api/v1/packages/{ACME_CLI.uuid}").json()["longDescription"] == "More"


def test_library_type_is_immutable(demo):
    body = {"name": "acme-cli", "shortDescription": "x", "libraryType": "npm"}
    response = demo.put(f"/api/v1/packages/{ACME_CLI.uuid}", json=body)
    assert response.status_code == 400
    assert "libraryType" in response.json()["message"]


def test_update_to_a_taken_name_is_400(demo):
    body = {"name": "acme-cli", "shortDescription": "x"}
    assert demo.put(f"/api/v1/packages/{ACME_HS.uuid}", json=body).status_code == 200
    body = {"name": "acme-sdk", "shortDescription": "x"}
    response = demo.put(f"/api/v1/packages/{ACME_SDK_PYPI.uuid}", json={**body, "name": "x"})
    assert response.status_code == 200
    npm_twin = {"name": "acme-sdk", "shortDescription": "x"}
    other_npm = demo.post(
        "/api/v1/organizations/acme-labs/packages",
        json={"name": "other-npm", "shortDescription": "x", "libraryType": "npm"},
    ).json()
    response = demo.put(f"/api/v1/packages/{other_npm['uuid']}", json=npm_twin)
    assert response.status_code == 400
    assert "name" in response.json()["message"]


def test_package_writes_need_admin_rights(member):
    body = {"name": "acme-cli", "shortDescription": "x"}
    assert member.put(f"/api/v1/packages/{ACME_CLI.uuid}", json=body).status_code == 403
    assert member.delete(f"/api/v1/packages/{ACME_CLI.uuid}").status_code == 403
    perm = {"userQuery": MEMBER_USER, "permissionLevel": "admin"}
    assert (
        member.post(f"/api/v1/packages/{ACME_CLI.uuid}/permissions", json=perm).status_code == 403
    )
    assert member.delete(f"/api/v1/packages/{ACME_HS.uuid}").status_code == 404


def test_delete_package(demo):
    assert demo.delete(f"/api/v1/packages/{DEMO_DOTFILES.uuid}").status_code == 204
    assert demo.get(f"/api/v1/packages/{DEMO_DOTFILES.uuid}").status_code == 404
    assert demo.delete(f"/api/v1/packages/{DEMO_DOTFILES.uuid}").status_code == 404


def test_get_permissions(demo):
    response = demo.get(f"/api/v1/packages/{ACME_CLI.uuid}/permissions")
    assert response.status_code == 200
    assert response.json() == [{"username": MEMBER_USER, "permissionLevel": "member"}]


def test_set_permissions_single_object_by_email(demo, member):
    perm = {"userQuery": "bob@acme-labs.example", "permissionLevel": "blocked"}
    response = demo.post(f"/api/v1/packages/{ACME_CLI.uuid}/permissions", json=perm)
    assert response.status_code == 200
    assert response.json() == [{"username": MEMBER_USER, "permissionLevel": "blocked"}]
    assert member.get(f"/api/v1/packages/{ACME_CLI.uuid}").status_code == 404


def test_set_permissions_array(demo, emulator_client):
    perms = [
        {"userQuery": OUTSIDER_USER, "permissionLevel": "admin"},
        {"userQuery": MEMBER_USER, "permissionLevel": "default"},
    ]
    response = demo.post(f"/api/v1/packages/{ACME_HS.uuid}/permissions", json=perms)
    assert response.json() == [
        {"username": MEMBER_USER, "permissionLevel": "default"},
        {"username": OUTSIDER_USER, "permissionLevel": "admin"},
    ]
    eve = emulator_client(OUTSIDER_TOKEN)
    body = {"name": "acme-hs", "shortDescription": "by eve"}
    assert eve.put(f"/api/v1/packages/{ACME_HS.uuid}", json=body).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"permissionLevel": "admin"}, "userQuery"),
        ({"userQuery": "nobody@nowhere.example", "permissionLevel": "admin"}, "userQuery"),
        ({"userQuery": DEMO_USER, "permissionLevel": "owner"}, "permissionLevel"),
        ([{"userQuery": DEMO_USER}], "permissionLevel"),
    ],
)
def test_set_permissions_validation(demo, body, field):
    response = demo.post(f"/api/v1/packages/{ACME_CLI.uuid}/permissions", json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_routes_list_create_delete(demo):
    url = f"/api/v1/packages/{ACME_INSTALLER.uuid}/routes"
    routes = demo.get(url).json()
    assert len(routes) == 1
    assert set(routes[0]) == {"id", "outgoingUrl", "templatePath"}
    body = {"outgoingUrl": "https://cdn.acme.example/{file}", "templatePath": "/files/{file}"}
    created = demo.post(url, json=body)
    assert created.status_code == 201
    assert created.json()["templatePath"] == "/files/{file}"
    assert len(demo.get(url).json()) == 2
    assert demo.delete(f"{url}/{created.json()['id']}").status_code == 204
    assert demo.delete(f"{url}/{created.json()['id']}").status_code == 404
    assert demo.get(url).json() == routes


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"templatePath": "/x"}, "outgoingUrl"),
        ({"outgoingUrl": "ftp://x", "templatePath": "/x"}, "outgoingUrl"),
        ({"outgoingUrl": "https://x.example"}, "templatePath"),
        ({"outgoingUrl": "https://x.example", "templatePath": "no-slash"}, "templatePath"),
    ],
)
def test_route_validation(demo, body, field):
    response = demo.post(f"/api/v1/packages/{ACME_INSTALLER.uuid}/routes", json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_routes_only_on_file_packages(demo):
    response = demo.get(f"/api/v1/packages/{ACME_CLI.uuid}/routes")
    assert response.status_code == 400
    assert "libraryType" in response.json()["message"]


def test_domains_on_file_and_python_packages(demo):
    for package in (ACME_INSTALLER, ACME_SDK_PYPI):
        url = f"/api/v1/packages/{package.uuid}/domains"
        domains = demo.get(url).json()
        assert len(domains) == 1
        assert set(domains[0]) == {"id", "name"}
        created = demo.post(url, json={"name": f"new.{package.name}.example"})
        assert created.status_code == 201
        assert demo.delete(f"{url}/{created.json()['id']}").status_code == 204
        assert demo.get(url).json() == domains
    assert demo.get(f"/api/v1/packages/{ACME_CLI.uuid}/domains").status_code == 400


@pytest.mark.parametrize("name", ["not a domain", "", "get.acme-labs.example"])
def test_domain_validation(demo, name):
    response = demo.post(f"/api/v1/packages/{ACME_INSTALLER.uuid}/domains", json={"name": name})
    assert response.status_code == 400
    assert "name" in response.json()["message"]


def test_routes_and_domains_writes_need_rights(member, emulator_client):
    eve = emulator_client(OUTSIDER_TOKEN)
    url = f"/api/v1/packages/{ACME_INSTALLER.uuid}/domains"
    assert eve.get(url).status_code == 404
    assert member.post(url, json={"name": "x.example"}).status_code == 404
