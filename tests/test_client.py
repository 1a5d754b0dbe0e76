"""The client against the simulator on loopback: auth, errors, and the rowId export recipe."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from infinity_dagster.api import (
    Credentials,
    InfinityApiError,
    InfinityAuthError,
    InfinityClient,
)
from infinity_dagster.reports import CALLS, Field, Report
from infinity_dagster.simulator import Installation, SimulatorServer, generate_installation

from .conftest import call

KEY = "sim-key-6f1c"


@pytest.fixture(scope="module")
def big_day():
    """One UTC day of more than 50,000 calls, rowIds in the millions with gaps."""
    installation = generate_installation(
        igrp=20001,
        start=date(2026, 11, 30),
        end=date(2026, 11, 30),
        calls_per_day=60_500,
        seed=11,
        cid_gap_rate=0.1,
        tz="UTC",
    )
    with SimulatorServer(installation, api_key=KEY, username="u", password="p") as server:
        yield server


def client_for(server: SimulatorServer, **kwargs) -> InfinityClient:
    credentials = kwargs.pop("credentials", Credentials(api_key=KEY))
    return InfinityClient(server.base_url, 20001, credentials, **kwargs)


def day_rows(server: SimulatorServer, day: date) -> pa.Table:
    rows = server.installation.rows("calls")
    dates = pa.compute.strftime(rows.column("triggerDatetime"), format="%Y-%m-%d")
    return rows.filter(pa.compute.equal(dates, day.isoformat()))


@pytest.mark.parametrize("wire_format", ["csv", "json"])
def test_export_pages_by_rowid_every_row_once(big_day, wire_format) -> None:
    first_request = len(big_day.requests)
    with client_for(big_day, wire_format=wire_format) as client:
        pages = list(
            client.export(CALLS, start_date=date(2026, 11, 30), end_date=date(2026, 11, 30))
        )
    row_ids = pa.concat_tables([p.table for p in pages]).column("rowId").to_pylist()
    expected = sorted(
        int(r) for r in day_rows(big_day, date(2026, 11, 30)).column("rowId").to_pylist()
    )
    assert len(expected) == 60_500
    assert row_ids == expected
    assert [p.table.num_rows for p in pages] == [50_000, 10_500]
    assert expected[-1] - expected[0] + 1 > len(expected)  # the rowIds have gaps
    requests = big_day.requests[first_request:]
    assert len(requests) == 2
    for number, request in enumerate(requests):
        keys = [k for k, _ in request.params]
        assert "offset" not in keys
        assert [v for k, v in request.params if k == "sort[]"] == ["rowId-asc"]
        assert ("limit", "50000") in request.params
        filters = [v for k, v in request.params if k == "filter[]"]
        assert filters == ([] if number == 0 else [f"rowId-gt-value-{row_ids[49_999]}"])


def test_a_short_page_of_exactly_the_limit_asks_once_more() -> None:
    rows = [call(5_000_000 + 3 * n, f"2026-11-30 10:{n:02d}:00") for n in range(4)]
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key=KEY) as server:
        with client_for(server, page_size=2) as client:
            pages = list(
                client.export(CALLS, start_date=date(2026, 11, 30), end_date=date(2026, 11, 30))
            )
    assert [p.table.column("rowId").to_pylist() for p in pages] == [
        [5_000_000, 5_000_003],
        [5_000_006, 5_000_009],
        [],
    ]


def test_basic_auth_uses_v2_routes(big_day) -> None:
    with client_for(big_day, credentials=Credentials(username="u", password="p")) as client:
        table = client.snapshot(
            Report(key="x", route=CALLS.route, fields=(Field("rowId", "int"),), kind="snapshot"),
            filters=["rowId-le-value-0"],
        )
    assert table.num_rows == 0
    assert big_day.requests[-1].path == "/reports/v2/igrps/20001/triggers/calls"


def test_wrong_key_names_the_variable_and_never_shows_the_key(big_day) -> None:
    with client_for(big_day, credentials=Credentials(api_key="wrong-secret-42")) as client:
        with pytest.raises(InfinityAuthError) as info:
            list(client.export(CALLS, start_date=date(2026, 11, 30), end_date=date(2026, 11, 30)))
    assert str(info.value) == (
        "Authentication failed for igrp 20001: check INFINITY_API_KEY (server said: auth required)."
    )
    assert "wrong-secret-42" not in repr(info.value)


def test_other_installation_is_access_denied(big_day) -> None:
    with InfinityClient(big_day.base_url, 99, Credentials(api_key=KEY)) as client:
        with pytest.raises(InfinityAuthError) as info:
            list(client.export(CALLS, start_date=date(2026, 11, 30), end_date=date(2026, 11, 30)))
    assert str(info.value) == (
        "Access denied to igrp 99: these credentials cannot see that installation; check "
        "INFINITY_IGRP and INFINITY_API_KEY (server said: access denied)."
    )


def test_json_string_error_carries_the_server_message(big_day) -> None:
    bad = Report(key="x", route=CALLS.route, fields=(Field("rowIdd", "int"),))
    with client_for(big_day) as client:
        with pytest.raises(InfinityApiError) as info:
            list(client.export(bad, start_date=date(2026, 11, 30), end_date=date(2026, 11, 30)))
    assert info.value.status == 400
    assert info.value.server_message is not None
    assert "rowIdd" in info.value.server_message
    assert str(info.value) == (
        "The Infinity API refused /reports/v2.1/igrps/20001/triggers/calls (HTTP 400): "
        f"{info.value.server_message}"
    )
