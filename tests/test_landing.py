"""Merging new rows into a day's file by rowId, the per-day lock, the landed watermark."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq

from infinity_dagster import landing
from infinity_dagster.landing import day_lock, landed_max_row_id, merge_into_partition
from infinity_dagster.reports import CALLS
from infinity_dagster.storage import partition_file, write_partition

from .conftest import call, typed_calls


def rows(*ids: int, state: str = "NORMAL_CLEARING_A") -> pa.Table:
    return typed_calls([call(i, "2026-11-30 10:00:00", callState=state) for i in ids])


def test_merge_adds_new_rows_and_replaces_rows_that_came_again(data_dir) -> None:
    path = partition_file(data_dir / "raw", "calls", "2026-11-30")
    write_partition(path, CALLS.schema, [rows(1, 2, 3)])
    stats = merge_into_partition(path, CALLS.schema, rows(3, 4, state="NO_ANSWER"))
    table = pq.read_table(path)
    assert table.column("rowId").to_pylist() == [1, 2, 3, 4]
    assert table.column("callState").to_pylist() == ["NORMAL_CLEARING_A"] * 2 + ["NO_ANSWER"] * 2
    assert (stats.rows, stats.added, stats.replaced) == (4, 1, 1)
    assert (stats.min_row_id, stats.max_row_id) == (1, 4)
    assert table.schema.equals(CALLS.schema)
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.parquet"]


def test_merging_the_same_rows_twice_is_idempotent(data_dir) -> None:
    path = partition_file(data_dir / "raw", "calls", "2026-11-30")
    merge_into_partition(path, CALLS.schema, rows(7, 9))  # no file yet: it is created
    first = pq.read_table(path)
    merge_into_partition(path, CALLS.schema, rows(7, 9))
    assert pq.read_table(path).equals(first)


def test_many_merges_stay_a_few_row_groups(data_dir, monkeypatch) -> None:
    monkeypatch.setattr(landing, "ROW_GROUP_ROWS", 10)
    path = partition_file(data_dir / "raw", "calls", "2026-11-30")
    for i in range(25):
        merge_into_partition(path, CALLS.schema, rows(i))
    metadata = pq.read_metadata(path)
    assert (metadata.num_rows, metadata.num_row_groups) == (25, 3)


def test_landed_watermark_is_the_largest_row_id_on_disk(data_dir) -> None:
    raw = data_dir / "raw"
    assert landed_max_row_id(raw, "calls") is None
    write_partition(partition_file(raw, "calls", "2026-11-29"), CALLS.schema, [rows(50, 70)])
    write_partition(partition_file(raw, "calls", "2026-11-30"), CALLS.schema, [rows(60)])
    write_partition(partition_file(raw, "calls", "2026-12-01"), CALLS.schema, [])
    assert landed_max_row_id(raw, "calls") == 70


def test_day_lock_lets_one_writer_in_at_a_time(data_dir) -> None:
    path = partition_file(data_dir / "raw", "calls", "2026-11-30")
    order: list[str] = []
    with day_lock(path):
        other = threading.Thread(target=lambda: _locked(path, order))
        other.start()
        time.sleep(0.2)  # give the other writer the chance to (wrongly) get in
        order.append("first done")
    other.join(timeout=10)
    assert order == ["first done", "second in"]
    assert not path.parent.exists() or sorted(p.name for p in path.parent.iterdir()) == []


def _locked(path, order: list[str]) -> None:
    with day_lock(path):
        order.append("second in")
