"""Metadata that shows: the calls asset's day preview, trend picture and progress logs, and the
models' column schemas and previews, through a real simulator, Parquet, DuckDB and instance."""

from __future__ import annotations

import base64
import re
import struct

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from infinity_dagster.defs import build_definitions, raw
from infinity_dagster.defs.model_columns import MODEL_COLUMNS
from infinity_dagster.defs.resources import InfinityResource
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import Installation, SimulatorServer
from infinity_dagster.warehouse import MODEL_TABLES

from .conftest import call

KEY = "preview-test-key"

ROWS = [
    # 2026-11-29: Sales 2 calls, 1 NO_ANSWER
    call(10, "2026-11-29 09:00:00", dgrp=10, dgrpName="Sales", callState="NORMAL_CLEARING_A"),
    call(11, "2026-11-29 09:10:00", dgrp=10, dgrpName="Sales", callState="NO_ANSWER"),
    # 2026-11-30: Sales 3 calls (2 failed), Support 2 calls (1 failed); 4 tracked, 2 without cid
    call(20, "2026-11-30 08:00:00", dgrp=10, dgrpName="Sales", callState="NO_ANSWER", vid="v1"),
    call(
        21,
        "2026-11-30 08:01:00",
        dgrp=10,
        dgrpName="Sales",
        callState="NO_ANSWER",
        vid="v2",
        googleCid="1.2",
    ),
    call(
        22,
        "2026-11-30 08:02:00",
        dgrp=10,
        dgrpName="Sales",
        callState="NORMAL_CLEARING_A",
        vid="v3",
        googleCid="3.4",
    ),
    call(23, "2026-11-30 08:03:00", dgrp=20, dgrpName="Support", callState="USER_BUSY", vid="v4"),
    call(24, "2026-11-30 08:04:00", dgrp=20, dgrpName="Support", callState="NORMAL_CLEARING_B"),
]


@pytest.fixture
def settings(data_dir, monkeypatch):
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=ROWS), api_key=KEY) as server:
        env = {
            "INFINITY_IGRP": "20001",
            "INFINITY_API_KEY": KEY,
            "INFINITY_BASE_URL": server.base_url,
            "INFINITY_START_DATE": "2026-11-29",
            "INFINITY_DATA_DIR": str(data_dir),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Settings.from_env()


def run(settings, keys, day=None, instance=None):
    defs = build_definitions(settings)
    result = materialize(
        list(defs.assets),
        selection=[AssetKey(k) for k in keys],
        partition_key=day,
        resources=dict(defs.resources),
        instance=instance or DagsterInstance.ephemeral(),
    )
    assert result.success
    return result


def metadata_of(result, key: str) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(key)
    ]
    return event.materialization.metadata


def png_size(markdown: str) -> tuple[int, int]:
    """Width and height of the PNG inside a Markdown data-URI image."""
    match = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:80]
    png = base64.b64decode(match.group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


DAY_PREVIEW = """\
**2026-11-30**: 5 calls, 3 failed (60.0 %); 2 of 4 calls with a visitor id had no Google client \
id (50.0 %).

**Top call states**

| call state | category | calls | share |
|---|---|---|---|
| NO_ANSWER | no_answer | 2 | 40.0 % |
| NORMAL_CLEARING_A | normal | 1 | 20.0 % |
| NORMAL_CLEARING_B | normal | 1 | 20.0 % |
| USER_BUSY | busy | 1 | 20.0 % |

**Dial-in groups with the most failed calls**

| dial-in group | calls | failed | fail rate | dominant failing state |
|---|---|---|---|---|
| Sales | 3 | 2 | 66.7 % | NO_ANSWER |
| Support | 2 | 1 | 50.0 % | USER_BUSY |"""


def test_a_calls_day_shows_its_preview_and_trend_picture(settings) -> None:
    instance = DagsterInstance.ephemeral()
    run(settings, ["calls"], "2026-11-29", instance)
    metadata = metadata_of(run(settings, ["calls"], "2026-11-30", instance), "calls")
    assert metadata["dagster/row_count"].value == 5
    assert metadata["day_preview"].value == DAY_PREVIEW
    assert png_size(metadata["trend_30_days"].value) == (720, 378)


def test_an_empty_day_still_has_a_preview(settings) -> None:
    metadata = metadata_of(run(settings, ["calls"], "2026-12-01"), "calls")
    assert metadata["dagster/row_count"].value == 0
    assert metadata["day_preview"].value.splitlines()[0] == (
        "**2026-12-01**: 0 calls, 0 failed (–); 0 of 0 calls with a visitor id had no Google "
        "client id (–)."
    )
    assert png_size(metadata["trend_30_days"].value) == (720, 378)


def test_long_pulls_log_progress_per_page_interval(settings, monkeypatch) -> None:
    monkeypatch.setattr(raw, "PROGRESS_EVERY_SECONDS", 0.0)  # every page instead of every 5 s
    defs = build_definitions(settings)
    resources = dict(defs.resources)
    resources["infinity"] = InfinityResource(
        igrp=settings.igrp, base_url=settings.base_url, api_key=KEY, page_size=2
    )
    instance = DagsterInstance.ephemeral()
    result = materialize(
        list(defs.assets),
        selection=[AssetKey("calls")],
        partition_key="2026-11-30",
        resources=resources,
        instance=instance,
    )
    assert result.success
    messages = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.dagster_event is None and e.user_message.startswith("calls 2026-11-30: ")
    ]
    progress = [re.sub(r", [\d,]+ rows/s$", ", N rows/s", m) for m in messages[:-1]]
    # 5 rows in pages of 2: pages of 2, 2, 1 (the short page ends the day)
    assert progress == [
        "calls 2026-11-30: 1 pages, 2 rows, N rows/s",
        "calls 2026-11-30: 2 pages, 4 rows, N rows/s",
        "calls 2026-11-30: 3 pages, 5 rows, N rows/s",
    ]
    assert re.fullmatch(r"calls 2026-11-30: 5 rows in 3 pages, [\d.]+ s", messages[-1])


def test_models_declare_the_columns_they_build_and_show_the_latest_day(settings) -> None:
    instance = DagsterInstance.ephemeral()
    for day in ("2026-11-29", "2026-11-30"):
        run(settings, ["calls"], day, instance)
    assert sorted(MODEL_COLUMNS) == sorted(MODEL_TABLES), "describe every model's columns"
    result = run(settings, list(MODEL_TABLES), instance=instance)
    defs = build_definitions(settings)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        for table, columns in MODEL_COLUMNS.items():
            built = con.execute(f"DESCRIBE {table}").fetchall()
            assert [(name, kind) for name, kind, *_ in built] == [(n, k) for n, k, _ in columns]
            spec = defs.get_assets_def(table).specs_by_key[AssetKey(table)]
            schema = spec.metadata["dagster/column_schema"]
            assert [(c.name, c.type) for c in schema.columns] == [(n, k) for n, k, _ in columns]
            assert all(c.description for c in schema.columns)
            assert spec.metadata["dagster/table_name"] == f"infinity.main.{table}"
            assert spec.kinds == {"duckdb"}
    metadata = metadata_of(result, "call_fail_rates")
    assert metadata["day_preview"].value == DAY_PREVIEW
    assert png_size(metadata["trend_30_days"].value) == (720, 378)
    calls = defs.get_assets_def("calls").specs_by_key[AssetKey("calls")]
    assert calls.metadata["dagster/table_name"] == "infinity.main.calls"
    assert calls.kinds == {"parquet"}
    assert all(c.description for c in calls.metadata["dagster/column_schema"].columns)
    assert calls.description
