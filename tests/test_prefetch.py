"""The client's one-page-ahead prefetch: same requests, same pages, bounded, safe to stop early."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from infinity_dagster.api import Credentials, InfinityClient
from infinity_dagster.reports import CALLS
from infinity_dagster.simulator import Installation, SimulatorServer

from .conftest import call

KEY = "prefetch-key"
ROW_IDS = [5_000_000 + 7 * i for i in range(25)]


@pytest.fixture(scope="module")
def server():
    rows = [call(r, f"2026-11-30 10:{i:02d}:00") for i, r in enumerate(ROW_IDS)]
    with SimulatorServer(Installation.from_rows(igrp=20001, calls=rows), api_key=KEY) as server:
        yield server


def export(server: SimulatorServer, *, prefetch: bool, stop_after: int | None = None):
    """The pages and the rowId filters of the requests the server saw, in order."""
    first = len(server.requests)
    pages = []
    with InfinityClient(
        server.base_url, 20001, Credentials(api_key=KEY), page_size=10, prefetch=prefetch
    ) as client:
        for page in client.export(CALLS):
            pages.append(page)
            if stop_after is not None and len(pages) == stop_after:
                break
    filters = [[v for k, v in r.params if k == "filter[]"] for r in server.requests[first:]]
    return pages, filters


@pytest.mark.parametrize("prefetch", [True, False])
def test_prefetch_asks_the_same_pages_in_the_same_order(server, prefetch) -> None:
    pages, filters = export(server, prefetch=prefetch)
    assert [p.table.num_rows for p in pages] == [10, 10, 5]
    assert [p.last_row_id for p in pages] == [ROW_IDS[9], ROW_IDS[19], ROW_IDS[24]]
    assert pa.concat_tables(p.table for p in pages).column("rowId").to_pylist() == ROW_IDS
    assert filters == [
        [],
        [f"rowId-gt-value-{ROW_IDS[9]}"],
        [f"rowId-gt-value-{ROW_IDS[19]}"],
    ]


def test_stopping_early_asks_at_most_the_page_ahead_and_leaves_no_thread(server) -> None:
    pages, filters = export(server, prefetch=True, stop_after=1)
    assert [p.last_row_id for p in pages] == [ROW_IDS[9]]
    # The second page was queued when the first was handed over: dropped if not yet started,
    # finished if already in flight; never a third.
    assert filters in ([[]], [[], [f"rowId-gt-value-{ROW_IDS[9]}"]])
    assert not [t for t in threading.enumerate() if t.name.startswith("infinity-prefetch")]


def test_without_prefetch_stopping_early_asks_nothing_more(server) -> None:
    pages, filters = export(server, prefetch=False, stop_after=1)
    assert len(pages) == 1
    assert filters == [[]]
