"""Continuous import, per daily report: its job, its rowId sensor and its daily schedule."""

from collections.abc import Sequence

from dagster import TimeWindowPartitionsDefinition

from ..reports import Report
from ..settings import Settings
from .jobs import report_job
from .schedules import daily_schedule
from .sensors import rowid_sensor


def continuous_import(
    settings: Settings, partitions: TimeWindowPartitionsDefinition, reports: Sequence[Report]
) -> dict[str, list]:
    """`Definitions` keyword arguments: `<report>_job`, `<report>_rowid_sensor` and
    `<report>_daily_schedule` for every daily report (calls, goals, ...)."""
    jobs, sensors, schedules = [], [], []
    for report in reports:
        job = report_job(report, partitions)
        jobs.append(job)
        sensors.append(
            rowid_sensor(
                report,
                job,
                timezone=settings.timezone,
                start_date=settings.start_date,
                lookback_days=settings.lookback_days,
                minimum_interval_seconds=settings.poll_seconds,
            )
        )
        schedules.append(
            daily_schedule(
                job,
                partitions,
                start_date=settings.start_date,
                lookback_days=settings.lookback_days,
            )
        )
    return {"jobs": jobs, "sensors": sensors, "schedules": schedules}
