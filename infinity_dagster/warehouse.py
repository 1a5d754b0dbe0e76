"""The DuckDB file users query: views over the Parquet files, the state mapping, model tables.

DuckDB allows one writing process per file, and a reader holding the file open would block a
writer. So the file is never modified in place: each build writes a fresh database beside it and
renames it over `infinity.duckdb`. Readers that already had the file open keep reading the old
copy, consistent to the end of their query; new connections see the new build. Nobody waits.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from .api.errors import InfinityConfigError
from .reports import REPORTS, Report
from .storage import TemporaryClaim, report_glob, sweep_abandoned

SQL_PACKAGE = "infinity_dagster.defs.sql"
# Building blocks every model uses (macros, the cleaned-calls view, the one-pass facts), then the
# models users see (tables or views, each one Dagster asset), all in build order.
MODEL_FOUNDATIONS: tuple[str, ...] = ("cleaning_rules", "calls_clean", "call_facts")
MODEL_TABLES: tuple[str, ...] = (
    "call_states",
    "call_fail_rates",
    "cid_capture_gaps",
    "call_log",
    "call_state_report",
    "google_cid_report",
    "goals_by_channel",
    "goals_by_segment",
)
MODELS: tuple[str, ...] = (*MODEL_FOUNDATIONS, *MODEL_TABLES)

# Counting a view over the calls would read every call again; the one-pass facts already know.
VIEW_ROW_COUNTS = {
    "call_log": "SELECT CAST(coalesce(sum(calls), 0) AS BIGINT) FROM call_facts",
    "call_state_report": "SELECT CAST(coalesce(sum(calls), 0) AS BIGINT) FROM call_facts",
    "google_cid_report": (
        "SELECT CAST(coalesce(sum(calls) FILTER (WHERE has_vid), 0) AS BIGINT) FROM call_facts"
    ),
}


@dataclass(frozen=True)
class WarehouseSpec:
    raw_dir: Path
    database: Path
    reports: Sequence[Report]
    cid_field: str = "googleCid"
    call_state_mapping: Path | None = None  # None: the packaged mapping


def build_warehouse(spec: WarehouseSpec) -> dict[str, int]:
    """Build the whole database beside the live file, then swap it in. Returns table row counts."""
    spec.database.parent.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(spec.database)  # what a killed build left behind
    claim = TemporaryClaim(spec.database)
    tmp = claim.path
    try:
        with duckdb.connect(str(tmp)) as con:
            given = {r.key for r in spec.reports}
            # Every catalogue report gets a view (the models read several); a report the spec
            # does not configure is read with its catalogue entry.
            for report in [*spec.reports, *(r for r in REPORTS if r.key not in given)]:
                if report.kind == "snapshot":
                    _create_snapshot_views(con, spec.raw_dir, report)
                else:
                    _create_raw_view(con, spec.raw_dir, report)
            build_models(con, spec.call_state_mapping, cid_field=spec.cid_field)
            counts = {
                table: con.execute(
                    VIEW_ROW_COUNTS.get(table, f'SELECT count(*) FROM "{table}"')
                ).fetchone()[0]
                for table in ("call_state_mapping", *MODEL_TABLES)
            }
            con.execute("CHECKPOINT")
        os.replace(tmp, spec.database)
    finally:
        claim.release()
    return counts


def build_models(
    con: duckdb.DuckDBPyConnection,
    call_state_mapping: Path | None,
    *,
    cid_field: str,
    models: Sequence[str] = MODELS,
) -> None:
    """The mapping and the models, over the raw views `con` already has (every model over the
    whole history in the file build; a few, over a few days, in memory for a day's preview)."""
    _load_mapping(con, call_state_mapping)
    for model in models:
        con.execute(_model_sql(model, cid_field=cid_field))


def _create_snapshot_views(con: duckdb.DuckDBPyConnection, raw_dir: Path, report: Report) -> None:
    """`<key>_history`: every day's snapshot (`date` is the snapshot day); `<key>`: the latest."""
    history = f"{report.key}_history"
    _create_raw_view(con, raw_dir, report, name=history)
    con.execute(
        f'CREATE OR REPLACE VIEW "{report.key}" AS SELECT * FROM "{history}" '
        f'WHERE date = (SELECT max(date) FROM "{history}")'
    )


def _create_raw_view(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, report: Report, name: str | None = None
) -> None:
    """A view over every day's file of a report, with the partition `date` from the folder name.

    Before the first materialization there are no files: an empty table with the catalogue
    schema stands in, so models still build (with no rows).
    """
    name = name or report.key
    glob = report_glob(raw_dir, report.key)
    if any((raw_dir / report.key).glob("date=*/*.parquet")):
        literal = glob.replace("'", "''")
        con.execute(
            f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet('
            f"'{literal}', hive_partitioning = true, hive_types = {{'date': DATE}})"
        )
    else:
        empty = pa.table(
            {
                **{f.name: pa.array([], t) for f, t in zip(report.fields, report.schema.types)},
                "date": pa.array([], pa.date32()),
            }
        )
        con.register("empty_report", empty)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM empty_report')
        con.unregister("empty_report")


def _load_mapping(con: duckdb.DuckDBPyConnection, path: Path | None) -> None:
    if path is None:
        text = resources.files(SQL_PACKAGE).joinpath("call_state_mapping.csv").read_text()
    else:
        text = path.read_text(encoding="utf-8-sig")
    con.execute(
        "CREATE OR REPLACE TABLE call_state_mapping (call_state VARCHAR PRIMARY KEY, "
        "category VARCHAR NOT NULL, is_failure BOOLEAN NOT NULL, description VARCHAR)"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = {"call_state", "category", "is_failure", "description"}
    if not rows or set(rows[0]) != expected:
        raise InfinityConfigError(
            f"The call state mapping {path or '(packaged)'} must be a CSV with the columns "
            "call_state,category,is_failure,description and at least one row."
        )
    values = []
    for number, row in enumerate(rows, start=2):
        flag = row["is_failure"].strip().lower()
        if flag not in ("true", "false", "1", "0"):
            raise InfinityConfigError(
                f"The call state mapping {path or '(packaged)'} line {number}: is_failure must "
                f"be true or false, got {row['is_failure']!r}."
            )
        values.append(
            (
                row["call_state"].strip().upper(),
                row["category"].strip(),
                flag in ("true", "1"),
                row["description"],
            )
        )
    try:
        con.executemany("INSERT INTO call_state_mapping VALUES (?, ?, ?, ?)", values)
    except duckdb.ConstraintException:
        raise InfinityConfigError(
            f"The call state mapping {path or '(packaged)'} lists a call state twice; keep one "
            "row per state."
        ) from None


def _model_sql(name: str, *, cid_field: str) -> str:
    text = resources.files(SQL_PACKAGE).joinpath(f"{name}.sql").read_text()
    # The one placeholder: the configured client-id column (validated as a plain field name).
    return text.replace("${cid_field}", f'"{cid_field}"')
