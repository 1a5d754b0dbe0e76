"""The Infinity query grammar: display[], sort[], filter[] and the other parameters, as URL pairs.

Arrays are repeated PHP-style keys, order kept. httpx percent-encodes each value, so a filter value
with dashes, spaces, commas or '&' travels intact (the server splits on the first three dashes
only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

MAX_PAGE_ROWS = 50_000
FILTER_OPERATORS = frozenset(
    {"eq", "ne", "lt", "le", "gt", "ge", "begins", "nbegins", "inc", "ninc", "in", "nin"}
)


def filter_expr(field_name: str, op: str, value: object) -> str:
    """One filter[] value: ``field-op-value-X``. X may hold dashes and spaces."""
    if op not in FILTER_OPERATORS:
        raise ValueError(f"unknown filter operator {op!r}; use one of {sorted(FILTER_OPERATORS)}")
    if not field_name or "-" in field_name:
        raise ValueError(f"invalid filter field {field_name!r}: a field name has no dashes")
    return f"{field_name}-{op}-value-{value}"


def display_expr(field_name: str, alias: str | None = None) -> str:
    """One display[] value, optionally renaming the column (``vid-visitorId``)."""
    return f"{field_name}-{alias}" if alias else field_name


@dataclass(frozen=True)
class Query:
    display: Sequence[str] = ()
    sort: Sequence[str] = ()
    filters: Sequence[str] = ()
    limit: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    tz: str | None = None
    wire_format: str = "csv"
    extra: Sequence[tuple[str, str]] = field(default=())

    def params(self) -> list[tuple[str, str]]:
        if self.limit is not None and not 0 < self.limit <= MAX_PAGE_ROWS:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_ROWS}, got {self.limit}")
        pairs: list[tuple[str, str]] = [("format", self.wire_format)]
        pairs += _repeat("display[]", self.display)
        pairs += _repeat("sort[]", self.sort)
        pairs += _repeat("filter[]", self.filters)
        if self.start_date is not None:
            pairs.append(("startDate", self.start_date.isoformat()))
        if self.end_date is not None:
            pairs.append(("endDate", self.end_date.isoformat()))
        if self.tz:
            pairs.append(("tz", self.tz))
        if self.limit is not None:
            pairs.append(("limit", str(self.limit)))
        pairs += list(self.extra)
        return pairs


def _repeat(key: str, values: Iterable[str]) -> list[tuple[str, str]]:
    return [(key, v) for v in values]
