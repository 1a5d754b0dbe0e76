"""The Infinity API simulator, over real HTTP on loopback, with exact assertions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pyarrow.compute as pc
import pytest

from infinity_dagster.simulator import (
    DEMO_API_KEY,
    DEMO_IGRP,
    FaultSpec,
    Installation,
    SimulatorServer,
    generate_installation,
)

IGRP = 7
KEY = "k"
CALLS = f"/reports/v2.1/igrps/{IGRP}/triggers/calls"
AFTER_ALL = datetime(2030, 1, 1, tzinfo=UTC)


def ndjson(resp: httpx.Response) -> list[dict]:
    assert resp.status_code == 200, resp.text
    text = resp.text
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def api_key_client(server: SimulatorServer, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"ApiKey {key}"})


HAND_CALLS = [
    {
        "rowId": 5_000_001,
        "triggerDatetime": "2026-11-02 09:00:00",
        "dgrp": 11,
        "dgrpName": "North-East - Out of hours",
        "vid": "a1",
        "googleCid": "111.222",
        "matchRef": "9",
        "callDuration": "99",
        "callState": "NORMAL_CLEARING_A",
        "srcPhoneNumber": "01632 960001",
    },
    {
        "rowId": 5_000_007,
        "triggerDatetime": "2026-11-02 10:00:00",
        "dgrp": 12,
        "dgrpName": 'Support, "Tier 2"\nEvenings — café',
        "vid": "",
        "matchRef": "10",
        "callDuration": "100",
        "callState": "NO_ANSWER",
        "srcPhoneNumber": "anonymous",
        "rec": "r-7",
    },
    {
        "rowId": 5_000_020,
        "triggerDatetime": "2026-11-02 11:00:00",
        "dgrp": 11,
        "dgrpName": "North-East",
        "vid": "c3",
        "matchRef": "abc",
        "callDuration": "1000",
        "callState": "USER_BUSY",
        "srcPhoneNumber": "+447700900123",
    },
]


@pytest.fixture(scope="module")
def hand_server() -> Iterator[SimulatorServer]:
    inst = Installation.from_rows(
        igrp=IGRP,
        calls=HAND_CALLS,
        recordings={5_000_007: b"ID3-fake-audio"},
    )
    with SimulatorServer(inst, api_key=KEY, username="u", password="p", clock=AFTER_ALL) as s:
        yield s


@pytest.fixture(scope="module")
def generated() -> Installation:
    # Two UTC days of 30,000 calls: more than one 50,000-row page.
    return generate_installation(
        igrp=DEMO_IGRP, start=date(2026, 11, 1), end=date(2026, 11, 2), calls_per_day=30_000, seed=7
    )


@pytest.fixture(scope="module")
def gen_server(generated: Installation) -> Iterator[SimulatorServer]:
    with SimulatorServer(generated, api_key=DEMO_API_KEY, clock=AFTER_ALL) as s:
        yield s


def gen_get(server: SimulatorServer, path: str, params: list[tuple[str, str]]) -> httpx.Response:
    with api_key_client(server, DEMO_API_KEY) as c:
        return c.get(path.format(igrp=DEMO_IGRP), params=params)


# --- auth, routes ----------------------------------------------------------------------------


def test_auth_matrix(hand_server: SimulatorServer) -> None:
    base = hand_server.base_url
    v2 = f"{base}/reports/v2/igrps/{IGRP}/triggers/calls"
    v21 = f"{base}{CALLS}"
    key = {"Authorization": f"ApiKey {KEY}"}

    assert httpx.get(v21, headers=key).status_code == 200
    assert httpx.get(v2, auth=("u", "p")).status_code == 200

    wrong_pairing = httpx.get(v2, headers=key)
    assert wrong_pairing.status_code == 401
    assert wrong_pairing.headers["WWW-Authenticate"].startswith("Basic")
    basic_on_v21 = httpx.get(v21, auth=("u", "p"))
    assert basic_on_v21.status_code == 401
    assert basic_on_v21.json() == "auth required"

    bad_key = httpx.get(v21, headers={"Authorization": "ApiKey nope"})
    assert (bad_key.status_code, bad_key.json()) == (401, "auth required")
    bearer = httpx.get(v21, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401
    assert httpx.get(v21).status_code == 401
    bad_password = httpx.get(v2, auth=("u", "wrong"))
    assert bad_password.status_code == 401
    assert "WWW-Authenticate" in bad_password.headers

    other = httpx.get(f"{base}/reports/v2.1/igrps/{IGRP + 1}/triggers/calls", headers=key)
    assert (other.status_code, other.json()) == (403, "access denied")
    other_param = httpx.get(v21, params={"igrp": str(IGRP + 1)}, headers=key)
    assert other_param.status_code == 403
    same_param = httpx.get(v21, params={"igrp": str(IGRP)}, headers=key)
    assert same_param.status_code == 200

    unknown = httpx.get(f"{base}/reports/v2.1/igrps/{IGRP}/triggers/nope", headers=key)
    assert unknown.status_code == 404
    assert isinstance(unknown.json(), str)


def test_requests_are_recorded_without_credentials(hand_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        c.get(CALLS, params=[("display[]", "rowId"), ("limit", "2")])
    rec = hand_server.requests[-1]
    assert (rec.method, rec.path, rec.status, rec.rows) == ("GET", CALLS, 200, 2)
    assert rec.params == [("display[]", "rowId"), ("limit", "2")]
    assert rec.bytes == len('{"rowId":5000001}\n{"rowId":5000007}\n')


# --- query grammar ---------------------------------------------------------------------------


def test_filter_value_with_dashes_and_spaces(hand_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        rows = ndjson(
            c.get(
                CALLS,
                params=[
                    ("display[]", "rowId"),
                    ("filter[]", "dgrpName-eq-value-North-East - Out of hours"),
                ],
            )
        )
        assert rows == [{"rowId": 5_000_001}]
        rows = ndjson(
            c.get(
                CALLS, params=[("display[]", "rowId"), ("filter[]", "dgrpName-begins-value-North-")]
            )
        )
        assert [r["rowId"] for r in rows] == [5_000_001, 5_000_020]


@pytest.mark.parametrize(
    ("filt", "expected"),
    [
        # text field, numeric value: numeric where the row is numeric ("9" < 10), text otherwise
        ("matchRef-lt-value-10", [5_000_001]),
        ("matchRef-ge-value-10", [5_000_007, 5_000_020]),  # "abc" >= "10" as text
        # non-numeric value: plain case-sensitive text comparison ("10" < "2x" < "9")
        ("matchRef-lt-value-2x", [5_000_007]),
        ("matchRef-gt-value-ABC", [5_000_020]),  # case-sensitive: "abc" > "ABC" > "9"
        # int field: numeric, so 1000 > 100 (as text "1000" would sort before "99")
        ("callDuration-gt-value-99", [5_000_007, 5_000_020]),
        ("callDuration-in-value-99,1000", [5_000_001, 5_000_020]),
        ("callDuration-nin-value-99,1000", [5_000_007]),
        ("srcPhoneNumber-inc-value-7700", [5_000_020]),
        ("srcPhoneNumber-ninc-value-7700", [5_000_001, 5_000_007]),
        ("dgrpName-nbegins-value-North", [5_000_007]),
        ("vid-ne-value-", [5_000_001, 5_000_020]),
        ("rowId-gt-value-5000001", [5_000_007, 5_000_020]),
        ("rowId-le-value-5000007", [5_000_001, 5_000_007]),
        ("triggerDatetime-ge-value-2026-11-02 10:00:00", [5_000_007, 5_000_020]),
    ],
)
def test_filter_comparisons(hand_server: SimulatorServer, filt: str, expected: list[int]) -> None:
    with api_key_client(hand_server) as c:
        rows = ndjson(c.get(CALLS, params=[("display[]", "rowId"), ("filter[]", filt)]))
    assert [r["rowId"] for r in rows] == expected


def test_display_aliases_order_and_sort(hand_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        resp = c.get(
            CALLS,
            params=[
                ("display[]", "vid-visitorId"),
                ("display[]", "rowId"),
                ("sort[]", "dgrp-desc"),
                ("sort[]", "rowId-asc"),
            ],
        )
        rows = ndjson(resp)
        assert resp.text.startswith('{"visitorId":"","rowId":5000007}\n')
        assert [list(r) for r in rows] == [["visitorId", "rowId"]] * 3
        assert [r["rowId"] for r in rows] == [5_000_007, 5_000_001, 5_000_020]
        desc = ndjson(c.get(CALLS, params=[("display[]", "rowId"), ("sort[]", "rowId-desc")]))
        assert [r["rowId"] for r in desc] == [5_000_020, 5_000_007, 5_000_001]
        paged = ndjson(
            c.get(CALLS, params=[("display[]", "rowId"), ("offset", "1"), ("limit", "1")])
        )
        assert paged == [{"rowId": 5_000_007}]


def test_wire_values(hand_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        rows = ndjson(c.get(CALLS, params=[("filter[]", "rowId-eq-value-5000007")]))
    (row,) = rows
    assert row["rowId"] == 5_000_007  # given as a number, sent as a number
    assert row["callDuration"] == "100"  # given as text, sent as text
    assert row["igrp"] == str(IGRP)
    assert row["ringTime"] == ""  # missing values are the empty string
    assert row["srcPhoneNumber"] == "anonymous"
    assert row["dgrpName"] == 'Support, "Tier 2"\nEvenings — café'


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("filter[]", "rowIdd-gt-value-1")], "Invalid filter field: rowIdd"),
        ([("filter[]", "rowId-gtx-value-1")], "Invalid filter operator: gtx"),
        ([("filter[]", "pt_campaign-eq-value-x")], "Custom fields cannot be filtered: pt_campaign"),
        ([("display[]", "nope")], "Invalid display field: nope"),
        ([("sort[]", "nope-asc")], "Invalid sort field: nope"),
        ([("sort[]", "rowId-up")], "Invalid sort direction: up"),
        ([("limit", "50001")], "limit must not exceed 50000"),
        ([("startDate", "2026-13-01")], "Invalid startDate: 2026-13-01"),
        ([("endDate", "yesterday")], "Invalid endDate: yesterday"),
        ([("tz", "Mars/Olympus")], "Invalid timezone: Mars/Olympus"),
        ([("format", "csv")], "display[] is required for format=csv"),
    ],
)
def test_bad_parameters_are_400_json_strings(
    hand_server: SimulatorServer, params: list[tuple[str, str]], message: str
) -> None:
    with api_key_client(hand_server) as c:
        resp = c.get(CALLS, params=params)
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == message


def test_over_limit_truncates_when_asked(generated: Installation) -> None:
    with SimulatorServer(generated, over_limit="truncate", clock=AFTER_ALL) as s:
        resp = gen_get(
            s,
            "/reports/v2.1/igrps/{igrp}/triggers/calls",
            [("display[]", "rowId"), ("limit", "60000"), ("format", "csv")],
        )
    assert resp.status_code == 200
    assert resp.text.count("\n") == 1 + 50_000


# --- formats ---------------------------------------------------------------------------------


def test_csv_quoting_round_trips(hand_server: SimulatorServer) -> None:
    fields = ["rowId", "dgrpName", "srcPhoneNumber", "callDuration", "triggerDatetime"]
    params = [("format", "csv")] + [("display[]", f) for f in fields]
    with api_key_client(hand_server) as c:
        resp = c.get(CALLS, params=params)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.content.startswith(b"rowId,dgrpName,")
    parsed = list(csv.reader(io.StringIO(resp.content.decode("utf-8"), newline="")))
    assert parsed[0] == fields
    assert parsed[1:] == [
        ["5000001", "North-East - Out of hours", "01632 960001", "99", "2026-11-02 09:00:00"],
        [
            "5000007",
            'Support, "Tier 2"\nEvenings — café',
            "anonymous",
            "100",
            "2026-11-02 10:00:00",
        ],
        ["5000020", "North-East", "+447700900123", "1000", "2026-11-02 11:00:00"],
    ]
    assert '"Support, ""Tier 2""\nEvenings — café"' in resp.text


def test_csv_bom_and_crlf(hand_server: SimulatorServer) -> None:
    with (
        SimulatorServer(
            hand_server.installation, api_key=KEY, csv_bom=True, csv_crlf=True, clock=AFTER_ALL
        ) as s,
        api_key_client(s) as c,
    ):
        resp = c.get(
            CALLS, params=[("format", "csv"), ("display[]", "rowId"), ("display[]", "dgrpName")]
        )
    assert resp.content.startswith(b"\xef\xbb\xbfrowId,dgrpName\r\n5000001,")
    parsed = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"), newline="")))
    assert parsed[2] == ["5000007", 'Support, "Tier 2"\nEvenings — café']


def test_jsonarray_matches_ndjson(hand_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        lines = ndjson(c.get(CALLS))
        array = c.get(CALLS, params=[("format", "jsonarray")]).json()
    assert array == lines
    assert len(lines) == 3
    assert list(lines[0])[:3] == ["rowId", "triggerDatetime", "igrp"]


def test_empty_results_in_each_format(hand_server: SimulatorServer) -> None:
    nothing = [
        ("filter[]", "rowId-gt-value-99999999"),
        ("display[]", "rowId"),
        ("display[]", "vid"),
    ]
    with api_key_client(hand_server) as c:
        assert c.get(CALLS, params=nothing + [("format", "json")]).content == b""
        assert c.get(CALLS, params=nothing + [("format", "jsonarray")]).content == b"[]"
        assert c.get(CALLS, params=nothing + [("format", "csv")]).content == b"rowId,vid\n"


# --- paging, dates, time zones ----------------------------------------------------------------


def test_row_id_paging_returns_every_row_once(
    gen_server: SimulatorServer, generated: Installation
) -> None:
    expected = generated.rows("calls").column("rowId").to_pylist()
    assert len(expected) == 60_000
    assert expected == sorted(expected) and expected[0] >= 1_000_000
    assert any(b - a > 1 for a, b in zip(expected, expected[1:], strict=False))  # gaps
    seen: list[int] = []
    last = None
    pages = 0
    with api_key_client(gen_server, DEMO_API_KEY) as c:
        while True:
            params = [("format", "csv"), ("display[]", "rowId"), ("sort[]", "rowId-asc")]
            params.append(("limit", "50000"))
            if last is not None:
                params.append(("filter[]", f"rowId-gt-value-{last}"))
            resp = c.get(f"/reports/v2.1/igrps/{DEMO_IGRP}/triggers/calls", params=params)
            ids = [int(x) for x in resp.text.split("\n")[1:-1]]
            pages += 1
            seen += ids
            if len(ids) < 50_000:
                break
            last = ids[-1]
    assert pages == 2
    assert seen == expected


LONDON_DST = [
    # (UTC trigger, local Europe/London)
    ("2026-03-28 23:59:59", "2026-03-28 23:59:59"),
    ("2026-03-29 00:00:00", "2026-03-29 00:00:00"),
    ("2026-03-29 00:59:59", "2026-03-29 00:59:59"),
    ("2026-03-29 01:00:00", "2026-03-29 02:00:00"),  # clocks go forward
    ("2026-03-29 22:59:59", "2026-03-29 23:59:59"),
    ("2026-03-29 23:00:00", "2026-03-30 00:00:00"),
    ("2026-10-24 22:59:59", "2026-10-24 23:59:59"),
    ("2026-10-24 23:00:00", "2026-10-25 00:00:00"),
    ("2026-10-25 00:30:00", "2026-10-25 01:30:00"),
    ("2026-10-25 01:30:00", "2026-10-25 01:30:00"),  # clocks went back: 01:30 twice
    ("2026-10-25 23:59:59", "2026-10-25 23:59:59"),
    ("2026-10-26 00:00:00", "2026-10-26 00:00:00"),
]


@pytest.fixture(scope="module")
def dst_server() -> Iterator[SimulatorServer]:
    calls = [{"triggerDatetime": utc} for utc, _ in LONDON_DST]
    inst = Installation.from_rows(igrp=IGRP, calls=calls)
    with SimulatorServer(inst, api_key=KEY, clock=AFTER_ALL) as s:
        yield s


@pytest.mark.parametrize(
    ("day", "hours", "locals_"),
    [
        (
            "2026-03-29",
            23,
            [
                "2026-03-29 00:00:00",
                "2026-03-29 00:59:59",
                "2026-03-29 02:00:00",
                "2026-03-29 23:59:59",
            ],
        ),
        (
            "2026-10-25",
            25,
            [
                "2026-10-25 00:00:00",
                "2026-10-25 01:30:00",
                "2026-10-25 01:30:00",
                "2026-10-25 23:59:59",
            ],
        ),
    ],
)
def test_dst_days_select_exactly_the_local_day(
    dst_server: SimulatorServer, day: str, hours: int, locals_: list[str]
) -> None:
    d = date.fromisoformat(day)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    start = datetime(d.year, d.month, d.day, tzinfo=zone)
    assert (start + timedelta(days=1)).astimezone(UTC) - start.astimezone(UTC) == timedelta(
        hours=hours
    )
    with api_key_client(dst_server) as c:
        rows = ndjson(
            c.get(
                CALLS,
                params=[
                    ("display[]", "triggerDatetime"),
                    ("startDate", day),
                    ("endDate", day),
                    ("tz", "Europe/London"),
                ],
            )
        )
        assert [r["triggerDatetime"] for r in rows] == locals_
        utc = ndjson(c.get(CALLS, params=[("display[]", "triggerDatetime")]))
        london = ndjson(
            c.get(CALLS, params=[("display[]", "triggerDatetime"), ("tz", "Europe/London")])
        )
    assert [r["triggerDatetime"] for r in utc] == [u for u, _ in LONDON_DST]
    assert [r["triggerDatetime"] for r in london] == [loc for _, loc in LONDON_DST]


def test_date_range_is_inclusive_in_utc_by_default(dst_server: SimulatorServer) -> None:
    with api_key_client(dst_server) as c:
        rows = ndjson(
            c.get(
                CALLS,
                params=[
                    ("display[]", "triggerDatetime"),
                    ("startDate", "2026-03-28"),
                    ("endDate", "2026-03-29"),
                ],
            )
        )
    assert [r["triggerDatetime"] for r in rows] == [u for u, _ in LONDON_DST[:6]]


def test_missing_datetime_is_zero_date() -> None:
    inst = Installation.from_rows(
        igrp=IGRP, calls=[{"triggerDatetime": "", "insertedAt": "2026-01-01 00:00:00"}]
    )
    with SimulatorServer(inst, api_key=KEY, clock=AFTER_ALL) as s, api_key_client(s) as c:
        rows = ndjson(
            c.get(CALLS, params=[("display[]", "triggerDatetime"), ("tz", "Europe/London")])
        )
        dated = ndjson(c.get(CALLS, params=[("startDate", "2026-01-01")]))
    assert rows == [{"triggerDatetime": "0000-00-00 00:00:00"}]
    assert dated == []


# --- time passing ----------------------------------------------------------------------------


def test_inserted_at_visibility_and_late_rows() -> None:
    inst = Installation.from_rows(
        igrp=IGRP,
        calls=[
            {"triggerDatetime": "2026-11-01 23:50:00", "insertedAt": "2026-11-02 00:40:00"},
            {"triggerDatetime": "2026-11-02 00:05:00", "insertedAt": "2026-11-02 00:06:00"},
        ],
    )
    late, early = inst.rows("calls").column("rowId").to_pylist()[::-1]
    assert late > early  # the call from before midnight was inserted last
    s = SimulatorServer(inst, api_key=KEY, clock=datetime(2026, 11, 2, 0, 10))
    with s, api_key_client(s) as c:
        fields = [("display[]", "rowId"), ("display[]", "triggerDatetime")]
        assert ndjson(c.get(CALLS, params=fields)) == [
            {"rowId": early, "triggerDatetime": "2026-11-02 00:05:00"}
        ]
        s.set_clock(datetime(2026, 11, 2, 0, 40, tzinfo=UTC))
        assert [r["rowId"] for r in ndjson(c.get(CALLS, params=fields))] == [early, late]

        added = s.add_rows("calls", [{"triggerDatetime": "2026-11-01 12:00:00", "vid": "x"}])
        (new_id,) = added.column("rowId").to_pylist()
        assert new_id > late  # above the current maximum
        polled = ndjson(c.get(CALLS, params=fields + [("filter[]", f"rowId-gt-value-{late}")]))
        assert polled == [{"rowId": new_id, "triggerDatetime": "2026-11-01 12:00:00"}]
        s.add_rows(
            "calls",
            [{"triggerDatetime": "2026-11-02 00:50:00", "insertedAt": "2026-11-02 01:00:00"}],
        )
        assert len(ndjson(c.get(CALLS, params=fields))) == 3
        s.set_clock(lambda: datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
        assert len(ndjson(c.get(CALLS, params=fields))) == 4


# --- recordings ------------------------------------------------------------------------------


def test_recordings(hand_server: SimulatorServer, gen_server: SimulatorServer) -> None:
    with api_key_client(hand_server) as c:
        ok = c.get(f"{CALLS}/5000007/recording")
        assert (ok.status_code, ok.headers["content-type"], ok.content) == (
            200,
            "audio/mpeg",
            b"ID3-fake-audio",
        )
        none = c.get(f"{CALLS}/5000001/recording")
        assert none.status_code == 404
        assert isinstance(none.json(), str)
    calls = gen_server.installation.rows("calls")
    with_rec = calls.filter(pc.not_equal(calls.column("rec"), ""))
    share = with_rec.num_rows / calls.num_rows
    assert 0.2 < share < 0.4
    statuses = []
    with api_key_client(gen_server, DEMO_API_KEY) as c:
        for row_id in with_rec.column("rowId").to_pylist()[:200]:
            url = f"/reports/v2.1/igrps/{DEMO_IGRP}/triggers/calls/{row_id}/recording"
            resp = c.get(url)
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                assert resp.headers["content-type"] == "audio/mpeg"
                assert resp.content.startswith(b"ID3")
                assert c.get(url).content == resp.content
    assert statuses.count(200) > 150 and 404 in statuses


# --- generated data --------------------------------------------------------------------------


def test_generated_calls_are_realistic(generated: Installation) -> None:
    calls = generated.rows("calls").to_pydict()
    n = len(calls["rowId"])
    states = set(calls["callState"])
    assert {
        "NORMAL_CLEARING_A",
        "NORMAL_CLEARING_B",
        "NO_ANSWER",
        "USER_BUSY",
        "ORIGINATOR_CANCEL",
        "UNALLOCATED_NUMBER",
        "PROTOCOL_ERROR",
        "NORMAL_TEMPORARY_FAILURE_B",
        "CALL_REJECTED",
        "",
    } <= states
    normal = sum(s.startswith("NORMAL_CLEARING") for s in calls["callState"]) / n
    assert 0.65 < normal < 0.85
    for state, stage, bridge in zip(
        calls["callState"], calls["callStage"], calls["bridgeDuration"], strict=True
    ):
        if state not in ("NORMAL_CLEARING_A", "NORMAL_CLEARING_B"):
            assert bridge == 0 and stage != "bridge"
        if stage == "bridge":
            assert bridge > 0
    with_vid = [cid for vid, cid in zip(calls["vid"], calls["googleCid"], strict=True) if vid]
    assert 0.65 < len(with_vid) / n < 0.75
    gaps = sum(cid in ("", "undefined") for cid in with_vid) / len(with_vid)
    assert abs(gaps - 0.12) < 0.02
    assert any(cid.startswith("GA1.1.") for cid in with_vid)
    assert all(
        cid == "" for vid, cid in zip(calls["vid"], calls["googleCid"], strict=True) if not vid
    )
    assert "anonymous" in calls["srcPhoneNumber"]
    assert any(p.startswith("+44") for p in calls["srcPhoneNumber"])
    assert all(p.startswith("0") for p in calls["dialledPhoneNumber"])
    assert any("\n" in h for h in calls["href"]) or any("," in h for h in calls["href"])
    # insertion order is not trigger order: some calls arrive after later-starting ones
    trig = calls["triggerDatetime"]
    assert any(a > b for a, b in zip(trig, trig[1:], strict=False))
    inserted = calls["insertedAt"]
    assert inserted == sorted(inserted)
    assert all(i >= t for i, t in zip(inserted, trig, strict=True))


def test_generated_config_routes(gen_server: SimulatorServer) -> None:
    dgrps = ndjson(gen_get(gen_server, "/config/v2.1/igrps/{igrp}/dgrps", []))
    assert {d["dgrpStatus"] for d in dgrps} == {200, 410}
    assert all(d["autoDiscoveryNumber"] for d in dgrps)
    fallback = ndjson(
        gen_get(
            gen_server,
            "/config/v2.1/igrps/{igrp}/dgrps/all/numbers",
            [("filter[]", "usageType-eq-value-fixed"), ("filter[]", "ch-eq-value-0")],
        )
    )
    assert sorted(n["dgrp"] for n in fallback) == sorted(d["dgrp"] for d in dgrps)
    numbers = ndjson(gen_get(gen_server, "/config/v2.1/igrps/{igrp}/dgrps/all/numbers", []))
    assert {n["usageType"] for n in numbers} == {"fixed", "dynamic"}
    assert any(n["usageType"] == "fixed" and n["ch"] != "0" for n in numbers)
    one = dgrps[0]["dgrp"]
    of_one = ndjson(gen_get(gen_server, f"/config/v2.1/igrps/{{igrp}}/dgrps/{one}/numbers", []))
    assert of_one and {n["dgrp"] for n in of_one} == {one}
    orgs = ndjson(gen_get(gen_server, "/reports/v2.1/organisations", [("igrp", str(DEMO_IGRP))]))
    assert len(orgs) == gen_server.installation.rows("organisations").num_rows == 4
    assert all(set(o) >= {"orgId", "orgName"} for o in orgs)
    goals = ndjson(
        gen_get(gen_server, "/reports/v2.1/igrps/{igrp}/triggers/goals", [("limit", "500")])
    )
    assert any(g["callState"] == "" and g["href"] for g in goals)  # page-view goals
    assert any(g["callState"] != "" for g in goals)  # call goals


def test_same_seed_same_bytes(gen_server: SimulatorServer) -> None:
    again = generate_installation(
        igrp=DEMO_IGRP, start=date(2026, 11, 1), end=date(2026, 11, 2), calls_per_day=30_000, seed=7
    )
    other = generate_installation(
        igrp=DEMO_IGRP, start=date(2026, 11, 1), end=date(2026, 11, 2), calls_per_day=30_000, seed=8
    )
    params = [("limit", "5000"), ("tz", "Europe/London"), ("filter[]", "callState-ne-value-X")]
    csv_params = [("format", "csv")] + [("display[]", f) for f in ("rowId", "href", "googleCid")]
    bodies = {}
    for name, inst in (("a", gen_server.installation), ("b", again), ("c", other)):
        with SimulatorServer(inst, clock=AFTER_ALL) as s:
            bodies[name] = (
                gen_get(s, "/reports/v2.1/igrps/{igrp}/triggers/calls", params).content,
                gen_get(s, "/reports/v2.1/igrps/{igrp}/triggers/calls", csv_params).content,
                gen_get(s, "/reports/v2.1/igrps/{igrp}/triggers/goals", params).content,
            )
    assert bodies["a"] == bodies["b"]
    assert bodies["a"][0] != bodies["c"][0]


# --- faults ----------------------------------------------------------------------------------


def test_fault_injection(hand_server: SimulatorServer) -> None:
    s = hand_server
    try:
        with api_key_client(s) as c:
            s.inject(FaultSpec(kind="429", times=2, retry_after="1", route="triggers/calls"))
            first, second, third = (c.get(CALLS) for _ in range(3))
            assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
            assert second.status_code == 429 and third.status_code == 200
            s.inject(kind="503")
            outage = c.get(CALLS)
            assert outage.status_code == 503 and outage.text.startswith("<html>")
            s.inject(kind="error200", message="Too many requests")
            soft = c.get(CALLS)
            assert (soft.status_code, soft.json()) == (200, "Too many requests")
            page = c.get(CALLS, params=[("limit", "1")])
            s.inject(kind="repeat")
            assert c.get(CALLS, params=[("limit", "2")]).content == page.content
            s.inject(kind="cut")
            with pytest.raises(httpx.TransportError):
                c.get(CALLS)
        assert [r.fault for r in s.requests[-8:]] == [
            "429",
            "429",
            None,
            "503",
            "error200",
            None,
            "repeat",
            "cut",
        ]
        assert all(f.exhausted for f in s.faults)
    finally:
        s.clear_faults()


def test_mixed_wire_types_and_control_characters() -> None:
    odd = 'tab\there, bell\x07, quote " and backslash \\ — ü'
    inst = Installation.from_rows(
        igrp=IGRP,
        calls=[
            {"triggerDatetime": "2026-11-01 10:00:00", "dgrp": 5, "dgrpName": odd, "ch": "3"},
            {"triggerDatetime": "2026-11-01 11:00:00", "dgrp": "6", "dgrpName": "x", "ch": "4"},
        ],
    )
    fields = [("display[]", "dgrp"), ("display[]", "dgrpName"), ("display[]", "ch")]
    with SimulatorServer(inst, api_key=KEY, clock=AFTER_ALL) as s, api_key_client(s) as c:
        resp = c.get(CALLS, params=fields)
        rows = ndjson(resp)
        table = c.get(CALLS, params=[("format", "csv"), *fields])
    assert rows == [
        {"dgrp": 5, "dgrpName": odd, "ch": "3"},
        {"dgrp": "6", "dgrpName": "x", "ch": "4"},
    ]
    assert "\\u0007" in resp.text and "\\t" in resp.text
    parsed = list(csv.reader(io.StringIO(table.content.decode("utf-8"), newline="")))
    assert parsed == [["dgrp", "dgrpName", "ch"], ["5", odd, "3"], ["6", "x", "4"]]


def test_command_line_serves_and_stops_on_ctrl_c() -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infinity_dagster.simulator",
            "--port",
            "0",
            "--days",
            "2",
            "--calls-per-day",
            "200",
            "--api-key",
            "cli-key",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "cli-key" in line
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        resp = httpx.get(
            f"{base_url}/reports/v2.1/igrps/{DEMO_IGRP}/triggers/calls",
            params={"limit": "5"},
            headers={"Authorization": "ApiKey cli-key"},
        )
        assert len(ndjson(resp)) == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stalls_trip_client_timeouts(hand_server: SimulatorServer) -> None:
    s = hand_server
    try:
        with api_key_client(s) as c:
            s.inject(FaultSpec(kind="stall", delay=0.5))
            with pytest.raises(httpx.ReadTimeout):
                c.get(CALLS, timeout=0.1)
            s.inject(FaultSpec(kind="stall_body", delay=0.5, after=1))
            assert c.get(CALLS).status_code == 200  # skipped by `after`
            with pytest.raises(httpx.ReadTimeout):
                c.get(CALLS, timeout=0.1)
            assert len(ndjson(c.get(CALLS))) == 3
    finally:
        s.clear_faults()


def test_served_values_equal_the_held_rows(
    gen_server: SimulatorServer, generated: Installation
) -> None:
    from zoneinfo import ZoneInfo

    held = generated.rows("calls").slice(0, 3000).to_pylist()
    with api_key_client(gen_server, DEMO_API_KEY) as c:
        resp = c.get(
            f"/reports/v2.1/igrps/{DEMO_IGRP}/triggers/calls",
            params=[("limit", "3000"), ("tz", "Europe/London")],
        )
        csv_resp = c.get(
            f"/reports/v2.1/igrps/{DEMO_IGRP}/triggers/calls",
            params=[
                ("limit", "3000"),
                ("format", "csv"),
                ("display[]", "rowId"),
                ("display[]", "href"),
                ("display[]", "dgrpName"),
                ("display[]", "ringTime"),
            ],
        )
    served = ndjson(resp)
    zone = ZoneInfo("Europe/London")
    assert len(served) == len(held) == 3000
    for got, row in zip(served, held, strict=True):
        assert list(got) == [k for k in row if k != "insertedAt"]
        for key, value in row.items():
            if key == "insertedAt":
                continue
            if key == "triggerDatetime":
                assert got[key] == value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            elif isinstance(value, int):
                assert int(got[key]) == value
                assert isinstance(got[key], int) == (key in ("rowId", "dgrp", "ringTime", "goal"))
            else:
                assert got[key] == value
    table = list(csv.DictReader(io.StringIO(csv_resp.content.decode("utf-8"), newline="")))
    assert [(int(r["rowId"]), r["href"], r["dgrpName"], int(r["ringTime"])) for r in table] == [
        (r["rowId"], r["href"], r["dgrpName"], r["ringTime"]) for r in held
    ]
