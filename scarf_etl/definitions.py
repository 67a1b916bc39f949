"""The scarf-etl code location: the one `Definitions` that `workspace.yaml` loads."""

from __future__ import annotations

import dagster as dg

from scarf_etl.defs.analysis_assets import ANALYSIS_ASSETS
from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.maintenance import ducklake_maintenance, maintenance_job, maintenance_schedule
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import daily_job, daily_schedule
from scarf_etl.defs.sensors import interrupted_runs_sensor

PRELOAD = {"forkserver": {"preload_modules": ["scarf_etl.definitions"]}}


@dg.configured(
    dg.multi_or_in_process_executor,
    config_schema={
        "in_process": dg.Field(
            bool,
            default_value=False,
            description=(
                "Run every step in the run's own process (no step processes): seconds faster "
                "for small days; `scarf-etl load` picks it for small loads."
            ),
        )
    },
)
def step_executor(config: dict[str, bool]) -> dict[str, object]:
    """By default each step runs in its own process (memory is returned after a heavy day),
    started from a forkserver that has already imported the pipeline: a step starts in well
    under a second instead of re-importing Dagster, polars and DuckDB each time. With
    `in_process`, steps run one after another in the run's process; pools apply either way."""
    if config["in_process"]:
        return {"in_process": {}}
    return {"multiprocess": {"start_method": PRELOAD}}


defs = dg.Definitions(
    assets=[*ALL_ASSETS, *ANALYSIS_ASSETS, ducklake_maintenance],
    executor=step_executor,
    jobs=[daily_job, maintenance_job],
    schedules=[daily_schedule, maintenance_schedule],
    sensors=[interrupted_runs_sensor],
    resources=default_resources(),
)
