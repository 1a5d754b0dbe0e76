"""Daily schedules for the reports without a rowId cursor: snapshots and call recordings.

- `snapshots_daily_schedule` takes today's snapshot of every configuration report (dial-in
  groups, fallback numbers, organisations) once a day, so their history has one copy per day.
- `call_recordings_daily_schedule` downloads yesterday's recordings once yesterday's calls are in
  (the calls schedule re-pulls days at 03:00). Recordings can be large, so this is opt-in: both
  schedules start stopped, like every schedule of this package.

Both tick at 04:00 in INFINITY_TIMEZONE, an hour that exists exactly once on DST-change days.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    schedule,
)

from ..reports import Download, Report

TICK_HOUR = 4


def report_schedules(
    partitions_def: TimeWindowPartitionsDefinition,
    snapshots: Sequence[Report],
    recordings: Download,
) -> dict[str, list]:
    """`Definitions` keyword arguments: the two jobs and their schedules."""
    snapshots_job = define_asset_job(
        name="snapshots_job",
        selection=AssetSelection.assets(*(r.key for r in snapshots)),
        description="Take today's snapshot of every configuration report.",
    )
    recordings_job = define_asset_job(
        name=f"{recordings.key}_job",
        selection=AssetSelection.assets(recordings.key),
        partitions_def=partitions_def,
        description="Download one day's call recordings (a run per day).",
    )
    snapshots_schedule = ScheduleDefinition(
        name="snapshots_daily_schedule",
        job=snapshots_job,
        cron_schedule=f"0 {TICK_HOUR} * * *",
        execution_timezone=partitions_def.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Snapshots of {', '.join(r.key for r in snapshots)} every day at "
        f"{TICK_HOUR:02d}:00 {partitions_def.timezone}.",
    )
    zone = ZoneInfo(partitions_def.timezone)

    @schedule(
        name=f"{recordings.key}_daily_schedule",
        job=recordings_job,
        cron_schedule=f"0 {TICK_HOUR} * * *",
        execution_timezone=partitions_def.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Yesterday's call recordings every day at {TICK_HOUR:02d}:00 "
        f"{partitions_def.timezone} (files already on disk are skipped).",
    )
    def recordings_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time or datetime.now(UTC)
        yesterday = (tick.astimezone(zone).date() - timedelta(days=1)).isoformat()
        return RunRequest(run_key=yesterday, partition_key=yesterday)

    return {
        "jobs": [snapshots_job, recordings_job],
        "schedules": [snapshots_schedule, recordings_schedule],
    }
