"""The pipeline's runtime never needs the emulator: starlette and uvicorn are the emulator
extra's, so the code location and the commands must load without them."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import scarf_etl.definitions, scarf_etl.cli, scarf_etl.loading, scarf_etl.status
print(sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn")
             or m.startswith("scarf_etl.emulator")))
"""


def test_the_code_location_and_commands_load_without_the_emulator() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.strip() == "[]", run.stdout
