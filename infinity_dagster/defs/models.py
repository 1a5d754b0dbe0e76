"""DuckDB models over the Parquet files, rebuilt together and swapped in atomically."""

import time
from collections.abc import Sequence
from pathlib import Path

import duckdb as duckdb_client
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from ..insights import latest_day
from ..quality import Thresholds
from ..reports import Report
from ..warehouse import MODEL_TABLES, WarehouseSpec, build_warehouse
from .model_columns import MODEL_COLUMNS
from .previews import insight_metadata
from .resources import ParquetStore

# Rebuilt after new raw data lands, from whatever run landed it (rowId sensor, schedule, backfill,
# by hand), once the raw runs in flight are done. "eager" without its "no dependency missing" part:
# a daily parent always has days that were never pulled, which must not stop the models.
MODELS_AUTOMATION = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())

INSIGHT_TABLES = {"call_fail_rates", "cid_capture_gaps"}

MODEL_DESCRIPTIONS = {
    "call_states": "Calls per day, dial-in group and call state, with the state's category.",
    "call_fail_rates": "Per day and dial-in group: total, failed and unmapped-state calls, and "
    "the fail rate (failed / total).",
    "cid_capture_gaps": "Per day and dial-in group: calls with an Infinity visitor id, those "
    "without a Google client id, and the gap rate.",
    "call_log": "The call log: every call over every imported day with the basic call report's "
    "columns (a view over the Parquet files).",
    "call_state_report": "Every call with its state, the state's category and description (a "
    "view).",
    "google_cid_report": "Every call with an Infinity visitor id, its Google client id as sent "
    "and as cleaned, and whether it is missing (a view).",
    "goals_by_channel": "Per day, marketing channel and goal: goals reached, how many were "
    "calls, and by how many visitors.",
    "goals_by_segment": "Per day, segment and goal: goals reached, how many were calls, and by "
    "how many visitors.",
}


def model_metadata(table: str) -> dict[str, object]:
    """Table name and column schema (a model missing from MODEL_COLUMNS fails a test, not the
    code location's load)."""
    metadata: dict[str, object] = {"dagster/table_name": f"infinity.main.{table}"}
    if table in MODEL_COLUMNS:
        metadata["dagster/column_schema"] = TableSchema(
            columns=[
                TableColumn(name=name, type=kind, description=text)
                for name, kind, text in MODEL_COLUMNS[table]
            ]
        )
    return metadata


def duckdb_models(
    reports: Sequence[Report],
    *,
    cid_field: str,
    call_state_mapping: Path | None,
    demo: bool = False,
    thresholds: Thresholds | None = None,
):
    """The model assets. They are built in one pass into one DuckDB file, so they always agree."""

    @multi_asset(
        name="duckdb_models",
        specs=[
            AssetSpec(
                key=table,
                deps=[r.key for r in reports],
                description=MODEL_DESCRIPTIONS[table],
                group_name="infinity_models",
                kinds={"duckdb"},
                metadata=model_metadata(table),
                tags={"infinity/demo": "true"} if demo else None,
                automation_condition=MODELS_AUTOMATION,
            )
            for table in MODEL_TABLES
        ],
        # Any subset may be selected (`--select call_fail_rates`); the whole file is rebuilt
        # either way, so the tables always agree, and the selected ones report it.
        can_subset=True,
    )
    def _models(
        context: AssetExecutionContext, duckdb: DuckDBResource, store: ParquetStore
    ) -> object:
        started = time.monotonic()
        counts = build_warehouse(
            WarehouseSpec(
                raw_dir=store.raw_dir,
                database=Path(duckdb.database),
                reports=reports,
                cid_field=cid_field,
                call_state_mapping=call_state_mapping,
            )
        )
        seconds = round(time.monotonic() - started, 3)
        context.log.info(f"DuckDB models rebuilt in {seconds} s: {counts}")
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        # The latest day's preview and trend, on the two tables that answer the questions.
        insights = (
            _latest_day_insights(context, Path(duckdb.database), thresholds or Thresholds())
            if selected & INSIGHT_TABLES
            else {}
        )
        for table in MODEL_TABLES:
            if table not in selected:
                continue
            yield MaterializeResult(
                asset_key=table,
                metadata={
                    "dagster/row_count": MetadataValue.int(counts[table]),
                    "database": MetadataValue.path(duckdb.database),
                    "build_seconds": MetadataValue.float(seconds),
                    "demo": MetadataValue.bool(demo),
                    **(insights if table in INSIGHT_TABLES else {}),
                },
            )

    return _models


def _latest_day_insights(
    context: AssetExecutionContext, database: Path, thresholds: Thresholds
) -> dict[str, MetadataValue]:
    """The latest day's preview and the 30-day trend, read back from the file just built."""
    try:
        with duckdb_client.connect(str(database), read_only=True) as con:
            day = latest_day(con)
            return {} if day is None else insight_metadata(con, day, thresholds)
    except Exception as exc:  # the models are built: a preview must not fail the run
        context.log.warning(f"no preview of the latest day ({exc})")
        return {}
