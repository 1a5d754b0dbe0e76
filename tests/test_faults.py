"""The fault matrix: every simulator fault against a three-page day, through the real `calls` asset.

Each case starts from a previous file for the day (an earlier, smaller pull), injects its faults
on the second page (so the first page is already in the temporary file), and materializes. A
fault the pipeline survives must leave exactly the simulator's rows for the day; one it cannot
survive must fail the run with the server's or our clear message and leave the previous file
byte for byte. Retry waits are tiny here (resource fields), so the matrix runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from infinity_dagster.defs import build_definitions, infinity_resource
from infinity_dagster.reports import CALLS
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import FaultSpec, SimulatorServer, generate_installation
from infinity_dagster.storage import partition_file, write_partition

KEY = "fault-matrix-key"
DAY = "2026-11-30"
PAGE_SIZE = 10
ROWS = 25  # three pages: 10, 10, 5
ATTEMPTS = 3
READ_TIMEOUT = 2.0  # generous: a clean page must never time out on a busy CI machine
AFTER_ALL = datetime(2027, 1, 1, tzinfo=UTC)
CALLS_ROUTE = "/reports/v2.1/igrps/20001/triggers/calls"

# Fast but real retry settings: same code paths, millisecond backoff, a 5 s Retry-After cap.
TUNING = {
    "page_size": PAGE_SIZE,
    "max_attempts": ATTEMPTS,
    "retry_initial_wait_seconds": 0.01,
    "retry_max_wait_seconds": 0.05,
    "max_retry_after_seconds": 5.0,
    "timeout_seconds": READ_TIMEOUT,
    "connect_timeout_seconds": 2.0,
}


def simulator(**kwargs) -> SimulatorServer:
    installation = generate_installation(
        igrp=20001,
        start=date(2026, 11, 29),
        end=date(2026, 12, 1),
        calls_per_day=ROWS,
        seed=5,
        cid_gap_rate=0.1,
        tz="UTC",
    )
    return SimulatorServer(installation, api_key=KEY, clock=AFTER_ALL, **kwargs)


def settings_for(server: SimulatorServer, data_dir: Path, monkeypatch, **env: str) -> Settings:
    values = {
        "INFINITY_IGRP": "20001",
        "INFINITY_API_KEY": KEY,
        "INFINITY_BASE_URL": server.base_url,
        "INFINITY_TIMEZONE": "UTC",
        "INFINITY_START_DATE": "2026-01-01",
        "INFINITY_DATA_DIR": str(data_dir),
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def run_calls(settings: Settings, day: str = DAY, instance=None, **tuning):
    """Materialize `calls` for one day with the fast retry settings; never raises."""
    defs = build_definitions(settings)
    resources = dict(defs.resources)
    resources["infinity"] = infinity_resource(settings, **{**TUNING, **tuning})
    return materialize(
        list(defs.assets),
        selection=[AssetKey("calls")],
        partition_key=day,
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def server_day(server: SimulatorServer, day: str = DAY) -> pa.Table:
    """What the simulator holds for one UTC day, in the catalogue's schema."""
    rows = server.installation.rows("calls")
    days = pc.strftime(rows.column("triggerDatetime"), format="%Y-%m-%d")
    return rows.filter(pc.equal(days, day)).select(CALLS.field_names).cast(CALLS.schema)


def day_file(settings: Settings, day: str = DAY) -> Path:
    return partition_file(settings.data_dir / "raw", "calls", day)


def failure_message(result) -> str:
    """The message of the error that failed the step, as the run's event log holds it."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    error = failures[0].step_failure_data.error
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    # The message reads "<module>.<class>: <text>"; the user's sentence is the text.
    head, _, text = error.message.partition(": ")
    assert head.endswith(error.cls_name)
    return text.strip()


@pytest.fixture(scope="module")
def server():
    with simulator() as s:
        yield s


@dataclass
class Case:
    name: str
    faults: list[FaultSpec]
    message: str | None = None  # None: survived; else the run fails with this message
    retries: int = 0  # failed attempts retried, when survived
    prefix: bool = False  # the message has a variable tail (an httpx detail): compare the start
    extra: dict = field(default_factory=dict)


def page2(kind: str, times: int = 1, **kwargs) -> FaultSpec:
    return FaultSpec(kind=kind, times=times, route="triggers/calls", after=1, **kwargs)


BASE = "http://127.0.0.1:{port}"
CASES = [
    Case("429 Retry-After seconds", [page2("429", retry_after="1")], retries=1),
    Case("429 Retry-After HTTP date", [page2("429", retry_after_date=1.0)], retries=1),
    Case("429 without Retry-After", [page2("429", retry_after=None)], retries=1),
    Case("500 HTML", [page2("500")], retries=1),
    Case("502 HTML", [page2("502")], retries=1),
    Case("503 HTML", [page2("503")], retries=1),
    Case("504 HTML", [page2("504")], retries=1),
    Case("cut mid-body", [page2("cut")], retries=1),
    Case("stalled response", [page2("stall", delay=6.0)], retries=1),
    Case("stalled body", [page2("stall_body", delay=6.0)], retries=1),
    Case("repeated page", [page2("repeat")], retries=1),
    Case("stall shorter than the timeout", [page2("stall", delay=0.2)]),
    Case(
        "a bad day: every page hit, twice on one",
        [
            FaultSpec(kind="503", route="triggers/calls"),
            FaultSpec(kind="cut", route="triggers/calls", after=1),
            FaultSpec(kind="repeat", route="triggers/calls", after=2),
            FaultSpec(kind="429", retry_after="0", route="triggers/calls", after=2),
        ],
        retries=4,
    ),
    Case(
        "503 on every attempt",
        [page2("503", times=ATTEMPTS)],
        message=f"The Infinity API kept answering HTTP 503 after {ATTEMPTS} attempts: 503 "
        "Service Unavailable 503 Service Unavailable nginx; run again later.",
    ),
    Case(
        "429 asking to wait past the cap",
        [page2("429", retry_after="600", message="Slow down: quota resets in 10 minutes")],
        message="The Infinity API answered HTTP 429 (Slow down: quota resets in 10 minutes) and "
        "asked us to wait 600 s, longer than the 5 s we wait (max_retry_after_seconds); run "
        "again later.",
    ),
    Case(
        "429 HTTP date past the cap",
        [page2("429", retry_after_date=3600.0, message="Too many requests")],
        message="The Infinity API answered HTTP 429 (Too many requests) and asked us to wait "
        "3600 s, longer than the 5 s we wait (max_retry_after_seconds); run again later.",
        prefix=True,  # the date has whole seconds: 3599 or 3600 s
        extra={"prefix_len": len("The Infinity API answered HTTP 429 (Too many requests) and ")},
    ),
    Case(
        "cut on every attempt",
        [page2("cut", times=ATTEMPTS)],
        message="The Infinity API at {base} did not send a complete answer in "
        f"{ATTEMPTS} attempts (RemoteProtocolError: ",
        prefix=True,
    ),
    Case(
        "stalled on every attempt",
        [page2("stall_body", times=ATTEMPTS, delay=6.0)],
        message="The Infinity API at {base} did not send a complete answer in "
        f"{ATTEMPTS} attempts (ReadTimeout: timed out); run again later.",
    ),
    Case(
        "repeated page on every attempt",
        [page2("repeat", times=ATTEMPTS)],
        message="Page 2 repeated rows already received (rowIds {first}..{last}, not after "
        "{last}) in all 3 attempts; stopping so no row is stored twice; run again later.",
    ),
    Case(
        "200 with a JSON-string error",
        [page2("error200", message="Daily request quota exceeded")],
        message=f"The Infinity API refused {CALLS_ROUTE} (HTTP 200): Daily request quota exceeded",
    ),
]


# The same faults over NDJSON (the client's other wire format) where the body matters.
JSON_CASES = [c for c in CASES if c.name in {"cut mid-body", "stalled body", "repeated page",
    "repeated page on every attempt", "200 with a JSON-string error"}]  # fmt: skip
MATRIX = [pytest.param(c, "csv", id=c.name) for c in CASES] + [
    pytest.param(c, "json", id=f"{c.name} (json)") for c in JSON_CASES
]


@pytest.mark.parametrize(("case", "wire_format"), MATRIX)
def test_fault_matrix(
    case: Case, wire_format: str, server: SimulatorServer, data_dir, monkeypatch
) -> None:
    settings = settings_for(server, data_dir, monkeypatch)
    expected = server_day(server)
    assert expected.num_rows == ROWS
    path = day_file(settings)
    write_partition(path, CALLS.schema, [expected.slice(0, 7)])  # an earlier, smaller pull
    previous = path.read_bytes()
    server.clear_faults()
    faults = [server.inject(replace(spec)) for spec in case.faults]  # fresh counters each run
    try:
        result = run_calls(settings, wire_format=wire_format)
    finally:
        server.clear_faults()
    assert all(spec.exhausted for spec in faults)

    if case.message is None:
        assert result.success
        stored = pq.read_table(path)
        assert stored.schema.equals(CALLS.schema)
        assert stored.to_pylist() == expected.to_pylist()
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["dagster/row_count"].value == ROWS
        assert metadata["pages"].value == 3
        assert metadata["retries"].value == case.retries
    else:
        assert not result.success
        row_ids = expected.column("rowId").to_pylist()
        message = case.message.format(
            base=server.base_url, first=row_ids[0], last=row_ids[PAGE_SIZE - 1]
        )
        got = failure_message(result)
        if case.prefix:
            assert got.startswith(message[: case.extra.get("prefix_len", len(message))])
        else:
            assert got == message
        assert path.read_bytes() == previous
    # Nothing half-written is left beside the day's file, whatever happened.
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.parquet"]


def test_answer_rewriting_faults_on_the_wire(server: SimulatorServer) -> None:
    """The simulator's drop/extra/bad-value faults and the HTTP-date Retry-After, as sent."""
    import csv
    import io
    import json
    from email.utils import parsedate_to_datetime

    import httpx

    params = {"display[]": ["rowId", "callDuration"], "limit": "2", "format": "csv"}
    url = server.base_url + CALLS_ROUTE
    headers = {"Authorization": f"ApiKey {KEY}"}

    def rows(fault: FaultSpec | None, fmt: str = "csv"):
        server.clear_faults()
        if fault is not None:
            server.inject(fault)
        response = httpx.get(url, params={**params, "format": fmt}, headers=headers)
        server.clear_faults()
        if fmt == "csv":
            return list(csv.reader(io.StringIO(response.text)))
        return [json.loads(line) for line in response.text.splitlines()]

    clean = rows(None)
    assert clean[0] == ["rowId", "callDuration"] and len(clean) == 3
    assert rows(FaultSpec(kind="drop_field", column="callDuration")) == [
        ["rowId"],
        *([r[0]] for r in clean[1:]),
    ]
    assert rows(FaultSpec(kind="extra_field", column="x", value="1")) == [
        ["rowId", "callDuration", "x"],
        *([*r, "1"] for r in clean[1:]),
    ]
    assert rows(FaultSpec(kind="bad_value", value="12s"), "json") == [
        {"rowId": int(r[0]), "callDuration": "12s"} for r in clean[1:]
    ]
    server.inject(FaultSpec(kind="429", retry_after_date=30.0))
    sent = datetime.now(UTC)
    throttled = httpx.get(url, params=params, headers=headers)
    received = datetime.now(UTC)
    server.clear_faults()
    assert throttled.status_code == 429
    # 30 s after the server answered, in whole seconds (the HTTP date has no fraction).
    retry_at = parsedate_to_datetime(throttled.headers["Retry-After"])
    assert (retry_at - sent).total_seconds() >= 29
    assert (retry_at - received).total_seconds() <= 30
