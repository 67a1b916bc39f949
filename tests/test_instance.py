"""The Dagster instance scarf-etl's commands open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

_OPEN_AT = """
import sys, time
from scarf_etl.commands.instance import get_instance
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # all start together
get_instance().dispose()
print("opened")
"""


def test_commands_opening_a_new_instance_at_once_all_succeed(tmp_path: Path) -> None:
    """Two first loads started together both create the instance's SQLite tables; without the
    lock one failed with "table ... already exists"."""
    for attempt in range(2):
        home = tmp_path / f"home-{attempt}"
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        start = time.time() + 4.0  # past every process's imports
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(start)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for opener in openers:
            out, err = opener.communicate(timeout=120)
            assert opener.returncode == 0 and out.strip() == "opened", err[-1500:]
