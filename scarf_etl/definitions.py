"""The scarf-etl code location: the one `Definitions` that `workspace.yaml` loads."""

from __future__ import annotations

import dagster as dg

from scarf_etl.defs.analysis_assets import ANALYSIS_ASSETS
from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import daily_job, daily_schedule
from scarf_etl.defs.sensors import interrupted_runs_sensor

# Each step runs in its own process (memory is returned after a heavy day), started from a
# forkserver that has already imported the pipeline: a step starts in well under a second
# instead of re-importing Dagster, polars and DuckDB each time.
step_executor = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["scarf_etl.definitions"]}}}
)

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *ANALYSIS_ASSETS],
    executor=step_executor,
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[interrupted_runs_sensor],
    resources=default_resources(),
)
