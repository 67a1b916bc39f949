"""Raw files and the lake in a bucket (SCARF_DATA_DIR=s3://bucket/prefix), for real: an
S3-compatible server (moto) on 127.0.0.1, the real assets, pyarrow's S3 client over a socket.

The server's one test knob sits at its edge, as the emulator's do: `deny` refuses requests
(403 AccessDenied, as a bucket policy would) so an upload can fail half way through a day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_TOKEN
from scarf_etl.settings import SettingsError, load_settings, storage_paths
from scarf_etl.store.lake import local_partition_files
from scarf_etl.store.location import S3Data, UnsafeKeyError, data_location
from scarf_etl.store.raw import MANIFEST_NAME, UnsafeIdError, read_raw_day
from tests.conftest import EmulatorFactory
from tests.pipeline_helpers import configure, materialize_days, scalar, table_snapshot
from tests.test_load_command import RUN_TIMEOUT_SECONDS, create_instance, load_env, start_load

FIRST = dt.date(2026, 11, 1)
LAST = dt.date(2026, 11, 2)
REQUEST_TIMEOUT_SECONDS = 10
Deny = Callable[[str, str, dict[str, Any]], bool]
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)


class S3Server:
    """moto's S3 on 127.0.0.1 in a thread; `deny(method, path, environ)` refuses requests."""

    def __init__(self) -> None:
        self.deny: Deny | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if self.deny is not None and self.deny(method, path, environ):
            start_response("403 Forbidden", [("Content-Type", "application/xml")])
            return [ACCESS_DENIED]
        result: Iterable[bytes] = self._moto(environ, start_response)
        return result

    def start(self) -> None:
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS)

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A fresh S3 server, the AWS_* variables pointing at it (test credentials)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = S3Server()
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield server
    server.stop()


def client(s3: S3Server) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing-key",
        aws_secret_access_key="testing-secret",
    )


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new bucket (moto's state is per process, so each test gets its own name)."""
    name = f"scarf-{uuid.uuid4().hex[:12]}"
    client(s3).create_bucket(Bucket=name)
    return name


def objects(s3: S3Server, bucket: str) -> dict[str, bytes]:
    s3_client = client(s3)
    keys = [
        item["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]
    return {key: s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def configure_s3(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    url: str,
    work_dir: Path,
    warehouse: Path,
) -> Path:
    configure(monkeypatch, emulator, work_dir)  # the API variables
    monkeypatch.setenv("SCARF_DATA_DIR", url)
    monkeypatch.setenv("SCARF_WORK_DIR", str(work_dir))
    monkeypatch.setenv("SCARF_DUCKDB_PATH", str(warehouse))
    return warehouse


def published_manifest(store: dict[str, bytes], prefix: str, dataset: str, day: dt.date) -> Any:
    return json.loads(store[f"{prefix}/raw/{dataset}/date={day.isoformat()}/{MANIFEST_NAME}"])


def assert_tidy(store: dict[str, bytes], prefix: str) -> None:
    """Every object under the prefix; each raw day's objects are its manifest and the files it
    names; the lake holds one rows and one rejected-rows object per partition, no temp keys.
    (pyarrow keeps an empty `folder/` marker where it deleted a folder's last object.)"""
    assert store and all(key.startswith(f"{prefix}/") for key in store)
    markers = {key for key in store if key.endswith("/")}
    assert all(store[key] == b"" for key in markers)
    store = {key: value for key, value in store.items() if key not in markers}
    manifests = [key for key in store if key.endswith(f"/{MANIFEST_NAME}")]
    named = set(manifests)
    for key in manifests:
        manifest = json.loads(store[key])
        folder = key.rsplit("/", 1)[0]
        named.update(f"{folder}/{manifest['fetch']}/{f['name']}" for f in manifest["files"])
    raw = {key for key in store if key.startswith(f"{prefix}/raw/")}
    assert raw == named
    lake = [key for key in store if key.startswith(f"{prefix}/lake/")]
    assert lake and all(key.endswith("/part-0.parquet") for key in lake)


def test_a_bucket_gives_the_same_warehouse_as_a_local_folder_and_reruns_replace_days(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    local_warehouse = configure(monkeypatch, emulator, tmp_path / "local")
    assert materialize_days(FIRST, LAST).success
    local = table_snapshot(local_warehouse)

    url = f"s3://{bucket}/team/scarf"
    warehouse = configure_s3(monkeypatch, emulator, url, tmp_path / "work", tmp_path / "s3.duckdb")
    assert materialize_days(FIRST, LAST).success
    assert table_snapshot(warehouse) == local
    store = objects(s3, bucket)
    prefix = "team/scarf"
    assert_tidy(store, prefix)
    # The same layout as the local folder, under the prefix.
    for table in ("aggregates", "package_events", "pixel_events"):
        for day in (FIRST, LAST):
            assert f"{prefix}/lake/{table}/date={day}/part-0.parquet" in store
            assert f"{prefix}/lake/rejected_rows/table={table}/date={day}/part-0.parquet" in store
    manifest = published_manifest(store, prefix, "package_events", FIRST)
    local_manifest = json.loads(
        (tmp_path / "local/raw/package_events/date=2026-11-01" / MANIFEST_NAME).read_text()
    )
    assert sorted(f["name"] for f in manifest["files"]) == sorted(
        f["name"] for f in local_manifest["files"]
    )

    # A re-run of one day: a new fetch replaces the old one, nothing doubled.
    assert materialize_days(FIRST, FIRST).success
    assert table_snapshot(warehouse) == local
    rerun = objects(s3, bucket)
    assert_tidy(rerun, prefix)
    assert published_manifest(rerun, prefix, "package_events", FIRST)["fetch"] != manifest["fetch"]
    assert published_manifest(rerun, prefix, "package_events", LAST) == published_manifest(
        store, prefix, "package_events", LAST
    )


def test_a_failed_upload_keeps_the_previous_day_and_the_next_build_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    url = f"s3://{bucket}/data"
    warehouse = configure_s3(monkeypatch, emulator, url, tmp_path / "work", tmp_path / "w.duckdb")
    assert materialize_days(FIRST, FIRST).success
    before, rows_before = objects(s3, bucket), table_snapshot(warehouse)

    # The second file upload of the new fetch of package events is refused, half way
    # through the day, and so is every rejected-rows upload of the lake.
    uploads: list[str] = []

    def deny(method: str, path: str, environ: dict[str, Any]) -> bool:
        if method != "PUT" or "HTTP_X_AMZ_COPY_SOURCE" in environ:
            return False
        if "/raw/package_events/" in path and "/fetch=" in path:
            uploads.append(path)
            return len(uploads) > 1
        return "/lake/rejected_rows/" in path

    s3.deny = deny
    failed = materialize_days(FIRST, FIRST, raise_on_error=False)
    assert not failed.success
    after = objects(s3, bucket)
    # The package events day and the lake, byte for byte as published before: the manifest
    # names the previous fetch, whose files are all there; no lake object was replaced.
    kept = {k: v for k, v in before.items() if "/raw/package_events/" in k or "/lake/" in k}
    assert {key: after.get(key) for key in kept} == kept
    leftovers = [k for k in set(after) - set(before) if "/raw/package_events/" in k]
    assert len(leftovers) == 1 and "/fetch=" in leftovers[0]
    assert not [k for k in after if k.endswith(".tmp")]
    assert table_snapshot(warehouse) == rows_before

    # A second machine reading the bucket now sees the previous complete day.
    other = S3Data(root=tmp_path / "other", bucket=bucket, prefix="data")
    day = read_raw_day(other, "package_events", FIRST)
    manifest = published_manifest(before, "data", "package_events", FIRST)
    assert {f.path.name: f.bytes for f in day.files} == {
        f["name"]: f["bytes"] for f in manifest["files"]
    }

    s3.deny = None
    assert materialize_days(FIRST, FIRST).success
    assert_tidy(objects(s3, bucket), "data")
    assert table_snapshot(warehouse) == rows_before


def test_hostile_package_ids_never_become_keys_outside_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    other_bucket = f"scarf-{uuid.uuid4().hex[:12]}"
    client(s3).create_bucket(Bucket=other_bucket)
    url = f"s3://{bucket}/sandbox/deep"
    work = tmp_path / "work"
    configure_s3(monkeypatch, emulator, url, work, tmp_path / "w.duckdb")
    emulator.faults = Faults(
        hostile_package_ids=("../../../../escape", f"/{other_bucket}/x", "..%2f..%2fx")
    )
    result = materialize_days(FIRST, FIRST, raise_on_error=False)
    assert not result.success
    assert all(key.startswith("sandbox/deep/") for key in objects(s3, bucket))
    assert objects(s3, other_bucket) == {}
    outside = [
        path
        for path in tmp_path.rglob("*")
        if not path.is_relative_to(work)
        and path not in work.parents
        and not path.name.endswith((".duckdb", ".duckdb.build", ".duckdb.wal"))
    ]
    assert outside == []


def test_a_tampered_manifest_cannot_point_outside_the_prefix(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    location = S3Data(root=tmp_path / "cache", bucket=bucket, prefix="p")
    s3_client = client(s3)
    key = f"p/raw/pixel_events/date={FIRST}/{MANIFEST_NAME}"
    for manifest in (
        {"owner": "o", "fetch": "../../../other", "files": [{"name": "a.csv", "bytes": 1}]},
        {"owner": "o", "fetch": "fetch=" + "0" * 32, "files": [{"name": "../a", "bytes": 1}]},
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
        with pytest.raises(UnsafeIdError):
            read_raw_day(location, "pixel_events", FIRST)
    with pytest.raises(UnsafeKeyError):
        location.key(tmp_path / "cache" / "raw" / ".." / ".." / "x")
    with pytest.raises(UnsafeKeyError):
        location.key(tmp_path / "elsewhere")
    assert objects(s3, bucket).keys() == {key}


def test_a_second_machine_rebuilds_lake_and_warehouse_from_the_bucket_alone(
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: EmulatorFactory,
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    api = emulator_factory(seed=3, events_per_day=20)
    url = f"s3://{bucket}/shared"
    first = configure_s3(monkeypatch, api, url, tmp_path / "work1", tmp_path / "one.duckdb")
    assert materialize_days(FIRST, LAST).success
    api.stop()  # from here on, no API

    second = configure_s3(monkeypatch, api, url, tmp_path / "work2", tmp_path / "two.duckdb")
    rebuilt = materialize_days(FIRST, LAST, selection=dg.AssetSelection.groups("lake", "warehouse"))
    assert rebuilt.success
    tables = ("aggregates", "package_events", "pixel_events", "rejected_rows", "loaded_days")
    one, two = table_snapshot(first), table_snapshot(second)
    assert {t: one[t] for t in tables} == {t: two[t] for t in tables}
    assert one["package_events"]
    # The second machine's cache holds the bucket's files, in the local layout.
    assert (tmp_path / "work2/s3" / bucket / "shared/lake/package_events/date=2026-11-01").is_dir()


def test_settings_for_a_bucket(tmp_path: Path) -> None:
    env = {"SCARF_OWNER": "o", "SCARF_DATA_DIR": "s3://bkt/a/b/", "SCARF_WORK_DIR": str(tmp_path)}
    settings = load_settings(env)
    assert settings.data_url == "s3://bkt/a/b"
    assert settings.data_dir == tmp_path / "s3" / "bkt" / "a" / "b"
    assert settings.duckdb_path == Path("data/warehouse.duckdb")
    location = data_location(settings)
    assert isinstance(location, S3Data) and (location.bucket, location.prefix) == ("bkt", "a/b")
    assert storage_paths({"SCARF_DATA_DIR": "s3://bkt"})[0] == Path(".scarf-work/s3/bkt")
    assert load_settings({"SCARF_OWNER": "o"}).data_url is None
    for bad in ("gs://bkt/x", "s3:///x", "s3://bkt/../x"):
        with pytest.raises(SettingsError, match="SCARF_DATA_DIR"):
            load_settings({"SCARF_OWNER": "o", "SCARF_DATA_DIR": bad})


def test_scarf_etl_load_into_a_bucket_never_prints_the_credentials(
    emulator: EmulatorServer, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    env = load_env(emulator, tmp_path)
    secret = f"secret-{uuid.uuid4().hex}"
    env.update(
        SCARF_DATA_DIR=f"s3://{bucket}/cli",
        SCARF_WORK_DIR=str(tmp_path / "work"),
        SCARF_DUCKDB_PATH=str(tmp_path / "cli.duckdb"),
        AWS_ACCESS_KEY_ID="testing-key",
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=s3.endpoint,
    )
    create_instance(env)
    load = start_load(env, "2026-11-01", "2026-11-01")
    output = load.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert load.returncode == 0, output
    assert secret not in output and DEMO_TOKEN not in output
    assert scalar(tmp_path / "cli.duckdb", "SELECT count(*) FROM scarf.package_events") > 0
    assert_tidy(objects(s3, bucket), "cli")


def test_the_local_cache_follows_the_bucket(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    s3_client = client(s3)
    location = S3Data(root=tmp_path / "cache", bucket=bucket, prefix="p")
    folder = f"p/raw/pixel_events/date={FIRST}"

    def publish(body: bytes, fetch: str | None) -> None:
        manifest: dict[str, Any] = {"owner": "o", "files": [{"name": "px.csv", "bytes": len(body)}]}
        where = folder
        if fetch is not None:
            manifest["fetch"] = where_fetch = f"fetch={fetch * 32}"
            where = f"{folder}/{where_fetch}"
        s3_client.put_object(Bucket=bucket, Key=f"{where}/px.csv", Body=body)
        s3_client.put_object(
            Bucket=bucket, Key=f"{folder}/{MANIFEST_NAME}", Body=json.dumps(manifest).encode()
        )

    # A local data folder copied as is (`aws s3 sync data/ s3://...`): files beside the manifest.
    publish(b"time\nA\n", None)
    assert read_raw_day(location, "pixel_events", FIRST).files[0].path.read_bytes() == b"time\nA\n"
    publish(b"time\nB\n", "a")  # a new fetch of the same size
    day = read_raw_day(location, "pixel_events", FIRST)
    assert day.files[0].path.read_bytes() == b"time\nB\n"
    assert day.files[0].path == location.root / "raw/pixel_events/date=2026-11-01/px.csv"

    lake_key = f"p/lake/pixel_events/date={FIRST}/part-0.parquet"
    for body in (b"parquet-one", b"parquet-two"):  # same size, other bytes: the ETag tells
        s3_client.put_object(Bucket=bucket, Key=lake_key, Body=body)
        rows, rejected = local_partition_files(location, "pixel_events", FIRST)
        assert rows.read_bytes() == body and not rejected.exists()
    s3_client.delete_object(Bucket=bucket, Key=lake_key)
    assert not local_partition_files(location, "pixel_events", FIRST)[0].exists()
