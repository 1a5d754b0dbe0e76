"""The rowId sensor: Infinity's "keep the last rowId and poll for new rows", as a Dagster sensor.

Each tick asks the API, cheaply, which rows came after the cursor (`display[]=rowId`,
`display[]=triggerDatetime`, `filter[]=rowId-gt-value-<cursor>`, one page of at most 50,000 rows,
datetimes in UTC so every instant is exact). Those rows make a *batch* (after, up_to]: one run per
local day they belong to, each landing exactly the batch's rows of its own day (a call that started
at 23:50 yesterday and arrived after today's calls goes to yesterday's file).

The cursor is what has landed, never more: `landed` moves to the batch's `up_to` only once every
run of the batch has succeeded. A failed run is requested again (same rows, same day) on the next
tick, and the landing merges by rowId, so a retry neither loses nor doubles a row. While a batch
is in flight nothing new is polled. When the cursor is lost or reset, it is rebuilt from the
largest rowId in the report's Parquet files; with no files at all, the first tick imports the
days of the schedule's lookback and today.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ..api import InfinityClient
from ..days import day_window
from ..landing import landed_max_row_id
from ..reports import Report
from .jobs import ReportJob, day_run_config
from .resources import InfinityResource, ParquetStore

BATCH_TAG = "infinity/rowid_batch"
SENSOR_TAG = "infinity/rowid_sensor"
PARTITION_TAG = "dagster/partition"
IN_FLIGHT = frozenset(
    {
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    }
)

Clock = Callable[[], datetime]
# How far ahead of our clock a row may be dated and still be waited for (clock skew).
FUTURE_SKEW = timedelta(hours=1)


@dataclass
class Batch:
    """New rows being landed: rowIds in (after, up_to], in the partitions of `days`."""

    after: int | None
    up_to: int
    days: list[str]

    @property
    def tag(self) -> str:
        return f"{self.after if self.after is not None else ''}-{self.up_to}"


@dataclass
class Cursor:
    landed: int | None = None  # every polled row with rowId <= landed is in its day's file
    batch: Batch | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Cursor":
        data = json.loads(text)
        batch = data.get("batch")
        return cls(landed=data.get("landed"), batch=Batch(**batch) if batch else None)


@dataclass(frozen=True)
class PollResult:
    after: int | None
    up_to: int | None  # the largest rowId seen; None when nothing new
    rows_by_day: dict[str, int]
    rows: int
    held_back: int  # rows dated after today's partition: polled again next tick
    passed_over: int  # rows dated beyond the clock skew we wait for: the daily pull lands them


def rowid_sensor(
    report: Report,
    job: ReportJob,
    *,
    timezone: str,
    start_date: date,
    lookback_days: int,
    minimum_interval_seconds: int = 60,
    clock: Clock | None = None,
) -> SensorDefinition:
    """`<report>_rowid_sensor`: lands the report's new rows in their own days' partitions."""
    now = clock or (lambda: datetime.now(UTC))
    name = f"{report.key}_rowid_sensor"

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Polls {report.route} for rowIds after the last landed one and lands the "
        "new rows in the partitions of their own local days.",
    )
    def _rowid_sensor(
        context: SensorEvaluationContext, infinity: InfinityResource, store: ParquetStore
    ) -> SensorResult | SkipReason:
        cursor = Cursor.from_json(context.cursor) if context.cursor else None
        if cursor is None:
            landed = landed_max_row_id(store.raw_dir, report.key)
            context.log.info(
                f"{name}: no cursor; rebuilt from the Parquet files: largest rowId {landed}"
                if landed is not None
                else f"{name}: no cursor and no Parquet file yet: starting from the recent days"
            )
            cursor = Cursor(landed=landed)

        if cursor.batch is not None:
            requests, waiting = _batch_progress(context, name, report, job.name, cursor.batch)
            if requests or waiting:
                context.log.info(
                    f"{name}: batch {cursor.batch.tag}: {len(waiting)} runs in flight, "
                    f"{len(requests)} requested again"
                )
                return SensorResult(run_requests=requests, cursor=cursor.to_json())
            cursor = Cursor(landed=cursor.batch.up_to)  # every day of the batch has landed

        tick_time = now()
        today = tick_time.astimezone(ZoneInfo(timezone)).date()
        if cursor.landed is None:  # nothing has ever landed: import the recent days to start
            poll_from = max(start_date, today - timedelta(days=lookback_days))
        else:
            poll_from = start_date
        with infinity.get_client() as client:
            polled = poll_new_rows(
                client, report, cursor.landed, timezone, poll_from=poll_from, now=tick_time
            )
        if polled.passed_over:
            context.log.warning(
                f"{name}: {polled.passed_over} rows dated more than {FUTURE_SKEW} ahead of our "
                "clock were passed over; the daily schedule lands them with their day."
            )
        if polled.up_to is None:
            skip = f"No {report.key} rows after rowId {cursor.landed}."
            if polled.held_back:
                skip += f" {polled.held_back} rows dated after today wait for their partition."
            return SensorResult(skip_reason=SkipReason(skip), cursor=cursor.to_json())
        if not polled.rows_by_day:  # new rows, but none in a partition: nothing to land
            return SensorResult(
                skip_reason=SkipReason(f"{polled.rows} new rows, none on or after {start_date}."),
                cursor=Cursor(landed=polled.up_to).to_json(),
            )
        batch = Batch(after=cursor.landed, up_to=polled.up_to, days=sorted(polled.rows_by_day))
        context.log.info(
            f"{name}: {polled.rows} new rows, rowId ({batch.after}, {batch.up_to}], per day: "
            f"{polled.rows_by_day}"
        )
        requests = [_request(name, report, batch, day, attempt=0) for day in batch.days]
        return SensorResult(
            run_requests=requests, cursor=Cursor(landed=cursor.landed, batch=batch).to_json()
        )

    return _rowid_sensor


def _request(name: str, report: Report, batch: Batch, day: str, attempt: int) -> RunRequest:
    return RunRequest(
        run_key=f"{name}:{batch.tag}:{day}:{attempt}",
        partition_key=day,
        run_config=day_run_config(report, batch.after, batch.up_to),
        tags={BATCH_TAG: batch.tag, SENSOR_TAG: name},
    )


def _batch_progress(
    context: SensorEvaluationContext, name: str, report: Report, job_name: str, batch: Batch
) -> tuple[list[RunRequest], list[str]]:
    """The requests to make again (days whose latest run failed or never started) and the days
    whose run is still in flight. Both empty: every day of the batch has landed."""
    runs = context.instance.get_runs(
        RunsFilter(job_name=job_name, tags={BATCH_TAG: batch.tag, SENSOR_TAG: name})
    )
    runs_by_day: dict[str, list] = {}
    for run in runs:  # newest first
        runs_by_day.setdefault(run.tags.get(PARTITION_TAG, ""), []).append(run)
    again: list[RunRequest] = []
    waiting: list[str] = []
    for day in batch.days:
        day_runs = runs_by_day.get(day, [])
        if day_runs and day_runs[0].status == DagsterRunStatus.SUCCESS:
            continue
        if day_runs and day_runs[0].status in IN_FLIGHT:
            waiting.append(day)
            continue
        again.append(_request(name, report, batch, day, attempt=len(day_runs)))
    return again, waiting


def poll_new_rows(
    client: InfinityClient,
    report: Report,
    after: int | None,
    timezone: str,
    *,
    poll_from: date,
    now: datetime,
) -> PollResult:
    """One cheap page of the rows after `after`: rowId and triggerDatetime only, in UTC."""
    narrow = replace(  # same route and filters, two fields
        report, fields=tuple(f for f in report.fields if f.name in ("rowId", "triggerDatetime"))
    )
    client.prefetch = False  # one page a tick: never ask for the page after it
    pages = client.export(
        narrow,
        start_date=day_window(poll_from, timezone).utc_start.date(),
        end_date=(now + FUTURE_SKEW).date() + timedelta(days=1),
        after_row_id=after,
        tz="UTC",
    )
    try:
        page = next(pages).table  # one page a tick: at most 50,000 narrow rows
    finally:
        pages.close()
    return route_rows(page, after, timezone, poll_from=poll_from, now=now)


def route_rows(
    table: pa.Table, after: int | None, timezone: str, *, poll_from: date, now: datetime
) -> PollResult:
    """Count the polled rows per local day and find where the batch ends.

    A row dated after today but within FUTURE_SKEW of `now` (the API's clock a little ahead of
    ours) ends the batch before it: it is polled again once its day's partition exists. A row
    dated further ahead (bad data) must not stall the sensor: it is passed over, and the daily
    schedule lands it when it pulls that day whole. Rows dated before `poll_from` belong to no
    partition and are passed over too.
    """
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    row_ids: Sequence[int] = table.column("rowId").to_pylist()
    instants: Sequence[datetime | None] = table.column("triggerDatetime").to_pylist()
    by_day: dict[str, int] = {}
    up_to: int | None = None
    rows = held_back = passed_over = 0
    for position, (row_id, when) in enumerate(zip(row_ids, instants)):
        day = when.astimezone(zone).date() if when is not None else None
        if day is not None and day > today:
            if when <= now + FUTURE_SKEW:
                held_back = len(row_ids) - position
                break
            passed_over += 1
            day = None
        up_to, rows = row_id, rows + 1
        if day is not None and day >= poll_from:
            key = day.isoformat()
            by_day[key] = by_day.get(key, 0) + 1
    return PollResult(after, up_to, by_day, rows, held_back, passed_over)
