"""Every asset check through a real Dagster instance, over hand-written Parquet days and a real
DuckDB build: one small input that passes, one that fails with the expected metadata."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

from infinity_dagster.api import InfinityConfigError
from infinity_dagster.defs import build_definitions
from infinity_dagster.quality import Thresholds
from infinity_dagster.reports import CALLS
from infinity_dagster.settings import Settings
from infinity_dagster.storage import partition_file, write_partition
from infinity_dagster.warehouse import WarehouseSpec, build_warehouse

from .conftest import call, typed_calls


@pytest.fixture
def settings(data_dir, monkeypatch) -> Settings:
    env = {
        "INFINITY_IGRP": "20001",
        "INFINITY_API_KEY": "check-test-key",
        "INFINITY_BASE_URL": "http://127.0.0.1:9",  # never called: only checks run here
        "INFINITY_START_DATE": "2026-11-01",
        "INFINITY_DATA_DIR": str(data_dir),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("WARN", "ERROR", "MIN_CALLS"):
        monkeypatch.delenv(f"INFINITY_FAIL_RATE_{name}", raising=False)
    monkeypatch.delenv("INFINITY_CID_GAP_RATE_WARN", raising=False)
    monkeypatch.delenv("INFINITY_CID_GAP_MIN_CALLS", raising=False)
    return Settings.from_env()


def write_day(settings: Settings, day: str, rows: list[dict]) -> None:
    write_partition(
        partition_file(settings.data_dir / "raw", "calls", day), CALLS.schema, [typed_calls(rows)]
    )


def build_models(settings: Settings) -> None:
    build_warehouse(
        WarehouseSpec(
            raw_dir=settings.data_dir / "raw", database=settings.duckdb_path, reports=[CALLS]
        )
    )


def run_check(settings: Settings, asset: str, name: str):
    """Run one check alone (as the UI's "Execute" button does) and return its evaluation."""
    defs = build_definitions(settings)
    key = AssetCheckKey.from_user_string(f"{asset}:{name}")
    result = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=AssetSelection.checks(key),
        resources=dict(defs.resources),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == name
    return evaluation


def values(evaluation) -> dict:
    return {k: v.value for k, v in evaluation.metadata.items() if k != "details"}


def details(evaluation) -> list[str]:
    return evaluation.metadata["details"].value.splitlines()[2:]


def good_day(day: str, first_id: int) -> list[dict]:
    return [
        call(first_id + n, f"{day} 09:0{n}:00", dgrp=10, callState="NORMAL_CLEARING_A")
        for n in range(3)
    ]


# --- calls: raw files ---


def test_raw_checks_pass_on_clean_consecutive_days(settings) -> None:
    write_day(settings, "2026-11-01", good_day("2026-11-01", 100))
    write_day(settings, "2026-11-02", good_day("2026-11-02", 200))
    write_day(settings, "2026-11-03", [])  # an empty day is a file with no rows, not a gap
    for name in ("unique_row_ids", "schema_matches_catalogue", "no_null_keys", "no_missing_days"):
        evaluation = run_check(settings, "calls", name)
        assert evaluation.passed, (name, evaluation.description)
    assert values(run_check(settings, "calls", "unique_row_ids")) == {"rows": 6}
    assert values(run_check(settings, "calls", "no_missing_days")) == {
        "start_date": "2026-11-01",
        "latest_day": "2026-11-03",
        "days_present": 3,
        "days_missing": 0,
    }


def test_duplicate_row_ids_fail_with_their_days(settings) -> None:
    write_day(settings, "2026-11-01", good_day("2026-11-01", 100))
    write_day(
        settings,
        "2026-11-02",
        [
            *good_day("2026-11-02", 101),
            call(7, "2026-11-02 10:00:00"),
            call(7, "2026-11-02 10:01:00"),
        ],
    )
    evaluation = run_check(settings, "calls", "unique_row_ids")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == "3 rowId values appear more than once (3 extra rows)."
    assert values(evaluation) == {"rows": 8, "duplicated_ids": 3, "extra_rows": 3}
    assert details(evaluation) == [
        "| 7 | 2 | 2026-11-02 |",
        "| 101 | 2 | 2026-11-01, 2026-11-02 |",
        "| 102 | 2 | 2026-11-01, 2026-11-02 |",
    ]


def test_a_file_with_another_schema_fails(settings) -> None:
    write_day(settings, "2026-11-01", good_day("2026-11-01", 100))
    drifted = typed_calls(good_day("2026-11-02", 200))
    drifted = drifted.set_column(3, "dgrp", drifted.column("dgrp").cast(pa.string()))
    drifted = drifted.drop_columns(["ivrRef"]).append_column("newField", pa.array(["x"] * 3))
    path = partition_file(settings.data_dir / "raw", "calls", "2026-11-02")
    path.parent.mkdir(parents=True)
    pq.write_table(drifted, path)
    evaluation = run_check(settings, "calls", "schema_matches_catalogue")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == (
        "1 of 2 calls files differ from the catalogue schema: re-materialize those days."
    )
    assert values(evaluation) == {"files": 2, "drifted_files": 1}
    assert details(evaluation) == [
        "| 2026-11-02 | ivrRef | newField | dgrp: string (expected int64) |"
    ]


def test_rows_without_row_id_or_time_fail(settings) -> None:
    write_day(settings, "2026-11-01", good_day("2026-11-01", 100))
    table = typed_calls(good_day("2026-11-02", 200))
    table = table.set_column(0, "rowId", pa.array([None, 201, None], pa.int64()))
    times = table.column("triggerDatetime").to_pylist()
    table = table.set_column(
        1, "triggerDatetime", pa.array([times[0], None, times[2]], CALLS.schema.field(1).type)
    )
    write_partition(
        partition_file(settings.data_dir / "raw", "calls", "2026-11-02"), CALLS.schema, [table]
    )
    evaluation = run_check(settings, "calls", "no_null_keys")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == (
        "2 without rowId, 1 without triggerDatetime: these rows cannot be placed or paged; "
        "re-materialize their days."
    )
    assert values(evaluation) == {"rows": 6, "null_rowId": 2, "null_triggerDatetime": 1}
    assert details(evaluation) == ["| 2026-11-02 | 3 |"]


def test_missing_days_warn_and_are_listed(settings) -> None:
    for day in ("2026-11-01", "2026-11-04", "2026-11-06"):
        write_day(settings, day, [])
    evaluation = run_check(settings, "calls", "no_missing_days")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == (
        "3 days without a calls file between 2026-11-01 and 2026-11-06: 2026-11-02 to "
        "2026-11-03, 2026-11-05. Backfill them."
    )
    assert values(evaluation) == {
        "start_date": "2026-11-01",
        "latest_day": "2026-11-06",
        "days_present": 3,
        "days_missing": 3,
    }
    assert details(evaluation) == [
        "| 2026-11-02 | 2026-11-03 | 2 |",
        "| 2026-11-05 | 2026-11-05 | 1 |",
    ]


def test_raw_checks_before_any_file_pass_and_say_so(settings) -> None:
    evaluation = run_check(settings, "calls", "unique_row_ids")
    assert evaluation.passed
    assert evaluation.description == "No calls files yet: materialize a day first."


# --- models: the DuckDB file ---


def group(dgrp: int, name: str, day: str, first_id: int, states: dict[str, int], **values):
    rows, n = [], 0
    for state, count in states.items():
        for _ in range(count):
            rows.append(
                call(
                    first_id + n,
                    f"{day} 10:00:{n % 60:02d}",
                    dgrp=dgrp,
                    dgrpName=name,
                    callState=state,
                    **values,
                )
            )
            n += 1
    return rows


def test_fail_rates_under_thresholds_pass(settings) -> None:
    write_day(
        settings,
        "2026-11-02",
        group(10, "Sales", "2026-11-02", 1000, {"NORMAL_CLEARING_A": 17, "NO_ANSWER": 3}),
    )
    build_models(settings)
    evaluation = run_check(settings, "call_fail_rates", "fail_rate_below_threshold")
    assert evaluation.passed
    assert values(evaluation) == {
        "day": "2026-11-02",
        "calls": 20,
        "failed_calls": 3,
        "fail_rate": 0.15,
        "warn_threshold": 0.3,
        "error_threshold": 0.5,
        "min_calls": 20,
        "groups_over_threshold": 0,
    }


def test_fail_rates_over_thresholds_name_groups_and_dominant_state(settings) -> None:
    day = "2026-11-02"
    rows = [
        # 12 of 20 failed (60 %, over the error threshold), mostly NO_ANSWER
        *group(10, "Sales", day, 1000, {"NORMAL_CLEARING_A": 8, "NO_ANSWER": 10, "USER_BUSY": 2}),
        # 7 of 20 failed (35 %, over the warn threshold), mostly USER_BUSY
        *group(20, "Support", day, 2000, {"NORMAL_CLEARING_B": 13, "USER_BUSY": 5, "NO_ANSWER": 2}),
        # every call failed, but 5 calls are too few to judge
        *group(30, "Tiny", day, 3000, {"UNALLOCATED_NUMBER": 5}),
    ]
    write_day(settings, day, rows)
    # the day before was bad everywhere: only the latest day counts
    write_day(settings, "2026-11-01", group(10, "Sales", "2026-11-01", 10, {"NO_ANSWER": 30}))
    build_models(settings)
    evaluation = run_check(settings, "call_fail_rates", "fail_rate_below_threshold")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == (
        "On 2026-11-02, 2 dial-in group(s) failed more than 30.0 %, 1 of them more than 50.0 %, "
        "of their calls: Sales 60.0 % (12/20, mostly NO_ANSWER); Support 35.0 % (7/20, mostly "
        "USER_BUSY). Worst: Sales, mostly NO_ANSWER: The called party was alerted but did not "
        "connect in time."
    )
    assert values(evaluation) == {
        "day": "2026-11-02",
        "calls": 45,
        "failed_calls": 24,
        "fail_rate": 0.5333,
        "warn_threshold": 0.3,
        "error_threshold": 0.5,
        "min_calls": 20,
        "groups_over_threshold": 2,
    }
    assert details(evaluation) == [
        "| 10 | Sales | 20 | 12 | 60.0 % | NO_ANSWER | 10 | The called party was alerted but did "
        "not connect in time |",
        "| 20 | Support | 20 | 7 | 35.0 % | USER_BUSY | 5 | The called party was busy |",
    ]


def test_fail_rates_over_warn_only_warn(settings, monkeypatch) -> None:
    monkeypatch.setenv("INFINITY_FAIL_RATE_WARN", "0.1")
    monkeypatch.setenv("INFINITY_FAIL_RATE_MIN_CALLS", "5")
    day = "2026-11-02"
    write_day(settings, day, group(30, "Tiny", day, 3000, {"NORMAL_CLEARING_A": 4, "USER_BUSY": 1}))
    build_models(settings)
    evaluation = run_check(settings, "call_fail_rates", "fail_rate_below_threshold")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == (
        "On 2026-11-02, 1 dial-in group(s) failed more than 10.0 % of their calls: Tiny 20.0 % "
        "(1/5, mostly USER_BUSY). Worst: Tiny, mostly USER_BUSY: The called party was busy."
    )


def test_mapped_states_pass(settings) -> None:
    write_day(
        settings,
        "2026-11-02",
        group(10, "Sales", "2026-11-02", 1000, {"NORMAL_CLEARING_A": 2, "NO_ANSWER": 1}),
    )
    build_models(settings)
    evaluation = run_check(settings, "call_states", "states_in_mapping")
    assert evaluation.passed
    assert values(evaluation) == {
        "calls": 3,
        "unmapped_states": 0,
        "unmapped_state_calls": 0,
        "blank_state_calls": 0,
    }


def test_unmapped_states_warn_with_counts(settings) -> None:
    write_day(
        settings, "2026-11-01", group(10, "Sales", "2026-11-01", 100, {"CALL_REJECTED": 3, "": 2})
    )
    write_day(
        settings,
        "2026-11-02",
        group(
            10,
            "Sales",
            "2026-11-02",
            1000,
            {" call_rejected ": 1, "WEIRD_STATE": 1, "NO_ANSWER": 4},
        ),
    )
    build_models(settings)
    evaluation = run_check(settings, "call_states", "states_in_mapping")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == (
        "2 call state(s) are not in the mapping and never count as failures: CALL_REJECTED "
        "(4 calls), WEIRD_STATE (1 calls). Add them to INFINITY_CALL_STATE_MAPPING."
    )
    assert values(evaluation) == {
        "calls": 11,
        "unmapped_states": 2,
        "unmapped_state_calls": 5,
        "blank_state_calls": 2,
    }
    assert details(evaluation) == [
        "| CALL_REJECTED | 4 | 2026-11-01 | 2026-11-02 |",
        "| WEIRD_STATE | 1 | 2026-11-02 | 2026-11-02 |",
    ]


def test_cid_gaps_under_threshold_pass(settings) -> None:
    day = "2026-11-02"
    write_day(
        settings,
        day,
        [
            *group(10, "Sales", day, 1000, {"NORMAL_CLEARING_A": 18}, vid="v", googleCid="1.2"),
            *group(10, "Sales", day, 2000, {"NORMAL_CLEARING_A": 2}, vid="v", googleCid=""),
        ],
    )
    build_models(settings)
    evaluation = run_check(settings, "cid_capture_gaps", "gap_rate_below_threshold")
    assert evaluation.passed
    assert values(evaluation)["gap_rate"] == 0.1


def test_cid_gaps_over_threshold_warn_listing_worst_groups(settings) -> None:
    day = "2026-11-02"
    write_day(
        settings,
        day,
        [
            # Sales: 6 of 20 tracked calls without a client id (30 %)
            *group(10, "Sales", day, 1000, {"NORMAL_CLEARING_A": 14}, vid="v", googleCid="1.2"),
            *group(
                10, "Sales", day, 2000, {"NORMAL_CLEARING_A": 6}, vid="v", googleCid="undefined"
            ),
            # Support: 20 of 25 (80 %)
            *group(20, "Support", day, 3000, {"NORMAL_CLEARING_A": 5}, vid="v", googleCid="3.4"),
            *group(20, "Support", day, 4000, {"NORMAL_CLEARING_A": 20}, vid="v", googleCid=""),
            # Tiny: every tracked call without one, but too few calls to judge
            *group(30, "Tiny", day, 5000, {"NORMAL_CLEARING_A": 5}, vid="v", googleCid=""),
            # calls without a visitor id never count
            *group(10, "Sales", day, 6000, {"NORMAL_CLEARING_A": 30}),
        ],
    )
    build_models(settings)
    evaluation = run_check(settings, "cid_capture_gaps", "gap_rate_below_threshold")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == (
        "On 2026-11-02, 2 dial-in group(s) missed the Google client id on more than 20.0 % of "
        "calls with a visitor id: Support 80.0 % (20/25); Sales 30.0 % (6/20). Check the "
        "tracking code on their pages."
    )
    assert values(evaluation) == {
        "day": "2026-11-02",
        "calls_with_vid": 50,
        "missing_cid_calls": 31,
        "gap_rate": 0.62,
        "warn_threshold": 0.2,
        "min_calls": 20,
        "groups_over_threshold": 2,
    }
    assert details(evaluation) == [
        "| 20 | Support | 25 | 20 | 80.0 % |",
        "| 10 | Sales | 20 | 6 | 30.0 % |",
    ]


def test_model_checks_before_the_first_build_warn(settings) -> None:
    evaluation = run_check(settings, "call_states", "states_in_mapping")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == (
        f"{settings.duckdb_path} does not exist yet: materialize the DuckDB models first."
    )


# --- thresholds from the environment ---


def test_thresholds_come_from_the_environment() -> None:
    assert Thresholds.from_env({}) == Thresholds(0.3, 0.5, 20, 0.2, 20)
    assert Thresholds.from_env(
        {
            "INFINITY_FAIL_RATE_WARN": "0.1",
            "INFINITY_FAIL_RATE_ERROR": "0.2",
            "INFINITY_FAIL_RATE_MIN_CALLS": "50",
            "INFINITY_CID_GAP_RATE_WARN": "0.05",
            "INFINITY_CID_GAP_MIN_CALLS": "0",
        }
    ) == Thresholds(0.1, 0.2, 50, 0.05, 0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INFINITY_FAIL_RATE_WARN": "30"},
            "INFINITY_FAIL_RATE_WARN must be a fraction between 0 and 1 (0.3 means 30 %), "
            "got '30'.",
        ),
        (
            {"INFINITY_CID_GAP_MIN_CALLS": "many"},
            "INFINITY_CID_GAP_MIN_CALLS must be a whole number of calls (0 or more), got 'many'.",
        ),
        (
            {"INFINITY_FAIL_RATE_WARN": "0.6"},
            "INFINITY_FAIL_RATE_ERROR (0.5) is below INFINITY_FAIL_RATE_WARN (0.6); set it at or "
            "above it.",
        ),
    ],
)
def test_bad_thresholds_fail_fast_with_one_sentence(env, message) -> None:
    with pytest.raises(InfinityConfigError) as raised:
        Thresholds.from_env(env)
    assert str(raised.value) == message
