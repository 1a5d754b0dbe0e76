"""`python -m benchmarks.run` (or `make bench`): throughput and memory, side by side, in one run.

For each day size N (default 100k and 1M calls) a simulator process serves that day; then each
case runs in its own fresh process (honest peak RSS, no shared warm caches):

  (a) the wire      `wire_httpx`: httpx downloads the pipeline's exact pages, bytes dropped;
                    `wire_socket`: the same on a bare socket (the loopback limit of this server)
  (b) our pipeline  `pipeline_client`: InfinityClient.export -> PartitionWriter (the asset's path);
                    `pipeline_dagster`: the `calls` asset through Dagster `materialize`
  (c) dlt           `dlt_rest_api`: dlt's rest_api source, incremental rowId cursor, into Parquet

then one tick of the `calls_rowid_sensor` with nothing new, a DuckDB model rebuild over a year
of days against bare scans of the same Parquet, and a 30-day backfill through Dagster.
Absolute numbers depend on the machine and its load; the ratios, measured side by side in the
same run, are the result. Nothing here is asserted by `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from .server import API_KEY, IGRP, bench_path

DAY = date(2026, 11, 2)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    case: str
    size: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, Any]:
        """The median run by time (the machine is shared: medians resist a neighbour's burst)."""
        ordered = sorted(self.runs, key=lambda r: r["seconds"])
        return ordered[(len(ordered) - 1) // 2]

    @property
    def seconds(self) -> float:
        return statistics.median(r["seconds"] for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r["peak_rss_mb"] for r in self.runs)


class Server:
    """`benchmarks.server` in its own process, for as long as the `with` block lasts."""

    def __init__(self, calls: int, days: int = 1, day: date = DAY):
        self.args = ["--calls", str(calls), "--days", str(days), "--day", day.isoformat()]

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark simulator did not start (see its error above)")
        info = json.loads(line)
        self.base_url: str = info["base_url"]
        self.generate_seconds: float = info["generate_seconds"]
        self.http = httpx.Client(headers={"Authorization": f"ApiKey {API_KEY}"}, timeout=300)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def bench(self, command: str) -> Any:
        return self.http.get(bench_path(self.base_url, command)).json()

    def replay(self, targets: list[str]) -> int:
        """Request targets once, untimed (fills the server's answer cache)."""
        total = 0
        for target in targets:
            response = self.http.get(self.base_url + target)
            response.raise_for_status()
            total += len(response.content)
        return total


def run_case(name: str, args: dict[str, Any], verbose: bool = False) -> dict[str, Any]:
    """One case in a fresh process; returns its JSON result line."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cases", name, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RUNTIME__DLTHUB_TELEMETRY": "false"},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise RuntimeError(f"benchmark case {name} failed (exit {proc.returncode})")
    if verbose:
        sys.stderr.write(proc.stderr[-2000:])
    return json.loads(lines[-1][len("BENCH-RESULT ") :])


def variant(target: str, **changes: str) -> str:
    """A recorded request target with some parameters replaced (same path, same other values)."""
    split = urlsplit(target)
    params = [(k, changes.get(k, v)) for k, v in parse_qsl(split.query, keep_blank_values=True)]
    return split.path + "?" + urlencode(params)


def dlt_targets(targets: list[str]) -> list[str]:
    """The pages dlt will ask for: jsonarray, and `rowId > 0` on the first page (its initial
    cursor value); the server's cache key ignores parameter order, as the answers do."""
    pages = [variant(t, format="jsonarray") for t in targets]
    if pages:
        pages[0] += "&" + urlencode({"filter[]": "rowId-gt-value-0"})
    return pages


class Bench:
    def __init__(self, args: argparse.Namespace, scratch: Path):
        self.args = args
        self.scratch = scratch
        self.results: list[Result] = []
        self.notes: dict[str, Any] = {}

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def measure(self, name: str, size: int, args: dict[str, Any], repeat: int) -> Result:
        result = Result(name, size)
        for i in range(repeat):
            data_dir = self.scratch / f"{name}-{size}-{i}"
            shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.mkdir(parents=True)
            run = run_case(name, {**args, "data_dir": str(data_dir)}, self.args.verbose)
            result.runs.append(run)
            self.log(
                f"{name} N={size:,}: {run['rows']:,} rows in {run['seconds']:.2f} s, "
                f"peak RSS {run['peak_rss_mb']:.0f} MB"
            )
            if i < repeat - 1 or name != "pipeline_client":
                shutil.rmtree(data_dir, ignore_errors=True)
        self.results.append(result)
        return result

    def day_size(self, size: int) -> None:
        repeat = self.args.repeat
        with Server(size) as server:
            self.log(f"simulator for N={size:,} up ({server.generate_seconds} s to generate)")
            common = {"base_url": server.base_url, "api_key": API_KEY, "igrp": IGRP}
            common |= {"day": DAY.isoformat(), "rows": size}
            # Warm-up: the pipeline's own pass, uncached, tells the pages and the server's cost.
            server.bench("reset")
            warm = self.scratch / f"warm-{size}"
            warm.mkdir(parents=True, exist_ok=True)
            first = run_case("pipeline_client", {**common, "data_dir": str(warm)})
            targets: list[str] = server.bench("requests")
            stats = server.bench("stats")
            self.notes[f"server_{size}"] = {
                "pages": len(targets),
                "render_seconds_per_page": round(stats["render_seconds"] / len(targets), 4),
                "wire_bytes": first["wire_bytes"],
                "bytes_per_row": round(first["wire_bytes"] / max(first["rows"], 1), 1),
            }
            self.notes[f"last_row_id_{size}"] = _last_row_id(warm)
            server.replay(dlt_targets(targets))
            json_sizes = size <= self.args.json_max
            if json_sizes:
                server.replay([variant(t, format="json") for t in targets])
            self.log(f"warm: {len(targets)} pages, server render {stats['render_seconds']:.2f} s")
            common["targets"] = targets
            self.measure("wire_socket", size, common, repeat)
            self.measure("wire_httpx", size, common, repeat)
            self.measure("pipeline_client", size, common, repeat)
            self.measure("pipeline_client_no_prefetch", size, common, 1)
            if json_sizes:
                self.measure("pipeline_client_ndjson", size, common, 1)
            self.measure("pipeline_dagster", size, common, repeat)
            if not self.args.no_dlt:
                self.measure("dlt_rest_api", size, common, self.args.dlt_repeat)
            if size == max(self.args.sizes):
                poll = {**common, "last_row_id": self.notes[f"last_row_id_{size}"]}
                self.measure("sensor_tick_idle", size, poll, 1)
            if size == min(self.args.sizes):
                self.notes["day_file"] = str(_day_file(warm))

    def year_of_models(self) -> None:
        size = min(self.args.sizes)
        args = {
            "base_url": "http://127.0.0.1:9",  # settings need one; the models make no request
            "api_key": API_KEY,
            "igrp": IGRP,
            "day": DAY.isoformat(),
            "days": self.args.model_days,
            "day_file": self.notes["day_file"],
        }
        self.measure("models_year", size, args, 1)

    def backfill(self) -> None:
        days, calls = self.args.backfill_days, self.args.backfill_calls
        with Server(calls, days=days) as server:
            self.log(f"simulator for {days} days x {calls:,} calls up")
            args = {"base_url": server.base_url, "api_key": API_KEY, "igrp": IGRP}
            args |= {"day": DAY.isoformat(), "days": days, "start_date": "2026-01-01"}
            self.measure("backfill_dagster", days * calls, args, 1)


def _day_file(data_dir: Path) -> Path:
    return next((data_dir / "raw" / "calls").glob("date=*/data.parquet"))


def _last_row_id(data_dir: Path) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(_day_file(data_dir), columns=["rowId"])
    return int(pc.max(table.column("rowId")).as_py())


# -- the report ---------------------------------------------------------------------------------


LABELS = {
    "wire_socket": "(a0) loopback limit: bare socket",
    "wire_httpx": "(a) wire: httpx, bytes dropped",
    "pipeline_client": "(b) pipeline: client + Parquet",
    "pipeline_client_no_prefetch": "(b') same, prefetch off",
    "pipeline_client_ndjson": "(b'') same, NDJSON instead of CSV",
    "pipeline_dagster": "(b) pipeline: Dagster materialize",
    "dlt_rest_api": "(c) dlt rest_api -> Parquet",
    "sensor_tick_idle": "calls_rowid_sensor tick, nothing new (median of 5)",
    "models_year": "DuckDB model rebuild, a year of days",
    "backfill_dagster": "30-day backfill through Dagster",
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    versions = []
    for module in ("pyarrow", "httpx", "dagster", "duckdb", "dlt"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem:.0f} GiB, Python {platform.python_version()}; {', '.join(versions)}; "
        f"load average at the end {load}"
    )


def report(bench: Bench) -> str:
    rows = [
        "| case | N calls | seconds | rows/s | MB/s (wire) | peak RSS MB | RSS before MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r.case, r.size): r for r in bench.results}
    for r in bench.results:
        best = r.best
        wire = best.get("wire_bytes")
        mbps = f"{wire / r.seconds / 1e6:,.0f}" if wire and r.seconds else ""
        rate = f"{best['rows'] / r.seconds:,.0f}" if r.seconds and best["rows"] else ""
        seconds = f"{r.seconds:.3f}" if r.seconds < 1 else f"{r.seconds:.2f}"
        runs = f" (median of {len(r.runs)})" if len(r.runs) > 1 else ""
        rows.append(
            f"| {LABELS.get(r.case, r.case)}{runs} | {r.size:,} | {seconds} | {rate} | {mbps} | "
            f"{r.peak_rss_mb:,.0f} | {best.get('base_rss_mb', 0):,.0f} |"
        )
    lines = ["\n".join(rows), ""]

    def ratio(a: tuple[str, int], b: tuple[str, int]) -> float | None:
        if a in by_key and b in by_key and by_key[b].seconds:
            return by_key[a].seconds / by_key[b].seconds
        return None

    checks = []
    for size in bench.args.sizes:
        for name, num, den, target, better in (
            ("(b) client / (a) wire", "pipeline_client", "wire_httpx", 1.3, "<="),
            ("(b) Dagster / (a) wire", "pipeline_dagster", "wire_httpx", 1.3, "<="),
            ("(a) wire / loopback limit", "wire_httpx", "wire_socket", None, ""),
            ("(c) dlt / (b) Dagster", "dlt_rest_api", "pipeline_dagster", 3.0, ">="),
            ("prefetch off / on", "pipeline_client_no_prefetch", "pipeline_client", None, ""),
            ("NDJSON / CSV", "pipeline_client_ndjson", "pipeline_client", None, ""),
        ):
            value = ratio((num, size), (den, size))
            if value is not None:
                checks.append((f"{name}, N={size:,}", value, target, better))
    small, large = min(bench.args.sizes), max(bench.args.sizes)
    for case in ("pipeline_client", "pipeline_dagster"):
        if (case, small) in by_key and (case, large) in by_key and small != large:
            value = by_key[(case, large)].peak_rss_mb / by_key[(case, small)].peak_rss_mb
            checks.append((f"peak RSS {case}, {large:,} / {small:,}", value, 1.2, "<="))
    models = by_key.get(("models_year", small))
    if models:
        best = models.best
        checks.append(
            ("model rebuild / bare column scan", best["seconds"] / best["scan_seconds"], 3.0, "<=")
        )
        checks.append(
            (
                "model rebuild / count(*) (metadata only)",
                best["seconds"] / best["count_star_seconds"],
                None,
                "",
            )
        )
    poll = by_key.get(("sensor_tick_idle", large))
    if poll:
        checks.append(("idle sensor tick, seconds (median of 5)", poll.best["seconds"], 1.0, "<"))
        checks.append(
            ("idle sensor tick, first (uncached answer)", poll.best["first_seconds"], 1.0, "<")
        )
    lines += ["| ratio | value | target | met |", "|---|---:|---:|---|"]
    for name, value, target, better in checks:
        met = ""
        if target is not None:
            ok = value <= target if better in ("<=", "<") else value >= target
            met = "yes" if ok else "**no**"
        shown = f"{better} {target}" if target is not None else ""
        lines.append(f"| {name} | {value:.2f} | {shown} | {met} |")
    lines.append("")
    for key, value in bench.notes.items():
        if key.startswith("server_"):
            lines.append(
                f"- server, N={int(key.split('_')[1]):,}: {value['pages']} pages, "
                f"{value['bytes_per_row']} CSV bytes per row, first (uncached) render "
                f"{value['render_seconds_per_page'] * 1000:.0f} ms per page; measured runs "
                "read precomputed answers"
            )
    if models:
        b = models.best
        lines.append(
            f"- models: {b['rows']:,} rows over {b['days']} days; rebuild {b['seconds']:.2f} s, "
            f"column scan {b['scan_seconds']:.2f} s, count(*) {b['count_star_seconds']:.3f} s"
        )
    backfill = [r for r in bench.results if r.case == "backfill_dagster"]
    if backfill:
        b = backfill[0].best
        lines.append(
            f"- backfill: {b['runs']} runs, {b['rows']:,} rows, {b['seconds']:.1f} s "
            f"({b['seconds'] / b['runs']:.2f} s per day)"
        )
    lines.append(f"- machine: {machine()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="calls in the measured day, comma-separated (default 100000,1000000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument("--dlt-repeat", type=int, default=1)
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt (not installed)")
    parser.add_argument(
        "--json-max", type=int, default=100_000, help="measure NDJSON too for days up to this size"
    )
    parser.add_argument("--model-days", type=int, default=365)
    parser.add_argument("--backfill-days", type=int, default=30)
    parser.add_argument(
        "--backfill-calls", type=int, default=20_000, help="calls per day in the backfill"
    )
    parser.add_argument("--skip", default="", help="comma-separated: models,backfill")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.md")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    skip = set(filter(None, args.skip.split(",")))
    if not args.no_dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            print(
                "dlt is not installed: pip install -e '.[bench]', or pass --no-dlt", file=sys.stderr
            )
            return 2
    with tempfile.TemporaryDirectory(prefix="infinity-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        for size in sorted(args.sizes):
            bench.day_size(size)
        if "models" not in skip:
            bench.year_of_models()
        if "backfill" not in skip:
            bench.backfill()
        text = report(bench)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"`{command.strip()}`\n\n{text}\n")
        raw = [{"case": r.case, "size": r.size, "runs": r.runs} for r in bench.results]
        args.out.with_suffix(".json").write_text(
            json.dumps({"command": command.strip(), "results": raw, "notes": bench.notes}, indent=1)
        )
        print(
            f"\n(written to {args.out} and {args.out.with_suffix('.json').name})", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
