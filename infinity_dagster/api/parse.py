"""Wire bodies (CSV or NDJSON) into Arrow tables typed by the report catalogue.

Everything is read as text first (so `01632 960123` keeps its 0 and `"145"` and `145` mean the
same), then cast column by column with vectorised Arrow kernels: no per-row Python on this path.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from ..reports import ARROW_TYPES, UTC_TIMESTAMP, Field
from .errors import InfinityDataError

# Arrow parses CSV blocks in parallel: 4 MiB blocks let a 15 MB page use every core (one 16 MiB
# block was parsed by one thread, about twice as slow on two cores).
CSV_BLOCK_BYTES = 1 << 22
_MISSING_DATETIME = "0000-00-00 00:00:00"
_MISSING_DATE = "0000-00-00"
_TRUE = ("1", "true", "True")
_FALSE = ("0", "false", "False")

# What Arrow's CSV reader converts each catalogue type to (wall times stay naive until `tz`).
_CSV_READ_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "float": pa.float64(),
}
# A bare JSON number, true or false in object-value position: `{"key":145,` or `, "key": true}`
# (with or without spaces). The quote after `{` or `,` cannot be an escaped one, so this never
# matches inside a string.
_BARE_SCALAR = re.compile(
    rb'([{,]\s*"[^"\\]+"\s*:\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false)(?=\s*[,}])'
)


def error_message(body: bytes) -> str | None:
    """The server's message when a body (or its first JSON line) is a bare JSON string."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b'"'):
        return None
    first_line = head.split(b"\n", 1)[0].strip()
    for candidate in (head.strip(), first_line):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, str):
            return value
    return None


def is_empty_jsonarray(body: bytes) -> bool:
    """`[]`, or the malformed `\\n]\\n` older servers sent, both mean no rows."""
    return body.strip() in (b"[]", b"]", b"")


def read_csv_text(body: bytes, columns: Sequence[str]) -> pa.Table:
    """A CSV body (header row first, RFC 4180, optional BOM, LF or CRLF) as all-string columns."""
    if not body.strip(b"\xef\xbb\xbf \r\n"):
        return _empty_text_table(columns)
    try:
        return pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InfinityDataError(f"The API sent CSV that cannot be read: {exc}") from exc


def read_csv(body: bytes, fields: Sequence[Field], tz: str) -> tuple[pa.Table, list[str]]:
    """A CSV body straight into the catalogue's types, in the catalogue's column order; also
    the column names the body had.

    The fast path lets Arrow's parallel CSV reader convert while it parses (blank and
    `0000-00-00...` values of non-text fields are nulls, flags are 1/0/true/false, text stays as
    sent). Anything it does not take (a missing field, a value that does not convert) goes the
    careful way, text first, which gives the same table or the precise error.
    """
    names = [f.name for f in fields]
    if body.strip(b"\xef\xbb\xbf \r\n"):
        try:
            table = _read_csv_typed(body, fields)
        except pa.ArrowInvalid:
            table = None
        if table is not None and set(names) <= set(table.column_names):
            return _localised(table.select(names), fields, tz), table.column_names
    text = read_csv_text(body, names)
    return to_catalogue_types(text, fields, tz), text.column_names


def _read_csv_typed(body: bytes, fields: Sequence[Field]) -> pa.Table:
    return pa_csv.read_csv(
        io.BytesIO(body),
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={f.name: _CSV_READ_TYPES[f.type] for f in fields},
            null_values=["", _MISSING_DATETIME, _MISSING_DATE],
            true_values=list(_TRUE),
            false_values=list(_FALSE),
            timestamp_parsers=["%Y-%m-%d %H:%M:%S"],
            strings_can_be_null=False,
            quoted_strings_can_be_null=True,
        ),
    )


def _localised(table: pa.Table, fields: Sequence[Field], tz: str) -> pa.Table:
    """Naive wall times read from the wire, as UTC instants (the API's `tz` gave their zone)."""
    columns = []
    for f, column in zip(fields, table.columns):
        if f.type == "timestamp":
            if tz != "UTC":
                column = pc.assume_timezone(
                    column, tz, ambiguous="earliest", nonexistent="earliest"
                )
            column = pc.cast(column, UTC_TIMESTAMP)
        columns.append(column)
    return pa.table(columns, schema=pa.schema([(f.name, _arrow_type(f)) for f in fields]))


def read_ndjson_text(body: bytes, columns: Sequence[str]) -> pa.Table:
    """An NDJSON body (one object per line, numbers as strings or numbers) as all-string columns."""
    if not body.strip():
        return _empty_text_table(columns)
    normalised = _BARE_SCALAR.sub(rb'\1"\2"', body)
    schema = pa.schema([(name, pa.string()) for name in columns])
    try:
        return pa_json.read_json(
            io.BytesIO(normalised),
            read_options=pa_json.ReadOptions(block_size=1 << 24),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InfinityDataError(f"The API sent JSON that cannot be read: {exc}") from exc


def read_jsonarray_text(body: bytes, columns: Sequence[str]) -> pa.Table:
    """A `jsonarray` body as all-string columns (small answers: snapshots)."""
    if is_empty_jsonarray(body):
        return _empty_text_table(columns)
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise InfinityDataError(f"The API sent a JSON array that cannot be read: {exc}") from exc
    lines = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    return read_ndjson_text(lines, columns)


def _empty_text_table(columns: Sequence[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in columns})


def to_catalogue_types(text: pa.Table, fields: Sequence[Field], tz: str) -> pa.Table:
    """Cast an all-text table to the catalogue's Arrow types, in the catalogue's column order.

    Blank values of non-text fields and `0000-00-00...` dates become null; text stays as sent.
    A field the API did not send is an error; columns the catalogue does not know are dropped.
    """
    missing = [f.name for f in fields if f.name not in text.column_names]
    if missing and text.num_rows:
        raise InfinityDataError(
            f"The API answer lacks the field(s) {', '.join(missing)}: check the report's "
            "display fields (the field may be named differently on this account)."
        )
    columns = []
    for f in fields:
        if f.name not in text.column_names:
            columns.append(pa.nulls(text.num_rows, _arrow_type(f)))
            continue
        column = text.column(f.name)
        if column.type != pa.string():
            column = pc.cast(column, pa.string())
        columns.append(_cast(column, f, tz))
    return pa.table(columns, schema=pa.schema([(f.name, _arrow_type(f)) for f in fields]))


def _arrow_type(f: Field) -> pa.DataType:
    return ARROW_TYPES[f.type]


def _cast(column: pa.ChunkedArray, f: Field, tz: str) -> pa.ChunkedArray:
    if f.type == "str":
        return column
    try:
        return _convert(column, f, tz)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InfinityDataError(
            f"The API sent {_first_bad_value(column, f, tz)!r} in field {f.name}, which should be "
            f"{_KIND[f.type]}; nothing was written for this page."
        ) from None


def _convert(column: pa.ChunkedArray, f: Field, tz: str) -> pa.ChunkedArray:
    """Text to the field's type; raises ArrowInvalid on a value that does not parse."""
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    if f.type == "timestamp":
        blank = pc.or_(blank, pc.equal(column, _MISSING_DATETIME))
    if f.type == "date":
        blank = pc.or_(blank, pc.equal(column, _MISSING_DATE))
    values = pc.if_else(blank, pa.scalar(None, pa.string()), column)
    if f.type == "int":
        return pc.cast(values, pa.int64())
    if f.type == "float":
        return pc.cast(values, pa.float64())
    if f.type == "bool":
        return _to_bool(values)
    if f.type == "date":
        return pc.cast(pc.strptime(values, format="%Y-%m-%d", unit="s"), pa.date32())
    if f.type == "timestamp":
        local = pc.strptime(values, format="%Y-%m-%d %H:%M:%S", unit="us")
        # The API sends local wall times without an offset. In the repeated hour of a fall-back
        # day the wall time cannot say which of the two it was: we take the first.
        aware = pc.assume_timezone(local, tz, ambiguous="earliest", nonexistent="earliest")
        return pc.cast(aware, UTC_TIMESTAMP)
    raise AssertionError(f"unknown field type {f.type}")


_KIND = {
    "int": "a whole number",
    "float": "a number",
    "bool": "a 1/0 flag",
    "date": "a YYYY-MM-DD date",
    "timestamp": "a YYYY-MM-DD HH:MM:SS datetime",
}


def _to_bool(values: pa.ChunkedArray) -> pa.ChunkedArray:
    is_true = pc.is_in(values, pa.array(_TRUE))
    is_false = pc.is_in(values, pa.array(_FALSE))
    unknown = pc.and_(pc.is_valid(values), pc.invert(pc.or_(is_true, is_false)))
    if pc.any(unknown).as_py():
        raise pa.ArrowInvalid("not a flag")
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), is_true)


def _first_bad_value(column: pa.ChunkedArray, f: Field, tz: str) -> str:
    """The first value that does not parse, found value by value (only on the error path)."""
    for value in column.to_pylist():
        try:
            _convert(pa.chunked_array([[value]], pa.string()), f, tz)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return value
    return "?"
