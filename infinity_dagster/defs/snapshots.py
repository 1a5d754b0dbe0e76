"""Snapshot assets: configuration reports (dial-in groups, numbers, organisations) pulled whole.

Each materialization writes the report as it is today to `raw/<key>/date=<today>/data.parquet`
(today in INFINITY_TIMEZONE), atomically. Earlier days' files stay, so the history says which
numbers or organisations existed on which day; the DuckDB view `<key>` shows the latest day and
`<key>_history` every day.
"""

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from ..api import MAX_PAGE_ROWS, InfinityDataError
from ..reports import Report
from ..storage import PartitionWriter, partition_file
from .raw import column_schema
from .resources import InfinityResource, ParquetStore


def snapshot_report_asset(report: Report, *, demo: bool = False) -> AssetsDefinition:
    """An unpartitioned asset that stores today's copy of `report`, keeping earlier days."""

    @asset(
        name=report.key,
        group_name="infinity_raw",
        kinds={"parquet"},
        description=report.description,
        metadata={
            "dagster/column_schema": column_schema(report),
            "infinity/route": report.route,
            "infinity/filters": ", ".join(report.filters) or "none",
        },
        tags={"infinity/demo": "true"} if demo else None,
    )
    def _snapshot(
        context: AssetExecutionContext, infinity: InfinityResource, store: ParquetStore
    ) -> MaterializeResult:
        started = time.monotonic()
        day = datetime.now(ZoneInfo(infinity.timezone)).date()
        with infinity.get_client() as client:
            table = client.snapshot(report)
        if table.num_rows >= MAX_PAGE_ROWS:
            # One request answers at most 50,000 rows and these routes have no rowId to page by:
            # a full answer may be cut short, so keep the previous snapshot rather than store it.
            raise InfinityDataError(
                f"{report.key} answered {table.num_rows:,} rows, the API's limit for one request, "
                "so the snapshot may be incomplete; nothing was written. Narrow the report with "
                "filters or ask Infinity how to page this route."
            )
        path = partition_file(store.raw_dir, report.key, day)
        with PartitionWriter(path, report.schema) as writer:
            writer.write(table)
            stats = writer.commit()
        history_days = len(list((store.raw_dir / report.key).glob("date=*/data.parquet")))
        context.log.info(f"{report.key} snapshot of {day}: {stats.rows:,} rows")
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(stats.rows),
                "snapshot_date": MetadataValue.text(day.isoformat()),
                "history_days": MetadataValue.int(history_days),
                "parquet_bytes": MetadataValue.int(stats.bytes),
                "seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
                "path": MetadataValue.path(str(path)),
                "demo": MetadataValue.bool(demo),
            }
        )

    return _snapshot
