"""Dagster resources: the Infinity API, the Parquet store, and the bundled demo simulator."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from ..api import Credentials, InfinityClient, RetryPolicy
from ..api.errors import InfinityConfigError

_demo_lock = threading.Lock()
_demo_servers: dict[tuple, object] = {}


class InfinityResource(ConfigurableResource):
    """The Infinity Reports API for one installation.

    Set `api_key` (v2.1 routes) or `username` and `password` (v2 routes) through `EnvVar`, so
    their values never show in the UI. With `demo` and no `base_url`, the bundled simulator is
    started in this process (same seed, same data, in every process).
    """

    igrp: int
    base_url: str | None = None
    # Secrets: resolved from EnvVars at run time, and kept out of the resource's repr (which an
    # error or a log line could otherwise print).
    api_key: str | None = Field(default=None, repr=False)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    timezone: str = "UTC"
    wire_format: str = "csv"
    page_size: int = 50_000
    # Reliability knobs (see the README's "Reliability" section). The read timeout bounds every
    # wait for bytes from the server; a page is retried as a whole up to `max_attempts` times.
    timeout_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    max_attempts: int = 6
    retry_initial_wait_seconds: float = 1.0
    retry_max_wait_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    demo: bool = False
    demo_start_date: str | None = None

    def credentials(self) -> Credentials:
        if self.api_key:
            return Credentials(api_key=self.api_key)
        if self.username and self.password:
            return Credentials(username=self.username, password=self.password)
        raise InfinityConfigError(
            "No Infinity credentials: set INFINITY_API_KEY (or INFINITY_USERNAME and "
            "INFINITY_PASSWORD)."
        )

    def resolved_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        if not self.demo:
            raise InfinityConfigError("INFINITY_BASE_URL is not set.")
        return demo_simulator_url(self.timezone, self.demo_start_date)

    def get_client(self) -> InfinityClient:
        return InfinityClient(
            self.resolved_base_url(),
            self.igrp,
            self.credentials(),
            tz=self.timezone,
            wire_format=self.wire_format,
            page_size=self.page_size,
            timeout_seconds=self.timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                initial_wait_seconds=self.retry_initial_wait_seconds,
                max_wait_seconds=self.retry_max_wait_seconds,
                max_retry_after_seconds=self.max_retry_after_seconds,
            ),
        )


class ParquetStore(ConfigurableResource):
    """Where the Parquet files and the DuckDB file live."""

    data_dir: str

    @property
    def raw_dir(self) -> Path:
        return Path(self.data_dir) / "raw"


def demo_simulator_url(tz: str, start_date: str | None) -> str:
    """Start (once per process) the bundled simulator serving the demo installation."""
    from ..settings import DEMO_HISTORY_DAYS
    from ..simulator import DEMO_API_KEY, DEMO_IGRP, SimulatorServer, generate_installation

    start = (
        date.fromisoformat(start_date)
        if start_date
        else date.today() - timedelta(days=DEMO_HISTORY_DAYS)
    )
    key = (tz, start)
    with _demo_lock:
        server = _demo_servers.get(key)
        if server is None:
            installation = generate_installation(
                igrp=DEMO_IGRP,
                start=start - timedelta(days=1),
                end=date.today() + timedelta(days=1),
                calls_per_day=1500,
                seed=7,
                cid_gap_rate=0.12,
                tz=tz,
            )
            server = SimulatorServer(installation, api_key=DEMO_API_KEY)
            server.start()
            _demo_servers[key] = server
        return server.base_url  # type: ignore[attr-defined]
