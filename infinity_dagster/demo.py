"""`make demo`: pull the last 7 days of every report from the bundled simulator, build the models,
print them.

Runs with INFINITY_DEMO=1 (the Makefile sets it): the simulator starts in this process, data goes
to `<data dir>/demo`, and every materialization is marked as demo. With DAGSTER_HOME set, the runs
are recorded there (and show in `make dev`); otherwise an ephemeral instance is used.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
from dagster import AssetCheckSeverity, AssetKey, AssetSelection, DagsterInstance, materialize

from .api.errors import InfinityError
from .defs import build_definitions
from .reports import CALL_RECORDINGS, DAILY_REPORTS, SNAPSHOT_REPORTS
from .settings import Settings
from .warehouse import MODEL_TABLES

DEMO_DAYS = 7
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

SUMMARY_SQL = """
SELECT f.date,
       sum(f.total_calls) AS calls,
       sum(f.failed_calls) AS failed,
       round(100.0 * sum(f.failed_calls) / sum(f.total_calls), 1) AS fail_pct,
       sum(f.unmapped_state_calls) AS unmapped,
       sum(g.calls_with_vid) AS with_vid,
       sum(g.missing_cid_calls) AS missing_cid,
       round(100.0 * sum(g.missing_cid_calls) / nullif(sum(g.calls_with_vid), 0), 1) AS gap_pct
FROM call_fail_rates f JOIN cid_capture_gaps g USING (date, dgrp)
WHERE f.date BETWEEN ? AND ?
GROUP BY f.date ORDER BY f.date
"""


def main() -> int:
    os.environ.setdefault("INFINITY_DEMO", "1")
    try:
        settings = Settings.from_env()
    except InfinityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.demo:
        print("error: the demo needs INFINITY_DEMO=1 (make demo sets it).", file=sys.stderr)
        return 2
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    if not os.environ.get("INFINITY_START_DATE", "").strip():
        # The demo pulls the last DEMO_DAYS days: its partitions start there, so the
        # missing-days checks judge what the demo was asked to pull, not a month of history.
        settings = replace(settings, start_date=today - timedelta(days=DEMO_DAYS))
    defs = build_definitions(settings)
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    resources = dict(defs.resources or {})
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    instance = instance or DagsterInstance.ephemeral()

    days = [today - timedelta(days=n) for n in range(DEMO_DAYS, 0, -1)]
    raw_keys = [AssetKey(r.key) for r in DAILY_REPORTS] + [AssetKey(CALL_RECORDINGS.key)]
    print(
        f"Pulling {DEMO_DAYS} days ({days[0]} to {days[-1]}) from the bundled simulator "
        f"into {settings.data_dir} ..."
    )
    started = time.monotonic()
    rows = 0
    recordings = {"files": 0, "bytes": 0, "missing": 0}
    for day in days:
        result = materialize(
            assets,
            selection=AssetSelection.assets(*raw_keys).without_checks(),
            partition_key=day.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=True,
            run_config=QUIET,
        )
        for event in result.get_asset_materialization_events():
            metadata = event.materialization.metadata
            if event.asset_key == AssetKey(CALL_RECORDINGS.key):
                recordings["files"] += int(metadata["dagster/row_count"].value)
                recordings["bytes"] += int(metadata["bytes"].value)
                recordings["missing"] += int(metadata["missing_count"].value)
            else:
                rows += int(metadata["dagster/row_count"].value)
    pull_seconds = time.monotonic() - started
    materialize(
        assets,
        selection=AssetSelection.assets(*(r.key for r in SNAPSHOT_REPORTS)).without_checks(),
        resources=resources,
        instance=instance,
        raise_on_error=True,
        run_config=QUIET,
    )
    # The models, then every data-quality check once, over everything pulled.
    models = materialize(
        assets,
        selection=AssetSelection.assets(*MODEL_TABLES) | AssetSelection.all_asset_checks(),
        resources=resources,
        instance=instance,
        raise_on_error=True,
        run_config=QUIET,
    )
    print_summary(settings.duckdb_path, days[0], days[-1])
    print_reports(settings.duckdb_path, days[0], days[-1], recordings)
    print_checks(models.get_asset_check_evaluations())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nPulled {rows:,} rows and {recordings['files']:,} recordings in {pull_seconds:.1f} s "
        f"(Dagster run overhead included); peak memory {peak_mib:.0f} MiB."
    )
    print(f"Query the models yourself: duckdb -readonly {settings.duckdb_path}")
    return 0


def print_summary(database: os.PathLike | str, first: date, last: date) -> None:
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(SUMMARY_SQL, [first, last])
        header = [d[0] for d in cursor.description]
        body = cursor.fetchall()
    print("\nDaily call-fail rates and Google client-id capture gaps (all dial-in groups):\n")
    print(format_table(header, body))


def print_checks(evaluations: list) -> None:
    """One line per check that did not pass; a count of those that did."""
    failing = [e for e in evaluations if not e.passed]
    warned = sum(e.severity == AssetCheckSeverity.WARN for e in failing)
    print(
        f"\nData-quality checks: {len(evaluations) - len(failing)} passed, {warned} warned, "
        f"{len(failing) - warned} failed."
    )
    for e in sorted(failing, key=lambda e: (e.severity.value, e.asset_key.to_user_string())):
        label = "WARN " if e.severity == AssetCheckSeverity.WARN else "ERROR"
        print(f"  {label} {e.asset_key.to_user_string()}:{e.check_name}: {e.description}")


REPORTS_SQL = """
SELECT
    (SELECT count(*) FROM call_log WHERE date BETWEEN $first AND $last),
    (SELECT count(*) FILTER (WHERE category IN ('blank', 'unmapped')) FROM call_state_report
        WHERE date BETWEEN $first AND $last),
    (SELECT count(*) FILTER (WHERE cid_missing) FROM google_cid_report
        WHERE date BETWEEN $first AND $last),
    (SELECT count(*) FROM goals WHERE date BETWEEN $first AND $last),
    (SELECT count(*) FROM dial_in_groups),
    (SELECT count(*) FROM fallback_numbers),
    (SELECT count(*) FROM organisations)
"""
CHANNELS_SQL = """
SELECT channel, sum(goals) AS goals, sum(call_goals) AS calls
FROM goals_by_channel WHERE date BETWEEN $first AND $last
GROUP BY channel ORDER BY goals DESC, channel LIMIT 3
"""


def print_reports(database: os.PathLike | str, first: date, last: date, recordings: dict) -> None:
    """One line per report: what the demo pulled and built (the README lists example queries)."""
    days = {"first": first, "last": last}
    with duckdb.connect(str(database), read_only=True) as con:
        calls, odd_states, gaps, goals, groups, fallbacks, orgs = con.execute(
            REPORTS_SQL, days
        ).fetchone()
        channels = con.execute(CHANNELS_SQL, days).fetchall()
    top = ", ".join(f"{name} {n:,}" for name, n, _ in channels[:3])
    print("\nEvery report (DuckDB tables and views, same days):")
    print(f"  call_log          {calls:>7,} calls")
    print(f"  call_state_report {odd_states:>7,} calls with a blank or unmapped state")
    print(f"  google_cid_report {gaps:>7,} calls with a visitor id but no client id")
    print(f"  goals_by_channel  {goals:>7,} goals: {top}, ...")
    print(
        f"  call_recordings   {recordings['files']:>7,} files, "
        f"{recordings['bytes'] / 2**20:,.1f} MiB; {recordings['missing']:,} missing (404)"
    )
    print(
        f"  dial_in_groups {groups}, fallback_numbers {fallbacks}, organisations {orgs} "
        "(latest snapshots)"
    )


def format_table(header: list[str], rows: list[tuple]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
