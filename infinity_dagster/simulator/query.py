"""The Reports API query grammar: parse the parameters, then select one page of a route's rows.

Everything on the serving path is vectorised: numpy for the rowId window, visibility and the date
range, pyarrow.compute for filters and sorting, and a single ``take`` of the page's rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .formats import ENCODED_PREFIX, format_datetimes
from .installation import ACTIVE, RouteTable
from .schema import TRIGGER_ROUTES, FieldSpec, is_custom, one_chunk

MAX_LIMIT = 50_000
FORMATS = ("json", "jsonarray", "csv")
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "begins", "nbegins", "inc", "ninc", "in", "nin")
NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_ARRAY_KEY = re.compile(r"^(display|sort|filter|igrp)(\[\d*\])?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPARE = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}
# Extra narrowing parameters, applied as equality filters when the route has the field.
_NARROWING = {"chType": "chType", "segment": "segment", "rootOrgId": "orgId"}


class QueryError(Exception):
    """A bad request: answered as a bare JSON string with `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: str


@dataclass
class Query:
    """A parsed request: what to select, in which order, and how to write it."""

    display: list[tuple[str, str]] | None = None  # (field, output name)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    filters: list[Filter] = field(default_factory=list)
    limit: int = MAX_LIMIT
    offset: int = 0
    start: date | None = None
    end: date | None = None
    tz: str = "UTC"
    fmt: str = "json"
    igrps: list[str] = field(default_factory=list)


def split_params(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Group repeated PHP-style keys (``display[]``, ``display[0]``, ``display``) by name."""
    out: dict[str, list[str]] = {}
    for key, value in params:
        m = _ARRAY_KEY.match(key)
        name = m.group(1) if m else key
        out.setdefault(name, []).append(value)
    return out


def parse_query(
    params: Sequence[tuple[str, str]],
    fields: Mapping[str, FieldSpec],
    over_limit: str = "reject",
) -> Query:
    """Validate a request's parameters against a route's fields."""
    p = split_params(params)
    q = Query(igrps=p.get("igrp", []))

    fmt = _last(p, "format") or "json"
    if fmt not in FORMATS:
        raise QueryError(f"Unsupported format: {fmt}")
    q.fmt = fmt

    tz = _last(p, "tz") or "UTC"
    q.tz = validate_tz(tz)

    if "display" in p:
        q.display = []
        for item in p["display"]:
            name, _, alias = item.partition("-")
            if name not in fields and not is_custom(name):
                raise QueryError(f"Invalid display field: {name}")
            q.display.append((name, alias or name))
    if q.fmt == "csv" and not q.display:
        raise QueryError("display[] is required for format=csv")

    for item in p.get("sort", []):
        name, _, direction = item.rpartition("-")
        if not name:
            name, direction = direction, "asc"
        if is_custom(name):
            raise QueryError(f"Custom fields cannot be sorted: {name}")
        if name not in fields:
            raise QueryError(f"Invalid sort field: {name}")
        if direction not in ("asc", "desc"):
            raise QueryError(f"Invalid sort direction: {direction}")
        q.sort.append((name, direction == "desc"))

    for item in p.get("filter", []):
        parts = item.split("-", 3)
        if len(parts) < 4 or parts[2] != "value":
            raise QueryError(f"Invalid filter: {item}")
        name, op, _, value = parts
        if is_custom(name):
            raise QueryError(f"Custom fields cannot be filtered: {name}")
        if name not in fields:
            raise QueryError(f"Invalid filter field: {name}")
        if op not in OPERATORS:
            raise QueryError(f"Invalid filter operator: {op}")
        q.filters.append(Filter(name, op, value))
    for param, name in _NARROWING.items():
        value = _last(p, param)
        if value not in (None, "") and name in fields:
            q.filters.append(Filter(name, "eq", value))

    limit = _last(p, "limit")
    if limit not in (None, ""):
        if not limit.isdigit():
            raise QueryError(f"Invalid limit: {limit}")
        q.limit = int(limit)
        if q.limit > MAX_LIMIT:
            if over_limit != "truncate":
                raise QueryError(f"limit must not exceed {MAX_LIMIT}")
            q.limit = MAX_LIMIT
    offset = _last(p, "offset")
    if offset not in (None, ""):
        if not offset.isdigit():
            raise QueryError(f"Invalid offset: {offset}")
        q.offset = int(offset)
    q.start = _date(p, "startDate")
    q.end = _date(p, "endDate")
    return q


def _last(p: dict[str, list[str]], key: str) -> str | None:
    values = p.get(key)
    return values[-1] if values else None


def _date(p: dict[str, list[str]], key: str) -> date | None:
    value = _last(p, key)
    if value in (None, ""):
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"Invalid {key}: {value}") from None


@functools.lru_cache(maxsize=256)
def validate_tz(tz: str) -> str:
    """The IANA zone name, or a 400 (the zone must be known to zoneinfo and to Arrow)."""
    if tz == "UTC":
        return tz
    try:
        ZoneInfo(tz)
        probe = pa.array([0], pa.timestamp("us", tz=tz))
        pc.local_timestamp(probe)
    except (ZoneInfoNotFoundError, ValueError, OSError, pa.ArrowException):
        raise QueryError(f"Invalid timezone: {tz}") from None
    return tz


def local_day_bounds_us(day: date, tz: str) -> int:
    """Microseconds since the epoch (UTC) of local midnight starting `day` in `tz`."""
    zone = UTC if tz == "UTC" else ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return int(start.astimezone(UTC).timestamp()) * 1_000_000


# ---------------------------------------------------------------------------------------------
# Selecting a page
# ---------------------------------------------------------------------------------------------


@dataclass
class Page:
    """The rows of one response, typed, with the output columns to write."""

    table: pa.Table
    columns: list[tuple[str, str]]  # (field, output name), in output order
    fields: Mapping[str, FieldSpec]
    wire_masks: Mapping[str, str]
    specials: Mapping[str, frozenset[str]]
    tz: str

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


def select(q: Query, rt: RouteTable, visible_until_us: int | None) -> Page:
    """Apply visibility, the rowId window, date range, filters, sort, offset and limit."""
    lo, hi = 0, rt.num_rows
    mask: np.ndarray | None = None
    filters = list(q.filters)

    if rt.inserted is not None and visible_until_us is not None:
        if rt.inserted_sorted:
            hi = int(np.searchsorted(rt.inserted, visible_until_us, side="right"))
        else:
            mask = rt.inserted <= visible_until_us

    if rt.row_ids is not None:
        lo, hi, filters = _row_id_window(rt.row_ids, lo, hi, filters)
    if mask is not None:
        mask = mask[lo:hi]
    window = rt.table.slice(lo, max(hi - lo, 0))
    n = window.num_rows

    def narrow(more: np.ndarray) -> None:
        nonlocal mask
        mask = more if mask is None else (mask & more)

    if rt.triggers is not None and (q.start or q.end) and n:
        trig = rt.triggers[lo:hi]
        if q.start:
            narrow(trig >= local_day_bounds_us(q.start, q.tz))
        if q.end:
            narrow(trig < local_day_bounds_us(q.end + timedelta(days=1), q.tz))
        narrow(trig != np.iinfo(np.int64).min)
    if ACTIVE in window.column_names and n:
        narrow(_np_bool(window.column(ACTIVE)))
    for f in filters:
        if n:
            narrow(_filter_mask(window.column(f.field), rt.fields[f.field], f, q.tz))

    indices = np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask)
    indices = _sorted(indices, q.sort, window, rt)
    indices = indices[q.offset : q.offset + q.limit]

    columns = q.display or [(name, name) for name in rt.fields]
    needed = [c for c, _ in columns if c in rt.fields]
    needed += [rt.wire_masks[c] for c in needed if c in rt.wire_masks]
    needed = list(dict.fromkeys(needed))
    selected = window.select(needed)
    for name in dict.fromkeys(c for c, _ in columns):
        spec = rt.fields.get(name)
        encoded = rt.encoded(name, q.fmt) if spec is not None and spec.kind == "str" else None
        if encoded is not None:
            selected = selected.append_column(ENCODED_PREFIX + name, encoded.slice(lo, n))
    page = selected.take(pa.array(indices, pa.int64()))
    if any(c.num_chunks != 1 for c in page.columns):
        page = page.combine_chunks()  # at most one page of rows
    return Page(page, columns, rt.fields, rt.wire_masks, rt.specials, q.tz)


def _row_id_window(
    row_ids: np.ndarray, lo: int, hi: int, filters: list[Filter]
) -> tuple[int, int, list[Filter]]:
    """Turn numeric rowId comparisons into a slice of the rowId-sorted table."""
    rest: list[Filter] = []
    for f in filters:
        if (
            f.field != "rowId"
            or f.op not in ("gt", "ge", "lt", "le", "eq")
            or not NUMERIC.match(f.value)
        ):
            rest.append(f)
            continue
        v = float(f.value)
        if f.op in ("gt", "ge", "eq"):
            side = "right" if f.op == "gt" else "left"
            lo = max(lo, int(np.searchsorted(row_ids, v, side=side)))
        if f.op in ("lt", "le", "eq"):
            side = "left" if f.op == "lt" else "right"
            hi = min(hi, int(np.searchsorted(row_ids, v, side=side)))
    return lo, max(lo, hi), rest


def _sorted(
    indices: np.ndarray, sort: list[tuple[str, bool]], window: pa.Table, rt: RouteTable
) -> np.ndarray:
    if not sort or not len(indices):
        return indices
    if rt.name in TRIGGER_ROUTES and sort[0][0] == "rowId":
        # rowIds are unique and the table is in rowId order: later keys cannot matter.
        return indices[::-1] if sort[0][1] else indices
    take = pa.array(indices, pa.int64())
    keys = {}
    sort_keys = []
    for i, (name, desc) in enumerate(sort):
        keys[f"k{i}"] = window.column(name).take(take)
        # Missing values sort as the empty string would: first ascending, last descending.
        if desc:
            sort_keys.append((f"k{i}", "descending", "at_end"))
        else:
            sort_keys.append((f"k{i}", "ascending", "at_start"))
    order = pc.sort_indices(pa.table(keys), sort_keys=sort_keys)
    return indices[np.asarray(order.to_numpy(), dtype=np.int64)]


def _np_bool(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_of(column: pa.ChunkedArray | pa.Array, spec: FieldSpec, tz: str) -> pa.Array:
    """A column as the text the API sends (ints as digits, missing as '', datetimes in tz)."""
    if spec.kind == "datetime":
        return format_datetimes(one_chunk(column), tz)
    if spec.kind == "int":
        return pc.fill_null(pc.cast(column, pa.string()), "")
    return pc.fill_null(column, "")


def _text_compare(op: str, left: str, right: str) -> bool:
    return {
        "eq": left == right,
        "ne": left != right,
        "lt": left < right,
        "le": left <= right,
        "gt": left > right,
        "ge": left >= right,
    }[op]


def _filter_mask(column: pa.ChunkedArray, spec: FieldSpec, f: Filter, tz: str) -> np.ndarray:
    """Rows of `column` passing one filter: numeric when both sides are numbers, else text."""
    value = f.value
    numeric = bool(NUMERIC.match(value))
    op = f.op
    if op in _COMPARE:
        compare = _COMPARE[op]
        if numeric and spec.kind == "int":
            result = pc.fill_null(
                compare(column, pa.scalar(float(value))), _text_compare(op, "", value)
            )
        elif numeric and spec.kind == "str":
            is_num = pc.match_substring_regex(column, NUMERIC.pattern)
            nums = pc.cast(pc.if_else(is_num, column, pa.scalar(None, pa.string())), pa.float64())
            result = pc.if_else(
                is_num,
                pc.fill_null(compare(nums, pa.scalar(float(value))), False),
                compare(column, pa.scalar(value)),
            )
        else:
            result = compare(text_of(column, spec, tz), pa.scalar(value))
        return _np_bool(result)
    text = text_of(column, spec, tz)
    negate = op.startswith("n") and op != "ne"
    base = op[1:] if negate else op
    if base == "begins":
        result = pc.starts_with(text, pattern=value)
    elif base == "inc":
        result = pc.match_substring(text, pattern=value)
    else:  # in
        items = value.split(",")
        result = pc.is_in(text, value_set=pa.array(items, pa.string()))
        nums = [float(x) for x in items if NUMERIC.match(x)]
        if nums and spec.kind != "datetime":
            if spec.kind == "int":
                as_num = pc.cast(column, pa.float64())
            else:
                is_num = pc.match_substring_regex(column, NUMERIC.pattern)
                as_num = pc.cast(
                    pc.if_else(is_num, column, pa.scalar(None, pa.string())), pa.float64()
                )
            hit = pc.fill_null(pc.is_in(as_num, value_set=pa.array(nums, pa.float64())), False)
            result = pc.or_(result, hit)
    mask = _np_bool(result)
    return ~mask if negate else mask
