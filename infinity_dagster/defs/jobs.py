"""One partitioned job per daily report, run by its rowId sensor and its daily schedule."""

from dagster import AssetSelection, PartitionsDefinition, define_asset_job, in_process_executor

# What define_asset_job returns (not exported at the top level of dagster).
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition as ReportJob,
)

from ..reports import Report


def report_job(report: Report, partitions_def: PartitionsDefinition) -> ReportJob:
    return define_asset_job(
        name=f"{report.key}_job",
        selection=AssetSelection.assets(report.key),
        partitions_def=partitions_def,
        description=f"Pull or land one day of {report.key} (a run per day).",
        # A run is one step: executing it in the run's own process saves a process start (and a
        # second import of the code location) per run; the sensor launches many small runs.
        executor_def=in_process_executor,
    )


def day_run_config(report: Report, after_row_id: int | None, up_to_row_id: int) -> dict:
    """Run config asking the report's asset to land only the rows (after, up_to] of its day."""
    return {
        "ops": {
            report.key: {"config": {"after_row_id": after_row_id, "up_to_row_id": up_to_row_id}}
        }
    }
