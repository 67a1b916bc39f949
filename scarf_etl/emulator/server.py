"""Run the emulator app under uvicorn: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import datetime
import socket
import threading
import time
from types import TracebackType

import polars as pl
import uvicorn

from scarf_etl.emulator import events, world
from scarf_etl.emulator.app import Emulator, RequestRecord, build_app
from scarf_etl.emulator.faults import Faults

__all__ = ["EmulatorServer", "RequestRecord", "serve_forever"]

_STARTUP_TIMEOUT_S = 10.0


class EmulatorServer:
    """A live emulator on 127.0.0.1; a context manager: starts on enter, stops on exit."""

    def __init__(
        self,
        *,
        seed: int = 0,
        events_per_day: int = 50,
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.emulator = Emulator(seed=seed, events_per_day=events_per_day, faults=faults)
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.v1_url = ""
        self.v2_url = ""
        self.v3_url = ""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        sock = _bind(self._requested_port)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.emulator), log_level="critical", lifespan="off", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"scarf-emulator-{port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the emulator did not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        self._socket, self._server, self._thread = sock, server, thread
        self.url = f"http://127.0.0.1:{port}"
        self.v1_url = f"{self.url}/api/v1"
        self.v2_url = f"{self.url}/v2"
        self.v3_url = f"{self.url}/v3"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- what tests inspect and change --------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.emulator.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.emulator.faults = value

    @property
    def requests(self) -> list[RequestRecord]:
        return self.emulator.requests

    @property
    def seed(self) -> int:
        return self.emulator.events.seed

    @property
    def events_per_day(self) -> int:
        return self.emulator.events.events_per_day

    def reset(self) -> None:
        """Faults back to default, request log cleared, CRUD state back to the seeded world."""
        self.emulator.reset()

    def package_ids(self, owner: str) -> list[str]:
        """Uuids of `owner`'s packages, in the order exports list them."""
        return [p.uuid for p in self.emulator.owner_packages(owner)]

    def pixel_ids(self, owner: str) -> list[str]:
        return [s.id for s in self.emulator.store.pixel_sources(owner)]

    def expected_events(self, owner: str, package_id: str, day: datetime.date) -> pl.DataFrame:
        """The clean (fault-free) events of one package and day, typed, empty text as null."""
        for package in self.emulator.owner_packages(owner):
            if package.uuid == package_id:
                return events.typed_view(self.emulator.events.get(package.source(), day))
        raise KeyError(f"{owner!r} has no package {package_id!r}")

    def expected_pixel_events(self, owner: str, day: datetime.date) -> pl.DataFrame:
        """The clean events of all of `owner`'s pixels on one day, in export order."""
        sources = self.emulator.store.pixel_sources(owner)
        frames = [self.emulator.events.get(s, day) for s in sources]
        if not frames:  # an owner without pixels: the right columns, no rows
            empty = events.EventSource(world.stable_id("no-pixel"), "pixel", "")
            frames = [events.generate(self.seed, empty, day, events_per_day=0)]
        return pl.concat([events.typed_view(f) for f in frames])


def serve_forever(*, port: int, seed: int = 0, events_per_day: int = 50) -> None:
    """Serve on 127.0.0.1:`port` in the foreground until Ctrl-C (`scarf-etl emulator`)."""
    emulator = Emulator(seed=seed, events_per_day=events_per_day)
    sock = _bind(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yesterday = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)
    print(f"Scarf API emulator (seed {seed}, {events_per_day} events per package per day)")
    print(f"  v1 base URL: {url}/api/v1")
    print(f"  v2 base URL: {url}/v2")
    print(f"  v3 base URL: {url}/v3")
    print(f"  demo owner:  {world.DEMO_ORG} (organization), token: {world.DEMO_TOKEN}")
    print("  try:")
    window = f"start_date={yesterday - datetime.timedelta(days=1)}&end_date={yesterday}"
    print(
        f"    curl -H 'Authorization: Bearer {world.DEMO_TOKEN}' "
        f"'{url}/v2/packages/{world.DEMO_ORG}/events?{window}'"
    )
    print("Press Ctrl-C to stop.", flush=True)
    config = uvicorn.Config(build_app(emulator), log_level="info", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        print("Emulator stopped.")
    finally:
        sock.close()


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock
