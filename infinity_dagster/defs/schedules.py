"""The daily schedule: re-pull recent complete days whole, so late updates and missed polls heal.

It ticks once a day at 03:00 in the partitions' own time zone (a time every zone's DST change
leaves alone: 03:00 exists exactly once on the 23- and the 25-hour day) and requests one run per
day for the latest complete day (yesterday) and the days before it, `lookback_days` in all.

After downtime (daemon stopped, schedule turned off), Dagster evaluates only the latest missed tick
of a schedule; that tick also requests the latest complete day of every tick missed since this
schedule's previous run, so each missed day is pulled, once.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    TimeWindowPartitionsDefinition,
    schedule,
)

from .jobs import ReportJob

# Dagster's own run tags for scheduled runs (dagster._core.storage.tags).
SCHEDULE_NAME_TAG = "dagster/schedule_name"
SCHEDULED_EXECUTION_TIME_TAG = ".dagster/scheduled_execution_time"
TICK_HOUR = 3
PREVIOUS_RUNS_SCANNED = 100


def daily_schedule(
    job: ReportJob,
    partitions_def: TimeWindowPartitionsDefinition,
    *,
    start_date: date,
    lookback_days: int,
    name: str | None = None,
) -> ScheduleDefinition:
    """`<job>`'s daily schedule, e.g. `calls_daily_schedule` for `calls_job`."""
    zone = ZoneInfo(partitions_def.timezone)
    name = name or f"{job.name.removesuffix('_job')}_daily_schedule"

    @schedule(
        name=name,
        job=job,
        cron_schedule=partitions_def.get_cron_schedule(minute_of_hour=0, hour_of_day=TICK_HOUR),
        execution_timezone=partitions_def.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Re-pulls the last {lookback_days} complete days whole every day at "
        f"{TICK_HOUR:02d}:00 {partitions_def.timezone}, and every day a missed tick skipped.",
    )
    def _daily(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        tick = context.scheduled_execution_time or datetime.now(UTC)
        previous = _previous_tick(context, name, tick)
        days = days_to_pull(tick, zone, lookback_days, previous, start_date)
        if not days:
            return SkipReason(f"No complete day on or after {start_date} yet.")
        context.log.info(f"{name}: re-pulling {', '.join(d.isoformat() for d in days)}")
        return [RunRequest(run_key=day.isoformat(), partition_key=day.isoformat()) for day in days]

    return _daily


def days_to_pull(
    tick: datetime,
    zone: ZoneInfo,
    lookback_days: int,
    previous_tick: datetime | None,
    start_date: date,
) -> list[date]:
    """The days a tick pulls, oldest first: its `lookback_days` latest complete days, and the
    latest complete day of each tick missed between `previous_tick` and this one."""
    latest_complete = tick.astimezone(zone).date() - timedelta(days=1)
    first = latest_complete - timedelta(days=lookback_days - 1)
    if previous_tick is not None:
        # The tick after the previous one pulled the previous tick's day + 1: the first missed.
        first_missed = previous_tick.astimezone(zone).date()
        first = min(first, first_missed)
    first = max(first, start_date)
    return [first + timedelta(days=i) for i in range((latest_complete - first).days + 1)]


def _previous_tick(
    context: ScheduleEvaluationContext, name: str, tick: datetime
) -> datetime | None:
    """The scheduled time of this schedule's latest earlier tick that launched runs."""
    runs = context.instance.get_runs(
        RunsFilter(tags={SCHEDULE_NAME_TAG: name}), limit=PREVIOUS_RUNS_SCANNED
    )
    latest: datetime | None = None
    for run in runs:
        text = run.tags.get(SCHEDULED_EXECUTION_TIME_TAG)
        if not text:
            continue
        when = datetime.fromisoformat(text)
        if when < tick and (latest is None or when > latest):
            latest = when
    return latest
