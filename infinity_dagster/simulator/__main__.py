"""``python -m infinity_dagster.simulator``: serve a generated installation until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime, timedelta

from .data import DEMO_IGRP, generate_installation
from .server import DEMO_API_KEY, DEMO_PASSWORD, DEMO_USERNAME, SimulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infinity_dagster.simulator",
        description="Serve a generated Infinity installation on loopback (rows appear as real "
        "time passes).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8750)
    parser.add_argument("--igrp", type=int, default=DEMO_IGRP)
    parser.add_argument("--api-key", default=DEMO_API_KEY)
    parser.add_argument("--username", default=DEMO_USERNAME)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--days", type=int, default=30, help="the last N days up to today")
    parser.add_argument("--calls-per-day", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tz", default="Europe/London", help="zone of the business-hours curve")
    parser.add_argument("--cid-gap-rate", type=float, default=0.12)
    parser.add_argument("--over-limit", choices=("reject", "truncate"), default="reject")
    parser.add_argument("--csv-bom", action="store_true")
    parser.add_argument("--csv-crlf", action="store_true")
    args = parser.parse_args(argv)

    today = datetime.now(UTC).date()
    inst = generate_installation(
        igrp=args.igrp,
        start=today - timedelta(days=max(args.days, 1) - 1),
        end=today,
        calls_per_day=args.calls_per_day,
        seed=args.seed,
        cid_gap_rate=args.cid_gap_rate,
        tz=args.tz,
    )
    server = SimulatorServer(
        inst,
        api_key=args.api_key,
        username=args.username,
        password=args.password,
        host=args.host,
        port=args.port,
        over_limit=args.over_limit,
        csv_bom=args.csv_bom,
        csv_crlf=args.csv_crlf,
    )
    _stop_on_signals()
    server.start()
    print(
        f"Infinity simulator on {server.base_url} for igrp {inst.igrp}: "
        f"API key {args.api_key!r} (v2.1, 'Authorization: ApiKey ...'), "
        f"or username {args.username!r} / password {args.password!r} (v2, HTTP Basic). "
        "Ctrl-C stops it.",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM stop the server cleanly (even when SIGINT was inherited as ignored)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


if __name__ == "__main__":
    sys.exit(main())
