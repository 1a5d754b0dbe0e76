"""Data-quality rules: what "everything is fine" means, as queries over the files and the models.

Each rule returns an `Outcome` (passed or not, how bad, one sentence, and the rows behind it); the
Dagster asset checks in `defs/checks.py` only wrap these. Raw rules read the Parquet files with
DuckDB (and the file footers with pyarrow, for the Arrow schema); model rules read the DuckDB file
through a read-only connection, which keeps reading its copy even if a build swaps the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow.parquet as pq

from .api.errors import InfinityConfigError
from .reports import Report
from .storage import DATA_FILE, report_glob

Severity = Literal["warn", "error"]
LISTED = 20  # at most this many rows are listed in a check's metadata


@dataclass(frozen=True)
class Thresholds:
    """When the operational checks speak up. Rates are fractions (0.3 is 30 %)."""

    fail_rate_warn: float = 0.30
    fail_rate_error: float = 0.50
    fail_rate_min_calls: int = 20
    cid_gap_rate_warn: float = 0.20
    cid_gap_min_calls: int = 20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Thresholds:
        env = os.environ if environ is None else environ
        defaults = cls()

        def rate(name: str, default: float) -> float:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not 0.0 <= value <= 1.0:
                raise InfinityConfigError(
                    f"{name} must be a fraction between 0 and 1 (0.3 means 30 %), got {text!r}."
                )
            return value

        def count(name: str, default: int) -> int:
            text = env.get(name, "").strip()
            if not text:
                return default
            if not text.isdigit():
                raise InfinityConfigError(
                    f"{name} must be a whole number of calls (0 or more), got {text!r}."
                )
            return int(text)

        thresholds = cls(
            fail_rate_warn=rate("INFINITY_FAIL_RATE_WARN", defaults.fail_rate_warn),
            fail_rate_error=rate("INFINITY_FAIL_RATE_ERROR", defaults.fail_rate_error),
            fail_rate_min_calls=count("INFINITY_FAIL_RATE_MIN_CALLS", defaults.fail_rate_min_calls),
            cid_gap_rate_warn=rate("INFINITY_CID_GAP_RATE_WARN", defaults.cid_gap_rate_warn),
            cid_gap_min_calls=count("INFINITY_CID_GAP_MIN_CALLS", defaults.cid_gap_min_calls),
        )
        if thresholds.fail_rate_error < thresholds.fail_rate_warn:
            raise InfinityConfigError(
                f"INFINITY_FAIL_RATE_ERROR ({thresholds.fail_rate_error}) is below "
                f"INFINITY_FAIL_RATE_WARN ({thresholds.fail_rate_warn}); set it at or above it."
            )
        return thresholds


@dataclass
class Outcome:
    passed: bool
    description: str
    severity: Severity = "error"
    metadata: dict[str, Any] = field(default_factory=dict)
    # Rows behind the outcome, rendered as a Markdown table by the check (header, rows).
    table: tuple[list[str], list[tuple]] | None = None


def _files(raw_dir: Path, report: Report) -> list[Path]:
    return sorted((raw_dir / report.key).glob(f"date=*/{DATA_FILE}"))


def _read(raw_dir: Path, report: Report, columns: list[str]) -> str:
    """A FROM clause over every day's file of a report, with the partition `date` (only `columns`
    are read: Parquet is columnar, so this stays cheap as the history grows)."""
    glob = report_glob(raw_dir, report.key).replace("'", "''")
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f"(SELECT {names}, date FROM read_parquet('{glob}', hive_partitioning = true, "
        "hive_types = {'date': DATE}))"
    )


def _no_files(report: Report) -> Outcome:
    return Outcome(
        passed=True,
        description=f"No {report.key} files yet: materialize a day first.",
        metadata={"files": 0},
    )


def duplicate_row_ids(raw_dir: Path, report: Report) -> Outcome:
    """A row id is unique within a report, across all days."""
    if not _files(raw_dir, report):
        return _no_files(report)
    key = report.cursor_field or "rowId"
    with duckdb.connect() as con:
        source = _read(raw_dir, report, [key])
        # Find the duplicated ids with a plain count first (cheap over millions of rows), then
        # list the days of those few only.
        rows = con.execute(
            f'WITH duplicated AS (SELECT "{key}" FROM {source} WHERE "{key}" IS NOT NULL '
            "GROUP BY 1 HAVING count(*) > 1) "
            f'SELECT "{key}", count(*) AS copies, '
            "string_agg(DISTINCT CAST(date AS VARCHAR), ', ' ORDER BY CAST(date AS VARCHAR)) "
            f'FROM {source} SEMI JOIN duplicated USING ("{key}") GROUP BY 1 ORDER BY 1'
        ).fetchall()
        total = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    extra = sum(copies - 1 for _, copies, _ in rows)
    if not rows:
        return Outcome(True, f"Every {key} is unique ({total:,} rows).", metadata={"rows": total})
    return Outcome(
        passed=False,
        description=f"{len(rows):,} {key} values appear more than once ({extra:,} extra rows).",
        metadata={"rows": total, "duplicated_ids": len(rows), "extra_rows": extra},
        table=([key, "copies", "days"], rows[:LISTED]),
    )


def schema_drift(raw_dir: Path, report: Report) -> Outcome:
    """Every day's file has exactly the catalogue's Arrow schema (names, order, types)."""
    files = _files(raw_dir, report)
    if not files:
        return _no_files(report)
    expected = report.schema
    drifted: list[tuple] = []
    for path in files:
        actual = pq.read_schema(path).remove_metadata()  # the footer only, not the rows
        if actual.equals(expected):
            continue
        missing = [n for n in expected.names if n not in actual.names]
        extra = [n for n in actual.names if n not in expected.names]
        retyped = [
            f"{n}: {actual.field(n).type} (expected {expected.field(n).type})"
            for n in expected.names
            if n in actual.names and actual.field(n).type != expected.field(n).type
        ]
        reordered = not (missing or extra or retyped)
        drifted.append(
            (
                path.parent.name.removeprefix("date="),
                ", ".join(missing),
                ", ".join(extra),
                "; ".join(retyped) or ("column order differs" if reordered else ""),
            )
        )
    if not drifted:
        return Outcome(
            True,
            f"All {len(files):,} files have the catalogue schema ({len(expected)} columns).",
            metadata={"files": len(files)},
        )
    return Outcome(
        passed=False,
        description=f"{len(drifted):,} of {len(files):,} {report.key} files differ from the "
        "catalogue schema: re-materialize those days.",
        metadata={"files": len(files), "drifted_files": len(drifted)},
        table=(["day", "missing columns", "extra columns", "changed types"], drifted[:LISTED]),
    )


def null_keys(raw_dir: Path, report: Report) -> Outcome:
    """No row lacks its row id or its trigger time."""
    if not _files(raw_dir, report):
        return _no_files(report)
    names = [n for n in (report.cursor_field, "triggerDatetime") if n and n in report.field_names]
    source = _read(raw_dir, report, names)
    counts = ", ".join(f'count(*) FILTER (WHERE "{n}" IS NULL)' for n in names)
    any_null = " OR ".join(f'"{n}" IS NULL' for n in names)
    with duckdb.connect() as con:
        row = con.execute(f"SELECT count(*), {counts} FROM {source}").fetchone()
        by_day = con.execute(
            f"SELECT CAST(date AS VARCHAR), count(*) FROM {source} WHERE {any_null} "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    total, nulls = row[0], dict(zip(names, row[1:]))
    metadata: dict[str, Any] = {"rows": total, **{f"null_{n}": v for n, v in nulls.items()}}
    if not any(nulls.values()):
        return Outcome(
            True, f"No row lacks {' or '.join(names)} ({total:,} rows).", metadata=metadata
        )
    said = ", ".join(f"{v:,} without {n}" for n, v in nulls.items() if v)
    return Outcome(
        passed=False,
        description=f"{said}: these rows cannot be placed or paged; re-materialize their days.",
        metadata=metadata,
        table=(["day", "rows with a null key"], by_day[:LISTED]),
    )


def missing_days(raw_dir: Path, report: Report, start_date: date) -> Outcome:
    """Every day from the start date to the latest materialized day has its file."""
    present = {
        date.fromisoformat(p.parent.name.removeprefix("date=")) for p in _files(raw_dir, report)
    }
    present = {d for d in present if d >= start_date}
    if not present:
        return _no_files(report)
    latest = max(present)
    expected = [start_date + timedelta(days=n) for n in range((latest - start_date).days + 1)]
    absent = [d for d in expected if d not in present]
    metadata: dict[str, Any] = {
        "start_date": start_date.isoformat(),
        "latest_day": latest.isoformat(),
        "days_present": len(present),
        "days_missing": len(absent),
    }
    if not absent:
        return Outcome(
            True, f"No day missing from {start_date} to {latest}.", "warn", metadata=metadata
        )
    ranges = _day_ranges(absent)
    return Outcome(
        passed=False,
        severity="warn",
        description=f"{len(absent):,} days without a {report.key} file between {start_date} and "
        f"{latest}: {_ranges_text(ranges[:LISTED])}. Backfill them.",
        metadata=metadata,
        table=(
            ["from", "to", "days"],
            [(str(a), str(b), (b - a).days + 1) for a, b in ranges[:LISTED]],
        ),
    )


def _day_ranges(days: list[date]) -> list[tuple[date, date]]:
    ranges: list[tuple[date, date]] = []
    for d in days:
        if ranges and (d - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], d)
        else:
            ranges.append((d, d))
    return ranges


def _ranges_text(ranges: list[tuple[date, date]]) -> str:
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in ranges)


# --- Rules over the DuckDB models (a read-only connection to the built file) ---


def _latest_day(con: duckdb.DuckDBPyConnection, table: str) -> date | None:
    return con.execute(f"SELECT max(date) FROM {table}").fetchone()[0]


def _name(dgrp: int, name: str | None) -> str:
    """A dial-in group as people know it: its name on one line, else its id."""
    return " ".join(name.split()) if name and name.strip() else str(dgrp)


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.1f} %"


FAILING_GROUPS_SQL = """
WITH dominant AS (
    SELECT dgrp, arg_max(call_state, calls) AS state, max(calls) AS state_calls
    FROM call_states WHERE date = $day AND is_failure GROUP BY dgrp
)
SELECT f.dgrp, f.dgrp_name, f.total_calls, f.failed_calls, f.fail_rate,
       d.state, d.state_calls, m.description
FROM call_fail_rates f
LEFT JOIN dominant d USING (dgrp)
LEFT JOIN call_state_mapping m ON m.call_state = d.state
WHERE f.date = $day AND f.total_calls >= $min_calls AND f.fail_rate > $threshold
ORDER BY f.fail_rate DESC, f.dgrp
"""


def high_fail_rates(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> Outcome:
    """On the latest day, no dial-in group with enough calls fails more than the thresholds."""
    day = _latest_day(con, "call_fail_rates")
    if day is None:
        return Outcome(True, "No calls in the models yet.", "warn", metadata={"groups": 0})
    rows = con.execute(
        FAILING_GROUPS_SQL,
        {
            "day": day,
            "min_calls": thresholds.fail_rate_min_calls,
            "threshold": thresholds.fail_rate_warn,
        },
    ).fetchall()
    total, failed = con.execute(
        "SELECT sum(total_calls), sum(failed_calls) FROM call_fail_rates WHERE date = ?", [day]
    ).fetchone()
    severe = [r for r in rows if r[4] > thresholds.fail_rate_error]
    metadata: dict[str, Any] = {
        "day": day.isoformat(),
        "calls": int(total),
        "failed_calls": int(failed),
        "fail_rate": round(failed / total, 4) if total else 0.0,
        "warn_threshold": thresholds.fail_rate_warn,
        "error_threshold": thresholds.fail_rate_error,
        "min_calls": thresholds.fail_rate_min_calls,
        "groups_over_threshold": len(rows),
    }
    if not rows:
        return Outcome(
            True,
            f"On {day} no dial-in group with {thresholds.fail_rate_min_calls}+ calls failed more "
            f"than {_pct(thresholds.fail_rate_warn)} of its calls.",
            "warn",
            metadata=metadata,
        )
    worst = rows[0]
    named = "; ".join(
        f"{_name(r[0], r[1])} {_pct(r[4])} ({r[3]}/{r[2]}, mostly {r[5]})" for r in rows[:3]
    )
    if len(rows) > 3:
        named += f"; and {len(rows) - 3} more"
    how_many = f"{len(rows)} dial-in group(s) failed more than {_pct(thresholds.fail_rate_warn)}"
    if severe:
        how_many += f", {len(severe)} of them more than {_pct(thresholds.fail_rate_error)},"
    return Outcome(
        passed=False,
        severity="error" if severe else "warn",
        description=f"On {day}, {how_many} of their calls: {named}. Worst: "
        f"{_name(worst[0], worst[1])}, mostly {worst[5]}: "
        f"{worst[7] or 'no description in the mapping'}.",
        metadata=metadata,
        table=(
            [
                "dgrp",
                "name",
                "calls",
                "failed",
                "fail rate",
                "dominant failing state",
                "its calls",
                "what it means",
            ],
            [(r[0], r[1], r[2], r[3], _pct(r[4]), r[5], r[6], r[7]) for r in rows[:LISTED]],
        ),
    )


UNMAPPED_SQL = """
SELECT call_state, sum(calls) AS calls, min(date) AS first_day, max(date) AS last_day
FROM call_states WHERE category = 'unmapped'
GROUP BY call_state ORDER BY calls DESC, call_state
"""


def unmapped_states(con: duckdb.DuckDBPyConnection) -> Outcome:
    """Every call state seen is in the mapping (blank states are counted apart, not listed)."""
    rows = con.execute(UNMAPPED_SQL).fetchall()
    blank, total = con.execute(
        "SELECT coalesce(sum(calls) FILTER (WHERE category = 'blank'), 0), "
        "coalesce(sum(calls), 0) FROM call_states"
    ).fetchone()
    unmapped_calls = sum(r[1] for r in rows)
    metadata: dict[str, Any] = {
        "calls": int(total),
        "unmapped_states": len(rows),
        "unmapped_state_calls": int(unmapped_calls),
        "blank_state_calls": int(blank),
    }
    if not rows:
        return Outcome(True, "Every call state seen is in the mapping.", "warn", metadata=metadata)
    listed = ", ".join(f"{r[0]} ({r[1]:,} calls)" for r in rows[:LISTED])
    return Outcome(
        passed=False,
        severity="warn",
        description=f"{len(rows)} call state(s) are not in the mapping and never count as "
        f"failures: {listed}. Add them to INFINITY_CALL_STATE_MAPPING.",
        metadata=metadata,
        table=(
            ["call state", "calls", "first day", "last day"],
            [(r[0], r[1], str(r[2]), str(r[3])) for r in rows[:LISTED]],
        ),
    )


GAP_GROUPS_SQL = """
SELECT g.dgrp, f.dgrp_name, g.calls_with_vid, g.missing_cid_calls, g.gap_rate
FROM cid_capture_gaps g
LEFT JOIN call_fail_rates f USING (date, dgrp)
WHERE g.date = $day AND g.calls_with_vid >= $min_calls AND g.gap_rate > $threshold
ORDER BY g.gap_rate DESC, g.dgrp
"""


def high_cid_gaps(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> Outcome:
    """On the latest day, no dial-in group misses the client id on too many tracked calls."""
    day = _latest_day(con, "cid_capture_gaps")
    if day is None:
        return Outcome(True, "No calls in the models yet.", "warn", metadata={"groups": 0})
    rows = con.execute(
        GAP_GROUPS_SQL,
        {
            "day": day,
            "min_calls": thresholds.cid_gap_min_calls,
            "threshold": thresholds.cid_gap_rate_warn,
        },
    ).fetchall()
    with_vid, missing = con.execute(
        "SELECT coalesce(sum(calls_with_vid), 0), coalesce(sum(missing_cid_calls), 0) "
        "FROM cid_capture_gaps WHERE date = ?",
        [day],
    ).fetchone()
    metadata: dict[str, Any] = {
        "day": day.isoformat(),
        "calls_with_vid": int(with_vid),
        "missing_cid_calls": int(missing),
        "gap_rate": round(missing / with_vid, 4) if with_vid else None,
        "warn_threshold": thresholds.cid_gap_rate_warn,
        "min_calls": thresholds.cid_gap_min_calls,
        "groups_over_threshold": len(rows),
    }
    metadata = {k: v for k, v in metadata.items() if v is not None}
    if not rows:
        return Outcome(
            True,
            f"On {day} no dial-in group with {thresholds.cid_gap_min_calls}+ tracked calls missed "
            f"the Google client id on more than {_pct(thresholds.cid_gap_rate_warn)} of them.",
            "warn",
            metadata=metadata,
        )
    named = "; ".join(f"{_name(r[0], r[1])} {_pct(r[4])} ({r[3]}/{r[2]})" for r in rows[:3])
    return Outcome(
        passed=False,
        severity="warn",
        description=f"On {day}, {len(rows)} dial-in group(s) missed the Google client id on more "
        f"than {_pct(thresholds.cid_gap_rate_warn)} of calls with a visitor id: {named}. Check "
        "the tracking code on their pages.",
        metadata=metadata,
        table=(
            ["dgrp", "name", "calls with vid", "missing client id", "gap rate"],
            [(r[0], r[1], r[2], r[3], _pct(r[4])) for r in rows[:LISTED]],
        ),
    )
