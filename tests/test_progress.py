"""Long work is never silent: a line every interval with the time so far and bytes written."""

from __future__ import annotations

import time
from pathlib import Path

from scarf_etl.defs.progress import progress_lines


def test_progress_lines_report_time_and_growing_bytes(tmp_path: Path) -> None:
    lines: list[str] = []
    with progress_lines(lines.append, "normalizing x", tmp_path, every=0.2):
        for n in range(4):
            (tmp_path / f"part-{n}.bin").write_bytes(b"x" * 1_000_000)
            time.sleep(0.25)
    assert len(lines) >= 3
    assert all(line.startswith("normalizing x: ") for line in lines)
    written = [int(line.rsplit(", ", 1)[1].split()[0]) for line in lines]
    assert written == sorted(written) and written[-1] >= 3


def test_short_work_prints_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    with progress_lines(lines.append, "quick", tmp_path, every=5):
        pass
    assert lines == []
