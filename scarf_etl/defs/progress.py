"""A line every few seconds while one long piece of work runs (a big day's normalize), so the
run log and `scarf-etl load` are never silent for long: how long so far and how much the work
has written to disk (the staging and partition files grow as DuckDB writes them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

PROGRESS_SECONDS: Final = 10.0


def bytes_under(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*") if folder.exists() else ():
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:  # a temp file renamed or removed while we looked
            continue
    return total


@contextmanager
def progress_lines(
    log: Callable[[str], None],
    what: str,
    folder: Path,
    every: float = PROGRESS_SECONDS,
) -> Iterator[None]:
    """While the block runs, log `what`'s elapsed time and bytes under `folder` every `every`
    seconds (nothing for work shorter than that)."""
    stop = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not stop.wait(every):
            written = bytes_under(folder) / 1e6
            log(f"{what}: {time.monotonic() - started:.0f} s so far, {written:.0f} MB written")

    thread = threading.Thread(target=tick, name="scarf-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
