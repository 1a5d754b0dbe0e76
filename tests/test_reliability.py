"""Reliability beyond single faults: kill -9, concurrent runs and readers, bad input, secrets.

Real processes throughout: the simulator serves on loopback from this process; runs happen in
child processes (`dagster asset materialize`, or a small `python -c` materialize with a small page
size) that are killed with SIGKILL, run side by side, or fail on purpose.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from infinity_dagster import quality
from infinity_dagster.api.errors import InfinityConfigError
from infinity_dagster.defs import build_definitions
from infinity_dagster.reports import CALLS
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import FaultSpec, Installation, SimulatorServer
from infinity_dagster.storage import (
    TemporaryClaim,
    sweep_abandoned,
    write_partition,
)

from .conftest import call
from .test_faults import (
    AFTER_ALL,
    DAY,
    KEY,
    ROWS,
    day_file,
    failure_message,
    run_calls,
    server_day,
    settings_for,
    simulator,
)

REPO = Path(__file__).resolve().parent.parent
WAIT = 120  # seconds: a bound on every wait here, so a broken test fails instead of hanging

# A run in a child process, as a user's `python -c` would start it: settings from the
# environment, a small page size (three pages a day) and fast retries.
CHILD = """
import sys
from dagster import AssetKey, DagsterInstance, materialize
from infinity_dagster.defs import build_definitions, infinity_resource
from infinity_dagster.settings import Settings

settings = Settings.from_env()
defs = build_definitions(settings)
resources = dict(defs.resources)
resources["infinity"] = infinity_resource(
    settings, page_size=10, retry_initial_wait_seconds=0.01, retry_max_wait_seconds=0.05
)
result = materialize(
    list(defs.assets),
    selection=[AssetKey("calls")],
    partition_key=sys.argv[1],
    resources=resources,
    instance=DagsterInstance.ephemeral(),
    raise_on_error=False,
)
sys.exit(0 if result.success else 1)
"""


def child_env(server: SimulatorServer, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFINITY_", "DAGSTER_"))}
    env.update(
        INFINITY_IGRP="20001",
        INFINITY_API_KEY=KEY,
        INFINITY_BASE_URL=server.base_url,
        INFINITY_TIMEZONE="UTC",
        INFINITY_START_DATE="2026-01-01",
        INFINITY_DATA_DIR=str(data_dir),
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def start_child(day: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, day],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def dagster_cli(day: str, env: dict[str, str]) -> subprocess.Popen:
    """`dagster asset materialize` exactly as the README shows it."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "-m", "infinity_dagster.definitions"]
    return subprocess.Popen(
        [*command, "--select", "calls", "--partition", day],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=WAIT)
    return proc.returncode, out


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def stored_rows(settings: Settings, day: str = DAY) -> list[dict]:
    return pq.read_table(day_file(settings, day)).to_pylist()


# --- kill -9 ---------------------------------------------------------------------------------


def test_kill_9_mid_pull_keeps_the_previous_day_and_the_next_run_repairs(
    data_dir, monkeypatch
) -> None:
    with simulator() as server:
        settings = settings_for(server, data_dir, monkeypatch)
        expected = server_day(server)
        path = day_file(settings)
        write_partition(path, CALLS.schema, [expected.slice(0, 7)])
        previous = path.read_bytes()
        # Page 2 sends its headers and half its body, then stalls: the run is surely mid-pull,
        # with page 1 already streamed into the day's temporary file.
        stall = server.inject(
            FaultSpec(kind="stall_body", route="triggers/calls", after=1, delay=WAIT)
        )
        env = child_env(server, data_dir)
        proc = start_child(DAY, env)
        try:
            wait_until(lambda: stall.fired == 1 or proc.poll() is not None, "the stalled page")
            assert proc.poll() is None, proc.communicate()[0]
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=WAIT) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.clear_faults()

        # The day is as it was; the dead run's temporary file is hidden from every reader's glob.
        assert path.read_bytes() == previous
        leftovers = sorted(p.name for p in path.parent.iterdir() if p.name != "data.parquet")
        assert [name.rsplit(".", 1)[1] for name in leftovers] == ["lock", "tmp"]
        assert all(name.startswith(".data.parquet.") for name in leftovers)
        glob = str(settings.data_dir / "raw" / "calls" / "date=*" / "*.parquet")
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall() == [(7,)]

        # The next run, with no manual clean-up, stores the whole day and sweeps the leftovers.
        code, out = finish(start_child(DAY, env))
        assert code == 0, out
        assert stored_rows(settings) == expected.to_pylist()
        assert sorted(p.name for p in path.parent.iterdir()) == ["data.parquet"]


def test_a_dead_writers_temporary_file_is_swept_and_a_live_ones_kept(tmp_path) -> None:
    final = tmp_path / "date=2026-11-30" / "data.parquet"
    final.parent.mkdir()
    # A writer in another process claims a temporary file, writes into it, and is killed.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from infinity_dagster.storage import TemporaryClaim\n"
        "claim = TemporaryClaim(Path(sys.argv[1]))\n"
        "claim.path.write_bytes(b'half a file')\n"
        "print(claim.path, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(final)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        dead_tmp = Path(proc.stdout.readline().strip())
        live = TemporaryClaim(final)  # this process's writer, alive
        live.path.write_bytes(b"in progress")
        assert sweep_abandoned(final) == []  # the other writer is alive too
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sweep_abandoned(final) == [dead_tmp]
    assert sorted(p.name for p in final.parent.iterdir()) == sorted(
        [live.path.name, live.path.with_suffix(".lock").name]
    )
    live.release()
    assert list(final.parent.iterdir()) == []


def test_a_killed_model_build_leaves_the_database_and_the_next_build_sweeps(data_dir) -> None:
    from infinity_dagster.warehouse import WarehouseSpec, build_warehouse

    spec = WarehouseSpec(data_dir / "raw", data_dir / "infinity.duckdb", [CALLS])
    build_warehouse(spec)
    previous = spec.database.read_bytes()
    # A build in another process, half-way through its new database, is killed.
    script = (
        "import sys, time, duckdb\n"
        "from pathlib import Path\n"
        "from infinity_dagster.storage import TemporaryClaim\n"
        "claim = TemporaryClaim(Path(sys.argv[1]))\n"
        "con = duckdb.connect(str(claim.path))\n"
        "con.execute('CREATE TABLE call_fail_rates AS SELECT 1 AS half_built')\n"
        "print(claim.path, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(spec.database)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        half_built = Path(proc.stdout.readline().strip())
        assert half_built.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert spec.database.read_bytes() == previous  # readers still get the whole previous build
    with duckdb.connect(str(spec.database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM call_fail_rates").fetchall() == [(0,)]
    build_warehouse(spec)
    assert sorted(p.name for p in data_dir.iterdir() if p.name != "raw") == ["infinity.duckdb"]


# --- concurrency -----------------------------------------------------------------------------


def test_several_days_at_once_and_the_same_day_twice(data_dir, monkeypatch) -> None:
    days = ["2026-11-29", "2026-11-30", "2026-12-01", "2026-11-30"]  # the 30th twice, racing
    with simulator() as server:
        settings = settings_for(server, data_dir, monkeypatch)
        # Every request a little slow, so the runs truly overlap.
        server.inject(FaultSpec(kind="stall", delay=0.2, times=1000))
        env = child_env(server, data_dir)
        procs = [start_child(day, env) for day in days]
        results = [finish(p) for p in procs]
        server.clear_faults()
        for code, out in results:
            assert code == 0, out
        for day in set(days):
            assert stored_rows(settings, day) == server_day(server, day).to_pylist()
            folder = day_file(settings, day).parent
            assert sorted(p.name for p in folder.iterdir()) == ["data.parquet"]


READER = """
import json, sys, time
from pathlib import Path
import duckdb

database, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
con = duckdb.connect(database, read_only=True)
rates = "SELECT date::VARCHAR, dgrp, total_calls, failed_calls FROM call_fail_rates ORDER BY ALL"
before = con.execute(rates).fetchall()
ready.touch()
# A user's long query, running while the models are rebuilt.
long = con.execute(
    "SELECT count(*), sum(c.callDuration) FROM calls c, range(400000) r(n) WHERE n % 2 = 0"
).fetchone()
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the rebuild never finished")
    time.sleep(0.05)
after = con.execute(rates).fetchall()
print(json.dumps({"before": before, "after": after, "long": long}))
"""


def test_model_rebuild_while_another_process_reads(data_dir, monkeypatch, tmp_path) -> None:
    with simulator() as server:
        settings = settings_for(server, data_dir, monkeypatch)
        instance = DagsterInstance.ephemeral()
        assert run_calls(settings, "2026-11-29", instance=instance).success
        models = [
            AssetKey("call_fail_rates"),
            AssetKey("call_states"),
            AssetKey("cid_capture_gaps"),
        ]
        defs = build_definitions(settings)

        def rebuild():
            return materialize(
                list(defs.assets),
                selection=models,
                resources=dict(defs.resources),
                instance=instance,
            )

        assert rebuild().success
        rates = (
            "SELECT date::VARCHAR, dgrp, total_calls, failed_calls FROM call_fail_rates "
            "ORDER BY ALL"
        )
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            old = [list(r) for r in con.execute(rates).fetchall()]
        ready, go = tmp_path / "ready", tmp_path / "go"
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(settings.duckdb_path), str(ready), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(lambda: ready.exists() or reader.poll() is not None, "the reader")
            # Another day lands and the models are rebuilt while the reader holds the file.
            assert run_calls(settings, "2026-11-30", instance=instance).success
            assert rebuild().success
            with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
                new = [list(r) for r in con.execute(rates).fetchall()]
            go.touch()
            out, err = reader.communicate(timeout=WAIT)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    assert reader.returncode == 0, err
    seen = json.loads(out)
    # The reader saw the complete old build throughout, the new connection the complete new one.
    assert seen["before"] == seen["after"] == old
    assert sum(r[2] for r in old) == ROWS
    assert sum(r[2] for r in new) == 2 * ROWS
    assert [r for r in new if r[0] == "2026-11-29"] == old
    assert seen["long"][0] == ROWS * 200_000
    leftovers = [p.name for p in settings.duckdb_path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


# --- bad input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with simulator() as s:
        yield s


def prepare_previous(settings: Settings, server: SimulatorServer) -> bytes:
    path = day_file(settings)
    write_partition(path, CALLS.schema, [server_day(server).slice(0, 7)])
    return path.read_bytes()


def run_with_fault(settings: Settings, server: SimulatorServer, spec: FaultSpec):
    server.clear_faults()
    server.inject(spec)
    try:
        return run_calls(settings)
    finally:
        server.clear_faults()


def test_a_field_missing_from_the_answer_fails_naming_it(server, data_dir, monkeypatch) -> None:
    settings = settings_for(server, data_dir, monkeypatch)
    previous = prepare_previous(settings, server)
    result = run_with_fault(
        settings, server, FaultSpec(kind="drop_field", column="callState", after=1)
    )
    assert not result.success
    assert failure_message(result) == (
        "The API answer lacks the field(s) callState: check the report's display fields (the "
        "field may be named differently on this account)."
    )
    assert day_file(settings).read_bytes() == previous


def test_a_non_numeric_duration_fails_naming_field_and_value(server, data_dir, monkeypatch) -> None:
    settings = settings_for(server, data_dir, monkeypatch)
    previous = prepare_previous(settings, server)
    spec = FaultSpec(kind="bad_value", column="callDuration", value="12s", after=2)
    result = run_with_fault(settings, server, spec)
    assert not result.success
    assert failure_message(result) == (
        "The API sent '12s' in field callDuration, which should be a whole number; nothing was "
        "written for this page."
    )
    assert day_file(settings).read_bytes() == previous


@pytest.mark.parametrize("wire_format", ["csv", "json"])
def test_an_unexpected_extra_column_is_reported_and_rows_kept(
    server, data_dir, monkeypatch, wire_format
) -> None:
    settings = settings_for(server, data_dir, monkeypatch)
    spec = FaultSpec(kind="extra_field", column="sentimentScore", value="0.8", after=1)
    server.clear_faults()
    server.inject(spec)
    instance = DagsterInstance.ephemeral()
    try:
        result = run_calls(settings, instance=instance, wire_format=wire_format)
    finally:
        server.clear_faults()
    assert result.success
    assert stored_rows(settings) == server_day(server).to_pylist()
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["unexpected_fields"].value == "sentimentScore"
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    assert warnings == [
        f"calls {DAY}: the API sent field(s) the catalogue does not know, not stored: "
        "sentimentScore."
    ]


def test_unknown_call_state_is_counted_and_reported(data_dir, monkeypatch) -> None:
    rows = [
        call(1, "2026-11-30 09:00:00", dgrp=7, dgrpName="Sales", callState="NO_ANSWER"),
        call(2, "2026-11-30 10:00:00", dgrp=7, dgrpName="Sales", callState="NORMAL_CLEARING_A"),
        call(3, "2026-11-30 11:00:00", dgrp=7, dgrpName="Sales", callState="QUANTUM_TUNNEL"),
        call(4, "2026-11-30 12:00:00", dgrp=7, dgrpName="Sales", callState=""),
    ]
    installation = Installation.from_rows(igrp=20001, calls=rows)
    with SimulatorServer(installation, api_key=KEY, clock=AFTER_ALL) as server:
        settings = settings_for(server, data_dir, monkeypatch)
        instance = DagsterInstance.ephemeral()
        assert run_calls(settings, instance=instance).success
        defs = build_definitions(settings)
        result = materialize(
            list(defs.assets),
            selection=[AssetKey("call_fail_rates"), AssetKey("call_states")],
            resources=dict(defs.resources),
            instance=instance,
        )
    assert result.success
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute(
            "SELECT total_calls, failed_calls, unmapped_state_calls, fail_rate FROM call_fail_rates"
        ).fetchall() == [(4, 1, 2, 0.25)]
        outcome = quality.unmapped_states(con)
    assert not outcome.passed
    assert outcome.description == (
        "1 call state(s) are not in the mapping and never count as failures: QUANTUM_TUNNEL "
        "(1 calls). Add them to INFINITY_CALL_STATE_MAPPING."
    )


def test_invalid_configuration_stops_the_cli_before_any_request(server, data_dir) -> None:
    """The code location refuses to load: one sentence, no request, nothing written."""
    before = len(server.requests)
    code, out = finish(dagster_cli(DAY, child_env(server, data_dir, INFINITY_IGRP="12a")))
    assert code != 0
    assert "INFINITY_IGRP must be a positive whole number (the installation id), got '12a'." in out
    assert len(server.requests) == before
    assert not (data_dir / "raw").exists()


def test_settings_refuse_missing_credentials_and_a_future_start() -> None:
    base = {"INFINITY_IGRP": "20001"}
    with pytest.raises(InfinityConfigError) as info:
        Settings.from_env(base)
    assert str(info.value) == (
        "No Infinity credentials: set INFINITY_API_KEY (or INFINITY_USERNAME and "
        "INFINITY_PASSWORD)."
    )
    with pytest.raises(InfinityConfigError) as info:
        Settings.from_env({**base, "INFINITY_API_KEY": "k", "INFINITY_START_DATE": "2999-01-01"})
    assert str(info.value).startswith("INFINITY_START_DATE 2999-01-01 is in the future (today is ")


def test_401_and_403_fail_at_once_naming_the_variable(server, data_dir, monkeypatch) -> None:
    settings = settings_for(server, data_dir, monkeypatch, INFINITY_API_KEY="not-the-key")
    previous = prepare_previous(settings, server)
    before = len(server.requests)
    result = run_calls(settings)
    assert failure_message(result) == (
        "Authentication failed for igrp 20001: check INFINITY_API_KEY (server said: auth required)."
    )
    assert len(server.requests) == before + 1  # no retry
    settings = settings_for(server, data_dir, monkeypatch, INFINITY_IGRP="20002")
    before = len(server.requests)
    result = run_calls(settings)
    assert failure_message(result) == (
        "Access denied to igrp 20002: these credentials cannot see that installation; check "
        "INFINITY_IGRP and INFINITY_API_KEY (server said: access denied)."
    )
    assert len(server.requests) == before + 1
    assert day_file(settings).read_bytes() == previous


def test_json_with_spaces_after_colons_reads_like_compact_json() -> None:
    from infinity_dagster.api.parse import read_ndjson_text

    body = b'{"rowId": 5, "dgrpName" :"a, \\"b\\": 7", "callDuration": 12}\n'
    compact = b'{"rowId":"5","dgrpName":"a, \\"b\\": 7","callDuration":"12"}\n'
    names = ["rowId", "dgrpName", "callDuration"]
    assert read_ndjson_text(body, names).to_pylist() == [
        {"rowId": "5", "dgrpName": 'a, "b": 7', "callDuration": "12"}
    ]
    assert read_ndjson_text(compact, names).equals(read_ndjson_text(body, names))


def test_an_unreachable_api_fails_naming_the_base_url(server, data_dir, monkeypatch) -> None:
    with SimulatorServer(Installation.from_rows(igrp=20001), api_key=KEY) as gone:
        settings = settings_for(gone, data_dir, monkeypatch)  # nothing listens there afterwards
        url = gone.base_url
    previous = prepare_previous(settings, server)
    message = failure_message(run_calls(settings))
    assert message.startswith(
        f"The Infinity API at {url} could not be reached after 3 attempts (ConnectError: "
    )
    assert message.endswith("); check INFINITY_BASE_URL and the network, then run again.")
    assert day_file(settings).read_bytes() == previous


def test_retry_after_in_both_forms() -> None:
    from email.utils import formatdate

    from infinity_dagster.api.client import _retry_after_seconds

    def seconds(value: str) -> float | None:
        return _retry_after_seconds(httpx.Response(429, headers={"Retry-After": value}))

    assert seconds("7") == 7.0
    assert 28.0 <= seconds(formatdate(time.time() + 30, usegmt=True)) <= 30.0
    assert seconds(formatdate(time.time() - 30, usegmt=True)) == 0.0  # a date already past
    assert seconds("soon") is None  # unreadable: ordinary backoff


# --- secrets ---------------------------------------------------------------------------------

API_KEY_SECRET = "sk-live-7Hq2ZxW9rP4mT8vB"
PASSWORD_SECRET = "pw-9Kd3Lq7Vn2Xs5Jr8"


def test_secrets_never_reach_output_errors_events_or_stored_run_config(server, tmp_path) -> None:
    """Two failing runs through the CLI (a bad API key; a bad portal password), everything kept.

    Grepped: all the CLI printed (stdout and stderr: logs, the error, its traceback), every file
    of the Dagster instance (run storage with the run config, event log, compute logs), the run
    config and every event as the instance returns them, and the data folder.
    """
    runs = {
        "key": {"INFINITY_API_KEY": API_KEY_SECRET},
        "password": {
            "INFINITY_API_KEY": "",
            "INFINITY_USERNAME": "ops@example.com",
            "INFINITY_PASSWORD": PASSWORD_SECRET,
        },
    }
    procs = {}
    for name, extra in runs.items():
        home = tmp_path / name / "dagster_home"
        home.mkdir(parents=True)
        env = child_env(server, tmp_path / name / "data", DAGSTER_HOME=str(home), **extra)
        procs[name] = dagster_cli(DAY, env)
    for name, proc in procs.items():
        code, out = finish(proc)
        secret = API_KEY_SECRET if name == "key" else PASSWORD_SECRET
        variables = (
            "INFINITY_API_KEY" if name == "key" else "INFINITY_USERNAME and INFINITY_PASSWORD"
        )
        assert code != 0
        assert f"Authentication failed for igrp 20001: check {variables}" in out
        assert secret not in out

        home = tmp_path / name / "dagster_home"
        for path in (tmp_path / name).rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
        with DagsterInstance.from_config(str(home)) as instance:
            [run] = instance.get_runs()
            assert run.status.value == "FAILURE"
            stored = json.dumps(run.run_config) + repr(run.tags)
            events = instance.all_logs(run.run_id)
            failures = [e for e in events if e.dagster_event and e.dagster_event.is_step_failure]
            assert len(failures) == 1
            stored += "".join(repr(e) for e in events)
        assert secret not in stored


def test_the_resource_never_shows_its_secrets(monkeypatch) -> None:
    from dagster import EnvVar

    from infinity_dagster.defs.resources import InfinityResource

    monkeypatch.setenv("INFINITY_API_KEY", API_KEY_SECRET)
    monkeypatch.setenv("INFINITY_PASSWORD", PASSWORD_SECRET)
    for secrets in (
        {"api_key": EnvVar("INFINITY_API_KEY")},
        {"username": "ops@example.com", "password": EnvVar("INFINITY_PASSWORD")},
    ):
        resource = InfinityResource(igrp=20001, base_url="http://127.0.0.1:9", **secrets)
        live = resource.process_config_and_initialize()  # as a run holds it: values resolved
        assert live.credentials().kind == ("api_key" if "api_key" in secrets else "basic")
        for shown in (repr(resource), repr(live), str(live), repr(live.credentials())):
            assert API_KEY_SECRET not in shown and PASSWORD_SECRET not in shown
