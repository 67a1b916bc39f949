"""The Dagster instance scarf-etl's commands record runs in: `$DAGSTER_HOME`, by default
`./.dagster_home`, seeded with the project's `dagster.yaml` (storage, concurrency pools)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import dagster as dg

DEFAULT_DAGSTER_HOME = ".dagster_home"
INSTANCE_SETTINGS = "dagster.yaml"
# Held while the instance is opened (see get_instance).
INSTANCE_LOCK = ".scarf-etl-instance.lock"
# The project's instance settings, beside the package in a checkout (the supported install).
PROJECT_INSTANCE_SETTINGS = Path(__file__).resolve().parents[2] / INSTANCE_SETTINGS


def prepare_dagster_home() -> Path:
    """Make sure `$DAGSTER_HOME` exists (setting it if unset) and holds instance settings."""
    home = Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    settings = home / INSTANCE_SETTINGS
    if not settings.exists() and PROJECT_INSTANCE_SETTINGS.is_file():
        shutil.copyfile(PROJECT_INSTANCE_SETTINGS, settings)
    return home


def get_instance() -> dg.DagsterInstance:
    """The instance at `$DAGSTER_HOME`. Its first opening creates the SQLite storage's tables;
    two commands doing that at once (two first loads started together) made one fail with
    "table ... already exists", so the opening is done under a lock file in the home."""
    home = prepare_dagster_home()
    with open(home / INSTANCE_LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released on close, or by the OS if killed
        return dg.DagsterInstance.get()
