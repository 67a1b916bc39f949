"""`make demo` keeps all its state under data/demo/: it never writes the user's warehouse
(./data/warehouse.duckdb) or Dagster home (./.dagster_home)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pipeline_helpers import scalar
from tests.test_load_command import REPO_ROOT, RUN_TIMEOUT_SECONDS


def test_the_demo_stays_in_data_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    # A real configuration in the shell must not leak into the demo either.
    env["SCARF_DATA_DIR"] = str(tmp_path / "real-data")
    env["SCARF_DUCKDB_PATH"] = str(tmp_path / "real-data" / "mine.duckdb")
    run = subprocess.run(
        [sys.executable, "-m", "scarf_etl.demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    demo = tmp_path / "data" / "demo"
    assert scalar(demo / "warehouse.duckdb", "SELECT count(*) FROM scarf.package_events") > 0
    assert (demo / "dagster_home" / "dagster.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["demo"]
    assert not (tmp_path / ".dagster_home").exists()
    assert not (tmp_path / "real-data").exists()
