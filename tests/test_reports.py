"""Every report of the catalogue through Dagster, on small hand-written installations.

Real simulator on loopback, real Parquet, real DuckDB, a real (ephemeral) Dagster instance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from infinity_dagster.api import InfinityConfigError
from infinity_dagster.defs import build_definitions
from infinity_dagster.reports import DIAL_IN_GROUPS
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import Installation, SimulatorServer
from infinity_dagster.storage import partition_file, write_partition

from .conftest import call
from .test_calls_asset import KEY, settings_for

DAY = "2026-11-30"


def run(settings: Settings, day: str | None, keys, instance=None, raise_on_error=True):
    defs = build_definitions(settings)
    return materialize(
        list(defs.assets),
        selection=[AssetKey(k) for k in keys],
        partition_key=day,
        resources=dict(defs.resources),
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def today() -> str:
    return datetime.now(ZoneInfo("UTC")).date().isoformat()


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def number(dgrp: int, value: str, usage: str, ch: int, name: str = "Fallback") -> dict:
    return {
        "dgrp": dgrp,
        "dgrpName": f"Group {dgrp}",
        "number": value,
        "usageType": usage,
        "ch": str(ch),
        "chName": name,
        "chType": "direct",
    }


# -- snapshots ------------------------------------------------------------------------------------

NUMBERS = [
    number(12, "0113 496 0012", "fixed", 0),
    number(12, "07700 900120", "dynamic", 0),  # dynamic: not a fallback
    number(10, "01632 960010", "fixed", 0),
    number(10, "020 7946 0010", "fixed", 8, "Print: Yellow Pages"),  # fixed but channel 8
    number(11, "+441632960011", "fixed", 0),
    number(11, "07700 900111", "dynamic", 1, "Google Ads"),
]
ORGANISATIONS = [
    {"orgId": 501, "orgName": "Zebra Boilers", "parentOrgId": "", "orgRef": "Z-1"},
    {"orgId": 502, "orgName": "Acme Heating", "parentOrgId": "", "orgRef": "A-1"},
    {"orgId": 503, "orgName": "Old Brand (closed)", "parentOrgId": "502", "active": False},
    {"orgId": 504, "orgName": "Mango, Leeds", "parentOrgId": "502", "orgRef": ""},
]
DGRPS = [
    {
        "dgrp": 11,
        "dgrpName": 'Bookings "Main Line"',
        "autoDiscoveryNumber": "+44 113 496 0820",
        "destPhoneNumber": "020 7946 0462",
        "dgrpStatus": 200,
    },
    {
        "dgrp": 10,
        "dgrpName": "Winter promo 2024",
        "autoDiscoveryNumber": "0113 496 0869",
        "destPhoneNumber": "020 7946 0550",
        "dgrpStatus": 410,
    },
]


@pytest.fixture
def config_server(data_dir, monkeypatch):
    installation = Installation.from_rows(
        igrp=20001, numbers=NUMBERS, organisations=ORGANISATIONS, dgrps=DGRPS
    )
    with SimulatorServer(installation, api_key=KEY) as server:
        yield settings_for(server, data_dir, monkeypatch), server


def test_fallback_numbers_are_fixed_numbers_on_channel_0_by_dial_in_group(config_server) -> None:
    settings, server = config_server
    result = run(settings, None, keys=("fallback_numbers",))
    assert result.success
    path = partition_file(settings.data_dir / "raw", "fallback_numbers", today())
    assert [(r["dgrp"], r["number"], r["usageType"], r["ch"]) for r in rows(path)] == [
        (10, "01632 960010", "fixed", 0),
        (11, "+441632960011", "fixed", 0),
        (12, "0113 496 0012", "fixed", 0),
    ]
    request = server.requests[-1]
    assert request.path == "/config/v2.1/igrps/20001/dgrps/all/numbers"
    assert request.params[0] == ("igrp", "20001")  # as the guide repeats it
    assert ("limit", "50000") in request.params
    assert [v for k, v in request.params if k == "filter[]"] == [
        "usageType-eq-value-fixed",
        "ch-eq-value-0",
    ]
    assert ("sort[]", "dgrp-asc") in request.params
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["snapshot_date"].value == today()


def test_organisations_are_the_active_ones_by_name(config_server) -> None:
    settings, server = config_server
    run(settings, None, keys=("organisations",))
    path = partition_file(settings.data_dir / "raw", "organisations", today())
    assert rows(path) == [
        {"orgId": 502, "orgName": "Acme Heating", "igrp": 20001, "parentOrgId": None,
         "orgRef": "A-1"},
        {"orgId": 504, "orgName": "Mango, Leeds", "igrp": 20001, "parentOrgId": 502,
         "orgRef": ""},
        {"orgId": 501, "orgName": "Zebra Boilers", "igrp": 20001, "parentOrgId": None,
         "orgRef": "Z-1"},
    ]  # fmt: skip
    request = server.requests[-1]
    assert request.path == "/reports/v2.1/organisations"
    assert request.params[0] == ("igrp", "20001")  # the assumed scoping, from the route template
    assert ("sort[]", "orgName-asc") in request.params


def test_dial_in_groups_keep_history_and_the_view_shows_the_latest(config_server) -> None:
    settings, _ = config_server
    raw = settings.data_dir / "raw"
    # An earlier snapshot, when a group 9 still existed.
    earlier = rows_table(
        [
            {
                "igrp": 20001,
                "dgrp": 9,
                "dgrpName": "Gone",
                "autoDiscoveryNumber": "0113 496 0001",
                "destPhoneNumber": "",
                "dgrpStatus": 200,
            }
        ]
    )
    write_partition(partition_file(raw, "dial_in_groups", "2026-01-05"), DIAL_IN_GROUPS.schema,
                    [earlier])  # fmt: skip
    instance = DagsterInstance.ephemeral()
    result = run(settings, None, keys=("dial_in_groups",), instance=instance)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["history_days"].value == 2
    run(settings, None, keys=("call_log",), instance=instance)  # any model: rebuilds the file
    assert query(settings, "SELECT dgrp, dgrpName, autoDiscoveryNumber, dgrpStatus, date "
                 "FROM dial_in_groups ORDER BY dgrp") == [
        (10, "Winter promo 2024", "0113 496 0869", 410, date.fromisoformat(today())),
        (11, 'Bookings "Main Line"', "+44 113 496 0820", 200, date.fromisoformat(today())),
    ]  # fmt: skip
    assert query(settings, "SELECT date, count(*) FROM dial_in_groups_history GROUP BY date "
                 "ORDER BY date") == [
        (date(2026, 1, 5), 1),
        (date.fromisoformat(today()), 2),
    ]  # fmt: skip


def rows_table(records: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=DIAL_IN_GROUPS.schema)


def test_a_route_override_replaces_the_assumed_route(config_server, monkeypatch) -> None:
    settings, server = config_server
    monkeypatch.setenv("INFINITY_ORGANISATIONS_ROUTE", "/reports/{version}/organisations")
    run(Settings.from_env(), None, keys=("organisations",))
    assert server.requests[-1].path == "/reports/v2.1/organisations"
    assert not [k for k, _ in server.requests[-1].params if k == "igrp"]


# -- goals ----------------------------------------------------------------------------------------


def page_goal(row_id: int, when: str, goal: int, title: str, **values: object) -> dict:
    """A goal reached on a page: a visitor and a page, every call field empty."""
    row = call(row_id, when, goal=goal, goalTitle=title, **values)
    row.update(callDuration="", ringTime="", bridgeDuration="")
    return row


GOALS = [
    page_goal(2_000_001, f"{DAY} 09:00:00", 2, 'Quote request "Form"', ch=1, chName="Google Ads",
              chType="ppc", vid="v1", href="https://acme.example/contact", segment=1),
    call(2_000_004, f"{DAY} 10:00:00", goal=1, goalTitle="Qualified call, 60s+", ch=1,
         chName="Google Ads", chType="ppc", vid="v2", dgrp=10, dgrpName="Sales",
         dialledPhoneNumber="01632 960123", srcPhoneNumber="07700 900001",
         callState="NORMAL_CLEARING_A", bridgeDuration=75, segment=2),
    page_goal(2_000_007, f"{DAY} 11:00:00", 2, 'Quote request "Form"', ch=1, chName="Google Ads",
              chType="ppc", vid="v1", segment=2),
    page_goal(2_000_010, f"{DAY} 12:00:00", 3, "Brochure download, PDF", ch=3,
              chName="Google Organic", chType="seo", vid="v3", segment=1),
    call(2_000_012, f"{DAY} 13:00:00", goal=1, goalTitle="Qualified call, 60s+", ch=0,
         chName="Fallback", chType="direct", dgrp=10, dgrpName="Sales",
         dialledPhoneNumber="0113 496 0012", callState="NORMAL_CLEARING_B", segment=1),
]  # fmt: skip


@pytest.fixture
def goals_server(data_dir, monkeypatch):
    installation = Installation.from_rows(igrp=20001, goals=GOALS)
    with SimulatorServer(installation, api_key=KEY) as server:
        yield settings_for(server, data_dir, monkeypatch), server


def test_goals_day_keeps_page_goals_and_call_goals(goals_server) -> None:
    settings, _ = goals_server
    instance = DagsterInstance.ephemeral()
    assert run(settings, DAY, keys=("goals",), instance=instance).success
    stored = rows(partition_file(settings.data_dir / "raw", "goals", DAY))
    assert [
        (r["rowId"], r["goal"], r["ch"], r["href"], r["dgrp"], r["callDuration"], r["callState"])
        for r in stored
    ] == [
        (2_000_001, 2, 1, "https://acme.example/contact", None, None, ""),
        (2_000_004, 1, 1, "", 10, 0, "NORMAL_CLEARING_A"),
        (2_000_007, 2, 1, "", None, None, ""),
        (2_000_010, 3, 3, "", None, None, ""),
        (2_000_012, 1, 0, "", 10, 0, "NORMAL_CLEARING_B"),
    ]
    run(settings, None, keys=("goals_by_channel",), instance=instance)
    assert query(settings, "SELECT * FROM goals_by_channel") == [
        # date, ch, channel, type, goal, title, goals, call goals, visitors
        (date(2026, 11, 30), 0, "Fallback", "direct", 1, "Qualified call, 60s+", 1, 1, 0),
        (date(2026, 11, 30), 1, "Google Ads", "ppc", 1, "Qualified call, 60s+", 1, 1, 1),
        (date(2026, 11, 30), 1, "Google Ads", "ppc", 2, 'Quote request "Form"', 2, 0, 1),
        (date(2026, 11, 30), 3, "Google Organic", "seo", 3, "Brochure download, PDF", 1, 0, 1),
    ]
    assert query(settings, "SELECT * FROM goals_by_segment") == [
        # date, segment, goal, title, goals, call goals, visitors
        (date(2026, 11, 30), 1, 1, "Qualified call, 60s+", 1, 1, 0),
        (date(2026, 11, 30), 1, 2, 'Quote request "Form"', 1, 0, 1),
        (date(2026, 11, 30), 1, 3, "Brochure download, PDF", 1, 0, 1),
        (date(2026, 11, 30), 2, 1, "Qualified call, 60s+", 1, 1, 1),
        (date(2026, 11, 30), 2, 2, 'Quote request "Form"', 1, 0, 1),
    ]


def test_goals_filters_from_configuration(goals_server, monkeypatch) -> None:
    _, server = goals_server
    monkeypatch.setenv("INFINITY_GOALS_FILTERS", "ch=1, segment=2")
    settings = Settings.from_env()
    run(settings, DAY, keys=("goals",))
    stored = rows(partition_file(settings.data_dir / "raw", "goals", DAY))
    assert [r["rowId"] for r in stored] == [2_000_004, 2_000_007]
    filters = [v for k, v in server.requests[-1].params if k == "filter[]"]
    assert filters == ["ch-eq-value-1", "segment-eq-value-2"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "INFINITY_GOALS_FILTERS",
            "chName=Google",
            "INFINITY_GOALS_FILTERS must be a comma-separated list of field=value with fields "
            "among ch, segment (such as ch=1,segment=2), got 'chName=Google'.",
        ),
        (
            "INFINITY_GOALS_FILTERS",
            "ch=one",
            "INFINITY_GOALS_FILTERS: ch must be a whole number, got 'one'.",
        ),
        (
            "INFINITY_RECORDING_ROUTE",
            "/reports/{version}/igrps/{igrp}/recordings",
            "INFINITY_RECORDING_ROUTE must be a path starting with / that uses only the "
            "placeholders {igrp}, {rowId}, {version} and includes {rowId} (such as "
            "/reports/{version}/igrps/{igrp}/triggers/calls/{rowId}/recording), got "
            "'/reports/{version}/igrps/{igrp}/recordings'.",
        ),
        (
            "INFINITY_ORGANISATIONS_ROUTE",
            "reports/{version}/organisations?org={orgId}",
            "INFINITY_ORGANISATIONS_ROUTE must be a path starting with / that uses only the "
            "placeholders {igrp}, {version} (such as /reports/{version}/organisations), got "
            "'reports/{version}/organisations?org={orgId}'.",
        ),
    ],
)
def test_bad_report_configuration_says_what_to_set(monkeypatch, variable, value, message) -> None:
    monkeypatch.setenv("INFINITY_IGRP", "20001")
    monkeypatch.setenv("INFINITY_API_KEY", "k")
    monkeypatch.setenv(variable, value)
    with pytest.raises(InfinityConfigError) as error:
        Settings.from_env()
    assert str(error.value) == message


# -- call recordings ------------------------------------------------------------------------------

# Three calls with a recording reference, one of which the server has no audio for, and one
# without. The second recording is larger than the 1 MiB download chunk.
AUDIO = {
    3_000_001: b"ID3\x04\x00" + bytes(range(256)) * 40,
    3_000_003: np.random.default_rng(5).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes(),
}
RECORDED_CALLS = [
    call(3_000_001, f"{DAY} 09:00:00", rec="20001/3000001.mp3", callState="NORMAL_CLEARING_A"),
    call(3_000_002, f"{DAY} 09:30:00", rec="", callState="NO_ANSWER"),
    call(3_000_003, f"{DAY} 10:00:00", rec="rec-3000003.WAV", callState="NORMAL_CLEARING_B"),
    call(3_000_004, f"{DAY} 11:00:00", rec="20001/3000004.mp3", callState="NORMAL_CLEARING_A"),
]


@pytest.fixture
def recordings_server(data_dir, monkeypatch):
    installation = Installation.from_rows(igrp=20001, calls=RECORDED_CALLS, recordings=AUDIO)
    with SimulatorServer(installation, api_key=KEY) as server:
        yield settings_for(server, data_dir, monkeypatch), server


def test_recordings_are_the_servers_bytes_and_a_missing_one_is_listed(recordings_server) -> None:
    settings, server = recordings_server
    instance = DagsterInstance.ephemeral()
    run(settings, DAY, keys=("calls",), instance=instance)
    result = run(settings, DAY, keys=("call_recordings",), instance=instance)
    assert result.success
    folder = settings.data_dir / "recordings" / f"date={DAY}"
    assert sorted(p.name for p in folder.iterdir()) == ["3000001.mp3", "3000003.wav"]
    assert (folder / "3000001.mp3").read_bytes() == AUDIO[3_000_001]
    assert (folder / "3000003.wav").read_bytes() == AUDIO[3_000_003]
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert {k: metadata[k].value for k in (
        "dagster/row_count", "recorded_calls", "downloaded", "skipped_complete",
        "missing_count", "missing_row_ids", "bytes",
    )} == {
        "dagster/row_count": 2,
        "recorded_calls": 3,
        "downloaded": 2,
        "skipped_complete": 0,
        "missing_count": 1,
        "missing_row_ids": [3_000_004],
        "bytes": len(AUDIO[3_000_001]) + len(AUDIO[3_000_003]),
    }  # fmt: skip
    fetched = sorted(r.path for r in server.requests if r.path.endswith("/recording"))
    assert fetched == [
        f"/reports/v2.1/igrps/20001/triggers/calls/{row_id}/recording"
        for row_id in (3_000_001, 3_000_003, 3_000_004)
    ]


def test_recordings_already_complete_are_skipped_and_leftovers_ignored(recordings_server) -> None:
    settings, server = recordings_server
    instance = DagsterInstance.ephemeral()
    run(settings, DAY, keys=("calls",), instance=instance)
    run(settings, DAY, keys=("call_recordings",), instance=instance)
    folder = settings.data_dir / "recordings" / f"date={DAY}"
    # A killed run's partial download never has the final name, so it is not mistaken for one.
    (folder / ".3000004.mp3.dead.tmp").write_bytes(b"partial")
    before = len(server.requests)
    result = run(settings, DAY, keys=("call_recordings",), instance=instance)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert (metadata["downloaded"].value, metadata["skipped_complete"].value) == (0, 2)
    assert [r.path for r in server.requests[before:]] == [
        "/reports/v2.1/igrps/20001/triggers/calls/3000004/recording"  # only the missing one
    ]
    assert (folder / "3000003.wav").read_bytes() == AUDIO[3_000_003]
    assert not (folder / "3000004.mp3").exists()


def test_recordings_before_calls_say_what_to_do(recordings_server) -> None:
    settings, _ = recordings_server
    result = run(settings, DAY, keys=("call_recordings",), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    path = partition_file(settings.data_dir / "raw", "calls", DAY)
    assert failure.cause.message.strip().endswith(
        f"There are no calls for {DAY} yet ({path} is missing): materialize calls for {DAY} "
        "first, then call_recordings."
    )


# -- report models --------------------------------------------------------------------------------

MODEL_CALLS = [
    call(4_000_001, f"{DAY} 08:00:00", dgrp=10, dgrpName="Sales", ch=1, chName="Google Ads",
         chType="ppc", srcPhoneNumber="07700 900001", dialledPhoneNumber="01632 960001",
         destPhoneNumber="020 7946 0001", ringTime=4, callDuration=130, bridgeDuration=120,
         callState="NORMAL_CLEARING_A", callStage="bridge", vid="v1", googleCid="123.456",
         rec="20001/4000001.mp3", href="https://acme.example/"),
    call(4_000_002, f"{DAY} 09:00:00", dgrp=10, dgrpName="Sales", ch=0, chName="Fallback",
         chType="direct", srcPhoneNumber="anonymous", dialledPhoneNumber="0113 496 0012",
         ringTime=30, callState=" no_answer ", callStage="ring"),
    call(4_000_003, f"{DAY} 10:00:00", dgrp=11, dgrpName="Support", ch=3, chName="Google Organic",
         chType="seo", srcPhoneNumber="+447700900003", dialledPhoneNumber="01632 960003",
         callState="CALL_REJECTED", callStage="ring", vid="v3", googleCid="undefined",
         href="https://acme.example/pricing"),
    call(4_000_004, f"{DAY} 11:00:00", dgrp=11, dgrpName="Support", ch=3, chName="Google Organic",
         chType="seo", callState="", vid="v4", googleCid="GA1.1.999.111",
         href="https://acme.example/book"),
]  # fmt: skip


def test_call_reports_by_hand(data_dir, monkeypatch) -> None:
    installation = Installation.from_rows(igrp=20001, calls=MODEL_CALLS)
    with SimulatorServer(installation, api_key=KEY) as server:
        settings = settings_for(server, data_dir, monkeypatch)
        instance = DagsterInstance.ephemeral()
        run(settings, DAY, keys=("calls",), instance=instance)
        result = run(
            settings,
            None,
            keys=("call_log", "call_state_report", "google_cid_report"),
            instance=instance,
        )
    counts = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert counts == {"call_log": 4, "call_state_report": 4, "google_cid_report": 3}
    d = date(2026, 11, 30)
    t = datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert query(settings, "SELECT * FROM call_log ORDER BY row_id LIMIT 2") == [
        (d, 4_000_001, t, 10, "Sales", 1, "Google Ads", "ppc", "07700 900001", "01632 960001",
         "020 7946 0001", 4, 130, 120, "NORMAL_CLEARING_A", "bridge", "", True),
        (d, 4_000_002, t.replace(hour=9), 10, "Sales", 0, "Fallback", "direct", "anonymous",
         "0113 496 0012", "", 30, 0, 0, " no_answer ", "ring", "", False),
    ]  # fmt: skip
    assert query(
        settings,
        "SELECT row_id, call_state, state_key, category, is_failure, is_unmapped_state, "
        "description IS NOT NULL FROM call_state_report ORDER BY row_id",
    ) == [
        (4_000_001, "NORMAL_CLEARING_A", "NORMAL_CLEARING_A", "normal", False, False, True),
        (4_000_002, " no_answer ", "NO_ANSWER", "no_answer", True, False, True),
        (4_000_003, "CALL_REJECTED", "CALL_REJECTED", "unmapped", False, True, False),
        (4_000_004, "", None, "blank", False, True, False),
    ]
    assert query(
        settings,
        "SELECT row_id, visitor_id, client_id_sent, client_id, cid_missing, href "
        "FROM google_cid_report ORDER BY row_id",
    ) == [
        (4_000_001, "v1", "123.456", "123.456", False, "https://acme.example/"),
        (4_000_003, "v3", "undefined", None, True, "https://acme.example/pricing"),
        (4_000_004, "v4", "GA1.1.999.111", "999.111", False, "https://acme.example/book"),
    ]


def test_a_cut_or_failed_recording_download_is_retried_to_the_exact_bytes(
    recordings_server,
) -> None:
    settings, server = recordings_server
    instance = DagsterInstance.ephemeral()
    run(settings, DAY, keys=("calls",), instance=instance)
    server.inject(kind="cut", route="3000003/recording", cut_fraction=0.4)
    server.inject(kind="503", route="3000001/recording")
    result = run(settings, DAY, keys=("call_recordings",), instance=instance)
    folder = settings.data_dir / "recordings" / f"date={DAY}"
    assert sorted(p.name for p in folder.iterdir()) == ["3000001.mp3", "3000003.wav"]
    assert (folder / "3000001.mp3").read_bytes() == AUDIO[3_000_001]
    assert (folder / "3000003.wav").read_bytes() == AUDIO[3_000_003]
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["downloaded"].value == 2
    assert [f.fired for f in server.faults] == [1, 1]


def test_an_assumed_field_name_is_asked_for_under_the_apis_name(data_dir, monkeypatch) -> None:
    # An account whose organisations route names the field orgTitle: the user maps it, and the
    # stored column keeps our name (and schema).
    installation = Installation.from_rows(
        igrp=20001,
        organisations=[
            {"orgId": 7, "orgTitle": "Zeta", "orgRef": "Z"},
            {"orgId": 8, "orgTitle": "Alpha", "orgRef": "A"},
        ],
    )
    with SimulatorServer(installation, api_key=KEY) as server:
        settings_for(server, data_dir, monkeypatch)
        monkeypatch.setenv("INFINITY_ORGANISATIONS_FIELD_NAMES", "orgName=orgTitle")
        settings = Settings.from_env()
        run(settings, None, keys=("organisations",))
    path = partition_file(settings.data_dir / "raw", "organisations", today())
    assert [(r["orgId"], r["orgName"]) for r in rows(path)] == [(8, "Alpha"), (7, "Zeta")]
    params = server.requests[-1].params
    assert ("display[]", "orgTitle-orgName") in params
    assert ("sort[]", "orgTitle-asc") in params


def test_a_bad_field_name_mapping_says_what_to_set(monkeypatch) -> None:
    monkeypatch.setenv("INFINITY_IGRP", "20001")
    monkeypatch.setenv("INFINITY_API_KEY", "k")
    monkeypatch.setenv("INFINITY_FALLBACK_NUMBERS_FIELD_NAMES", "phone=number")
    with pytest.raises(InfinityConfigError) as error:
        Settings.from_env()
    assert str(error.value) == (
        "INFINITY_FALLBACK_NUMBERS_FIELD_NAMES must be a comma-separated list of field=api_name, "
        "each field one of igrp, dgrp, dgrpName, number, usageType, ch, chName, chType and each "
        "api_name letters, digits or _ (such as orgName=orgTitle), got 'phone=number'."
    )


def test_the_stock_dagster_cli_materializes_every_report(recordings_server, tmp_path) -> None:
    """`dagster asset materialize -m infinity_dagster.definitions`, as a user runs it."""
    import os
    import subprocess
    import sys

    settings, server = recordings_server
    server.installation.add_rows("goals", GOALS[:2])
    server.installation.add_rows("organisations", ORGANISATIONS)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # settings_for put the rest in os.environ
    # In-process execution: the CLI's default starts a process per step, slow on a busy CI box.
    dagster = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
               "infinity_dagster.definitions",
               "--config-json", '{"execution": {"config": {"in_process": {}}}}']  # fmt: skip
    for selection in (
        ["--select", "calls,goals,call_recordings", "--partition", DAY],
        ["--select", "dial_in_groups,fallback_numbers,organisations"],
    ):
        done = subprocess.run(dagster + selection, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    raw = settings.data_dir / "raw"
    assert len(rows(partition_file(raw, "calls", DAY))) == 4
    assert len(rows(partition_file(raw, "goals", DAY))) == 2
    assert len(rows(partition_file(raw, "organisations", today()))) == 3
    assert rows(partition_file(raw, "fallback_numbers", today())) == []
    folder = settings.data_dir / "recordings" / f"date={DAY}"
    assert sorted(p.name for p in folder.iterdir()) == ["3000001.mp3", "3000003.wav"]
    assert KEY not in done.stdout + done.stderr  # the API key never reaches the output


def test_snapshot_and_recording_schedules_tick_daily_for_the_right_day(monkeypatch) -> None:
    from dagster import build_schedule_context

    for name, value in {
        "INFINITY_IGRP": "20001",
        "INFINITY_API_KEY": "k",
        "INFINITY_TIMEZONE": "Europe/London",
        "INFINITY_START_DATE": "2026-01-01",
    }.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(Settings.from_env())
    schedules = {s.name: s for s in defs.schedules}
    tick = datetime(2026, 10, 26, 4, tzinfo=ZoneInfo("Europe/London"))  # after the 25-hour day
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        recordings = schedules["call_recordings_daily_schedule"].evaluate_tick(context)
        snapshots = schedules["snapshots_daily_schedule"].evaluate_tick(context)
    assert [(r.partition_key, r.run_key) for r in recordings.run_requests] == [
        ("2026-10-25", "2026-10-25")
    ]
    assert len(snapshots.run_requests) == 1
    assert schedules["snapshots_daily_schedule"].job_name == "snapshots_job"
    assert schedules["snapshots_daily_schedule"].cron_schedule == "0 4 * * *"
    assert str(schedules["call_recordings_daily_schedule"].default_status) == (
        "DefaultScheduleStatus.STOPPED"
    )


def test_a_refused_download_fails_the_day_without_trying_the_rest(recordings_server) -> None:
    settings, server = recordings_server
    instance = DagsterInstance.ephemeral()
    run(settings, DAY, keys=("calls",), instance=instance)
    server.inject(kind="error200", route="/recording", times=10, message="Recordings disabled")
    defs = build_definitions(settings)
    result = materialize(
        list(defs.assets),
        selection=[AssetKey("call_recordings")],
        partition_key=DAY,
        resources=dict(defs.resources),
        instance=instance,
        run_config={"ops": {"call_recordings": {"config": {"max_concurrent_downloads": 1}}}},
        raise_on_error=False,
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error.cause.message.strip().endswith(
        "The Infinity API refused /reports/v2.1/igrps/20001/triggers/calls/3000001/recording "
        "(HTTP 200): Recordings disabled"
    )
    assert [r.path for r in server.requests if r.path.endswith("/recording")] == [
        "/reports/v2.1/igrps/20001/triggers/calls/3000001/recording"
    ]
    assert list((settings.data_dir / "recordings" / f"date={DAY}").iterdir()) == []
