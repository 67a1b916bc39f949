"""The scarf-etl code location: the one `Definitions` that `workspace.yaml` loads."""

from __future__ import annotations

import dagster as dg

from scarf_etl.assets import ALL_ASSETS
from scarf_etl.resources import default_resources
from scarf_etl.schedules import daily_job, daily_schedule

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources=default_resources(),
)
