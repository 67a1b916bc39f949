"""Shared fixtures: a live Scarf API emulator on 127.0.0.1.

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
