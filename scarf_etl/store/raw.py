"""The raw layer: the API's bytes on disk, one folder per dataset and UTC day.

    data/raw/<dataset>/date=YYYY-MM-DD/<file>      exactly what the API sent
    data/raw/<dataset>/date=YYYY-MM-DD/_manifest.json

A day's folder is built in a staging folder and swapped into place only once every download of
the day is complete and its manifest written, so a reader never sees half a day: either the
previous complete fetch or the new one. The lake reads the manifest, never a directory listing,
so a stray file cannot leak into the lake.

With the data in a bucket (SCARF_DATA_DIR=s3://...) a day is built the same way in the local
cache, then published in object-storage terms: its files are uploaded under a key folder of
their own (`date=YYYY-MM-DD/fetch=<id>/<file>`, new keys nothing refers to yet), then the
manifest replaces the previous one (one atomic object) and names that folder, then the previous
fetch's objects are deleted. A reader reads the manifest first, so it sees the previous complete
fetch or the new one; an upload that fails leaves the previous manifest and its files as they
were; objects no manifest names (a killed run's) are deleted when the day is fetched again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scarf_etl.client import Download, ExportRequest, ScarfBadRequestError, ScarfClient
from scarf_etl.client.exports import V3_MAX_WINDOW_DAYS, ApiVersion
from scarf_etl.datasets import Dataset, Requests
from scarf_etl.settings import OwnerKind
from scarf_etl.store.drop_guard import DayShrankError, DropGuard, count_file_rows, refusal_message
from scarf_etl.store.location import DataLocation, ObjectStoreError, S3Data, as_location
from scarf_etl.store.raw_split import (
    consecutive_runs,
    split_csv_downloads_by_day,
    split_downloads_by_day,
    uncovered_day_warnings,
)

MANIFEST_NAME = "_manifest.json"
STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"
# A day copied from the bucket into the local cache is assembled in such a folder first.
CACHING_PREFIX = ".caching-"
# The key folder of one fetch's files in a bucket (see the module docstring).
FETCH_FOLDER = re.compile(r"fetch=[0-9a-f]{32}")
DATASETS = ("aggregates", "package_events", "pixel_events")
# Days fetched per batch: enough requests in flight to use the client's concurrency on
# single-package owners, few enough that a failure late in a year's backfill keeps earlier days.
DAYS_PER_BATCH = 8
# Most days one event export request covers (SCARF_EXPORT_WINDOW_DAYS): each call to Scarf is
# billed whatever its window, so a year costs 12 calls per package instead of 365.
DEFAULT_EXPORT_WINDOW_DAYS = 31
# Scarf's answer when a window is longer than it serves; the window is then halved.
RANGE_TOO_LONG = "range-too-long"
logger = logging.getLogger(__name__)


class RawDataMissingError(FileNotFoundError):
    """A day has no complete raw fetch; the message says which asset to materialize."""


class UnsafeIdError(ValueError):
    """An id from the API is not what it should be (a package UUID) and would not be safe as
    a file name; nothing was written for it."""


def package_file_name(package_id: str) -> str:
    """`<uuid>.csv` for a package id, which the API documents as a UUID. Anything else (say
    `../../x` or `/abs/x`) is refused before it can become a path outside the data folder."""
    try:
        parsed = uuid.UUID(package_id)
    except (ValueError, AttributeError, TypeError):
        parsed = None
    if parsed is None or str(parsed) != package_id.lower():
        raise UnsafeIdError(
            f"Scarf listed a package whose id {package_id!r} is not a UUID; scarf-etl names raw "
            "files after package ids, so it refuses to fetch rather than write a file named by "
            "the server. Check SCARF_API_URL points at the real Scarf API, and report the id."
        )
    return f"{parsed}.csv"


def _safe_manifest_name(folder: Path, name: str) -> Path:
    """A file named in a manifest, refused unless it is a plain name inside `folder`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafeIdError(f"{folder / MANIFEST_NAME} names a file {name!r} outside its folder")
    return folder / name


@dataclass(frozen=True)
class RawFile:
    path: Path
    package_id: str | None
    bytes: int
    rows: int | None = None  # None: fetched before manifests recorded rows


@dataclass(frozen=True)
class RawDay:
    dataset: str
    day: dt.date
    owner: str
    files: tuple[RawFile, ...]

    @property
    def bytes(self) -> int:
        return sum(file.bytes for file in self.files)


def raw_day_dir(data_dir: Path, dataset: str, day: dt.date) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"unknown raw dataset {dataset!r}; expected one of {DATASETS}")
    return data_dir / "raw" / dataset / f"date={day.isoformat()}"


def read_raw_day(data: Path | DataLocation, dataset: str, day: dt.date) -> RawDay:
    """The complete raw fetch of a day, from its manifest, as local files (a day in a bucket
    is copied into the local cache first, unless the cache already holds that fetch)."""
    location = as_location(data)
    if isinstance(location, S3Data):
        _cache_remote_day(location, dataset, day)
    folder = raw_day_dir(location.root, dataset, day)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise _missing(dataset, day, str(folder))
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return _raw_day_from_manifest(folder, manifest, dataset, day)


def _missing(dataset: str, day: dt.date, where: str) -> RawDataMissingError:
    return RawDataMissingError(
        f"No complete raw {dataset} for {day.isoformat()} in {where}: materialize the "
        f"raw_{dataset} asset for that partition first (it calls the API)."
    )


def _raw_day_from_manifest(
    folder: Path, manifest: Mapping[str, object], dataset: str, day: dt.date
) -> RawDay:
    entries = manifest["files"]
    assert isinstance(entries, list)
    files = tuple(
        RawFile(
            path=_safe_manifest_name(folder, str(entry["name"])),
            package_id=entry.get("package_id"),
            bytes=int(entry["bytes"]),
            rows=int(entry["rows"]) if entry.get("rows") is not None else None,
        )
        for entry in entries
    )
    return RawDay(dataset=dataset, day=day, owner=str(manifest["owner"]), files=files)


def _fetch_folder(folder: Path, manifest: Mapping[str, object]) -> Path:
    """Where a published manifest's files sit in the bucket: its fetch's key folder, or the
    day's folder itself for a manifest without one (a local data folder copied to a bucket)."""
    fetch = manifest.get("fetch")
    if fetch is None:
        return folder
    if not isinstance(fetch, str) or not FETCH_FOLDER.fullmatch(fetch):
        raise UnsafeIdError(f"{folder / MANIFEST_NAME} names a fetch folder {fetch!r}")
    return folder / fetch


def _cache_remote_day(location: S3Data, dataset: str, day: dt.date) -> None:
    """Copy the day's published fetch from the bucket into the local cache, unless the cache
    holds it already (same manifest, files of the sizes it records)."""
    folder = raw_day_dir(location.root, dataset, day)
    manifest_path = folder / MANIFEST_NAME
    # Twice: a fetch published while this one was being copied deletes the files it replaced.
    for attempt in (1, 2):
        published = location.read_bytes(manifest_path)
        if published is None:
            raise _missing(dataset, day, location.describe(folder))
        manifest = json.loads(published)
        wanted = _raw_day_from_manifest(folder, manifest, dataset, day)
        if _is_cached(manifest_path, published, wanted):
            return
        source = _fetch_folder(folder, manifest)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f"{CACHING_PREFIX}{day.isoformat()}-", dir=folder.parent)
        )
        try:
            for file in wanted.files:
                location.download(source / file.path.name, staging / file.path.name)
                if (staging / file.path.name).stat().st_size != file.bytes:
                    raise ObjectStoreError(
                        f"{location.describe(source / file.path.name)} does not have the "
                        f"{file.bytes} bytes its manifest records; re-fetch the day."
                    )
            (staging / MANIFEST_NAME).write_bytes(published)
            _swap_into_place(staging, folder, day)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise _missing(dataset, day, location.describe(folder)) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _is_cached(manifest_path: Path, published: bytes, wanted: RawDay) -> bool:
    try:
        if manifest_path.read_bytes() != published:
            return False
        return all(file.path.stat().st_size == file.bytes for file in wanted.files)
    except OSError:
        return False


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch for one dataset: the owner, for per-package exports the packages, and the
    API generation serving it (its `Requests` say what one request covers)."""

    dataset: Dataset
    owner: str
    owner_kind: OwnerKind
    package_ids: tuple[str, ...] = ()
    api: ApiVersion | None = None  # a key of dataset.requests; None: the first (today's API)
    window_days: int = DEFAULT_EXPORT_WINDOW_DAYS  # "window" spans: most days per request

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, not {self.window_days}")
        if self.api is None:
            object.__setattr__(self, "api", next(iter(self.dataset.requests)))
        if self.api not in self.dataset.requests:
            raise ValueError(
                f"{self.dataset.name} is not served by API {self.api!r} "
                f"(only {', '.join(self.dataset.requests)})"
            )

    @property
    def requests(self) -> Requests:
        assert self.api is not None  # set in __post_init__
        return self.dataset.requests[self.api]

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def fetches_windows(self) -> bool:
        """One request per package (or one for the owner) covers up to `window_days` days,
        and the files are split by day here."""
        return self.requests.span == "window"

    @property
    def fetches_ranges(self) -> bool:
        """One request per breakdown covers up to a year, split by day here (v3 aggregates: a
        year costs 8 calls instead of 365)."""
        return self.requests.span == "range"

    @property
    def requests_per_window(self) -> int:
        return len(self.package_ids) if self.dataset.per_package else 1

    def requests_for_range(
        self, staging: Path, start: dt.date, end: dt.date
    ) -> list[ExportRequest]:
        """A "range" span's requests for `[start, end)`: one per breakdown."""
        return [
            ExportRequest(
                kind=self.dataset.export,
                owner=self.owner,
                start=start,
                end=end,
                dest=staging / f"{self.name}-{breakdown}.{self.dataset.file_format}",
                api=self.api,
                breakdown=breakdown,
            )
            for breakdown in self.requests.breakdowns
        ]

    def requests_for_day(self, staging: Path, day: dt.date) -> list[ExportRequest]:
        end = day + dt.timedelta(days=1)
        if self.fetches_ranges:
            return self.requests_for_range(staging, day, end)
        return self.requests_for_window(staging, day, end)

    def requests_for_window(
        self, staging: Path, start: dt.date, end: dt.date
    ) -> list[ExportRequest]:
        """Exports of `[start, end)`: one per package, or one for the owner."""
        if not self.dataset.per_package:
            return [
                ExportRequest(
                    kind=self.dataset.export,
                    owner=self.owner,
                    owner_kind=self.owner_kind,
                    start=start,
                    end=end,
                    dest=staging / self.dataset.owner_file_name,
                    api=self.api,
                )
            ]
        return [
            ExportRequest(
                kind=self.dataset.export,
                owner=self.owner,
                package_id=package_id,
                start=start,
                end=end,
                dest=staging / package_file_name(package_id),
                api=self.api,
            )
            for package_id in self.package_ids
        ]


def fetch_days(
    client: ScarfClient,
    plan: FetchPlan,
    days: Sequence[dt.date],
    data: Path | DataLocation,
    *,
    warn: Callable[[str], None] = logger.warning,
    guard: DropGuard | None = None,
) -> list[RawDay]:
    """Download every day of `days` and swap each complete day into place (publish it to the
    bucket, for a remote data location).

    Days are fetched in batches; a failure leaves earlier batches in place and no partial day.
    v3 aggregates are fetched for whole ranges and split by day (`fetch_split_ranges`);
    `warn` hears about days the server said it did not cover. A day the `guard` refuses (its
    rows would shrink too far) keeps its previous fetch; the others are published, then
    DayShrankError names the refused days.
    """
    guard = guard or DropGuard()
    location = as_location(data)
    if plan.fetches_ranges:
        return fetch_split_ranges(client, plan, days, location, warn=warn, guard=guard)
    if plan.fetches_windows:
        return fetch_event_windows(client, plan, days, location, warn=warn, guard=guard)
    data_dir = location.root
    publisher = _GuardedPublisher(plan, guard, location)
    for batch in _batches(days, DAYS_PER_BATCH):
        stagings = {day: _new_staging_dir(data_dir, plan.name, day) for day in batch}
        try:
            requests = [
                request for day in batch for request in plan.requests_for_day(stagings[day], day)
            ]
            downloads = client.download_all(requests) if requests else []
            publisher.publish(
                stagings, {day: [d for d in downloads if d.request.start == day] for day in batch}
            )
        finally:
            for staging in stagings.values():
                shutil.rmtree(staging, ignore_errors=True)
    return publisher.published()


@dataclass
class _GuardedPublisher:
    """Publishes fetched days the drop guard accepts and remembers the ones it refuses, so a
    refusal keeps that day's previous fetch without stopping the others."""

    plan: FetchPlan
    guard: DropGuard
    location: DataLocation
    fetched: list[RawDay] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def publish(
        self, stagings: Mapping[dt.date, Path], per_day: Mapping[dt.date, Sequence[Download]]
    ) -> None:
        """Swap each day of `per_day` (downloaded into `stagings[day]`) into place."""
        for day, downloads in per_day.items():
            dataset = self.plan.name
            refusal = _guard_refusal(self.guard, dataset, day, downloads, self.location)
            if refusal:
                self.refusals.append(refusal)
                continue
            self.fetched.append(
                _publish_day(self.plan, day, stagings[day], downloads, self.location)
            )

    def published(self) -> list[RawDay]:
        """The days published; raises DayShrankError naming the refused days, if any."""
        if self.refusals:
            raise DayShrankError(refusal_message(self.refusals))
        return self.fetched


def _guard_refusal(
    guard: DropGuard,
    dataset: str,
    day: dt.date,
    downloads: Sequence[Download],
    location: DataLocation,
) -> str | None:
    before = previous_day_rows(location, dataset, day)
    if before is None:
        return None
    return guard.refusal(dataset, day, before, sum(d.rows for d in downloads))


def previous_day_rows(data: Path | DataLocation, dataset: str, day: dt.date) -> int | None:
    """Rows of the day's current raw fetch, or None if it has none. From a bucket, the
    published manifest's counts (its files are copied only if it predates counting rows)."""
    location = as_location(data)
    if isinstance(location, S3Data):
        folder = raw_day_dir(location.root, dataset, day)
        published = location.read_bytes(folder / MANIFEST_NAME)
        if published is None:
            return None
        files = _raw_day_from_manifest(folder, json.loads(published), dataset, day).files
        if all(file.rows is not None for file in files):
            return sum(file.rows or 0 for file in files)
    try:
        previous = read_raw_day(location, dataset, day)
    except RawDataMissingError:
        return None
    total = 0
    for file in previous.files:
        total += file.rows if file.rows is not None else count_file_rows(file.path)
    return total


def fetch_split_ranges(
    client: ScarfClient,
    plan: FetchPlan,
    days: Sequence[dt.date],
    data: Path | DataLocation,
    *,
    warn: Callable[[str], None] = logger.warning,
    guard: DropGuard | None = None,
) -> list[RawDay]:
    """One request per breakdown for each run of consecutive days (at most 366), each file
    split by its rows' `date` into the days' folders, then every day published as usual."""
    location = as_location(data)
    data_dir = location.root
    publisher = _GuardedPublisher(plan, guard or DropGuard(), location)
    for run in consecutive_runs(days, V3_MAX_WINDOW_DAYS):
        start, end = run[0], run[-1] + dt.timedelta(days=1)
        download_dir = _new_staging_dir(data_dir, plan.name, start)
        stagings = {day: _new_staging_dir(data_dir, plan.name, day) for day in run}
        try:
            downloads = client.download_all(plan.requests_for_range(download_dir, start, end))
            for message in uncovered_day_warnings(downloads):
                warn(message)
            publisher.publish(stagings, split_downloads_by_day(downloads, stagings))
        finally:
            for staging in (download_dir, *stagings.values()):
                shutil.rmtree(staging, ignore_errors=True)
    return publisher.published()


def fetch_event_windows(
    client: ScarfClient,
    plan: FetchPlan,
    days: Sequence[dt.date],
    data: Path | DataLocation,
    *,
    warn: Callable[[str], None] = logger.warning,
    guard: DropGuard | None = None,
) -> list[RawDay]:
    """Event CSVs of `days`, one request per package per window of up to `plan.window_days`
    consecutive days, each file split by its rows' UTC day into the days' folders, then every
    day published as usual (raw, lake and warehouse stay per day). A lone day is one request
    for that day, written straight into its folder.

    When Scarf answers `range-too-long`, the window is halved (down to one day) and the same
    days asked again. The first window goes alone so such a refusal costs one window's calls;
    later windows go several at a time to keep the client's connections busy.
    """
    location = as_location(data)
    data_dir = location.root
    _remove_window_leftovers(data_dir, plan.name)
    publisher = _GuardedPublisher(plan, guard or DropGuard(), location)
    pending = sorted(set(days))
    window = plan.window_days
    requests_per_window = plan.requests_per_window
    windows_per_batch = max(1, client.settings.max_concurrency // max(1, requests_per_window))
    probed = False
    while pending:
        runs = consecutive_runs(pending, window)
        batch = runs[: windows_per_batch if probed else 1]
        longest = max(len(run) for run in batch)
        try:
            _fetch_windows(client, plan, batch, data_dir, publisher)
        except ScarfBadRequestError as error:
            if error.code != RANGE_TOO_LONG or longest == 1:
                raise
            window = max(1, longest // 2)
            warn(
                f"Scarf refused a {longest}-day {plan.name} export window (range-too-long); "
                f"asking for {window}-day windows instead. Set SCARF_EXPORT_WINDOW_DAYS="
                f"{window} to spare the refused calls next time."
            )
            probed = False
            continue
        probed = True
        done = {day for run in batch for day in run}
        pending = [day for day in pending if day not in done]
    return publisher.published()


def _fetch_windows(
    client: ScarfClient,
    plan: FetchPlan,
    runs: Sequence[Sequence[dt.date]],
    data_dir: Path,
    publisher: _GuardedPublisher,
) -> None:
    """Download the event windows `runs` together, split them by day and hand the days to
    `publisher`."""
    stagings = {day: _new_staging_dir(data_dir, plan.name, day) for run in runs for day in run}
    # A multi-day window downloads into a staging folder of its first day, then is split.
    downloads_dirs = {
        run[0]: stagings[run[0]] if len(run) == 1 else _window_staging_dir(data_dir, plan, run[0])
        for run in runs
    }
    try:
        requests = [
            request
            for run in runs
            for request in plan.requests_for_window(
                downloads_dirs[run[0]], run[0], run[-1] + dt.timedelta(days=1)
            )
        ]
        downloads = client.download_all(requests)
        for run in runs:
            window_downloads = [d for d in downloads if d.request.start == run[0]]
            if len(run) == 1:
                per_day = {run[0]: window_downloads}
            else:
                per_day = split_csv_downloads_by_day(
                    window_downloads, {day: stagings[day] for day in run}
                )
            publisher.publish(stagings, per_day)
    finally:
        for staging in (*stagings.values(), *downloads_dirs.values()):
            shutil.rmtree(staging, ignore_errors=True)


WINDOW_STAGING_PREFIX = f"{STAGING_PREFIX}window-"


def _window_staging_dir(data_dir: Path, plan: FetchPlan, first: dt.date) -> Path:
    parent = raw_day_dir(data_dir, plan.name, first).parent
    staging = parent / f"{WINDOW_STAGING_PREFIX}{first.isoformat()}-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    return staging


def _remove_window_leftovers(data_dir: Path, dataset: str) -> None:
    """Whole-window downloads a killed run left behind (one run fetches a dataset at a time,
    the scarf_api pool, so none of them is in use)."""
    parent = data_dir / "raw" / dataset
    if parent.is_dir():
        for leftover in parent.glob(f"{WINDOW_STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _batches(days: Sequence[dt.date], size: int) -> Iterable[Sequence[dt.date]]:
    for start in range(0, len(days), size):
        yield days[start : start + size]


def _new_staging_dir(data_dir: Path, dataset: str, day: dt.date) -> Path:
    parent = raw_day_dir(data_dir, dataset, day).parent
    # A run killed mid-fetch leaves its staging folders; one run fetches a dataset at a time
    # (the scarf_api pool), so any earlier staging folder of this day is such a leftover.
    for pattern in (STAGING_PREFIX, CACHING_PREFIX):
        for leftover in parent.glob(f"{pattern}{day.isoformat()}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    staging = parent / f"{STAGING_PREFIX}{day.isoformat()}-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    return staging


def _publish_day(
    plan: FetchPlan,
    day: dt.date,
    staging: Path,
    downloads: Sequence[Download],
    location: DataLocation,
) -> RawDay:
    remote = isinstance(location, S3Data)
    files = tuple(
        RawFile(path=d.path, package_id=d.request.package_id, bytes=d.bytes, rows=d.rows)
        for d in downloads
    )
    manifest = {
        "dataset": plan.name,
        "day": day.isoformat(),
        "owner": plan.owner,
        "fetched_at": dt.datetime.now(dt.UTC).isoformat(),
        **({"fetch": f"fetch={uuid.uuid4().hex}"} if remote else {}),
        "files": [
            {
                "name": d.path.name,
                "package_id": d.request.package_id,
                "bytes": d.bytes,
                "rows": d.rows,
                "content_type": d.content_type,
                "url": d.url,
                "attempts": d.attempts,
                # The request's window: a v3 file covers a whole range, split into its days.
                "window": [d.request.start.isoformat(), d.request.end.isoformat()],
                **({"headers": dict(d.scarf_headers)} if d.scarf_headers else {}),
            }
            for d in downloads
        ],
    }
    manifest_tmp = staging / f"{MANIFEST_NAME}.tmp"
    manifest_tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(manifest_tmp, staging / MANIFEST_NAME)

    final = raw_day_dir(location.root, plan.name, day)
    if isinstance(location, S3Data):
        _publish_remote(location, staging, final, manifest)
    _swap_into_place(staging, final, day)
    return RawDay(
        dataset=plan.name,
        day=day,
        owner=plan.owner,
        files=tuple(
            RawFile(path=final / f.path.name, package_id=f.package_id, bytes=f.bytes, rows=f.rows)
            for f in files
        ),
    )


def _publish_remote(
    location: S3Data, staging: Path, final: Path, manifest: Mapping[str, object]
) -> None:
    """Upload the day built in `staging` to the bucket: its files, then its manifest, then the
    previous fetch's objects are deleted (see the module docstring)."""
    manifest_path = final / MANIFEST_NAME
    previous: set[Path] = set()
    published = location.read_bytes(manifest_path)
    if published is not None:
        current = json.loads(published)
        folder = _fetch_folder(final, current)
        previous = {folder / name for name in _manifest_names(final, current)}
    # Objects no manifest names are a killed run's uploads. One run fetches a dataset at a
    # time (the scarf_api pool), so none of them is in use.
    location.delete(
        path
        for path in location.list_files(final)
        if path != manifest_path and path not in previous
    )
    fetch_folder = _fetch_folder(final, manifest)
    for name in _manifest_names(final, manifest):
        location.upload_new(staging / name, fetch_folder / name)
    location.replace(staging / MANIFEST_NAME, manifest_path)
    location.delete(previous)


def _manifest_names(folder: Path, manifest: Mapping[str, object]) -> list[str]:
    entries = manifest["files"]
    assert isinstance(entries, list)
    return [_safe_manifest_name(folder, str(entry["name"])).name for entry in entries]


def _swap_into_place(staging: Path, final: Path, day: dt.date) -> None:
    # A directory cannot be replaced atomically while it has content: move the old day aside,
    # move the new one in, then delete the old. A crash in between leaves a `.retired-` folder
    # (harmless, removed by the next fetch of that day) and at worst no folder for the day,
    # which reads as "not fetched" rather than as half a day.
    retired = final.parent / f"{RETIRED_PREFIX}{day.isoformat()}-{uuid.uuid4().hex}"
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)
    for leftover in final.parent.glob(f"{RETIRED_PREFIX}{day.isoformat()}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
