"""The installed version of scarf-etl, for the User-Agent."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scarf-etl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
