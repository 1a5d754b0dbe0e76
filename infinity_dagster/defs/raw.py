"""Raw report assets: one daily-partitioned asset per catalogue entry, each day a Parquet file."""

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TableColumn,
    TableSchema,
    asset,
)
from pydantic import Field

from ..api.query import filter_expr
from ..days import DayWindow, day_window
from ..landing import day_lock, merge_into_partition
from ..reports import Report
from ..storage import PartitionWriter, partition_file
from .resources import InfinityResource, ParquetStore

PROGRESS_EVERY_SECONDS = 5.0


class DayRunConfig(Config):
    """Leave both unset to pull the whole day. The rowId sensor sets them to land only the day's
    rows with after_row_id < rowId <= up_to_row_id, merged into the day's file by rowId."""

    after_row_id: int | None = Field(
        default=None, description="Land the day's rows after this rowId (unset: from the first)."
    )
    up_to_row_id: int | None = Field(
        default=None, description="Land the day's rows up to this rowId (unset: the whole day)."
    )


def column_schema(report: Report) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=f.name, type=str(t), description=f.description)
            for f, t in zip(report.fields, report.schema.types)
        ]
    )


def daily_report_asset(
    report: Report,
    partitions_def: PartitionsDefinition,
    *,
    demo: bool = False,
    day_metadata: Callable[[Path, date], dict[str, MetadataValue]] | None = None,
) -> AssetsDefinition:
    """An asset that pulls one day of `report` (the partition's local day) into its Parquet file.

    Idempotent: a run replaces the day's file as a whole, atomically, so re-running a day never
    duplicates rows and a failed run leaves the previous file in place. `day_metadata` adds
    metadata about the landed day (the calls asset's preview and trend picture).
    """

    @asset(
        name=report.key,
        partitions_def=partitions_def,
        group_name="infinity_raw",
        kinds={"parquet"},
        description=report.description,
        metadata={
            "dagster/column_schema": column_schema(report),
            "dagster/table_name": f"infinity.main.{report.key}",
            "infinity/route": report.route,
            "infinity/filters": ", ".join(report.filters) or "none",
        },
        tags={"infinity/demo": "true"} if demo else None,
        # No backfill_policy: Dagster's default, one run per day. Each request stays within
        # 50,000 rows (rowId paging), memory within a page, and every day keeps its own
        # metadata, status and retry in the UI. (context.partition_key refuses a range.)
    )
    def _daily_report(
        context: AssetExecutionContext,
        config: DayRunConfig,
        infinity: InfinityResource,
        store: ParquetStore,
    ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        window = day_window(day, infinity.timezone)
        path = partition_file(store.raw_dir, report.key, day)
        if config.up_to_row_id is not None:  # the rowId sensor's new rows, not the whole day
            with day_lock(path):
                return land_row_range(context, config, report, window, infinity, path, demo)
        started = last_log = time.monotonic()
        pages = wire_bytes = 0
        min_row_id = max_row_id = None
        unexpected_fields: set[str] = set()
        with (
            day_lock(path),  # one writer per day: whole-day pulls and sensor merges
            infinity.get_client() as client,
            PartitionWriter(path, report.schema) as writer,
        ):
            pages_of_day = client.export(
                report,
                start_date=window.start_date,
                end_date=window.end_date,
                tz=window.request_tz,
            )
            for page in pages_of_day:
                day_rows = window.trim(page.table)
                writer.write(day_rows)
                pages += 1
                wire_bytes += page.wire_bytes
                unexpected_fields.update(page.unexpected_fields)
                if day_rows.num_rows:
                    if min_row_id is None:
                        min_row_id = day_rows.column("rowId")[0].as_py()
                    max_row_id = day_rows.column("rowId")[-1].as_py()
                now = time.monotonic()
                if now - last_log >= PROGRESS_EVERY_SECONDS:
                    last_log = now
                    context.log.info(
                        f"{report.key} {day}: {pages} pages, {writer.stats.rows:,} rows, "
                        f"{writer.stats.rows / (now - started):,.0f} rows/s"
                    )
            stats = writer.commit()
            retries = client.retries
        if unexpected_fields:
            # Not an error (the API may grow fields), but never silent: stored files keep the
            # catalogue's columns only, so the user should know what the server added.
            context.log.warning(
                f"{report.key} {day}: the API sent field(s) the catalogue does not know, not "
                f"stored: {', '.join(sorted(unexpected_fields))}."
            )
        seconds = time.monotonic() - started
        metadata = {
            "dagster/row_count": MetadataValue.int(stats.rows),
            "pages": MetadataValue.int(pages),
            "min_row_id": MetadataValue.int(min_row_id) if min_row_id is not None else None,
            "max_row_id": MetadataValue.int(max_row_id) if max_row_id is not None else None,
            "parquet_bytes": MetadataValue.int(stats.bytes),
            "wire_bytes": MetadataValue.int(wire_bytes),
            "retries": MetadataValue.int(retries),
            "unexpected_fields": MetadataValue.text(", ".join(sorted(unexpected_fields)))
            if unexpected_fields
            else None,
            "seconds": MetadataValue.float(round(seconds, 3)),
            "day_hours": MetadataValue.float(window.hours),
            "rows_per_second": MetadataValue.float(
                round(stats.rows / seconds, 1) if seconds else 0
            ),
            "path": MetadataValue.path(str(path)),
            "demo": MetadataValue.bool(demo),
        }
        context.log.info(
            f"{report.key} {day}: {stats.rows:,} rows in {pages} pages, {seconds:.2f} s"
        )
        if day_metadata is not None:
            try:
                metadata.update(day_metadata(store.raw_dir, day))
            except Exception as exc:  # the day has landed: a preview must not fail the run
                context.log.warning(f"{report.key} {day}: no preview ({exc})")
        return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})

    return _daily_report


def land_row_range(
    context: AssetExecutionContext,
    config: DayRunConfig,
    report: Report,
    window: DayWindow,
    infinity: InfinityResource,
    path: Path,
    demo: bool,
) -> MaterializeResult:
    """Fetch the day's rows in (after_row_id, up_to_row_id] and merge them into its file."""
    started = time.monotonic()
    with infinity.get_client() as client:
        pages = list(
            client.export(
                report,
                start_date=window.start_date,
                end_date=window.end_date,
                tz=window.request_tz,
                after_row_id=config.after_row_id,
                filters=[filter_expr("rowId", "le", config.up_to_row_id)],
            )
        )
        retries = client.retries
    new_rows = pa.concat_tables(
        [window.trim(p.table) for p in pages], promote_options="none"
    ).combine_chunks()
    stats = merge_into_partition(path, report.schema, new_rows)
    seconds = time.monotonic() - started
    context.log.info(
        f"{report.key} {window.day}: landed {new_rows.num_rows:,} rows with rowId in "
        f"({config.after_row_id}, {config.up_to_row_id}] ({stats.added:,} new); "
        f"{stats.rows:,} rows in the day"
    )
    metadata = {
        "dagster/row_count": MetadataValue.int(stats.rows),
        "landed_rows": MetadataValue.int(new_rows.num_rows),
        "new_rows": MetadataValue.int(stats.added),
        "after_row_id": _int_or_none(config.after_row_id),
        "up_to_row_id": _int_or_none(config.up_to_row_id),
        "pages": MetadataValue.int(len(pages)),
        "min_row_id": _int_or_none(stats.min_row_id),
        "max_row_id": _int_or_none(stats.max_row_id),
        "parquet_bytes": MetadataValue.int(stats.bytes),
        "wire_bytes": MetadataValue.int(sum(p.wire_bytes for p in pages)),
        "retries": MetadataValue.int(retries),
        "seconds": MetadataValue.float(round(seconds, 3)),
        "day_hours": MetadataValue.float(window.hours),
        "path": MetadataValue.path(str(path)),
        "demo": MetadataValue.bool(demo),
    }
    return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})


def _int_or_none(value: int | None):
    return MetadataValue.int(value) if value is not None else None
