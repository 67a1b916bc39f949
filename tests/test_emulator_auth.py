"""Bearer auth on every endpoint, and JSON errors for unknown routes and methods."""

import pytest

from scarf_etl.emulator.world import ACME_CLI, DEMO_ORG, DEMO_TOKEN, DEMO_USER

ENDPOINTS = [
    ("GET", f"/api/v1/organizations/{DEMO_ORG}"),
    ("POST", "/api/v1/organizations"),
    ("PUT", f"/api/v1/organizations/{DEMO_ORG}"),
    ("GET", f"/api/v1/organizations/{DEMO_ORG}/packages"),
    ("POST", f"/api/v1/organizations/{DEMO_ORG}/packages"),
    ("GET", f"/api/v1/organizations/{DEMO_ORG}/users"),
    ("POST", f"/api/v1/organizations/{DEMO_ORG}/users"),
    ("DELETE", f"/api/v1/organizations/{DEMO_ORG}/users/{DEMO_USER}"),
    ("GET", f"/api/v1/organizations/{DEMO_ORG}/aggregates"),
    ("GET", f"/api/v1/users/{DEMO_USER}/aggregates"),
    ("GET", "/api/v1/packages"),
    ("POST", "/api/v1/packages"),
    ("GET", f"/api/v1/packages/{ACME_CLI.uuid}"),
    ("PUT", f"/api/v1/packages/{ACME_CLI.uuid}"),
    ("DELETE", f"/api/v1/packages/{ACME_CLI.uuid}"),
    ("GET", f"/api/v1/packages/{ACME_CLI.uuid}/permissions"),
    ("POST", f"/api/v1/packages/{ACME_CLI.uuid}/permissions"),
    ("GET", f"/api/v1/packages/{ACME_CLI.uuid}/routes"),
    ("POST", f"/api/v1/packages/{ACME_CLI.uuid}/routes"),
    ("DELETE", f"/api/v1/packages/{ACME_CLI.uuid}/routes/x"),
    ("GET", f"/api/v1/packages/{ACME_CLI.uuid}/domains"),
    ("POST", f"/api/v1/packages/{ACME_CLI.uuid}/domains"),
    ("DELETE", f"/api/v1/packages/{ACME_CLI.uuid}/domains/x"),
    ("GET", f"/api/v1/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events/e.csv"),
    ("GET", "/api/v1/pixels/events/p.csv"),
    ("GET", f"/v2/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events"),
    ("GET", f"/v2/packages/{DEMO_ORG}/events"),
    ("GET", f"/v2/packages/{DEMO_ORG}/aggregates"),
    ("GET", f"/v2/tracking-pixels/{DEMO_ORG}/events"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_every_endpoint_needs_a_known_token(emulator_client, method, path, token):
    response = emulator_client(token).request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_token_never_shows_in_the_request_log(emulator, emulator_client):
    emulator_client(DEMO_TOKEN).get(f"/api/v1/organizations/{DEMO_ORG}")
    assert DEMO_TOKEN not in repr(emulator.requests)


def test_non_bearer_scheme_is_401(emulator_client, emulator):
    client = emulator_client(None)
    response = client.get("/api/v1/packages", headers={"Authorization": f"Basic {DEMO_TOKEN}"})
    assert response.status_code == 401


def test_unknown_route_and_method_are_json(emulator_client):
    client = emulator_client(DEMO_TOKEN)
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["message"]
    wrong_method = client.patch(f"/api/v1/organizations/{DEMO_ORG}")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"]
