"""The benchmark command runs end to end on a tiny day (a smoke test: no timing is asserted)."""

from __future__ import annotations

import json

from benchmarks.run import main


def test_benchmark_runs_every_case_on_a_tiny_day(tmp_path) -> None:
    out = tmp_path / "latest.md"
    argv = ["--sizes", "3000", "--repeat", "1", "--no-dlt", "--json-max", "3000"]
    argv += ["--model-days", "3", "--backfill-days", "2", "--backfill-calls", "500"]
    assert main([*argv, "--out", str(out)]) == 0

    results = json.loads(out.with_suffix(".json").read_text())
    rows = {(r["case"], r["size"]): [run["rows"] for run in r["runs"]] for r in results["results"]}
    assert rows == {
        ("wire_socket", 3000): [3000],
        ("wire_httpx", 3000): [3000],
        ("pipeline_client", 3000): [3000],
        ("pipeline_client_no_prefetch", 3000): [3000],
        ("pipeline_client_ndjson", 3000): [3000],
        ("pipeline_dagster", 3000): [3000],
        ("sensor_tick_idle", 3000): [0],
        ("models_year", 3000): [9000],
        ("backfill_dagster", 1000): [1000],
    }
    assert results["notes"]["server_3000"]["pages"] == 1
    table = out.read_text()
    assert "| (b) client / (a) wire, N=3,000 |" in table
    assert "| idle sensor tick, seconds (median of 5) |" in table
