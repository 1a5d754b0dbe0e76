"""The `calls` asset through Dagster: real simulator, real Parquet, real DuckDB, real instance."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from infinity_dagster.defs import build_definitions
from infinity_dagster.reports import CALLS
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import Installation, SimulatorServer
from infinity_dagster.storage import partition_file

from .conftest import call

KEY = "asset-test-key"


def settings_for(server: SimulatorServer, data_dir, monkeypatch, tz: str = "UTC") -> Settings:
    """Settings as a user sets them: in the environment (the API key is read as an EnvVar)."""
    env = {
        "INFINITY_IGRP": "20001",
        "INFINITY_API_KEY": KEY,
        "INFINITY_BASE_URL": server.base_url,
        "INFINITY_TIMEZONE": tz,
        "INFINITY_START_DATE": "2026-01-01",
        "INFINITY_DATA_DIR": str(data_dir),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def run(settings: Settings, day: str | None, keys=("calls",), instance=None):
    defs = build_definitions(settings)
    return materialize(
        list(defs.assets),
        selection=[AssetKey(k) for k in keys],
        partition_key=day,
        resources=dict(defs.resources),
        instance=instance or DagsterInstance.ephemeral(),
    )


def stored(settings: Settings, day: str):
    return pq.read_table(partition_file(settings.data_dir / "raw", "calls", day))


@pytest.fixture
def london_dst(monkeypatch, data_dir):
    rows = [
        call(3_000_001, "2026-03-28 23:59:59", srcPhoneNumber="01632 960001"),  # 28th local
        call(3_000_005, "2026-03-29 00:00:00", srcPhoneNumber="+441632960002"),  # 29th
        call(3_000_009, "2026-03-29 22:59:59", srcPhoneNumber="0113 496 0003"),  # 29th, 23:59 BST
        call(3_000_020, "2026-03-29 23:00:00"),  # 30th 00:00 BST
        call(4_000_001, "2026-10-24 22:59:59"),  # 24th 23:59:59 BST
        call(4_000_002, "2026-10-24 23:00:00"),  # 25th 00:00 BST
        call(4_000_003, "2026-10-25 00:30:00"),  # 25th 01:30 BST (first 01:30)
        call(4_000_004, "2026-10-25 01:30:00"),  # 25th 01:30 GMT (second 01:30)
        call(4_000_005, "2026-10-25 23:59:59"),  # 25th 23:59:59 GMT
        call(4_000_006, "2026-10-26 00:00:00"),  # 26th
    ]
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key=KEY) as server:
        yield settings_for(server, data_dir, monkeypatch, "Europe/London"), server


def utc_times(table) -> list[tuple[int, datetime]]:
    return list(zip(table.column("rowId").to_pylist(), table.column("triggerDatetime").to_pylist()))


def test_23_hour_day_holds_exactly_its_calls(london_dst) -> None:
    settings, _ = london_dst
    result = run(settings, "2026-03-29")
    assert result.success
    table = stored(settings, "2026-03-29")
    assert utc_times(table) == [
        (3_000_005, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        (3_000_009, datetime(2026, 3, 29, 22, 59, 59, tzinfo=UTC)),
    ]
    assert table.column("srcPhoneNumber").to_pylist() == ["+441632960002", "0113 496 0003"]
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 2
    assert metadata["day_hours"].value == 23.0
    assert (metadata["min_row_id"].value, metadata["max_row_id"].value) == (3_000_005, 3_000_009)


def test_25_hour_day_keeps_both_repeated_hours_at_their_true_instants(london_dst) -> None:
    settings, server = london_dst
    run(settings, "2026-10-25")
    assert utc_times(stored(settings, "2026-10-25")) == [
        (4_000_002, datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
        (4_000_003, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (4_000_004, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        (4_000_005, datetime(2026, 10, 25, 23, 59, 59, tzinfo=UTC)),
    ]
    request = server.requests[-1]
    assert ("tz", "UTC") in request.params
    assert ("startDate", "2026-10-24") in request.params and (
        "endDate",
        "2026-10-25",
    ) in request.params


def test_every_call_lands_in_exactly_one_partition(london_dst) -> None:
    settings, server = london_dst
    days = ["2026-03-28", "2026-03-29", "2026-03-30", "2026-10-24", "2026-10-25", "2026-10-26"]
    seen = []
    instance = DagsterInstance.ephemeral()
    for day in days:
        run(settings, day, instance=instance)
        seen += stored(settings, day).column("rowId").to_pylist()
    assert sorted(seen) == sorted(
        int(r) for r in server.installation.rows("calls").column("rowId").to_pylist()
    )
    assert len(seen) == len(set(seen)) == 10


def test_empty_day_is_a_file_with_no_rows_and_the_full_schema(london_dst) -> None:
    settings, _ = london_dst
    run(settings, "2026-06-01")
    table = stored(settings, "2026-06-01")
    assert table.num_rows == 0
    assert table.schema.equals(CALLS.schema)


def test_rematerializing_a_day_never_duplicates(london_dst) -> None:
    settings, _ = london_dst
    instance = DagsterInstance.ephemeral()
    run(settings, "2026-10-25", instance=instance)
    first = stored(settings, "2026-10-25")
    run(settings, "2026-10-25", instance=instance)
    assert stored(settings, "2026-10-25").equals(first)
    folder = partition_file(settings.data_dir / "raw", "calls", "2026-10-25").parent
    assert sorted(p.name for p in folder.iterdir()) == ["data.parquet"]


def test_models_after_calls(data_dir, monkeypatch) -> None:
    rows = [
        call(1, "2026-11-30 10:00:00", dgrp=5, dgrpName="Main", callState="NO_ANSWER", vid="v"),
        call(
            2,
            "2026-11-30 11:00:00",
            dgrp=5,
            dgrpName="Main",
            callState="NORMAL_CLEARING_A",
            vid="w",
            googleCid="11.22",
        ),
        call(3, "2026-11-30 12:00:00", dgrp=5, dgrpName="Main", callState="NORMAL_CLEARING_B"),
        call(4, "2026-11-30 13:00:00", dgrp=5, dgrpName="Main", callState="USER_BUSY"),
    ]
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key=KEY) as server:
        settings = settings_for(server, data_dir, monkeypatch)
        instance = DagsterInstance.ephemeral()
        run(settings, "2026-11-30", instance=instance)
        result = run(
            settings,
            None,
            keys=("call_fail_rates", "call_states", "cid_capture_gaps"),
            instance=instance,
        )
    assert result.success
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute("SELECT * FROM call_fail_rates").fetchall() == [
            (date(2026, 11, 30), 5, "Main", 4, 2, 0, 0.5)
        ]
        assert con.execute("SELECT * FROM cid_capture_gaps").fetchall() == [
            (date(2026, 11, 30), 5, 2, 1, 0.5)
        ]
