"""Which API request pulls exactly one partition's day.

A partition is a local day in INFINITY_TIMEZONE. Usually the API is asked for that day in that zone
(`startDate=endDate=day`, `tz=zone`), and its local wall times convert to UTC unambiguously. On a
fall-back day (25 hours) one hour of wall times happens twice and the API sends no offset, so a
wall time cannot say which instant it was. On those days only, the client asks for the UTC dates
that cover the local day with `tz=UTC` and keeps the rows inside the day's UTC bounds: exact
instants, at the cost of one extra UTC day of rows twice a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class DayWindow:
    day: date
    timezone: str
    utc_start: datetime  # the local day's first instant, in UTC
    utc_end: datetime  # the next local day's first instant, in UTC (exclusive)
    request_tz: str
    start_date: date
    end_date: date

    @property
    def hours(self) -> float:
        return (self.utc_end - self.utc_start).total_seconds() / 3600

    @property
    def trims(self) -> bool:
        """True when the request covers more than the day and rows must be trimmed to it."""
        return self.request_tz != self.timezone

    def trim(self, table: pa.Table) -> pa.Table:
        """Keep only the rows of this day (a no-op unless the request was widened)."""
        if not self.trims or table.num_rows == 0:
            return table
        when = table.column("triggerDatetime")
        start = pa.scalar(self.utc_start, when.type)
        end = pa.scalar(self.utc_end, when.type)
        return table.filter(pc.and_(pc.greater_equal(when, start), pc.less(when, end)))


def day_window(day: date, timezone: str) -> DayWindow:
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    has_repeated_hour = _has_repeated_wall_time(day, zone)
    if has_repeated_hour:
        return DayWindow(
            day, timezone, start, end, "UTC", start.date(), (end - timedelta(microseconds=1)).date()
        )
    return DayWindow(day, timezone, start, end, timezone, day, day)


def _has_repeated_wall_time(day: date, zone: ZoneInfo) -> bool:
    """True when the zone's UTC offset drops during the day (clocks go back)."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return (end.utcoffset() or timedelta()) < (start.utcoffset() or timedelta())
