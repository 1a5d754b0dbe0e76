"""The DuckDB models rebuild after new raw data lands, whatever run landed it."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions, materialize

from infinity_dagster.defs import build_definitions
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import Installation, SimulatorServer

from .conftest import call

MODELS = [AssetKey(k) for k in ("call_states", "call_fail_rates", "cid_capture_gaps")]


def test_models_are_requested_once_after_a_day_lands(monkeypatch, data_dir) -> None:
    rows = [call(1, "2026-11-29 10:00:00"), call(2, "2026-11-30 10:00:00")]
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key="k") as server:
        for name, value in {
            "INFINITY_IGRP": "20001",
            "INFINITY_API_KEY": "k",
            "INFINITY_BASE_URL": server.base_url,
            "INFINITY_START_DATE": "2026-01-01",  # most days never pulled: models still refresh
            "INFINITY_DATA_DIR": str(data_dir),
        }.items():
            monkeypatch.setenv(name, value)
        defs = build_definitions(Settings.from_env())
        instance = DagsterInstance.ephemeral()
        assets, resources = list(defs.assets), dict(defs.resources)
        everything = [AssetKey("calls"), *MODELS]
        materialize(assets, selection=everything, partition_key="2026-11-29", resources=resources,
                    instance=instance)  # fmt: skip

        first = evaluate_automation_conditions(defs, instance)
        assert first.total_requested == 0  # models are as new as the data

        materialize(assets, selection=[AssetKey("calls")], partition_key="2026-11-30",
                    resources=resources, instance=instance)  # fmt: skip
        second = evaluate_automation_conditions(defs, instance, cursor=first.cursor)
        assert [second.get_num_requested(k) for k in MODELS] == [1, 1, 1]
        assert second.get_num_requested(AssetKey("calls")) == 0  # raw data is never automated

        third = evaluate_automation_conditions(defs, instance, cursor=second.cursor)
        assert third.total_requested == 0  # requested once, not on every evaluation
