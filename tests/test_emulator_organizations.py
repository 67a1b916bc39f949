"""Organization endpoints: get, create, update, packages, members; access denials."""

import pytest

from scarf_etl.emulator.world import (
    ADMIN_TOKEN,
    DEMO_ORG,
    DEMO_TOKEN,
    DEMO_USER,
    MEMBER_TOKEN,
    MEMBER_USER,
    NON_PRO_ORG,
    OUTSIDER_TOKEN,
    OUTSIDER_USER,
)

ORG_FIELDS = {"name", "description", "website", "billingEmail", "createdAt", "updatedAt"}
MEMBER_FIELDS = {"organizationName", "username", "role"}
PACKAGE_FIELDS = {
    "uuid", "owner", "name", "shortDescription", "createdAt", "longDescription", "website",
    "libraryType",
}  # fmt: skip
NEW_ORG = {"name": "new-org", "description": "New", "billingEmail": "pay@new.example"}


@pytest.fixture
def demo(emulator_client):
    return emulator_client(DEMO_TOKEN)


def test_get_organization_returns_organization_v1(demo):
    response = demo.get(f"/api/v1/organizations/{DEMO_ORG}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ORG_FIELDS
    assert body["name"] == DEMO_ORG
    assert body["createdAt"].endswith("Z")


@pytest.mark.parametrize("token", [OUTSIDER_TOKEN, MEMBER_TOKEN])
def test_organization_is_404_to_non_members(emulator_client, token):
    client = emulator_client(token)
    assert client.get(f"/api/v1/organizations/{NON_PRO_ORG}").status_code == 404
    assert client.get("/api/v1/organizations/no-such-org").status_code == 404


def test_create_organization_makes_the_caller_owner(emulator_client):
    outsider = emulator_client(OUTSIDER_TOKEN)
    response = outsider.post("/api/v1/organizations", json=NEW_ORG)
    assert response.status_code == 201
    assert set(response.json()) == ORG_FIELDS
    assert response.json()["website"] is None
    members = outsider.get("/api/v1/organizations/new-org/users").json()
    assert members == [{"organizationName": "new-org", "username": OUTSIDER_USER, "role": "owner"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "x", "billingEmail": "a@b.example"}, "name"),
        ({"name": "x", "billingEmail": "a@b.example"}, "description"),
        ({"name": "x", "description": "x"}, "billingEmail"),
        ({**NEW_ORG, "billingEmail": "not-an-email"}, "billingEmail"),
        ({**NEW_ORG, "website": "not a url"}, "website"),
        ({**NEW_ORG, "name": DEMO_ORG}, "name"),
    ],
)
def test_create_organization_validation_names_the_field(demo, body, field):
    response = demo.post("/api/v1/organizations", json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_non_json_body_is_400(demo):
    response = demo.post("/api/v1/organizations", content=b"{not json")
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_update_organization_by_owner_and_admin(demo, emulator_client):
    body = {**NEW_ORG, "name": DEMO_ORG, "website": "https://acme.example/new"}
    response = demo.put(f"/api/v1/organizations/{DEMO_ORG}", json=body)
    assert response.status_code == 200
    assert response.json()["website"] == "https://acme.example/new"
    assert response.json()["updatedAt"] > response.json()["createdAt"]
    admin = emulator_client(ADMIN_TOKEN)
    assert admin.put(f"/api/v1/organizations/{DEMO_ORG}", json=body).status_code == 200


def test_update_organization_is_403_for_member_and_404_for_outsider(emulator_client):
    body = {**NEW_ORG, "name": DEMO_ORG}
    member = emulator_client(MEMBER_TOKEN)
    assert member.put(f"/api/v1/organizations/{DEMO_ORG}", json=body).status_code == 403
    outsider = emulator_client(OUTSIDER_TOKEN)
    assert outsider.put(f"/api/v1/organizations/{DEMO_ORG}", json=body).status_code == 404


def test_rename_organization_moves_its_packages(demo):
    before = demo.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()
    body = {**NEW_ORG, "name": "acme-renamed"}
    assert demo.put(f"/api/v1/organizations/{DEMO_ORG}", json=body).status_code == 200
    after = demo.get("/api/v1/organizations/acme-renamed/packages").json()
    assert [p["uuid"] for p in after] == [p["uuid"] for p in before]
    assert {p["owner"] for p in after} == {"acme-renamed"}
    assert demo.get(f"/api/v1/organizations/{DEMO_ORG}").status_code == 404


def test_list_packages_of_organization(demo, emulator_client):
    packages = demo.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()
    assert all(set(p) == PACKAGE_FIELDS for p in packages)
    assert {p["libraryType"] for p in packages} == {"docker", "npm", "hackage", "pypi", "other"}
    member_view = emulator_client(MEMBER_TOKEN).get(f"/api/v1/organizations/{DEMO_ORG}/packages")
    # bob holds `member` on acme-cli and `default` on acme-sdk (npm); `blocked` on acme-hs.
    assert sorted((p["name"], p["libraryType"]) for p in member_view.json()) == [
        ("acme-cli", "docker"),
        ("acme-sdk", "npm"),
    ]


def test_create_package_in_organization(demo, emulator_client):
    body = {"name": "acme-new", "shortDescription": "New", "libraryType": "npm"}
    response = demo.post(f"/api/v1/organizations/{DEMO_ORG}/packages", json=body)
    assert response.status_code == 201
    assert response.json()["owner"] == DEMO_ORG
    member = emulator_client(MEMBER_TOKEN)
    assert member.post(f"/api/v1/organizations/{DEMO_ORG}/packages", json=body).status_code == 403


def test_list_members(demo):
    members = demo.get(f"/api/v1/organizations/{DEMO_ORG}/users").json()
    assert all(set(m) == MEMBER_FIELDS for m in members)
    assert {m["username"]: m["role"] for m in members} == {
        DEMO_USER: "owner",
        "carol-admin": "admin",
        MEMBER_USER: "member",
    }


def test_upsert_member_creates_then_updates(demo, emulator_client):
    url = f"/api/v1/organizations/{DEMO_ORG}/users"
    created = demo.post(url, json={"username": OUTSIDER_USER, "role": "member"})
    assert created.status_code == 201
    assert created.json() == {
        "organizationName": DEMO_ORG,
        "username": OUTSIDER_USER,
        "role": "member",
    }
    updated = demo.post(url, json={"username": OUTSIDER_USER, "role": "admin"})
    assert updated.status_code == 200
    assert updated.json()["role"] == "admin"
    # Now an admin, eve sees the organization and all of its packages.
    eve = emulator_client(OUTSIDER_TOKEN)
    assert len(eve.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "member"}, "username"),
        ({"username": OUTSIDER_USER}, "role"),
        ({"username": OUTSIDER_USER, "role": "superuser"}, "role"),
        ({"username": "nobody-at-all", "role": "member"}, "username"),
    ],
)
def test_upsert_member_validation(demo, body, field):
    response = demo.post(f"/api/v1/organizations/{DEMO_ORG}/users", json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_member_may_not_change_membership(emulator_client):
    member = emulator_client(MEMBER_TOKEN)
    url = f"/api/v1/organizations/{DEMO_ORG}/users"
    assert member.post(url, json={"username": OUTSIDER_USER, "role": "member"}).status_code == 403
    assert member.delete(f"{url}/{DEMO_USER}").status_code == 403


def test_remove_member(demo, emulator_client):
    url = f"/api/v1/organizations/{DEMO_ORG}/users"
    assert demo.delete(f"{url}/{MEMBER_USER}").status_code == 204
    assert MEMBER_USER not in {m["username"] for m in demo.get(url).json()}
    assert demo.delete(f"{url}/{MEMBER_USER}").status_code == 404
    assert emulator_client(MEMBER_TOKEN).get(f"/api/v1/organizations/{DEMO_ORG}").status_code == 404


def test_last_owner_cannot_be_removed(demo):
    response = demo.delete(f"/api/v1/organizations/{NON_PRO_ORG}/users/{DEMO_USER}")
    assert response.status_code == 400


def test_reset_restores_the_seeded_world(emulator, demo):
    demo.delete(f"/api/v1/organizations/{DEMO_ORG}/users/{MEMBER_USER}")
    emulator.reset()
    members = demo.get(f"/api/v1/organizations/{DEMO_ORG}/users").json()
    assert MEMBER_USER in {m["username"] for m in members}
    assert len(emulator.requests) == 1
