"""The comparison: dlt's declarative `rest_api` source paging the same simulator into Parquet.

Set up the way dlt's docs suggest for a cursor API: the resource is `incremental` on `rowId`
(initial value 0, so the first request is `filter[]=rowId-gt-value-0`), and a small custom
paginator (dlt's offset, page-number and link paginators do not fit a `rowId > last` cursor) asks
for `filter[]=rowId-gt-value-<last rowId of the page>` until a page comes back short. Answers are
`format=jsonarray` (the JSON body dlt's client reads); the filesystem destination writes Parquet.
dlt is an optional extra (`pip install -e '.[bench]'`), never a runtime dependency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def run_dlt(args: dict[str, Any]) -> tuple[int, int]:
    """Run the pipeline for one day; returns (rows loaded, bytes of Parquet written)."""
    # No telemetry, no network: everything stays on loopback.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    from infinity_dagster.reports import CALLS

    limit = 50_000

    class RowIdPaginator(BasePaginator):
        """Infinity's recipe: same query plus `rowId > last rowId`, stop on a short page."""

        def __init__(self) -> None:
            super().__init__()
            self.last_row_id: int | None = None

        def update_state(self, response: Any, data: list[Any] | None = None) -> None:
            rows = data or []
            if len(rows) < limit:
                self._has_next_page = False
                return
            self.last_row_id = int(rows[-1]["rowId"])

        def update_request(self, request: Any) -> None:
            request.params["filter[]"] = f"rowId-gt-value-{self.last_row_id}"

    day = args["day"]
    source = rest_api_source(
        {
            "client": {
                "base_url": args["base_url"],
                "headers": {"Authorization": f"ApiKey {args['api_key']}"},
                "paginator": RowIdPaginator(),
            },
            "resources": [
                {
                    "name": "calls",
                    "endpoint": {
                        "path": f"reports/v2.1/igrps/{args['igrp']}/triggers/calls",
                        "params": {
                            "format": "jsonarray",
                            "display[]": CALLS.field_names,
                            "sort[]": "rowId-asc",
                            "startDate": day,
                            "endDate": day,
                            "tz": "UTC",
                            "limit": limit,
                            "filter[]": "rowId-gt-value-{incremental.start_value}",
                        },
                        "incremental": {"cursor_path": "rowId", "initial_value": 0},
                        "data_selector": "$",
                    },
                    # rowId may come as a string; the cursor compares numbers.
                    "processing_steps": [{"map": _int_row_id}],
                    "write_disposition": "append",
                }
            ],
        }
    )
    out = Path(args["data_dir"]) / "dlt"
    pipeline = dlt.pipeline(
        pipeline_name="infinity_bench",
        pipelines_dir=str(Path(args["data_dir"]) / "dlt_pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=out.as_uri()),
        dataset_name="infinity",
        progress="log" if args.get("verbose") else None,
    )
    info = pipeline.run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("calls", 0)
    files = [p for p in out.rglob("*.parquet")]
    return rows, sum(p.stat().st_size for p in files)


def _int_row_id(row: dict[str, Any]) -> dict[str, Any]:
    row["rowId"] = int(row["rowId"])
    return row
