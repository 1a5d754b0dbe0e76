"""The benchmark's Infinity API: the bundled simulator in its own process, answers precomputed.

`python -m benchmarks.server --calls N --days D --day YYYY-MM-DD` generates an installation with N
calls on each of the D days ending at `day`, serves it on a free loopback port, prints one JSON line
`{"base_url": ...}` and serves until stdin closes (so it dies with the benchmark).

Its own process keeps the server's CPU off the measured client's GIL. Each distinct answer is
rendered once and kept (`CachingSimulator`): the data does not change during a benchmark, so after
a warm-up pass every measured client reads the same precomputed bytes and the server only copies
them to the socket; what is measured is the client, not the simulator's rendering. Render time is
kept apart and reported (`/__bench__/stats`).

Bench-only routes (this process only, never in the package):
`/__bench__/stats` (render seconds, requests), `/__bench__/requests` (the request targets since
the last reset, for replaying exactly the pipeline's pages), `/__bench__/reset`,
`/__bench__/uncache` (forget the rendered answers).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from urllib.parse import urlsplit

from infinity_dagster.simulator import SimulatorServer, generate_installation
from infinity_dagster.simulator.server import JSON_TYPE, Response

API_KEY = "bench-key"
IGRP = 20001
BENCH_PREFIX = "/__bench__/"


class CachingSimulator(SimulatorServer):
    """The simulator with each 200 answer rendered once (the clock is fixed, data static)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._cache: dict[tuple, Response] = {}
        self._lock = threading.Lock()
        self.render_seconds = 0.0
        self.renders = 0
        self.hits = 0
        self.targets: list[str] = []

    def handle(
        self, path: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> Response:
        if path.startswith(BENCH_PREFIX):
            return self._bench(path[len(BENCH_PREFIX) :])
        key = (path, _canonical(params), headers.get("Authorization"))
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        started = time.perf_counter()
        response = super().handle(path, params, headers)
        with self._lock:
            self.render_seconds += time.perf_counter() - started
            self.renders += 1
            if response.status == 200:
                self._cache[key] = response
        return response

    def _bench(self, command: str) -> Response:
        if command == "reset":
            self.targets = []
            self.requests.clear()
            body: object = "ok"
        elif command == "uncache":  # answers are rendered again, as a real server works per request
            self._cache.clear()
            body = "ok"
        elif command == "requests":
            body = self.targets
        else:
            body = {
                "render_seconds": round(self.render_seconds, 3),
                "renders": self.renders,
                "cache_hits": self.hits,
                "requests": len(self.requests),
            }
        return Response(200, json.dumps(body).encode(), JSON_TYPE)

    def _serve(self, handler) -> None:  # type: ignore[no-untyped-def]
        if not handler.path.startswith(BENCH_PREFIX):
            self.targets.append(handler.path)
        super()._serve(handler)


def _canonical(params: Sequence[tuple[str, str]]) -> tuple:
    """Parameters as a key: the order of different names does not matter (dlt sends its own
    order), the order of one name's repeated values does (display[] order is the column order)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    return tuple(sorted((name, tuple(values)) for name, values in grouped.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--calls", type=int, required=True, help="calls per day")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--day", required=True, help="the last day served (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    last = date.fromisoformat(args.day)
    started = time.perf_counter()
    installation = generate_installation(
        igrp=IGRP,
        start=last - timedelta(days=args.days - 1),
        end=last,
        calls_per_day=args.calls,
        seed=11,
        tz="UTC",
    )
    generated = time.perf_counter() - started
    # A fixed clock long after the data: every row is visible, answers never change.
    server = CachingSimulator(installation, api_key=API_KEY, clock=_far_future())
    server.start()
    print(
        json.dumps({"base_url": server.base_url, "generate_seconds": round(generated, 2)}),
        flush=True,
    )
    try:
        sys.stdin.read()  # until the benchmark closes our stdin (or exits)
    finally:
        server.stop()
    return 0


def _far_future():
    from datetime import UTC, datetime

    return datetime(2100, 1, 1, tzinfo=UTC)


def bench_path(base_url: str, command: str) -> str:
    return base_url.rstrip("/") + BENCH_PREFIX + command


def target_path_and_query(target: str) -> tuple[str, str]:
    split = urlsplit(target)
    return split.path, split.query


if __name__ == "__main__":
    sys.exit(main())
