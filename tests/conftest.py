"""Shared fixtures: a live Scarf API emulator on 127.0.0.1, and an S3-compatible server.

`emulator` is one session-wide server, reset (faults, request log, CRUD state) before each test
that uses it. `emulator_factory` starts extra servers with another seed or volume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer

EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture(scope="session")
def _session_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=0, events_per_day=50) as server:
        yield server


@pytest.fixture
def emulator(_session_emulator: EmulatorServer) -> EmulatorServer:
    """The session's emulator, reset to the seeded world with no faults."""
    _session_emulator.reset()
    return _session_emulator


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """Start another emulator: `emulator_factory(seed=1, events_per_day=5, faults=Faults(...))`.

    Every server it starts is stopped at teardown.
    """
    started: list[EmulatorServer] = []

    def start(
        *, seed: int = 0, events_per_day: int = 50, faults: Faults | None = None
    ) -> EmulatorServer:
        server = EmulatorServer(seed=seed, events_per_day=events_per_day, faults=faults)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def emulator_client(emulator: EmulatorServer) -> Iterator[Callable[[str | None], httpx.Client]]:
    """`emulator_client(token)`: an httpx client on the emulator's root URL with that Bearer token
    (None: no Authorization header). Clients are closed at teardown."""
    clients: list[httpx.Client] = []

    def make(token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        client = httpx.Client(base_url=emulator.url, headers=headers, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


S3_BUCKET = "team-lake"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 holding one empty bucket, `team-lake`; the standard AWS
    variables point at it. moto keeps its buckets per process, not per server: the state is
    reset first, so no test sees another's objects."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    httpx.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()
