"""End to end with the real daemon: `dagster dev` on a temporary DAGSTER_HOME against the simulator.

The simulator runs in this test's process on loopback; `dagster dev` (webserver, daemon, code
server, one process per run) is pointed at it through INFINITY_BASE_URL. The test turns the rowId
sensor on through the GraphQL API, gives the simulator new calls (one of them late: it started
yesterday at 23:50 and arrives now), waits until the Parquet files hold every call exactly once in
its own day, then launches a 3-day backfill through GraphQL and waits for it to complete. Every
wait is bounded; the whole process group of `dagster dev` is killed whatever happens.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pyarrow.parquet as pq
import pytest

from infinity_dagster.simulator import Installation, SimulatorServer

from .conftest import call

ZONE = ZoneInfo("Europe/London")
KEY = "e2e-key"
STARTUP_SECONDS = 180
LANDING_SECONDS = 180
BACKFILL_SECONDS = 240

START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
REPOSITORIES = """
{ repositoriesOrError { __typename ... on RepositoryConnection {
    nodes { name location { name } sensors { name } } } } }"""
LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}"""
BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS"}
STOPPED = {"FAILED", "CANCELED", "COMPLETED_FAILED"}


def utc(day: date, hour: int, minute: int) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def wire(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def london_day(when: datetime) -> str:
    return when.astimezone(ZONE).date().isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, seconds: float, check: Callable[[], object], log: Path) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            print(f"E2E {what}: {seconds - (deadline - time.monotonic()):.1f} s", file=sys.stderr)
            return value
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(
        f"timed out after {seconds} s waiting for {what}; dagster dev said:\n{tail}"
    )


@pytest.fixture
def dagster_dev(tmp_path) -> Iterator[tuple[Callable[..., dict], SimulatorServer, Path, Path]]:
    now = datetime.now(UTC)
    today = now.astimezone(ZONE).date()
    rows = [  # rowIds in arrival order
        call(7_000_010, wire(utc(today - timedelta(days=7), 9, 0))),  # backfill days
        call(7_000_020, wire(utc(today - timedelta(days=6), 23, 30))),
        call(7_000_030, wire(utc(today - timedelta(days=5), 0, 15))),
        call(7_000_040, wire(utc(today - timedelta(days=1), 12, 0))),  # the sensor's days
        call(7_000_050, wire(now - timedelta(minutes=30))),
    ]
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = tmp_path / "dagster_dev.log"
    port = free_port()
    server = SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key=KEY)
    server.start()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "INFINITY_IGRP": "20001",
        "INFINITY_API_KEY": KEY,
        "INFINITY_BASE_URL": server.base_url,
        "INFINITY_TIMEZONE": "Europe/London",
        "INFINITY_START_DATE": (today - timedelta(days=10)).isoformat(),
        "INFINITY_DATA_DIR": str(data),
        "INFINITY_POLL_SECONDS": "5",
    }
    env.pop("INFINITY_DEMO", None)
    dagster = Path(sys.executable).with_name("dagster")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(dagster),
                "dev",
                "-m",
                "infinity_dagster.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],  # fmt: skip
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: webserver, daemon, code server, runs
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def graphql(query: str, **variables: object) -> dict:
        response = client.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited ({process.returncode}):\n{log.read_text()}")
        try:
            nodes = graphql(REPOSITORIES)["repositoriesOrError"].get("nodes", [])
        except httpx.HTTPError:
            return False
        return any(s["name"] == "calls_rowid_sensor" for n in nodes for s in n["sensors"])

    try:
        wait_for("the Dagster webserver and code location", STARTUP_SECONDS, up, log)
        yield graphql, server, data / "raw" / "calls", log
    finally:
        client.close()
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
        server.stop()


def stored(folder: Path) -> dict[str, list[int]]:
    """rowIds per day file, as the files hold them right now."""
    out = {}
    for path in sorted(folder.glob("date=*/data.parquet")):
        try:
            out[path.parent.name[5:]] = sorted(pq.read_table(path).column("rowId").to_pylist())
        except OSError:  # replaced while we read it: read again on the next poll
            return {}
    return out


def expected(server: SimulatorServer, days: set[str]) -> dict[str, list[int]]:
    table = server.installation.rows("calls")
    out: dict[str, list[int]] = {}
    for row_id, when in zip(
        table.column("rowId").to_pylist(), table.column("triggerDatetime").to_pylist()
    ):
        if london_day(when) in days:
            out.setdefault(london_day(when), []).append(row_id)
    return {day: sorted(ids) for day, ids in sorted(out.items())}


@pytest.mark.timeout(900)
def test_sensor_and_backfill_with_the_real_daemon(dagster_dev) -> None:
    graphql, server, calls, log = dagster_dev
    location = graphql(REPOSITORIES)["repositoriesOrError"]["nodes"][0]["location"]["name"]
    started = graphql(
        START_SENSOR,
        selector={
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "sensorName": "calls_rowid_sensor",
        },
    )["startSensor"]
    assert started == {"__typename": "Sensor", "sensorState": {"status": "RUNNING"}}

    # First ticks: nothing has landed, so the sensor imports the last 3 complete days and today.
    today = datetime.now(ZONE).date()
    sensor_days = {(today - timedelta(days=n)).isoformat() for n in range(4)}
    first = expected(server, sensor_days)
    wait_for("the first rows", LANDING_SECONDS, lambda: stored(calls) == first, log)

    # New calls arrive: one now, and a late one that started yesterday at 23:50.
    late = utc(today - timedelta(days=1), 23, 50)
    server.add_rows(
        "calls",
        [
            call(7_000_060, wire(datetime.now(UTC) - timedelta(minutes=1))),
            call(7_000_070, wire(late)),
        ],
    )
    everything = expected(server, sensor_days)
    assert 7_000_070 in everything[london_day(late)]
    wait_for("the new and the late call", LANDING_SECONDS, lambda: stored(calls) == everything, log)
    all_ids = [i for ids in stored(calls).values() for i in ids]
    assert len(all_ids) == len(set(all_ids))  # each rowId once, in its own day

    # A backfill of 3 older days through the GraphQL API, as the UI launches one.
    days = [(today - timedelta(days=n)).isoformat() for n in (7, 6, 5)]
    launched = graphql(
        LAUNCH_BACKFILL,
        params={"partitionNames": days, "assetSelection": [{"path": ["calls"]}]},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def backfill_done() -> bool:
        status = graphql(BACKFILL_STATUS, id=launched["backfillId"])["partitionBackfillOrError"]
        assert status.get("status") not in STOPPED, status
        return status.get("status") in DONE

    wait_for("the 3-day backfill", BACKFILL_SECONDS, backfill_done, log)
    assert {d: stored(calls)[d] for d in days} == {
        days[0]: [7_000_010],
        days[1]: [7_000_020],
        days[2]: [7_000_030],
    }
    assert stored(calls) == expected(server, sensor_days | set(days))
