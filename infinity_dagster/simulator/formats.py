"""Writing a page as the API does: NDJSON (``json``), ``jsonarray`` and ``csv``, vectorised.

Each output column is turned into its wire text with pyarrow.compute (escaping only the columns
known to need it), and a whole row is built by one ``binary_join_element_wise`` over the columns and
the literal pieces between them (keys, quotes, separators). The body is then the joined array's data
buffer, without a copy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import FieldSpec, one_chunk

if TYPE_CHECKING:
    from .query import Page

ZERO_DATETIME = b"0000-00-00 00:00:00"
CSV_SPECIALS = frozenset(',"\r\n')
_JSON_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
UTF8_BOM = b"\xef\xbb\xbf"
# A page column holding a field's values already escaped for the page's format.
ENCODED_PREFIX = "__enc__"


def format_datetimes(column: pa.Array, tz: str) -> pa.Array:
    """UTC timestamps as 'YYYY-MM-DD HH:MM:SS' in `tz`; nulls as '0000-00-00 00:00:00'."""
    n = len(column)
    if n == 0:
        return pa.array([], pa.string())
    if tz != "UTC":
        column = pc.local_timestamp(column.cast(pa.timestamp("us", tz=tz)))
    valid = np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
    us = np.asarray(pc.fill_null(column.cast(pa.int64()), 0).to_numpy(), dtype=np.int64)
    secs = us // 1_000_000
    days = secs // 86_400
    sod = secs - days * 86_400
    # Civil date from days since 1970-01-01 (H. Hinnant's algorithm), vectorised.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    hour, rem = np.divmod(sod, 3_600)
    minute, second = np.divmod(rem, 60)

    out = np.empty((n, 19), dtype=np.uint8)
    out[:] = np.frombuffer(ZERO_DATETIME, dtype=np.uint8)
    for value, start, width in (
        (year, 0, 4),
        (month, 5, 2),
        (day, 8, 2),
        (hour, 11, 2),
        (minute, 14, 2),
        (second, 17, 2),
    ):
        v = np.where(valid, value, 0)
        for k in range(width):
            out[:, start + width - 1 - k] = (v // 10**k) % 10 + 48
    offsets = np.arange(0, 19 * (n + 1), 19, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1))]
    )


def json_specials(specials: frozenset[str]) -> frozenset[str]:
    """The characters of `specials` a JSON string must escape."""
    return specials - {","}


def needs_csv_quoting(specials: frozenset[str]) -> bool:
    return bool(specials & CSV_SPECIALS)


def csv_quote(text: pa.Array) -> pa.Array:
    """Quote (RFC 4180) the values holding a comma, quote or line break."""
    needs = pc.match_substring_regex(text, '[,"\r\n]')
    return pc.if_else(needs, _quoted(pc.replace_substring(text, '"', '""')), text)


def json_escape(text: pa.Array, specials: frozenset[str]) -> pa.Array:
    """JSON-escape the characters in `specials` (backslash first), vectorised."""
    if "\\" in specials:
        text = pc.replace_substring(text, "\\", "\\\\")
    if '"' in specials:
        text = pc.replace_substring(text, '"', '\\"')
    for ch in sorted(specials - {"\\", '"'}):
        text = pc.replace_substring(text, ch, _JSON_ESCAPES.get(ch, f"\\u{ord(ch):04x}"))
    return text


def _quoted(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


def _pieces_json(page: Page, close: str) -> list[pa.Array | str]:
    """The alternating literal / value pieces of one JSON object per row."""
    from .query import text_of

    pieces: list[pa.Array | str] = []
    literal = "{"
    for i, (name, alias) in enumerate(page.columns):
        key = json.dumps(alias, ensure_ascii=False)
        literal += ("," if i else "") + key + ":"
        spec = page.fields.get(name)
        if spec is None:  # a custom field the route does not hold: always empty
            literal += '""'
            continue
        if ENCODED_PREFIX + name in page.table.column_names:
            text = one_chunk(page.table.column(ENCODED_PREFIX + name))
        else:
            text = text_of(page.table.column(name), spec, page.tz)
            specials = json_specials(page.specials.get(name, frozenset()))
            if spec.kind == "str" and specials:
                text = json_escape(text, specials)
        if name in page.wire_masks:
            as_number = pc.and_(
                pc.fill_null(one_chunk(page.table.column(page.wire_masks[name])), False),
                pc.not_equal(text, ""),
            )
            pieces += [literal, pc.if_else(as_number, text, _quoted(text))]
            literal = ""
        elif spec.wire == "num" and spec.kind != "datetime":
            empty = pc.equal(text, "")
            pieces += [literal, pc.if_else(empty, pa.scalar('""'), text)]
            literal = ""
        else:
            pieces += [literal + '"', text]
            literal = '"'
    pieces.append(literal + close)
    return pieces


def _join(pieces: list[pa.Array | str], n: int) -> pa.Array:
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        return pa.array(["".join(str(p) for p in pieces)] * n, pa.string())
    return pc.binary_join_element_wise(*pieces, "")


def _body(arr: pa.Array) -> memoryview:
    """The concatenated values of a string array: its data buffer, without copying."""
    if len(arr) == 0:
        return memoryview(b"")
    arr = one_chunk(arr)
    offsets = np.frombuffer(
        arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4
    )
    data = arr.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def to_ndjson(page: Page) -> memoryview:
    """format=json: one object per line, each line ending in a newline; nothing when empty."""
    if page.num_rows == 0:
        return memoryview(b"")
    return _body(_join(_pieces_json(page, "}\n"), page.num_rows))


def to_jsonarray(page: Page) -> bytes:
    """format=jsonarray: one JSON array, ``[]`` when empty."""
    if page.num_rows == 0:
        return b"[]"
    body = _body(_join(_pieces_json(page, "},"), page.num_rows))
    return b"[" + body[:-1].tobytes() + b"]"


def _csv_cell(text: str) -> str:
    if any(c in CSV_SPECIALS for c in text):
        return '"' + text.replace('"', '""') + '"'
    return text


def to_csv(page: Page, bom: bool = False, crlf: bool = False) -> bytes:
    """format=csv: a header row then one row per record, quoted as RFC 4180 needs."""
    from .query import text_of

    eol = "\r\n" if crlf else "\n"
    header = ",".join(_csv_cell(alias) for _, alias in page.columns) + eol
    head = (UTF8_BOM if bom else b"") + header.encode("utf-8")
    if page.num_rows == 0:
        return head
    pieces: list[pa.Array | str] = []
    literal = ""
    for i, (name, _) in enumerate(page.columns):
        if i:
            literal += ","
        spec = page.fields.get(name)
        if spec is None:
            continue
        if ENCODED_PREFIX + name in page.table.column_names:
            text = one_chunk(page.table.column(ENCODED_PREFIX + name))
        else:
            text = text_of(page.table.column(name), spec, page.tz)
            if spec.kind == "str" and needs_csv_quoting(page.specials.get(name, frozenset())):
                text = csv_quote(text)
        pieces += [literal, text]
        literal = ""
    pieces.append(literal + eol)
    return head + _body(_join(pieces, page.num_rows)).tobytes()


def render(
    page: Page, fmt: str, csv_bom: bool = False, csv_crlf: bool = False
) -> bytes | memoryview:
    """The response body of a page in `fmt`."""
    if fmt == "csv":
        return to_csv(page, bom=csv_bom, crlf=csv_crlf)
    if fmt == "jsonarray":
        return to_jsonarray(page)
    return to_ndjson(page)


def json_string(message: str) -> bytes:
    """An error or information message as the API sends it: a bare JSON string."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


__all__ = ["FieldSpec", "format_datetimes", "json_string", "render"]
