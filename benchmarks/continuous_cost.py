"""API rows fetched per row stored, for one day of continuous polling by the rowId sensor.

    .venv/bin/python -m benchmarks.continuous_cost [--calls-per-day 2000] [--every-minutes 5]

A seeded installation in the simulator (rows become visible when the simulated call has been
processed, so some arrive after later calls: late rows), the simulator's clock moved through one
London day tick by tick, the real `calls_rowid_sensor` evaluated at each tick and the runs it
requests executed in process against a real Dagster instance. The simulator's request log gives
the rows each request returned; the Parquet files give the rows stored.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
from dagster import DagsterInstance, Definitions, build_sensor_context

from infinity_dagster.defs import build_definitions, daily_reports
from infinity_dagster.defs.sensors import Cursor, rowid_sensor
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import SimulatorServer, generate_installation

DAY = date(2026, 11, 30)
ZONE = "Europe/London"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-day", type=int, default=2000)
    parser.add_argument("--every-minutes", type=int, default=5)
    args = parser.parse_args()

    installation = generate_installation(
        igrp=20001, start=DAY - timedelta(days=2), end=DAY + timedelta(days=1),
        calls_per_day=args.calls_per_day, seed=11, tz=ZONE,
    )  # fmt: skip
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
    clock = {"now": start}
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimulatorServer(installation, api_key="bench", clock=lambda: clock["now"]) as server,
    ):
        os.environ.update(
            INFINITY_IGRP="20001", INFINITY_API_KEY="bench", INFINITY_BASE_URL=server.base_url,
            INFINITY_TIMEZONE=ZONE, INFINITY_START_DATE="2026-11-01", INFINITY_DATA_DIR=tmp,
        )  # fmt: skip
        settings = Settings.from_env()
        defs = build_definitions(settings)
        job = next(j for j in defs.jobs if j.name == "calls_job")
        sensor = rowid_sensor(
            daily_reports(settings)[0], job, timezone=ZONE, start_date=settings.start_date,
            lookback_days=settings.lookback_days, clock=lambda: clock["now"],
        )  # fmt: skip
        defs = Definitions(
            assets=defs.assets, jobs=[job], sensors=[sensor], resources=defs.resources
        )
        run_job = defs.resolve_job_def("calls_job")
        instance = DagsterInstance.ephemeral()

        # Continuous operation: everything visible at the day's start has landed already.
        visible = installation.rows("calls")
        landed_at_start = max(
            r
            for r, t in zip(
                visible.column("rowId").to_pylist(), visible.column("insertedAt").to_pylist()
            )  # fmt: skip
            if t <= start
        )
        cursor = Cursor(landed=landed_at_start).to_json()
        server.requests.clear()

        ticks = runs = whole_day_rows = 0
        runs_by_day: dict[str, int] = {}
        end = start + timedelta(days=1)
        while clock["now"] < end:
            clock["now"] += timedelta(minutes=args.every_minutes)
            ticks += 1
            for _ in range(2):  # a tick that requests runs, then the tick that sees them done
                with build_sensor_context(
                    instance=instance, cursor=cursor, definitions=defs,
                    resources={k: defs.resources[k] for k in ("infinity", "store")},
                ) as context:  # fmt: skip
                    result = sensor.evaluate_tick(context)
                cursor = result.cursor
                if not result.run_requests:
                    break
                for request in result.run_requests:
                    run = run_job.execute_in_process(
                        run_config=request.run_config, partition_key=request.partition_key,
                        tags=request.tags, instance=instance,
                    )  # fmt: skip
                    runs += 1
                    runs_by_day[request.partition_key] = (
                        runs_by_day.get(request.partition_key, 0) + 1
                    )
                    # What re-pulling this day whole would have fetched instead: the day so far.
                    event = run.get_asset_materialization_events()[0]
                    whole_day_rows += event.materialization.metadata["dagster/row_count"].value
        poll = [r for r in server.requests if r.params.count(("display[]", "rowId")) and
                len([p for p in r.params if p[0] == "display[]"]) == 2]  # fmt: skip
        land = [r for r in server.requests if r not in poll]
        stored = sum(
            pq.read_metadata(p).num_rows for p in Path(tmp, "raw", "calls").glob("date=*/*.parquet")
        )
        landed_rows = Cursor.from_json(cursor).landed
        poll_rows = sum(r.rows for r in poll)
        land_rows = sum(r.rows for r in land)
        new_rows = sum(
            1
            for r, t in zip(
                visible.column("rowId").to_pylist(), visible.column("insertedAt").to_pylist()
            )  # fmt: skip
            if landed_at_start < r and t <= end
        )
        print(f"{ticks} ticks every {args.every_minutes} min over {DAY} ({ZONE}), {runs} runs")
        print(f"runs per day: {dict(sorted(runs_by_day.items()))}")
        rows_by_day = {
            p.parent.name[5:]: pq.read_metadata(p).num_rows
            for p in sorted(Path(tmp, "raw", "calls").glob("date=*/*.parquet"))
        }
        print(f"rows stored per day: {rows_by_day}")
        print(f"rows that arrived during the day: {new_rows:,}; stored by the sensor: {stored:,}")
        print(f"poll requests: {len(poll)}, rows {poll_rows:,} (rowId + triggerDatetime only)")
        print(f"landing requests: {len(land)}, rows {land_rows:,} (every field)")
        print(f"API rows per row stored: {(poll_rows + land_rows) / stored:.3f} "
              f"({poll_rows / stored:.3f} narrow + {land_rows / stored:.3f} full)")  # fmt: skip
        print(f"re-pulling affected days whole instead: {whole_day_rows:,} full rows, "
              f"{whole_day_rows / stored:.1f} per row stored")  # fmt: skip
        print(f"cursor at the end: {landed_rows}")


if __name__ == "__main__":
    main()
