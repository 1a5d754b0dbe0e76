"""The rowId sensor, tick by tick: a real simulator, real Parquet files, a real Dagster instance.

Each test plays the daemon's part by hand: evaluate a tick (`build_sensor_context`), then run the
requested runs with `execute_in_process`, with the tags and config the daemon would give them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, DagsterRunStatus, Definitions, build_sensor_context

from infinity_dagster.defs import build_definitions, daily_reports
from infinity_dagster.defs.resources import InfinityResource
from infinity_dagster.defs.sensors import rowid_sensor
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import FaultSpec, Installation, SimulatorServer
from infinity_dagster.storage import partition_file

from .conftest import call

KEY = "sensor-test-key"
NOW = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)  # the day after London's 25-hour day

# UTC instants; the London day each belongs to is in the comment.
FIRST_ROWS = [
    call(5_000_005, "2026-09-30 10:00:00"),  # 30 Sep: before INFINITY_START_DATE
    call(5_000_010, "2026-10-24 12:00:00"),  # 24 Oct
    call(5_000_020, "2026-10-24 23:30:00"),  # 25 Oct 00:30 BST
    call(5_000_030, "2026-10-25 01:30:00"),  # 25 Oct 01:30 GMT (the second 01:30)
    call(5_000_050, "2026-10-26 09:00:00"),  # 26 Oct
]


@pytest.fixture
def env(monkeypatch, data_dir):
    yield from daemon_for("calls", monkeypatch, data_dir)


def daemon_for(key: str, monkeypatch, data_dir):
    installation = Installation.from_rows(igrp=20001, **{key: FIRST_ROWS})
    with SimulatorServer(installation, api_key=KEY, clock=NOW) as server:
        values = {
            "INFINITY_IGRP": "20001",
            "INFINITY_API_KEY": KEY,
            "INFINITY_BASE_URL": server.base_url,
            "INFINITY_TIMEZONE": "Europe/London",
            "INFINITY_START_DATE": "2026-10-01",
            "INFINITY_DATA_DIR": str(data_dir),
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        yield Daemon(Settings.from_env(), server, key)


class Daemon:
    """Ticks the calls sensor at NOW and runs what it requests, as the Dagster daemon would."""

    def __init__(self, settings: Settings, server: SimulatorServer, key: str):
        self.settings = settings
        self.server = server
        self.key = key
        self.now = NOW  # the sensor's clock
        defs = build_definitions(settings)
        job = next(j for j in defs.jobs if j.name == f"{key}_job")
        self.sensor = rowid_sensor(
            next(r for r in daily_reports(settings) if r.key == key),
            job,
            timezone=settings.timezone,
            start_date=settings.start_date,
            lookback_days=settings.lookback_days,
            clock=lambda: self.now,
        )
        self.defs = Definitions(
            assets=defs.assets, jobs=[job], sensors=[self.sensor], resources=defs.resources
        )
        self.job = self.defs.resolve_job_def(f"{key}_job")
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def tick(self):
        with build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={k: self.defs.resources[k] for k in ("infinity", "store")},
            definitions=self.defs,
        ) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result

    def launch(self, requests) -> list[DagsterRunStatus]:
        statuses = []
        for request in requests:
            result = self.job.execute_in_process(
                run_config=request.run_config,
                partition_key=request.partition_key,
                tags={**request.tags, "dagster/run_key": request.run_key},
                instance=self.instance,
                raise_on_error=False,
            )
            statuses.append(result.dagster_run.status)
        return statuses

    def state(self) -> dict:
        return json.loads(self.cursor) if self.cursor else {}

    def day(self, day: str) -> list[int]:
        path = partition_file(self.settings.data_dir / "raw", self.key, day)
        return pq.read_table(path).column("rowId").to_pylist() if path.exists() else []

    def every_row_id(self) -> list[int]:
        folder = self.settings.data_dir / "raw" / self.key
        return sorted(
            r for p in folder.glob("date=*/data.parquet") for r in self.day(p.parent.name[5:])
        )


def requested(result, key: str = "calls") -> list[tuple[str, dict]]:
    return [(r.partition_key, r.run_config["ops"][key]["config"]) for r in result.run_requests]


def test_first_tick_lands_the_recent_days_in_their_own_partitions(env) -> None:
    first = env.tick()
    window = {"after_row_id": None, "up_to_row_id": 5_000_050}
    assert requested(first) == [
        ("2026-10-24", window),
        ("2026-10-25", window),
        ("2026-10-26", window),
    ]
    assert env.state() == {
        "landed": None,
        "batch": {
            "after": None,
            "up_to": 5_000_050,
            "days": ["2026-10-24", "2026-10-25", "2026-10-26"],
        },
    }
    # The poll was one cheap request: two columns, rowIds in order, exact UTC instants.
    poll = env.server.requests[-1]
    assert [v for k, v in poll.params if k == "display[]"] == ["rowId", "triggerDatetime"]
    assert ("sort[]", "rowId-asc") in poll.params and ("tz", "UTC") in poll.params
    assert ("limit", "50000") in poll.params

    assert env.launch(first.run_requests) == [DagsterRunStatus.SUCCESS] * 3
    assert (env.day("2026-10-24"), env.day("2026-10-25"), env.day("2026-10-26")) == (
        [5_000_010],
        [5_000_020, 5_000_030],
        [5_000_050],
    )
    assert env.day("2026-09-30") == []  # before the first partition: never stored

    # Every run succeeded: the cursor moves to the batch's end; nothing new, nothing requested.
    quiet = env.tick()
    assert quiet.run_requests == []
    assert quiet.skip_message == "No calls rows after rowId 5000050."
    assert env.state() == {"landed": 5_000_050, "batch": None}
    assert env.tick().run_requests == []


def test_late_row_goes_to_its_own_day_and_each_row_lands_once(env) -> None:
    env.launch(env.tick().run_requests)
    env.tick()
    env.server.add_rows(
        "calls",
        [
            call(5_000_060, "2026-10-25 23:50:00"),  # a long call from 23:50 on the 25th, late
            call(5_000_070, "2026-10-26 10:00:00"),
        ],
    )
    late = env.tick()
    window = {"after_row_id": 5_000_050, "up_to_row_id": 5_000_070}
    assert requested(late) == [("2026-10-25", window), ("2026-10-26", window)]
    env.launch(late.run_requests)
    assert env.day("2026-10-25") == [5_000_020, 5_000_030, 5_000_060]
    assert env.day("2026-10-26") == [5_000_050, 5_000_070]
    assert env.tick().run_requests == []
    assert env.every_row_id() == [5_000_010, 5_000_020, 5_000_030, 5_000_050, 5_000_060, 5_000_070]


def test_failed_run_is_retried_and_nothing_is_lost_or_doubled(env) -> None:
    env.launch(env.tick().run_requests)
    env.tick()
    env.server.add_rows(
        "calls",
        [call(5_000_080, "2026-10-24 15:00:00"), call(5_000_090, "2026-10-26 11:00:00")],
    )
    batch = env.tick()
    env.server.inject(FaultSpec(kind="error200", route="triggers/calls", message="Server busy"))
    assert [r.partition_key for r in batch.run_requests] == ["2026-10-24", "2026-10-26"]
    assert env.launch(batch.run_requests) == [DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS]
    assert env.day("2026-10-24") == [5_000_010]  # the failed day kept its file as it was

    # The cursor stays before the rows that did not land; only the failed day is asked again.
    retry = env.tick()
    assert env.state()["landed"] == 5_000_050
    assert requested(retry) == [
        ("2026-10-24", {"after_row_id": 5_000_050, "up_to_row_id": 5_000_090})
    ]
    assert retry.run_requests[0].run_key == "calls_rowid_sensor:5000050-5000090:2026-10-24:1"
    assert env.launch(retry.run_requests) == [DagsterRunStatus.SUCCESS]
    assert env.tick().run_requests == []
    assert env.state() == {"landed": 5_000_090, "batch": None}

    # Landing the same rows again (a run retried after it had landed) changes nothing.
    before = env.every_row_id()
    env.launch(batch.run_requests)
    assert env.every_row_id() == before == [
        5_000_010, 5_000_020, 5_000_030, 5_000_050, 5_000_080, 5_000_090
    ]  # fmt: skip


def test_run_in_flight_holds_the_batch(env) -> None:
    first = env.tick()
    env.instance.create_run_for_job(
        env.job,
        run_config=first.run_requests[0].run_config,
        tags={**first.run_requests[0].tags, "dagster/partition": "2026-10-24"},
        status=DagsterRunStatus.STARTED,
    )
    env.launch(first.run_requests[1:])
    waiting = env.tick()
    assert waiting.run_requests == []
    assert env.state()["landed"] is None and env.state()["batch"]["up_to"] == 5_000_050


def test_lost_cursor_is_rebuilt_from_the_parquet_files(env) -> None:
    env.launch(env.tick().run_requests)
    env.tick()
    env.cursor = None  # reset by a user, or a new Dagster instance
    rebuilt = env.tick()
    assert rebuilt.run_requests == []
    assert env.state() == {"landed": 5_000_050, "batch": None}

    env.server.add_rows("calls", [call(5_000_075, "2026-10-26 11:30:00")])
    env.cursor = None
    after_reset = env.tick()
    assert requested(after_reset) == [
        ("2026-10-26", {"after_row_id": 5_000_050, "up_to_row_id": 5_000_075})
    ]


def test_rows_dated_just_after_today_wait_for_their_partition(env) -> None:
    env.launch(env.tick().run_requests)
    env.tick()
    env.now = datetime(2026, 10, 26, 23, 30, tzinfo=UTC)  # 23:30 on the 26th in London (GMT)
    env.server.set_clock(datetime(2026, 10, 27, 0, 30, tzinfo=UTC))  # the API's clock is ahead
    env.server.add_rows(
        "calls",
        [
            call(5_000_100, "2026-10-26 23:00:00"),
            call(5_000_105, "2026-10-28 10:00:00", insertedAt="2026-10-27 00:20:00"),  # bad date
            call(5_000_110, "2026-10-27 00:10:00"),  # 40 minutes ahead of our clock: waited for
            call(5_000_120, "2026-10-26 23:10:00"),
        ],
    )
    result = env.tick()
    assert requested(result) == [
        ("2026-10-26", {"after_row_id": 5_000_050, "up_to_row_id": 5_000_105})
    ]
    env.launch(result.run_requests)
    assert env.day("2026-10-26") == [5_000_050, 5_000_100]
    env.now = datetime(2026, 10, 27, 0, 31, tzinfo=UTC)  # the 27th's partition exists now
    assert requested(env.tick()) == [
        ("2026-10-26", {"after_row_id": 5_000_105, "up_to_row_id": 5_000_120}),
        ("2026-10-27", {"after_row_id": 5_000_105, "up_to_row_id": 5_000_120}),
    ]


def test_day_of_rows_is_read_in_the_partitions_time_zone() -> None:
    from infinity_dagster.defs.sensors import route_rows
    from infinity_dagster.reports import CALLS

    from .conftest import typed_calls

    rows = typed_calls(
        [
            call(1, "2026-03-28 23:59:59"),  # 28 Mar GMT
            call(2, "2026-03-29 00:00:00"),  # 29 Mar 00:00 GMT: the 23-hour day starts
            call(3, "2026-03-29 22:59:59"),  # 29 Mar 23:59:59 BST
            call(4, "2026-03-29 23:00:00"),  # 30 Mar 00:00 BST
        ]
    ).select(["rowId", "triggerDatetime"])
    assert CALLS.schema.field("triggerDatetime").type == rows.schema.field("triggerDatetime").type
    now = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    polled = route_rows(rows, None, "Europe/London", poll_from=date(2026, 3, 1), now=now)
    assert polled.rows_by_day == {"2026-03-28": 1, "2026-03-29": 2, "2026-03-30": 1}
    assert (polled.up_to, polled.rows, polled.held_back, polled.passed_over) == (4, 4, 0, 0)


def test_goals_have_their_own_sensor(monkeypatch, data_dir) -> None:
    for goals in daemon_for("goals", monkeypatch, data_dir):
        assert goals.sensor.name == "goals_rowid_sensor"
        first = goals.tick()
        assert [day for day, _ in requested(first, "goals")] == [
            "2026-10-24",
            "2026-10-25",
            "2026-10-26",
        ]
        goals.launch(first.run_requests)
        assert goals.every_row_id() == [5_000_010, 5_000_020, 5_000_030, 5_000_050]
        assert "/triggers/goals" in goals.server.requests[-1].path


def test_a_tick_reads_one_page_even_when_more_wait(env) -> None:
    small_pages = InfinityResource(
        igrp=20001,
        base_url=env.server.base_url,
        api_key=KEY,
        timezone="Europe/London",
        page_size=2,
    )
    env.defs = Definitions(
        assets=env.defs.assets,
        jobs=env.defs.jobs,
        sensors=env.defs.sensors,
        resources={**env.defs.resources, "infinity": small_pages},
    )
    env.tick()
    polls = [r for r in env.server.requests if ("display[]", "triggerDatetime") in r.params]
    assert [(r.rows, ("limit", "2") in r.params) for r in polls] == [(2, True)]
    assert env.state()["batch"] == {
        "after": None,
        "up_to": 5_000_020,
        "days": ["2026-10-24", "2026-10-25"],
    }
