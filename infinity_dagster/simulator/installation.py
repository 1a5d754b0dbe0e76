"""What one simulated Infinity installation holds: a typed Arrow table per route.

Trigger routes (calls, goals) are kept sorted by rowId, with a hidden ``insertedAt`` column saying
when each row became visible. Tables are immutable; adding rows swaps in a new table, so a request
in flight keeps reading the snapshot it started with.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import (
    ARROW,
    DEFAULT_ORDER,
    ROUTE_FIELDS,
    ROUTES,
    TIMESTAMP,
    TRIGGER_ROUTES,
    FieldSpec,
    Kind,
    one_chunk,
)

INSERTED = "insertedAt"
ACTIVE = "active"
WIRE_MASK_PREFIX = "__wire__"
NULL_TIME = np.iinfo(np.int64).min
# add_rows appends chunks; a table is compacted into one chunk per column beyond this many.
MAX_CHUNKS = 32
ZERO_DATETIMES = frozenset({"", "0000-00-00 00:00:00", "0000-00-00"})
_INT_TEXT = re.compile(r"^-?\d+$")


@dataclass
class RouteTable:
    """One route's rows (typed; few chunks) with the lookups the query engine needs."""

    name: str
    table: pa.Table
    fields: dict[str, FieldSpec]
    wire_masks: dict[str, str] = field(default_factory=dict)
    specials: dict[str, frozenset[str]] = field(default_factory=dict)
    row_ids: np.ndarray | None = None
    inserted: np.ndarray | None = None
    inserted_sorted: bool = True
    triggers: np.ndarray | None = None
    _encoded: dict[tuple[str, str], pa.Array] = field(default_factory=dict, repr=False)
    _encode_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def encoded(self, name: str, fmt: str) -> pa.Array | None:
        """A text column already JSON-escaped (fmt 'json') or CSV-quoted ('csv'), computed once
        for the whole table; None when no value of the column needs it."""
        from .formats import csv_quote, json_escape, json_specials, needs_csv_quoting

        specials = self.specials.get(name, frozenset())
        if fmt == "csv" and not needs_csv_quoting(specials):
            return None
        if fmt != "csv" and not json_specials(specials):
            return None
        key = (name, "csv" if fmt == "csv" else "json")
        cached = self._encoded.get(key)
        if cached is None:
            with self._encode_lock:
                cached = self._encoded.get(key)
                if cached is None:
                    column = one_chunk(self.table.column(name))
                    if key[1] == "csv":
                        cached = csv_quote(column)
                    else:
                        cached = json_escape(column, json_specials(specials))
                    self._encoded[key] = cached
        return cached

    @classmethod
    def build(
        cls,
        name: str,
        table: pa.Table,
        fields: Sequence[FieldSpec],
        wire_masks: Mapping[str, str] | None = None,
        specials: Mapping[str, frozenset[str]] | None = None,
    ) -> RouteTable:
        """Sort, compact and index a route table (`specials`: already known per text column)."""
        if name in TRIGGER_ROUTES:
            ids = _np_int(table.column("rowId"), NULL_TIME)
            if len(ids) and np.any(np.diff(ids) < 0):
                table = table.sort_by([("rowId", "ascending")])
        elif name in DEFAULT_ORDER:
            keys = [(k, "ascending") for k in DEFAULT_ORDER[name] if k in table.column_names]
            table = table.sort_by(keys) if keys else table
        if any(c.num_chunks > MAX_CHUNKS or c.num_chunks == 0 for c in table.columns):
            table = table.combine_chunks()
        rt = cls(name, table, {f.name: f for f in fields}, dict(wire_masks or {}))
        known = specials or {}
        rt.specials = {
            f.name: known[f.name] if f.name in known else _specials(table.column(f.name))
            for f in fields
            if f.kind == "str"
        }
        if name in TRIGGER_ROUTES:
            rt.row_ids = _np_int(table.column("rowId"), NULL_TIME)
            if len(rt.row_ids) and np.any(np.diff(rt.row_ids) <= 0):
                raise ValueError(f"{name}: rowId values must be unique")
            rt.inserted = _np_int(table.column(INSERTED), NULL_TIME)
            rt.inserted_sorted = bool(np.all(np.diff(rt.inserted) >= 0))
            rt.triggers = _np_int(table.column("triggerDatetime"), NULL_TIME)
        return rt

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def served(self) -> pa.Table:
        """The rows this route can answer, with the fields it serves (plus insertedAt)."""
        table = self.table
        if ACTIVE in table.column_names:
            table = table.filter(table.column(ACTIVE))
        keep = list(self.fields)
        if INSERTED in table.column_names:
            keep.append(INSERTED)
        return table.select(keep)


def _np_int(column: pa.ChunkedArray | pa.Array, null: int) -> np.ndarray:
    arr = column.cast(pa.int64()) if not pa.types.is_int64(column.type) else column
    return np.asarray(pc.fill_null(arr, null).to_numpy(), dtype=np.int64)


def _specials(column: pa.ChunkedArray) -> frozenset[str]:
    """Characters needing a JSON escape or CSV quoting that occur somewhere in a text column.

    Scans the string data buffers as bytes (these characters are all ASCII).
    """
    found: set[int] = set()
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(
            chunk.buffers()[1], dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4
        )
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        hits = (data < 0x20) | (data == 0x22) | (data == 0x2C) | (data == 0x5C)
        if hits.any():
            found.update(int(b) for b in np.unique(data[hits]))
    return frozenset(chr(b) for b in found)


# ---------------------------------------------------------------------------------------------
# Rows given as dicts (tests, add_rows) -> typed columns
# ---------------------------------------------------------------------------------------------


def parse_utc(value: Any) -> datetime | None:
    """A wire datetime ('YYYY-MM-DD HH:MM:SS', UTC) or datetime as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    if text in ZERO_DATETIMES:
        return None
    fmt = "%Y-%m-%d %H:%M:%S" if len(text) > 10 else "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def _to_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _typed(route: str, name: str, kind: Kind, values: list[Any]) -> tuple[pa.Array, list[bool]]:
    """Typed Arrow values and, per value, whether it was given as a number (wire: num)."""
    out: list[Any] = []
    is_num: list[bool] = []
    for v in values:
        if kind == "datetime":
            out.append(_to_us(parse_utc(v)))
            is_num.append(False)
        elif kind == "int":
            if v is None or v == "":
                out.append(None)
                is_num.append(False)
            elif isinstance(v, bool | int):
                out.append(int(v))
                is_num.append(True)
            elif isinstance(v, str) and _INT_TEXT.match(v.strip()):
                out.append(int(v))
                is_num.append(False)
            else:
                raise ValueError(f"{route}.{name}: {v!r} is not an integer")
        else:
            if v is None:
                out.append("")
                is_num.append(False)
            elif isinstance(v, str):
                out.append(v)
                is_num.append(False)
            elif isinstance(v, bool):  # flags travel as 1/0
                out.append("1" if v else "0")
                is_num.append(True)
            elif isinstance(v, int | float):
                out.append(str(v))
                is_num.append(True)
            else:
                raise ValueError(f"{route}.{name}: {v!r} is neither text nor a number")
    arr = pa.array(out, pa.int64()) if kind != "str" else pa.array(out, pa.string())
    if kind == "datetime":
        arr = arr.cast(TIMESTAMP)
    return arr, is_num


def _field_kind(spec: FieldSpec | None, values: list[Any]) -> Kind:
    if spec is not None:
        return spec.kind
    given = [v for v in values if v is not None and v != ""]
    if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        return "int"
    return "str"


@dataclass
class DictColumns:
    """Columns parsed from row dicts, before rowIds and sorting."""

    table: pa.Table
    fields: list[FieldSpec]
    masks: dict[str, pa.Array]


def columns_from_dicts(
    route: str,
    rows: Sequence[Mapping[str, Any]],
    base: Sequence[FieldSpec],
    default_inserted: datetime | None = None,
    igrp: int | None = None,
) -> DictColumns:
    """Typed columns for `route` from wire-style row dicts (hidden columns included).

    A row without an ``igrp`` key gets `igrp`.
    """
    if igrp is not None and any(f.name == "igrp" for f in base):
        rows = [r if "igrp" in r else {**r, "igrp": str(igrp)} for r in rows]
    default_inserted = parse_utc(default_inserted)
    base_names = {f.name: f for f in base}
    names: list[str] = [f.name for f in base]
    for r in rows:
        for k in r:
            if k not in base_names and k not in names and k not in (INSERTED, ACTIVE):
                names.append(k)
    columns: dict[str, pa.Array] = {}
    fields: list[FieldSpec] = []
    masks: dict[str, pa.Array] = {}
    for name in names:
        spec = base_names.get(name)
        values = [r.get(name) for r in rows]
        kind = _field_kind(spec, values)
        arr, is_num = _typed(route, name, kind, values)
        given = [flag for v, flag in zip(values, is_num, strict=True) if v not in (None, "")]
        wire = spec.wire if spec is not None else "str"
        if given and all(given):
            wire = "num"
        elif given and not any(given):
            wire = "str"
        elif given:
            masks[name] = pa.array(is_num, pa.bool_())
        columns[name] = arr
        fields.append(FieldSpec(name, kind, wire))
    if route in TRIGGER_ROUTES:
        trig = columns["triggerDatetime"].to_pylist()
        inserted = []
        for r, t in zip(rows, trig, strict=True):
            when = parse_utc(r.get(INSERTED))
            if when is None:
                when = t
                if default_inserted is not None and (when is None or when < default_inserted):
                    when = default_inserted
            inserted.append(when)
        if any(v is None for v in inserted):
            raise ValueError(f"{route}: a row without triggerDatetime needs insertedAt")
        columns[INSERTED] = pa.array(inserted, TIMESTAMP)
    if route == "organisations":
        columns[ACTIVE] = pa.array([bool(r.get(ACTIVE, True)) for r in rows], pa.bool_())
    return DictColumns(pa.table(columns), fields, masks)


def assign_row_ids(table: pa.Table, rng: np.random.Generator, start_above: int) -> pa.Table:
    """Fill missing rowIds: increasing in insertedAt order above `start_above`, with gaps."""
    row_ids = table.column("rowId")
    missing = np.asarray(pc.is_null(row_ids).to_numpy(zero_copy_only=False))
    if not missing.any():
        return table
    given = pc.max(row_ids).as_py()
    floor = max(start_above, given or 0)
    inserted = _np_int(table.column(INSERTED), NULL_TIME)
    idx = np.flatnonzero(missing)
    order = idx[np.argsort(inserted[idx], kind="stable")]
    gaps = rng.integers(1, 40, size=len(order))
    ids = np.asarray(row_ids.to_numpy(zero_copy_only=False), dtype=object)
    ids[order] = floor + np.cumsum(gaps)
    new = pa.array(ids.tolist(), pa.int64())
    return table.set_column(table.column_names.index("rowId"), "rowId", new)


def merge(
    route: str, old: RouteTable | None, new: DictColumns
) -> tuple[pa.Table, list[FieldSpec], dict[str, str]]:
    """Concatenate an existing route table and new dict rows, reconciling fields and wire kinds.

    A field whose non-empty values were all given as numbers travels as numbers, all as text as
    text; a mix keeps a hidden per-row mask column.
    """
    old_fields = {} if old is None else dict(old.fields)
    new_fields = {f.name: f for f in new.fields}
    names = list(old_fields) + [n for n in new_fields if n not in old_fields]
    n_old = 0 if old is None else old.num_rows
    n_new = new.table.num_rows
    fields: list[FieldSpec] = []
    masks: dict[str, str] = {}
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in names:
        o, n = old_fields.get(name), new_fields.get(name)
        spec = o or n
        assert spec is not None
        if o is not None and n is not None and o.kind != n.kind:
            raise ValueError(f"{route}.{name}: cannot mix {o.kind} and {n.kind} values")
        typ = ARROW[spec.kind]
        column = _concat(old, new.table, name, typ)
        new_flags = _new_flags(new, n, n_new)
        new_given = new_flags[_present(column.slice(n_old))]
        old_masked = old is not None and name in old.wire_masks
        if o is None or n_old == 0:
            old_given = np.zeros(0, dtype=bool)  # nothing given before
        elif old_masked:
            old_given = np.array([True, False])  # already mixed
        else:
            old_given = np.array([o.wire == "num"])  # as the field travelled so far
        given = np.concatenate([old_given, new_given])
        wire = spec.wire
        if len(given) and given.all():
            wire = "num"
        elif len(given) and not given.any():
            wire = "str"
        elif len(given):
            masks[name] = WIRE_MASK_PREFIX + name
        fields.append(FieldSpec(name, spec.kind, wire))
        cols[name] = column
        if name in masks:
            flags = np.concatenate([_old_flags(old, o, n_old), new_flags])
            cols[masks[name]] = pa.array(flags, pa.bool_())
    for hidden in (INSERTED, ACTIVE):
        if hidden in new.table.column_names:
            cols[hidden] = _concat(old, new.table, hidden, new.table.schema.field(hidden).type)
    return pa.table(cols), fields, masks


def _concat(old: RouteTable | None, new: pa.Table, name: str, typ: pa.DataType) -> pa.ChunkedArray:
    """Old and new values of a column, as chunks (no copy; build() compacts now and then)."""
    parts = [] if old is None else [_column_or_empty(old.table, name, typ)]
    parts.append(_column_or_empty(new, name, typ))
    return pa.chunked_array(
        [c for p in parts for c in p.chunks if len(c)] or [pa.array([], typ)], typ
    )


def _old_flags(rt: RouteTable | None, spec: FieldSpec | None, n: int) -> np.ndarray:
    """Per existing row: was the value sent as a JSON number."""
    if rt is None or spec is None:
        return np.zeros(n, dtype=bool)
    if spec.name in rt.wire_masks:
        column = rt.table.column(rt.wire_masks[spec.name])
        return np.asarray(column.to_numpy(), dtype=bool)
    return np.full(n, spec.wire == "num")


def _new_flags(new: DictColumns, spec: FieldSpec | None, n: int) -> np.ndarray:
    if spec is None:
        return np.zeros(n, dtype=bool)
    if spec.name in new.masks:
        return np.asarray(new.masks[spec.name].to_numpy(zero_copy_only=False), dtype=bool)
    return np.full(n, spec.wire == "num")


def _present(column: pa.Array) -> np.ndarray:
    """Rows holding a value (not null, not the empty string)."""
    mask = pc.is_valid(column)
    if pa.types.is_string(column.type):
        mask = pc.and_(mask, pc.not_equal(column, ""))
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _column_or_empty(table: pa.Table, name: str, typ: pa.DataType) -> pa.ChunkedArray:
    if name in table.column_names:
        return table.column(name)
    if pa.types.is_string(typ):
        return pa.chunked_array([pa.array([""] * table.num_rows, typ)], typ)
    return pa.chunked_array([pa.nulls(table.num_rows, typ)], typ)


# ---------------------------------------------------------------------------------------------
# The installation
# ---------------------------------------------------------------------------------------------


class Installation:
    """One Infinity installation (igrp): a table per route, plus call recordings."""

    def __init__(
        self,
        igrp: int,
        routes: Mapping[str, RouteTable | Callable[[], RouteTable]],
        recordings: Mapping[int | str, bytes] | None = None,
        recording_seed: int | None = None,
        missing_recordings: Iterable[int] = (),
        tz: str = "UTC",
        seed: int = 0,
    ) -> None:
        self.igrp = int(igrp)
        self.tz = tz
        self._routes: dict[str, RouteTable] = {}
        self._lazy: dict[str, Callable[[], RouteTable]] = {}
        for name in ROUTES:
            given = routes.get(name)
            if given is None:
                self._routes[name] = _empty_route(name)
            elif isinstance(given, RouteTable):
                self._routes[name] = given
            else:
                self._lazy[name] = given
        self._recordings: dict[int | str, bytes] = dict(recordings or {})
        self._recording_seed = recording_seed
        self._missing = frozenset(int(r) for r in missing_recordings)
        self._rng = np.random.default_rng([self.igrp, seed, 1])
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v.num_rows}" for k, v in self._routes.items())
        counts += "".join(f", {k}=(not built yet)" for k in self._lazy)
        return f"Installation(igrp={self.igrp}, {counts})"

    # -- reading ------------------------------------------------------------------------------

    def route(self, name: str) -> RouteTable:
        """The current (immutable) table of a route (built now if it is built on first use)."""
        rt = self._routes.get(name)
        if rt is not None:
            return rt
        if name not in self._lazy:
            raise KeyError(f"unknown route {name!r}; one of {ROUTES}")
        with self._lock:
            if name in self._lazy:
                self._routes[name] = self._lazy.pop(name)()
        return self._routes[name]

    def rows(self, route: str) -> pa.Table:
        """What the server holds for a route, typed (rowId int64, datetimes UTC, text as sent).

        Trigger routes also carry ``insertedAt`` (when each row becomes visible). Organisations
        hold active ones only, as the route serves them.
        """
        return self.route(route).served()

    def recording(self, row_id: int, visible_until_us: int | None = None) -> bytes | None:
        """Audio bytes of a call's recording, or None when it has none (or is not visible)."""
        from .recordings import fake_mp3

        rt = self.route("calls")
        if rt.row_ids is None or not len(rt.row_ids):
            return None
        i = int(np.searchsorted(rt.row_ids, row_id))
        if i >= len(rt.row_ids) or rt.row_ids[i] != row_id:
            return None
        if visible_until_us is not None and rt.inserted[i] > visible_until_us:  # type: ignore[index]
            return None
        rec = rt.table.column("rec")[i].as_py() if "rec" in rt.fields else ""
        if not rec:
            return None
        if row_id in self._recordings:
            return self._recordings[row_id]
        if rec in self._recordings:
            return self._recordings[rec]
        if self._recording_seed is None or row_id in self._missing:
            return None
        seconds = rt.table.column("bridgeDuration")[i].as_py() or 1
        return fake_mp3(self._recording_seed, row_id, int(seconds))

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def from_rows(
        cls,
        igrp: int,
        calls: Sequence[Mapping[str, Any]] = (),
        goals: Sequence[Mapping[str, Any]] = (),
        dgrps: Sequence[Mapping[str, Any]] = (),
        numbers: Sequence[Mapping[str, Any]] = (),
        organisations: Sequence[Mapping[str, Any]] = (),
        recordings: Mapping[int | str, bytes] | None = None,
        tz: str = "UTC",
    ) -> Installation:
        """A hand-written installation. Row dicts use API field names and wire values.

        ``triggerDatetime`` is UTC ``YYYY-MM-DD HH:MM:SS``; optional ``insertedAt`` says when the
        row becomes visible (default: triggerDatetime). Missing rowIds are assigned in insertedAt
        order, starting in the millions, with gaps. Organisations may carry ``active`` (default
        true). ``recordings`` maps a rowId (or a ``rec`` reference) to audio bytes.
        """
        rng = np.random.default_rng([int(igrp), 0])
        given = {
            "calls": calls,
            "goals": goals,
            "dgrps": dgrps,
            "numbers": numbers,
            "organisations": organisations,
        }
        routes: dict[str, RouteTable] = {}
        for name, rows in given.items():
            cols = columns_from_dicts(name, list(rows), ROUTE_FIELDS[name], igrp=int(igrp))
            table, fields, masks = merge(name, None, cols)
            if name in TRIGGER_ROUTES:
                start = 3_000_000 + int(rng.integers(0, 1_000_000))
                table = assign_row_ids(table, rng, start)
            routes[name] = RouteTable.build(name, table, fields, masks)
        return cls(igrp, routes, recordings=recordings, tz=tz)

    def add_rows(
        self,
        route: str,
        rows: Sequence[Mapping[str, Any]],
        now: datetime | None = None,
        recordings: Mapping[int | str, bytes] | None = None,
    ) -> pa.Table:
        """New rows arrive; rowIds continue above the current maximum, with gaps.

        A row's ``insertedAt`` defaults to the later of its triggerDatetime and `now`.
        Returns the added rows as stored.
        """
        old = self.route(route)
        with self._lock:
            old = self._routes[route]
            base = list(old.fields.values())
            cols = columns_from_dicts(route, list(rows), base, now, igrp=self.igrp)
            new_table = cols.table
            if route in TRIGGER_ROUTES:
                top = int(old.row_ids.max()) if old.row_ids is not None and len(old.row_ids) else 0
                new_table = assign_row_ids(new_table, self._rng, max(top, 3_000_000))
                cols = DictColumns(new_table, cols.fields, cols.masks)
            table, fields, masks = merge(route, old, cols)
            specials = {
                f.name: old.specials.get(f.name, frozenset()) | _specials(new_table.column(f.name))
                for f in fields
                if f.kind == "str" and f.name in old.specials
            }
            self._routes[route] = RouteTable.build(route, table, fields, masks, specials)
            if recordings:
                self._recordings.update(recordings)
        if route in TRIGGER_ROUTES:
            ids = new_table.column("rowId")
            served = self._routes[route].served()
            return served.filter(pc.is_in(served.column("rowId"), value_set=ids.combine_chunks()))
        return new_table


def _empty_route(name: str) -> RouteTable:
    fields = ROUTE_FIELDS[name]
    cols: dict[str, pa.Array] = {f.name: pa.array([], ARROW[f.kind]) for f in fields}
    if name in TRIGGER_ROUTES:
        cols[INSERTED] = pa.array([], TIMESTAMP)
    if name == "organisations":
        cols[ACTIVE] = pa.array([], pa.bool_())
    return RouteTable.build(name, pa.table(cols), fields)
