"""DuckDB models over hand-written days, every figure computed by hand in the comments."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from infinity_dagster.api import InfinityConfigError
from infinity_dagster.reports import CALLS
from infinity_dagster.storage import partition_file, write_partition
from infinity_dagster.warehouse import WarehouseSpec, build_warehouse

from .conftest import call, typed_calls

D1, D2 = date(2026, 11, 30), date(2026, 11, 29)

DAY1 = [
    # dgrp 10 "Sales, North"
    call(
        1_000_001,
        "2026-11-30 08:00:00",
        dgrp=10,
        dgrpName="Sales, North",
        callState="NORMAL_CLEARING_A",
        vid="v1",
        googleCid="123.456",
    ),
    call(
        1_000_004,
        "2026-11-30 08:05:00",
        dgrp=10,
        dgrpName="Sales, North",
        callState="NO_ANSWER",
        vid="v2",
        googleCid="",
    ),  # failed, gap
    call(
        1_000_009, "2026-11-30 09:00:00", dgrp=10, dgrpName="Sales, North", callState="USER_BUSY"
    ),  # failed, no vid
    call(
        1_000_010,
        "2026-11-30 10:00:00",
        dgrp=10,
        dgrpName="Sales, North",
        callState="CALL_REJECTED",
        vid="v3",
        googleCid="undefined",
    ),  # unmapped, gap
    call(
        1_000_020,
        "2026-11-30 11:00:00",
        dgrp=10,
        dgrpName="Sales, North",
        callState="",
        vid="v4",
        googleCid="GA1.1.999.111",
    ),  # blank state; cookie form is a cid
    call(
        1_000_021,
        "2026-11-30 12:00:00",
        dgrp=10,
        dgrpName="Sales, North",
        callState=" no_answer ",
        vid="  ",
        googleCid="",
    ),  # failed; blank vid is no vid
    # dgrp 20 "Support"
    call(
        1_000_030, "2026-11-30 13:00:00", dgrp=20, dgrpName="Support", callState="NORMAL_CLEARING_B"
    ),
    call(
        1_000_031,
        "2026-11-30 14:00:00",
        dgrp=20,
        dgrpName="Support",
        callState="ORIGINATOR_CANCEL",
        vid="v5",
        googleCid="(not set)",
    ),  # failed, gap
    call(
        1_000_040,
        "2026-11-30 15:00:00",
        dgrp=20,
        dgrpName="Support",
        callState="NORMAL_CLEARING_A",
        vid="v6",
        googleCid="1.2",
    ),
]
DAY2 = [
    call(
        999_001, "2026-11-29 10:00:00", dgrp=20, dgrpName="Support", callState="NORMAL_CLEARING_A"
    ),
]


@pytest.fixture
def warehouse(data_dir):
    raw = data_dir / "raw"
    write_partition(partition_file(raw, "calls", D1), CALLS.schema, [typed_calls(DAY1)])
    write_partition(partition_file(raw, "calls", D2), CALLS.schema, [typed_calls(DAY2)])
    spec = WarehouseSpec(raw_dir=raw, database=data_dir / "infinity.duckdb", reports=[CALLS])
    counts = build_warehouse(spec)
    return spec, counts


def query(spec: WarehouseSpec, sql: str) -> list[tuple]:
    with duckdb.connect(str(spec.database), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_call_fail_rates_by_hand(warehouse) -> None:
    spec, counts = warehouse
    assert counts["call_fail_rates"] == 3
    assert query(spec, "SELECT * FROM call_fail_rates ORDER BY date, dgrp") == [
        (D2, 20, "Support", 1, 0, 0, 0.0),
        # 6 calls: failed NO_ANSWER, USER_BUSY, " no_answer "; unmapped CALL_REJECTED and blank
        (D1, 10, "Sales, North", 6, 3, 2, 0.5),
        (D1, 20, "Support", 3, 1, 0, 1 / 3),
    ]


def test_cid_capture_gaps_by_hand(warehouse) -> None:
    spec, _ = warehouse
    assert query(spec, "SELECT * FROM cid_capture_gaps ORDER BY date, dgrp") == [
        (D2, 20, 0, 0, None),  # no call had a vid: no rate
        (D1, 10, 4, 2, 0.5),  # vids v1..v4; v2 blank cid, v3 "undefined"
        (D1, 20, 2, 1, 0.5),  # v5 "(not set)", v6 has one
    ]


def test_call_states_keep_blank_and_unmapped(warehouse) -> None:
    spec, _ = warehouse
    rows = query(spec, "SELECT * FROM call_states WHERE date = DATE '2026-11-30' AND dgrp = 10")
    assert rows == [
        (D1, 10, "", "blank", False, 1),
        (D1, 10, "CALL_REJECTED", "unmapped", False, 1),
        (D1, 10, "NORMAL_CLEARING_A", "normal", False, 1),
        (D1, 10, "NO_ANSWER", "no_answer", True, 2),
        (D1, 10, "USER_BUSY", "busy", True, 1),
    ]
    assert query(spec, "SELECT sum(calls) FROM call_states") == [(10,)]


def test_mapping_is_seed_data(warehouse) -> None:
    spec, counts = warehouse
    assert counts["call_state_mapping"] == 9
    assert query(
        spec,
        "SELECT call_state FROM call_state_mapping WHERE is_failure ORDER BY call_state",
    ) == [
        ("NORMAL_TEMPORARY_FAILURE_B",),
        ("NO_ANSWER",),
        ("NO_USER_RESPONSE",),
        ("ORIGINATOR_CANCEL",),
        ("PROTOCOL_ERROR",),
        ("UNALLOCATED_NUMBER",),
        ("USER_BUSY",),
    ]


def test_user_mapping_reclassifies_and_bad_mapping_keeps_previous_file(warehouse, tmp_path) -> None:
    spec, _ = warehouse
    mapping = tmp_path / "mapping.csv"
    mapping.write_text(
        "call_state,category,is_failure,description\n"
        "NORMAL_CLEARING_A,normal,false,ok\nCALL_REJECTED,rejected,true,Rejected by the callee\n"
    )
    custom = WarehouseSpec(spec.raw_dir, spec.database, spec.reports, call_state_mapping=mapping)
    build_warehouse(custom)
    # dgrp 10 now: CALL_REJECTED fails; NO_ANSWER (twice), USER_BUSY and the blank are unmapped.
    assert query(
        spec,
        "SELECT total_calls, failed_calls, unmapped_state_calls FROM "
        "call_fail_rates WHERE dgrp = 10",
    ) == [(6, 1, 4)]

    before = spec.database.read_bytes()
    mapping.write_text("call_state,category,is_failure,description\nNO_ANSWER,x,maybe,?\n")
    with pytest.raises(InfinityConfigError) as info:
        build_warehouse(custom)
    assert str(info.value) == (
        f"The call state mapping {mapping} line 2: is_failure must be true or false, got 'maybe'."
    )
    assert spec.database.read_bytes() == before
    assert [p.name for p in spec.database.parent.iterdir() if p.name.startswith(".")] == []


def test_models_build_before_any_data(data_dir) -> None:
    spec = WarehouseSpec(data_dir / "raw", data_dir / "infinity.duckdb", [CALLS])
    counts = build_warehouse(spec)
    assert counts == {
        "call_state_mapping": 9,
        "call_states": 0,
        "call_fail_rates": 0,
        "cid_capture_gaps": 0,
        "call_log": 0,
        "call_state_report": 0,
        "google_cid_report": 0,
        "goals_by_channel": 0,
        "goals_by_segment": 0,
    }
    assert query(spec, "SELECT count(*) FROM calls") == [(0,)]
