"""The client's pure rules: Retry-After parsing, backoff bounds, paging, requests and models."""

from __future__ import annotations

import pickle
import random
from dataclasses import asdict, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scarf_etl.client import (
    ClientSettings,
    ExportRequest,
    Organization,
    OrganizationMember,
    OrganizationUpsert,
    Package,
    PackageDomain,
    PackagePermission,
    PackagePermissionSet,
    PackageRoute,
    PackageUpsert,
    ScarfClient,
)
from scarf_etl.client.errors import (
    AttemptRecord,
    InvalidExportError,
    ScarfAuthError,
    ScarfRedirectError,
    ScarfResponseError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.client.exports import export_location
from scarf_etl.client.paging import next_page, page_items
from scarf_etl.client.retry import backoff_delay, next_wait, parse_retry_after


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(" 2.5 ", now=now) == 2.5
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    rng = random.Random(1)
    kwargs = {"initial": 1.0, "maximum": 8.0, "retry_after_max": 60.0, "rng": rng}
    assert next_wait(1, 12.0, **kwargs) == 12.0  # type: ignore[arg-type]
    assert next_wait(1, 3600.0, **kwargs) == 60.0  # type: ignore[arg-type]


def test_backoff_is_full_jitter_growing_to_a_cap() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        waits = [backoff_delay(attempt, initial=0.5, maximum=3.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # jitter spans the range, not a fixed point


def test_paging_rules() -> None:
    assert page_items([{"a": 1}]) == [{"a": 1}]
    assert next_page([{"a": 1}], {}) is None  # v1: a plain list is the whole answer

    body = {"data": [1, 2], "page": 1, "per_page": 2, "total": 5}
    following = next_page(body, {})
    assert following is not None and following.params == {"page": "2", "per_page": "2"}
    assert next_page({"data": [5], "page": 3, "per_page": 2, "total": 5}, {}) is None
    # No total: a full page means there may be more; a short one ends it.
    assert next_page({"results": [1, 2], "page": 1, "per_page": 2}, {}) is not None
    assert next_page({"results": [1], "page": 2, "per_page": 2}, {}) is None
    cursor = next_page({"items": [1], "next": "abc"}, {"x": "1"})
    assert cursor is not None and cursor.params == {"x": "1", "after": "abc"}
    link = next_page({"items": [1], "next": "/api/v1/packages?page=2"}, {})
    assert link is not None and link.url == "/api/v1/packages?page=2"
    with pytest.raises(ScarfResponseError):
        page_items({"a": 1})


def test_export_locations_follow_the_api_page(tmp_path: Path) -> None:
    day, next_day = date(2024, 1, 2), date(2024, 1, 3)
    v1, v2 = "http://h/api/v1", "http://h/v2"

    def where(**kwargs: object) -> tuple[str, dict[str, str]]:
        request = ExportRequest(start=day, end=next_day, dest=tmp_path / "f", **kwargs)  # type: ignore[arg-type]
        return export_location(request, v1_url=v1, v2_url=v2)

    v1_window = {"startDate": "2024-01-02", "endDate": "2024-01-03"}
    v2_window = {"start_date": "2024-01-02", "end_date": "2024-01-03"}
    assert where(kind="aggregates", owner="acme") == (
        f"{v1}/organizations/acme/aggregates",
        v1_window,
    )
    assert where(kind="aggregates", owner="me", owner_kind="user")[0] == f"{v1}/users/me/aggregates"
    assert where(kind="package_events", owner="acme", package_id="p1") == (
        f"{v2}/packages/acme/p1/events",
        v2_window,
    )
    url, params = where(kind="package_events", owner="acme", package_id="p1", api="v1")
    assert url.startswith(f"{v1}/packages/acme/p1/events/") and url.endswith(".csv")
    assert params == v1_window
    assert where(kind="owner_package_events", owner="acme")[0] == f"{v2}/packages/acme/events"
    assert where(kind="pixel_events", owner="acme")[0] == f"{v2}/tracking-pixels/acme/events"
    assert where(kind="pixel_events", owner="acme", api="v1")[0].startswith(f"{v1}/pixels/events/")


def test_export_request_refuses_impossible_requests(tmp_path: Path) -> None:
    day = date(2024, 1, 2)
    with pytest.raises(ValueError, match="empty window"):
        ExportRequest("aggregates", "acme", day, day, tmp_path / "f")
    with pytest.raises(ValueError, match="package_id"):
        ExportRequest("package_events", "acme", day, day + timedelta(1), tmp_path / "f")
    with pytest.raises(ValueError, match="v2"):
        ExportRequest("owner_package_events", "a", day, day + timedelta(1), tmp_path, api="v1")


def test_models_ignore_unknown_keys_and_read_utc_times() -> None:
    org = Organization.from_json(
        {
            "name": "acme",
            "description": "d",
            "billingEmail": "b@x",
            "createdAt": "2023-06-01T09:30:00Z",
            "updatedAt": "2023-06-01 09:30:00",
            "brandNewField": 1,
        }
    )
    assert org.created_at == datetime(2023, 6, 1, 9, 30, tzinfo=UTC)
    assert org.updated_at.tzinfo is UTC and org.website is None
    with pytest.raises(ScarfResponseError, match="uuid"):
        Package.from_json({"name": "x"})


def test_read_models_keep_their_attributes_and_map_camel_case_keys() -> None:
    """The dimensions code reads these attributes by name (via asdict); they must not drift."""
    expected = {
        Organization: [
            "name",
            "description",
            "billing_email",
            "created_at",
            "updated_at",
            "website",
        ],
        OrganizationMember: ["organization_name", "username", "role"],
        Package: [
            "uuid",
            "owner",
            "name",
            "short_description",
            "created_at",
            "long_description",
            "website",
            "library_type",
        ],
        PackagePermission: ["username", "permission_level"],
        PackageRoute: ["id", "outgoing_url", "template_path"],
        PackageDomain: ["id", "name"],
    }
    for model, names in expected.items():
        assert [f.name for f in fields(model)] == names, model.__name__
    package = Package.from_json(
        {
            "uuid": "u1",
            "owner": "acme",
            "name": "tool",
            "shortDescription": "s",
            "createdAt": "2023-06-01T09:30:00+02:00",
            "longDescription": None,
            "libraryType": "npm",
        }
    )
    assert asdict(package) == {
        "uuid": "u1",
        "owner": "acme",
        "name": "tool",
        "short_description": "s",
        "created_at": datetime(2023, 6, 1, 7, 30, tzinfo=UTC),
        "long_description": None,
        "website": None,
        "library_type": "npm",
    }
    route = PackageRoute.from_json({"id": "r", "outgoingUrl": "https://o", "templatePath": "/t"})
    assert (route.outgoing_url, route.template_path) == ("https://o", "/t")
    with pytest.raises(ScarfResponseError, match=r"PackageRouteV1 .*templatePath"):
        PackageRoute.from_json({"id": "r", "outgoingUrl": "https://o"})
    with pytest.raises(ScarfResponseError, match="OrganizationMemberV1"):
        OrganizationMember.from_json([])  # type: ignore[arg-type]


def test_request_models_emit_the_pages_names_and_omit_none() -> None:
    assert PackageUpsert("tool", "A tool").to_json() == {
        "name": "tool",
        "shortDescription": "A tool",
    }
    full = PackageUpsert(
        "img",
        "An image",
        long_description="Long",
        website="https://w",
        library_type="docker",
        backend_url="https://registry.example/acme/img",
        public_url="https://docker.acme.example/acme/img",
        repository_url="https://pypi.org/simple/",
    )
    assert full.to_json() == {
        "name": "img",
        "shortDescription": "An image",
        "longDescription": "Long",
        "website": "https://w",
        "libraryType": "docker",
        "backendUrl": "https://registry.example/acme/img",
        "publicUrl": "https://docker.acme.example/acme/img",
        "repositoryURL": "https://pypi.org/simple/",  # the page's spelling, capital URL
    }
    assert OrganizationUpsert("acme", "Labs", "pay@acme.example").to_json() == {
        "name": "acme",
        "description": "Labs",
        "billingEmail": "pay@acme.example",
    }
    with_site = OrganizationUpsert("acme", "", "pay@acme.example", website="https://acme")
    assert with_site.to_json()["website"] == "https://acme"
    assert with_site.to_json()["description"] == ""  # empty is a value, only None is left out
    assert PackagePermissionSet("bob@x.example", "admin").to_json() == {
        "userQuery": "bob@x.example",
        "permissionLevel": "admin",
    }
    with pytest.raises(TypeError):
        PackageUpsert("tool", "A tool", "long")  # type: ignore[call-arg]


def test_settings_and_client_keep_the_token_out_of_repr() -> None:
    token = "tok-secret-123456"
    client = ScarfClient(token, ClientSettings(v1_url="http://127.0.0.1:9/api/v1"))
    with client:
        assert token not in repr(client) and token not in str(client)
        assert token not in repr(client.settings)
        assert token not in repr(vars(client))
    with pytest.raises(ScarfAuthError, match="SCARF_API_TOKEN"):
        ScarfClient("  ")
    assert ClientSettings().user_agent.startswith("scarf-etl/")


def test_errors_survive_pickling_with_their_details() -> None:
    """Process pools and run launchers pickle exceptions; the history must come through."""
    record = AttemptRecord(1, "HTTP 503", 503, "busy", None)
    error = ScarfRetriesExhaustedError("gave up", history=(record,), url="http://h/x")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.history, copy.url, copy.status_code) == (
        "gave up",
        (record,),
        "http://h/x",
        503,
    )


def test_invalid_export_and_redirect_errors_survive_pickling() -> None:
    record = AttemptRecord(1, "InvalidExport", 200, "the body is empty", None)
    invalid = pickle.loads(
        pickle.dumps(InvalidExportError("bad body", history=(record,), url="http://h/x"))
    )
    assert isinstance(invalid, ScarfRetriesExhaustedError)
    assert (str(invalid), invalid.history, invalid.status_code) == ("bad body", (record,), 200)
    moved = pickle.loads(pickle.dumps(ScarfRedirectError("moved", status_code=401, url="u")))
    assert (str(moved), moved.status_code, moved.url) == ("moved", 401, "u")


@pytest.mark.parametrize(
    ("field", "value"), [("notice_interval", 0.0), ("progress_interval", -1.0)]
)
def test_notice_and_progress_intervals_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ClientSettings(**{field: value})  # type: ignore[arg-type]
