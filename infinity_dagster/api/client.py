"""The Infinity Reports API client: auth, requests with retries, and the rowId export loop."""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import tenacity

from ..reports import Report
from . import parse
from .errors import (
    InfinityApiError,
    InfinityAuthError,
    InfinityDataError,
    InfinityUnavailableError,
)
from .query import MAX_PAGE_ROWS, Query, filter_expr

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
WIRE_FORMATS = ("csv", "json")
PAGE_READ_BYTES = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """Either an API key (v2.1 routes) or a portal username and password (v2 routes).

    `repr` never shows the secret.
    """

    api_key: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r})"

    @property
    def kind(self) -> str:
        return "api_key" if self.api_key else "basic"

    @property
    def version(self) -> str:
        return "v2.1" if self.api_key else "v2"

    @property
    def variables(self) -> str:
        """The environment variables a user fixes when these credentials are refused."""
        return "INFINITY_API_KEY" if self.api_key else "INFINITY_USERNAME and INFINITY_PASSWORD"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one request (one page) is retried.

    Waits grow exponentially from `initial_wait_seconds` (doubling, capped at
    `max_wait_seconds`), each with up to 50% random jitter so that parallel runs do not retry in
    step. A `Retry-After` the server sends replaces the backoff, up to `max_retry_after_seconds`;
    a longer one fails the request at once instead of holding a run for hours.
    """

    max_attempts: int = 6
    initial_wait_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0


@dataclass(frozen=True)
class Page:
    """One page of an export: its rows in catalogue types and what it took to get them."""

    number: int
    table: pa.Table
    wire_bytes: int
    last_row_id: int | None
    unexpected_fields: tuple[str, ...] = ()  # columns the answer carried that we did not ask for


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _StalePage(Exception):
    """A page whose rows do not start after the cursor: the previous page again, or part of it.

    Seen when a cache or a replica answers with an older result. The page is asked again (it
    counts as a failed attempt); when every attempt repeats, the export fails loudly rather than
    storing a row twice or guessing where to resume.
    """

    def __init__(self, number: int, cursor: int | None, first: int, last: int):
        super().__init__(f"page {number} repeats rows at or before rowId {cursor}")
        self.number, self.cursor, self.first, self.last = number, cursor, first, last


class InfinityClient:
    """Talks to one installation. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        igrp: int,
        credentials: Credentials,
        *,
        tz: str = "UTC",
        wire_format: str = "csv",
        page_size: int = MAX_PAGE_ROWS,
        timeout_seconds: float = 120.0,
        connect_timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        prefetch: bool = True,
    ):
        if wire_format not in WIRE_FORMATS:
            raise ValueError(f"wire_format must be one of {WIRE_FORMATS}, got {wire_format!r}")
        if not 0 < page_size <= MAX_PAGE_ROWS:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_ROWS}, got {page_size}")
        self.igrp = igrp
        self.credentials = credentials
        self.tz = tz
        self.wire_format = wire_format
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.retries = 0  # failed attempts that were retried, over this client's life
        self.prefetch = prefetch  # fetch the next page while the caller writes this one
        headers = {"User-Agent": "infinity_dagster"}
        auth = None
        if credentials.api_key:
            headers["Authorization"] = f"ApiKey {credentials.api_key}"
        else:
            auth = httpx.BasicAuth(credentials.username or "", credentials.password or "")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            transport=transport,
        )

    def __enter__(self) -> InfinityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def path(self, route: str, **values: object) -> str:
        """A route template filled with this client's API version and installation."""
        return route.format(version=self.credentials.version, igrp=self.igrp, **values)

    # -- requests -------------------------------------------------------------------------------

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> httpx.Response:
        """GET with retries; the whole body is read inside the retry, so a cut body is retried.

        Returns a 2xx response whose body is not an error string; raises otherwise. A query string
        in `path` (from a route template such as `.../organisations?igrp={igrp}`) is sent first.
        """
        return self._with_retries(functools.partial(self._get_once, path, params))

    def download(self, path: str, destination: Path) -> int:
        """Stream one file (a call recording) into `destination`, with the same retries as `get`.

        Writes the body exactly as sent; a retry starts the file again. Returns its size in bytes.
        Raises InfinityApiError (with `status`, e.g. 404) when the server refuses it.
        """
        return self._with_retries(functools.partial(self._download_once, path, destination))

    def _download_once(self, path: str, destination: Path) -> int:
        path, _, route_query = path.partition("?")
        params = parse_qsl(route_query, keep_blank_values=True)
        with self._http.stream("GET", path, params=params) as response:
            content_type = response.headers.get("Content-Type", "")
            if response.status_code != 200 or content_type.startswith("application/json"):
                response.read()  # a short error body: checked (and raised) like any answer
                self._check(response, path)
            if content_type.startswith("text/html"):
                response.read()  # a login or proxy page is never the file: store nothing
                raise InfinityApiError(
                    f"The Infinity API answered {path} with an HTML page instead of a file: "
                    f"{_snippet(response)}",
                    status=response.status_code,
                )
            size = 0
            with open(destination, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        # Content-Length counts the bytes on the wire: comparable unless they were compressed.
        expected = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        if expected is not None and expected.isdigit() and not encoded and int(expected) != size:
            raise httpx.ReadError(f"body ended after {size} of {expected} bytes")
        return size

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        """Run `attempt` (one request, read and checked whole) under the retry policy.

        Retried: transport failures (refused or broken connections, timeouts, a body cut short),
        HTTP 429/500/502/503/504, and a page that repeats rows already received. Everything else
        (401/403, an error message from the server, rows that do not parse) fails at once.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(
                (httpx.TransportError, _RetryableResponse, _StalePage)
            ),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _RetryableResponse as exc:
            raise self._unavailable(exc.response) from None
        except _StalePage as exc:
            raise InfinityDataError(
                f"Page {exc.number} repeated rows already received (rowIds {exc.first}..{exc.last}"
                f", not after {exc.cursor}) in all {self.retry.max_attempts} attempts; stopping "
                "so no row is stored twice; run again later."
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise InfinityUnavailableError(
                f"The Infinity API at {self._http.base_url} could not be reached after "
                f"{self.retry.max_attempts} attempts ({type(exc).__name__}: {exc}); "
                "check INFINITY_BASE_URL and the network, then run again."
            ) from None
        except httpx.TransportError as exc:
            raise InfinityUnavailableError(
                f"The Infinity API at {self._http.base_url} did not send a complete answer in "
                f"{self.retry.max_attempts} attempts ({type(exc).__name__}: {exc}); "
                "run again later."
            ) from None

    def _get_once(self, path: str, params: Sequence[tuple[str, str]]) -> httpx.Response:
        path, _, route_query = path.partition("?")
        params = [*parse_qsl(route_query, keep_blank_values=True), *params]
        response = self._http.get(path, params=params)
        response.read()
        return self._check(response, path)

    def _check(self, response: httpx.Response, path: str) -> httpx.Response:
        """The response when it is a success; raises (retryable or not) otherwise."""
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _RetryableResponse(response)
        message = parse.error_message(response.content)
        if status == 401:
            raise InfinityAuthError(
                f"Authentication failed for igrp {self.igrp}: check {self.credentials.variables}"
                + (f" (server said: {message})" if message else "")
                + "."
            )
        if status == 403:
            raise InfinityAuthError(
                f"Access denied to igrp {self.igrp}: these credentials cannot see that "
                f"installation; check INFINITY_IGRP and {self.credentials.variables}"
                + (f" (server said: {message})" if message else "")
                + "."
            )
        if status >= 400 or message is not None:
            shown = message if message is not None else _snippet(response)
            raise InfinityApiError(
                f"The Infinity API refused {path} (HTTP {status}): {shown}",
                status=status,
                server_message=message,
            )
        return response

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt: the server's Retry-After, else backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableResponse):
            retry_after = _retry_after_seconds(exc.response)
            if retry_after is not None:
                if retry_after > self.retry.max_retry_after_seconds:
                    response = exc.response
                    raise InfinityUnavailableError(
                        f"The Infinity API answered HTTP {response.status_code} "
                        f"({_snippet(response)}) and asked us to wait {retry_after:.0f} s, longer "
                        f"than the {self.retry.max_retry_after_seconds:.0f} s we wait "
                        "(max_retry_after_seconds); run again later."
                    )
                return retry_after
        backoff = self.retry.initial_wait_seconds * 2 ** (state.attempt_number - 1)
        return min(self.retry.max_wait_seconds, backoff) * (0.5 + random.random() / 2)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "Infinity request failed (%s), attempt %d of %d; retrying in %.1f s",
            exc,
            state.attempt_number,
            self.retry.max_attempts,
            wait,
        )

    def _unavailable(self, response: httpx.Response) -> InfinityUnavailableError:
        return InfinityUnavailableError(
            f"The Infinity API kept answering HTTP {response.status_code} after "
            f"{self.retry.max_attempts} attempts: {_snippet(response)}; run again later."
        )

    # -- reports --------------------------------------------------------------------------------

    def export(
        self,
        report: Report,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        after_row_id: int | None = None,
        filters: Sequence[str] = (),
        tz: str | None = None,
    ) -> Iterator[Page]:
        """Every row of a report, page by page, following Infinity's rowId recipe exactly.

        `sort[]=rowId-asc` and nothing else, `filter[]=rowId-gt-value-<last>` from the second
        page on, at most 50,000 rows a page, stop on a short page, never `offset`. `tz` (default:
        the client's) is the zone of the date window and of the datetimes the API sends.
        """
        tz = tz or self.tz

        def page(cursor: int | None, number: int) -> Page:
            page_filters = list(report.filters) + list(filters)
            if cursor is not None:
                page_filters.append(filter_expr("rowId", "gt", cursor))
            query = Query(
                display=report.display_fields,
                sort=("rowId-asc",),
                filters=page_filters,
                limit=self.page_size,
                start_date=start_date,
                end_date=end_date,
                tz=tz,
                wire_format=self.wire_format,
            )
            return self._with_retries(
                functools.partial(self._page_once, report, query.params(), tz, cursor, number)
            )

        with _PageAhead(enabled=self.prefetch) as ahead:
            ahead.ask(page, after_row_id, 1)
            while True:
                current = ahead.result()
                full = current.table.num_rows >= self.page_size
                if full:
                    # The next page downloads and parses while the caller writes this one.
                    ahead.ask(page, current.last_row_id, current.number + 1)
                yield current
                if not full:
                    return

    def _page_once(
        self,
        report: Report,
        params: Sequence[tuple[str, str]],
        tz: str,
        cursor: int | None,
        number: int,
    ) -> Page:
        """One attempt at one page: request, read the whole body, parse, check the cursor moves.

        Only a page that passed all of it is handed on, so its rows reach a file whole or not at
        all; a failure anywhere here is retried as a whole (or raised) by `_with_retries`.
        """
        body = self._page_body_once(self.path(report.route), params)
        if self.wire_format == "csv":
            table, sent = parse.read_csv(body, report.fields, tz)
        else:
            text = parse.read_ndjson_text(body, report.field_names)
            table, sent = parse.to_catalogue_types(text, report.fields, tz), text.column_names
        last = _check_advances(table, cursor, number)
        unexpected = tuple(n for n in sent if n not in set(report.field_names))
        return Page(number, table, len(body), last, unexpected)

    def _page_body_once(self, path: str, params: Sequence[tuple[str, str]]) -> bytes:
        """One page's whole body, read in 1 MiB pieces, checked like any answer (`_check`).

        `Response.read()` gathers a 15 MB page as some 240 pieces of 64 KiB and joins them: the
        heap then stays fragmented, and peak memory grew by ~200 MB over a day (measured by the
        benchmark). 1 MiB pieces keep it flat.
        """
        path, _, route_query = path.partition("?")
        params = [*parse_qsl(route_query, keep_blank_values=True), *params]
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code != 200:
                response.read()  # an error answer: short, checked (and raised) as usual
                return self._check(response, path).content
            body = b"".join(response.iter_bytes(PAGE_READ_BYTES))
        if parse.error_message(body) is not None:  # a 200 whose body is the server's message
            self._check(httpx.Response(200, content=body, request=response.request), path)
        return body

    def snapshot(self, report: Report, filters: Sequence[str] = ()) -> pa.Table:
        """A configuration report (no rowId) in one request, sorted as the catalogue says."""
        query = Query(
            display=report.display_fields,
            sort=report.sort,
            filters=list(report.filters) + list(filters),
            limit=MAX_PAGE_ROWS,  # never the service's default, whatever it is
            tz=self.tz,
            wire_format=self.wire_format,
        )
        response = self.get(self.path(report.route), query.params())
        return self._parse(response.content, report, self.tz)

    def _parse(self, body: bytes, report: Report, tz: str) -> pa.Table:
        return parse.to_catalogue_types(self._read_text(body, report), report.fields, tz)

    def _read_text(self, body: bytes, report: Report) -> pa.Table:
        names = report.field_names
        if self.wire_format == "csv":
            return parse.read_csv_text(body, names)
        return parse.read_ndjson_text(body, names)


class _PageAhead:
    """At most one page running ahead in a background thread.

    `export` asks for page n+1 (request, read, parse, check, with its retries) as soon as page n's
    last rowId is known, then hands page n to the caller: downloading and parsing overlap the
    caller's writing, and at most two pages are in memory (the one being written and the one
    arriving). Requests stay strictly one after another, in the same order as without prefetch.
    Disabled, a page is fetched in the calling thread when it is asked for. Leaving the block
    drops a page not yet started and waits for one in flight, so no thread outlives the client.
    """

    def __init__(self, *, enabled: bool):
        self._pool = ThreadPoolExecutor(1, "infinity-prefetch") if enabled else None
        self._pending: Future[Page] | None = None
        self._deferred: Callable[[], Page] | None = None

    def ask(self, page: Callable[[int | None, int], Page], cursor: int | None, number: int) -> None:
        if self._pool is None:
            self._deferred = functools.partial(page, cursor, number)
        else:
            self._pending = self._pool.submit(page, cursor, number)

    def result(self) -> Page:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending.result()
        deferred, self._deferred = self._deferred, None
        assert deferred is not None, "result() before ask()"
        return deferred()

    def __enter__(self) -> _PageAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _check_advances(table: pa.Table, cursor: int | None, number: int) -> int | None:
    """The page's last rowId; fails loudly when the page does not move the cursor forward."""
    if table.num_rows == 0:
        return cursor
    row_ids = table.column("rowId")
    if row_ids.null_count:
        raise InfinityDataError(f"Page {number} has rows without a rowId; nothing was written.")
    first, last = row_ids[0].as_py(), row_ids[-1].as_py()
    ascending = (
        table.num_rows == 1
        or pc.all(pc.greater(row_ids.slice(1), row_ids.slice(0, table.num_rows - 1))).as_py()
    )
    if ascending and cursor is not None and first <= cursor:
        raise _StalePage(number, cursor, first, last)
    if not ascending:
        raise InfinityDataError(
            f"Page {number} sent rowIds out of order ({first}..{last}, after {cursor}); "
            "stopping so no row is skipped or doubled."
        )
    return last


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    """The start of a body for an error message: the server's string, or a tag-stripped snippet."""
    message = parse.error_message(response.content)
    if message is not None:
        return message
    text = response.content[:2000].decode("utf-8", "replace")
    if "<" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text[:limit] or "(empty body)"
