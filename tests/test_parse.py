"""Wire bodies into typed Arrow tables: exact values for every quirk the API contract lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from infinity_dagster.api import InfinityDataError
from infinity_dagster.api.parse import (
    error_message,
    is_empty_jsonarray,
    read_csv_text,
    read_jsonarray_text,
    read_ndjson_text,
    to_catalogue_types,
)
from infinity_dagster.reports import UTC_TIMESTAMP, Field

FIELDS = (
    Field("rowId", "int"),
    Field("triggerDatetime", "timestamp"),
    Field("srcPhoneNumber", "str"),
    Field("dgrpName", "str"),
    Field("callDuration", "int"),
    Field("isNew", "bool"),
)
NAMES = [f.name for f in FIELDS]


def test_csv_with_bom_crlf_quotes_and_phone_numbers() -> None:
    body = (
        "\ufeffrowId,triggerDatetime,srcPhoneNumber,dgrpName,callDuration,isNew\r\n"
        '1000001,2026-11-30 09:15:00,01632 960123,"Sales, North",145,1\r\n'
        '1000007,0000-00-00 00:00:00,+441632960999,"Line ""A""\r\nsecond line",,0\r\n'
        '1000010,2026-11-30 23:59:59,anonymous,Zürich 😀,"0",\r\n'
    ).encode()
    table = to_catalogue_types(read_csv_text(body, NAMES), FIELDS, "UTC")
    assert table.schema == pa.schema(
        [
            ("rowId", pa.int64()),
            ("triggerDatetime", UTC_TIMESTAMP),
            ("srcPhoneNumber", pa.string()),
            ("dgrpName", pa.string()),
            ("callDuration", pa.int64()),
            ("isNew", pa.bool_()),
        ]
    )
    assert table.to_pylist() == [
        {
            "rowId": 1000001,
            "triggerDatetime": datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
            "srcPhoneNumber": "01632 960123",
            "dgrpName": "Sales, North",
            "callDuration": 145,
            "isNew": True,
        },
        {
            "rowId": 1000007,
            "triggerDatetime": None,
            "srcPhoneNumber": "+441632960999",
            "dgrpName": 'Line "A"\r\nsecond line',
            "callDuration": None,
            "isNew": False,
        },
        {
            "rowId": 1000010,
            "triggerDatetime": datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
            "srcPhoneNumber": "anonymous",
            "dgrpName": "Zürich 😀",
            "callDuration": 0,
            "isNew": None,
        },
    ]


def test_ndjson_numbers_as_strings_or_numbers_and_local_times_to_utc() -> None:
    body = (
        b'{"rowId":1000001,"triggerDatetime":"2026-07-01 10:00:00","srcPhoneNumber":"07700 900123",'
        b'"dgrpName":"a \\"q\\", {\\"x\\":1}","callDuration":"145","isNew":true}\n'
        b'{"rowId":"1000002","triggerDatetime":"2026-07-01 00:30:00",'
        b'"srcPhoneNumber":"0113 496 0000",'
        b'"dgrpName":"","callDuration":7,"isNew":"0"}\n'
    )
    table = to_catalogue_types(read_ndjson_text(body, NAMES), FIELDS, "Europe/London")
    assert table.to_pylist() == [
        {
            "rowId": 1000001,
            "triggerDatetime": datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
            "srcPhoneNumber": "07700 900123",
            "dgrpName": 'a "q", {"x":1}',
            "callDuration": 145,
            "isNew": True,
        },
        {
            "rowId": 1000002,
            "triggerDatetime": datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
            "srcPhoneNumber": "0113 496 0000",
            "dgrpName": "",
            "callDuration": 7,
            "isNew": False,
        },
    ]


def test_empty_bodies_keep_the_full_schema() -> None:
    for table in (
        read_csv_text(b"", NAMES),
        read_csv_text(
            b"rowId,triggerDatetime,srcPhoneNumber,dgrpName,callDuration,isNew\r\n", NAMES
        ),
        read_ndjson_text(b"", NAMES),
        read_jsonarray_text(b"[]", NAMES),
        read_jsonarray_text(b"\n]\n", NAMES),
    ):
        typed = to_catalogue_types(table, FIELDS, "UTC")
        assert typed.num_rows == 0
        assert typed.schema.names == NAMES
        assert typed.schema.field("triggerDatetime").type == UTC_TIMESTAMP
    assert is_empty_jsonarray(b"\n]\n")


def test_bare_json_string_is_an_error_whatever_the_format() -> None:
    assert error_message(b'"Invalid filter field: rowIdd"') == "Invalid filter field: rowIdd"
    assert error_message(b'"limit must not exceed 50000"\n') == "limit must not exceed 50000"
    assert error_message(b'\xef\xbb\xbf"auth required"') == "auth required"
    assert error_message(b'{"rowId":"1"}\n') is None
    assert error_message(b'"rowId","dgrpName"\r\n"1","x"\r\n') is None
    assert error_message(b"rowId\r\n1\r\n") is None


def test_non_numeric_duration_names_the_field_and_value() -> None:
    body = b"rowId,triggerDatetime,srcPhoneNumber,dgrpName,callDuration,isNew\n1,,x,y,12s,1\n"
    with pytest.raises(InfinityDataError) as info:
        to_catalogue_types(read_csv_text(body, NAMES), FIELDS, "UTC")
    assert str(info.value) == (
        "The API sent '12s' in field callDuration, which should be a whole number; "
        "nothing was written for this page."
    )


def test_missing_field_is_an_error_naming_it() -> None:
    body = b"rowId,triggerDatetime\n1,2026-01-01 00:00:00\n"
    with pytest.raises(InfinityDataError, match=r"lacks the field\(s\) srcPhoneNumber, dgrpName"):
        to_catalogue_types(read_csv_text(body, ["rowId", "triggerDatetime"]), FIELDS, "UTC")
