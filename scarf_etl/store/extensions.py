"""DuckDB extensions from pinned PyPI packages, never downloaded.

The `team` extra pins `duckdb-extension-<name>` at DuckDB's own version; each wheel ships
`extensions/v<version>/<name>.duckdb_extension`. We LOAD that file by path: nothing is fetched
and nothing is written (no ~/.duckdb/extensions). Connections that may need an extension are
made with `CONNECT_CONFIG`, so a missing package is a clear error, never a silent download.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Final
from urllib.parse import urlparse

import duckdb

from scarf_etl.sql_text import sql_literal

KNOWN_EXTENSIONS: Final = ("ducklake", "httpfs", "sqlite_scanner", "postgres_scanner")
# Autoloading would download an extension DuckDB thinks a statement needs: refuse instead.
CONNECT_CONFIG: Final[dict[str, str | bool | int | float | list[str]]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
TEAM_EXTRA_HINT: Final = "pip install 'scarf-etl[team]'"


class MissingExtensionError(RuntimeError):
    """A DuckDB extension's pinned package is not installed."""


def extension_file(name: str) -> Path:
    """The extension file the pinned package ships for the running DuckDB.

    Raises MissingExtensionError naming the package to install.
    """
    if name not in KNOWN_EXTENSIONS:
        raise ValueError(f"not an extension scarf-etl loads: {name!r}")
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    version = duckdb.__version__
    if spec is None or spec.origin is None:
        raise MissingExtensionError(
            f"the DuckDB extension {name!r} is not installed: run `{TEAM_EXTRA_HINT}` "
            f"(it brings {package.replace('_', '-')}=={version}; nothing is downloaded at "
            "run time)."
        )
    path = Path(spec.origin).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise MissingExtensionError(
            f"{package} has no build for DuckDB {version} ({path} is missing): reinstall with "
            f"`{TEAM_EXTRA_HINT}` so the extension matches the pinned DuckDB."
        )
    return path


def load_extensions(connection: duckdb.DuckDBPyConnection, *names: str) -> None:
    """LOAD each extension from its package's file (a no-op for one already loaded)."""
    loaded = {
        str(row[0])
        for row in connection.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    for name in names:
        if name not in loaded:
            connection.execute(f"LOAD {sql_literal(str(extension_file(name)))}")


def enable_s3(connection: duckdb.DuckDBPyConnection) -> None:
    """httpfs plus an S3 secret from the standard AWS variables (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL). The secret lives in
    this connection only (TEMPORARY) and is never logged."""
    load_extensions(connection, "httpfs")
    options = ["TYPE s3"]
    for option, variable in (
        ("KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("SECRET", "AWS_SECRET_ACCESS_KEY"),
        ("SESSION_TOKEN", "AWS_SESSION_TOKEN"),
        ("REGION", "AWS_REGION"),
    ):
        value = os.environ.get(variable, "").strip()
        if value:
            options.append(f"{option} {sql_literal(value)}")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        options.append(f"ENDPOINT {sql_literal(parsed.netloc)}")
        options.append(f"USE_SSL {'true' if parsed.scheme == 'https' else 'false'}")
        # Self-hosted S3 (MinIO, moto) rarely resolves bucket subdomains.
        options.append("URL_STYLE 'path'")
    connection.execute(f"CREATE OR REPLACE TEMPORARY SECRET scarf_s3 ({', '.join(options)})")
