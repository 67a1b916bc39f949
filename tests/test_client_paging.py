"""List endpoints follow a server that pages, over a real socket, so no row is cut off.

The emulator answers v1's plain lists; this small server pages the way v2 list endpoints do
(`page`/`per_page` with a default of 10, or a `next` link), like dlt's fake paged API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from scarf_etl.client import ClientSettings, ScarfClient, ScarfResponseError

TOKEN = "paging-test-token"
PACKAGES = [
    {
        "uuid": f"id-{i}",
        "owner": "acme",
        "name": f"pkg-{i}",
        "shortDescription": "s",
        "createdAt": "2024-01-01T00:00:00Z",
    }
    for i in range(23)
]
MEMBERS = [{"organizationName": "acme", "username": f"u{i}", "role": "member"} for i in range(7)]


class PagedHandler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"message": "bad token"})
        elif url.path == "/api/v1/packages":
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 10))
            rows = PACKAGES[(page - 1) * per_page : page * per_page]
            self._send(200, {"data": rows, "page": page, "per_page": per_page})
        elif url.path == "/api/v1/organizations/acme/users":
            start = int(query.get("after", 0))
            body: dict[str, object] = {"results": MEMBERS[start : start + 3]}
            if start + 3 < len(MEMBERS):
                body["next"] = str(start + 3)
            self._send(200, body)
        elif url.path == "/api/v1/organizations/acme/packages":
            self._send(200, {"data": PACKAGES[:2], "next": "http://elsewhere.example/steal"})
        else:
            self._send(404, {"message": "no such thing"})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def paged_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PagedHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    PagedHandler.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_page_numbers_are_followed_to_the_last_row(paged_server: str) -> None:
    with ScarfClient(TOKEN, ClientSettings(v1_url=paged_server)) as client:
        packages = client.list_packages()
    assert [p.uuid for p in packages] == [p["uuid"] for p in PACKAGES]
    assert len(PagedHandler.seen) == 3  # 10 + 10 + 3 rows


def test_cursors_are_followed(paged_server: str) -> None:
    with ScarfClient(TOKEN, ClientSettings(v1_url=paged_server)) as client:
        members = client.list_organization_members("acme")
    assert [m.username for m in members] == [f"u{i}" for i in range(7)]


def test_a_next_link_to_another_host_is_refused(paged_server: str) -> None:
    with (
        ScarfClient(TOKEN, ClientSettings(v1_url=paged_server)) as client,
        pytest.raises(ScarfResponseError, match="another host"),
    ):
        client.list_organization_packages("acme")
