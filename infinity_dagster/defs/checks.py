"""Asset checks built from the catalogue: one set per daily report, one per model table.

The rules live in `quality.py`; here they become Dagster checks with a severity, one sentence and
the rows behind a failure as a Markdown table, so the UI answers "is everything fine?" by itself.
Checks run after the asset they guard in the same run, and can be run alone from the UI.
"""

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from .. import quality
from ..quality import Outcome, Thresholds
from ..reports import Report
from .resources import ParquetStore

SEVERITY = {"warn": AssetCheckSeverity.WARN, "error": AssetCheckSeverity.ERROR}


def markdown_table(header: list[str], rows: Sequence[tuple]) -> str:
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def check_result(context: AssetCheckExecutionContext, outcome: Outcome) -> AssetCheckResult:
    metadata: dict = dict(outcome.metadata)
    if outcome.table is not None:
        metadata["details"] = MetadataValue.md(markdown_table(*outcome.table))
    log = context.log.info if outcome.passed else context.log.warning
    log(outcome.description)
    return AssetCheckResult(
        passed=outcome.passed,
        severity=SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )


def raw_report_checks(report: Report, start_date: date) -> list[AssetChecksDefinition]:
    """Checks over every day's Parquet file of a daily report."""
    key = report.cursor_field or "rowId"
    rules: list[tuple[str, str, Callable[[Path], Outcome]]] = [
        (
            "unique_row_ids",
            f"Error when a {key} appears more than once across the {report.key} files.",
            lambda raw: quality.duplicate_row_ids(raw, report),
        ),
        (
            "schema_matches_catalogue",
            f"Error when a {report.key} file's Arrow schema differs from the catalogue's.",
            lambda raw: quality.schema_drift(raw, report),
        ),
        (
            "no_null_keys",
            f"Error when a {report.key} row has no {key} or no triggerDatetime.",
            lambda raw: quality.null_keys(raw, report),
        ),
        (
            "no_missing_days",
            f"Warns, listing them, about days from the start date ({start_date}) to the latest "
            f"materialized day that have no {report.key} file.",
            lambda raw: quality.missing_days(raw, report, start_date),
        ),
    ]
    return [_raw_check(report.key, name, text, rule) for name, text, rule in rules]


def _raw_check(
    asset: str, name: str, description: str, rule: Callable[[Path], Outcome]
) -> AssetChecksDefinition:
    @asset_check(asset=asset, name=name, description=description)
    def _check(context: AssetCheckExecutionContext, store: ParquetStore) -> AssetCheckResult:
        return check_result(context, rule(store.raw_dir))

    return _check


def model_checks(thresholds: Thresholds) -> list[AssetChecksDefinition]:
    """Checks over the DuckDB models, read through a read-only connection."""
    t = thresholds
    rules: list[tuple[str, str, str, Callable[[duckdb.DuckDBPyConnection], Outcome]]] = [
        (
            "call_fail_rates",
            "fail_rate_below_threshold",
            f"On the latest day, warns when a dial-in group with at least {t.fail_rate_min_calls} "
            f"calls fails more than {t.fail_rate_warn:.0%} of them (error over "
            f"{t.fail_rate_error:.0%}), naming the dominant failing state. Thresholds: "
            "INFINITY_FAIL_RATE_WARN, INFINITY_FAIL_RATE_ERROR, INFINITY_FAIL_RATE_MIN_CALLS.",
            lambda con: quality.high_fail_rates(con, t),
        ),
        (
            "call_states",
            "states_in_mapping",
            "Warns, with counts, about call states that are not in the call state mapping "
            "(they never count as failures until they are mapped).",
            quality.unmapped_states,
        ),
        (
            "cid_capture_gaps",
            "gap_rate_below_threshold",
            f"On the latest day, warns when a dial-in group with at least {t.cid_gap_min_calls} "
            f"calls with a visitor id misses the Google client id on more than "
            f"{t.cid_gap_rate_warn:.0%} of them. Thresholds: INFINITY_CID_GAP_RATE_WARN, "
            "INFINITY_CID_GAP_MIN_CALLS.",
            lambda con: quality.high_cid_gaps(con, t),
        ),
    ]
    return [_model_check(asset, name, text, rule) for asset, name, text, rule in rules]


def _model_check(
    asset: str,
    name: str,
    description: str,
    rule: Callable[[duckdb.DuckDBPyConnection], Outcome],
) -> AssetChecksDefinition:
    @asset_check(asset=asset, name=name, description=description)
    def _check(context: AssetCheckExecutionContext, duckdb: DuckDBResource) -> AssetCheckResult:
        database = Path(duckdb.database)
        if not database.exists():
            return check_result(
                context,
                Outcome(
                    False,
                    f"{database} does not exist yet: materialize the DuckDB models first.",
                    "warn",
                ),
            )
        # Read-only, and closed at once: a build swaps a new file in by rename, and a connection
        # kept open would go on reading the old copy.
        with _read_only(database) as con:
            return check_result(context, rule(con))

    return _check


def _read_only(database: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(database), read_only=True)
