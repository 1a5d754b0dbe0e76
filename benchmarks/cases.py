"""One measured case per function, each run in a fresh process by `benchmarks.run`.

`python -m benchmarks.cases NAME '{"base_url": ..., ...}'` runs one case and prints one JSON line:
the case's own numbers plus `seconds` (wall time of the measured part only), `peak_rss_mb` (the
process's high-water mark, children included) and `base_rss_mb` (resident memory after imports
and set-up, just before the measured part), so each case's memory is honest and its own.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def case(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict]:
    CASES[fn.__name__] = fn
    return fn


class Stopwatch:
    """Marks the start of the measured part (after imports and set-up) and its end."""

    def __init__(self) -> None:
        self.base_rss_mb = 0.0
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.base_rss_mb = current_rss_mb()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's resident high-water mark (VmHWM: reset at exec, unlike ru_maxrss, which
    Linux carries over from the parent), or a child's if one went higher (dlt may fork)."""
    with open("/proc/self/status") as f:
        hwm_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(hwm_kib, children_kib) / 1024


def _targets(args: dict[str, Any]) -> list[tuple[str, str]]:
    """The exact request targets (path?query) the pipeline sent, recorded by the server."""
    return [tuple(t) for t in args["targets"]]  # type: ignore[misc]


# -- (a) the wire -------------------------------------------------------------------------------


@case
def wire_httpx(args: dict[str, Any]) -> dict[str, Any]:
    """httpx downloads the pipeline's pages one after another; bytes are counted, then dropped."""
    import httpx

    headers = {"Authorization": f"ApiKey {args['api_key']}"}
    with httpx.Client(base_url=args["base_url"], headers=headers, timeout=120) as http:
        total = 0
        with Stopwatch() as sw:
            for target in args["targets"]:
                with http.stream("GET", target) as response:
                    response.raise_for_status()
                    for chunk in response.iter_raw(1 << 20):
                        total += len(chunk)
    return {"rows": args["rows"], "wire_bytes": total, **_sw(sw)}


@case
def wire_socket(args: dict[str, Any]) -> dict[str, Any]:
    """The loopback limit for this server: the same requests on a bare socket, the body read
    with recv_into into one reused buffer (no HTTP library, no copies)."""
    split = urlsplit(args["base_url"])
    buffer = bytearray(64 << 20)
    view = memoryview(buffer)
    total = 0
    with socket.create_connection((split.hostname, split.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with Stopwatch() as sw:
            for target in args["targets"]:
                request = (
                    f"GET {target} HTTP/1.1\r\nHost: {split.netloc}\r\n"
                    f"Authorization: ApiKey {args['api_key']}\r\n\r\n"
                )
                sock.sendall(request.encode())
                total += _read_response(sock, view)
    return {"rows": args["rows"], "wire_bytes": total, **_sw(sw)}


def _read_response(sock: socket.socket, view: memoryview) -> int:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        head += chunk
    header, _, rest = head.partition(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    got = len(rest)
    while got < length:
        n = sock.recv_into(view, min(len(view), length - got))
        if not n:
            raise ConnectionError("body cut")
        got += n
    return length


# -- (b) our pipeline ---------------------------------------------------------------------------


@case
def pipeline_client(args: dict[str, Any]) -> dict[str, Any]:
    """The bare path under the asset: InfinityClient.export pages into one PartitionWriter."""
    from infinity_dagster.api import Credentials, InfinityClient
    from infinity_dagster.reports import CALLS
    from infinity_dagster.storage import PartitionWriter, partition_file

    day = date.fromisoformat(args["day"])
    path = partition_file(Path(args["data_dir"]) / "raw", "calls", day)
    client = InfinityClient(
        args["base_url"],
        args["igrp"],
        Credentials(api_key=args["api_key"]),
        wire_format=args.get("wire_format", "csv"),
        prefetch=args.get("prefetch", True),
    )
    with client, Stopwatch() as sw:
        wire = 0
        with PartitionWriter(path, CALLS.schema) as writer:
            for page in client.export(CALLS, start_date=day, end_date=day, tz="UTC"):
                writer.write(page.table)
                wire += page.wire_bytes
            stats = writer.commit()
    return {"rows": stats.rows, "wire_bytes": wire, "parquet_bytes": stats.bytes, **_sw(sw)}


@case
def pipeline_client_no_prefetch(args: dict[str, Any]) -> dict[str, Any]:
    """The same, each page fetched only after the previous one is written."""
    return pipeline_client({**args, "prefetch": False})


@case
def pipeline_client_ndjson(args: dict[str, Any]) -> dict[str, Any]:
    """The same over `format=json` (NDJSON) instead of CSV."""
    return pipeline_client({**args, "wire_format": "json"})


def _settings(args: dict[str, Any]):
    from infinity_dagster.settings import Settings

    env = {
        "INFINITY_IGRP": str(args["igrp"]),
        "INFINITY_API_KEY": args["api_key"],
        "INFINITY_BASE_URL": args["base_url"],
        "INFINITY_TIMEZONE": "UTC",
        "INFINITY_START_DATE": args.get("start_date", "2026-01-01"),
        "INFINITY_DATA_DIR": args["data_dir"],
    }
    os.environ.update(env)
    return Settings.from_env()


@case
def pipeline_dagster(args: dict[str, Any]) -> dict[str, Any]:
    """The `calls` asset materializing the day through Dagster (`materialize`, in-process)."""
    from dagster import AssetKey, DagsterInstance, materialize

    from infinity_dagster.defs import build_definitions

    defs = build_definitions(_settings(args))
    instance = DagsterInstance.ephemeral()
    with Stopwatch() as sw:
        result = materialize(
            list(defs.assets),
            selection=[AssetKey("calls")],
            partition_key=args["day"],
            resources=dict(defs.resources),
            instance=instance,
            raise_on_error=True,
        )
    rows = _materialized_rows(result)
    return {"rows": rows, **_sw(sw)}


def _materialized_rows(result) -> int:
    rows = 0
    for materialization in result.asset_materializations_for_node("calls"):
        meta = materialization.metadata
        if "dagster/row_count" in meta:
            rows += meta["dagster/row_count"].value
    return rows


@case
def backfill_dagster(args: dict[str, Any]) -> dict[str, Any]:
    """A backfill of `days` days through Dagster: one run per day, as a backfill launches them."""
    from dagster import AssetKey, DagsterInstance, materialize

    from infinity_dagster.defs import build_definitions

    defs = build_definitions(_settings(args))
    instance = DagsterInstance.ephemeral()
    last = date.fromisoformat(args["day"])
    days = [last - timedelta(days=i) for i in range(args["days"] - 1, -1, -1)]
    rows = 0
    with Stopwatch() as sw:
        for day in days:
            result = materialize(
                list(defs.assets),
                selection=[AssetKey("calls")],
                partition_key=day.isoformat(),
                resources=dict(defs.resources),
                instance=instance,
                raise_on_error=True,
            )
            rows += _materialized_rows(result)
    return {"rows": rows, "runs": len(days), **_sw(sw)}


# -- (c) dlt ------------------------------------------------------------------------------------


@case
def dlt_rest_api(args: dict[str, Any]) -> dict[str, Any]:
    """dlt's rest_api source, incremental on rowId, into Parquet files (filesystem destination)."""
    from .dlt_source import run_dlt

    with Stopwatch() as sw:
        rows, files_bytes = run_dlt(args)
    return {"rows": rows, "parquet_bytes": files_bytes, **_sw(sw)}


# -- polling, models ------------------------------------------------------------------------------


@case
def sensor_tick_idle(args: dict[str, Any]) -> dict[str, Any]:
    """One tick of the real `calls_rowid_sensor` with nothing new after its cursor (the last
    landed rowId): what every poll costs on a quiet day. Median of `repeat` ticks; the first
    one (the server renders that answer for the first time) is reported apart."""
    from dagster import DagsterInstance, build_sensor_context

    from infinity_dagster.defs import build_definitions
    from infinity_dagster.defs.sensors import Cursor

    defs = build_definitions(_settings(args))
    sensor = defs.get_sensor_def("calls_rowid_sensor")
    instance = DagsterInstance.ephemeral()
    cursor = Cursor(landed=args["last_row_id"]).to_json()
    ticks, skips = [], set()
    for _ in range(args.get("repeat", 5)):
        with Stopwatch() as sw:
            with build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={k: defs.resources[k] for k in ("infinity", "store")},
                definitions=defs,
            ) as context:
                result = sensor.evaluate_tick(context)
        ticks.append(sw.seconds)
        if result.run_requests:
            raise RuntimeError(f"an idle tick asked for runs: {result.run_requests}")
        skips.add(result.skip_message)
    return {
        "rows": 0,
        "seconds": sorted(ticks)[len(ticks) // 2],
        "first_seconds": ticks[0],
        "skip": sorted(skips),
        "base_rss_mb": sw.base_rss_mb,
    }


@case
def models_year(args: dict[str, Any]) -> dict[str, Any]:
    """DuckDB model rebuild over `days` days of Parquet vs bare scans of the same files.

    The year is the measured day's file hard-linked under `days` date folders (same rows each
    day; the models group by the folder's date), so it costs no disk and no generation time.
    """
    import duckdb

    from infinity_dagster.defs import daily_reports, snapshot_reports
    from infinity_dagster.storage import partition_file, report_glob
    from infinity_dagster.warehouse import WarehouseSpec, build_warehouse

    source = Path(args["day_file"])
    raw = Path(args["data_dir"]) / "raw"
    shutil.rmtree(raw / "calls", ignore_errors=True)
    last = date.fromisoformat(args["day"])
    for i in range(args["days"]):
        target = partition_file(raw, "calls", last - timedelta(days=i))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    settings = _settings(args)
    reports = [*daily_reports(settings), *snapshot_reports(settings)]
    glob = report_glob(raw, "calls")
    scan = f"read_parquet('{glob}', hive_partitioning = true)"
    con = duckdb.connect()
    timings = {}
    rows = con.execute(f"SELECT count(*) FROM {scan}").fetchone()[0]
    # What the models read: every column they touch, really decoded.
    columns = ("date", "dgrp", "dgrpName", "rowId", "callState", "vid", settings.cid_field)
    reads = ", ".join(f'count("{c}")' for c in columns)
    for name, sql in (
        ("count_star_seconds", f"SELECT count(*) FROM {scan}"),
        ("scan_seconds", f"SELECT {reads} FROM {scan}"),
    ):
        started = time.perf_counter()
        con.execute(sql).fetchall()
        timings[name] = time.perf_counter() - started
    con.close()
    spec = WarehouseSpec(
        raw_dir=raw,
        database=Path(args["data_dir"]) / "infinity.duckdb",
        reports=reports,
        cid_field=settings.cid_field,
    )
    with Stopwatch() as sw:
        counts = build_warehouse(spec)
    return {
        "rows": rows,
        "days": args["days"],
        "model_rows": sum(counts.values()),
        **{k: round(v, 3) for k, v in timings.items()},
        **_sw(sw),
    }


def _sw(sw: Stopwatch) -> dict[str, float]:
    return {"seconds": sw.seconds, "base_rss_mb": sw.base_rss_mb}


def main(argv: list[str]) -> int:
    name, raw_args = argv[0], argv[1] if len(argv) > 1 else "{}"
    result = CASES[name](json.loads(raw_args))
    result["peak_rss_mb"] = peak_rss_mb()
    print("BENCH-RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
