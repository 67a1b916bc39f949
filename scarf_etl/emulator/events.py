"""Vectorized, seeded generation of one source's events for one UTC day, with an LRU cache.

A source is a package or a tracking pixel. The frame holds the 24 real export columns (low-
cardinality text as `Enum`, `time` as a UTC datetime) plus the hidden `_client` /
`_client_version` columns that the client breakdown of the aggregates needs.
"""

from __future__ import annotations

import datetime
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from scarf_etl.emulator import world

V2_COLUMNS: tuple[str, ...] = (
    "id", "type", "package", "pixel", "version", "time", "referer", "user_agent", "platform",
    "variables", "origin_id", "origin_latitude", "origin_longitude", "origin_country",
    "origin_city", "origin_postal", "origin_connection_type", "origin_company", "origin_domain",
    "dnt", "confidence", "endpoint_id", "origin_state", "mtc_quota_exceeded",
)  # fmt: skip
V1_PAGE_COLUMNS: tuple[str, ...] = (
    "type", "package", "version", "time", "referer", "user_agent", "variables", "origin_id",
    "origin_latitude", "origin_longitude", "origin_country", "origin_city", "origin_postal",
    "origin_company", "origin_domain", "origin_connection_type",
)  # fmt: skip
# v1 promises its 16 page fields first; the real exports carry the rest after them.
V1_COLUMNS: tuple[str, ...] = V1_PAGE_COLUMNS + tuple(
    c for c in V2_COLUMNS if c not in V1_PAGE_COLUMNS
)
HIDDEN_COLUMNS = ("_client", "_client_version")

T = TypeVar("T")
# Rows generated in one go when a window's frames are generated ahead (`EventCache.warm`).
WARM_BATCH_ROWS = 50_000

_DAY_US = 86_400_000_000
_ID_EPOCH = datetime.date(2020, 1, 1)
_HEX4 = pl.Series([f"{i:04x}" for i in range(65536)], dtype=pl.String)
# Fraction digits each TIME_FORMATS entry keeps, so the generated times survive the round trip.
_FORMAT_PRECISION_US = {0: 1, 1: 1_000, 2: 1_000_000, 3: 1_000_000}


@dataclass(frozen=True)
class EventSource:
    """What events are generated for: a package or a pixel (frozen: it is a cache key)."""

    id: str  # package uuid or pixel id
    kind: str  # "package" or "pixel"
    name: str
    library_type: str | None = None

    @property
    def table(self) -> str:
        """Which value tables (user agents, versions, types) fit this source."""
        if self.kind == "pixel":
            return "pixel"
        return self.library_type or "other"

    @property
    def key(self) -> int:
        return int(self.id.replace("-", "")[:16], 16)

    @property
    def time_format_index(self) -> int:
        return self.key % len(world.TIME_FORMATS)

    @property
    def time_format(self) -> str:
        return world.TIME_FORMATS[self.time_format_index]


def event_count(seed: int, source: EventSource, day: datetime.date, events_per_day: int) -> int:
    """Rows of (source, day): around events_per_day (±25 %), 0 before DATA_START."""
    if events_per_day <= 0 or day < world.DATA_START:
        return 0
    rng = np.random.default_rng([_seed(seed), source.key, day.toordinal(), 1])
    return max(1, round(events_per_day * rng.uniform(0.75, 1.25)))


def generate(
    seed: int, source: EventSource, day: datetime.date, events_per_day: int
) -> pl.DataFrame:
    """The events of one source on one UTC day, sorted by time."""
    return generate_days(seed, source, [day], events_per_day)[0]


@dataclass(frozen=True)
class _DayDraws:
    """One (source, day)'s random draws, in the order its generator makes them."""

    day: datetime.date
    offsets: npt.NDArray[np.int64]
    type_idx: npt.NDArray[np.int64]
    origin_index: npt.NDArray[np.uint64]
    id_a: npt.NDArray[np.int64]
    id_b: npt.NDArray[np.int64]
    version: npt.NDArray[np.int64]
    referer: npt.NDArray[np.int64]
    variables: npt.NDArray[np.int64]
    dnt: npt.NDArray[np.bool_]
    confidence: npt.NDArray[np.float64]
    endpoint: npt.NDArray[np.int64]
    mtc: npt.NDArray[np.bool_]


def _draws(seed: int, source: EventSource, day: datetime.date, events_per_day: int) -> _DayDraws:
    """The day's own random stream (seeded by seed, source and day): what makes its rows."""
    n = event_count(seed, source, day, events_per_day)
    rng = np.random.default_rng([_seed(seed), source.key, day.toordinal()])
    table = source.table
    step = _FORMAT_PRECISION_US[source.time_format_index]
    offsets = np.sort(rng.integers(0, _DAY_US // step, n, dtype=np.int64)) * step
    _, weights = zip(*world.EVENT_TYPES[table], strict=True)
    type_idx = rng.choice(len(weights), size=n, p=np.array(weights) / sum(weights))
    # Origins recur across days and packages; everything about an origin follows from its hash.
    origin_index = rng.integers(0, max(16, n // 3), n, dtype=np.uint64)
    id_a = np.asarray(rng.integers(0, 0x1000, n), dtype=np.int64) | 0x4000
    id_b = np.asarray(rng.integers(0, 0x4000, n), dtype=np.int64) | 0x8000
    version = rng.integers(0, len(world.VERSIONS[table]), n)
    referer = rng.integers(0, len(world.REFERERS.get(table, world.REFERERS["default"])), n)
    variables = rng.integers(0, len(world.FILE_VARIABLES) if table == "other" else 1, n)
    dnt = rng.random(n) < 0.1
    confidence = np.round(rng.uniform(0.3, 1.0, n), 2)
    endpoint = rng.integers(0, 2, n)
    mtc = rng.random(n) < 0.02
    return _DayDraws(
        day, offsets, type_idx, origin_index, id_a, id_b, version, referer, variables, dnt,
        confidence, endpoint, mtc,
    )  # fmt: skip


def generate_days(
    seed: int, source: EventSource, days: Sequence[datetime.date], events_per_day: int
) -> list[pl.DataFrame]:
    """The events of one source on each of `days`, each day sorted by time: every day drawn
    from its own random stream (so a day's rows never depend on which days come with it), the
    columns built once for all of them (a year of small days costs a few polars calls, not a
    few dozen per day)."""
    draws = [_draws(seed, source, day, events_per_day) for day in days]
    sizes = [d.offsets.shape[0] for d in draws]
    n = sum(sizes)
    table = source.table

    def joined(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(d, name) for d in draws]) if draws else np.array([])

    day_starts = np.repeat(
        np.array([(d - datetime.date(1970, 1, 1)).days * _DAY_US for d in days], np.int64), sizes
    )
    times = pl.Series("time", joined("offsets").astype(np.int64) + day_starts).cast(
        pl.Datetime("us", "UTC")
    )
    types = [t for t, _ in world.EVENT_TYPES[table]]
    origin_hash = _splitmix64(joined("origin_index").astype(np.uint64) ^ np.uint64(_seed(seed)))
    city_idx = (origin_hash >> np.uint64(16)) % np.uint64(len(world.CITIES))
    company_idx = (origin_hash >> np.uint64(24)) % np.uint64(len(world.COMPANIES))
    agents = world.USER_AGENTS[table]
    agent_idx = (origin_hash >> np.uint64(40)) % np.uint64(len(agents))
    jitter = ((origin_hash >> np.uint64(48)) & np.uint64(0xFF)).astype(np.float64) / 2550.0

    lat_table = np.array([c[4] if c[4] is not None else np.nan for c in world.CITIES])
    lon_table = np.array([c[5] if c[5] is not None else np.nan for c in world.CITIES])
    versions = world.VERSIONS[table]
    referers = world.REFERERS.get(table, world.REFERERS["default"])
    variables = world.FILE_VARIABLES if table == "other" else ("",)
    endpoints = (
        world.stable_id("endpoint", source.id, "0"),
        world.stable_id("endpoint", source.id, "1"),
    )
    row = np.concatenate(
        [np.arange(size, dtype=np.int64) for size in sizes] or [np.array([], np.int64)]
    )
    zeros = np.zeros(n, np.int64)

    columns = [
        _event_ids(source, days, sizes, joined("id_a"), joined("id_b"), row),
        _enum("type", types, joined("type_idx").astype(np.int64)),
        _enum("package", (source.name if source.kind == "package" else "",), zeros),
        _enum("pixel", (source.id if source.kind == "pixel" else "",), zeros),
        _enum("version", versions, joined("version").astype(np.int64)),
        times,
        _enum("referer", referers, joined("referer").astype(np.int64)),
        _enum("user_agent", [a[0] for a in agents], agent_idx),
        _enum("platform", [a[3] for a in agents], agent_idx),
        _enum("variables", variables, joined("variables").astype(np.int64)),
        _hex16("origin_id", origin_hash),
        pl.Series("origin_latitude", np.round(lat_table[city_idx] + jitter, 4), nan_to_null=True),
        pl.Series("origin_longitude", np.round(lon_table[city_idx] - jitter, 4), nan_to_null=True),
        _enum("origin_country", [c[1] for c in world.CITIES], city_idx),
        _enum("origin_city", [c[0] for c in world.CITIES], city_idx),
        _enum("origin_postal", [c[3] for c in world.CITIES], city_idx),
        _enum("origin_connection_type", [c[2] for c in world.COMPANIES], company_idx),
        _enum("origin_company", [c[0] for c in world.COMPANIES], company_idx),
        _enum("origin_domain", [c[1] for c in world.COMPANIES], company_idx),
        pl.Series("dnt", joined("dnt").astype(np.bool_)),
        pl.Series("confidence", joined("confidence").astype(np.float64)),
        _enum("endpoint_id", endpoints, joined("endpoint").astype(np.int64)),
        _enum("origin_state", [c[2] for c in world.CITIES], city_idx),
        pl.Series("mtc_quota_exceeded", joined("mtc").astype(np.bool_)),
        _enum("_client", [a[1] for a in agents], agent_idx),
        _enum("_client_version", [a[2] for a in agents], agent_idx),
    ]
    frame = pl.DataFrame(columns)
    offsets = np.cumsum([0, *sizes])
    return [frame.slice(int(offsets[i]), size) for i, size in enumerate(sizes)]


def typed_view(frame: pl.DataFrame) -> pl.DataFrame:
    """The 24 export columns as plain types, empty text as null: what a normalizer should get."""
    return frame.select(
        pl.col(c).cast(pl.String).replace("", None)
        if frame.schema[c] == pl.String or isinstance(frame.schema[c], pl.Enum)
        else pl.col(c)
        for c in V2_COLUMNS
    )


class EventCache:
    """Generated frames, least recently used evicted past a row budget (bounds memory), and
    values derived from them (`derived`: aggregate rows), least recently used evicted past a
    count."""

    def __init__(
        self, seed: int, events_per_day: int, max_rows: int = 2_000_000, max_derived: int = 50_000
    ) -> None:
        self.seed = seed
        self.events_per_day = events_per_day
        self._max_rows = max_rows
        self._rows = 0
        self._frames: OrderedDict[tuple[EventSource, datetime.date], pl.DataFrame] = OrderedDict()
        self._max_derived = max_derived
        self._derived: OrderedDict[tuple[Hashable, EventSource, datetime.date], object] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        # Held while generating ahead or deriving: concurrent requests for the same window
        # (the v3 breakdowns, fetched four at a time) wait for one computation, not repeat it.
        self._compute_lock = threading.RLock()

    def warm(self, parts: Sequence[tuple[EventSource, datetime.date]]) -> None:
        """Generate the frames of `parts` not cached yet, a source's days together
        (`generate_days`), while they fit in half the row budget (the rest is generated when
        asked for, as it would be evicted before use)."""
        with self._compute_lock:
            self._warm(parts)

    def _warm(self, parts: Sequence[tuple[EventSource, datetime.date]]) -> None:
        budget = self._max_rows // 2
        for source, batch in self._batches_missing(parts, lambda key: key in self._frames):
            frames = self._frames_of(source, batch)
            budget -= sum(frame.height for frame in frames.values())
            if budget <= 0:
                return

    def _batches_missing(
        self,
        parts: Sequence[tuple[EventSource, datetime.date]],
        present: Callable[[tuple[EventSource, datetime.date]], bool],
    ) -> Iterator[tuple[EventSource, list[datetime.date]]]:
        """The parts not `present`, a source's days together, in batches of up to
        WARM_BATCH_ROWS events."""
        with self._lock:
            missing: dict[EventSource, list[datetime.date]] = {}
            for source, day in dict.fromkeys(parts):
                if not present((source, day)):
                    missing.setdefault(source, []).append(day)
        days_per_batch = max(1, WARM_BATCH_ROWS // max(1, self.events_per_day))
        for source, days in missing.items():
            for first in range(0, len(days), days_per_batch):
                yield source, days[first : first + days_per_batch]

    def derive_all(
        self,
        name: Hashable,
        parts: Sequence[tuple[EventSource, datetime.date]],
        compute_days: Callable[
            [EventSource, dict[datetime.date, pl.DataFrame]], Mapping[datetime.date, T]
        ],
    ) -> None:
        """Derive `name` for the `parts` not derived yet, a source's days together (up to
        WARM_BATCH_ROWS events a call): `compute_days(source, {day: frame})` must give, for each
        day, what `derived`'s `compute` gives for that day's frame. A year of small days is then
        a few calls, not one per day; a big day's frames, long evicted, are not regenerated once
        its values are kept."""
        with self._compute_lock:
            derived = self._batches_missing(parts, lambda key: (name, *key) in self._derived)
            for source, batch in derived:
                values = compute_days(source, self._frames_of(source, batch))
                with self._lock:
                    for day in batch:
                        self._keep_derived((name, source, day), values[day])

    def _frames_of(
        self, source: EventSource, days: Sequence[datetime.date]
    ) -> dict[datetime.date, pl.DataFrame]:
        with self._lock:
            frames = {
                day: self._frames[(source, day)] for day in days if (source, day) in self._frames
            }
        generated = [day for day in days if day not in frames]
        new = generate_days(self.seed, source, generated, self.events_per_day)
        with self._lock:
            for day, frame in zip(generated, new, strict=True):
                self._put((source, day), frame)
        frames.update(zip(generated, new, strict=True))
        return {day: frames[day] for day in days}

    def _keep_derived(
        self, key: tuple[Hashable, EventSource, datetime.date], value: object
    ) -> None:
        """Keep a derived value (the lock held), evicting the least recently used past the count."""
        self._derived[key] = value
        self._derived.move_to_end(key)
        while len(self._derived) > self._max_derived:
            self._derived.popitem(last=False)

    def derived(
        self,
        name: Hashable,
        source: EventSource,
        day: datetime.date,
        compute: Callable[[pl.DataFrame], T],
    ) -> T:
        """`compute(frame of (source, day))`, computed once per `name`: the eight v3 breakdown
        requests of a window all need the same day's aggregate rows. `compute` must be a pure
        function of the frame (the same name always means the same function)."""
        key = (name, source, day)
        with self._lock:
            if key in self._derived:
                self._derived.move_to_end(key)
                return cast(T, self._derived[key])
        with self._compute_lock:
            with self._lock:
                if key in self._derived:
                    return cast(T, self._derived[key])
            value = compute(self.get(source, day))
        with self._lock:
            self._keep_derived(key, value)
        return value

    def count(self, source: EventSource, day: datetime.date) -> int:
        return event_count(self.seed, source, day, self.events_per_day)

    def get(self, source: EventSource, day: datetime.date) -> pl.DataFrame:
        key = (source, day)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        frame = generate(self.seed, source, day, self.events_per_day)
        with self._lock:
            self._put(key, frame)
        return frame

    def _put(self, key: tuple[EventSource, datetime.date], frame: pl.DataFrame) -> None:
        """Cache `frame` (the lock held), evicting the least recently used past the budget."""
        if frame.height > self._max_rows or key in self._frames:
            return
        self._frames[key] = frame
        self._rows += frame.height
        while self._rows > self._max_rows:
            _, evicted = self._frames.popitem(last=False)
            self._rows -= evicted.height


def _seed(seed: int) -> int:
    # SeedSequence needs a non-negative entropy; keep any int a caller passes usable.
    return seed % (1 << 63)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _enum(
    name: str, values: tuple[str, ...] | list[str], index: npt.NDArray[np.integer]
) -> pl.Series:
    """A column of values[index] as an Enum: 1-4 bytes a row whatever the text length."""
    categories = list(dict.fromkeys(values))
    position = np.array([categories.index(v) for v in values], dtype=np.int64)
    return pl.Series(name, categories, dtype=pl.Enum(categories)).gather(position[index])


def _hex4(values: npt.NDArray[np.integer]) -> pl.Series:
    return _HEX4.gather(values.astype(np.int64) & 0xFFFF)


def _hex16(name: str, values: npt.NDArray[np.uint64]) -> pl.Series:
    parts = [_hex4((values >> np.uint64(shift)).astype(np.int64)) for shift in (48, 32, 16, 0)]
    return pl.DataFrame(parts).select(pl.concat_str(pl.all()).alias(name)).to_series()


def _event_ids(
    source: EventSource,
    days: Sequence[datetime.date],
    sizes: Sequence[int],
    id_a: npt.NDArray[np.int64],
    id_b: npt.NDArray[np.int64],
    row: npt.NDArray[np.int64],
) -> pl.Series:
    """uuid-shaped ids, unique by construction: source prefix, day, then the row number."""
    prefixes = [f"{source.id[:8]}-{(day - _ID_EPOCH).days & 0xFFFF:04x}-" for day in days]
    day_index = np.repeat(np.arange(len(days), dtype=np.int64), sizes)
    frame = pl.DataFrame(
        {
            "p": pl.Series(prefixes, dtype=pl.String).gather(day_index),
            "a": _hex4(id_a),
            "b": _hex4(id_b),
            "c": _hex4(row >> 32),
            "d": _hex4(row >> 16),
            "e": _hex4(row),
        }
    )
    return frame.select(
        pl.concat_str(
            [pl.col("p"), pl.col("a"), pl.lit("-"), pl.col("b"), pl.lit("-"),
             pl.col("c"), pl.col("d"), pl.col("e")]
        ).alias("id")
    ).to_series()  # fmt: skip
