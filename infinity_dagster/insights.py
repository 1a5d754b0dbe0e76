"""What a day looked like, for the metadata the UI shows: a Markdown preview and a 30-day trend.

Both read the model tables (`call_states`, `call_fail_rates`, `cid_capture_gaps`), so they agree
with what users query. The DuckDB models asset reads them from the built file (read-only); the
`calls` asset builds them in memory over only the last 30 days' Parquet files, so a day's preview
costs the same however long the history is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from .storage import partition_file
from .warehouse import MODEL_FOUNDATIONS, build_models

TREND_DAYS = 30
TOP = 5
# The models a preview reads, in build order (the others read reports a preview does not load).
PREVIEW_MODELS = (*MODEL_FOUNDATIONS, "call_states", "call_fail_rates", "cid_capture_gaps")


@dataclass(frozen=True)
class TrendDay:
    day: date
    calls: int
    failed_calls: int
    fail_rate: float | None  # None: no calls that day
    calls_with_vid: int
    missing_cid_calls: int
    gap_rate: float | None  # None: no call with a visitor id that day


TREND_SQL = """
WITH days AS (
    SELECT CAST(unnest(generate_series(CAST($first AS DATE), CAST($last AS DATE),
                                       INTERVAL 1 DAY)) AS DATE) AS date
),
f AS (
    SELECT date, sum(total_calls) AS calls, sum(failed_calls) AS failed
    FROM call_fail_rates WHERE date BETWEEN $first AND $last GROUP BY date
),
g AS (
    SELECT date, sum(calls_with_vid) AS with_vid, sum(missing_cid_calls) AS missing
    FROM cid_capture_gaps WHERE date BETWEEN $first AND $last GROUP BY date
)
SELECT days.date, coalesce(f.calls, 0), coalesce(f.failed, 0),
       CAST(f.failed AS DOUBLE) / nullif(f.calls, 0),
       coalesce(g.with_vid, 0), coalesce(g.missing, 0),
       CAST(g.missing AS DOUBLE) / nullif(g.with_vid, 0)
FROM days LEFT JOIN f USING (date) LEFT JOIN g USING (date)
ORDER BY days.date
"""


def trend(con: duckdb.DuckDBPyConnection, last: date, days: int = TREND_DAYS) -> list[TrendDay]:
    """One row per day of the `days` days ending on `last`, all dial-in groups together."""
    first = last - timedelta(days=days - 1)
    rows = con.execute(TREND_SQL, {"first": first, "last": last}).fetchall()
    return [TrendDay(*row) for row in rows]


def latest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    return con.execute("SELECT max(date) FROM call_fail_rates").fetchone()[0]


TOP_STATES_SQL = """
SELECT call_state, category, sum(calls) AS calls, sum(calls) / sum(sum(calls)) OVER () AS share
FROM call_states WHERE date = ? GROUP BY ALL ORDER BY calls DESC, call_state LIMIT ?
"""

TOP_FAILING_SQL = """
WITH dominant AS (
    SELECT dgrp, arg_max(call_state, calls) AS state
    FROM call_states WHERE date = $day AND is_failure GROUP BY dgrp
)
SELECT coalesce(f.dgrp_name, CAST(f.dgrp AS VARCHAR)), f.total_calls, f.failed_calls,
       f.fail_rate, d.state
FROM call_fail_rates f LEFT JOIN dominant d USING (dgrp)
WHERE f.date = $day AND f.failed_calls > 0
ORDER BY f.failed_calls DESC, f.dgrp LIMIT $top
"""


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f} %"


def _cell(value: object) -> str:
    return ("" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def day_preview(con: duckdb.DuckDBPyConnection, day: date, top: int = TOP) -> str:
    """Markdown: the day's totals, its most frequent call states, its most failing groups.

    Kept under the 1,000 characters the Dagster UI shows in place (fewer rows if need be)."""
    text = _day_preview(con, day, top)
    return text if len(text) < 1000 or top <= 2 else day_preview(con, day, top - 1)


def _day_preview(con: duckdb.DuckDBPyConnection, day: date, top: int) -> str:
    (today,) = trend(con, day, days=1)
    lines = [
        f"**{day}**: {today.calls:,} calls, {today.failed_calls:,} failed "
        f"({_pct(today.fail_rate)}); {today.missing_cid_calls:,} of {today.calls_with_vid:,} "
        f"calls with a visitor id had no Google client id ({_pct(today.gap_rate)}).",
        "",
        "**Top call states**",
        "",
    ]
    states = con.execute(TOP_STATES_SQL, [day, top]).fetchall()
    lines += _table(
        ["call state", "category", "calls", "share"],
        [(s or "(blank)", c, f"{n:,}", _pct(share)) for s, c, n, share in states],
    )
    failing = con.execute(TOP_FAILING_SQL, {"day": day, "top": top}).fetchall()
    lines += ["", "**Dial-in groups with the most failed calls**", ""]
    lines += _table(
        ["dial-in group", "calls", "failed", "fail rate", "dominant failing state"],
        [(g, f"{n:,}", f"{f:,}", _pct(r), s) for g, n, f, r, s in failing],
    )
    return "\n".join(lines)


def recent_models(
    raw_dir: Path,
    report_key: str,
    last: date,
    *,
    cid_field: str,
    call_state_mapping: Path | None,
    days: int = TREND_DAYS,
) -> duckdb.DuckDBPyConnection | None:
    """An in-memory database with the models over the `days` days' files ending on `last`.

    None when none of those days has a file. The caller closes the connection.
    """
    window = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    files = [p for p in (partition_file(raw_dir, report_key, d) for d in window) if p.exists()]
    if not files:
        return None
    con = duckdb.connect()
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    con.execute(
        f"CREATE VIEW {report_key} AS SELECT * FROM read_parquet([{listed}], "
        "hive_partitioning = true, hive_types = {'date': DATE})"
    )
    build_models(con, call_state_mapping, cid_field=cid_field, models=PREVIEW_MODELS)
    return con
