"""The daily schedule: which days each tick re-pulls, across DST changes and after downtime."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_schedule_context
from dagster._core.storage.tags import SCHEDULE_NAME_TAG, SCHEDULED_EXECUTION_TIME_TAG
from dagster._utils.schedules import cron_string_iterator

from infinity_dagster.defs import build_definitions
from infinity_dagster.defs import schedules as schedules_module
from infinity_dagster.settings import Settings

LONDON = ZoneInfo("Europe/London")
BASE = {
    "INFINITY_IGRP": "20001",
    "INFINITY_API_KEY": "k",
    "INFINITY_TIMEZONE": "Europe/London",
    "INFINITY_START_DATE": "2026-01-01",
}


@pytest.fixture(scope="module")
def no_history():
    """An instance where the schedule never ran (shared: these tests add no runs)."""
    return DagsterInstance.local_temp()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("INFINITY_API_KEY", "k")  # read through an EnvVar when a run is created


def definitions(tmp_path, **env: str):
    settings = Settings.from_env({**BASE, "INFINITY_DATA_DIR": str(tmp_path), **env})
    defs = build_definitions(settings)
    return defs, defs.resolve_schedule_def("calls_daily_schedule")


def requested_days(defs, schedule, tick: datetime, instance) -> list[str]:
    context = build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick,
        repository_def=defs.get_repository_def(),
    )
    with context:
        result = schedule.evaluate_tick(context)
    return [r.partition_key for r in result.run_requests or []]


def test_ticks_at_three_in_the_morning_in_the_partitions_zone_across_dst(tmp_path) -> None:
    _, schedule = definitions(tmp_path)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "Europe/London")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=LONDON).timestamp()
    ticks = cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone)
    spring = [next(ticks).isoformat() for _ in range(3)]
    assert spring == [
        "2026-03-29T03:00:00+01:00",  # the 23-hour day: 03:00 BST is 02:00 UTC
        "2026-03-30T03:00:00+01:00",
        "2026-03-31T03:00:00+01:00",
    ]
    start = datetime(2026, 10, 24, 12, 0, tzinfo=LONDON).timestamp()
    ticks = cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone)
    autumn = [next(ticks).isoformat() for _ in range(2)]
    assert autumn == ["2026-10-25T03:00:00+00:00", "2026-10-26T03:00:00+00:00"]


@pytest.mark.parametrize(
    ("tick", "days"),
    [
        # On the 23-hour day the latest complete day is the 28th; the next morning, the 29th.
        ("2026-03-29T02:00:00+00:00", ["2026-03-26", "2026-03-27", "2026-03-28"]),
        ("2026-03-30T02:00:00+00:00", ["2026-03-27", "2026-03-28", "2026-03-29"]),
        # On the 25-hour day, the 24th; the next morning, the 25th.
        ("2026-10-25T03:00:00+00:00", ["2026-10-22", "2026-10-23", "2026-10-24"]),
        ("2026-10-26T03:00:00+00:00", ["2026-10-23", "2026-10-24", "2026-10-25"]),
    ],
)
def test_tick_on_dst_days_targets_the_latest_complete_days(
    tmp_path, no_history, tick, days
) -> None:
    defs, schedule = definitions(tmp_path)
    assert requested_days(defs, schedule, datetime.fromisoformat(tick), no_history) == days


def test_lookback_is_configurable(tmp_path, no_history) -> None:
    defs, schedule = definitions(tmp_path, INFINITY_LOOKBACK_DAYS="1")
    tick = datetime(2026, 10, 26, 3, 0, tzinfo=LONDON)
    assert requested_days(defs, schedule, tick, no_history) == ["2026-10-25"]


def test_no_day_before_the_first_partition(tmp_path, no_history) -> None:
    defs, schedule = definitions(tmp_path, INFINITY_START_DATE="2026-10-24")
    tick = datetime(2026, 10, 26, 3, 0, tzinfo=LONDON)
    assert requested_days(defs, schedule, tick, no_history) == ["2026-10-24", "2026-10-25"]


def record_tick(instance: DagsterInstance, defs, tick: datetime, days: list[str]) -> None:
    """The runs the daemon launched for an earlier tick, tagged as Dagster tags scheduled runs."""
    job = defs.resolve_job_def("calls_job")
    for day in days:
        instance.create_run_for_job(
            job,
            tags={
                SCHEDULE_NAME_TAG: "calls_daily_schedule",
                SCHEDULED_EXECUTION_TIME_TAG: tick.astimezone(ZoneInfo("UTC")).isoformat(),
                "dagster/partition": day,
            },
            status=DagsterRunStatus.SUCCESS,
        )


@pytest.mark.parametrize("lookback", ["1", "3"])
def test_catch_up_after_three_missed_days_requests_exactly_those_days(tmp_path, lookback) -> None:
    defs, schedule = definitions(tmp_path, INFINITY_LOOKBACK_DAYS=lookback)
    instance = DagsterInstance.local_temp()
    # The last tick before the daemon went down: 10 Nov (it pulled the 9th, and days before).
    record_tick(instance, defs, datetime(2026, 11, 10, 3, 0, tzinfo=LONDON), ["2026-11-09"])
    # Down through the ticks of the 11th and 12th; back on the 13th at 10:00, Dagster runs the
    # 13th's tick only (late). The 10th, 11th and 12th were never pulled once complete.
    late_tick = datetime(2026, 11, 13, 3, 0, tzinfo=LONDON)
    assert requested_days(defs, schedule, late_tick, instance) == [
        "2026-11-10",
        "2026-11-11",
        "2026-11-12",
    ]


def test_catch_up_beyond_the_lookback(tmp_path) -> None:
    defs, schedule = definitions(tmp_path)  # lookback 3
    instance = DagsterInstance.local_temp()
    record_tick(instance, defs, datetime(2026, 11, 10, 3, 0, tzinfo=LONDON), ["2026-11-09"])
    # A later tick of another schedule does not count as this one's.
    instance.create_run_for_job(
        defs.resolve_job_def("calls_job"),
        tags={
            SCHEDULE_NAME_TAG: "other",
            SCHEDULED_EXECUTION_TIME_TAG: "2026-11-15T03:00:00+00:00",
        },
    )
    tick = datetime(2026, 11, 17, 3, 0, tzinfo=LONDON)
    assert requested_days(defs, schedule, tick, instance) == [f"2026-11-{d}" for d in range(10, 17)]


def test_regular_tick_after_yesterdays_pulls_only_its_window(tmp_path) -> None:
    defs, schedule = definitions(tmp_path)
    instance = DagsterInstance.local_temp()
    record_tick(instance, defs, datetime(2026, 11, 12, 3, 0, tzinfo=LONDON), ["2026-11-11"])
    tick = datetime(2026, 11, 13, 3, 0, tzinfo=LONDON)
    assert requested_days(defs, schedule, tick, instance) == [
        "2026-11-10",
        "2026-11-11",
        "2026-11-12",
    ]


def test_tag_names_are_dagsters() -> None:
    assert schedules_module.SCHEDULE_NAME_TAG == SCHEDULE_NAME_TAG
    assert schedules_module.SCHEDULED_EXECUTION_TIME_TAG == SCHEDULED_EXECUTION_TIME_TAG


def test_days_to_pull_is_plain_date_arithmetic() -> None:
    tick = datetime(2026, 3, 30, 3, 0, tzinfo=LONDON)
    assert schedules_module.days_to_pull(tick, LONDON, 2, None, date(2026, 1, 1)) == [
        date(2026, 3, 28),
        date(2026, 3, 29),
    ]
