"""What normalization reports besides its frames: the error for a file that is not the export
it claims to be, and the counts of a normalized partition."""

from __future__ import annotations

from dataclasses import dataclass


class NormalizeError(ValueError):
    """A raw file is not the export it claims to be (e.g. an HTML error page saved as CSV)."""


@dataclass(frozen=True)
class NormalizeStats:
    rows_in: int
    duplicates: int
    out_of_window: int
    rejected: int
    rows_out: int
    extra_columns: tuple[str, ...]  # unknown columns kept
