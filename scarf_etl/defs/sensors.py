"""Sensors the daemon (`dagster dev`, or `dagster-daemon run`) evaluates."""

from __future__ import annotations

import dagster as dg

from scarf_etl.defs.recovery import recover_interrupted_runs

RECOVERY_INTERVAL_SECONDS = 60


@dg.sensor(
    name="scarf_interrupted_runs",
    minimum_interval_seconds=RECOVERY_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Marks failed the runs whose process is gone (a killed `dagster dev`, a reboot) and "
        "frees their pool slots, so they never block the schedule or later runs."
    ),
)
def interrupted_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    recovered = recover_interrupted_runs(context.instance, report=context.log.info)
    if recovered:
        return dg.SkipReason(
            "marked failed (process gone): " + ", ".join(run.run_id for run in recovered)
        )
    return dg.SkipReason("no interrupted run")
