"""The Infinity Reports API as a real HTTP server on loopback (stdlib ThreadingHTTPServer).

Request handling is a pure function of (path, parameters, headers) -> Response (`handle`), wrapped
by a thin HTTP layer that records every request, consults the fault plan and writes the answer with
HTTP/1.1 keep-alive and Content-Length.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa

from .faults import REWRITES, FaultPlan, FaultSpec, html_error, rewrite_body
from .formats import json_string, render
from .installation import Installation
from .query import Filter, QueryError, parse_query, select
from .schema import TRIGGER_ROUTES

log = logging.getLogger(__name__)

DEMO_API_KEY = "demo-key"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
JSON_TYPE = "application/json; charset=utf-8"
CONTENT_TYPES = {
    "json": JSON_TYPE,
    "jsonarray": JSON_TYPE,
    "csv": "text/csv; charset=utf-8",
}

Clock = datetime | Callable[[], datetime] | None

_V = r"(v2|v2\.1)"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^/reports/{_V}/igrps/([^/]+)/triggers/(calls|goals)$"), "trigger"),
    (re.compile(rf"^/reports/{_V}/igrps/([^/]+)/triggers/calls/([^/]+)/recording$"), "recording"),
    (re.compile(rf"^/config/{_V}/igrps/([^/]+)/dgrps$"), "dgrps"),
    (re.compile(rf"^/config/{_V}/igrps/([^/]+)/dgrps/([^/]+)/numbers$"), "numbers"),
    (re.compile(rf"^/reports/{_V}/organisations$"), "organisations"),
]


def _match_route(path: str) -> tuple[str, re.Match[str]] | None:
    for pattern, kind in _ROUTES:
        m = pattern.match(path)
        if m:
            return kind, m
    return None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (no headers, so no credentials)."""

    method: str
    path: str
    params: list[tuple[str, str]]
    status: int
    rows: int
    bytes: int
    fault: str | None = None
    seconds: float = 0.0  # time the server took to produce the answer (before sending it)


@dataclass
class Response:
    status: int
    body: bytes | memoryview
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0


def _error(status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    return Response(status, json_string(message), JSON_TYPE, list(headers))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: SimulatorServer) -> None:
        self.simulator = simulator
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._sockets_lock:
            sockets = list(self.open_sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "InfinitySimulator/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after this
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.server.simulator._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class SimulatorServer:
    """The Infinity API for one installation on a loopback port.

    ``clock`` is None for real time, a datetime (UTC; naive means UTC) or a callable returning one:
    trigger rows whose ``insertedAt`` is later than the clock are invisible.
    """

    def __init__(
        self,
        installation: Installation,
        api_key: str | None = DEMO_API_KEY,
        username: str | None = DEMO_USERNAME,
        password: str | None = DEMO_PASSWORD,
        host: str = "127.0.0.1",
        port: int = 0,
        over_limit: str = "reject",
        clock: Clock = None,
        csv_bom: bool = False,
        csv_crlf: bool = False,
    ) -> None:
        if over_limit not in ("reject", "truncate"):
            raise ValueError("over_limit must be 'reject' or 'truncate'")
        self.installation = installation
        self.host = host
        self.port = port
        self.over_limit = over_limit
        self.csv_bom = csv_bom
        self.csv_crlf = csv_crlf
        self.requests: list[RequestRecord] = []
        self._api_key = api_key
        self._username = username
        self._password = password
        self._clock: Clock = clock
        self._fault_plan = FaultPlan()
        self._last_bodies: dict[str, Response] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        """Bind and serve in a background thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"infinity-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() (or KeyboardInterrupt)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running: call start() first")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    # -- controls -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The server's clock, as an aware UTC datetime."""
        clock = self._clock
        value = clock() if callable(clock) else clock
        if value is None:
            return datetime.now(UTC)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def set_clock(self, clock: Clock) -> None:
        """Move the clock (a datetime, a callable, or None for real time)."""
        self._clock = clock

    def add_rows(
        self,
        route: str,
        rows: Sequence[Mapping[str, Any]],
        recordings: Mapping[int | str, bytes] | None = None,
    ) -> pa.Table:
        """New rows arrive now (see Installation.add_rows); returns them as stored."""
        return self.installation.add_rows(route, rows, now=self.now(), recordings=recordings)

    @property
    def faults(self) -> list[FaultSpec]:
        """The planned faults, consulted in order for each request."""
        return self._fault_plan.faults

    def inject(self, spec: FaultSpec | None = None, **kwargs: Any) -> FaultSpec:
        """Plan a fault: ``inject(FaultSpec(kind="429", times=2))`` or ``inject(kind="503")``."""
        return self._fault_plan.add(spec if spec is not None else FaultSpec(**kwargs))

    def clear_faults(self) -> None:
        self._fault_plan.clear()

    # -- request handling ---------------------------------------------------------------------

    def handle(
        self, path: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one GET request (no faults applied)."""
        if len(path) > 1:
            path = path.rstrip("/")
        found = _match_route(path)
        if found is None:
            return _error(404, f"Not found: {path}")
        kind, m = found
        version = m.group(1)
        denied = self._check_auth(version, headers.get("Authorization"))
        if denied is not None:
            return denied
        igrp = str(self.installation.igrp)
        if kind != "organisations" and m.group(2) != igrp:
            return _error(403, "access denied")
        if any(v != igrp for k, v in params if k.startswith("igrp")):
            return _error(403, "access denied")
        try:
            if kind == "recording":
                return self._recording(m.group(3))
            route = m.group(3) if kind == "trigger" else kind
            extra: list[Filter] = []
            if kind == "numbers":
                dgrp = m.group(3)
                if dgrp != "all":
                    if not dgrp.isdigit():
                        return _error(404, f"Not found: {path}")
                    extra.append(Filter("dgrp", "eq", dgrp))
            return self._report(route, params, extra)
        except QueryError as exc:
            return _error(exc.status, exc.message)

    def _check_auth(self, version: str, header: str | None) -> Response | None:
        scheme, _, credentials = (header or "").strip().partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if version == "v2.1":
            if (
                scheme == "apikey"
                and self._api_key
                and hmac.compare_digest(credentials.encode(), self._api_key.encode())
            ):
                return None
            return _error(401, "auth required")
        if scheme == "basic" and self._username is not None and self._password is not None:
            try:
                user, _, password = (
                    base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if hmac.compare_digest(user.encode(), self._username.encode()) and hmac.compare_digest(
                password.encode(), self._password.encode()
            ):
                return None
        return _error(401, "auth required", [("WWW-Authenticate", 'Basic realm="Infinity API"')])

    def _visible_until_us(self) -> int:
        now = self.now()
        delta = now - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def _report(
        self, route: str, params: Sequence[tuple[str, str]], extra: list[Filter]
    ) -> Response:
        rt = self.installation.route(route)
        q = parse_query(params, rt.fields, self.over_limit)
        q.filters = extra + q.filters
        visible = self._visible_until_us() if route in TRIGGER_ROUTES else None
        page = select(q, rt, visible)
        body = render(page, q.fmt, csv_bom=self.csv_bom, csv_crlf=self.csv_crlf)
        return Response(200, body, CONTENT_TYPES[q.fmt], rows=page.num_rows)

    def _recording(self, row_id: str) -> Response:
        audio = None
        if row_id.isdigit():
            audio = self.installation.recording(int(row_id), self._visible_until_us())
        if audio is None:
            return _error(404, f"No recording for rowId {row_id}")
        return Response(200, audio, "audio/mpeg", rows=1)

    # -- the HTTP layer -----------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        started = time.perf_counter()
        split = urlsplit(handler.path)
        path = split.path
        params = parse_qsl(split.query, keep_blank_values=True)
        fault = self._fault_plan.take(path)
        kind = fault.kind if fault else None
        if kind == "429":
            assert fault is not None
            retry_after = fault.retry_after_header()
            headers = [("Retry-After", retry_after)] if retry_after else []
            resp = _error(429, fault.message, headers)
        elif kind in ("500", "502", "503", "504"):
            resp = Response(int(kind), html_error(kind), "text/html; charset=utf-8")
        elif kind == "error200":
            assert fault is not None
            resp = _error(200, fault.message)
        else:
            if kind == "stall":
                assert fault is not None
                self._stopping.wait(fault.delay)
            try:
                resp = self.handle(path, params, handler.headers)
            except Exception as exc:  # a simulator bug must not look like a dropped connection
                log.exception("simulator error answering %s", path)
                resp = _error(500, f"Internal simulator error: {type(exc).__name__}")
            if kind == "repeat" and path in self._last_bodies:
                resp = self._last_bodies[path]
            elif resp.status == 200:
                self._last_bodies[path] = resp
                if kind in REWRITES:
                    assert fault is not None
                    body = rewrite_body(bytes(resp.body), resp.content_type, fault)
                    resp = Response(200, body, resp.content_type, resp.headers, resp.rows)
        size = len(resp.body)
        self.requests.append(
            RequestRecord(
                handler.command,
                path,
                params,
                resp.status,
                resp.rows,
                size,
                kind,
                time.perf_counter() - started,
            )
        )
        try:
            handler.send_response(resp.status)
            handler.send_header("Content-Type", resp.content_type)
            handler.send_header("Content-Length", str(size))
            for name, value in resp.headers:
                handler.send_header(name, value)
            handler.end_headers()
            if kind in ("cut", "stall_body"):
                assert fault is not None
                part = max(0, min(size - 1, int(size * fault.cut_fraction)))
                handler.wfile.write(resp.body[:part])
                if kind == "cut":
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._stopping.wait(fault.delay)
                handler.wfile.write(resp.body[part:])
            else:
                handler.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            handler.close_connection = True
