"""Shared test helpers: hand-written calls as the API would send them, typed by the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from infinity_dagster.reports import CALLS

# Every call field blank, as the API sends a call with nothing recorded.
BLANK_CALL: dict[str, object] = {f.name: "" for f in CALLS.fields}


def call(row_id: int, when: str, **values: object) -> dict[str, object]:
    """A call row in wire form: text values, triggerDatetime in UTC."""
    row = dict(BLANK_CALL)
    row.update(
        rowId=str(row_id),
        triggerDatetime=when,
        igrp="20001",
        callDuration="0",
        ringTime="0",
        bridgeDuration="0",
        ch="1",
        segment="0",
        orgId="0",
        goal="0",
    )
    row.update({k: str(v) for k, v in values.items()})
    return row


def typed_calls(rows: list[dict[str, object]]) -> pa.Table:
    """The same rows as the parser would store them (UTC timestamps, int64 ids, text as sent)."""
    columns = {}
    for f in CALLS.fields:
        values = [r[f.name] for r in rows]
        if f.type == "int":
            columns[f.name] = pa.array([int(v) if v != "" else None for v in values], pa.int64())
        elif f.type == "timestamp":
            columns[f.name] = pa.array(
                [datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in values],
                CALLS.schema.field(f.name).type,
            )
        else:
            columns[f.name] = pa.array(values, pa.string())
    return pa.table(columns, schema=CALLS.schema)


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path
