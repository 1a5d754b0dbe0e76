"""Fault injection: planned misbehaviour the server applies to matching requests.

``server.inject(FaultSpec(kind="429", times=2, retry_after="1"))`` makes the next two matching
requests answer 429. Kinds:

- ``"429"``: Too Many Requests with ``Retry-After``, JSON-string body. ``retry_after`` is sent as
  written (``"2"`` seconds, or an HTTP date); ``retry_after_date`` instead sends the HTTP date that
  many seconds after the moment of answering (``Wed, 02 Dec 2026 10:00:02 GMT``).
- ``"500"``, ``"502"``, ``"503"``, ``"504"``: that status with an HTML body, as a proxy would send.
- ``"cut"``: the real response's headers and Content-Length, then only part of the body, then the
  connection is closed.
- ``"stall"``: wait ``delay`` seconds before answering (normally), to trip client timeouts.
- ``"stall_body"``: send the headers and part of the body, wait ``delay`` seconds, send the rest.
- ``"error200"``: status 200 with a bare JSON-string body (``message``), as the real service does.
- ``"repeat"``: answer with the previous successful body of the same path again (a repeated page).
- ``"drop_field"``, ``"extra_field"``, ``"bad_value"``: the real answer with column ``column``
  removed, with an extra column ``column`` (every value ``value``), or with every non-empty value
  of ``column`` replaced by ``value`` (e.g. ``callDuration`` sent as ``"12s"``). CSV and NDJSON.
"""

from __future__ import annotations

import csv
import email.utils
import io
import json
import threading
import time
from dataclasses import dataclass, field

KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "cut",
    "stall",
    "stall_body",
    "error200",
    "repeat",
    "drop_field",
    "extra_field",
    "bad_value",
)
REWRITES = ("drop_field", "extra_field", "bad_value")

_REASONS = {
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Unavailable",
    "504": "Gateway Timeout",
}


@dataclass
class FaultSpec:
    """A planned fault: applies to `times` matching requests after skipping `after` of them.

    `route` is a substring the request path must contain (``"triggers/calls"``); None matches all.
    """

    kind: str
    times: int = 1
    route: str | None = None
    after: int = 0
    retry_after: str | None = "1"
    retry_after_date: float | None = None
    delay: float = 2.0
    cut_fraction: float = 0.5
    message: str = "Too many requests, please try again later"
    column: str = "callDuration"
    value: str = "12s"
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")

    @property
    def exhausted(self) -> bool:
        return self.fired >= self.times

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` value to send now."""
        if self.retry_after_date is not None:
            return email.utils.formatdate(time.time() + self.retry_after_date, usegmt=True)
        return self.retry_after


def rewrite_body(body: bytes, content_type: str, spec: FaultSpec) -> bytes:
    """A 200 answer (CSV or NDJSON) with one column dropped, added or spoiled, per `spec`."""
    if "csv" in content_type:
        text = body.decode("utf-8-sig")
        rows = [dict(r) for r in csv.DictReader(io.StringIO(text, newline=""))]
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    else:
        rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = list(rows[0]) if rows else []
    if spec.kind == "drop_field":
        header = [name for name in header if name != spec.column]
    elif spec.kind == "extra_field" and spec.column not in header:
        header.append(spec.column)
    for row in rows:
        if spec.kind == "drop_field":
            row.pop(spec.column, None)
        elif spec.kind == "extra_field" or row.get(spec.column) not in (None, ""):
            row[spec.column] = spec.value
    if "csv" in content_type:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()
    return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)


def html_error(kind: str) -> bytes:
    """The HTML body of a 5xx answered by a proxy in front of the API."""
    reason = _REASONS[kind]
    return (
        f"<html>\r\n<head><title>{kind} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{kind} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


class FaultPlan:
    """The list of planned faults, consulted once per request (thread-safe)."""

    def __init__(self) -> None:
        self.faults: list[FaultSpec] = []
        self._lock = threading.Lock()

    def add(self, spec: FaultSpec) -> FaultSpec:
        with self._lock:
            self.faults.append(spec)
        return spec

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, path: str) -> FaultSpec | None:
        """The fault to apply to a request for `path`, if any (counting it as fired)."""
        with self._lock:
            for spec in self.faults:
                if spec.exhausted or (spec.route is not None and spec.route not in path):
                    continue
                spec.seen += 1
                if spec.seen <= spec.after:
                    continue
                spec.fired += 1
                return spec
        return None
