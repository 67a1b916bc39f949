"""The fixtures start a live emulator that answers authenticated requests."""

import httpx

from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN


def test_emulator_fixture_serves_the_demo_organization(emulator):
    response = httpx.get(
        f"{emulator.v1_url}/organizations/{DEMO_ORG}",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json()["name"] == DEMO_ORG
    assert [r.status for r in emulator.requests] == [200]


def test_emulator_factory_starts_a_separate_server(emulator, emulator_factory):
    other = emulator_factory(seed=7, events_per_day=3)
    assert other.url != emulator.url
    assert other.seed == 7
    response = httpx.get(f"{other.v1_url}/packages")
    assert response.status_code == 401
