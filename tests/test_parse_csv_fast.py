"""The CSV fast path (Arrow converts while it parses) gives exactly what the careful path gives."""

from __future__ import annotations

import pytest

from infinity_dagster.api import InfinityDataError
from infinity_dagster.api.parse import read_csv, read_csv_text, to_catalogue_types
from infinity_dagster.reports import Field

FIELDS = (
    Field("rowId", "int"),
    Field("triggerDatetime", "timestamp"),
    Field("srcPhoneNumber", "str"),
    Field("dgrpName", "str"),
    Field("callDuration", "int"),
    Field("isNew", "bool"),
    Field("firstSeen", "date"),
    Field("score", "float"),
)
NAMES = [f.name for f in FIELDS]
HEADER = ",".join(NAMES)


def careful(body: bytes, tz: str):
    return to_catalogue_types(read_csv_text(body, NAMES), FIELDS, tz)


def fast(body: bytes, tz: str):
    table, _ = read_csv(body, FIELDS, tz)
    return table


@pytest.mark.parametrize("tz", ["UTC", "Europe/London"])
def test_fast_path_equals_careful_path_on_every_quirk(tz) -> None:
    body = (
        "\ufeff" + HEADER + "\r\n"
        '1000001,2026-10-25 01:30:00,01632 960123,"Sales, North",145,1,2026-01-02,0.5\r\n'
        '1000007,0000-00-00 00:00:00,+441632960999,"Line ""A""\r\nsecond",,0,0000-00-00,\r\n'
        '1000010,2026-03-29 01:30:00,,Zürich 😀,"0",,,"1e3"\r\n'
        '1000011,2026-11-30 23:59:59,0000-00-00,"",7,true,2026-11-30,-2\r\n'
    ).encode()
    table = fast(body, tz)
    assert table.equals(careful(body, tz))
    assert table.column("srcPhoneNumber").to_pylist() == [
        "01632 960123",
        "+441632960999",
        "",
        "0000-00-00",
    ]
    assert table.column("isNew").to_pylist() == [True, False, None, True]


def test_columns_in_another_order_and_extra_columns_are_taken_in_catalogue_order() -> None:
    body = (
        b"extra,isNew,score,firstSeen,callDuration,dgrpName,srcPhoneNumber,triggerDatetime,rowId\n"
        b"x,1,1.5,2026-01-02,3,A,0113 496 0000,2026-11-30 10:00:00,42\n"
    )
    table, sent = read_csv(body, FIELDS, "UTC")
    assert table.column_names == NAMES
    assert sent == ["extra", "isNew", "score", "firstSeen", "callDuration", "dgrpName"] + [
        "srcPhoneNumber",
        "triggerDatetime",
        "rowId",
    ]
    assert table.equals(careful(body, "UTC"))


def test_a_bad_value_gets_the_careful_paths_error() -> None:
    body = (HEADER + "\n1000001,2026-11-30 09:15:00,0,A,12s,1,,\n").encode()
    with pytest.raises(InfinityDataError) as fast_error:
        read_csv(body, FIELDS, "UTC")
    assert str(fast_error.value) == (
        "The API sent '12s' in field callDuration, which should be a whole number; "
        "nothing was written for this page."
    )


def test_a_missing_field_gets_the_careful_paths_error() -> None:
    body = b"rowId,triggerDatetime\n1,2026-11-30 09:15:00\n"
    with pytest.raises(InfinityDataError, match="lacks the field"):
        read_csv(body, FIELDS, "UTC")


def test_header_only_and_empty_bodies_keep_the_schema() -> None:
    for body in (b"", (HEADER + "\n").encode()):
        table = fast(body, "UTC")
        assert table.num_rows == 0
        assert table.schema.names == NAMES
