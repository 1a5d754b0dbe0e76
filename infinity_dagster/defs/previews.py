"""Metadata that shows: the day's Markdown preview and the 30-day trend picture."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
from dagster import MetadataValue

from ..charts import markdown_image, sparkline_png, trend_png
from ..insights import TREND_DAYS, day_preview, recent_models, trend
from ..quality import Thresholds

DayMetadata = Callable[[Path, date], dict[str, MetadataValue]]


def insight_metadata(
    con: duckdb.DuckDBPyConnection, day: date, thresholds: Thresholds
) -> dict[str, MetadataValue]:
    """`day_preview`, `trend_sparkline` and `trend_30_days` for `day`, from a connection with the
    model tables."""
    days = trend(con, day)
    png = trend_png(
        days,
        fail_rate_warn=thresholds.fail_rate_warn,
        fail_rate_error=thresholds.fail_rate_error,
        cid_gap_rate_warn=thresholds.cid_gap_rate_warn,
        title=f"Fail rate and client-id gap rate, {TREND_DAYS} days to {day} (all dial-in groups)",
    )
    return {
        "day_preview": MetadataValue.md(day_preview(con, day)),
        "trend_sparkline": MetadataValue.md(
            markdown_image(
                sparkline_png(days, fail_rate_warn=thresholds.fail_rate_warn),
                "fail rate (red), client-id gap rate (blue)",
            )
        ),
        "trend_30_days": MetadataValue.md(markdown_image(png, f"{TREND_DAYS}-day trend to {day}")),
    }


def calls_day_metadata(
    *, report_key: str, cid_field: str, call_state_mapping: Path | None, thresholds: Thresholds
) -> DayMetadata:
    """For the `calls` asset: the preview and trend of a materialized day, from the Parquet
    files of that day and the 29 before it (models built in memory)."""

    def metadata(raw_dir: Path, day: date) -> dict[str, MetadataValue]:
        con = recent_models(
            raw_dir, report_key, day, cid_field=cid_field, call_state_mapping=call_state_mapping
        )
        if con is None:
            return {}
        with con:
            return insight_metadata(con, day, thresholds)

    return metadata
